/**
 * LxdRemoteMesh fed by other resources (issue 18): members' addresses from
 * `openstack.compute.Instance`s (the real class under Pulumi's mocks), other arguments as
 * Outputs. Late arguments must declare exactly what plain ones do, leave the steps
 * unknown during a preview, and fail with the same message.
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import { spawnSync } from "child_process";
import { join } from "path";
import { LxdRemoteMesh } from "../../components/lxd/component";
import type { LxdRemoteMeshArgs, LxdRemoteMeshInputs, TrustMethod } from "../../components/lxd/args";
import { recordProgram, RecordOptions, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { host, meshSteps, NAMES, state } from "./meshFixture";

const ROOT = join(__dirname, "../..");
/** What the VMs report after a real apply: h1's SSH address, h2's address on the LXD network. */
const VMS: Record<string, string> = { "h1-vm": "198.18.0.10", "h2-vm": "10.20.0.11" };

function plainArgs(trust: TrustMethod): LxdRemoteMeshArgs {
    return {
        members: [{ host: host("h1", 0) }, { host: host("h2", 1), apiAddress: VMS["h2-vm"] }, { host: host("h3", 2), apiPort: 8443, listenAddress: "[::]:8443" }],
        trust,
        instances: ["web", "ghost"],
        migration: "stateless",
        preflightRevision: 2,
        connectTimeoutSeconds: 7,
    };
}

/** The same mesh with h1's host address and h2's API address from VMs, and the rest as Outputs. */
function lateArgs(trust: TrustMethod): LxdRemoteMeshInputs {
    const vm = (n: string) => new openstack.compute.Instance(`${n}-vm`, { flavorName: "m1.small", imageName: "debian-12" });
    return {
        members: [
            { host: { ...host("h1", 0), address: vm("h1").accessIpV4 } },
            { host: host("h2", 1), apiAddress: vm("h2").accessIpV4 },
            { host: host("h3", 2), apiPort: pulumi.output(8443), listenAddress: pulumi.output("[::]:8443") },
        ],
        trust,
        instances: [pulumi.output("web"), "ghost"],
        migration: pulumi.output("stateless" as const),
        preflightRevision: pulumi.output(2),
        connectTimeoutSeconds: Promise.resolve(7),
    };
}

/** The VMs' addresses after a real apply; nothing during a preview (unknown, as the engine leaves them). */
function vms(known: boolean): RecordOptions["resourceState"] {
    return (type, name) => (known && type === "openstack:compute/instance:Instance" ? { accessIpV4: VMS[name] } : undefined);
}

/** The args are made inside the program: the VMs must be declared under its mocks. */
const program = (a: () => LxdRemoteMeshInputs) => () => {
    const mesh = new LxdRemoteMesh("mesh", a());
    const outputs = { readiness: mesh.readiness, matrix: mesh.matrix, instances: mesh.instances, errors: mesh.preflightErrors, moves: mesh.moveCommands, warnings: mesh.warnings, steps: mesh.steps };
    // The hosts' keys (secret Outputs) must not turn the outputs secret, late or not.
    const secretOutputs = pulumi.output(Promise.all(Object.entries(outputs).map(async ([k, o]) => ((await pulumi.isSecret(o as pulumi.Output<unknown>)) ? [k] : []))).then((l) => l.flat()));
    return { ...outputs, secretOutputs };
};
const STEPS = ["probe", "serve", "remotes"].flatMap((s) => NAMES.map((n) => `mesh-${n}-${s}`));

describe.each<TrustMethod>(["certificate", "token"])("LxdRemoteMesh with inputs from other resources (%s trust)", (trust) => {
    it("declares the very steps plain arguments declare, once the VMs are known", async () => {
        const options: RecordOptions = { preview: false, printWarnings: false, commandState: state("remotes", {}, trust) };
        const plain = await recordProgram(program(() => plainArgs(trust)), options);
        const late = await recordProgram(program(() => lateArgs(trust)), { ...options, resourceState: vms(true) });
        expect(meshSteps(late)).toEqual(STEPS);
        expect(meshSteps(plain)).toEqual(STEPS);
        const byName = new Map(plain.commands.map((c) => [c.name, c]));
        for (const b of late.commands.filter((c) => c.name.startsWith("mesh-"))) {
            const a = byName.get(b.name)!;
            for (const input of ["stdin", "create", "update", "delete", "triggers", "connection"]) expect({ step: b.name, input, value: b.inputs[input] }).toEqual({ step: b.name, input, value: a.inputs[input] });
            // Token mode: the tokens reach the remotes steps as secrets, late or not.
            expect({ step: b.name, secret: b.secretInputs }).toEqual({ step: b.name, secret: a.secretInputs });
            expect(b.dependsOn.filter((u) => !u.includes("openstack"))).toEqual(a.dependsOn);
        }
        if (trust === "token") for (const n of NAMES) expect(late.commands.find((c) => c.name === `mesh-${n}-remotes`)!.secretInputs).toContain("stdin");
        // h1's SSH address and h2's API address (in every member's remotes script) came from the VMs.
        expect(late.commands.find((c) => c.name === "mesh-h1-probe")!.inputs.connection.host).toBe(VMS["h1-vm"]);
        expect(late.commands.find((c) => c.name === "mesh-h3-remotes")!.inputs.stdin).toContain(`https://${VMS["h2-vm"]}:8443`);
        expect(late.outputs).toEqual(plain.outputs);
        expect(late.outputs.secretOutputs).toEqual([]);
        expect(late.outputs.moves).toEqual(expect.objectContaining({ "h1->h2": "LXD_CONF=/root/.config/lxc lxc move h1:CONTAINER h2: --stateless" }));
        expect(late.outputs.warnings).toEqual(expect.arrayContaining([expect.stringContaining("ghost")]));
    }, 60_000);

    it("during a preview with the VMs not created yet, declares every step with unknown content instead of failing", async () => {
        const rec = await recordProgram(program(() => lateArgs(trust)), { preview: true, printWarnings: false, resourceState: vms(false) });
        expect(meshSteps(rec)).toEqual(STEPS);
        for (const c of rec.commands.filter((x) => x.name.startsWith("mesh-"))) expect({ step: c.name, stdin: c.inputs.stdin }).toEqual({ step: c.name, stdin: UNKNOWN_PLACEHOLDER });
        expect(rec.commands.find((c) => c.name === "mesh-h1-probe")!.inputs.connection?.host).not.toBe(VMS["h1-vm"]);
        expect(rec.outputs.moves).toBe(UNKNOWN_PLACEHOLDER);
        expect(rec.outputs.matrix).toBe(UNKNOWN_PLACEHOLDER);
        // The steps' addresses are known: npm run check and pulumi up --replace can name them.
        expect(rec.outputs.steps).toEqual(STEPS.map((n) => expect.objectContaining({ name: n, host: n.split("-")[1] })));
    }, 60_000);
});

describe("LxdRemoteMesh with a bad value known only at apply time", () => {
    it("fails with the message the plain value gets", async () => {
        const plainError = await recordProgram(program(() => ({ members: [{ host: host("h1", 0) }, { host: host("h2", 1), apiAddress: "bad_address" }] })), { preview: false, printWarnings: false }).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(plainError?.message).toMatch(/^1 problem in the LxdRemoteMesh mesh:\n  - members\[1\]\.apiAddress: "bad_address" must be an IPv4 or IPv6 address or a DNS name/);
        // Late, the error rejects every Output built on the value (the steps' inputs, the
        // component's outputs): the program ends as `pulumi up` ends it, so it runs on its own.
        const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(__dirname, "lateInvalidProgram.ts")], { encoding: "utf8", cwd: ROOT });
        expect(run.status).not.toBe(0);
        expect(run.stderr).toContain(plainError!.message);
        expect(run.stderr).not.toContain("error serializing property");
    }, 60_000);
});
