import { execFileSync } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { join } from "path";
import { PassphraseCrypter } from "../../tools/passphrase";
import { formatMarkdown, formatText, meaningfulScript, planDiff } from "../../tools/planDiff";
import { basePreview, previewStack, REDACTED, writePreview } from "../../tools/preview";
import { unifiedDiff } from "../../tools/unifiedDiff";

const REPO = join(__dirname, "..", "..");
const PROJECT = join(__dirname, "fixtures", "project");
const PASSPHRASE = "plan-diff-test";
const TOKEN = "tok-plan-diff-S3cret";
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nc3NoLWtleS1mb3ItcGxhbi1kaWZm\n-----END OPENSSH PRIVATE KEY-----\n";
/** Forty more lines of motd: a diff long enough to be collapsed in a comment. */
const LONG = Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join("");
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";

function writeStack(stack: string, demo: unknown[]): void {
    const crypter = PassphraseCrypter.create(PASSPHRASE, Buffer.alloc(8, 2));
    const config = {
        "hostwright:inventory": { defaults: { privateKey: "ssh" }, hosts: ["web1", "web2", "web3"].map((name, i) => ({ name, address: `198.51.100.${5 + i}`, hostKey: HOSTKEY })) },
        "hostwright:secrets": { ssh: { secure: crypter.encrypt(SSH_KEY) }, token: { secure: crypter.encrypt(TOKEN) } },
        "hostwright:demo": demo,
    };
    mkdirSync(join(PROJECT, "stacks"), { recursive: true });
    writeFileSync(join(PROJECT, "stacks", `Pulumi.${stack}.yaml`), yaml.dump({ encryptionsalt: crypter.encryptionSalt, config }));
}

describe("unifiedDiff", () => {
    it.each([
        ["equal texts", "a\n", "a\n", ""],
        ["one changed line", "a\nb\nc\n", "a\nB\nc\n", "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"],
        ["a new file", undefined, "x\n", "--- /dev/null\n+++ b/f\n@@ -0,0 +1,1 @@\n+x\n"],
        ["a removed file", "x\n", undefined, "--- a/f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n"],
        ["two changes far apart: two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n", "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+Y\n"],
    ])("%s", (_l, before, after, expected) => expect(unifiedDiff("/f", before, after)).toBe(expected));

    it("agrees with GNU diff -u on a larger change", () => {
        const a = Array.from({ length: 200 }, (_, i) => `line ${i}`);
        const b = a.filter((_, i) => i % 17 !== 3).map((l, i) => (i % 23 === 5 ? `${l} changed` : l));
        b.splice(100, 0, "inserted");
        const dir = mkdtempSync(join(tmpdir(), "hw-diff-"));
        try {
            writeFileSync(join(dir, "a"), `${a.join("\n")}\n`);
            writeFileSync(join(dir, "b"), `${b.join("\n")}\n`);
            let gnu = "";
            try {
                execFileSync("diff", ["-u", "--label", "a/f", "--label", "b/f", join(dir, "a"), join(dir, "b")], { encoding: "utf8" });
            } catch (e: any) {
                gnu = e.stdout;
            }
            expect(unifiedDiff("/f", `${a.join("\n")}\n`, `${b.join("\n")}\n`)).toBe(gnu);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("meaningfulScript", () => {
    it.each([
        ["the generation", "HW_GEN=087803b4144ad4855935b68d58c251db\n", "HW_GEN=<generation>\n"],
        ["a here-document: its body left to the file diff, its delimiter and staging id masked", "hw_stage 684286d4e61a128e /etc/a 0644 root root 4 <<'HOSTWRIGHT_EOF_72e230711e066d99'\nabc\nHOSTWRIGHT_EOF_72e230711e066d99\nnext\n", "hw_stage <id> /etc/a 0644 root root 4 <<'HOSTWRIGHT_EOF'\n  [1 line(s) of content]\nnext\n"],
        ["a delimiter lengthened to avoid the content", "x <<'HOSTWRIGHT_EOF_ab12__'\nHOSTWRIGHT_EOF_ab12\nHOSTWRIGHT_EOF_ab12__\n", "x <<'HOSTWRIGHT_EOF'\n  [1 line(s) of content]\n"],
        ["a 32-digit hash", "claims 0123456789abcdef0123456789abcdef\n", "claims <hash>\n"],
        ["meaningful text untouched", "systemctl reload h2o\nport=8443\n", "systemctl reload h2o\nport=8443\n"],
    ])("masks %s", (_l, script, expected) => expect(meaningfulScript(script)).toBe(expected));
});

describe("planDiff of two offline previews", () => {
    let base: string;
    let head: string;
    beforeAll(async () => {
        base = mkdtempSync(join(tmpdir(), "hw-plan-base-"));
        head = mkdtempSync(join(tmpdir(), "hw-plan-head-"));
        // One entry per host: every entry installs the same paths.
        writeStack("plan", [{ name: "a", host: "web1", token: "token", motd: "hello\n" }, { name: "b", host: "web2", token: "token", motd: "old\n" }, { name: "keep", host: "web3", token: "token", motd: "same\n" }]);
        writePreview(await previewStack("plan", PROJECT, PASSPHRASE), base);
        // a: new motd (new triggers), b: removed, c: added, keep: as it was.
        writeStack("plan", [{ name: "a", host: "web1", token: "token", motd: `hello, world\n${LONG}` }, { name: "keep", host: "web3", token: "token", motd: "same\n" }, { name: "c", host: "web2", token: "token", motd: "new\n" }]);
        writePreview(await previewStack("plan", PROJECT, PASSPHRASE), head);
    });
    afterAll(() => {
        for (const d of [base, head]) rmSync(d, { recursive: true, force: true });
        rmSync(join(PROJECT, "stacks", "Pulumi.plan.yaml"), { force: true });
    });

    it("marks each step as the engine will treat it, per host, with counts", () => {
        const d = planDiff(base, head, "main");
        // Each host's library step (core/library.ts) is a resource like the others: unchanged while the core is.
        expect(d.changes.map((c) => `${c.host} ${c.name} ${c.action}`)).toEqual([
            "web1 hostwright-lib-web1 unchanged",
            "web1 a-files replace",
            "web2 hostwright-lib-web2 unchanged",
            "web2 c-files create",
            "web2 b-files delete",
            "web3 hostwright-lib-web3 unchanged",
            "web3 keep-files unchanged",
        ]);
        expect(d.counts).toEqual({ create: 1, replace: 1, update: 0, delete: 1, unchanged: 4, unknown: 0 });
        expect(formatText(d)).toContain("1 to create, 1 to replace, 0 to update, 1 to delete, 4 unchanged");
    });

    it("never calls a step unchanged whose content is known only after apply (a look-up): it may be replaced", () => {
        const copies = [base, head].map((dir) => {
            const copy = mkdtempSync(join(tmpdir(), "hw-plan-unknown-"));
            execFileSync("cp", ["-r", `${dir}/.`, copy]);
            const plan = JSON.parse(readFileSync(join(copy, "plan.json"), "utf8"));
            for (const step of plan.steps) if (step.name === "keep-files") step.triggers = ["<known after apply>"];
            writeFileSync(join(copy, "plan.json"), JSON.stringify(plan));
            return copy;
        });
        try {
            const d = planDiff(copies[0], copies[1], "main");
            expect(d.changes.find((c) => c.name === "keep-files")?.action).toBe("unknown");
            expect(d.counts).toEqual({ create: 1, replace: 1, update: 0, delete: 1, unchanged: 3, unknown: 1 });
            const text = formatText(d);
            expect(text).toContain("? unknown   keep-files (its content is known only after apply, e.g. from a look-up: it may be replaced)");
            expect(text).toContain("1 to create, 1 to replace, 0 to update, 1 to delete, 3 unchanged, 1 known only after apply");
        } finally {
            for (const c of copies) rmSync(c, { recursive: true, force: true });
        }
    });

    it("shows a changed file as a unified diff, the scripts without generation noise, and no secret", () => {
        const replaced = planDiff(base, head, "main").changes.find((c) => c.name === "a-files")!;
        expect(replaced.diffs[0]).toBe(`--- a/etc/motd\n+++ b/etc/motd\n@@ -1,1 +1,41 @@\n-hello\n+hello, world\n${LONG.trimEnd().replace(/^/gm, "+")}\n`);
        const all = replaced.diffs.join("");
        expect(all).not.toMatch(/HW_GEN=[0-9a-f]|HOSTWRIGHT_EOF_[0-9a-f]/);
        const text = formatText(planDiff(base, head, "main"));
        expect(text).not.toContain(TOKEN);
        expect(text).toContain(`+token=${REDACTED}`);
    });

    it("writes a pull-request comment: a table per host, short diffs open, long ones collapsed", () => {
        const md = formatMarkdown(planDiff(base, head, "main"));
        expect(md).toMatch(/^### hostwright plan: `plan` against `main`\n\n\*\*1 to create, 1 to replace, 0 to update, 1 to delete, 4 unchanged\*\*/);
        expect(md).toContain("| `±` | `a-files` | replace (the new step runs, then the old step's undo, which leaves the new files alone) |");
        expect(md).toContain("| `-` | `b-files` | delete (its undo runs: files it installed are restored or removed) |");
        expect(md).toMatch(/<details><summary><code>a-files<\/code>: \d+ diff\(s\), \d+ lines<\/summary>/);
        expect(md).toContain("```diff\n--- /dev/null\n+++ b/etc/demo/secret.conf");
    });

    it("prints only the comment body on standard output with --format markdown (CLI)", () => {
        const out = mkdtempSync(join(tmpdir(), "hw-plan-cli-"));
        try {
            const stdout = execFileSync("npx", ["tsx", "tools/preview.ts", "--stack", "plan", "--project-dir", PROJECT, "--out", join(out, "p"), "--against", base, "--format", "markdown"], { env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
            expect(stdout).toBe(formatMarkdown(planDiff(base, join(out, "p"), base)));
        } finally {
            rmSync(out, { recursive: true, force: true });
        }
    }, 60_000);

    it("treats every step as new when there is no base (a new stack)", () => {
        const d = planDiff(undefined, head, "main");
        expect(d.changes.every((c) => c.action === "create")).toBe(true);
    });
});

describe("--against a git revision", () => {
    it("previews the stack as it was at that revision, with that revision's program", () => {
        const scratch = mkdtempSync(join(tmpdir(), "hw-against-"));
        try {
            const dir = basePreview("HEAD", "example", REPO, scratch);
            const plan = JSON.parse(readFileSync(join(dir!, "plan.json"), "utf8"));
            expect(plan.stack).toBe("example");
            expect(plan.steps.length).toBeGreaterThan(5);
        } finally {
            rmSync(scratch, { recursive: true, force: true });
        }
    }, 120_000);

    it.each([
        ["a stack that did not exist there", "HEAD", "no-such-stack", undefined],
        ["an unknown revision", "no-such-ref-123", "example", /neither a preview directory nor a git revision/],
    ])("handles %s", (_l, ref, stack, expected) => {
        const scratch = mkdtempSync(join(tmpdir(), "hw-against-"));
        try {
            if (expected === undefined) expect(basePreview(ref, stack, REPO, scratch)).toBeUndefined();
            else expect(() => basePreview(ref, stack, REPO, scratch)).toThrow(expected);
        } finally {
            rmSync(scratch, { recursive: true, force: true });
        }
    });
});
