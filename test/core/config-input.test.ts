// Hostile and malformed input to the stack config: every case is a clean error that
// names the config path (or the file and position), and is refused fast.
import { z } from "zod";
import { absolutePath, multilineText, name, secretRef } from "../../core/config/schema";
import { hostRefIssues, StackSection } from "../../core/config/sections";
import { sshHostKeyProblem } from "../../core/config/sshKey";
import { declareStack, RawConfig, validateStack } from "../../core/config/stack";
import { OPAQUE_SECRET } from "../../core/opaque";
import { MAX_STACK_FILE_BYTES, parseStackYaml, securePathsOf } from "../../core/config/stackYaml";
import { capQuotedValues, controlCharacterProblem, expansionProblem, invalidUtf8, pathLengthProblem, quote } from "../../core/config/text";
import { ValidationError } from "../../core/errors";
import { recordProgram } from "../../tools/record";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

/** An SSH wire-format blob: length-prefixed fields. */
function blob(...fields: Array<string | Buffer>): string {
    return Buffer.concat(
        fields.flatMap((f) => {
            const body = typeof f === "string" ? Buffer.from(f, "latin1") : f;
            const len = Buffer.alloc(4);
            len.writeUInt32BE(body.length);
            return [len, body];
        }),
    ).toString("base64");
}
const ED25519 = `ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(32, 7))}`;

const section: StackSection<{ name: string; host: string; url?: string; path?: string; motd?: string; headers?: Record<string, string> }> = {
    key: "demo",
    title: "test section",
    schema: z.array(z.strictObject({ name: name(), host: name(), url: z.string().optional(), path: absolutePath().optional(), motd: multilineText().optional(), headers: z.record(z.string(), z.string()).optional(), token: secretRef().optional() })),
    // Like a component's checks, this one quotes the whole offending value.
    check: (v, ctx) => v.flatMap((d, i) => [...hostRefIssues(ctx, `[${i}].host`, d.host), ...(d.url && !d.url.startsWith("http") ? [{ path: `[${i}].url`, message: `${JSON.stringify(d.url)} is not an http URL` }] : [])]),
    declare: () => ({}),
};

type Config = Record<string, any>;
const base = (): Config => ({
    "hostwright:inventory": { defaults: { privateKey: "ops-ssh" }, hosts: [{ name: "web1", address: "198.51.100.5", hostKey: ED25519 }] },
    "hostwright:secrets": { "ops-ssh": KEY, token: "tok-123456" },
    "hostwright:demo": [{ name: "d1", host: "web1", url: "http://10.0.0.1:8080/", path: "/etc/demo.conf", motd: "hello\n\tworld\n" }],
});

function raw(config: Config, securePaths?: string[]): RawConfig {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) values[k] = typeof v === "string" ? v : JSON.stringify(v);
    return { values, secretKeys: new Set(["hostwright:secrets"]), securePaths: securePaths && new Set(securePaths) };
}

function problems(config: Config, securePaths?: string[]): string[] {
    try {
        validateStack(raw(config, securePaths), [section]);
    } catch (e) {
        if (e instanceof ValidationError) return e.issues.filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
        throw e;
    }
    return [];
}

const edit = (f: (c: Config) => void) => () => {
    const c = base();
    f(c);
    return c;
};
const demo = (c: Config) => c["hostwright:demo"][0];

describe("hostile values in the stack config", () => {
    it("accepts the base config, a text block with TAB and newlines, and non-ASCII text", () => {
        expect(problems(base())).toEqual([]);
        expect(problems(edit((c) => (demo(c).url = "http://10.0.0.1/caf\u00e9/\u6f22"))())).toEqual([]);
    });

    // [label, config, expected problem (anchored at its path)]
    const cases: Array<[string, () => Config, RegExp]> = [
        ["NUL in a URL", edit((c) => (demo(c).url = "http://10.0.0.1/a\0b")), /^hostwright:demo\[0\]\.url: holds a NUL byte at character 18/],
        ["NUL in a path", edit((c) => (demo(c).path = "/etc/a\0b")), /^hostwright:demo\[0\]\.path: holds a NUL byte at character 7/],
        ["NUL in a text block", edit((c) => (demo(c).motd = "a\0")), /^hostwright:demo\[0\]\.motd: holds a NUL byte/],
        ["NUL in an inventory address", edit((c) => (c["hostwright:inventory"].hosts[0].address = "198.51.100.5\0")), /^hostwright:inventory\.hosts\[0\]\.address: holds a NUL byte/],
        ["newline in a one-line field", edit((c) => (demo(c).url = "http://a/\nX-Injected: 1")), /^hostwright:demo\[0\]\.url: holds the control character U\+000A \(LF \(newline\)\) at character 10; this field is one line/],
        ["CR in a map value", edit((c) => (demo(c).headers = { "X-A": "v\r" })), /^hostwright:demo\[0\]\.headers\.X-A: holds the control character U\+000D/],
        ["newline in a map key", edit((c) => (demo(c).headers = { "X-A\nB": "v" })), /^hostwright:demo\[0\]\.headers\."X-A\\nB": the key holds the control character U\+000A/],
        ["TAB in a one-line field", edit((c) => (demo(c).url = "a\tb")), /^hostwright:demo\[0\]\.url: holds the control character U\+0009 \(TAB\)/],
        ["ESC in a text block", edit((c) => (demo(c).motd = "\u001b[2J")), /^hostwright:demo\[0\]\.motd: holds the control character U\+001B \(ESC\) at character 1; a text block may hold only printable text, TAB and line breaks/],
        ["C1 control in a one-line field", edit((c) => (demo(c).url = "a\u0085b")), /^hostwright:demo\[0\]\.url: holds the control character U\+0085/],
        ["U+FFFD (bytes that were not UTF-8)", edit((c) => (demo(c).url = "http://a/\ufffd")), /^hostwright:demo\[0\]\.url: holds U\+FFFD .*not UTF-8.* at character 10/],
        ["NUL in a secret", edit((c) => (c["hostwright:secrets"].token = "a\0b")), /^hostwright:secrets\.token: holds a NUL byte at character 2/],
        ["a clear secret among encrypted ones", () => base(), /^hostwright:secrets\.token: is in clear in the stack file while the other secrets are encrypted; remove it and set it with: pulumi config set --secret --path 'hostwright:secrets\.token'/],
        ["a path longer than PATH_MAX", edit((c) => (demo(c).path = "/a".repeat(2100))), /^hostwright:demo\[0\]\.path: is 4200 bytes long; a path has at most 4095 \(PATH_MAX\)/],
        ["a path component longer than NAME_MAX", edit((c) => (demo(c).path = `/etc/${"n".repeat(300)}`)), /^hostwright:demo\[0\]\.path: has a component of 300 bytes .*a file name has at most 255 \(NAME_MAX\)/],
        ["a host key without its key data", edit((c) => (c["hostwright:inventory"].hosts[0].hostKey = "ssh-ed25519 AAAA")), /^hostwright:inventory\.hosts\[0\]\.hostKey: the key's base64 text is too short to hold a key/],
        ["a host key whose data is another type", edit((c) => (c["hostwright:inventory"].hosts[0].hostKey = `ssh-rsa ${ED25519.split(" ")[1]}`)), /^hostwright:inventory\.hosts\[0\]\.hostKey: the key's data says it is "ssh-ed25519", not ssh-rsa/],
        ["a config value over 16 MiB", edit((c) => (demo(c).url = "x".repeat(16 * 1024 * 1024 + 1))), /^hostwright:demo: is \d+ characters long; a config value is at most 16777216/],
    ];

    it.each(cases)("%s", (_label, make, expected) => {
        const securePaths = _label === "a clear secret among encrypted ones" ? ["hostwright:secrets.ops-ssh"] : undefined;
        const found = problems(make(), securePaths);
        expect(found).toContainEqual(expect.stringMatching(expected));
        // One problem per bad value: the schema does not repeat what the text check said.
        expect(found).toHaveLength(1);
    });

    it("accepts secrets that were all encrypted in the stack file", () => {
        expect(problems(base(), ["hostwright:secrets.ops-ssh", "hostwright:secrets.token"])).toEqual([]);
    });

    it("quotes at most 200 characters of a huge value, with its length", () => {
        const huge = "p".repeat(5 * 1024 * 1024);
        const started = Date.now();
        const found = problems(edit((c) => (demo(c).url = huge))());
        expect(Date.now() - started).toBeLessThan(5000);
        const message = found.join("\n");
        expect(message.length).toBeLessThan(2000);
        expect(message).toContain(`(${huge.length} characters)`);
    });
});

describe("quote / capQuotedValues", () => {
    const long = "v".repeat(500);
    it.each([
        ["short", "abc", '"abc"'],
        ["exactly the limit", "x".repeat(200), JSON.stringify("x".repeat(200))],
        ["long", long, `${JSON.stringify("v".repeat(200))}... (500 characters)`],
    ])("quote: %s", (_l, value, expected) => expect(quote(value)).toBe(expected));

    it.each([
        ["a message without quotes", "is required", "is required"],
        ["a short quoted value", 'host "proxy9" is unknown', 'host "proxy9" is unknown'],
        ["a long quoted value", `host ${JSON.stringify(long)} is unknown`, `host ${JSON.stringify("v".repeat(200))}... (500 characters) is unknown`],
        ["a long unquoted message", "u".repeat(5000), `${"u".repeat(4096)}... (message of 5000 characters cut)`],
        ["escaped quotes inside a value", `a "x\\"${"y".repeat(300)}" b "c"`, `a ${JSON.stringify(`x"${"y".repeat(198)}`)}... (302 characters) b "c"`],
        ["an unterminated quote", 'a "open', 'a "open'],
        ["a value of 20 MiB (no deep recursion)", `v ${JSON.stringify("z".repeat(20 * 1024 * 1024))}`, `v ${JSON.stringify("z".repeat(200))}... (20971520 characters)`],
    ])("capQuotedValues: %s", (_l, message, expected) => expect(capQuotedValues(message)).toBe(expected));
});

describe("controlCharacterProblem", () => {
    it.each([
        ["line", "plain text, caf\u00e9", undefined],
        ["line", "a\tb", /U\+0009 \(TAB\) at character 2/],
        ["line", "a\u2028b", /U\+2028/],
        ["line", "\u007f", /U\+007F \(DEL\)/],
        ["block", "-----BEGIN CERTIFICATE-----\r\n\tabc\n", undefined],
        ["block", "a\u0007", /U\+0007 at character 2/],
        ["secret", "pa\\ss\tw\"o'rd\n\u00e9\u0007", undefined],
        ["secret", "pass\0", /NUL byte at character 5/],
        ["secret", "\ufffd", /U\+FFFD/],
    ] as const)("%s %j", (kind, text, expected) => {
        const problem = controlCharacterProblem(text, kind);
        if (expected === undefined) expect(problem).toBeUndefined();
        else expect(problem).toMatch(expected);
    });
});

describe("invalidUtf8", () => {
    it.each([
        ["ASCII", Buffer.from("a: b\n"), undefined],
        ["two- three- and four-byte characters", Buffer.from("caf\u00e9 \u6f22 \u{1f600}"), undefined],
        ["a lone continuation byte", Buffer.from([0x61, 0x0a, 0x62, 0x80]), { offset: 3, line: 2, column: 2 }],
        ["Latin-1 text", Buffer.from("h\u00f4te", "latin1"), { offset: 1, line: 1, column: 2 }],
        ["a truncated sequence", Buffer.from([0xe6, 0xbc]), { offset: 0, line: 1, column: 1 }],
        ["an overlong slash", Buffer.from([0xc0, 0xaf]), { offset: 0, line: 1, column: 1 }],
        ["a UTF-16 surrogate", Buffer.from([0xed, 0xa0, 0x80]), { offset: 0, line: 1, column: 1 }],
        ["above U+10FFFF", Buffer.from([0xf4, 0x90, 0x80, 0x80]), { offset: 0, line: 1, column: 1 }],
    ])("%s", (_l, bytes, expected) => expect(invalidUtf8(bytes)).toEqual(expected));
});

describe("sshHostKeyProblem", () => {
    const ecdsa = (curveType: string, curve: string, bytes: number) => `${curveType} ${blob(curveType, curve, Buffer.concat([Buffer.from([4]), Buffer.alloc(bytes - 1, 1)]))}`;
    const rsa = (bits: number) => `ssh-rsa ${blob("ssh-rsa", Buffer.from([1, 0, 1]), Buffer.concat([Buffer.from([0]), Buffer.alloc(bits / 8, 0xff)]))}`;
    it.each([
        ["ed25519", ED25519, undefined],
        ["ed25519 with a comment", `${ED25519} root@web1`, undefined],
        ["ecdsa p256", ecdsa("ecdsa-sha2-nistp256", "nistp256", 65), undefined],
        ["ecdsa p521", ecdsa("ecdsa-sha2-nistp521", "nistp521", 133), undefined],
        ["rsa 3072", rsa(3072), undefined],
        ["sk-ed25519", `sk-ssh-ed25519@openssh.com ${blob("sk-ssh-ed25519@openssh.com", Buffer.alloc(32, 2), "ssh:")}`, undefined],
        ["no key data", "ssh-ed25519 AAAA", /too short to hold a key/],
        ["base64 cut short", ED25519.slice(0, -3), /cut short/],
        ["only the type word", "ssh-ed25519", /must be an SSH public host key/],
        ["an unknown type", `ssh-dss ${blob("ssh-dss", "x")}`, /key type "ssh-dss" is not one of/],
        ["type word and data disagree", `ecdsa-sha2-nistp256 ${ED25519.split(" ")[1]}`, /the key's data says it is "ssh-ed25519", not ecdsa-sha2-nistp256/],
        ["ed25519 of 31 bytes", `ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(31))}`, /32 bytes, this one is 31/],
        ["ed25519 with trailing data", `ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(32), "x")}`, /truncated or malformed/],
        ["ecdsa on the wrong curve", ecdsa("ecdsa-sha2-nistp256", "nistp384", 65), /curve is "nistp384", not nistp256/],
        ["ecdsa point of the wrong size", ecdsa("ecdsa-sha2-nistp384", "nistp384", 65), /uncompressed point of 97 bytes, this one is 65/],
        ["rsa of 512 bits", rsa(512), /512 bits: OpenSSH refuses RSA keys under 1024 bits/],
        ["a known_hosts line with the host name first", `web1 ${ED25519}`, /must be an SSH public host key|key type/],
    ])("%s", (_l, line, expected) => {
        const problem = sshHostKeyProblem(line);
        if (expected === undefined) expect(problem).toBeUndefined();
        else expect(problem).toMatch(expected);
    });
});

describe("pathLengthProblem", () => {
    it.each([
        ["a normal path", "/etc/h2o/h2o.conf", undefined],
        ["4095 bytes", `/${"a".repeat(200)}`.repeat(20).slice(0, 4095), undefined],
        ["4096 bytes", `/${"a".repeat(200)}`.repeat(21).slice(0, 4096), /4096 bytes long; a path has at most 4095/],
        ["a 255-byte name", `/etc/${"n".repeat(255)}`, undefined],
        ["a 256-byte name", `/etc/${"n".repeat(256)}`, /component of 256 bytes/],
        ["multi-byte characters count as bytes", `/etc/${"\u00e9".repeat(128)}`, /component of 256 bytes/],
    ])("%s", (_l, path, expected) => {
        const problem = pathLengthProblem(path);
        if (expected === undefined) expect(problem).toBeUndefined();
        else expect(problem).toMatch(expected);
    });
});

describe("stack file (YAML) bounds", () => {
    /** 9 levels of 9 aliases: 387,420,489 strings once expanded. */
    function aliasBomb(): string {
        const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
        for (let i = 1; i <= 8; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]`);
        return `config:\n  hostwright:bomb:\n${lines.map((l) => `    ${l}`).join("\n")}\n`;
    }

    it.each([
        ["an alias bomb", Buffer.from(aliasBomb()), /^Pulumi\.bomb\.yaml: expands to more than 1,000,000 values \(YAML aliases/],
        ["invalid UTF-8, with its position", Buffer.from([...Buffer.from("config:\n  hostwright:x: h"), 0xf4, 0x74, 0x65, 0x0a]), /^Pulumi\.bomb\.yaml:2:18: not UTF-8 \(byte 0xf4 at offset 25\)/],
        ["a file over the size bound", Buffer.alloc(MAX_STACK_FILE_BYTES + 1, 0x20), /is 16777217 bytes; a stack file is at most 16777216 bytes/],
        ["YAML syntax errors, with their position", Buffer.from("config:\n  a: [\n"), /^Pulumi\.bomb\.yaml:3:1: not valid YAML/],
        ["a document that is not a map", Buffer.from("- a\n"), /must be a YAML map with a 'config:' key/],
        ["config that is not a map", Buffer.from("config: [1]\n"), /'config' must be a map/],
    ])("refuses %s, fast", (_l, bytes, expected) => {
        const started = Date.now();
        expect(() => parseStackYaml(bytes, "Pulumi.bomb.yaml")).toThrow(expected);
        expect(Date.now() - started).toBeLessThan(2000);
    });

    it("bounds the text an alias repeats, not only the number of values", () => {
        const big = "x".repeat(1024 * 1024);
        expect(expansionProblem(Array(100).fill(big))).toMatch(/more than 64 MiB of text/);
        expect(expansionProblem({ a: [big, big] })).toBeUndefined();
    });

    it("finds the secure paths, qualifying keys with the project", () => {
        const doc = parseStackYaml(Buffer.from("config:\n  hostwright:secrets:\n    a: { secure: v1:x:y }\n    b: clear\n  plain: { secure: v1:x:y }\n"), "f");
        expect([...securePathsOf(doc, "hostwright")].sort()).toEqual(["hostwright:plain", "hostwright:secrets.a"]);
    });
});

describe("secrets not known here (an offline preview that cannot decrypt them)", () => {
    const opaque = (name: string) => OPAQUE_SECRET(`hostwright:secrets.${name}`);
    // Like a component section: its check needs the token's value, and so does its component.
    const keyed: StackSection<{ name: string; host: string; token: string }> = {
        key: "keyed",
        title: "needs a secret's value",
        schema: z.array(z.strictObject({ name: name(), host: name(), token: secretRef() })),
        check: (v, ctx) => v.flatMap((d, i) => [...hostRefIssues(ctx, `[${i}].host`, d.host), ...(ctx.secretValue(d.token) === "tok-123456" ? [] : [{ path: `[${i}].token`, message: "does not match the certificate" }])]),
        declare(d, ctx) {
            if (ctx.secretValue(d.token) === undefined && d.name === "strict") throw new ValidationError([{ path: "token", message: "is not a key" }], `component ${d.name}`);
            return { secret: ctx.secret(d.token) };
        },
    };
    const config = (): Config => ({
        ...base(),
        "hostwright:secrets": { "ops-ssh": opaque("ops-ssh"), token: opaque("token") },
        "hostwright:keyed": [{ name: "strict", host: "web1", token: "token" }, { name: "lenient", host: "web1", token: "token" }],
    });
    const rawOf = (c: Config): RawConfig => ({ ...raw(c), values: Object.fromEntries(Object.entries(c).filter(([k]) => k !== "hostwright:demo").map(([k, v]) => [k, JSON.stringify(v)])) });

    it("lists the checks that need them as not run instead of failing, and gives no value to checks", () => {
        const stack = validateStack(rawOf(config()), [keyed]);
        expect(stack.notRun).toEqual([
            { path: "hostwright:secrets.ops-ssh", message: "is the SSH private key of host web1: not checked (the secret's value is not known here)" },
            { path: "hostwright:keyed[0].token", message: "not checked: needs the value of hostwright:secrets.token, which is not known here" },
            { path: "hostwright:keyed[1].token", message: "not checked: needs the value of hostwright:secrets.token, which is not known here" },
        ]);
        expect(stack.context.secretValue("token")).toBeUndefined();
        expect(stack.opaqueReferences).toEqual(["hostwright:keyed[0].token", "hostwright:keyed[1].token"]);
    });

    it("still reports every other problem", () => {
        const c = config();
        c["hostwright:keyed"][1].host = "web9";
        expect(() => validateStack(rawOf(c), [keyed])).toThrow(/^1 problem in the stack config:\n  - hostwright:keyed\[1\]\.host: host "web9" is not in hostwright:inventory/);
    });

    it("declares the rest when a component refuses to be declared without them, and says which it left out", async () => {
        const recording = await recordProgram(() => declareStack(rawOf(config()), [keyed]), { printWarnings: false });
        expect(recording.warnings.map((w) => w.message)).toContain("hostwright:keyed[0] (strict): not previewed: the component checks the values of hostwright:keyed[0].token, which are not known here");
        // What the lenient one declares gets the placeholder (a secret, redacted by the preview), not an unknown that would hide the rest.
        expect(recording.outputs.keyed).toEqual({ strict: { notPreviewed: "secrets not known offline" }, lenient: { secret: opaque("token") } });
    });
});
