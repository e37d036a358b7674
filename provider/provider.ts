/**
 * hostwright's component provider: @pulumi/pulumi's ComponentProvider (schema from
 * its TypeScript analyzer, `construct` by class name) over the classes of
 * `./components`, with the secret fields marked in the schema (the analyzer has no
 * way to say that a property is a secret).
 */
import { main } from "@pulumi/pulumi/provider";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { components } from "./components";

const rootPackage: { version: string; description: string } = require("../package.json");

/** Schema type -> its properties that hold a secret (private keys, passwords). */
export const SECRET_PROPERTIES: Record<string, string[]> = {
    Host: ["privateKey"],
    TlsIdentityArgs: ["privateKey"],
    TlsArgs: ["privateKey"],
    NodeTls: ["serverKey", "clientKey"],
    SaslCredentials: ["password"],
};

interface SchemaWithTypes {
    description?: string;
    types: Record<string, { properties?: Record<string, { secret?: boolean }> }>;
}

/** Marks the secret properties; a type or property of the table that the schema lacks is an error, so a rename cannot drop a mark unnoticed. */
export function markSecrets(schema: SchemaWithTypes): void {
    for (const [typeName, properties] of Object.entries(SECRET_PROPERTIES)) {
        const type = schema.types[`hostwright:index:${typeName}`];
        for (const property of properties) {
            const spec = type?.properties?.[property];
            if (!spec) throw new Error(`the schema has no property ${typeName}.${property} to mark as a secret`);
            spec.secret = true;
        }
    }
}

export class HostwrightProvider extends ComponentProvider {
    private schemaWithSecrets?: string;

    constructor() {
        // The analyzer reads provider/tsconfig.json and provider/package.json (whose main is ./index.ts) in `dirname`.
        super({ name: "hostwright", version: rootPackage.version, dirname: __dirname, components });
    }

    async getSchema(): Promise<string> {
        if (!this.schemaWithSecrets) {
            const schema = JSON.parse(await super.getSchema()) as SchemaWithTypes;
            markSecrets(schema);
            schema.description = rootPackage.description;
            this.schemaWithSecrets = JSON.stringify(schema);
        }
        return this.schemaWithSecrets;
    }
}

/** Serves the provider over gRPC; `args` are the plugin's arguments (the engine's address). */
export function serve(args: string[]): Promise<void> {
    return main(new HostwrightProvider(), args);
}
