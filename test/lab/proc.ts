/**
 * Running local programs for the lab: one spawn helper with input, timeout and
 * process-group kill, used by the lab hosts and the harness.
 */
import { spawn } from "child_process";
import { constants } from "os";

/** What a finished command left: exit code (128+signal when killed) and its output. */
export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface RunOptions {
    /** Bytes for standard input; stdin is closed after it (empty when absent). */
    input?: string;
    /** Kill the whole process group after this long. @default 120000 */
    timeoutMs?: number;
    /** Complete environment of the program. @default a minimal root environment */
    env?: Record<string, string>;
}

/** Environment for everything the lab runs: nothing of the caller's leaks in. */
export const BASE_ENV: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    USER: "root",
    LOGNAME: "root",
    SHELL: "/bin/bash",
    LANG: "C.UTF-8",
    TERM: "dumb",
};

// Daemons started by a command may keep its stdout open; after the command
// itself exits, wait this long for the pipes to drain, then stop reading.
const DRAIN_MS = 150;

/** Runs argv[0] with the given arguments (no shell) and collects its output. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? BASE_ENV });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timedOut = false;
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.stdin.on("error", () => undefined); // the program may exit without reading its input
        child.stdin.end(opts.input ?? "");
        const timer = setTimeout(() => {
            timedOut = true;
            killGroup(child.pid);
        }, opts.timeoutMs ?? 120_000);
        let settled = false;
        const finish = (code: number) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            child.stdout.destroy();
            child.stderr.destroy();
            const stderr = Buffer.concat(err).toString("utf8") + (timedOut ? `\n[lab] killed after ${opts.timeoutMs ?? 120_000} ms` : "");
            resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr });
        };
        child.on("error", (e) => {
            clearTimeout(timer);
            if (!settled) reject(e);
            settled = true;
        });
        child.on("close", (code, signal) => finish(code ?? 128 + signalNumber(signal)));
        child.on("exit", (code, signal) => setTimeout(() => finish(code ?? 128 + signalNumber(signal)), DRAIN_MS));
    });
}

/** Like {@link run} but throws with the command's stderr when it exits non-zero. */
export async function runOk(argv: string[], opts: RunOptions = {}): Promise<string> {
    const r = await run(argv, opts);
    if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
}

function killGroup(pid: number | undefined): void {
    if (pid === undefined) return;
    try {
        process.kill(-pid, "SIGKILL");
    } catch {
        // already gone
    }
}

function signalNumber(signal: NodeJS.Signals | null): number {
    if (!signal) return 0;
    return (constants.signals as Record<string, number>)[signal] ?? 0;
}
