/**
 * The components as the multi-language package offers them. Each one registers
 * under the package's own token (`hostwright:index:<Class>`, what a Python, Go,
 * .NET or YAML SDK asks the provider for) and declares the library component of the
 * same name as its only child, with the args unchanged: the library's tokens
 * (`hostwright:h2o:ReverseProxy`, ...) and validation stay exactly as a TypeScript
 * program gets them. The class names are the schema's resource names; the member
 * types and JSDoc are what the analyzer reads for the outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { StepAddress } from "../core/remoteStep";
import { H2oReverseProxy as LibraryH2oReverseProxy } from "../components/h2o/component";
import { OvsPortMirror as LibraryOvsPortMirror } from "../components/ovs/component";
import { LibvirtLiveMigration as LibraryLibvirtLiveMigration, type LiveMigrationPair } from "../components/libvirt/component";
import { LxdRemoteMesh as LibraryLxdRemoteMesh } from "../components/lxd/component";
import type { HostReadiness } from "../components/lxd/preflight";
import type { InstanceMove as LibraryInstanceMove, MatrixCell } from "../components/lxd/render";
import { ResolverGuard as LibraryResolverGuard } from "../components/dns/component";
import type { H2oReverseProxyArgs, LiveMigrationArgs, LxdRemoteMeshArgs, OvsPortMirrorArgs, ResolverGuardArgs, StapleReport, StaplingStatus } from "./args";

/** h2o in front of an existing backend on one host: TLS chains put in trust order and checked, OCSP stapling made to work or reported. */
export class H2oReverseProxy extends pulumi.ComponentResource {
    /** Where h2o.conf is installed. */
    readonly configPath: pulumi.Output<string>;
    /** OCSP stapling status per TLS listener, measured on the host after the switch. A revoked staple fails the apply. */
    readonly stapling: pulumi.Output<Record<string, StaplingStatus>>;
    /** Per TLS listener with stapling applicable: the staple's thisUpdate, nextUpdate and source (fresh or cached). */
    readonly staples: pulumi.Output<Record<string, StapleReport>>;
    /** Per TLS listener: the chain as installed, leaf first, with each certificate's position in the given bundle. */
    readonly chainOrder: pulumi.Output<Record<string, string[]>>;
    /** Certificate warnings (expiry) and what the host reported (OCSP fetch failures, missing staples). */
    readonly warnings: pulumi.Output<string[]>;
    /** Per TLS listener: a command that shows what h2o staples (`openssl s_client -status`). */
    readonly checkCommands: pulumi.Output<Record<string, string>>;
    /** Milliseconds without service caused by the step's last run (a restart when the listener set changed; 0 after a reload or a first start). */
    readonly restartDowntimeMs: pulumi.Output<number>;
    /** The proxy's step: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: H2oReverseProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:index:H2oReverseProxy", name, {}, opts);
        const proxy = new LibraryH2oReverseProxy(name, args, { parent: this });
        this.configPath = proxy.configPath;
        this.stapling = proxy.stapling;
        this.staples = proxy.staples;
        this.chainOrder = proxy.chainOrder;
        this.warnings = proxy.warnings;
        this.checkCommands = proxy.checkCommands;
        this.restartDowntimeMs = proxy.restartDowntimeMs;
        this.steps = proxy.steps;
        this.registerOutputs({ configPath: this.configPath, stapling: this.stapling, staples: this.staples, chainOrder: this.chainOrder, warnings: this.warnings, checkCommands: this.checkCommands, restartDowntimeMs: this.restartDowntimeMs, steps: this.steps });
    }
}

/** An Open vSwitch mirror of a VM's ports to a capture interface or a remote collector on its compute node. */
export class OvsPortMirror extends pulumi.ComponentResource {
    /** Inventory name of the node the mirror is on. */
    readonly node: pulumi.Output<string>;
    /** The OVS bridge of the mirror. */
    readonly bridge: pulumi.Output<string>;
    /** The mirrored OVS ports (empty with wholeBridge). */
    readonly ports: pulumi.Output<string[]>;
    /** The interface tcpdump listens on ("" for a remote collector). */
    readonly captureInterface: pulumi.Output<string>;
    /** What the capture interface turned out to be on the node (`dummy`, `internal`, ...; `collector`). */
    readonly captureKind: pulumi.Output<string>;
    /** Ready to run on the node (for a collector: on the collector). */
    readonly tcpdump: pulumi.Output<string>;
    /** Capture to pcap files with rotation limits (`tcpdump -C -W`), ready to run on the node (for a collector: on the collector). */
    readonly captureCommand: pulumi.Output<string>;
    /** Copies those files from the node to the current directory over SSH ("" for a collector). */
    readonly fetchCommand: pulumi.Output<string>;
    /** `created`, `updated`, `unchanged`, or `expired` at the last run of the step. */
    readonly status: pulumi.Output<string>;
    /** When the node removes the capture by itself (UTC, ISO 8601); "" without `durationSeconds`. */
    readonly expiresAt: pulumi.Output<string>;
    /** How long the capture lives and what ends it, in words. */
    readonly lifetime: pulumi.Output<string>;
    /** The Mirror row's id on the node: `ovs-vsctl list Mirror ID` shows its packet counters. */
    readonly mirrorId: pulumi.Output<string>;
    /** Warnings from validation and from the node. */
    readonly warnings: pulumi.Output<string[]>;
    /** Every step: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: OvsPortMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:index:OvsPortMirror", name, {}, opts);
        const mirror = new LibraryOvsPortMirror(name, args, { parent: this });
        this.node = mirror.node;
        this.bridge = mirror.bridge;
        this.ports = mirror.ports;
        this.captureInterface = mirror.captureInterface;
        this.captureKind = mirror.captureKind;
        this.tcpdump = mirror.tcpdump;
        this.captureCommand = mirror.captureCommand;
        this.fetchCommand = mirror.fetchCommand;
        this.status = mirror.status;
        this.expiresAt = mirror.expiresAt;
        this.lifetime = mirror.lifetime;
        this.mirrorId = mirror.mirrorId;
        this.warnings = mirror.warnings;
        this.steps = mirror.steps;
        this.registerOutputs({
            node: this.node, bridge: this.bridge, ports: this.ports, captureInterface: this.captureInterface, captureKind: this.captureKind,
            tcpdump: this.tcpdump, captureCommand: this.captureCommand, fetchCommand: this.fetchCommand, status: this.status,
            expiresAt: this.expiresAt, lifetime: this.lifetime, mirrorId: this.mirrorId, warnings: this.warnings, steps: this.steps,
        });
    }
}

/** Host CPU as a node reported it. */
export interface NodeCpu {
    /** Where it was read: `virsh capabilities`, else /proc/cpuinfo. */
    source: string;
    /** CPU vendor. */
    vendor: string;
    /** CPU model name. */
    model: string;
}

/** One node of a live-migration group as the last apply saw it. */
export interface LiveMigrationNodeStatus {
    /** Inventory name of the node. */
    host: string;
    /** URI its peers (and nova) use to reach it. */
    uri: string;
    /** `libvirtd legacy`, `libvirtd socket` or `virtproxyd socket`: how the daemon runs there. */
    daemon: string;
    /** libvirt's version on the node. */
    libvirtVersion: string;
    /** QEMU binary and version, when found. */
    qemu: string;
    /** Peer name -> `ok` or `failed: ERROR` (empty when verifyPeers is off). */
    peers: Record<string, string>;
    /** libvirt's host UUID (`virsh capabilities`; "" when verifyPeers is off). */
    hostUuid: string;
    /** Host CPU as the node reported it. */
    cpu: NodeCpu;
    /** Port of QEMU's migration range that the check listened on, or why none (a port number is given as text). */
    dataPort: string;
}

/** Ready-to-run commands of a live-migration group. */
export interface MigrationCommands {
    /** Checks a peer from a node. */
    checkPeer: string[];
    /** Starts a live migration. */
    migrate: string;
    /** Follows a migration's progress. */
    progress: string;
}

/** libvirtd listening (TLS by default) and nova's live-migration options on a group of compute nodes, checked pairwise. */
export class LibvirtLiveMigration extends pulumi.ComponentResource {
    /** Per node: daemon mode found, versions, URI, peer-check results. */
    readonly nodes: pulumi.Output<LiveMigrationNodeStatus[]>;
    /** Per ordered pair `SOURCE->TARGET`: control, data ports, CPU, name; each `ok` or why not. Empty when verifyPeers is off. */
    readonly pairs: pulumi.Output<Record<string, LiveMigrationPair>>;
    /** CPU features every node has: what a common `cpu_mode=custom` model may use. Empty when verifyPeers is off. */
    readonly cpuCommonFeatures: pulumi.Output<string[]>;
    /** Warnings from validation and from the hosts (e.g. QEMU without block migration). */
    readonly warnings: pulumi.Output<string[]>;
    /** Ready-to-run commands: check a peer, start a migration, follow its progress. */
    readonly commands: pulumi.Output<MigrationCommands>;
    /** Every step of the group: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: LiveMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:index:LibvirtLiveMigration", name, {}, opts);
        const group = new LibraryLibvirtLiveMigration(name, args, { parent: this });
        this.nodes = group.nodes.apply((nodes) => nodes.map((node) => ({ ...node, dataPort: String(node.dataPort) })));
        this.pairs = group.pairs;
        this.cpuCommonFeatures = group.cpuCommonFeatures;
        this.warnings = group.warnings;
        this.commands = group.commands;
        this.steps = group.steps;
        this.registerOutputs({ nodes: this.nodes, pairs: this.pairs, cpuCommonFeatures: this.cpuCommonFeatures, warnings: this.warnings, commands: this.commands, steps: this.steps });
    }
}

/** What kind of LXD instance a move concerns. */
export const InstanceType = { container: "container", virtualMachine: "virtual-machine" } as const;
export type InstanceType = (typeof InstanceType)[keyof typeof InstanceType];

/** What a target lacks for one instance, and whether a cold / live move works. */
export interface InstanceMove extends LibraryInstanceMove {
    /** Container or virtual machine. */
    type: InstanceType;
}

/** Every LXD host registered as a remote on every host (itself included), with migration pre-flight checks. */
export class LxdRemoteMesh extends pulumi.ComponentResource {
    /** Per host: LXD version and whether stateless / stateful moves can work, with reasons. */
    readonly readiness: pulumi.Output<Record<string, HostReadiness>>;
    /** `matrix[source][target]`: the link was verified, the version rule, which moves are ready and why not. */
    readonly matrix: pulumi.Output<Record<string, Record<string, MatrixCell>>>;
    /** `instances[source][target][instance]`: what the target lacks for the instance, and whether a cold / live move works. */
    readonly instances: pulumi.Output<Record<string, Record<string, Record<string, InstanceMove>>>>;
    /** Problems that stopped the apply before any change (empty when the pre-flight passed). */
    readonly preflightErrors: pulumi.Output<string[]>;
    /** Ready-to-run move commands, by `source->target`. */
    readonly moveCommands: pulumi.Output<Record<string, string>>;
    /** Warnings from validation and from the hosts. */
    readonly warnings: pulumi.Output<string[]>;
    /** Every step: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: LxdRemoteMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:index:LxdRemoteMesh", name, {}, opts);
        const mesh = new LibraryLxdRemoteMesh(name, args, { parent: this });
        this.readiness = mesh.readiness;
        this.matrix = mesh.matrix;
        this.instances = mesh.instances;
        this.preflightErrors = mesh.preflightErrors;
        this.moveCommands = mesh.moveCommands;
        this.warnings = mesh.warnings;
        this.steps = mesh.steps;
        this.registerOutputs({ readiness: this.readiness, matrix: this.matrix, instances: this.instances, preflightErrors: this.preflightErrors, moveCommands: this.moveCommands, warnings: this.warnings, steps: this.steps });
    }
}

/** `/etc/resolv.conf` kept as declared against DHCP, and per-domain name servers in the host's local cache. */
export class ResolverGuard extends pulumi.ComponentResource {
    /** Inventory name of the host. */
    readonly host: pulumi.Output<string>;
    /** The files the guard installs or edits on the host (the NetworkManager drop-in is `networkManagerDropIn`). */
    readonly files: pulumi.Output<string[]>;
    /** Pinned domain -> what its probe got from the cache at the last apply (`dig +short`). */
    readonly answers: pulumi.Output<Record<string, string>>;
    /** The host's glibc package version(s) as the last apply saw them. */
    readonly glibc: pulumi.Output<string>;
    /** The `dns=none` drop-in written where NetworkManager is installed ("" where it is not). */
    readonly networkManagerDropIn: pulumi.Output<string>;
    /** Ready to run on the host: one `dig` per pinned domain's probe. */
    readonly checkCommands: pulumi.Output<string[]>;
    /** Warnings from validation and from the host. */
    readonly warnings: pulumi.Output<string[]>;
    /** The guard's steps: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: ResolverGuardArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:index:ResolverGuard", name, {}, opts);
        const guard = new LibraryResolverGuard(name, args, { parent: this });
        this.host = guard.host;
        this.files = guard.files;
        this.answers = guard.answers;
        this.glibc = guard.glibc;
        this.networkManagerDropIn = guard.networkManagerDropIn;
        this.checkCommands = guard.checkCommands;
        this.warnings = guard.warnings;
        this.steps = guard.steps;
        this.registerOutputs({
            host: this.host, files: this.files, answers: this.answers, glibc: this.glibc,
            networkManagerDropIn: this.networkManagerDropIn, checkCommands: this.checkCommands, warnings: this.warnings, steps: this.steps,
        });
    }
}

/** Every component of the package, as the provider serves them. */
export const components = [H2oReverseProxy, OvsPortMirror, LibvirtLiveMigration, LxdRemoteMesh, ResolverGuard];
