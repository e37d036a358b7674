import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import type { OvsPortMirrorArgs } from "../../components/ovs/args";
import { checkMirrorArgs } from "../../components/ovs/checks";

const node: Host = { name: "compute-1", address: "10.0.0.11", privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" };
const explicit = (more: Partial<OvsPortMirrorArgs> = {}): OvsPortMirrorArgs => ({ host: node, ports: ["qvobee51cf7-fb"], ...more });
const fromOpenStack = (more: Partial<NonNullable<OvsPortMirrorArgs["openstack"]>> = {}, rest: Partial<OvsPortMirrorArgs> = {}): OvsPortMirrorArgs => ({
    openstack: { instanceId: "9e319540-9a67-4563-9aad-132c64faa1b1", candidates: [node], ...more },
    ...rest,
});

const errorsOf = (args: OvsPortMirrorArgs) => checkMirrorArgs(args).filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);

describe("checkMirrorArgs accepts", () => {
    it.each<[string, OvsPortMirrorArgs]>([
        ["one explicit port", explicit()],
        ["several ports, ingress, VLANs", explicit({ ports: ["qvoa", "qvob", "patch-tun"], direction: "ingress", vlans: [0, 4095, 10] })],
        ["the whole bridge", { host: node, wholeBridge: true, bridge: "br-ex" }],
        ["a veth capture with a name and an MTU", explicit({ capture: { kind: "veth", name: "cap0", mtu: 9000 } })],
        ["a GRE collector with a key", explicit({ collector: { protocol: "gre", address: "192.0.2.9", key: 4294967295 } })],
        ["an ERSPAN v2 collector on IPv6", explicit({ collector: { protocol: "erspan", address: "2001:db8::9", erspanVersion: 2, erspanHardwareId: 63, key: 1023 } })],
        ["an instance", fromOpenStack()],
        ["an instance and its network", fromOpenStack({ network: "private" })],
        ["an instance and one of its ports", fromOpenStack({ portId: "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a" })],
        ["a port alone", fromOpenStack({ instanceId: undefined, portId: "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a" })],
        ["the whole bridge of an instance's node", fromOpenStack({}, { wholeBridge: true })],
        ["hostile but harmless port names (quoted later)", explicit({ ports: ["$(reboot)", "a;b", "x'y", "`id`"] })],
        ["a 5-second capture, a revision, overlap allowed, rotation limits, a hostile pcap path", explicit({ durationSeconds: 5, captureRevision: 3, allowOverlappingMirrors: true, pcap: { path: "/var/tmp/it's $(x).pcap", fileMegabytes: 1, files: 1000 } })],
        ["a 30-day capture", explicit({ durationSeconds: 30 * 24 * 3600 })],
    ])("%s", (_title, args) => {
        expect(errorsOf(args)).toEqual([]);
    });
});

describe("checkMirrorArgs rejects", () => {
    it.each<[string, OvsPortMirrorArgs, string[]]>([
        ["no source", {}, ["host: is required unless openstack is given"]],
        ["both sources", { ...explicit(), ...fromOpenStack() }, ["openstack: give either host (+ ports) or openstack", "ports: is not allowed with openstack"]],
        ["a host without ports", { host: node }, ["ports: needs at least one OVS port"]],
        ["an empty port list", explicit({ ports: [] }), ["ports: needs at least one OVS port"]],
        ["ports with wholeBridge", explicit({ wholeBridge: true }), ["ports: is not allowed with wholeBridge"]],
        ["a direction with wholeBridge", { host: node, wholeBridge: true, direction: "egress" }, ['direction: "egress" selects packets of chosen ports']],
        ["a duplicate port and the bridge's own port", explicit({ ports: ["qvoa", "qvoa", "br-int"] }), ["ports[1]: port qvoa is listed twice", "ports[2]: br-int is the bridge's own port"]],
        ["port names with blanks, slashes or newlines", explicit({ ports: ["a b", "a/b", "a\nb", ""] }), ["ports[0]: \"a b\" is not an OVS port name", "ports[1]", "ports[2]", "ports[3]"]],
        ["a bad bridge name", explicit({ bridge: "br-int-with-a-long-name" }), ["bridge: \"br-int-with-a-long-name\" is not a bridge name"]],
        ["an unknown direction", explicit({ direction: "inbound" as never }), ['direction: must be one of "both", "ingress", "egress"']],
        ["bad VLANs", explicit({ vlans: [4096, -1, 1.5, 7, 7] }), ["vlans[0]", "vlans[1]", "vlans[2]", "vlans[4]: VLAN 7 is listed twice"]],
        ["an empty VLAN list", explicit({ vlans: [] }), ["vlans: is empty"]],
        ["a capture name too long for Linux", explicit({ capture: { name: "sixteen-chars-xx" } }), ["capture.name: \"sixteen-chars-xx\" is not a Linux interface name"]],
        ["a capture name that is a source port", explicit({ capture: { name: "qvobee51cf7-fb" } }), ["capture.name: qvobee51cf7-fb is the bridge or a source port"]],
        ["capture and collector", explicit({ capture: {}, collector: { protocol: "gre", address: "192.0.2.9" } }), ["collector: give capture"]],
        ["a bad capture kind and MTU", explicit({ capture: { kind: "macvlan" as never, mtu: 20 } }), ["capture.kind", "capture.mtu"]],
        ["a collector given by name", explicit({ collector: { protocol: "gre", address: "collector.example" } }), ["collector.address: \"collector.example\" must be an IPv4 or IPv6 address"]],
        ["a GRE key out of range and ERSPAN fields on GRE", explicit({ collector: { protocol: "gre", address: "192.0.2.9", key: 2 ** 32, erspanIndex: 3 } }), ["collector.key", "collector.protocol"]],
        ["ERSPAN session id and v1 index / v2 hardware id mixed up", explicit({ collector: { protocol: "erspan", address: "192.0.2.9", key: 1024, erspanHardwareId: 3 } }), ["collector.key", "collector.erspanHardwareId"]],
        ["a bad mirror name", explicit({ mirrorName: "my mirror" }), ["mirrorName"]],
        ["OpenStack without an instance or a port", fromOpenStack({ instanceId: undefined }), ["openstack.instanceId: is required unless openstack.portId is given"]],
        ["OpenStack ids that are not UUIDs", fromOpenStack({ instanceId: "test-vm", portId: "$(id)" }), ["openstack.instanceId", "openstack.portId"]],
        ["a network without an instance", fromOpenStack({ instanceId: undefined, portId: "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a", network: "private" }), ["openstack.network: selects one of an instance's ports"]],
        ["a network and a port id", fromOpenStack({ portId: "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a", network: "private" }), ["openstack.network: give openstack.network or openstack.portId"]],
        ["no candidate hosts", fromOpenStack({ candidates: [] }), ["openstack.candidates"]],
        ["ports with OpenStack", fromOpenStack({}, { ports: ["qvoa"] }), ["ports: is not allowed with openstack"]],
        ["a capture lifetime that is no whole number of seconds", explicit({ durationSeconds: 0.5 }), ["durationSeconds: 0.5 is not a capture lifetime: whole seconds, 1-2592000 (30 days)"]],
        ["a capture longer than 30 days", explicit({ durationSeconds: 2592001 }), ["durationSeconds: 2592001 is not a capture lifetime"]],
        ["a capture revision of 0", explicit({ durationSeconds: 5, captureRevision: 0 }), ["captureRevision: 0 must be a whole number >= 1"]],
        ["a relative pcap path and rotation limits out of range", explicit({ pcap: { path: "cap.pcap", fileMegabytes: 0, files: 1001 } }), ["pcap.path", "pcap.fileMegabytes", "pcap.files"]],
        ["a pcap path with a glob (the fetch command expands one)", explicit({ pcap: { path: "/var/tmp/*.pcap" } }), ['pcap.path: "/var/tmp/*.pcap" must be an absolute file path without line breaks or glob characters']],
        ["a pcap path with '..'", explicit({ pcap: { path: "/var/tmp/../etc/x" } }), [`pcap.path: "/var/tmp/../etc/x" must not contain '..'`]],
    ])("%s", (_title, args, expected) => {
        const errors = errorsOf(args);
        for (const e of expected) expect(errors.some((x) => x.startsWith(e))).toBe(true);
        expect(errors).toHaveLength(expected.length);
    });
});

describe("checkMirrorArgs warns", () => {
    it("that VLAN ids on br-int are the node-local tags", () => {
        expect(checkMirrorArgs(explicit({ vlans: [1] }))).toEqual([{ path: "vlans", severity: "warning", message: expect.stringContaining("node-local tags") }]);
        expect(checkMirrorArgs(explicit({ vlans: [1], bridge: "br-ex" }))).toEqual([]);
    });
    it("that a capture revision without a lifetime does nothing", () => {
        expect(checkMirrorArgs(explicit({ captureRevision: 2 }))).toEqual([{ path: "captureRevision", severity: "warning", message: expect.stringContaining("only matters with durationSeconds") }]);
    });
});
