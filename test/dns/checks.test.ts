import { checkResolverArgs } from "../../components/dns/checks";
import type { ResolverGuardArgs } from "../../components/dns/args";
import type { Host } from "../../core/host";

const debian: Host = { name: "web1", address: "192.0.2.10", privateKey: "KEY", hostKey: "ssh-ed25519 AAAA" };
const rhel: Host = { ...debian, os: "rhel" };
const base: ResolverGuardArgs = {
    host: debian,
    resolvConf: { nameservers: ["127.0.0.1", "2001:db8::53"], search: ["example.org"], options: ["timeout:2", "rotate"] },
    cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"] }] },
};

const errors = (args: ResolverGuardArgs) => checkResolverArgs(args).filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
const warnings = (args: ResolverGuardArgs) => checkResolverArgs(args).filter((i) => i.severity === "warning").map((i) => i.path);

describe("checkResolverArgs", () => {
    it("accepts the seed's set-up (resolv.conf kept, twitch.tv pinned) on Debian and on RHEL", () => {
        expect(checkResolverArgs(base)).toEqual([]);
        expect(errors({ ...base, host: rhel, interfaces: ["eth0", "bond0.100"] })).toEqual([]);
        expect(errors({ host: debian, cache: { kind: "dnscache", domains: [{ domain: "twitch.tv.", servers: ["208.78.70.18"] }] } })).toEqual([]);
    });

    it.each<[string, Partial<ResolverGuardArgs>, string[]]>([
        ["neither resolvConf nor cache", { resolvConf: undefined, cache: undefined }, ["resolvConf: give resolvConf"]],
        ["a name server that is a name", { resolvConf: { nameservers: ["ns1.example.org", "127.0.0.1", "127.0.0.1"] } }, ['resolvConf.nameservers[0]: "ns1.example.org" is not an IPv4 or IPv6 address', "resolvConf.nameservers[2]: 127.0.0.1 is listed twice"]],
        ["no name server", { resolvConf: { nameservers: [] } }, ["resolvConf.nameservers: needs at least one"]],
        ["bad search domains and options", { resolvConf: { nameservers: ["127.0.0.1"], search: ["ok.example", "bad domain", "-x.example"], options: ["ndots:16", "timeout:2", "rotate; rm -rf /", "fast"] } }, ['resolvConf.search[1]: "bad domain" is not a domain name', 'resolvConf.search[2]: "-x.example" is not a domain name', "resolvConf.options[0]: ndots must be 0-15", 'resolvConf.options[2]: "rotate; rm -rf /" is not a resolv.conf option', 'resolvConf.options[3]: "fast" is not a resolv.conf option']],
        ["interfaces without resolvConf, bad names", { resolvConf: undefined, host: rhel, interfaces: ["eth0", "eth0", "x/y", "a-name-longer-than-15"] }, ["interfaces: keep DHCP from setting the resolver", "interfaces[1]: eth0 is listed twice", 'interfaces[2]: "x/y" is not an interface name', 'interfaces[3]: "a-name-longer-than-15" is not an interface name']],
        ["an unknown cache kind", { cache: { kind: "bind" as never, domains: [{ domain: "a.example", servers: ["192.0.2.1"] }] } }, ['cache.kind: must be one of "dnsmasq", "unbound", "dnscache"']],
        ["no pinned domain", { cache: { kind: "unbound", domains: [] } }, ["cache.domains: needs at least one pinned domain"]],
        [
            "bad domains, servers and probes",
            {
                cache: {
                    kind: "unbound",
                    domains: [
                        { domain: ".", servers: ["192.0.2.1"] },
                        { domain: "a.example", servers: ["ns.a.example", "192.0.2.1", "192.0.2.1"], probe: { name: "www.b.example" } },
                        { domain: "A.example.", servers: [], probe: { name: "www.a.example", type: "ANY" as never } },
                    ],
                },
            },
            [
                'cache.domains[0].domain: "." is not a domain name (the root cannot be pinned)',
                'cache.domains[1].servers[0]: "ns.a.example" is not an IPv4 or IPv6 address',
                "cache.domains[1].servers[2]: 192.0.2.1 is listed twice",
                "cache.domains[1].probe.name: www.b.example is not in a.example",
                "cache.domains[2].domain: a.example is pinned twice (also cache.domains[1])",
                "cache.domains[2].servers: needs at least one server address",
                "cache.domains[2].probe.type: must be one of A, AAAA, SOA",
            ],
        ],
        [
            "dnscache with dnsmasq/unbound fields and IPv6 servers",
            { cache: { kind: "dnscache", configFile: "/etc/x.conf", service: "dnscache", domains: [{ domain: "a.example", servers: ["2001:db8::1"] }] } },
            ["cache.configFile: is not used by dnscache", "cache.service: is not used by dnscache", "cache.domains[0].servers[0]: 2001:db8::1: dnscache (djbdns 1.05) talks to IPv4 servers only"],
        ],
        [
            "bad paths, service and address",
            { cache: { kind: "dnsmasq", configFile: "/etc/../x.conf", service: "dns masq", directory: "/etc/dnscache", address: "localhost", domains: [{ domain: "a.example", servers: ["192.0.2.1"] }] } },
            ["cache.directory: is for dnscache only", 'cache.configFile: "/etc/../x.conf" must be an absolute file path', 'cache.service: "dns masq" is not a service name', 'cache.address: "localhost" is not an IP address'],
        ],
    ])("%s", (_what, over, expected) => {
        const found = errors({ ...base, ...over });
        // each problem starts with the expected text (the rest says what would be valid)
        expect(found.map((f, i) => f.slice(0, expected[i]?.length ?? f.length))).toEqual(expected);
    });

    it.each<[string, Partial<ResolverGuardArgs>, string[]]>([
        ["more than 3 name servers", { resolvConf: { nameservers: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] } }, ["resolvConf.nameservers"]],
        ["7 search domains", { resolvConf: { nameservers: ["192.0.2.1"], search: ["a.b", "c.d", "e.f", "g.h", "i.j", "k.l", "m.n"] } }, ["resolvConf.search"]],
        ["interfaces on Debian", { interfaces: ["eth0"] }, ["interfaces"]],
        ["RHEL without interfaces", { host: rhel }, ["interfaces"]],
        ["an unbound file unbound does not include", { cache: { kind: "unbound", configFile: "/etc/unbound/unbound.conf.d/pins", domains: [{ domain: "a.example", servers: ["192.0.2.1"] }] } }, ["cache.configFile"]],
    ])("warns: %s", (_what, over, expected) => {
        expect(errors({ ...base, ...over })).toEqual([]);
        expect(warnings({ ...base, ...over })).toEqual(expected);
    });
});
