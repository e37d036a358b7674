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

describe("activation failure messages", () => {
    it("says files were put back only when some had changed", () => {
        const root = mkdtempSync(join(tmpdir(), "hw-step-"));
        try {
            const noFiles = run(renderStep({ key: "t5", description: "runtime only", activate: "false" }).create, root);
            expect(noFiles.status).not.toBe(0);
            expect(noFiles.out).toContain("activation failed (exit 1)");
            expect(noFiles.out).not.toContain("put back");
            const withFile = run(renderStep({ key: "t6", description: "file", files: [{ path: join(root, "f"), content: "x", ...me }], activate: "false" }).create, root);
            expect(withFile.out).toContain("the previous files were put back");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});
