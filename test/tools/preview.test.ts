import { execFileSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { join } from "path";
import { ValidationError } from "../../core/errors";
import { PassphraseCrypter } from "../../tools/passphrase";
import { previewStack, REDACTED, writePreview } from "../../tools/preview";

const PROJECT = join(__dirname, "fixtures", "project");
const PASSPHRASE = "preview-test";
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nc3NoLWtleS1mb3ItcHJldmlldy10ZXN0cw==\n-----END OPENSSH PRIVATE KEY-----\n";
const TOKEN = "tok-Sup3r-S3cret-value";
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPreviewTestHostKey0000000000000000000000000";

// The fixture stack file is written by the test, so its secrets are encrypted as the CLI does.
function writeStack(stack: string, demo: unknown[], crypter = PassphraseCrypter.create(PASSPHRASE, Buffer.alloc(8, 1))): void {
    const config = {
        "hostwright:inventory": { defaults: { privateKey: "ssh" }, hosts: [{ name: "web1", address: "198.51.100.5", hostKey: HOSTKEY }, { name: "web2", address: "198.51.100.6", sshPort: 2200, hostKey: HOSTKEY }] },
        "hostwright:secrets": { ssh: { secure: crypter.encrypt(SSH_KEY) }, token: { secure: crypter.encrypt(TOKEN) } },
        "hostwright:demo": demo,
    };
    // stacks/ holds only these generated files, so a fresh checkout does not have it.
    mkdirSync(join(PROJECT, "stacks"), { recursive: true });
    writeFileSync(join(PROJECT, "stacks", `Pulumi.${stack}.yaml`), yaml.dump({ encryptionsalt: crypter.encryptionSalt, config }));
}

function listFiles(dir: string, prefix = ""): string[] {
    return readdirSync(dir).sort().flatMap((entry) => {
        const path = join(dir, entry);
        return statSync(path).isDirectory() ? listFiles(path, `${prefix}${entry}/`) : [`${prefix}${entry}`];
    });
}

describe("offline preview", () => {
    let out: string;
    beforeAll(() => {
        writeStack("good", [{ name: "a", host: "web1", token: "token", motd: "hello\n" }, { name: "b", host: "web2", token: "token", motd: "it's $(x)\n" }]);
        writeStack("bad", [{ name: "a", host: "web9", token: "nope", motd: "x" }]);
        writeStack("late", [{ name: "a", host: "web1", token: "token", motd: "FAIL" }]);
    });
    beforeEach(() => (out = mkdtempSync(join(tmpdir(), "hw-preview-"))));
    afterEach(() => rmSync(out, { recursive: true, force: true }));
    afterAll(() => {
        for (const s of ["good", "bad", "late"]) rmSync(join(PROJECT, "stacks", `Pulumi.${s}.yaml`), { force: true });
    });

    it("writes every file and script per host, numbered, with plan.json", async () => {
        writePreview(await previewStack("good", PROJECT, PASSPHRASE), out);
        expect(listFiles(out)).toEqual([
            "plan.json",
            "web1/files/etc/demo/secret.conf",
            "web1/files/etc/motd",
            // the host's library step first (core/library.ts)
            "web1/steps/01-hostwright-lib-web1.create.sh",
            "web1/steps/01-hostwright-lib-web1.delete.sh",
            "web1/steps/02-a-files.create.sh",
            "web1/steps/02-a-files.delete.sh",
            "web2/files/etc/demo/secret.conf",
            "web2/files/etc/motd",
            "web2/steps/01-hostwright-lib-web2.create.sh",
            "web2/steps/01-hostwright-lib-web2.delete.sh",
            "web2/steps/02-b-files.create.sh",
            "web2/steps/02-b-files.delete.sh",
        ]);
        expect(readFileSync(join(out, "web2/files/etc/motd"), "utf8")).toBe("it's $(x)\n");
        expect(readFileSync(join(out, "web1/steps/02-a-files.create.sh"), "utf8")).toMatch(/^# command: \/bin\/bash -s/);
        expect(readFileSync(join(out, "web1/steps/02-a-files.delete.sh"), "utf8")).toContain("HW_MODE=undo");
        const plan = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
        expect(plan.hosts).toEqual(["web1", "web2"]);
        expect(plan.steps[0]).toMatchObject({ host: "web1", n: 1, name: "hostwright-lib-web1", command: "/bin/bash -s" });
        expect(plan.steps[1]).toMatchObject({ host: "web1", n: 2, name: "a-files", command: "/bin/bash -s" });
        expect(plan.steps[1].files).toContainEqual({ path: "/etc/demo/secret.conf", mode: "0600", owner: "root", group: "root", bytes: `token=${REDACTED}\n`.length });
    });

    it("names the component and its host in each warning (the engine shows it under the resource)", async () => {
        const preview = await previewStack("good", PROJECT, PASSPHRASE);
        expect(preview.warnings).toEqual(["hostwright:test:Demo a (host web1): motd: is a greeting"]);
        writePreview(preview, out);
        expect(JSON.parse(readFileSync(join(out, "plan.json"), "utf8")).warnings).toEqual(preview.warnings);
    });

    it("redacts secrets everywhere", async () => {
        writePreview(await previewStack("good", PROJECT, PASSPHRASE), out);
        expect(readFileSync(join(out, "web1/files/etc/demo/secret.conf"), "utf8")).toBe(`token=${REDACTED}\n`);
        for (const f of listFiles(out)) {
            const text = readFileSync(join(out, f), "utf8");
            expect(text).not.toContain(TOKEN);
            expect(text).not.toContain("c3NoLWtleS1mb3ItcHJldmlldy10ZXN0cw");
        }
    });

    it("gives byte-identical output on two runs", async () => {
        const second = mkdtempSync(join(tmpdir(), "hw-preview-"));
        try {
            writePreview(await previewStack("good", PROJECT, PASSPHRASE), out);
            writePreview(await previewStack("good", PROJECT, PASSPHRASE), second);
            const files = listFiles(out);
            expect(listFiles(second)).toEqual(files);
            for (const f of files) expect(readFileSync(join(second, f), "utf8")).toBe(readFileSync(join(out, f), "utf8"));
        } finally {
            rmSync(second, { recursive: true, force: true });
        }
    });

    it("reports config errors with the program's messages and writes nothing (CLI)", () => {
        const target = join(out, "never");
        let stderr = "";
        try {
            execFileSync("npx", ["tsx", "tools/preview.ts", "--stack", "bad", "--out", target, "--project-dir", PROJECT], { env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE }, encoding: "utf8", stdio: "pipe" });
        } catch (e: any) {
            stderr = e.stderr;
        }
        expect(stderr).toContain("2 problems in the stack config");
        expect(stderr).toContain('hostwright:demo[0].host: host "web9" is not in hostwright:inventory (known hosts: web1, web2)');
        expect(stderr).toContain('hostwright:demo[0].token: secret "nope" is not in hostwright:secrets');
        expect(existsSync(target)).toBe(false);
    });

    it("reports an error raised while resolving inputs (an apply that throws) instead of hanging (CLI)", () => {
        const target = join(out, "never");
        let stderr = "";
        try {
            execFileSync("npx", ["tsx", "tools/preview.ts", "--stack", "late", "--out", target, "--project-dir", PROJECT], { env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE }, encoding: "utf8", stdio: "pipe", timeout: 60_000 });
        } catch (e: any) {
            stderr = e.stderr;
        }
        expect(stderr).toMatch(/error: error serializing property "\w+": late check failed/);
        expect(existsSync(target)).toBe(false);
    });

    it("refuses a clear entry of hostwright:secrets among encrypted ones and writes nothing (CLI)", () => {
        const file = join(PROJECT, "stacks", "Pulumi.good.yaml");
        const doc = yaml.load(readFileSync(file, "utf8")) as any;
        doc.config["hostwright:secrets"].token = TOKEN;
        writeFileSync(join(PROJECT, "stacks", "Pulumi.clear.yaml"), yaml.dump(doc));
        const target = join(out, "never");
        let stderr = "";
        try {
            execFileSync("npx", ["tsx", "tools/preview.ts", "--stack", "clear", "--out", target, "--project-dir", PROJECT], { env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE }, encoding: "utf8", stdio: "pipe" });
        } catch (e: any) {
            stderr = e.stderr;
        } finally {
            rmSync(join(PROJECT, "stacks", "Pulumi.clear.yaml"), { force: true });
        }
        expect(stderr).toContain("hostwright:secrets.token: is in clear in the stack file while the other secrets are encrypted");
        expect(stderr).not.toContain(TOKEN);
        expect(existsSync(target)).toBe(false);
    });

    it.each([
        ["bytes that are not UTF-8", Buffer.concat([Buffer.from("config:\n  hostwright:inventory: caf"), Buffer.from([0xe9]), Buffer.from("\n")]), /Pulumi\.hostile\.yaml:2:28: not UTF-8 \(byte 0xe9 at offset 35\)/],
        ["an alias bomb", Buffer.from(`config:\n  hostwright:x:\n${["    a0: &a0 [x,x,x,x,x,x,x,x,x]", ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => `    a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]`)].join("\n")}\n`), /expands to more than 1,000,000 values/],
    ])("refuses a stack file with %s, fast and naming the file", async (_l, bytes, expected) => {
        writeFileSync(join(PROJECT, "stacks", "Pulumi.hostile.yaml"), bytes);
        const started = Date.now();
        try {
            await expect(previewStack("hostile", PROJECT, PASSPHRASE)).rejects.toThrow(expected);
        } finally {
            rmSync(join(PROJECT, "stacks", "Pulumi.hostile.yaml"), { force: true });
        }
        expect(Date.now() - started).toBeLessThan(5000);
    });

    it("says how to create a missing stack file", async () => {
        await expect(previewStack("absent", PROJECT, PASSPHRASE)).rejects.toThrow(/no stack file .*Pulumi\.absent\.yaml; create it with `npm run stack -- init NAME` \(or `pulumi stack init NAME`/);
    });

    it("leaves no partial output, and an earlier preview intact, when a file cannot be written", async () => {
        const preview = await previewStack("good", PROJECT, PASSPHRASE);
        writePreview(preview, out);
        const before = listFiles(out);
        const broken = { ...preview, steps: [...preview.steps, { ...preview.steps[0], n: 9, files: [{ path: `/etc/${"n".repeat(300)}`, mode: "0644", owner: "root", group: "root", content: "x" }] }] };
        expect(() => writePreview(broken, out)).toThrow(/cannot write the preview file web1\/files\/etc\/n+: name too long for this machine; nothing was written/);
        expect(listFiles(out)).toEqual(before);
        expect(readdirSync(join(out, "..")).filter((e) => e.includes(".partial-"))).toEqual([]);
    });

    it("refuses a wrong passphrase, like pulumi preview", async () => {
        await expect(previewStack("good", PROJECT, "wrong")).rejects.toThrow(/incorrect passphrase/);
    });

    it.each([
        ["without a passphrase", undefined, undefined, /no passphrase: set PULUMI_CONFIG_PASSPHRASE/],
        ["for another secrets provider", PASSPHRASE, "awskms://alias/hostwright?region=eu-west-1", /secrets provider is awskms:\/\/alias\/hostwright\?region=eu-west-1, which only the Pulumi CLI can use/],
    ])("previews %s: secrets opaque, the checks needing them listed as not run, the rest written", async (_l, passphrase, provider, reason) => {
        let stack = "good";
        if (provider) {
            const doc = yaml.load(readFileSync(join(PROJECT, "stacks", "Pulumi.good.yaml"), "utf8")) as any;
            writeFileSync(join(PROJECT, "stacks", "Pulumi.kms.yaml"), yaml.dump({ secretsprovider: provider, encryptedkey: "AQICAHh...", config: doc.config }));
            stack = "kms";
        }
        try {
            const preview = await previewStack(stack, PROJECT, passphrase);
            expect(preview.opaqueSecrets.paths).toEqual(["hostwright:secrets.ssh", "hostwright:secrets.token"]);
            expect(preview.opaqueSecrets.reason).toMatch(reason);
            expect(preview.warnings).toContain("hostwright:secrets.ssh: is the SSH private key of host web1: not checked (the secret's value is not known here)");
            // Every step is there, on its host, written in full: only the undecrypted secret is a (redacted) placeholder.
            expect(preview.steps.map((s) => `${s.host} ${s.name}`)).toEqual(["web1 hostwright-lib-web1", "web1 a-files", "web2 hostwright-lib-web2", "web2 b-files"]);
            expect(preview.steps[1].createScript).toContain(`token=${REDACTED}`);
            expect(preview.steps[1].createScript).toContain("/etc/motd");
            writePreview(preview, out);
            expect(JSON.parse(readFileSync(join(out, "plan.json"), "utf8")).opaqueSecrets.paths).toEqual(preview.opaqueSecrets.paths);
            for (const f of listFiles(out)) expect(readFileSync(join(out, f), "utf8")).not.toContain("[opaque secret");
        } finally {
            rmSync(join(PROJECT, "stacks", "Pulumi.kms.yaml"), { force: true });
        }
    });

    it("is a ValidationError for the program's own callers", async () => {
        await expect(previewStack("bad", PROJECT, PASSPHRASE)).rejects.toBeInstanceOf(ValidationError);
    });
});
