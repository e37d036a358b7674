import * as pulumi from "@pulumi/pulumi";
import { recordProgram } from "../../tools/record";
import { remoteStep } from "../../core/remoteStep";
import type { Host } from "../../core/host";

const host = (name: string): Host => ({ name, address: `${name}.lab`, privateKey: pulumi.secret("KEY-" + name), hostKey: "ssh-ed25519 AAAA" });

class Demo extends pulumi.ComponentResource {
    constructor(name: string) {
        super("hostwright:test:Demo", name, {}, {});
        const a = remoteStep(`${name}-a`, { host: host("h1"), step: { description: "a", files: [{ path: "/etc/a", content: pulumi.secret("SECRET-A") }] } }, { parent: this });
        remoteStep(`${name}-b`, { host: host("h1"), step: { description: "b" } }, { parent: this });
        remoteStep(`${name}-c`, { host: host("h2"), step: { description: "c" }, dependsOn: [a], deleteBeforeReplace: true }, { parent: this });
        this.registerOutputs({});
    }
}

describe("recordProgram", () => {
    it("records commands with inputs, secrets, per-host chaining and explicit dependencies", async () => {
        const rec = await recordProgram(() => {
            const d = new Demo("demo");
            return { name: pulumi.output("x"), urn: d.urn };
        });
        // each host's library step first (core/library.ts)
        expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-h1", "demo-a", "demo-b", "hostwright-lib-h2", "demo-c"]);
        const [lib1, a, b, lib2, c] = rec.commands;
        expect(a.secretInputs).toEqual(expect.arrayContaining(["connection", "stdin"]));
        expect(a.inputs.stdin).toContain("SECRET-A");
        expect(a.inputs.create).toBe("/bin/bash -s");
        expect(a.inputs.connection.hostKey).toBe("ssh-ed25519 AAAA");
        expect(a.dependsOn).toEqual([lib1.urn]);
        expect(b.dependsOn).toEqual([lib1.urn, a.urn]);
        expect(c.dependsOn).toEqual([lib2.urn, a.urn]);
        expect(c.deleteBeforeReplace).toBe(true);
        expect(rec.outputs.name).toBe("x");
    });

    it("can run twice in one process", async () => {
        const one = await recordProgram(() => void new Demo("one"));
        const two = await recordProgram(() => void new Demo("two"));
        expect(one.commands).toHaveLength(5);
        // the second program declares its own library steps again
        expect(two.commands.map((c) => c.name)).toEqual(["hostwright-lib-h1", "two-a", "two-b", "hostwright-lib-h2", "two-c"]);
    });
});
