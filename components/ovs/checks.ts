/**
 * Pure validation of {@link OvsPortMirrorArgs}: every problem at once, each with
 * its args field path (`capture.name`, `ports[1]`, `openstack.instanceId`).
 */
import { isIP } from "net";
import type { Issue } from "../../core/errors";
import type { OvsPortMirrorArgs } from "./args";

/** A Linux interface name OVS can also use as a port name: at most 15 bytes (IFNAMSIZ - 1). */
export const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
/** An existing OVS port: anything printable without blanks or '/' (patch and tunnel ports are not Linux links). */
export const OVS_PORT_NAME = /^[^\s/\x00-\x1f\x7f]{1,64}$/;
export const MIRROR_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
export const OPENSTACK_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Open vSwitch applies at most this many mirrors per bridge (MAX_MIRRORS); more are ignored with a log line. */
export const MAX_MIRRORS_PER_BRIDGE = 32;

/** The longest capture lifetime accepted: 30 days. */
export const MAX_DURATION_SECONDS = 30 * 24 * 3600;

const DIRECTIONS = ["both", "ingress", "egress"];
const CAPTURE_KINDS = ["auto", "dummy", "internal", "tap", "veth"];

function interfaceName(value: string): boolean {
    return INTERFACE_NAME.test(value) && value !== "." && value !== "..";
}

function intIn(value: unknown, min: number, max: number): boolean {
    return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** Every problem in the args (errors and warnings). */
export function checkMirrorArgs(args: OvsPortMirrorArgs): Issue[] {
    const issues: Issue[] = [];
    const error = (path: string, message: string) => issues.push({ path, message, severity: "error" });
    const bridge = args.bridge ?? "br-int";

    // Source: explicit xor OpenStack.
    if (args.host && args.openstack) error("openstack", "give either host (+ ports) or openstack, not both: the OpenStack look-up finds the host itself");
    if (!args.host && !args.openstack) error("host", "is required unless openstack is given: the node whose bridge holds the source ports");
    if (args.openstack && args.ports !== undefined) error("ports", "is not allowed with openstack: the VM's port (qvo + the first 11 characters of its Neutron port id) is looked up");
    if (args.wholeBridge && args.ports !== undefined) error("ports", "is not allowed with wholeBridge, which mirrors every port of the bridge");
    if (args.host && !args.wholeBridge) {
        if (!args.ports || args.ports.length === 0) error("ports", "needs at least one OVS port of the bridge (e.g. qvobee51cf7-fb), or set wholeBridge: true");
    }
    const seenPorts = new Set<string>();
    (args.ports ?? []).forEach((p, i) => {
        if (typeof p !== "string" || !OVS_PORT_NAME.test(p)) error(`ports[${i}]`, `${JSON.stringify(p)} is not an OVS port name (1-64 printable characters, no blanks or '/')`);
        else if (seenPorts.has(p)) error(`ports[${i}]`, `port ${p} is listed twice`);
        else if (p === bridge) error(`ports[${i}]`, `${p} is the bridge's own port; mirror the bridge with wholeBridge: true`);
        seenPorts.add(p);
    });

    if (args.openstack) {
        const os = args.openstack;
        if (!os.instanceId && !os.portId) error("openstack.instanceId", "is required unless openstack.portId is given: the Nova instance whose port is mirrored");
        if (os.instanceId !== undefined && !OPENSTACK_ID.test(os.instanceId)) error("openstack.instanceId", `${JSON.stringify(os.instanceId)} is not a Nova instance id (a UUID like 9e319540-9a67-4563-9aad-132c64faa1b1)`);
        if (os.portId !== undefined && !OPENSTACK_ID.test(os.portId)) error("openstack.portId", `${JSON.stringify(os.portId)} is not a Neutron port id (a UUID like bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a)`);
        if (os.network !== undefined) {
            if (!os.instanceId) error("openstack.network", "selects one of an instance's ports: it needs openstack.instanceId");
            else if (os.portId) error("openstack.network", "give openstack.network or openstack.portId to select the instance's port, not both");
            if (!/^[^\x00-\x1f\x7f]{1,255}$/.test(os.network)) error("openstack.network", "must be a network name or UUID (1-255 printable characters)");
        }
        if (!os.candidates || os.candidates.length === 0) error("openstack.candidates", "needs the hosts the VM's compute node is looked for in (the inventory)");
    }

    if (!interfaceName(bridge)) error("bridge", `${JSON.stringify(bridge)} is not a bridge name (1-15 letters, digits, '_', '.', '-')`);
    if (args.direction !== undefined && !DIRECTIONS.includes(args.direction)) error("direction", `must be one of ${DIRECTIONS.map((d) => JSON.stringify(d)).join(", ")}`);
    if (args.wholeBridge && args.direction !== undefined && args.direction !== "both") {
        error("direction", `${JSON.stringify(args.direction)} selects packets of chosen ports; wholeBridge mirrors every packet of the bridge (drop direction or wholeBridge)`);
    }

    const vlans = args.vlans ?? [];
    if (args.vlans !== undefined && args.vlans.length === 0) error("vlans", "is empty; leave it out to mirror every VLAN");
    if (vlans.length > 4096) error("vlans", "has more than 4096 entries");
    const seenVlans = new Set<number>();
    vlans.forEach((v, i) => {
        if (!intIn(v, 0, 4095)) error(`vlans[${i}]`, `${JSON.stringify(v)} is not a VLAN id (an integer 0-4095)`);
        else if (seenVlans.has(v)) error(`vlans[${i}]`, `VLAN ${v} is listed twice`);
        seenVlans.add(v);
    });

    if (vlans.length > 0 && bridge === "br-int") {
        issues.push({
            path: "vlans",
            severity: "warning",
            message: "on br-int the VLAN ids are Neutron's node-local tags (the Port's tag column, e.g. ovs-vsctl get Port qvo... tag), not the networks' segmentation ids",
        });
    }
    if (args.mirrorName !== undefined && !MIRROR_NAME.test(args.mirrorName)) error("mirrorName", `${JSON.stringify(args.mirrorName)} must be 1-64 letters, digits, '_', '.', ':', '-'`);

    if (args.capture && args.collector) error("collector", "give capture (a local interface) or collector (a remote tunnel), not both");
    const taken = new Set([bridge, ...seenPorts]);
    if (args.capture) {
        const c = args.capture;
        if (c.kind !== undefined && !CAPTURE_KINDS.includes(c.kind)) error("capture.kind", `must be one of ${CAPTURE_KINDS.map((k) => JSON.stringify(k)).join(", ")}`);
        if (c.name !== undefined) {
            if (!interfaceName(c.name)) error("capture.name", `${JSON.stringify(c.name)} is not a Linux interface name (1-15 letters, digits, '_', '.', '-')`);
            else if (taken.has(c.name)) error("capture.name", `${c.name} is the bridge or a source port; the capture interface needs its own name`);
        }
        if (c.mtu !== undefined && !intIn(c.mtu, 68, 65535)) error("capture.mtu", `${JSON.stringify(c.mtu)} is not an MTU (an integer 68-65535)`);
    }
    if (args.collector) {
        const t = args.collector;
        if (t.protocol !== "gre" && t.protocol !== "erspan") error("collector.protocol", 'must be "gre" or "erspan"');
        if (typeof t.address !== "string" || isIP(t.address) === 0) error("collector.address", `${JSON.stringify(t.address)} must be an IPv4 or IPv6 address (OVS tunnels take no names)`);
        const erspan = t.protocol === "erspan";
        if (t.key !== undefined && !intIn(t.key, 0, erspan ? 1023 : 4294967295)) error("collector.key", erspan ? "an ERSPAN session id is an integer 0-1023" : "a GRE key is an integer 0-4294967295");
        if (t.erspanVersion !== undefined && t.erspanVersion !== 1 && t.erspanVersion !== 2) error("collector.erspanVersion", "must be 1 or 2");
        if (!erspan && (t.erspanVersion !== undefined || t.erspanIndex !== undefined || t.erspanHardwareId !== undefined)) error("collector.protocol", 'erspanVersion, erspanIndex and erspanHardwareId need protocol "erspan"');
        const version = t.erspanVersion ?? 1;
        if (t.erspanIndex !== undefined && (version !== 1 || !intIn(t.erspanIndex, 0, 0xfffff))) error("collector.erspanIndex", "is an integer 0-1048575 and only for ERSPAN version 1");
        if (t.erspanHardwareId !== undefined && (version !== 2 || !intIn(t.erspanHardwareId, 0, 63))) error("collector.erspanHardwareId", "is an integer 0-63 and only for ERSPAN version 2");
        if (t.portName !== undefined) {
            if (!interfaceName(t.portName)) error("collector.portName", `${JSON.stringify(t.portName)} is not a port name (1-15 letters, digits, '_', '.', '-')`);
            else if (taken.has(t.portName)) error("collector.portName", `${t.portName} is the bridge or a source port; the tunnel port needs its own name`);
        }
    }
    if (args.durationSeconds !== undefined && !intIn(args.durationSeconds, 1, MAX_DURATION_SECONDS)) {
        error("durationSeconds", `${JSON.stringify(args.durationSeconds)} is not a capture lifetime: whole seconds, 1-${MAX_DURATION_SECONDS} (30 days); leave it out to keep the mirror until destroy`);
    }
    if (args.captureRevision !== undefined && !intIn(args.captureRevision, 1, Number.MAX_SAFE_INTEGER)) error("captureRevision", `${JSON.stringify(args.captureRevision)} must be a whole number >= 1`);
    if (args.captureRevision !== undefined && args.durationSeconds === undefined) {
        issues.push({ path: "captureRevision", severity: "warning", message: "only matters with durationSeconds: a capture without a lifetime never expires" });
    }
    if (args.pcap) {
        const p = args.pcap;
        if (p.path !== undefined && !/^\/[^\0\n\r*?[\]]*[^/]$/.test(p.path)) error("pcap.path", `${JSON.stringify(p.path)} must be an absolute file path without line breaks or glob characters (*?[])`);
        else if (p.path !== undefined && p.path.split("/").includes("..")) error("pcap.path", `${JSON.stringify(p.path)} must not contain '..'`);
        if (p.fileMegabytes !== undefined && !intIn(p.fileMegabytes, 1, 100000)) error("pcap.fileMegabytes", `${JSON.stringify(p.fileMegabytes)} must be a whole number of megabytes, 1-100000 (tcpdump -C)`);
        if (p.files !== undefined && !intIn(p.files, 1, 1000)) error("pcap.files", `${JSON.stringify(p.files)} must be a whole number of files, 1-1000 (tcpdump -W)`);
    }
    return issues;
}
