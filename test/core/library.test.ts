/**
 * The core library (core/library.ts): the transaction's functions installed once per
 * host by the library step, sourced by every step script. Run locally, relocated into
 * a scratch directory (test/core/stepRunner.ts).
 */
import { execFileSync, spawnSync } from "child_process";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "fs";
import { tmpdir, userInfo } from "os";
import { join } from "path";
import { checkScript, CORE_LIBRARY, CORE_LIBRARY_HASH, coreLibraryPath, renderStep } from "../../core/step";
import { libraryScripts } from "../../core/library";
import { exited, installLibrary, relocated, runStep as run, startPaused } from "./stepRunner";

const me = { owner: userInfo().username, group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim() };

/** Runs a script relocated under `root` without installing the library first. */
const bare = (script: string, root: string, args: string[] = [], env: Record<string, string> = {}) =>
    spawnSync("bash", ["-s", ...args], { input: relocated(script, root), encoding: "utf8", env: { ...process.env, ...env } });

describe("the core library", () => {
    let root: string;
    const lib = () => join(root, "lib");
    beforeEach(() => (root = mkdtempSync(join(tmpdir(), "hw-lib-"))));
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it("step scripts carry none of the core's functions: they source the library of their hash, and fail naming it when it is missing", () => {
        const s = renderStep({ key: "empty", description: "an empty step" });
        for (const script of [s.create, s.delete]) {
            expect(script).toContain(`HW_LIB=${coreLibraryPath()}`);
            expect(script).not.toContain("hw_txn_rollback() {");
            // the per-step cost of the transaction (core/README.md, script size)
            expect(Buffer.byteLength(script)).toBeLessThan(800);
        }
        for (const [script, args] of [[s.create, []], [s.delete, []], [s.create, ["update"]]] as const) {
            const r = bare(script, root, [...args]);
            expect(r.status).toBe(1);
            expect(r.stderr).toContain(`hostwright[empty]: ERROR: the core library ${root}/lib/core-${CORE_LIBRARY_HASH}.sh is missing on this host`);
            expect(existsSync(join(root, "state"))).toBe(false);
        }
    });

    it("the library step installs it atomically and once, holds one claim per resource, and checks itself", () => {
        expect(installLibrary(root)).toContain(`installed the core library ${root}/lib/core-${CORE_LIBRARY_HASH}.sh`);
        expect(readFileSync(join(lib(), `core-${CORE_LIBRARY_HASH}.sh`), "utf8")).toBe(relocated(CORE_LIBRARY, root));
        // a second library resource (another stack, a late host's step) finds it installed
        expect(installLibrary(root)).toContain(`core library ${CORE_LIBRARY_HASH} is installed`);
        // an update keeps the claim it holds
        installLibrary(root, "update");
        expect(readFileSync(join(lib(), "claims"), "utf8")).toBe(`${CORE_LIBRARY_HASH}\n${CORE_LIBRARY_HASH}\n`);
        expect(readdirSync(lib()).sort()).toEqual(["claims", `core-${CORE_LIBRARY_HASH}.sh`]);
        // check mode: npm run check sends the library step's script as it is
        const create = libraryScripts().create;
        expect(checkScript(create)).toBe(create);
        expect(installLibrary(root, "check")).toBe("HOSTWRIGHT_CHECK ok\n");
        appendFileSync(join(lib(), `core-${CORE_LIBRARY_HASH}.sh`), "# edited\n");
        expect(installLibrary(root, "check")).toContain("HOSTWRIGHT_CHECK drifted");
        expect(installLibrary(root, "update")).toContain("installed the core library");
        expect(installLibrary(root, "check")).toBe("HOSTWRIGHT_CHECK ok\n");
        unlinkSync(join(lib(), `core-${CORE_LIBRARY_HASH}.sh`));
        expect(installLibrary(root, "check")).toBe("HOSTWRIGHT_CHECK not-applied\n");
    });

    it("its undo keeps every version while another library step or any step state is left, and removes them with the last", () => {
        installLibrary(root);
        installLibrary(root);
        // a version an older build installed, which that build's undo scripts source
        const old = join(lib(), "core-0123456789abcdef.sh");
        writeFileSync(old, "# an older core\n");
        const path = join(root, "f.conf");
        const s = renderStep({ key: "user", description: "uses the library", files: [{ path, content: "x\n", ...me }] });
        expect(run(s.create, root).status).toBe(0);
        const undoLibrary = () => bare(libraryScripts().delete, root);
        expect(undoLibrary().stdout).toContain("core libraries kept: 1 other library step(s) on this host");
        expect(undoLibrary().stdout).toContain("core libraries kept: steps still have state on this host (user)");
        expect(existsSync(old) && existsSync(join(lib(), `core-${CORE_LIBRARY_HASH}.sh`))).toBe(true);
        expect(run(s.delete, root).out).toContain("undone (1 file(s) restored)");
        const last = undoLibrary();
        expect(last.status).toBe(0);
        expect(last.stdout).toContain("removed the core libraries");
        expect(existsSync(lib())).toBe(false);
        // idempotent: a retried delete finds nothing to do
        expect(undoLibrary().status).toBe(0);
    });

    it("the library step takes the host lock like a step: it waits naming the holder, and a bounded wait fails having written nothing", async () => {
        const s = renderStep({ key: "holder", description: "holds the lock", files: [{ path: join(root, "f.conf"), content: "x\n", ...me }] });
        const paused = await startPaused(s.create, root, "staged");
        rmSync(lib(), { recursive: true, force: true });
        const refused = bare(libraryScripts().create, root, [], { HW_LOCK_WAIT: "1" });
        expect(refused.status).not.toBe(0);
        expect(refused.stdout).toMatch(/hostwright\[library\]: waiting for the host lock: create of step holder \(pid \d+, run [0-9a-f]+\) since /);
        expect(refused.stderr).toMatch(/still holds this host's lock after 1 s: create of step holder .*; nothing was changed/);
        expect(existsSync(lib())).toBe(false);
        rmSync(join(root, "run/pause"));
        await exited(paused.child);
    });

    it("a check needs no library on the host: checkScript carries the one its script names", () => {
        const s = renderStep({ key: "chk", description: "d", files: [{ path: join(root, "f.conf"), content: "x\n", ...me }] });
        const r = bare(checkScript(s.create), root, ["check"]);
        expect(r.stdout).toMatch(/\nHOSTWRIGHT_CHECK not-applied\n$/);
        expect(existsSync(lib())).toBe(false);
        // a script of another build keeps sourcing the host's copy
        const other = s.create.replace(`core-${CORE_LIBRARY_HASH}.sh`, "core-0123456789abcdef.sh");
        expect(checkScript(other)).toContain("HW_LIB=/var/lib/hostwright/lib/core-0123456789abcdef.sh");
        expect(checkScript(other)).not.toContain("hw_claimed_by_others() {");
        expect(checkScript(s.create)).toContain("hw_claimed_by_others() {");
    });

    it("a dead run's rollback has the step's helpers and the constants they set (recover.sh runs them again)", async () => {
        const path = join(root, "f.conf");
        writeFileSync(path, "old\n");
        const marks = join(root, "marks");
        const s = renderStep({ key: "hk", description: "d", files: [{ path, content: "new\n", ...me }], helpers: `hw_marks=${marks}\nhw_mark() { echo "$1" >> "$hw_marks"; }`, reactivate: "hw_mark reactivated" });
        const paused = await startPaused(s.create, root, "switched");
        process.kill(paused.pid, "SIGKILL");
        await exited(paused.child);
        rmSync(join(root, "run/pause"));
        const other = run(renderStep({ key: "other", description: "o" }).create, root);
        expect(other.out).toContain("recovering the transaction of step hk left open by a run that died");
        expect(readFileSync(path, "utf8")).toBe("old\n");
        expect(readFileSync(marks, "utf8")).toBe("reactivated\n");
    });
});
