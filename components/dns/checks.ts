/**
 * Pure validation of {@link ResolverGuardArgs}: every problem at once, each with its
 * args field path (`resolvConf.nameservers[1]`, `cache.domains[0].servers[2]`).
 */
import { isIP } from "net";
import type { Issue } from "../../core/errors";
import type { ResolverGuardArgs } from "./args";

/** A DNS name without the trailing dot: labels of letters, digits, `-`, `_` (service labels), at most 253 characters. */
const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;
/** A Linux interface name (IFNAMSIZ - 1 bytes), as used in `ifcfg-<name>`. */
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const SERVICE = /^[A-Za-z0-9@._-]{1,64}$/;
const PATH = /^\/[^\0\n]*[^/]$/;
export const PROBE_TYPES = ["A", "AAAA", "SOA", "NS", "MX", "TXT", "CNAME", "SRV", "PTR"];
export const CACHE_KINDS = ["dnsmasq", "unbound", "dnscache"];
/** resolv.conf(5) options without a value. */
const FLAG_OPTIONS = ["rotate", "no-check-names", "inet6", "edns0", "single-request", "single-request-reopen", "no-tld-query", "use-vc", "no-reload", "trust-ad", "no-aaaa", "debug"];
/** resolv.conf(5) options with a number, and its range. */
const NUMBER_OPTIONS: Record<string, [number, number]> = { ndots: [0, 15], timeout: [1, 30], attempts: [1, 5] };
/** glibc's MAXNS: later name servers are ignored. */
const MAX_NAMESERVERS = 3;

/** The domain as written in the cache's files: lowercase, without a trailing dot. */
export function normalDomain(domain: string): string {
    return domain.replace(/\.$/, "").toLowerCase();
}

export function isDomainName(value: unknown): value is string {
    return typeof value === "string" && DOMAIN.test(value.replace(/\.$/, ""));
}

/** True when `name` is `domain` or below it. */
export function isWithin(name: string, domain: string): boolean {
    const n = normalDomain(name);
    const d = normalDomain(domain);
    return n === d || n.endsWith(`.${d}`);
}

/** Every problem in the args (errors and warnings). */
export function checkResolverArgs(args: ResolverGuardArgs): Issue[] {
    const issues: Issue[] = [];
    const error = (path: string, message: string) => issues.push({ path, message, severity: "error" });
    const warn = (path: string, message: string) => issues.push({ path, message, severity: "warning" });
    const os = args.host?.os ?? "debian";

    if (!args.host) error("host", "is required: the host whose resolver is guarded");
    if (!args.resolvConf && !args.cache) error("resolvConf", "give resolvConf (the settings resolv.conf keeps), cache (per-domain servers), or both");

    const rc = args.resolvConf;
    if (rc) {
        if (!Array.isArray(rc.nameservers) || rc.nameservers.length === 0) error("resolvConf.nameservers", "needs at least one name server address");
        const seen = new Set<string>();
        (rc.nameservers ?? []).forEach((ns, i) => {
            if (typeof ns !== "string" || isIP(ns) === 0) error(`resolvConf.nameservers[${i}]`, `${JSON.stringify(ns)} is not an IPv4 or IPv6 address (resolv.conf takes no names)`);
            else if (seen.has(ns)) error(`resolvConf.nameservers[${i}]`, `${ns} is listed twice`);
            seen.add(ns);
        });
        if ((rc.nameservers ?? []).length > MAX_NAMESERVERS) warn("resolvConf.nameservers", `glibc uses only the first ${MAX_NAMESERVERS} name servers; the others are ignored`);
        (rc.search ?? []).forEach((d, i) => {
            if (!isDomainName(d)) error(`resolvConf.search[${i}]`, `${JSON.stringify(d)} is not a domain name`);
        });
        if (rc.search !== undefined && rc.search.length === 0) error("resolvConf.search", "is empty; leave it out for no search line");
        if ((rc.search ?? []).length > 6 || (rc.search ?? []).join(" ").length > 256) warn("resolvConf.search", "glibc before 2.26 uses at most 6 search domains and 256 characters");
        (rc.options ?? []).forEach((o, i) => {
            const problem = optionProblem(o);
            if (problem) error(`resolvConf.options[${i}]`, problem);
        });
    }

    if (args.interfaces !== undefined) {
        if (!rc) error("interfaces", "keep DHCP from setting the resolver, which needs resolvConf (what resolv.conf holds instead)");
        if (os === "debian") warn("interfaces", "are used on RHEL hosts only (PEERDNS=no); on Debian one dhclient enter hook covers every interface");
        const seen = new Set<string>();
        args.interfaces.forEach((name, i) => {
            if (typeof name !== "string" || !INTERFACE.test(name) || name === "." || name === "..") error(`interfaces[${i}]`, `${JSON.stringify(name)} is not an interface name (1-15 letters, digits, '_', '.', '-')`);
            else if (seen.has(name)) error(`interfaces[${i}]`, `${name} is listed twice`);
            seen.add(name);
        });
    } else if (rc && os === "rhel") {
        warn("interfaces", "none declared: on RHEL, dhclient still rewrites resolv.conf for every ifcfg interface without PEERDNS=no (NetworkManager is stopped by its drop-in)");
    }

    const cache = args.cache;
    if (cache) {
        const kind = cache.kind;
        if (!CACHE_KINDS.includes(kind)) error("cache.kind", `must be one of ${CACHE_KINDS.map((k) => JSON.stringify(k)).join(", ")}`);
        const dnscache = kind === "dnscache";
        if (dnscache && cache.configFile !== undefined) error("cache.configFile", "is not used by dnscache, which reads one root/servers/<domain> file per domain (see cache.directory)");
        if (dnscache && cache.service !== undefined) error("cache.service", "is not used by dnscache, which is restarted with svc -t on cache.directory");
        if (!dnscache && cache.directory !== undefined) error("cache.directory", "is for dnscache only; dnsmasq and unbound take cache.configFile");
        if (cache.configFile !== undefined && (!PATH.test(cache.configFile) || cache.configFile.split("/").includes(".."))) error("cache.configFile", `${JSON.stringify(cache.configFile)} must be an absolute file path without '..'`);
        if (kind === "unbound" && cache.configFile !== undefined && !cache.configFile.endsWith(".conf")) warn("cache.configFile", "Debian's unbound.conf includes only unbound.conf.d/*.conf");
        if (cache.directory !== undefined && (!PATH.test(cache.directory) || cache.directory.split("/").includes(".."))) error("cache.directory", `${JSON.stringify(cache.directory)} must be an absolute directory path without '..' (no trailing '/')`);
        if (cache.service !== undefined && !SERVICE.test(cache.service)) error("cache.service", `${JSON.stringify(cache.service)} is not a service name (letters, digits, '@', '.', '_', '-')`);
        if (cache.address !== undefined && isIP(cache.address) === 0) error("cache.address", `${JSON.stringify(cache.address)} is not an IP address`);

        if (!Array.isArray(cache.domains) || cache.domains.length === 0) error("cache.domains", "needs at least one pinned domain");
        const seenDomains = new Map<string, number>();
        (cache.domains ?? []).forEach((d, i) => {
            const at = `cache.domains[${i}]`;
            if (!isDomainName(d.domain)) error(`${at}.domain`, `${JSON.stringify(d.domain)} is not a domain name (the root cannot be pinned)`);
            else {
                const key = normalDomain(d.domain);
                if (seenDomains.has(key)) error(`${at}.domain`, `${key} is pinned twice (also cache.domains[${seenDomains.get(key)}])`);
                seenDomains.set(key, i);
            }
            if (!Array.isArray(d.servers) || d.servers.length === 0) error(`${at}.servers`, "needs at least one server address");
            const seenServers = new Set<string>();
            (d.servers ?? []).forEach((s, j) => {
                if (typeof s !== "string" || isIP(s) === 0) error(`${at}.servers[${j}]`, `${JSON.stringify(s)} is not an IPv4 or IPv6 address (names would need the resolver being fixed)`);
                else if (dnscache && isIP(s) === 6) error(`${at}.servers[${j}]`, `${s}: dnscache (djbdns 1.05) talks to IPv4 servers only`);
                else if (seenServers.has(s)) error(`${at}.servers[${j}]`, `${s} is listed twice`);
                seenServers.add(s);
            });
            if (d.probe !== undefined) {
                if (!isDomainName(d.probe.name)) error(`${at}.probe.name`, `${JSON.stringify(d.probe.name)} is not a domain name`);
                else if (isDomainName(d.domain) && !isWithin(d.probe.name, d.domain)) error(`${at}.probe.name`, `${d.probe.name} is not in ${normalDomain(d.domain)}: the probe would not go to the pinned servers`);
                if (d.probe.type !== undefined && !PROBE_TYPES.includes(d.probe.type)) error(`${at}.probe.type`, `must be one of ${PROBE_TYPES.join(", ")}`);
            }
        });
    }
    return issues;
}

/** What is wrong with one resolv.conf option word (undefined when it is fine). */
function optionProblem(option: unknown): string | undefined {
    if (typeof option !== "string") return "must be a string such as timeout:2 or rotate";
    if (FLAG_OPTIONS.includes(option)) return undefined;
    const m = /^([a-z]+):(\d{1,3})$/.exec(option);
    const range = m ? NUMBER_OPTIONS[m[1]] : undefined;
    if (m && range) {
        const n = Number(m[2]);
        return n >= range[0] && n <= range[1] ? undefined : `${m[1]} must be ${range[0]}-${range[1]}`;
    }
    return `${JSON.stringify(option)} is not a resolv.conf option (${Object.keys(NUMBER_OPTIONS).map((k) => `${k}:N`).join(", ")}, ${FLAG_OPTIONS.join(", ")})`;
}
