/**
 * Drift check and repair without the Pulumi CLI:
 *   npm run check -- --stack NAME [--state EXPORT.json] [--parallel N] [--json] [--repair]
 * Evaluates the stack like the offline preview (same stack file, secrets, program),
 * then opens ONE SSH session per host (host key pinned, hosts in parallel) that runs
 * every step's own create script in check mode (`bash -s check`, core/README.md):
 * the comparison is rendered by the same code that installs, so nothing describes
 * a step twice. Exit status: 0 all ok, 2 drift found (nothing unreachable),
 * 1 something could not be checked.
 */
import { spawn } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join, resolve } from "path";
import { endpointOf } from "../core/config/stack";
import { ValidationError } from "../core/errors";
import { checkScript, stagedFilesOf } from "../core/step";
import { passphraseFromEnv } from "./passphrase";
import { recordProgram, orderCommands, RecordedResource, UNKNOWN_PLACEHOLDER } from "./record";
import { redact } from "./redact";
import { sshArgv } from "./ssh";
import { unifiedDiff } from "./unifiedDiff";
import { readStackFile, stackFilePath } from "./stackFile";

const PROJECT = "hostwright";

export type StepStatus = "ok" | "drifted" | "not-applied" | "error";
export type HostStatus = "ok" | "drifted" | "unreachable" | "error";

export interface StepCheck {
    name: string;
    urn: string;
    status: StepStatus;
    /** What differs, one line each (a file, a managed setting, a runtime object). */
    drift: string[];
    /** Unified diffs of drifted files and settings (live -> declared), secrets redacted. */
    diffs: string[];
    /** Why it could not be checked (error). */
    reason?: string;
}

export interface HostCheck {
    host: string;
    address: string;
    status: HostStatus;
    /** The SSH error, for an unreachable host. */
    error?: string;
    steps: StepCheck[];
    /** SSH sessions opened for the check (1), and bytes sent. */
    sessions: number;
    bytesSent: number;
    durationMs: number;
}

export interface CheckReport {
    hosts: HostCheck[];
    /**
     * Steps whose host or script depends on a value only an apply knows (an OpenStack
     * look-up, another step's output such as an LXD trust token): not checked offline.
     */
    notChecked: Array<{ name: string; urn: string; reason: string }>;
    totals: Record<HostStatus, number> & { steps: number; driftedSteps: number };
    /** What re-runs the drifted steps through the real engine. */
    replaceCommand?: string;
    /** Steps repaired (with --repair), then checked again. */
    repaired?: string[];
}

/** Runs `command` on a host with `stdin`, over one SSH session. */
export type Session = (connection: Record<string, any>, command: string, stdin: string) => Promise<{ code: number; stdout: string; stderr: string }>;

export interface CheckOptions {
    session: Session;
    /** Hosts checked at once. @default 8 */
    parallel?: number;
    /** Inventory names by `host:port` endpoint (the program's `hosts` output). */
    hostNames?: Record<string, string>;
    /** Clear texts of the stack's secrets: redacted from every diff. */
    secretTexts?: string[];
}

/** A step's commands on its host, in execution order. */
interface HostSteps {
    endpoint: string;
    connection: Record<string, any>;
    privilege: string;
    steps: RecordedResource[];
}

/** Groups remote commands by host; steps whose host or script depends on a look-up cannot be checked offline. */
function byHost(commands: RecordedResource[]): { hosts: HostSteps[]; unresolved: RecordedResource[] } {
    const hosts = new Map<string, HostSteps>();
    const unresolved: RecordedResource[] = [];
    for (const c of orderCommands(commands)) {
        const conn = c.inputs.connection;
        const stdin = String(c.inputs.stdin ?? "");
        if (!conn || typeof conn !== "object" || conn.host === UNKNOWN_PLACEHOLDER || JSON.stringify(c.inputs).includes(UNKNOWN_PLACEHOLDER) || !stdin) {
            unresolved.push(c);
            continue;
        }
        const endpoint = endpointOf(String(conn.host), Number(conn.port ?? 22));
        const privilege = /^sudo -n /.test(String(c.inputs.create ?? "")) ? "sudo -n " : "";
        if (!hosts.has(endpoint)) hosts.set(endpoint, { endpoint, connection: conn, privilege, steps: [] });
        hosts.get(endpoint)!.steps.push(c);
    }
    return { hosts: [...hosts.values()], unresolved };
}

/** A delimiter that no line of `text` equals. */
function delimiter(base: string, text: string): string {
    let d = base;
    const lines = new Set(text.split("\n"));
    while (lines.has(d)) d += "_";
    return d;
}

/** The one script a host runs: each step's create script in `mode`, its output fenced. */
export function hostScript(steps: RecordedResource[], mode: "check" | "update"): string {
    const parts = ["#!/bin/bash", "# hostwright: every step of this host, in order, in one session"];
    steps.forEach((s, i) => {
        const script = mode === "check" ? checkScript(String(s.inputs.stdin)) : String(s.inputs.stdin);
        const end = delimiter(`HOSTWRIGHT_STEP_SCRIPT_${i}`, script);
        parts.push(
            `printf 'HOSTWRIGHT_STEP ${i}\\n'`,
            `bash -s ${mode} <<'${end}' 2>&1\n${script}\n${end}`,
            `hw_rc=$?`,
            `printf 'HOSTWRIGHT_STEP_END ${i} %s\\n' "$hw_rc"`,
            ...(mode === "update" ? [`[ "$hw_rc" -eq 0 ] || exit "$hw_rc"`] : []),
        );
    });
    return `${parts.join("\n")}\n`;
}

/** Splits a host's output into each step's lines. */
function stepOutputs(stdout: string): Map<number, { lines: string[]; code?: number }> {
    const out = new Map<number, { lines: string[]; code?: number }>();
    let current: number | undefined;
    for (const line of stdout.split("\n")) {
        const start = /^HOSTWRIGHT_STEP (\d+)$/.exec(line);
        const end = /^HOSTWRIGHT_STEP_END (\d+) (\d+)$/.exec(line);
        if (start) out.set((current = Number(start[1])), { lines: [] });
        else if (end) {
            out.get(Number(end[1]))!.code = Number(end[2]);
            current = undefined;
        } else if (current !== undefined) out.get(current)!.lines.push(line);
    }
    return out;
}

function parseStep(step: RecordedResource, result: { lines: string[]; code?: number } | undefined, secretTexts: string[]): StepCheck {
    const base = { name: step.name, urn: step.urn, drift: [] as string[], diffs: [] as string[] };
    if (!result) return { ...base, status: "error", reason: "the host's check session ended before this step" };
    const field = (prefix: string) => result.lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => l.slice(prefix.length + 1));
    const status = field("HOSTWRIGHT_CHECK")[0];
    const drift = field("HOSTWRIGHT_DRIFT");
    const declared = new Map(stagedFilesOf(String(step.inputs.stdin)).map((f) => [f.path, f.content]));
    const diffs = field("HOSTWRIGHT_LIVE").map((l) => {
        const [path, live] = l.split(" ").map((w) => Buffer.from(w ?? "", "base64").toString("utf8"));
        // live -> declared: what a repair would change
        return unifiedDiff(path, live, declared.get(path) ?? "");
    });
    const settings = field("HOSTWRIGHT_DIFF");
    if (settings.length > 0) diffs.push(settings.join("\n"));
    const clean = redact({ drift, diffs }, secretTexts);
    if (status === "ok" || status === "drifted" || status === "not-applied") return { ...base, ...clean, status };
    const error = status?.startsWith("error ") ? status.slice(6) : result.lines.filter((l) => /ERROR/.test(l)).slice(-2).join(" ") || `exit ${result.code}`;
    return { ...base, ...clean, status: "error", reason: redact(error, secretTexts) };
}

async function pool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, items.length) }, async () => {
            while (next < items.length) {
                const i = next++;
                results[i] = await work(items[i]);
            }
        }),
    );
    return results;
}

/** Checks every host of the recorded commands: one session per host, `parallel` hosts at once. */
export async function checkCommands(commands: RecordedResource[], opts: CheckOptions): Promise<CheckReport> {
    const { hosts, unresolved } = byHost(commands.filter((c) => c.type === "command:remote:Command"));
    const name = (endpoint: string) => Object.entries(opts.hostNames ?? {}).find(([, e]) => e === endpoint)?.[0] ?? endpoint;
    const checked = await pool(hosts, opts.parallel ?? 8, async (h): Promise<HostCheck> => {
        const t0 = Date.now();
        const script = hostScript(h.steps, "check");
        const r = await opts.session(h.connection, `${h.privilege}/bin/bash -s`, script);
        const base = { host: name(h.endpoint), address: h.endpoint, sessions: 1, bytesSent: Buffer.byteLength(script), durationMs: 0 };
        const outputs = stepOutputs(r.stdout);
        if (r.code === 255 && outputs.size === 0) {
            return { ...base, status: "unreachable", error: r.stderr.trim().split("\n").slice(-1)[0] || "ssh exit 255", steps: [], durationMs: Date.now() - t0 };
        }
        const steps = h.steps.map((s, i) => parseStep(s, outputs.get(i), opts.secretTexts ?? []));
        const status: HostStatus = steps.some((s) => s.status === "error") ? "error" : steps.some((s) => s.status !== "ok") ? "drifted" : "ok";
        return { ...base, status, steps, durationMs: Date.now() - t0 };
    });
    const notChecked = unresolved.map((c) => ({ name: c.name, urn: c.urn, reason: "its host or script depends on a value only an apply knows (a look-up, another step's output)" }));
    const totals = { ok: 0, drifted: 0, unreachable: 0, error: 0, steps: 0, driftedSteps: 0 };
    for (const h of checked) {
        totals[h.status]++;
        totals.steps += h.steps.length;
        totals.driftedSteps += h.steps.filter((s) => s.status === "drifted" || s.status === "not-applied").length;
    }
    const drifted = checked.flatMap((h) => h.steps.filter((s) => s.status === "drifted" || s.status === "not-applied"));
    return { hosts: checked, notChecked, totals, replaceCommand: drifted.length > 0 ? `pulumi up ${drifted.map((s) => `--replace '${s.urn}'`).join(" ")}` : undefined };
}

/**
 * Re-runs the drifted (and not-applied) steps through their own create script
 * (`bash -s update`: the same transaction as an apply, keeping hand edits), in the
 * order the engine would: a step after the drifted steps it depends on, on any host
 * (an LXD remote after its target's trust entry). Each wave is one session per host,
 * hosts in parallel, a host stopping at its first failure; then checks again.
 */
export async function repairCommands(commands: RecordedResource[], report: CheckReport, opts: CheckOptions): Promise<CheckReport> {
    const broken = new Set(report.hosts.flatMap((h) => h.steps.filter((s) => s.status === "drifted" || s.status === "not-applied").map((s) => s.urn)));
    const drifted = orderCommands(commands).filter((c) => broken.has(c.urn));
    const wave = new Map<string, number>();
    for (const c of drifted) wave.set(c.urn, Math.max(0, ...c.dependsOn.filter((d) => wave.has(d)).map((d) => wave.get(d)! + 1)));
    const failures: string[] = [];
    for (let w = 0; failures.length === 0 && drifted.some((c) => wave.get(c.urn) === w); w++) {
        const { hosts } = byHost(drifted.filter((c) => wave.get(c.urn) === w));
        await pool(hosts, opts.parallel ?? 8, async (h) => {
            const r = await opts.session(h.connection, `${h.privilege}/bin/bash -s`, hostScript(h.steps, "update"));
            if (r.code !== 0) failures.push(`${h.endpoint}: ${redact(`${r.stdout}${r.stderr}`, opts.secretTexts ?? []).trim().split("\n").slice(-3).join(" | ")}`);
        });
    }
    const after = await checkCommands(commands, opts);
    after.repaired = [...broken];
    if (failures.length > 0) throw new Error(`repair failed on ${failures.length} host(s): ${failures.join("; ")}`);
    return after;
}

/** Exit status: 1 when something could not be checked, 2 when drift was found, 0 when all is as declared. */
export function exitCode(report: CheckReport): number {
    if (report.totals.unreachable + report.totals.error > 0) return 1;
    return report.totals.drifted > 0 ? 2 : 0;
}

export function formatReport(report: CheckReport): string {
    const out: string[] = [];
    for (const h of report.hosts) {
        const counts = (st: StepStatus) => h.steps.filter((s) => s.status === st).length;
        out.push(`${h.host}: ${h.status}${h.error ? ` (${h.error})` : ""} — ${counts("ok")} ok, ${counts("drifted")} drifted, ${counts("not-applied")} not applied${counts("error") ? `, ${counts("error")} error` : ""}`);
        for (const s of h.steps.filter((x) => x.status !== "ok")) {
            out.push(`  ${s.name}: ${s.status}${s.reason ? ` (${s.reason})` : ""}`);
            for (const d of s.drift) out.push(`    - ${d}`);
            for (const d of s.diffs) out.push(...d.trimEnd().split("\n").map((l) => `      ${l}`));
        }
    }
    if (report.notChecked.length > 0) out.push(`not checked offline (${report.notChecked[0].reason}): ${report.notChecked.map((s) => s.name).join(", ")}`);
    const t = report.totals;
    out.push(`total: ${report.hosts.length} host(s), ${t.ok} ok, ${t.drifted} drifted, ${t.unreachable} unreachable, ${t.error} with errors; ${t.driftedSteps} of ${t.steps} step(s) drifted or not applied`);
    if (report.repaired) out.push(`repaired ${report.repaired.length} step(s), then checked again`);
    else if (report.replaceCommand) out.push(`repair: npm run check -- --stack STACK --repair, or with the Pulumi CLI: ${report.replaceCommand}`);
    return out.join("\n");
}

/** One SSH session with the OpenSSH client: the connection's key and pinned host key, in files only this process reads. */
export function opensshSession(wrap: (argv: string[]) => string[] = (a) => a): Session {
    return async (connection, command, stdin) => {
        const dir = mkdtempSync(join(tmpdir(), "hostwright-ssh-"));
        try {
            const key = join(dir, "key");
            writeFileSync(key, String(connection.privateKey).endsWith("\n") ? connection.privateKey : `${connection.privateKey}\n`, { mode: 0o600 });
            const port = Number(connection.port ?? 22);
            if (!connection.hostKey) throw new Error(`host ${connection.host}: no pinned host key (hostKey); refusing to connect`);
            const known = join(dir, "known_hosts");
            writeFileSync(known, `${port === 22 ? connection.host : `[${connection.host}]:${port}`} ${String(connection.hostKey).trim().split(/\s+/).slice(0, 2).join(" ")}\n`, { mode: 0o600 });
            const argv = wrap([...sshArgv(key, known, String(connection.host), port, String(connection.user ?? "root")), command]);
            return await new Promise((resolveRun) => {
                const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
                let stdout = "";
                let stderr = "";
                child.stdout.on("data", (d) => (stdout += d));
                child.stderr.on("data", (d) => (stderr += d));
                child.on("error", (e) => resolveRun({ code: 255, stdout, stderr: `${stderr}${e.message}` }));
                child.on("close", (code) => resolveRun({ code: code ?? 255, stdout, stderr }));
                child.stdin.on("error", () => undefined);
                child.stdin.end(stdin);
            });
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    };
}

/** What each `remote.Command` printed, by resource name. */
export type CommandOutputs = Map<string, { stdout: string; stderr: string }>;

/**
 * Each `remote.Command`'s stdout/stderr in a `pulumi stack export --show-secrets`
 * deployment (secrets as `plaintext`): what steps that embed another step's output
 * (LXD trust and remotes, libvirt peer checks) need to be rendered for the check.
 */
export function commandOutputsOfDeployment(exported: any): CommandOutputs {
    const SECRET_SIG = "4dabf18193072939515e22adb298388d";
    const text = (v: any): string => (v && typeof v === "object" && v[SECRET_SIG] ? String(JSON.parse(v.plaintext ?? '""')) : String(v ?? ""));
    const resources: any[] = exported?.deployment?.resources ?? [];
    return new Map(
        resources
            .filter((r) => r.type === "command:remote:Command" && !r.delete)
            .map((r) => [String(r.urn).split("::").pop()!, { stdout: text(r.outputs?.stdout), stderr: text(r.outputs?.stderr) }]),
    );
}

/**
 * Evaluates a stack like the offline preview, with its secrets in clear (they travel to
 * the hosts only on stdin). `projectDir` holds the stack files, `programDir` index.ts.
 */
export async function recordStack(stack: string, projectDir: string, passphrase: string | undefined, outputs: CommandOutputs = new Map(), programDir = projectDir) {
    const file = readStackFile(stackFilePath(projectDir, stack), PROJECT, passphrase);
    if (file.opaqueSecrets.length > 0) throw new Error(`the check needs the stack's secrets (${file.opaqueReason})`);
    const main = require(join(programDir, "index.ts")) as () => Record<string, unknown>;
    const recording = await recordProgram(() => main(), { project: PROJECT, stack, config: file.values, secretKeys: [...file.secretKeys], rootDirectory: projectDir, preview: true, invoke: () => ({}), printWarnings: false, commandState: (_type, name) => outputs.get(name) });
    return { recording, secretTexts: file.secretTexts };
}

interface Args {
    stack: string;
    /** A `pulumi stack export --show-secrets` file: the outputs steps embed from each other. */
    state?: string;
    parallel: number;
    json: boolean;
    repair: boolean;
}

function parseArgs(argv: string[]): Args {
    const args: Partial<Args> = { parallel: 8, json: false, repair: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stack") args.stack = argv[++i];
        else if (a === "--parallel") args.parallel = Number(argv[++i]);
        else if (a === "--json") args.json = true;
        else if (a === "--repair") args.repair = true;
        else if (a === "--state") args.state = argv[++i];
        else throw new Error(`unknown argument ${JSON.stringify(a.slice(0, 60))}; usage: npm run check -- --stack NAME [--state EXPORT.json] [--parallel N] [--json] [--repair]`);
    }
    if (!args.stack) throw new Error("--stack NAME is required; usage: npm run check -- --stack NAME [--state EXPORT.json] [--parallel N] [--json] [--repair]");
    if (!Number.isInteger(args.parallel) || args.parallel! < 1) throw new Error("--parallel takes a whole number of hosts, 1 or more");
    return args as Args;
}

async function main(): Promise<void> {
    const args = parseArgs(process.argv.slice(2));
    const projectDir = resolve(__dirname, "..");
    const outputs = args.state ? commandOutputsOfDeployment(JSON.parse(readFileSync(args.state, "utf8"))) : undefined;
    const { recording, secretTexts } = await recordStack(args.stack, projectDir, passphraseFromEnv(), outputs);
    const opts: CheckOptions = { session: opensshSession(), parallel: args.parallel, hostNames: (recording.outputs.hosts ?? {}) as Record<string, string>, secretTexts };
    let report = await checkCommands(recording.commands, opts);
    if (args.repair && report.totals.driftedSteps > 0) report = await repairCommands(recording.commands, report, opts);
    console.log(args.json ? JSON.stringify(report, null, 2) : formatReport(report));
    process.exit(exitCode(report));
}

if (require.main === module) {
    main().catch((e: unknown) => {
        console.error(`error: ${e instanceof ValidationError || e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    });
}
