import { z } from "zod";
import { ValidationError } from "../../core/errors";
import { duplicateNameIssues, hostRefIssues, secretRefIssues, StackSection } from "../../core/config/sections";
import { RawConfig, validateStack } from "../../core/config/stack";
import { name, secretRef } from "../../core/config/schema";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";

// A minimal section standing in for a component: one host reference and one secret reference.
const demoSection: StackSection<{ name: string; host: string; token?: string }> = {
    key: "demo",
    title: "test section",
    schema: z.array(z.strictObject({ name: name(), host: name(), token: secretRef().optional() })),
    check: (value, ctx) => value.flatMap((d, i) => [...hostRefIssues(ctx, `[${i}].host`, d.host), ...(d.token ? secretRefIssues(ctx, `[${i}].token`, d.token) : [])]),
    declare: () => ({}),
};

type Config = Record<string, unknown>;
const base = (): Config => ({
    "hostwright:inventory": {
        defaults: { privateKey: "ops-ssh", user: "root" },
        hosts: [
            { name: "proxy1", address: "198.51.100.10", hostKey: HOSTKEY, os: "debian", init: "systemd", labels: { role: "proxy" } },
            { name: "compute1", address: "compute1.example.net", sshPort: 2222, hostKey: HOSTKEY, os: "rhel", init: "sysv" },
        ],
    },
    "hostwright:secrets": { "ops-ssh": KEY, "demo-token": "tok-123456" },
    "hostwright:demo": [{ name: "d1", host: "proxy1", token: "demo-token" }],
});

function raw(config: Config, secretKeys = ["hostwright:secrets"]): RawConfig {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) if (v !== undefined) values[k] = typeof v === "string" ? v : JSON.stringify(v);
    return { values, secretKeys: new Set(secretKeys) };
}

function problems(config: Config, secretKeys?: string[]): string[] {
    try {
        validateStack(raw(config, secretKeys), [demoSection]);
    } catch (e) {
        if (e instanceof ValidationError) return e.issues.filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
        throw e;
    }
    return [];
}

const edit = (f: (c: any) => void) => () => {
    const c = base();
    f(c);
    return c;
};

describe("stack config validation", () => {
    it("accepts the valid base config and resolves defaults", () => {
        const stack = validateStack(raw(base()), [demoSection]);
        expect(stack.context.hosts.get("compute1")).toMatchObject({ port: 2222, user: "root", os: "rhel", init: "sysv" });
        expect(stack.context.hosts.get("proxy1")).toMatchObject({ port: 22, os: "debian" });
        expect(stack.sections.get("demo")).toEqual([{ name: "d1", host: "proxy1", token: "demo-token" }]);
    });

    // [label, config, expected path, expected message fragment]
    const cases: Array<[string, () => Config, string, RegExp]> = [
        ["missing inventory", edit((c) => delete c["hostwright:inventory"]), "hostwright:inventory", /is required/],
        ["inventory as a plain string", edit((c) => (c["hostwright:inventory"] = "proxy1")), "hostwright:inventory", /structured value/],
        ["empty host list", edit((c) => (c["hostwright:inventory"].hosts = [])), "hostwright:inventory.hosts", /at least one host/],
        ["unknown top-level key", edit((c) => (c["hostwright:h20"] = [])), "hostwright:h20", /unknown config key; valid keys: hostwright:inventory, hostwright:secrets, hostwright:demo/],
        ["unknown host key", edit((c) => (c["hostwright:inventory"].hosts[0].adress = "x")), "hostwright:inventory.hosts[0]", /unknown key "adress"; valid keys: name, address, .*; did you mean address\?$/],
        ["unknown defaults key", edit((c) => (c["hostwright:inventory"].defaults.port = 22)), "hostwright:inventory.defaults", /unknown key "port"; valid keys: sshPort, .*; did you mean sshPort\? the stack config calls the SSH port sshPort; a library Host calls it port$/],
        ["a misspelt key", edit((c) => (c["hostwright:inventory"].hosts[0].hostkey = HOSTKEY)), "hostwright:inventory.hosts[0]", /unknown key "hostkey"; valid keys: .*; did you mean hostKey\?$/],
        ["duplicate host names", edit((c) => (c["hostwright:inventory"].hosts[1].name = "proxy1")), "hostwright:inventory.hosts[1].name", /duplicate host name "proxy1"/],
        ["same SSH endpoint twice", edit((c) => { c["hostwright:inventory"].hosts[1].address = "198.51.100.10"; c["hostwright:inventory"].hosts[1].sshPort = 22; }), "hostwright:inventory.hosts[1].address", /also the SSH endpoint of host proxy1/],
        ["bad address", edit((c) => (c["hostwright:inventory"].hosts[0].address = "300.1.1.1;rm")), "hostwright:inventory.hosts[0].address", /IPv4 or IPv6 address or a DNS name/],
        ["address with a space", edit((c) => (c["hostwright:inventory"].hosts[0].address = "a b")), "hostwright:inventory.hosts[0].address", /IPv4 or IPv6/],
        ["host name with uppercase", edit((c) => (c["hostwright:inventory"].hosts[0].name = "Proxy1")), "hostwright:inventory.hosts[0].name", /lowercase/],
        ["port 0", edit((c) => (c["hostwright:inventory"].hosts[0].sshPort = 0)), "hostwright:inventory.hosts[0].sshPort", /TCP port 1-65535/],
        ["port 70000", edit((c) => (c["hostwright:inventory"].hosts[0].sshPort = 70000)), "hostwright:inventory.hosts[0].sshPort", /TCP port 1-65535/],
        ["port as a string", edit((c) => (c["hostwright:inventory"].hosts[0].sshPort = "22")), "hostwright:inventory.hosts[0].sshPort", /must be a number, not a string/],
        ["os not in the list", edit((c) => (c["hostwright:inventory"].hosts[0].os = "ubuntu")), "hostwright:inventory.hosts[0].os", /must be one of "debian", "rhel"/],
        ["init not in the list", edit((c) => (c["hostwright:inventory"].hosts[0].init = "openrc")), "hostwright:inventory.hosts[0].init", /must be one of "systemd", "sysv"/],
        ["missing host key", edit((c) => delete c["hostwright:inventory"].hosts[0].hostKey), "hostwright:inventory.hosts[0].hostKey", /is required/],
        ["host key that is not a public key", edit((c) => (c["hostwright:inventory"].hosts[0].hostKey = "AAAA")), "hostwright:inventory.hosts[0].hostKey", /ssh-keyscan/],
        ["bad user name", edit((c) => (c["hostwright:inventory"].hosts[0].user = "root;id")), "hostwright:inventory.hosts[0].user", /POSIX user name/],
        ["labels not a map", edit((c) => (c["hostwright:inventory"].hosts[0].labels = ["proxy"])), "hostwright:inventory.hosts[0].labels", /must be a record, not a list/],
        ["no private key anywhere", edit((c) => delete c["hostwright:inventory"].defaults.privateKey), "hostwright:inventory.hosts[0].privateKey", /is required \(here or in defaults.privateKey\)/],
        ["private key naming a missing secret", edit((c) => (c["hostwright:inventory"].hosts[0].privateKey = "nope")), "hostwright:inventory.hosts[0].privateKey", /secret "nope" is not in hostwright:secrets; add it with: pulumi config set --secret/],
        ["private key secret that is not a key", edit((c) => (c["hostwright:secrets"]["ops-ssh"] = "hunter2")), "hostwright:secrets.ops-ssh", /not a PEM or OpenSSH private key/],
        ["private key in clear outside secrets", edit((c) => (c["hostwright:demo"][0].name = KEY)), "hostwright:demo[0].name", /private key in clear/],
        ["secret that is not a string", edit((c) => (c["hostwright:secrets"].n = 5)), "hostwright:secrets.n", /must be a string/],
        ["secrets not a map", edit((c) => (c["hostwright:secrets"] = ["a"])), "hostwright:secrets", /must be a map/],
        ["component naming an unknown host", edit((c) => (c["hostwright:demo"][0].host = "proxy9")), "hostwright:demo[0].host", /host "proxy9" is not in hostwright:inventory \(known hosts: proxy1, compute1\)/],
        ["component naming an unknown secret", edit((c) => (c["hostwright:demo"][0].token = "missing")), "hostwright:demo[0].token", /secret "missing" is not in hostwright:secrets/],
        ["component section with an unknown key", edit((c) => (c["hostwright:demo"][0].hots = "proxy1")), "hostwright:demo[0]", /unknown key "hots"; valid keys: name, host, token; did you mean host\?$/],
        ["component section not a list", edit((c) => (c["hostwright:demo"] = { name: "d1" })), "hostwright:demo", /must be an array, not a map/],
        ["component missing a required field", edit((c) => delete c["hostwright:demo"][0].host), "hostwright:demo[0].host", /is required/],
    ];

    it.each(cases)("%s", (_label, make, path, message) => {
        const found = problems(make());
        expect(found).toContainEqual(expect.stringMatching(new RegExp(`^${path.replace(/[[\]().]/g, "\\$&")}: .*${message.source}`)));
    });

    it("refuses a secrets map that is not encrypted (a plain config value)", () => {
        expect(problems(base(), [])).toContainEqual(expect.stringMatching(/^hostwright:secrets: is not encrypted; set each entry with: pulumi config set --secret/));
    });

    it("has at least 25 distinct bad inputs", () => {
        expect(new Set(cases.map((c) => c[0])).size).toBeGreaterThanOrEqual(25);
    });

    it("reports every problem at once, in one error", () => {
        const c: any = base();
        c["hostwright:inventory"].hosts[0].sshPort = 0;
        c["hostwright:inventory"].hosts[1].os = "bsd";
        c["hostwright:demo"][0].host = "nowhere";
        c["hostwright:bogus"] = 1;
        let error: unknown;
        try {
            validateStack(raw(c), [demoSection]);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(ValidationError);
        const message = (error as Error).message;
        expect(message).toMatch(/^4 problems in the stack config:/);
        for (const p of ["hostwright:bogus", "hosts[0].sshPort", "hosts[1].os", 'hostwright:demo[0].host: host "nowhere"']) expect(message).toContain(p);
    });

    it("prints the README's example: an unknown host is reported beside the inventory's schema errors", () => {
        const c: any = base();
        c["hostwright:inventory"].hosts[0].sshPort = 0;
        c["hostwright:demo"][0].host = "proxy9";
        c["hostwright:bogus"] = 1;
        expect(() => validateStack(raw(c), [demoSection])).toThrow(
            [
                "3 problems in the stack config:",
                "  - hostwright:bogus: unknown config key; valid keys: hostwright:inventory, hostwright:secrets, hostwright:demo",
                "  - hostwright:inventory.hosts[0].sshPort: must be a TCP port 1-65535",
                '  - hostwright:demo[0].host: host "proxy9" is not in hostwright:inventory (known hosts: proxy1, compute1)',
            ].join("\n"),
        );
    });

    it("with an inventory in error, runs only the reference checks of the sections", () => {
        const picky: StackSection<{ name: string; host: string }> = {
            ...demoSection,
            // A check that needs real hosts: it would fail on the stand-ins used while the inventory is broken.
            check: (v, ctx) => [...demoSection.check(v, ctx), ...v.filter((d) => ctx.hosts.get(d.host)?.hostKey === "").map(() => ({ path: "[0]", message: "needs the real host" }))],
        };
        const c: any = base();
        c["hostwright:inventory"].hosts[0].sshPort = 0;
        expect(() => validateStack(raw(c), [picky])).toThrow(/^1 problem in the stack config:\n  - hostwright:inventory\.hosts\[0\]\.sshPort/);
    });
});

describe("duplicateNameIssues", () => {
    it("names every repeat with the index of the first entry of that name", () => {
        expect(duplicateNameIssues([{ name: "a" }, { name: "b" }, { name: "a" }, { name: "a" }], "proxy")).toEqual([
            { path: "[2].name", message: 'duplicate proxy name "a" (also [0])' },
            { path: "[3].name", message: 'duplicate proxy name "a" (also [0])' },
        ]);
        expect(duplicateNameIssues([{ name: "a" }, { name: "b" }], "mesh")).toEqual([]);
    });
});
