import type * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import type { Inputs } from "../../core/inputs";

/**
 * Which packets of the source ports are mirrored, seen from the bridge:
 * - `ingress`: packets that ENTER the bridge through a source port (OVS
 *   `select-src-port`); for a VM's `qvo...` port, what the VM sends.
 * - `egress`: packets the bridge OUTPUTS to a source port (`select-dst-port`);
 *   for a VM's port, what the VM receives.
 * - `both`: both of them.
 */
export type MirrorDirection = "both" | "ingress" | "egress";

/**
 * The local interface tcpdump listens on:
 * - `dummy`: a Linux dummy link added to the bridge (the write-up's recipe; `ovs-tcpdump` does the same);
 * - `internal`: an OVS internal port (OVS creates the link);
 * - `tap`: an OVS tap port (OVS creates the link; userspace datapaths);
 * - `veth`: a veth pair, one end on the bridge, tcpdump on the other;
 * - `auto`: `dummy` when the kernel has the dummy driver, else `internal`.
 */
export type CaptureKind = "auto" | "dummy" | "internal" | "tap" | "veth";

/** A local capture interface on the node. Exclusive with {@link OvsPortMirrorArgs.collector}. */
export interface OvsCaptureArgs {
    /** What the capture interface is. @default "auto" */
    kind?: CaptureKind;
    /**
     * Linux name of the interface tcpdump listens on (1-15 letters, digits, `_`, `.`, `-`).
     * With `veth` the bridge end is named `hwp` + 8 hex characters of the step key.
     * Must not be taken on the node by anything this mirror does not own (the apply fails clearly).
     * @default "hwm" + the first 8 hex characters of a hash of the step key
     */
    name?: string;
    /**
     * MTU of the capture interface; mirrored packets larger than it are dropped.
     * @default the largest MTU of the source ports' interfaces (of all the bridge's
     * interfaces with `wholeBridge`), 1500 when OVS reports none
     */
    mtu?: number;
}

/** A remote collector: mirrored packets leave the node in a GRE or ERSPAN tunnel. Exclusive with `capture`. */
export interface OvsCollectorArgs {
    /** Tunnel protocol (an IPv6 `address` selects `ip6gre` / `ip6erspan`). Required: no default. */
    protocol: "gre" | "erspan";
    /**
     * IP address of the collector (OVS `options:remote_ip`); names are not accepted.
     * The node must route to it (userspace datapaths: through an OVS bridge holding an address).
     * May come from another resource (a collector VM's `accessIpV4`): checked once known.
     * Required: no default.
     */
    address: string;
    /**
     * GRE key (0-4294967295) or ERSPAN session id (0-1023).
     * @default none for GRE (no key), 1 for ERSPAN
     */
    key?: number;
    /** ERSPAN version; ignored for GRE. @default 1 */
    erspanVersion?: 1 | 2;
    /** ERSPAN v1 index (0-1048575); only with `erspanVersion: 1`. @default 1 */
    erspanIndex?: number;
    /** ERSPAN v2 hardware id (0-63); only with `erspanVersion: 2`. @default 0 */
    erspanHardwareId?: number;
    /**
     * Name of the tunnel port on the bridge (1-15 letters, digits, `_`, `.`, `-`).
     * @default "hwt" + the first 8 hex characters of a hash of the step key
     */
    portName?: string;
}

/**
 * Source found through the OpenStack API (credentials from the `openstack` provider,
 * which must be an admin: Neutron shows a port's binding host to admins only).
 * The VM's port on `br-int` is `qvo` + the first 11 characters of its Neutron port id.
 */
export interface OvsOpenStackSourceArgs {
    /**
     * Nova instance id (UUID). Its ports are listed with `compute.getInstanceV2`; with
     * several ports, `network` or `portId` selects one. May be an `openstack.compute.Instance`'s
     * `id` from the same program: the look-ups then run once it is known.
     * @default none: then `portId` is required
     */
    instanceId?: string;
    /**
     * Neutron port id (UUID): the port to mirror. With `instanceId` it must be one of the instance's ports.
     * @default the instance's only port (or the one on `network`)
     */
    portId?: string;
    /**
     * Network name or UUID that selects the instance's port when it has several; only with `instanceId`.
     * @default none
     */
    network?: string;
    /**
     * Hosts the binding host is looked for in: first by name (the binding host, or its
     * first DNS label), then by address (the hypervisor's `host_ip`, `compute.getHypervisorV2`).
     * The stack section passes the whole inventory. Their addresses may come from other
     * resources (an instance's `accessIpV4`): matched once known. Required: no default.
     */
    candidates: Host[];
    /** Explicit `openstack` provider for the look-ups. @default the default provider (stack config `openstack:*`) */
    provider?: pulumi.ProviderResource;
}

/**
 * What `new OvsPortMirror()` takes: {@link OvsPortMirrorArgs} with every value a
 * `pulumi.Input`: the node's address and login, `ports`, `openstack.instanceId` /
 * `portId` / `network` (e.g. an `openstack.compute.Instance`'s `id` created in the same
 * program: it feeds the same look-ups), the candidates' fields but their names, the
 * collector's address, the capture and pcap settings. Host names stay plain (they name
 * the step's host), and so do the lists of candidates. Checked as soon as every value is
 * known, with the same errors and warnings; during a preview with unknown values the step
 * is declared with unknown content.
 */
export type OvsPortMirrorInputs = Inputs<OvsPortMirrorArgs>;

/**
 * Args of {@link OvsPortMirror}: mirror OVS ports (or a whole bridge) of one node to a
 * capture interface or a remote collector. The source is explicit (`host` + `ports`)
 * or found through OpenStack (`openstack`), never both.
 */
export interface OvsPortMirrorArgs {
    /** The node whose bridge holds the source ports. Exclusive with `openstack`. @default none */
    host?: Host;
    /**
     * OVS ports to mirror (e.g. `qvobee51cf7-fb`), all on `bridge`. Required with `host`
     * unless `wholeBridge`; not allowed with `wholeBridge` or `openstack`.
     * @default none
     */
    ports?: string[];
    /** Find the node and the port from a Nova instance or a Neutron port. Exclusive with `host`/`ports`. @default none */
    openstack?: OvsOpenStackSourceArgs;
    /** The OVS bridge holding the source ports, the capture port and the mirror. @default "br-int" */
    bridge?: string;
    /** Which packets of the source ports are mirrored; only `both` with `wholeBridge`. @default "both" */
    direction?: MirrorDirection;
    /**
     * Mirror every packet on the bridge (OVS `select_all`) instead of chosen ports;
     * with `openstack` it mirrors the whole bridge of the VM's node.
     * @default false
     */
    wholeBridge?: boolean;
    /** Mirror only packets on these VLANs (OVS `select_vlan`, 0-4095, at most 4096). @default all VLANs */
    vlans?: number[];
    /** Local capture interface. Exclusive with `collector`. @default { kind: "auto" } when no collector */
    capture?: OvsCaptureArgs;
    /** Remote collector (GRE or ERSPAN). Exclusive with `capture`. @default none */
    collector?: OvsCollectorArgs;
    /**
     * Name of the Mirror row (1-64 letters, digits, `_`, `.`, `:`, `-`). Names are not unique
     * in OVS: the mirror is found by its `external_ids:hostwright-owner` mark, and a
     * mirror with this name that is not its own makes the apply fail.
     * @default "hostwright-" + the component name
     */
    mirrorName?: string;
    /**
     * Lifetime of the capture in seconds (1 to 30 days). When it ends, a background job
     * on the node (started by the apply, recorded in the step's state) removes the
     * mirror, the output port and the capture links: no Pulumi run is needed. Later
     * runs of the step report the capture as `expired` and do not make it again; raise
     * `captureRevision` for a new capture. Destroy works before and after the end.
     * A reboot of the node before the end kills the job: the next run of the step
     * restarts it, or removes the capture when its time is over.
     * @default none: the mirror stays until destroy
     */
    durationSeconds?: number;
    /**
     * Raise it to capture again after a capture with `durationSeconds` ended (any other
     * change of the mirror's arguments starts a new capture too).
     * @default 1
     */
    captureRevision?: number;
    /**
     * Allow this mirror although another mirror on the bridge already selects one of its
     * source ports (or, with `wholeBridge`, another whole-bridge mirror exists). Without it
     * the apply fails naming that mirror and its owner (ovs-tcpdump's rule: one mirror
     * per port); every packet would reach both outputs.
     * @default false
     */
    allowOverlappingMirrors?: boolean;
    /**
     * Where and how the ready-to-run rotating capture (`captureCommand`, `tcpdump -C -W`)
     * writes on the node (for a collector: on the collector).
     * @default { path: "/var/tmp/hostwright-<capture name or mirror name>.pcap", fileMegabytes: 100, files: 10 }
     */
    pcap?: OvsPcapArgs;
}

/** Rotation limits of the ready-to-run capture command: at most `files` x `fileMegabytes` MB on disk. */
export interface OvsPcapArgs {
    /**
     * Absolute path of the capture file; tcpdump appends the file number (`PATH0`, `PATH1`, ...).
     * @default "/var/tmp/hostwright-<capture name or mirror name>.pcap"
     */
    path?: string;
    /** Size of one file in millions of bytes (`tcpdump -C`, 1-100000). @default 100 */
    fileMegabytes?: number;
    /** Number of files kept before the oldest is overwritten (`tcpdump -W`, 1-1000). @default 10 */
    files?: number;
}
