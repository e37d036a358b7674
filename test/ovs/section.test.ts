import { ValidationError } from "../../core/errors";
import { declareStack, RawConfig, validateStack } from "../../core/config/stack";
import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { ovsSection } from "../../components/ovs/section";
import { LOOKUP } from "../../components/ovs/openstack";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";
const INSTANCE = "9e319540-9a67-4563-9aad-132c64faa1b1";
const PORT = "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a";

type Config = Record<string, unknown>;
const config = (ovs: unknown): Config => ({
    "hostwright:inventory": {
        defaults: { privateKey: "ops-ssh" },
        hosts: [
            { name: "compute-1", address: "192.0.2.21", hostKey: HOSTKEY },
            { name: "compute-opt", address: "192.0.2.22", hostKey: HOSTKEY },
        ],
    },
    "hostwright:secrets": { "ops-ssh": KEY },
    "hostwright:ovs": ovs,
});
const explicitMirror = { name: "web-capture", host: "compute-1", ports: ["qvobee51cf7-fb"], direction: "ingress", capture: { kind: "veth", name: "webcap0" } };
const openstackMirror = { name: "db-erspan", openstack: { instanceId: INSTANCE, network: "private" }, collector: { protocol: "erspan", address: "192.0.2.50", erspanVersion: 2 } };

function raw(c: Config): RawConfig {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(c)) values[k] = JSON.stringify(v);
    return { values, secretKeys: new Set(["hostwright:secrets"]) };
}

function problems(ovs: unknown): string[] {
    try {
        validateStack(raw(config(ovs)), [ovsSection]);
        return [];
    } catch (e) {
        if (e instanceof ValidationError) return e.issues.filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
        throw e;
    }
}

describe("hostwright:ovs section", () => {
    it("accepts an explicit and an OpenStack-resolved mirror", () => {
        expect(problems([explicitMirror, openstackMirror])).toEqual([]);
    });

    it.each<[string, unknown, string[]]>([
        ["a host that is not in the inventory", [{ ...explicitMirror, host: "compute-9" }], ['hostwright:ovs[0].host: host "compute-9" is not in hostwright:inventory']],
        ["duplicate names", [explicitMirror, explicitMirror], ['hostwright:ovs[1].name: duplicate mirror name "web-capture"', "hostwright:ovs[1].capture.name: mirror [0] already uses this name on host compute-1"]],
        ["an unknown key", [{ ...explicitMirror, mirror_name: "x" }], ['hostwright:ovs[0]: unknown key "mirror_name"']],
        ["a bad direction", [{ ...explicitMirror, direction: "in" }], ['hostwright:ovs[0].direction: must be one of "both", "ingress", "egress"']],
        ["component checks with config paths", [{ ...explicitMirror, capture: { name: "a-much-too-long-name" }, vlans: [5000] }], ["hostwright:ovs[0].vlans[0]", "hostwright:ovs[0].capture.name"]],
        ["a source given twice", [{ ...openstackMirror, host: "compute-1" }], ["hostwright:ovs[0].openstack: give either host (+ ports) or openstack"]],
        ["a collector given by name", [{ ...openstackMirror, collector: { protocol: "gre", address: "collector.example" } }], ["hostwright:ovs[0].collector.address"]],
    ])("reports %s", (_t, ovs, expected) => {
        const found = problems(ovs);
        for (const e of expected) expect(found.some((p) => p.startsWith(e))).toBe(true);
    });

    it("declares one mirror step per entry, on the named host or on the node OpenStack reports", async () => {
        const invoke = (token: string, args: Record<string, any>) => {
            if (token === LOOKUP.instance) return { id: args.id, networks: [{ uuid: "n-1", name: "private", port: PORT }, { uuid: "n-2", name: "public", port: "0c0ffee0-1234-4c1e-9d3b-6f0f6f1d2e3a" }] };
            if (token === LOOKUP.port) return { bindings: [{ hostId: "compute-opt.cloud.example", vifType: "ovs", vifDetails: { ovs_hybrid_plug: "true" } }] };
            throw new Error(token);
        };
        const c = config([explicitMirror, openstackMirror]);
        const values = Object.fromEntries(Object.entries(raw(c).values));
        const rec = await recordProgram(() => declareStack(raw(c), [ovsSection]), { config: values, secretKeys: ["hostwright:secrets"], invoke, preview: false });
        const byName = Object.fromEntries(rec.commands.map((cmd) => [cmd.name, cmd]));
        expect(byName["web-capture-mirror"].inputs.connection.host).toBe("192.0.2.21");
        expect(byName["web-capture-mirror"].inputs.stdin).toContain("ip link add name webcap0 type veth");
        expect(byName["db-erspan-mirror"].inputs.connection.host).toBe("192.0.2.22");
        expect(byName["db-erspan-mirror"].inputs.stdin).toContain("get Port qvobee51cf7-fb");
        expect(byName["db-erspan-mirror"].inputs.stdin).toContain("type=erspan");
        expect((rec.outputs.ovs as any)["web-capture"]).toMatchObject({ node: "compute-1", bridge: "br-int", captureInterface: "webcap0", tcpdump: "tcpdump -ni webcap0 -w /tmp/webcap0.pcap" });
        expect((rec.outputs.ovs as any)["db-erspan"]).toMatchObject({ node: "compute-opt", captureInterface: "", tcpdump: "tcpdump -ni any -w /tmp/hostwright-db-erspan.pcap 'ip proto 47'" });
    });

    it("previews an OpenStack mirror whose look-ups nobody answers as known after apply", async () => {
        const c = config([explicitMirror, openstackMirror]);
        const rec = await recordProgram(() => declareStack(raw(c), [ovsSection]), { invoke: () => ({}), preview: true });
        expect((rec.outputs.ovs as any)["db-erspan"]).toMatchObject({ node: UNKNOWN_PLACEHOLDER, ports: UNKNOWN_PLACEHOLDER, bridge: "br-int", captureInterface: "", tcpdump: "tcpdump -ni any -w /tmp/hostwright-db-erspan.pcap 'ip proto 47'" });
        expect((rec.outputs.ovs as any)["web-capture"]).toMatchObject({ node: "compute-1", tcpdump: "tcpdump -ni webcap0 -w /tmp/webcap0.pcap" });
    });
});
