// Stack files and secrets without the Pulumi CLI. The format is checked against the
// Pulumi CLI's own published test vector (pkg/secrets/passphrase/manager_test.go: a
// salt state made by the CLI, opened by "password" and refused for "password123")
// and against a decrypter written here from the CLI's crypter (sdk/go/common/resource/
// config/crypt.go), not only by a round trip through tools/passphrase.ts.
import { execFileSync } from "child_process";
import { createDecipheriv, pbkdf2Sync } from "crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { join } from "path";
import { PassphraseCrypter, passphraseFromEnv } from "../../tools/passphrase";
import { initStack } from "../../tools/stack";
import { listSecrets, newStackText, removeSecret, setSecret, valueFromStdin } from "../../tools/stackEdit";
import { readStackFile } from "../../tools/stackFile";

/** A salt state written by the Pulumi CLI for the passphrase "password" (its manager_test.go). */
const PULUMI_SALT = "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ==";
const PULUMI_PASSPHRASE = "password";

/** The Pulumi CLI's symmetric decrypter: PBKDF2-SHA256, 1,000,000 rounds, 32 bytes; AES-256-GCM; "v1:<nonce>:<ciphertext+tag>". */
function pulumiDecrypt(passphrase: string, saltState: string, value: string): string {
    const salt = Buffer.from(saltState.split(":")[1], "base64");
    const key = pbkdf2Sync(passphrase, salt, 1_000_000, 32, "sha256");
    const [version, nonce, sealed] = value.split(":");
    expect(version).toBe("v1");
    const body = Buffer.from(sealed, "base64");
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
}

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
const FILE = `# staging: our comment stays
encryptionsalt: ${PULUMI_SALT}
config:
  hostwright:inventory:
    hosts: [] # filled in later
`;

describe("the Pulumi CLI's passphrase format", () => {
    it("opens the CLI's own salt state with its passphrase and refuses another", () => {
        expect(PassphraseCrypter.open(PULUMI_PASSPHRASE, PULUMI_SALT).encryptionSalt).toBe(PULUMI_SALT);
        expect(() => PassphraseCrypter.open("password123", PULUMI_SALT)).toThrow(/incorrect passphrase/);
    });

    it("writes a salt state the CLI's decrypter opens (its verifier is the text \"pulumi\")", () => {
        const state = PassphraseCrypter.create("correct horse").encryptionSalt;
        expect(state).toMatch(/^v1:[A-Za-z0-9+/]{11}=:v1:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/=]+$/);
        expect(pulumiDecrypt("correct horse", state, state.split(":").slice(2).join(":"))).toBe("pulumi");
        expect(newStackText(PassphraseCrypter.open("correct horse", state))).toBe(`encryptionsalt: ${state}\n`);
    });
});

describe("secrets in a stack file (what `pulumi config set --secret --path 'hostwright:secrets.NAME'` writes)", () => {
    const path = "stacks/Pulumi.staging.yaml";

    it("sets an entry under config: hostwright:secrets: NAME: secure:, readable by the CLI's decrypter, keeping the rest of the file", () => {
        const text = setSecret(FILE, path, "ops-ssh", KEY, PULUMI_PASSPHRASE);
        const doc = yaml.load(text) as any;
        const secure = doc.config["hostwright:secrets"]["ops-ssh"].secure;
        expect(Object.keys(doc.config["hostwright:secrets"]["ops-ssh"])).toEqual(["secure"]);
        expect(secure).toMatch(/^v1:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/=]+$/);
        expect(pulumiDecrypt(PULUMI_PASSPHRASE, PULUMI_SALT, secure)).toBe(KEY);
        expect(text.startsWith(`# staging: our comment stays\nencryptionsalt: ${PULUMI_SALT}\nconfig:\n  hostwright:inventory:\n    hosts: [] # filled in later\n`)).toBe(true);
    });

    it("is read back by the offline preview as the engine passes it (the key marked secret, the value in clear)", () => {
        const dir = mkdtempSync(join(tmpdir(), "hw-stackedit-"));
        try {
            const file = join(dir, "Pulumi.staging.yaml");
            writeFileSync(file, setSecret(setSecret(FILE, path, "ops-ssh", KEY, PULUMI_PASSPHRASE), path, "token", "t0k", PULUMI_PASSPHRASE));
            const read = readStackFile(file, "hostwright", PULUMI_PASSPHRASE);
            expect(JSON.parse(read.values["hostwright:secrets"])).toEqual({ "ops-ssh": KEY, token: "t0k" });
            expect([...read.secretKeys]).toEqual(["hostwright:secrets"]);
            expect([...(read.securePaths ?? [])].sort()).toEqual(["hostwright:secrets.ops-ssh", "hostwright:secrets.token"]);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("replaces an entry, removes entries (the map with its last one) and lists them, flagging one left in clear", () => {
        let text = setSecret(FILE, path, "a", "first", PULUMI_PASSPHRASE);
        text = setSecret(text, path, "a", "second", PULUMI_PASSPHRASE);
        text = setSecret(text, path, "b", "other", PULUMI_PASSPHRASE);
        expect(pulumiDecrypt(PULUMI_PASSPHRASE, PULUMI_SALT, (yaml.load(text) as any).config["hostwright:secrets"].a.secure)).toBe("second");
        expect(listSecrets(text, path)).toEqual([{ name: "a", encrypted: true }, { name: "b", encrypted: true }]);
        text = removeSecret(text, path, "a");
        expect(listSecrets(text, path)).toEqual([{ name: "b", encrypted: true }]);
        text = removeSecret(text, path, "b");
        expect((yaml.load(text) as any).config).toEqual({ "hostwright:inventory": { hosts: [] } });
        expect(listSecrets(`${FILE}  hostwright:secrets:\n    c: clear\n`, path)).toEqual([{ name: "c", encrypted: false }]);
    });

    it.each([
        ["a bad secret name", FILE, "ops ssh", "x", PULUMI_PASSPHRASE, /secret names are 1-128 letters/],
        ["a NUL in the value", FILE, "a", "x\0y", PULUMI_PASSPHRASE, /holds a NUL byte at character 2/],
        ["an empty value", FILE, "a", "", PULUMI_PASSPHRASE, /is empty/],
        ["the wrong passphrase", FILE, "a", "x", "password123", /incorrect passphrase/],
        ["another secrets provider", "secretsprovider: awskms://alias/x\nencryptedkey: abc\n", "a", "x", PULUMI_PASSPHRASE, /uses the secrets provider awskms:\/\/alias\/x; only the passphrase provider works without the Pulumi CLI/],
        ["no salt (a Pulumi Cloud stack)", "config: {}\n", "a", "x", PULUMI_PASSPHRASE, /has no encryptionsalt/],
        ["an alias bomb", `encryptionsalt: ${PULUMI_SALT}\nx: &a [${Array(9).fill("1").join(",")}]\n${[1, 2, 3, 4, 5, 6, 7].map((i) => `y${i}: &a${i} [${Array(9).fill(i === 1 ? "*a" : `*a${i - 1}`).join(",")}]`).join("\n")}\n`, "a", "x", PULUMI_PASSPHRASE, /expands to more than/],
    ])("refuses %s", (_l, text, name, value, passphrase, expected) => {
        expect(() => setSecret(text, path, name, value, passphrase)).toThrow(expected);
    });

    it("refuses to remove a secret that is not there", () => {
        expect(() => removeSecret(FILE, path, "nope")).toThrow(/has no secret "nope"/);
    });
});

describe("input as the Pulumi CLI reads it", () => {
    it.each([
        ["a key file's final newline is dropped", "KEY\n", "KEY"],
        ["only one newline", "a\n\n", "a\n"],
        ["nothing else", "  pass word\t", "  pass word\t"],
        ["CRLF keeps its CR (Linux)", "a\r\n", "a\r"],
    ])("%s", (_l, input, expected) => expect(valueFromStdin(input)).toBe(expected));

    it.each([
        ["PULUMI_CONFIG_PASSPHRASE, even empty", { PULUMI_CONFIG_PASSPHRASE: "" }, ""],
        ["PULUMI_CONFIG_PASSPHRASE before the file", { PULUMI_CONFIG_PASSPHRASE: "a", PULUMI_CONFIG_PASSPHRASE_FILE: "/nonexistent" }, "a"],
        ["neither", {}, undefined],
    ])("passphrase: %s", (_l, env, expected) => expect(passphraseFromEnv(env)).toBe(expected));

    it("reads PULUMI_CONFIG_PASSPHRASE_FILE without surrounding white space", () => {
        const dir = mkdtempSync(join(tmpdir(), "hw-pass-"));
        try {
            writeFileSync(join(dir, "p"), "  s3cret\n");
            expect(passphraseFromEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: join(dir, "p") })).toBe("s3cret");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("npm run stack / npm run secret", () => {
    let project: string;
    beforeEach(() => (project = mkdtempSync(join(tmpdir(), "hw-stack-"))));
    afterEach(() => rmSync(project, { recursive: true, force: true }));

    it("init writes a stack file whose salt the passphrase opens, and refuses to overwrite it", () => {
        const path = initStack("staging", project, "correct horse");
        const doc = yaml.load(readFileSync(path, "utf8")) as any;
        expect(Object.keys(doc)).toEqual(["encryptionsalt"]);
        expect(PassphraseCrypter.open("correct horse", doc.encryptionsalt).encryptionSalt).toBe(doc.encryptionsalt);
        expect(() => initStack("staging", project, "correct horse")).toThrow(/exists already; nothing changed/);
    });

    it.each([
        ["no passphrase", "staging", undefined, /set PULUMI_CONFIG_PASSPHRASE/],
        ["a name with a slash", "../x", "p", /stack names are 1-100 letters/],
        ["a hidden name", ".x", "p", /stack names are 1-100 letters/],
    ])("init refuses %s", (_l, name, passphrase, expected) => {
        expect(() => initStack(name, project, passphrase)).toThrow(expected);
    });

    it("set reads the value from standard input, ls lists it (CLI)", () => {
        const env = { ...process.env, PULUMI_CONFIG_PASSPHRASE: "correct horse" };
        const run = (args: string[], input?: string) => execFileSync("npx", ["tsx", ...args, "--project-dir", project], { env, input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
        run(["tools/stack.ts", "init", "cli"]);
        expect(run(["tools/secret.ts", "set", "ops-ssh", "--stack", "cli"], `${KEY}\n`)).toContain("set hostwright:secrets.ops-ssh");
        expect(run(["tools/secret.ts", "ls", "--stack", "cli"])).toBe("ops-ssh\n");
        const read = readStackFile(join(project, "stacks", "Pulumi.cli.yaml"), "hostwright", "correct horse");
        expect(JSON.parse(read.values["hostwright:secrets"])).toEqual({ "ops-ssh": KEY });
        let stderr = "";
        try {
            run(["tools/secret.ts", "ls", "--stack", "absent"]);
        } catch (e: any) {
            stderr = e.stderr;
        }
        expect(stderr).toMatch(/error: no stack file .*Pulumi\.absent\.yaml; create it with `npm run stack -- init NAME`/);
    }, 60_000);
});
