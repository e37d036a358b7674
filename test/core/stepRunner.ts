/**
 * Runs rendered step scripts on this machine, with the state root and the run
 * directory (lock, notes, fault points) moved into a scratch directory, as root or
 * not: the transaction, the lock, ownership claims and recovery are plain bash.
 */
import { execFileSync, spawn, ChildProcess } from "child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "fs";
import { checkScript, KEPT_ROOT, LIB_ROOT, RUN_DIR, STATE_ROOT } from "../../core/step";
import { libraryScripts } from "../../core/library";

/** A script with the host's paths (state, library, kept copies, run directory) moved under `root`. */
export function relocated(script: string, root: string): string {
    return script.split(STATE_ROOT).join(`${root}/state`).split(LIB_ROOT).join(`${root}/lib`).split(KEPT_ROOT).join(`${root}/kept`).split(RUN_DIR).join(`${root}/run`);
}

/**
 * {@link relocated}, after installing the core library under `root` the way a host's
 * library step does (its own create script, relocated), unless it is there already:
 * every step script sources it.
 */
export function localScript(script: string, root: string): string {
    if (!existsSync(relocated(libraryScripts().path, root))) installLibrary(root);
    return relocated(script, root);
}

/** Runs the library step's create script (relocated) under `root`. */
export function installLibrary(root: string, mode?: string): string {
    return execFileSync("bash", ["-s", ...(mode ? [mode] : [])], { input: relocated(libraryScripts().create, root), encoding: "utf8" });
}

/** Runs a script to the end; `mode` is the create script's argument ("update" for Pulumi's update). */
export function runStep(script: string, root: string, opts: { mode?: string; env?: Record<string, string> } = {}): { status: number; out: string } {
    try {
        const text = opts.mode === "check" ? checkScript(script) : script;
        const out = execFileSync("bash", ["-s", ...(opts.mode ? [opts.mode] : [])], { input: localScript(text, root), encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
        return { status: 0, out };
    } catch (e: any) {
        return { status: e.status, out: `${e.stdout}${e.stderr}` };
    }
}

/** {@link runStep} without blocking the event loop (for runs that wait on each other). */
export function runStepAsync(script: string, root: string): Promise<{ status: number; out: string }> {
    return new Promise((resolve) => {
        const child = spawn("bash", ["-s"], { stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        child.stdout!.on("data", (d) => (out += d));
        child.stderr!.on("data", (d) => (out += d));
        child.on("close", (code) => resolve({ status: code ?? 1, out }));
        child.stdin!.end(localScript(script, root));
    });
}

/** A script started in the background that stops at a fault point (`* POINT`), for killing it there. */
export async function startPaused(script: string, root: string, point: string): Promise<{ child: ChildProcess; pid: number; output: () => string }> {
    mkdirSync(`${root}/run`, { recursive: true });
    writeFileSync(`${root}/run/pause`, `* ${point}`);
    const child = spawn("bash", ["-s"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.stdin!.end(localScript(script, root));
    for (let i = 0; i < 200 && !existsSync(`${root}/run/paused`); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(`${root}/run/paused`)) throw new Error(`the script did not reach fault point ${point}: ${out}`);
    const pid = Number(readFileSync(`${root}/run/paused`, "utf8").split(" ")[0]);
    return { child, pid, output: () => out };
}

export function releasePause(root: string): void {
    execFileSync("rm", ["-f", `${root}/run/pause`]);
}

export async function exited(child: ChildProcess): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}
