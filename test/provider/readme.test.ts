/** The README's Python and YAML examples ("## Other languages") use only resources, arguments and outputs of the package schema. */
import { readFileSync } from "fs";
import { join } from "path";
import { parse } from "yaml";
import { HostwrightProvider } from "../../provider/provider";

interface Property { $ref?: string; items?: Property; additionalProperties?: Property }
interface Schema {
    resources: Record<string, { inputProperties: Record<string, Property>; properties: Record<string, Property> }>;
    types: Record<string, { properties?: Record<string, Property> }>;
}

let schema: Schema;
beforeAll(async () => { schema = JSON.parse(await new HostwrightProvider().getSchema()); }, 120_000);

function example(language: string): string {
    const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Other languages\n"));
    const m = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section);
    if (!m) throw new Error(`no ${language} block under "## Other languages" in README.md`);
    return m[1];
}

/** Paths of `value` that the schema property `property` does not have. */
function unknownFields(value: unknown, property: Property, path: string): string[] {
    if (typeof value === "string" && value.startsWith("${")) return [];
    if (Array.isArray(value)) return property.items ? value.flatMap((v, i) => unknownFields(v, property.items!, `${path}[${i}]`)) : [];
    if (value === null || typeof value !== "object" || !property.$ref?.startsWith("#/types/")) return [];
    return fieldsOf(value as Record<string, unknown>, schema.types[property.$ref.slice("#/types/".length)].properties ?? {}, path);
}
function fieldsOf(value: Record<string, unknown>, properties: Record<string, Property>, path: string): string[] {
    return Object.entries(value).flatMap(([k, v]) => (properties[k] ? unknownFields(v, properties[k], `${path}.${k}`) : [`${path}.${k}`]));
}

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe("the README's examples in other languages", () => {
    it("YAML: each resource is a component of the package, with its arguments and outputs", () => {
        const program = parse(example("yaml")) as { resources: Record<string, { type: string; properties: Record<string, unknown> }>; outputs: Record<string, string> };
        for (const [name, r] of Object.entries(program.resources)) {
            const resource = schema.resources[r.type];
            expect([r.type, resource !== undefined]).toEqual([r.type, true]);
            expect(fieldsOf(r.properties, resource.inputProperties, name)).toEqual([]);
        }
        for (const reference of Object.values(program.outputs)) {
            const [, name, output] = /^\$\{(\w+)\.(\w+)\}$/.exec(reference)!;
            expect([reference, Object.keys(schema.resources[program.resources[name].type].properties)]).toEqual([reference, expect.arrayContaining([output])]);
        }
    });

    it("Python: the component, its keyword arguments, the dict keys and the outputs read are the schema's (in Python's names)", () => {
        const python = example("python");
        const [, component] = /hostwright\.(\w+)\(/.exec(python)!;
        const resource = schema.resources[`hostwright:index:${component}`];
        expect(resource).toBeDefined();
        const keywords = [...python.matchAll(/^\s+(\w+)=/gm)].map((m) => camel(m[1]));
        expect(keywords.length).toBeGreaterThan(0);
        expect(keywords.filter((k) => !resource.inputProperties[k])).toEqual([]);
        const typeFields = new Set(Object.values(schema.types).flatMap((t) => Object.keys(t.properties ?? {})));
        const dictKeys = [...python.matchAll(/"(\w+)":/g)].map((m) => camel(m[1]));
        expect(dictKeys.filter((k) => !typeFields.has(k))).toEqual([]);
        const outputs = [...python.matchAll(/front\.(\w+)/g)].map((m) => camel(m[1]));
        expect(outputs.filter((o) => !resource.properties[o])).toEqual([]);
    });
});
