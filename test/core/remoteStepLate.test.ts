import * as pulumi from "@pulumi/pulumi";
import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { remoteStep } from "../../core/remoteStep";
import type { Host } from "../../core/host";

// An Output the engine has not resolved yet (what a look-up gives during a preview).
const unknownOutput = <T>(): pulumi.Output<T> => new (pulumi.Output as any)(new Set(), Promise.resolve(undefined), Promise.resolve(false), Promise.resolve(false), Promise.resolve(new Set()));

const host = (name: string, user = "root"): Host => ({ name, address: `${name}.lab`, user, privateKey: pulumi.secret("KEY-" + name), hostKey: "ssh-ed25519 AAAA" });

class Late extends pulumi.ComponentResource {
    constructor(name: string, lateHost: pulumi.Output<Host>, lateWord: pulumi.Output<string>) {
        super("hostwright:test:Late", name, {}, {});
        remoteStep(`${name}-known`, { host: host("h1"), step: { description: "known" } }, { parent: this });
        remoteStep(`${name}-late`, { host: lateHost, step: lateWord.apply((w) => ({ description: "late", activate: `echo ${w}` })) }, { parent: this });
        this.registerOutputs({});
    }
}

describe("remoteStep with a host and a step known only after a look-up", () => {
    it("connects to the late host, renders the late step, keeps the key secret and the command lines clear", async () => {
        const rec = await recordProgram(() => void new Late("x", pulumi.output(host("h2", "ops")), pulumi.output("late-word")));
        const [knownLibrary, known, lateLibrary, late] = rec.commands;
        expect([knownLibrary.name, lateLibrary.name]).toEqual(["hostwright-lib-h1", "x-late-hostwright-lib"]);
        // the late step's library: same late host, same clear command lines
        expect(lateLibrary.inputs.connection.host).toBe("h2.lab");
        expect(lateLibrary.inputs.create).toBe("sudo -n /bin/bash -s");
        // replaced (created on the new host, deleted from the old) when the late host changes
        expect(lateLibrary.inputs.triggers).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/), "h2.lab:22"]);
        expect(lateLibrary.secretInputs).not.toContain("triggers");
        expect(late.inputs.connection.host).toBe("h2.lab");
        expect(late.secretInputs).toContain("connection");
        expect(late.secretInputs).not.toContain("create");
        expect(late.secretInputs).not.toContain("delete");
        expect(late.inputs.create).toBe("sudo -n /bin/bash -s");
        expect(late.inputs.delete).toMatch(/^sudo -n \/bin\/bash -c /);
        expect(late.inputs.stdin).toContain("echo late-word");
        // not chained after the known host's steps (its host was unknown when it was declared), only after its library
        expect(late.dependsOn).toEqual([lateLibrary.urn]);
        expect(known.dependsOn).toEqual([knownLibrary.urn]);
        expect(known.inputs.create).toBe("/bin/bash -s");
    });

    it("hands Pulumi no list holding an Output (Pulumi would build and throw an error to label each)", async () => {
        const lists: string[] = [];
        await recordProgram(() => {
            pulumi.runtime.registerStackTransformation((t) => {
                for (const [key, value] of Object.entries(t.props ?? {})) if (Array.isArray(value) && value.some((v) => pulumi.Output.isInstance(v))) lists.push(`${t.name}.${key}`);
                return undefined;
            });
            new Late("z", pulumi.output(host("h2")), pulumi.secret("late-word"));
        });
        expect(lists).toEqual([]);
    });

    it("is recorded as unknown while the look-up is unresolved", async () => {
        const rec = await recordProgram(() => void new Late("y", unknownOutput<Host>(), unknownOutput<string>()));
        const late = rec.commands.find((c) => c.name === "y-late")!;
        for (const input of ["connection", "create", "stdin", "delete"]) expect(late.inputs[input]).toBe(UNKNOWN_PLACEHOLDER);
    });
});
