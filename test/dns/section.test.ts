import { ValidationError } from "../../core/errors";
import { RawConfig, validateStack, declareStack } from "../../core/config/stack";
import { dnsSection } from "../../components/dns/section";
import { recordProgram } from "../../tools/record";
import { withoutLibraries } from "../../core/library";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";
const config = (dns: unknown): Record<string, unknown> => ({
    "hostwright:inventory": {
        defaults: { privateKey: "ops-ssh" },
        hosts: [
            { name: "edge1", address: "192.0.2.21", hostKey: HOSTKEY },
            { name: "legacy6", address: "192.0.2.22", hostKey: HOSTKEY, os: "rhel", init: "sysv" },
        ],
    },
    "hostwright:secrets": { "ops-ssh": KEY },
    "hostwright:dns": dns,
});
const edge = { name: "edge", host: "edge1", resolvConf: { nameservers: ["127.0.0.1"] }, cache: { kind: "unbound", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"] }] } };
const legacy = { name: "legacy", host: "legacy6", resolvConf: { nameservers: ["192.0.2.53", "192.0.2.54"] }, interfaces: ["eth0"] };

function raw(c: Record<string, unknown>): RawConfig {
    return { values: Object.fromEntries(Object.entries(c).map(([k, v]) => [k, JSON.stringify(v)])), secretKeys: new Set(["hostwright:secrets"]) };
}

function problems(dns: unknown): string[] {
    try {
        validateStack(raw(config(dns)), [dnsSection]);
        return [];
    } catch (e) {
        if (e instanceof ValidationError) return e.issues.filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
        throw e;
    }
}

describe("hostwright:dns section", () => {
    it("accepts a Debian host with an unbound pin and a RHEL host kept by PEERDNS", () => {
        expect(problems([edge, legacy])).toEqual([]);
    });

    it.each<[string, unknown, string[]]>([
        ["a host that is not in the inventory", [{ ...edge, host: "edge9" }], ['hostwright:dns[0].host: host "edge9" is not in hostwright:inventory']],
        ["two guards on one host, duplicate names", [edge, { ...legacy, name: "edge", host: "edge1" }], ['hostwright:dns[1].name: duplicate guard name "edge"', "hostwright:dns[1].host: host edge1 already has a guard ([0]); declare one per host"]],
        ["unknown keys and kinds (schema)", [{ ...edge, resolvconf: {}, cache: { ...edge.cache, kind: "bind" } }], ['hostwright:dns[0].cache.kind: must be one of "dnsmasq", "unbound", "dnscache"', 'hostwright:dns[0]: unknown key "resolvconf"; valid keys: name, host, resolvConf, interfaces, cache']],
        ["component checks with config paths", [{ ...legacy, interfaces: ["eth0/1"], resolvConf: { nameservers: ["ns1"] } }], ['hostwright:dns[0].resolvConf.nameservers[0]: "ns1" is not an IPv4', 'hostwright:dns[0].interfaces[0]: "eth0/1" is not an interface name']],
    ])("%s", (_what, dns, expected) => {
        const found = problems(dns);
        // each problem starts with the expected text (the rest says what would be valid)
        expect(found.map((f, i) => f.slice(0, expected[i]?.length ?? f.length))).toEqual(expected);
    });

    it("declares one guard per entry with its outputs", async () => {
        const rec = await recordProgram(() => declareStack(raw(config([edge, legacy])), [dnsSection]), { preview: false });
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(["edge-resolv", "edge-pins", "legacy-resolv"]);
        expect(rec.outputs.dns).toMatchObject({ edge: { host: "edge1", checkCommands: ["dig @127.0.0.1 twitch.tv SOA"] }, legacy: { host: "legacy6", files: ["/etc/resolv.conf", "/etc/sysconfig/network-scripts/ifcfg-eth0"] } });
    });
});
