import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, readdirSync } from "fs";
import { tmpdir, userInfo } from "os";
import { join } from "path";
import { editedPathsOf, renderStep, stagedFilesOf, StepSpec } from "../../core/step";
import { exited, releasePause, runStep as run, runStepAsync as runAsync, startPaused } from "./stepRunner";

// Files owned by whoever runs the tests, so that the suite also passes unprivileged.
const me = { owner: userInfo().username, group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim() };

/** Leftover staged files of any run next to `path`. */
const stagedLeft = (dir: string) => readdirSync(dir).filter((f) => f.includes(".hostwright-"));

describe("renderStep scripts (run locally in a scratch directory)", () => {
    let root: string;
    beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), "hw-step-"));
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it("installs, is idempotent, and undo restores the original and removes created files", () => {
        const existing = join(root, "etc/app.conf");
        execFileSync("mkdir", ["-p", join(root, "etc")]);
        writeFileSync(existing, "original\n");
        const spec = { key: "t1", description: "test", files: [
            { path: existing, content: "new content\n", ...me },
            { path: join(root, "etc/created.conf"), content: "created", mode: "0600", ...me },
        ] };
        const s = renderStep(spec);
        const first = run(s.create, root);
        expect(first.status).toBe(0);
        expect(readFileSync(existing, "utf8")).toBe("new content\n");
        expect(readFileSync(join(root, "etc/created.conf"), "utf8")).toBe("created");
        expect(first.out).toContain("2 file(s) changed");
        // Pulumi re-runs a resource it has as an update: nothing changes, one claim stays
        const second = run(s.create, root, { mode: "update" });
        expect(second.out).toContain("0 file(s) changed");
        expect(readFileSync(join(root, "state/t1/claims"), "utf8")).toBe(`${s.generation}\n`);
        expect(existsSync(join(root, "state/t1/txn"))).toBe(false);
        const undo = run(s.delete, root);
        expect(undo.status).toBe(0);
        expect(readFileSync(existing, "utf8")).toBe("original\n");
        expect(existsSync(join(root, "etc/created.conf"))).toBe(false);
        expect(existsSync(join(root, "state/t1"))).toBe(false);
    });

    it("undo removes the directories the step created, when empty, and keeps those that existed", () => {
        execFileSync("mkdir", ["-p", join(root, "etc")]);
        const s = renderStep({ key: "dirs", description: "nested", files: [{ path: join(root, "etc/app/conf.d/x.conf"), content: "x", ...me }, { path: join(root, "etc/app/y.conf"), content: "y", ...me }] });
        expect(run(s.create, root).status).toBe(0);
        expect(existsSync(join(root, "etc/app/conf.d/x.conf"))).toBe(true);
        writeFileSync(join(root, "etc/keep.conf"), "operator's file\n");
        expect(run(s.delete, root).status).toBe(0);
        expect(existsSync(join(root, "etc/app"))).toBe(false);
        expect(readFileSync(join(root, "etc/keep.conf"), "utf8")).toBe("operator's file\n");
        // a directory the step created but someone else filled stays
        expect(run(s.create, root).status).toBe(0);
        writeFileSync(join(root, "etc/app/operator.conf"), "z");
        expect(run(s.delete, root).status).toBe(0);
        expect(existsSync(join(root, "etc/app/operator.conf"))).toBe(true);
        expect(existsSync(join(root, "etc/app/conf.d"))).toBe(false);
    });

    const version = (key: string, content: string, extra: Partial<StepSpec> = {}) => renderStep({ key, description: content.trim(), files: [{ path: join(root, "f.conf"), content, ...me }], reactivate: `echo reactivated >> ${join(root, "reactivated")}`, ...extra });

    it("a replacement keeps the original backup and the old create's undo leaves the new files", () => {
        const path = join(root, "f.conf");
        writeFileSync(path, "original\n");
        const [v1, v2] = [version("t2", "v1\n"), version("t2", "v2\n")];
        expect(run(v1.create, root).status).toBe(0);
        expect(run(v2.create, root).status).toBe(0); // create-before-delete
        const oldUndo = run(v1.delete, root);
        expect(oldUndo.out).toContain("still claimed by a later create");
        expect(readFileSync(path, "utf8")).toBe("v2\n");
        expect(run(v2.delete, root).status).toBe(0);
        expect(readFileSync(path, "utf8")).toBe("original\n");
    });

    describe.each([
        ["after the new create (the engine since pulumi/pulumi#11027)", "after"],
        ["before the new create (the engine before it)", "before"],
    ])("revert A -> B (rejected) -> A, the old A's pending undo running %s", (_label, order) => {
        it("never undoes the live A; destroy still restores the original", () => {
            const path = join(root, "f.conf");
            writeFileSync(path, "original\n");
            const a = version("rv", "A\n");
            const b = version("rv", "B\n", { validate: `hw_fail "B is rejected"` });
            expect(run(a.create, root).status).toBe(0);
            expect(run(b.create, root).status).not.toBe(0);
            expect(readFileSync(path, "utf8")).toBe("A\n");
            if (order === "before") expect(run(a.delete, root).status).toBe(0);
            expect(run(a.create, root).status).toBe(0); // a new resource with A's content
            if (order === "after") expect(run(a.delete, root).out).toContain("still claimed");
            expect(run(b.delete, root).status).toBe(0); // the failed B, deleted as pending too
            expect(readFileSync(path, "utf8")).toBe("A\n");
            expect(run(a.delete, root).out).toContain("undone (1 file(s) restored)");
            expect(readFileSync(path, "utf8")).toBe("original\n");
            expect(existsSync(join(root, "state/rv"))).toBe(false);
        });
    });

    it("a failed validation leaves the live file untouched; a failed activation rolls back", () => {
        const path = join(root, "svc.conf");
        writeFileSync(path, "good\n");
        const bad = renderStep({ key: "t3", description: "bad", files: [{ path, content: "bad\n", ...me }], validate: `grep -q good "$(hw_staged ${path})" || hw_fail "staged file is not good"` });
        const r = run(bad.create, root);
        expect(r.status).not.toBe(0);
        expect(r.out).toContain("staged file is not good");
        expect(readFileSync(path, "utf8")).toBe("good\n");
        expect(stagedLeft(root)).toEqual([]);
        const failing = renderStep({ key: "t4", description: "activate fails", files: [{ path, content: "next\n", ...me }], activate: "false", reactivate: `echo reactivated` });
        const a = run(failing.create, root);
        expect(a.status).not.toBe(0);
        expect(a.out).toContain("reactivated");
        expect(readFileSync(path, "utf8")).toBe("good\n");
        // the failed resource still exists for Pulumi (init error) and holds its claim until deleted
        expect(readFileSync(join(root, "state/t4/claims"), "utf8")).toBe(`${failing.generation}\n`);
        expect(existsSync(join(root, "state/t4/generation"))).toBe(false);
        expect(run(failing.delete, root).status).toBe(0);
        expect(existsSync(join(root, "state/t4"))).toBe(false);
    });
});

describe("interrupted runs (kill -9 at each state boundary) and recovery", () => {
    let root: string;
    beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), "hw-step-"));
        writeFileSync(join(root, "f.conf"), "old\n");
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));
    const spec = (content: string): StepSpec => ({ key: "k9", description: "d", files: [{ path: join(root, "f.conf"), content, ...me }], reactivate: `echo "reactivated with $(cat ${join(root, "f.conf")})" >> ${join(root, "reactivated")}` });

    it.each([["staged"], ["validated"], ["switched"], ["activated"]])("killed at %s: the old file is back and reactivated by the next run of any step on the host", async (point) => {
        const first = renderStep(spec("old\n"));
        expect(run(first.create, root).status).toBe(0);
        const next = renderStep(spec("new\n"));
        const paused = await startPaused(next.create, root, point);
        process.kill(paused.pid, "SIGKILL");
        await exited(paused.child);
        releasePause(root);
        expect(existsSync(join(root, "state/k9/txn/recover.sh"))).toBe(true);
        // another step's run recovers the dead transaction before its own work
        const other = run(renderStep({ key: "other", description: "o" }).create, root);
        expect(other.status).toBe(0);
        expect(other.out).toContain("recovering the transaction of step k9");
        expect(readFileSync(join(root, "f.conf"), "utf8")).toBe("old\n");
        expect(stagedLeft(root)).toEqual([]);
        expect(existsSync(join(root, "state/k9/txn"))).toBe(false);
        const switched = point === "switched" || point === "activated";
        expect(existsSync(join(root, "reactivated")) ? readFileSync(join(root, "reactivated"), "utf8") : "").toBe(switched ? "reactivated with old\n" : "");
        // Pulumi retries the failed resource: it converges
        const retry = run(next.create, root, { mode: "update" });
        expect(retry.out).toContain("done (1 file(s) changed)");
        expect(readFileSync(join(root, "f.conf"), "utf8")).toBe("new\n");
    });

    it("killed after the commit was journalled: the next run completes it instead of rolling back", async () => {
        const s = renderStep(spec("new\n"));
        const paused = await startPaused(s.create, root, "committed");
        process.kill(paused.pid, "SIGKILL");
        await exited(paused.child);
        releasePause(root);
        const next = run(s.create, root, { mode: "update" });
        expect(next.out).toContain("completed the commit");
        expect(next.out).toContain("done (0 file(s) changed)");
        expect(readFileSync(join(root, "f.conf"), "utf8")).toBe("new\n");
        expect(readFileSync(join(root, "state/k9/claims"), "utf8")).toBe(`${s.generation}\n`);
    });

    it("a dropped session (SIGPIPE on the next write) rolls back at once and leaves a note for the next run", async () => {
        expect(run(renderStep(spec("old\n")).create, root).status).toBe(0);
        const s = renderStep(spec("new\n"));
        const paused = await startPaused(s.create, root, "switched");
        expect(readFileSync(join(root, "f.conf"), "utf8")).toBe("new\n");
        paused.child.stdout!.destroy();
        paused.child.stderr!.destroy();
        releasePause(root);
        expect(await exited(paused.child)).not.toBe(0);
        expect(readFileSync(join(root, "f.conf"), "utf8")).toBe("old\n");
        expect(readFileSync(join(root, "reactivated"), "utf8")).toBe("reactivated with old\n");
        expect(existsSync(join(root, "state/k9/txn"))).toBe(false);
        const next = run(s.create, root, { mode: "update" });
        expect(next.out).toMatch(/earlier interrupted run: step k9, run [0-9a-f]+ \(pid \d+\): SIGPIPE in state activating/);
        expect(readFileSync(join(root, "f.conf"), "utf8")).toBe("new\n");
    });
});

describe("the host lock", () => {
    let root: string;
    beforeEach(() => (root = mkdtempSync(join(tmpdir(), "hw-step-"))));
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it("a second run waits for the first; with a bounded wait it fails naming the holder and changes nothing", async () => {
        const path = join(root, "f.conf");
        const a = renderStep({ key: "first", description: "a", files: [{ path, content: "a\n", ...me }] });
        const b = renderStep({ key: "second", description: "b", files: [{ path: join(root, "g.conf"), content: "b\n", ...me }] });
        const paused = await startPaused(a.create, root, "staged");
        const refused = run(b.create, root, { env: { HW_LOCK_WAIT: "1" } });
        expect(refused.status).not.toBe(0);
        expect(refused.out).toMatch(new RegExp(`still holds this host's lock after 1 s: create of step first \\(pid ${paused.pid}, run [0-9a-f]+\\) since \\S+; nothing was changed`));
        expect(existsSync(join(root, "g.conf"))).toBe(false);
        const waiting = runAsync(b.create, root);
        await new Promise((r) => setTimeout(r, 500));
        releasePause(root);
        expect(await exited(paused.child)).toBe(0);
        const b2 = await waiting;
        expect(b2.out).toContain("waiting for the host lock: create of step first");
        expect(b2.status).toBe(0);
        expect(readFileSync(path, "utf8")).toBe("a\n");
        expect(readFileSync(join(root, "g.conf"), "utf8")).toBe("b\n");
    });
});

describe("state written before ownership claims", () => {
    it("counts its generation as the one claim: undo restores", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-step-"));
        try {
            const path = join(root, "f.conf");
            writeFileSync(path, "original\n");
            const s = renderStep({ key: "legacy", description: "d", files: [{ path, content: "x\n", ...me }] });
            expect(run(s.create, root).status).toBe(0);
            rmSync(join(root, "state/legacy/claims"));
            expect(run(s.delete, root).out).toContain("undone (1 file(s) restored)");
            expect(readFileSync(path, "utf8")).toBe("original\n");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("helpers shared by a step's fragments", () => {
    it("are defined once in each script and callable from every fragment", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-helpers-"));
        try {
            const log = join(root, "log");
            const s = renderStep({ key: "hl", description: "d", helpers: `hw_note() { echo "$1" >> ${log}; }`, preflight: "hw_note preflight", activate: "hw_note activate", undo: "hw_note undo", verify: "hw_note verify" });
            expect(s.create.match(/^hw_note\(\) \{/gm)).toHaveLength(1);
            expect(s.delete.match(/^hw_note\(\) \{/gm)).toHaveLength(1);
            expect(run(s.create, root).status).toBe(0);
            expect(run(s.create, root, { mode: "check" }).status).toBe(0);
            expect(run(s.delete, root).status).toBe(0);
            expect(readFileSync(log, "utf8")).toBe("preflight\nactivate\npreflight\nverify\nundo\n");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("the core's helpers as fragments see them (path splitting, reading and printing without processes)", () => {
    it("hw_changed names exactly the files this run switched; hw_staged and hw_output print what they did before", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-core-helpers-"));
        try {
            const log = join(root, "log");
            const [a, b] = [join(root, "etc/a.conf"), join(root, "etc/b c.conf")];
            const activate = `for f in ${a} '${b}'; do if hw_changed "$f"; then echo "changed $f" >> ${log}; else echo "same $f" >> ${log}; fi; done
echo "staged $(hw_staged ${a})" >> ${log}
hw_output multi "$(printf 'one\\ntwo')"`;
            const step = (content: string) => renderStep({ key: "ch", description: "d", files: [{ path: a, content: "a\n", ...me }, { path: b, content, ...me }], validate: `[ -f "$(hw_staged '${b}')" ]`, activate });
            const first = run(step("b1\n").create, root);
            expect(first.status).toBe(0);
            expect(first.out).toContain("HOSTWRIGHT_OUTPUT multi=one two\n");
            const second = run(step("b2\n").create, root);
            expect(second.status).toBe(0);
            const said = readFileSync(log, "utf8").split("\n");
            expect(said.slice(0, 2)).toEqual([`changed ${a}`, `changed ${b}`]);
            expect(said[2]).toMatch(new RegExp(`^staged ${root}/etc/\\.a\\.conf\\.hostwright-[0-9a-f]{12}$`));
            expect(said.slice(3, 5)).toEqual([`same ${a}`, `changed ${b}`]);
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("stagedFilesOf", () => {
    it.each([
        ["plain", "/etc/h2o/h2o.conf", "user: www-data\n"],
        ["no trailing newline", "/etc/x", "abc"],
        ["quotes and unicode in path and content", "/etc/it's ünïcode $(x).conf", "a 'b' \"c\" $(rm -rf /) `id`\nHOSTWRIGHT_EOF_0\n"],
        ["empty", "/etc/empty", ""],
    ])("reads back %s", (_label, path, content) => {
        const s = renderStep({ key: "k", description: "d", files: [{ path, content, mode: "0600", owner: "root", group: "adm" }] });
        expect(stagedFilesOf(s.create)).toEqual([{ path, content, mode: "0600", owner: "root", group: "adm" }]);
    });
});

describe("editedPathsOf", () => {
    it("lists the files a step edits on the host, in path order", () => {
        const s = renderStep({ key: "k", description: "d", edits: [{ path: "/etc/nova/nova.conf", filter: "cat" }, { path: "/etc/it's.conf", filter: "cat" }] });
        expect(editedPathsOf(s.create)).toEqual(["/etc/it's.conf", "/etc/nova/nova.conf"]);
    });
});

describe("fragments run under set -e", () => {
    it.each([
        ["validate", { validate: "false\necho validate-went-on" }, "validation failed (exit 1)", "validate-went-on"],
        ["activate", { activate: "false\necho activate-went-on" }, "activation failed (exit 1)", "activate-went-on"],
    ])("a failing command in %s fails the step at that command", (_phase, fragment, message, after) => {
        const root = mkdtempSync(join(tmpdir(), "hw-errexit-"));
        try {
            const r = run(renderStep({ key: "ee", description: "d", ...fragment }).create, root);
            expect(r.status).not.toBe(0);
            expect(r.out).toContain(message);
            expect(r.out).not.toContain(after);
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });

    it("also in reactivate during a rollback, and in verify during a check", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-errexit-"));
        try {
            const r = run(renderStep({ key: "re", description: "d", activate: "false", reactivate: "false\necho reactivate-went-on" }).create, root);
            expect(r.out).toContain("reactivating the previous configuration failed (exit 1)");
            expect(r.out).not.toContain("reactivate-went-on");
            const v = renderStep({ key: "ve", description: "d", verify: "false\nhw_drift verify-went-on" });
            expect(run(v.create, root).status).toBe(0);
            const c = run(v.create, root, { mode: "check" });
            expect(c.out).toContain("HOSTWRIGHT_CHECK error the step's verification failed (exit 1)");
            expect(c.out).not.toContain("verify-went-on");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("activation failure messages", () => {
    it("says files were put back only when some had changed", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-step-"));
        try {
            const noFiles = run(renderStep({ key: "t5", description: "runtime only", activate: "false" }).create, root);
            expect(noFiles.status).not.toBe(0);
            expect(noFiles.out).toContain("activation failed (exit 1)");
            const exit3 = run(renderStep({ key: "t7", description: "exit 3", activate: "exit 3", reactivate: "true" }).create, root);
            expect(exit3.out).toContain("activation failed (exit 3)");
            expect(noFiles.out).not.toContain("put back");
            const withFile = run(renderStep({ key: "t6", description: "file", files: [{ path: join(root, "f"), content: "x", ...me }], activate: "false" }).create, root);
            expect(withFile.out).toContain("the previous files were put back");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("check mode (bash -s check): the create's own code, comparing instead of changing", () => {
    let root: string;
    beforeEach(() => (root = mkdtempSync(join(tmpdir(), "hw-check-"))));
    afterEach(() => rmSync(root, { recursive: true, force: true }));
    const lines = (out: string, prefix: string) => out.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length + 1));

    it("reports not-applied, ok, then each kind of file drift, and changes nothing", () => {
        const pub = join(root, "app.conf");
        const key = join(root, "app.key");
        const s = renderStep({ key: "chk", description: "d", files: [{ path: pub, content: "a=1\n", ...me }, { path: key, content: "SECRET\n", mode: "0600", ...me }] });
        expect(lines(run(s.create, root, { mode: "check" }).out, "HOSTWRIGHT_CHECK")).toEqual(["not-applied"]);
        expect(run(s.create, root).status).toBe(0);
        expect(lines(run(s.create, root, { mode: "check" }).out, "HOSTWRIGHT_CHECK")).toEqual(["ok"]);
        writeFileSync(pub, "a=2\n");
        writeFileSync(key, "OTHER\n");
        execFileSync("chmod", ["0640", key]);
        const out = run(s.create, root, { mode: "check" }).out;
        expect(lines(out, "HOSTWRIGHT_CHECK")).toEqual(["drifted"]);
        expect(lines(out, "HOSTWRIGHT_DRIFT")).toEqual([`${pub}: content differs`, `${key}: content differs`, `${key}: mode and owner are 640 ${me.owner} ${me.group}, declared 600 ${me.owner} ${me.group}`]);
        // the live content of a world-readable file comes back for a diff; a private one's never does
        const live = lines(out, "HOSTWRIGHT_LIVE").map((l) => l.split(" ").map((w) => Buffer.from(w, "base64").toString()));
        expect(live).toEqual([[pub, "a=2\n"]]);
        expect(out).not.toContain("SECRET");
        expect(readFileSync(pub, "utf8")).toBe("a=2\n");
        rmSync(pub);
        expect(lines(run(s.create, root, { mode: "check" }).out, "HOSTWRIGHT_DRIFT")[0]).toBe(`${pub}: missing`);
    });

    it("reports the managed settings an edit would change, as a diff, and a failing verify fragment's drift", () => {
        const path = join(root, "nova.conf");
        writeFileSync(path, "# keep\na=1\n");
        const setA = `awk '/^a=/ { print "a=2"; next } { print }'`;
        const s = renderStep({ key: "ed", description: "d", edits: [{ path, filter: setA }], verify: `[ -e ${join(root, "running")} ] || hw_drift "the service is not running"` });
        expect(run(s.create, root).status).toBe(0);
        writeFileSync(join(root, "running"), "");
        expect(lines(run(s.create, root, { mode: "check" }).out, "HOSTWRIGHT_CHECK")).toEqual(["ok"]);
        writeFileSync(path, "# keep\na=3\nb=hand\n");
        rmSync(join(root, "running"));
        const out = run(s.create, root, { mode: "check" }).out;
        expect(lines(out, "HOSTWRIGHT_DRIFT")).toEqual([`${path}: managed settings differ`, "the service is not running"]);
        expect(lines(out, "HOSTWRIGHT_DIFF")).toEqual(["@@ -1,3 +1,3 @@", " # keep", "-a=3", "+a=2", " b=hand"]);
        expect(readFileSync(path, "utf8")).toBe("# keep\na=3\nb=hand\n");
    });

    it("a drift only the verify fragment sees makes the step drifted; a failing verify is an error", () => {
        const runtime = renderStep({ key: "rt", description: "runtime only", verify: `[ -e ${join(root, "object")} ] || hw_drift "the object is gone"` });
        expect(run(runtime.create, root).status).toBe(0);
        writeFileSync(join(root, "object"), "");
        expect(lines(run(runtime.create, root, { mode: "check" }).out, "HOSTWRIGHT_CHECK")).toEqual(["ok"]);
        rmSync(join(root, "object"));
        const out = run(runtime.create, root, { mode: "check" }).out;
        expect(lines(out, "HOSTWRIGHT_DRIFT")).toEqual(["the object is gone"]);
        expect(lines(out, "HOSTWRIGHT_CHECK")).toEqual(["drifted"]);
        const broken = renderStep({ key: "rt", description: "runtime only", verify: `hw_fail "cannot reach the daemon"` });
        expect(lines(run(broken.create, root, { mode: "check" }).out, "HOSTWRIGHT_CHECK")[0]).toBe("error cannot reach the daemon");
    });

    it("reports a transaction a dead run left open, and a pending generation", async () => {
        const path = join(root, "f.conf");
        const v1 = renderStep({ key: "pend", description: "v1", files: [{ path, content: "1\n", ...me }] });
        const v2 = renderStep({ key: "pend", description: "v2", files: [{ path, content: "2\n", ...me }] });
        expect(run(v1.create, root).status).toBe(0);
        expect(lines(run(v2.create, root, { mode: "check" }).out, "HOSTWRIGHT_DRIFT")).toEqual([`the host holds generation ${v1.generation} of this step, the stack declares ${v2.generation} (an apply is pending)`, `${path}: content differs`]);
        const paused = await startPaused(v1.create, root, "switched");
        process.kill(paused.pid, "SIGKILL");
        await exited(paused.child);
        releasePause(root);
        expect(lines(run(v1.create, root, { mode: "check" }).out, "HOSTWRIGHT_DRIFT")[0]).toMatch(/^a run that died left its transaction open \(switching [0-9a-f]+ \S+\); the next apply or repair rolls it back$/);
    });
});

describe("hand edits", () => {
    it("an apply that replaces a file edited on the host keeps the operator's version, says where, and destroy leaves it", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-kept-"));
        try {
            const path = join(root, "app.conf");
            const v1 = renderStep({ key: "kept", description: "v1", files: [{ path, content: "ours 1\n", ...me }] });
            const v2 = renderStep({ key: "kept", description: "v2", files: [{ path, content: "ours 2\n", ...me }] });
            expect(run(v1.create, root).status).toBe(0);
            // an apply over our own content keeps nothing
            expect(run(v2.create, root).out).not.toContain("kept the hand edit");
            writeFileSync(path, "operator's fix\n");
            const out = run(v1.create, root).out;
            const keptPath = /kept the hand edit of \S+ in (\S+) \(2 line\(s\) differ from the new content\)/.exec(out)![1];
            expect(keptPath).toMatch(new RegExp(`^${root}/kept/kept/app\\.conf\\.\\d{8}T\\d{6}Z\\.[0-9a-f]+$`));
            expect(out).toContain(`HOSTWRIGHT_WARNING ${path} had been edited on the host since hostwright installed it; the edit is kept in ${keptPath} (2 line(s) differ)`);
            expect(readFileSync(keptPath, "utf8")).toBe("operator's fix\n");
            expect(readFileSync(path, "utf8")).toBe("ours 1\n");
            for (const s of [v2, v1]) run(s.delete, root);
            expect(readFileSync(keptPath, "utf8")).toBe("operator's fix\n");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});
