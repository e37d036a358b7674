/**
 * OvsPortMirror fed by other resources (issue 18): the VM to mirror is an
 * `openstack.compute.Instance` of the same program (its `id` feeds the OpenStack
 * look-ups), a compute node's address and the collector's come from other instances,
 * each the real @pulumi/openstack class under Pulumi's mocks. Late arguments must
 * declare exactly what plain ones do, leave the step unknown during a preview, and
 * fail with the same message.
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { OvsPortMirror } from "../../components/ovs/component";
import type { OvsPortMirrorArgs, OvsPortMirrorInputs } from "../../components/ovs/args";
import { LOOKUP } from "../../components/ovs/openstack";
import type { Host } from "../../core/host";
import { recordProgram, RecordOptions, Recording, UNKNOWN_PLACEHOLDER } from "../../tools/record";

const ROOT = join(__dirname, "../..");
const INSTANCE = "9e319540-9a67-4563-9aad-132c64faa1b1";
const PORT = "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a";
const NODE_IP = "192.168.122.215";
const COLLECTOR_IP = "192.0.2.50";

const ctl: Host = { name: "ctl", address: "192.168.122.220", privateKey: pulumi.secret("KEY-ctl"), hostKey: "ssh-ed25519 AAAA" };
const computeNode = (address: pulumi.Input<string>) => ({ name: "compute-opt", address, user: "ops", privateKey: pulumi.secret("KEY-compute-opt"), hostKey: "ssh-ed25519 BBBB" });
const vmArgs = { flavorName: "m1.small", imageName: "debian-12" };

/** Neutron binds the VM's port to `nova-7.cloud`, no inventory name: the node is found by the hypervisor's IP. */
function cloud() {
    const asked: Array<[string, Record<string, any>]> = [];
    const invoke = (token: string, args: Record<string, any>): Record<string, any> => {
        asked.push([token, args]);
        if (token === LOOKUP.instance) return { id: args.id, networks: [{ uuid: "11111111-aaaa-4bbb-8ccc-000000000001", name: "private", port: PORT }] };
        if (token === LOOKUP.port) return { id: args.portId, bindings: [{ hostId: "nova-7.cloud", vifType: "ovs", vnicType: "normal", profile: "", vifDetails: { ovs_hybrid_plug: "true" } }] };
        if (token === LOOKUP.hypervisor) return { hostname: args.hostname, hostIp: NODE_IP };
        throw new Error(`unexpected look-up ${token}`);
    };
    return { asked, invoke };
}

interface Estate {
    /** The commands declared, in order: the library step of the host (core/library.ts; a step's own when its host is late), the mirror. */
    commands: string[];
    /** Warnings of the checks (logged on the component; the late path logs them once the values are known). */
    warnings: RegExp[];
    plain(): OvsPortMirrorArgs;
    /** The same estate with values from other resources (declared inside the program). */
    late(): OvsPortMirrorInputs;
}

const estates: Array<[string, Estate]> = [
    [
        "found through OpenStack: the VM's id, a candidate's address and the collector's address from instances",
        {
            commands: ["web-mirror-hostwright-lib", "web-mirror"],
            warnings: [/^vlans: on br-int the VLAN ids are Neutron's node-local tags/],
            plain: () => ({
                openstack: { instanceId: INSTANCE, network: "private", candidates: [ctl, computeNode(NODE_IP) as Host] },
                collector: { protocol: "erspan", address: COLLECTOR_IP, erspanVersion: 2, key: 7 },
                vlans: [101],
            }),
            late: () => {
                const vm = new openstack.compute.Instance("web-vm", vmArgs);
                const node = new openstack.compute.Instance("compute-opt", vmArgs);
                const collector = new openstack.compute.Instance("collector-vm", vmArgs);
                return {
                    openstack: { instanceId: vm.id, network: pulumi.output("private"), candidates: [ctl, computeNode(node.accessIpV4)] },
                    collector: { protocol: "erspan", address: collector.accessIpV4, erspanVersion: 2, key: pulumi.output(7) },
                    vlans: [pulumi.output(101)],
                };
            },
        },
    ],
    [
        "on a given node: its address from an instance, ports and capture settings as outputs",
        {
            commands: ["hostwright-lib-compute-opt", "web-mirror"],
            warnings: [],
            plain: () => ({
                host: computeNode(NODE_IP) as Host,
                ports: ["qvobee51cf7-fb", "qvo0c0ffee0-12"],
                direction: "ingress",
                capture: { kind: "veth", name: "webcap0", mtu: 9000 },
                durationSeconds: 600,
                pcap: { fileMegabytes: 50, files: 4 },
            }),
            late: () => {
                const node = new openstack.compute.Instance("compute-opt", vmArgs);
                return {
                    host: computeNode(node.accessIpV4),
                    ports: pulumi.output(["qvobee51cf7-fb", "qvo0c0ffee0-12"]),
                    direction: pulumi.output("ingress" as const),
                    capture: { kind: "veth", name: pulumi.output("webcap0"), mtu: pulumi.output(9000) },
                    durationSeconds: pulumi.output(600),
                    pcap: { fileMegabytes: pulumi.output(50), files: 4 },
                };
            },
        },
    ],
];

/** What the instances report after a real apply; nothing during a preview (the engine leaves them unknown). */
function instances(known: boolean): RecordOptions["resourceState"] {
    const addresses: Record<string, string> = { "compute-opt": NODE_IP, "collector-vm": COLLECTOR_IP };
    return (type, name) => (known && type === "openstack:compute/instance:Instance" && addresses[name] ? { accessIpV4: addresses[name] } : undefined);
}

/**
 * The engine gives a created instance a UUID for its id (unknown during a preview, before
 * it exists); recordProgram's mocks give `NAME-id`. Wraps the mocks it sets for `web-vm`.
 */
function vmId(known: boolean): void {
    const setMocks = pulumi.runtime.setMocks;
    jest.spyOn(pulumi.runtime, "setMocks").mockImplementation((mocks, ...rest) =>
        setMocks(
            {
                call: (a) => mocks.call(a),
                newResource: async (a) => {
                    const r = await mocks.newResource(a);
                    return a.name === "web-vm" && a.type === "openstack:compute/instance:Instance" ? { ...r, id: known ? INSTANCE : "" } : r;
                },
            },
            ...rest,
        ),
    );
}
afterEach(() => jest.restoreAllMocks());

const outputsOf = (m: OvsPortMirror) => ({
    node: m.node,
    bridge: m.bridge,
    ports: m.ports,
    captureInterface: m.captureInterface,
    captureKind: m.captureKind,
    tcpdump: m.tcpdump,
    captureCommand: m.captureCommand,
    fetchCommand: m.fetchCommand,
    status: m.status,
    expiresAt: m.expiresAt,
    lifetime: m.lifetime,
    mirrorId: m.mirrorId,
    warnings: m.warnings,
    steps: m.steps,
});

const mirrorStep = (rec: Recording) => rec.commands.find((c) => c.name === "web-mirror")!;

describe.each(estates)("OvsPortMirror %s", (_title, estate) => {
    it("declares the very step plain arguments declare, once the instances are known", async () => {
        const plainCloud = cloud();
        const plain = await recordProgram(() => outputsOf(new OvsPortMirror("web", estate.plain())), { preview: false, printWarnings: false, invoke: plainCloud.invoke });
        vmId(true);
        const lateCloud = cloud();
        const late = await recordProgram(() => outputsOf(new OvsPortMirror("web", estate.late())), { preview: false, printWarnings: false, invoke: lateCloud.invoke, resourceState: instances(true) });
        expect(plain.commands.map((c) => c.name)).toEqual(estate.commands);
        expect(late.commands.map((c) => c.name)).toEqual(estate.commands);
        late.commands.forEach((b, i) => {
            const a = plain.commands[i];
            for (const input of ["connection", "stdin", "create", "update", "delete", "triggers"]) expect(b.inputs[input]).toEqual(a.inputs[input]);
            expect(b.inputs.connection.host).toBe(NODE_IP);
            expect(b.secretInputs).toEqual(a.secretInputs);
            expect(b.secretInputs).toContain("connection");
        });
        expect(late.outputs).toEqual(plain.outputs);
        expect(late.outputs.node).toBe("compute-opt");
        // The look-ups ran with the instance's id, and the checks' warnings are the plain ones.
        expect(lateCloud.asked).toEqual(plainCloud.asked);
        expect(late.warnings).toEqual(plain.warnings);
        expect(late.warnings.map((w) => w.message)).toEqual(estate.warnings.map((w) => expect.stringMatching(w)));
    });

    it("during a preview with the instances not created yet, declares the step with unknown content instead of failing", async () => {
        vmId(false);
        const { asked, invoke } = cloud();
        const rec = await recordProgram(() => outputsOf(new OvsPortMirror("web", estate.late())), { preview: true, printWarnings: false, invoke, resourceState: instances(false) });
        expect(rec.commands.map((c) => c.name)).toEqual(estate.commands);
        const step = mirrorStep(rec);
        for (const input of ["stdin", "delete"]) expect(step.inputs[input]).toBe(UNKNOWN_PLACEHOLDER);
        expect(JSON.stringify(step.inputs.connection)).not.toContain(NODE_IP);
        for (const output of ["bridge", "tcpdump", "captureCommand", "fetchCommand", "lifetime"]) expect(rec.outputs[output]).toBe(UNKNOWN_PLACEHOLDER);
        // Nothing was looked up with an unknown id, and nothing warned before the values are known.
        expect(asked).toEqual([]);
        expect(rec.warnings).toEqual([]);
    });
});

it("on a given node the step's address is known during a preview: npm run check and pulumi up --replace can name it", async () => {
    const rec = await recordProgram(() => outputsOf(new OvsPortMirror("web", estates[1][1].late())), { preview: true, printWarnings: false, resourceState: instances(false) });
    expect(rec.outputs.steps).toEqual([expect.objectContaining({ name: "web-mirror", host: "compute-opt" })]);
});

describe("a bad value known only at apply time", () => {
    let dir: string;
    beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "hw-ovs-inputs-"))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("fails with the message the plain value gets", async () => {
        // The collector given as the instance's name instead of its address, and no capture file.
        const plainError = await recordProgram(
            () => outputsOf(new OvsPortMirror("web", { ...estates[0][1].plain(), collector: { protocol: "gre", address: "collector.example.test" }, pcap: { files: 0 } })),
            { preview: false, printWarnings: false, invoke: cloud().invoke },
        ).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(plainError?.message).toMatch(/^2 problems in the args of OvsPortMirror web:\n  - collector\.address: "collector\.example\.test" must be an IPv4 or IPv6 address.*\n  - pcap\.files: 0 must be/);
        // Late, the error rejects every Output built on the values (the step's inputs, the
        // component's outputs): the program ends as `pulumi up` ends it, so run it on its own.
        const program = join(dir, "late-invalid.ts");
        writeFileSync(
            program,
            `import * as pulumi from ${JSON.stringify(require.resolve("@pulumi/pulumi"))};
import * as openstack from ${JSON.stringify(require.resolve("@pulumi/openstack"))};
import { OvsPortMirror } from ${JSON.stringify(join(ROOT, "components/ovs/component"))};
pulumi.runtime.setMocks(
    {
        newResource: (a) => ({ id: a.name === "web-vm" ? "${INSTANCE}" : a.name, state: { ...a.inputs, accessIpV4: "${NODE_IP}" } }),
        call: () => { throw new Error("no look-up before the args are checked"); },
    },
    "hostwright",
    "inputs",
    false,
);
const vm = new openstack.compute.Instance("web-vm", { flavorName: "m1.small", imageName: "debian-12" });
const node = new openstack.compute.Instance("compute-opt", { flavorName: "m1.small", imageName: "debian-12" });
const collector = new openstack.compute.Instance("collector-vm", { name: "collector.example.test", flavorName: "m1.small", imageName: "debian-12" });
new OvsPortMirror("web", {
    openstack: {
        instanceId: vm.id,
        network: "private",
        candidates: [
            { name: "ctl", address: "192.168.122.220", privateKey: pulumi.secret("KEY-ctl"), hostKey: "ssh-ed25519 AAAA" },
            { name: "compute-opt", address: node.accessIpV4, user: "ops", privateKey: pulumi.secret("KEY-compute-opt"), hostKey: "ssh-ed25519 BBBB" },
        ],
    },
    collector: { protocol: "gre", address: collector.name },
    vlans: [101],
    pcap: { files: pulumi.output(0) },
});
`,
        );
        const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [program], { encoding: "utf8", cwd: ROOT });
        expect(run.status).not.toBe(0);
        expect(run.stderr).toContain(plainError!.message);
        expect(run.stderr).not.toContain("error serializing property");
        expect(run.stderr).not.toContain("no look-up before");
    });
});
