import { execFileSync } from "child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir, userInfo } from "os";
import { join } from "path";
import { renderStep, stepSpecProblems } from "../../core/step";
import { runStep as run } from "./stepRunner";

// Files this test creates belong to whoever runs it (chown to root needs root).
const me = { owner: userInfo().username, group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim() };

// An idempotent filter: sets a=2, appends it when missing.
const setA = `awk 'BEGIN { done = 0 } /^a=/ { print "a=2"; done = 1; next } { print } END { if (!done) print "a=2" }'`;

describe("edited files (StepSpec.edits)", () => {
    let root: string;
    beforeEach(() => (root = mkdtempSync(join(tmpdir(), "hw-edit-"))));
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it("edits in place keeping mode and other lines, is byte-identical on re-run, undo restores", () => {
        const path = join(root, "app's dir", "app.conf");
        execFileSync("mkdir", ["-p", join(root, "app's dir")]);
        writeFileSync(path, "# comment\nb=1\na=1\n");
        chmodSync(path, 0o640);
        const s = renderStep({ key: "e1", description: "edit", edits: [{ path, filter: setA, mode: "0600" }] });
        expect(run(s.create, root).out).toContain("1 file(s) changed");
        expect(readFileSync(path, "utf8")).toBe("# comment\nb=1\na=2\n");
        expect(statSync(path).mode & 0o777).toBe(0o640);
        const inode = statSync(path).ino;
        expect(run(s.create, root, { mode: "update" }).out).toContain("0 file(s) changed");
        expect(statSync(path).ino).toBe(inode);
        expect(run(s.delete, root).status).toBe(0);
        expect(readFileSync(path, "utf8")).toBe("# comment\nb=1\na=1\n");
    });

    it("creates an absent file with the declared mode, leaves it absent when the edit is empty", () => {
        const created = join(root, "new.conf");
        const untouched = join(root, "absent.conf");
        const s = renderStep({ key: "e2", description: "create", edits: [{ path: created, filter: setA, mode: "0600", ...me }, { path: untouched, filter: "cat", ...me }] });
        expect(run(s.create, root).status).toBe(0);
        expect(readFileSync(created, "utf8")).toBe("a=2\n");
        expect(statSync(created).mode & 0o777).toBe(0o600);
        expect(existsSync(untouched)).toBe(false);
        expect(run(s.delete, root).status).toBe(0);
        expect(existsSync(created)).toBe(false);
    });

    it("a failing filter refuses the edit: nothing switched, no staged file left", () => {
        const path = join(root, "keep.conf");
        writeFileSync(path, "a=1\n");
        const s = renderStep({ key: "e3", description: "refuse", edits: [{ path, filter: "echo cannot parse >&2; exit 2" }] });
        const r = run(s.create, root);
        expect(r.status).not.toBe(0);
        expect(r.out).toContain(`editing ${path} failed`);
        expect(readFileSync(path, "utf8")).toBe("a=1\n");
        expect(readdirSync(root).filter((f) => f.includes(".hostwright-"))).toEqual([]);
    });

    it("hw_changed tells activate which paths this run changed", () => {
        const a = join(root, "a.conf");
        const b = join(root, "b.conf");
        writeFileSync(b, "b\n");
        const activate = `for p in ${a} ${b}; do if hw_changed "$p"; then echo "changed $p"; else echo "same $p"; fi; done`;
        const s = renderStep({ key: "e4", description: "which", files: [{ path: a, content: "a\n", ...me }, { path: b, content: "b\n", ...me }], activate });
        expect(run(s.create, root).out).toContain(`changed ${a}\nsame ${b}`);
        expect(run(s.create, root, { mode: "update" }).out).toContain(`same ${a}\nsame ${b}`);
    });

    it("rejects a path declared both as file and as edit, and an empty filter", () => {
        expect(stepSpecProblems({ key: "k", description: "d", files: [{ path: "/etc/x", content: "" }], edits: [{ path: "/etc/x", filter: " " }] })).toEqual([
            "file /etc/x is declared twice",
            "edited file /etc/x: the filter is empty",
        ]);
    });
});
