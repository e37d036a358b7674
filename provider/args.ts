/**
 * Provider-facing argument types: what Pulumi's component analyzer
 * (`@pulumi/pulumi/provider/experimental`) turns into the package schema.
 *
 * Each interface extends the library's own and redeclares only the fields the
 * analyzer cannot read: string or number unions (it reads an enum only from an
 * `as const` object), an inline object type (it needs a named interface), and
 * every field whose type refers to one of those. Each type is assignable to the
 * library's, so the components take these args unchanged, and every field that is
 * not redeclared keeps the library's declaration and JSDoc (the schema's description).
 */
import type { Host as LibraryHost } from "../core/host";
import type * as h2o from "../components/h2o/args";
import type * as ovs from "../components/ovs/args";
import type * as libvirt from "../components/libvirt/args";
import type * as lxd from "../components/lxd/args";
import type * as dns from "../components/dns/args";

/** Operating-system family: decides package names and file locations (e.g. `/etc/default` vs `/etc/sysconfig`). */
export const OsFamily = { debian: "debian", rhel: "rhel" } as const;
export type OsFamily = (typeof OsFamily)[keyof typeof OsFamily];

/** How services are started and reloaded on the host. */
export const InitSystem = { systemd: "systemd", sysv: "sysv" } as const;
export type InitSystem = (typeof InitSystem)[keyof typeof InitSystem];

/**
 * A host that components act on over SSH: one inventory entry, resolved.
 * Components take a `Host` and never open connections themselves.
 */
export interface Host extends LibraryHost {
    /** Operating-system family. Defaults to debian. */
    os?: OsFamily;
    /** Init system that starts and reloads services. Defaults to systemd. */
    init?: InitSystem;
}

// ---- H2oReverseProxy ----

/** Which h2o the config is rendered for: `2.2` (h2o 2.2.x, Debian 12) or `current` (h2o 2.3 and later, with `identity` lists). */
export const H2oVersion = { v2_2: "2.2", current: "current" } as const;
export type H2oVersion = (typeof H2oVersion)[keyof typeof H2oVersion];

/** Lowest TLS version a listener accepts (`minimum-version`). */
export const TlsVersion = { TLSv1: "TLSv1", TLSv1_1: "TLSv1.1", TLSv1_2: "TLSv1.2", TLSv1_3: "TLSv1.3" } as const;
export type TlsVersion = (typeof TlsVersion)[keyof typeof TlsVersion];

/** How an OCSP response is verified on the host before h2o staples it (see the h2o component's README). */
export const OcspVerification = { trustStore: "trust-store", caFile: "ca-file", h2oDefault: "h2o-default" } as const;
export type OcspVerification = (typeof OcspVerification)[keyof typeof OcspVerification];

/** HTTP status of a redirect. */
export const RedirectStatus = { MovedPermanently: 301, Found: 302, TemporaryRedirect: 307, PermanentRedirect: 308 } as const;
export type RedirectStatus = (typeof RedirectStatus)[keyof typeof RedirectStatus];

/** What a TLS listener staples, as the apply saw it. */
export const StaplingStatus = {
    good: "good",
    revoked: "revoked",
    unknown: "unknown",
    noStaple: "no staple",
    notApplicable: "not applicable",
    disabled: "disabled",
    notChecked: "not checked",
} as const;
export type StaplingStatus = (typeof StaplingStatus)[keyof typeof StaplingStatus];

/** Where a listener's staple came from. */
export const StapleSource = {
    fresh: "fresh",
    cached: "cached",
    none: "none",
    h2o: "h2o",
} as const;
export type StapleSource = (typeof StapleSource)[keyof typeof StapleSource];

/** The staple of one TLS listener as a client saw it after the apply. */
export interface StapleReport {
    /** The response's thisUpdate as OpenSSL prints it; "" without a staple. */
    thisUpdate: string;
    /** The response's nextUpdate; "" without a staple or when the response has none. */
    nextUpdate: string;
    /** fresh from the responder, cached (the last good response, served while the responder is down), none, or h2o's own fetch. */
    source: StapleSource;
}

/** OCSP stapling of one TLS listener. Only relevant when the leaf certificate names an OCSP responder. */
export interface OcspArgs extends h2o.OcspArgs {
    /** How responses are verified before they are stapled. Defaults to trust-store when `rootCertificate` is set, else h2o-default. */
    verification?: OcspVerification;
}

/** TLS settings of a listener. */
export interface TlsArgs extends h2o.TlsArgs {
    /** `minimum-version`. Defaults to TLSv1.2. */
    minimumVersion?: TlsVersion;
    /** OCSP stapling; ignored (status "not applicable") when the leaf has no OCSP URI. */
    ocsp?: OcspArgs;
}

/** One `listen` entry. */
export interface ListenerArgs extends h2o.ListenerArgs {
    /** TLS; without it the listener is plain HTTP. */
    tls?: TlsArgs;
}

/** What a path does: proxy to a backend, or redirect to HTTPS. Exactly one of `proxyTo` / `redirectTo`. */
export interface PathArgs extends h2o.PathArgs {
    /** Redirect status. Defaults to 301. */
    redirectStatus?: RedirectStatus;
}

/** A virtual host (`hosts:` entry). */
export interface VirtualHostArgs extends h2o.VirtualHostArgs {
    /** Paths, longest prefix wins. */
    paths: PathArgs[];
}

export interface H2oReverseProxyArgs extends h2o.H2oReverseProxyArgs {
    /** The host h2o runs on (an inventory entry). Its `os` picks the trust directory, its `init` how h2o is started. */
    host: Host;
    /** h2o flavour the config is rendered for. Defaults to 2.2. */
    h2oVersion?: H2oVersion;
    /** Listeners, at least one (see the library's `listeners` for what a change restarts). */
    listeners: ListenerArgs[];
    /** Virtual hosts, at least one. */
    virtualHosts: VirtualHostArgs[];
}

// ---- OvsPortMirror ----

/** Which packets of the source ports are mirrored, seen from the bridge: `ingress` (what a VM sends), `egress` (what it receives) or `both`. */
export const MirrorDirection = { both: "both", ingress: "ingress", egress: "egress" } as const;
export type MirrorDirection = (typeof MirrorDirection)[keyof typeof MirrorDirection];

/** The local interface tcpdump listens on; `auto` is `dummy` when the kernel has the dummy driver, else `internal`. */
export const CaptureKind = { auto: "auto", dummy: "dummy", internal: "internal", tap: "tap", veth: "veth" } as const;
export type CaptureKind = (typeof CaptureKind)[keyof typeof CaptureKind];

/** Tunnel protocol to a remote collector. */
export const CollectorProtocol = { gre: "gre", erspan: "erspan" } as const;
export type CollectorProtocol = (typeof CollectorProtocol)[keyof typeof CollectorProtocol];

/** ERSPAN version. */
export const ErspanVersion = { v1: 1, v2: 2 } as const;
export type ErspanVersion = (typeof ErspanVersion)[keyof typeof ErspanVersion];

/** A local capture interface on the node. Exclusive with `collector`. */
export interface OvsCaptureArgs extends ovs.OvsCaptureArgs {
    /** What the capture interface is. Defaults to auto. */
    kind?: CaptureKind;
}

/** A remote collector: mirrored packets leave the node in a GRE or ERSPAN tunnel. Exclusive with `capture`. */
export interface OvsCollectorArgs extends ovs.OvsCollectorArgs {
    /** Tunnel protocol (an IPv6 `address` selects `ip6gre` / `ip6erspan`). Required. */
    protocol: CollectorProtocol;
    /** ERSPAN version; ignored for GRE. Defaults to 1. */
    erspanVersion?: ErspanVersion;
}

/**
 * Source found through the OpenStack API (credentials from the `openstack` provider,
 * which must be an admin: Neutron shows a port's binding host to admins only). The
 * library's `provider` field (a `ProviderResource`) is not offered here: give the
 * `openstack` provider through the component's `providers` resource option instead.
 */
export interface OvsOpenStackSourceArgs {
    /** Nova instance id (UUID). With several ports, `network` or `portId` selects one. Unset: `portId` is required. */
    instanceId?: string;
    /** Neutron port id (UUID): the port to mirror. With `instanceId` it must be one of the instance's ports. */
    portId?: string;
    /** Network name or UUID that selects the instance's port when it has several; only with `instanceId`. */
    network?: string;
    /** Hosts the binding host is looked for in: first by name, then by address (the hypervisor's `host_ip`). Required. */
    candidates: Host[];
}

export interface OvsPortMirrorArgs extends ovs.OvsPortMirrorArgs {
    /** The compute node, when the ports are given by name (with `ports`). */
    host?: Host;
    /** Find the node and the VM's port through the OpenStack API. */
    openstack?: OvsOpenStackSourceArgs;
    /** Which packets are mirrored. Defaults to both. */
    direction?: MirrorDirection;
    /** A local capture interface (default when neither this nor `collector` is given). */
    capture?: OvsCaptureArgs;
    /** A remote collector. */
    collector?: OvsCollectorArgs;
}

// ---- LibvirtLiveMigration ----

/** How one libvirt connects to another: TLS on 16514, plain TCP on 16509, or SSH. */
export const MigrationTransport = { tls: "tls", tcp: "tcp", ssh: "ssh" } as const;
export type MigrationTransport = (typeof MigrationTransport)[keyof typeof MigrationTransport];

/** Authentication on the libvirt socket: none (TLS client certificates still apply) or SASL. */
export const MigrationAuth = { none: "none", sasl: "sasl" } as const;
export type MigrationAuth = (typeof MigrationAuth)[keyof typeof MigrationAuth];

/** SASL mechanism: `digest-md5` works over plain TCP; `scram-sha-256` needs TLS. */
export const SaslMechanism = { digestMd5: "digest-md5", scramSha256: "scram-sha-256" } as const;
export type SaslMechanism = (typeof SaslMechanism)[keyof typeof SaslMechanism];

/** nova's `cpu_mode`. */
export const CpuMode = { hostModel: "host-model", hostPassthrough: "host-passthrough", custom: "custom", none: "none" } as const;
export type CpuMode = (typeof CpuMode)[keyof typeof CpuMode];

/** One compute node of the migration group. */
export interface LiveMigrationNode extends libvirt.LiveMigrationNode {
    /** The compute host (inventory entry). Its `os` picks `/etc/sysconfig` vs `/etc/default` and the nova service name. */
    host: Host;
}

/** SASL credentials shared by the group (auth `sasl`). */
export interface SaslCredentials extends libvirt.SaslCredentials {
    /** SASL mechanism. Defaults to scram-sha-256 with transport tls, digest-md5 with tcp. */
    mechanism?: SaslMechanism;
}

/** The nova side: which options go into nova.conf. */
export interface NovaMigrationOptions extends libvirt.NovaMigrationOptions {
    /** nova's `cpu_mode`; decides what each pair's CPU check means. Unset: nova.conf's own setting is left alone. */
    cpuMode?: CpuMode;
}

/** TLS material shared by the group (transport `tls`). */
export interface MigrationTlsArgs {
    /** CA certificates, PEM: the root and every intermediate that issues the nodes' certificates. Installed as `/etc/pki/CA/cacert.pem`. */
    caCertificate: string;
    /** libvirtd `tls_allowed_dn_list`: client certificate DNs (glob patterns) allowed to connect. Unset: any certificate the CA signed. */
    allowedClientDns?: string[];
}

export interface LiveMigrationArgs extends libvirt.LiveMigrationArgs {
    /** The compute nodes; every node must be able to open every other one. At least two, unique hosts. */
    nodes: LiveMigrationNode[];
    /** `tls`, `tcp` (needs auth `sasl` unless `allowUnauthenticatedTcp`) or `ssh`. Defaults to tls. */
    transport?: MigrationTransport;
    /** Authentication on the libvirt TCP/TLS socket. Defaults to none with tls, sasl with tcp. */
    auth?: MigrationAuth;
    /** TLS material shared by the group; required with transport `tls`, refused otherwise. */
    tls?: MigrationTlsArgs;
    /** SASL credentials; required with auth `sasl`, refused otherwise. */
    sasl?: SaslCredentials;
    /** nova options; unset: nova.conf is not touched (libvirt only). */
    nova?: NovaMigrationOptions;
}

// ---- LxdRemoteMesh ----

/** How each host comes to trust the others' `lxc` clients. */
export const TrustMethod = { token: "token", certificate: "certificate" } as const;
export type TrustMethod = (typeof TrustMethod)[keyof typeof TrustMethod];

/** What kind of move the mesh must be ready for. */
export const MigrationMode = { stateless: "stateless", stateful: "stateful" } as const;
export type MigrationMode = (typeof MigrationMode)[keyof typeof MigrationMode];

/** One LXD host of the mesh. */
export interface LxdMeshMember extends lxd.LxdMeshMember {
    /** The inventory host. Its `name` becomes the remote name on every host of the mesh. */
    host: Host;
}

export interface LxdRemoteMeshArgs extends lxd.LxdRemoteMeshArgs {
    /** The hosts of the mesh (at least two for a migration to have a target). */
    members: LxdMeshMember[];
    /** How trust is established (see the lxd component's README). Defaults to certificate. */
    trust?: TrustMethod;
    /** What kind of move the mesh must be ready for. Defaults to stateless. */
    migration?: MigrationMode;
}

// ---- ResolverGuard ----

/** Which local cache the host runs; decides the file layout of the per-domain servers. */
export const CacheKind = { dnsmasq: "dnsmasq", unbound: "unbound", dnscache: "dnscache" } as const;
export type CacheKind = (typeof CacheKind)[keyof typeof CacheKind];

/** Record types a probe may ask for. */
export const ProbeType = { A: "A", AAAA: "AAAA", SOA: "SOA", NS: "NS", MX: "MX", TXT: "TXT", CNAME: "CNAME", SRV: "SRV", PTR: "PTR" } as const;
export type ProbeType = (typeof ProbeType)[keyof typeof ProbeType];

/** A query that shows the pin works. */
export interface ProbeArgs extends dns.ProbeArgs {
    /** The record type asked for. Defaults to A. */
    type?: ProbeType;
}

/** A domain resolved only through chosen servers. */
export interface PinnedDomainArgs extends dns.PinnedDomainArgs {
    /** What the apply asks the cache after reloading it. Defaults to the domain's SOA record. */
    probe?: ProbeArgs;
}

/** The host's local DNS cache and the domains pinned in it. */
export interface CacheArgs extends dns.CacheArgs {
    /** The cache program: dnsmasq, unbound or dnscache (djbdns). Required. */
    kind: CacheKind;
    /** The pinned domains (at least one, each once). Required. */
    domains: PinnedDomainArgs[];
}

export interface ResolverGuardArgs extends dns.ResolverGuardArgs {
    /** The host. Its `os` decides how DHCP is kept away from resolv.conf. */
    host: Host;
    /** The local cache and its per-domain servers. */
    cache?: CacheArgs;
}
