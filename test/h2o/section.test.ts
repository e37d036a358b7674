import { h2oSection } from "../../components/h2o/section";
import { ValidationError } from "../../core/errors";
import { RawConfig, validateStack, declareStack } from "../../core/config/stack";
import { recordProgram } from "../../tools/record";
import { makeTestPki, TestPki } from "./pkiFixture";
import { withoutLibraries } from "../../core/library";

const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";

let p: TestPki;
beforeAll(() => {
    p = makeTestPki();
});
afterAll(() => p.cleanup());

type Config = Record<string, unknown>;
function base(): Config {
    return {
        "hostwright:inventory": {
            defaults: { privateKey: "ops-ssh" },
            hosts: [
                { name: "proxy1", address: "198.51.100.11", hostKey: HOSTKEY, init: "systemd" },
                { name: "proxy2", address: "198.51.100.12", hostKey: HOSTKEY, init: "sysv", os: "rhel" },
            ],
        },
        "hostwright:secrets": { "ops-ssh": SSH_KEY, "www-key": p.leaf.keyPem, "plain-key": p.plain.keyPem },
        "hostwright:h2o": [
            {
                name: "front",
                host: "proxy1",
                listeners: [
                    { name: "http", port: 80 },
                    { name: "https", port: 443, tls: { certificateChain: p.inter.certPem + p.leaf.certPem, privateKey: "www-key", ocsp: { rootCertificate: p.root.certPem } } },
                ],
                virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] }],
            },
            {
                name: "plain",
                host: "proxy2",
                listeners: [{ name: "https", port: 443, tls: { certificateChain: p.plain.certPem + p.inter.certPem, privateKey: "plain-key" } }],
                virtualHosts: [{ name: "plain.example.test", paths: [{ path: "/", proxyTo: "http://10.0.0.6:8080" }] }],
            },
        ],
    };
}

function raw(config: Config): RawConfig {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) values[k] = JSON.stringify(v);
    return { values, secretKeys: new Set(["hostwright:secrets"]) };
}

function problems(config: Config): string[] {
    try {
        validateStack(raw(config), [h2oSection]);
        return [];
    } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        return e.issues.filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
    }
}

const proxies = (c: Config) => c["hostwright:h2o"] as any[];

describe("hostwright:h2o section", () => {
    it("accepts two proxies", () => {
        expect(problems(base())).toEqual([]);
    });

    it.each<[string, (c: Config) => void, RegExp[]]>([
        ["unknown host and missing secret", (c) => ((proxies(c)[0].host = "nope"), (proxies(c)[1].listeners[0].tls.privateKey = "missing")), [/^hostwright:h2o\[0\]\.host: host "nope" is not in hostwright:inventory/, /^hostwright:h2o\[1\]\.listeners\[0\]\.tls\.privateKey: secret "missing" is not in hostwright:secrets; add it with: pulumi config set --secret/]],
        ["a key in clear in the section", (c) => (proxies(c)[0].listeners[1].tls.privateKey = p.leaf.keyPem), [/hostwright:h2o\[0\]\.listeners\[1\]\.tls\.privateKey: holds a private key in clear/, /must name an entry of hostwright:secrets/]],
        ["the secret does not match the leaf", (c) => (proxies(c)[0].listeners[1].tls.privateKey = "plain-key"), [/^hostwright:h2o\[0\]\.listeners\[1\]\.tls\.privateKey: does not match the public key of the leaf CN=www\.example\.test$/]],
        ["chain problems carry the config path", (c) => (proxies(c)[0].listeners[1].tls.certificateChain = p.expired.certPem + p.inter.certPem), [/^hostwright:h2o\[0\]\.listeners\[1\]\.tls\.certificateChain: CN=old\.example\.test expired/, /^hostwright:h2o\[0\]\.listeners\[1\]\.tls\.privateKey: does not match/]],
        ["unknown keys and wrong types", (c) => ((proxies(c)[0].listen = []), (proxies(c)[0].listeners[0].port = "80")), [/^hostwright:h2o\[0\]: unknown key "listen"; valid keys: name, host/, /^hostwright:h2o\[0\]\.listeners\[0\]\.port: must be a number, not a string/]],
        ["two proxies on one host's config", (c) => (proxies(c)[1].host = "proxy1"), [/^hostwright:h2o\[1\]\.host: proxy \[0\] already manages proxy1:\/etc\/h2o\/h2o\.conf/]],
        ["duplicate proxy names", (c) => ((proxies(c)[1].name = "front"), (proxies(c)[1].configPath = "/etc/h2o/other.conf")), [/^hostwright:h2o\[1\]\.name: duplicate proxy name "front"/]],
    ])("reports %s", (_n, mutate, expected) => {
        const c = base();
        mutate(c);
        const found = problems(c);
        for (const re of expected) expect(found.some((f) => re.test(f))).toBe(true);
        expect(found).toHaveLength(expected.length);
    });

    it("declares both proxies: keys from hostwright:secrets as secrets, outputs per proxy", async () => {
        const rec = await recordProgram(() => declareStack(raw(base()), [h2oSection]), { preview: false });
        expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-proxy1", "front-proxy", "hostwright-lib-proxy2", "plain-proxy"]);
        const [front, plain] = withoutLibraries(rec.commands);
        expect(plain.secretInputs).toContain("stdin");
        expect(plain.inputs.stdin).toContain(p.plain.keyPem.split("\n")[1]);
        expect(plain.inputs.stdin).toContain("service h2o reload");
        expect(plain.inputs.stdin).toContain('"nobody"');
        expect(front.inputs.stdin).toContain("systemctl reload h2o");
        const out = rec.outputs.h2o as any;
        expect(out.plain.stapling).toEqual({ https: "not applicable" });
        expect(out.front.chainOrder.https[0]).toBe("CN=www.example.test (given as #2)");
        expect(Object.keys(out.front).sort()).toEqual(["chainOrder", "checkCommands", "configPath", "restartDowntimeMs", "staples", "stapling", "warnings"]);
    });
});
