import type { Host } from "../../core/host";
import type { Inputs } from "../../core/inputs";

/** The resolver settings `/etc/resolv.conf` must keep, whatever DHCP says. */
export interface ResolvConfArgs {
    /**
     * `nameserver` lines, in order: IPv4 or IPv6 addresses only (glibc takes no names).
     * glibc uses the first 3 (MAXNS); more is a warning. Put `127.0.0.1` first when the
     * host runs the cache of {@link ResolverGuardArgs.cache}. Each may be an input
     * (a resolver VM's address): checked once known, as a plain one is.
     * Required: no default.
     */
    nameservers: string[];
    /**
     * `search` domains, in order (glibc before 2.26 uses at most 6 and 256 characters: more is a warning).
     * @default none (no `search` line)
     */
    search?: string[];
    /**
     * `options` words, e.g. `timeout:2`, `attempts:3`, `rotate`, `edns0`, `single-request-reopen`
     * (checked against resolv.conf(5); `ndots:0-15`, `timeout:1-30`, `attempts:1-5`).
     * @default none (no `options` line)
     */
    options?: string[];
}

/** Which local cache the host runs; decides the file layout of the per-domain servers. */
export type CacheKind = "dnsmasq" | "unbound" | "dnscache";

/** A domain resolved only through chosen servers (the seed: a domain whose servers' UDP checksums a router broke). */
export interface PinnedDomainArgs {
    /** The domain, e.g. `twitch.tv` (a trailing dot is dropped; not the root). Required: no default. */
    domain: string;
    /**
     * IP addresses of the servers queries for the domain go to (names are not accepted).
     * dnsmasq and unbound send them recursive queries (resolvers or the domain's
     * authoritative servers both answer names in the domain); djbdns dnscache sends
     * iterative queries, so give it the domain's authoritative servers (the seed's
     * `ns1.p18.dynect.net`), IPv4 only. Required: no default.
     */
    servers: string[];
    /**
     * What the apply asks the cache after reloading it (`dig @cache.address NAME TYPE`):
     * the answer must be NOERROR with at least one record, or the apply fails and the
     * previous files are put back.
     * @default { name: domain, type: "SOA" } (every zone has an SOA record at its apex)
     */
    probe?: ProbeArgs;
}

/** A query that shows the pin works. */
export interface ProbeArgs {
    /** A name inside the pinned domain (or the domain itself). Required: no default. */
    name: string;
    /** The record type asked for. @default "A" */
    type?: ProbeType;
}

/** Record types a probe may ask for. */
export type ProbeType = "A" | "AAAA" | "SOA" | "NS" | "MX" | "TXT" | "CNAME" | "SRV" | "PTR";

/** The host's local DNS cache and the domains pinned in it. */
export interface CacheArgs {
    /**
     * The cache program: `dnsmasq` (a `server=/<domain>/<ip>` conf.d file, service
     * restarted: dnsmasq reads its config files only at start), `unbound` (a
     * `forward-zone` per domain in `unbound.conf.d`, checked with `unbound-checkconf`,
     * reloaded with `unbound-control reload` where remote control is on, else restarted) or `dnscache` (djbdns: one `root/servers/<domain>` file per
     * domain, restarted with `svc -t`). Required: no default.
     */
    kind: CacheKind;
    /** The pinned domains (at least one, each once). Required: no default. */
    domains: PinnedDomainArgs[];
    /**
     * The file the pins are written to (dnsmasq, unbound); it must be one the cache
     * reads (Debian's dnsmasq reads `/etc/dnsmasq.d/*` through its init script's `-7`,
     * Debian's unbound.conf includes `/etc/unbound/unbound.conf.d/*.conf`). Not for dnscache.
     * @default `/etc/dnsmasq.d/hostwright-<component name>.conf` or `/etc/unbound/unbound.conf.d/hostwright-<component name>.conf`
     */
    configFile?: string;
    /**
     * The service restarted with the host's init system (dnsmasq; unbound without remote control). Not for dnscache.
     * @default "dnsmasq" or "unbound"
     */
    service?: string;
    /** dnscache's service directory (holds `root/servers/`, restarted with `svc -t`). Only for dnscache. @default "/etc/dnscache" */
    directory?: string;
    /** The address the probes ask (where the cache listens). @default "127.0.0.1" */
    address?: string;
    /** Ask each probe after the reload (needs `dig` on the host). @default true */
    verify?: boolean;
}

/**
 * What `new ResolverGuard()` takes: {@link ResolverGuardArgs} with every value a
 * `pulumi.Input` (the host's address, name server addresses from other resources such
 * as an `openstack.compute.Instance`'s `accessIpV4`, search domains, pinned domains and
 * their servers, the cache's settings, the RHEL interfaces); `resolvConf` and `cache`
 * stay present or absent and the list of pinned domains stays a list, because they
 * decide which steps are declared. Checked as soon as every value is known, with the
 * same errors and warnings as plain values.
 */
export type ResolverGuardInputs = Inputs<ResolverGuardArgs>;

/**
 * Args of {@link ResolverGuard}: keep the host's resolver settings against DHCP,
 * and/or pin domains to chosen servers in its local cache (at least one of the two).
 */
export interface ResolverGuardArgs {
    /**
     * The host. Its `os` decides how DHCP is kept away from resolv.conf. In
     * {@link ResolverGuardInputs} its fields but `name` may come from other resources
     * (an instance's `accessIpV4`); the name stays plain: it names the steps.
     * Required: no default.
     */
    host: Host;
    /**
     * The content `/etc/resolv.conf` keeps. A symlink there (resolvconf, systemd-resolved,
     * NetworkManager) is replaced by a real file and put back on destroy. Debian hosts
     * get a dhclient enter hook; RHEL hosts `PEERDNS=no` for `interfaces`; hosts with
     * NetworkManager installed a `dns=none` drop-in.
     * @default none: resolv.conf and DHCP are left alone (then `cache` is required)
     */
    resolvConf?: ResolvConfArgs;
    /**
     * RHEL family: interfaces whose `/etc/sysconfig/network-scripts/ifcfg-<name>` gets
     * `PEERDNS=no` (edited in place; the file must exist). Ignored (with a warning) on
     * Debian, where one enter hook covers every interface. Needs `resolvConf`.
     * @default none
     */
    interfaces?: string[];
    /** The local cache and its per-domain servers. @default none (then `resolvConf` is required) */
    cache?: CacheArgs;
}
