import * as pulumi from "@pulumi/pulumi";
import { recordProgram } from "../../tools/record";
import { remoteStep } from "../../core/remoteStep";
import type { Host } from "../../core/host";

const host: Host = { name: "h1", address: "h1.lab", privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" };

describe("remoteStep secretOutput", () => {
    it("keeps a step's output secret and out of the log only when asked", async () => {
        const options = new Map<string, pulumi.CustomResourceOptions>();
        const rec = await recordProgram(() => {
            pulumi.runtime.registerStackTransformation((t) => {
                options.set(t.name, t.opts as pulumi.CustomResourceOptions);
                return undefined;
            });
            const parent = new pulumi.ComponentResource("hostwright:test:Secret", "s", {}, {});
            remoteStep("issues-token", { host, step: { description: "prints a token" }, secretOutput: true }, { parent });
            remoteStep("plain", { host, step: { description: "prints nothing secret" } }, { parent });
        });
        const [library, secret, plain] = rec.commands;
        // the library step prints nothing secret
        expect("logging" in library.inputs).toBe(false);
        expect(secret.inputs.logging).toBe("none");
        expect(options.get("issues-token")?.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr"]));
        expect("logging" in plain.inputs).toBe(false);
        // the provider's own secret output (connection) only
        expect(options.get("plain")?.additionalSecretOutputs).not.toContain("stdout");
    });
});
