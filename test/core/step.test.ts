import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { editedPathsOf, renderStep, stagedFilesOf, STATE_ROOT } from "../../core/step";

// Runs a rendered script locally with the state root and file paths moved into a scratch dir.
function run(script: string, root: string): { status: number; out: string } {
    const local = script.split(STATE_ROOT).join(`${root}/state`);
    try {
        const out = execFileSync("bash", ["-s"], { input: local, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
        return { status: 0, out };
    } catch (e: any) {
        return { status: e.status, out: `${e.stdout}${e.stderr}` };
    }
}

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
            { path: existing, content: "new content\n", owner: "root", group: "root" },
            { path: join(root, "etc/created.conf"), content: "created", mode: "0600", owner: "root", group: "root" },
        ] };
        const s = renderStep(spec);
        const first = run(s.create, root);
        expect(first.status).toBe(0);
        expect(readFileSync(existing, "utf8")).toBe("new content\n");
        expect(readFileSync(join(root, "etc/created.conf"), "utf8")).toBe("created");
        expect(first.out).toContain("2 file(s) changed");
        const second = run(s.create, root);
        expect(second.out).toContain("0 file(s) changed");
        const undo = run(s.delete, root);
        expect(undo.status).toBe(0);
        expect(readFileSync(existing, "utf8")).toBe("original\n");
        expect(existsSync(join(root, "etc/created.conf"))).toBe(false);
        expect(existsSync(join(root, "state/t1"))).toBe(false);
    });

    it("undo removes the directories the step created, when empty, and keeps those that existed", () => {
        execFileSync("mkdir", ["-p", join(root, "etc")]);
        const s = renderStep({ key: "dirs", description: "nested", files: [{ path: join(root, "etc/app/conf.d/x.conf"), content: "x" }, { path: join(root, "etc/app/y.conf"), content: "y" }] });
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

    it("a replacement keeps the original backup and the old generation's undo leaves the new files", () => {
        const path = join(root, "f.conf");
        writeFileSync(path, "original\n");
        const v1 = renderStep({ key: "t2", description: "v1", files: [{ path, content: "v1\n" }] });
        const v2 = renderStep({ key: "t2", description: "v2", files: [{ path, content: "v2\n" }] });
        expect(run(v1.create, root).status).toBe(0);
        expect(run(v2.create, root).status).toBe(0); // create-before-delete
        const oldUndo = run(v1.delete, root);
        expect(oldUndo.out).toContain("superseded");
        expect(readFileSync(path, "utf8")).toBe("v2\n");
        expect(run(v2.delete, root).status).toBe(0);
        expect(readFileSync(path, "utf8")).toBe("original\n");
    });

    it("a failed validation leaves the live file untouched; a failed activation rolls back", () => {
        const path = join(root, "svc.conf");
        writeFileSync(path, "good\n");
        const bad = renderStep({ key: "t3", description: "bad", files: [{ path, content: "bad\n" }], validate: `grep -q good "$(hw_staged ${path})" || hw_fail "staged file is not good"` });
        const r = run(bad.create, root);
        expect(r.status).not.toBe(0);
        expect(r.out).toContain("staged file is not good");
        expect(readFileSync(path, "utf8")).toBe("good\n");
        expect(existsSync(join(root, ".svc.conf.hostwright-new"))).toBe(false);
        const failing = renderStep({ key: "t4", description: "activate fails", files: [{ path, content: "next\n" }], activate: "false", reactivate: `echo reactivated` });
        const a = run(failing.create, root);
        expect(a.status).not.toBe(0);
        expect(a.out).toContain("reactivated");
        expect(readFileSync(path, "utf8")).toBe("good\n");
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
            const withFile = run(renderStep({ key: "t6", description: "file", files: [{ path: join(root, "f"), content: "x" }], activate: "false" }).create, root);
            expect(withFile.out).toContain("the previous files were put back");
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });
});
