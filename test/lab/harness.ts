/**
 * The apply harness: plays the Pulumi engine and the `@pulumi/command` provider
 * (remote.Command) against lab hosts, from what the real program declares under
 * Pulumi's mocks (tools/record.ts). Behaviours reproduced and not: README.md.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { recordProgram, RecordedResource, RecordOptions, Recording, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { opensshSession, Session } from "../../tools/check";
import type { Lab } from "./lab";
import { sshArgv } from "./lab";
import { BASE_ENV, run } from "./proc";

const REMOTE_COMMAND = "command:remote:Command";
/** Safety bound on evaluations per apply (each pass runs what the previous one's output made known). */
const MAX_PASSES = 10;

/** A Pulumi program as `recordProgram` runs it. */
export type Program = () => Promise<Record<string, unknown> | void> | Record<string, unknown> | void;

/** How the program is evaluated (config, stack name, look-up answers); `preview` and `commandState` are the harness's. */
export type ApplyOptions = Omit<RecordOptions, "preview" | "commandState"> & {
    /** Kill a command after this long (reported as a failure, exit 137). @default 600000 */
    timeoutMs?: number;
    /** At most this many operations at once, as `pulumi up --parallel`. @default defaultParallel() */
    parallel?: number;
    /**
     * Delete the replaced resources left pending by an earlier update at the START of
     * this one, before any create: the engine's order before pulumi/pulumi#11027 (2022).
     * Default: at the end, after every create and update, as the engine does since.
     * @default false
     */
    pendingDeletesFirst?: boolean;
    /** Called as each provider call finishes (for progress while a long apply runs). */
    onOperation?: (op: Operation) => void;
};

/** One provider call the harness made. */
export interface Operation {
    /** Resource name as declared (e.g. `web-h2o-config`). */
    resource: string;
    urn: string;
    /** `connection.host` (the lab address) and the lab host's name when known. */
    host: string;
    hostName?: string;
    op: "create" | "update" | "delete";
    /** Why: first apply, changed inputs, replacement (triggers), removed from the program, destroy. */
    reason: "new" | "changed" | "replace" | "removed" | "destroy" | "retry";
    code: number;
    stdout: string;
    stderr: string;
    durationMs: number;
}

/** What an apply or destroy did. */
export interface ApplyResult {
    ok: boolean;
    /** Every command run, in start order. */
    operations: Operation[];
    /** The first failed operation (the apply stopped scheduling after it). */
    failure?: Operation;
    /** Resources whose operation was planned but not run because of the failure. */
    skipped: Array<{ resource: string; op: Operation["op"] }>;
    /** The stack outputs computed with the commands' real stdout/stderr (empty after destroy). */
    outputs: Record<string, unknown>;
    /** How many times the program was evaluated and applied (1 unless inputs depend on command output). */
    passes: number;
    /** One-line summary of the failure: host, step, op, exit code and stderr. */
    error?: string;
}

/** A resource as the state file keeps it: the inputs of its last run and what that run printed. */
export interface StateEntry {
    urn: string;
    name: string;
    type: string;
    inputs: Record<string, any>;
    dependsOn: string[];
    deleteBeforeReplace: boolean;
    stdout: string;
    stderr: string;
    /** The last create/update failed (Pulumi keeps it with an initialization error and updates it next time). */
    failed?: boolean;
}

export interface HarnessState {
    version: 1;
    resources: StateEntry[];
    /** Replaced resources whose delete has not run yet (a failure came first). */
    pendingDeletes: StateEntry[];
}

/** A resource to delete: from the state (`pending`: a replaced one waiting for its delete). */
export interface PlannedDelete {
    entry: StateEntry;
    pending: boolean;
    reason: Operation["reason"];
}

/** A planned provider call. */
export interface Step {
    key: string;
    entry: StateEntry;
    op: Operation["op"];
    reason: Operation["reason"];
    /** Keys of steps that must finish (successfully) first. */
    after: string[];
    /** What the state becomes when the step succeeds. */
    commit: (result: { stdout: string; stderr: string }) => void;
    /** What the state becomes when it fails. */
    fail: () => void;
}

/**
 * Applies programs to a lab, keeping a JSON state file (mode 0600: like Pulumi's
 * state it holds the inputs, secrets included) between applies.
 */
export class Harness {
    private readonly workDir: string;

    constructor(private readonly lab: Lab, private readonly stateFile: string) {
        this.workDir = path.join(lab.dir, "harness");
        fs.mkdirSync(this.workDir, { recursive: true, mode: 0o700 });
    }

    /** The state as the last apply left it. */
    state(): HarnessState {
        if (!fs.existsSync(this.stateFile)) return { version: 1, resources: [], pendingDeletes: [] };
        return JSON.parse(fs.readFileSync(this.stateFile, "utf8")) as HarnessState;
    }

    /**
     * `pulumi up`: evaluates the program, then creates, updates, replaces and
     * deletes commands as the provider would. Like the engine, a command whose
     * inputs come from another command's output waits for that command: the
     * program is evaluated as a preview (outputs of commands not run yet are
     * unknown), commands with known inputs run, and the program is evaluated again
     * with their real output, until nothing waits. The last evaluation gives the
     * stack outputs.
     */
    async apply(program: Program, opts: ApplyOptions = {}): Promise<ApplyResult> {
        const operations: Operation[] = [];
        let recording = await this.record(program, opts);
        for (let pass = 1; ; pass++) {
            const waiting = waitingCommands(recording.commands);
            const plan = planApply(this.state(), recording.commands, waiting, { pendingDeletesFirst: opts.pendingDeletesFirst && pass === 1 });
            const outcome = await this.execute(plan, opts);
            operations.push(...outcome.operations);
            if (outcome.failure) return this.result(operations, outcome, {}, pass);
            recording = await this.record(program, opts);
            const stillWaiting = waitingCommands(recording.commands);
            if (stillWaiting.size === 0 && planApply(this.state(), recording.commands).steps.length === 0) return this.result(operations, outcome, recording.outputs, pass);
            if (outcome.operations.length === 0 || pass === MAX_PASSES) {
                const stuck = recording.commands.filter((c) => stillWaiting.has(c.urn)).map((c) => `${c.name} (${findUnknown(c.inputs) ?? "waits for " + c.dependsOn.join(", ")})`);
                throw new Error(`apply cannot progress: inputs still unknown after ${pass} pass(es): ${stuck.join("; ")} (a look-up without an answer?)`);
            }
        }
    }

    /**
     * `pulumi preview`: what an apply would do now, without running anything. Commands
     * whose inputs are still unknown count as changes (as the engine shows them).
     */
    async preview(program: Program, opts: ApplyOptions = {}): Promise<Array<{ resource: string; op: Operation["op"]; reason: Operation["reason"] }>> {
        const recording = await this.record(program, opts);
        const waiting = waitingCommands(recording.commands);
        const planned = planApply(this.state(), recording.commands, waiting).steps.map((s) => ({ resource: s.entry.name, op: s.op, reason: s.reason }));
        const known = new Set(this.state().resources.map((r) => r.urn));
        const unknown = recording.commands.filter((c) => waiting.has(c.urn)).map((c) => (known.has(c.urn) ? { resource: c.name, op: "update" as const, reason: "changed" as const } : { resource: c.name, op: "create" as const, reason: "new" as const }));
        return [...planned, ...unknown];
    }

    /** `pulumi destroy`: runs every delete from the state, dependents first. */
    /**
     * The remote commands as `program` declares them now, each with the output its
     * step printed when it ran: what the drift check needs (some steps' scripts embed
     * other steps' output, as the engine hands it to them).
     */
    async declared(program: Program, opts: Omit<ApplyOptions, "timeoutMs" | "parallel" | "pendingDeletesFirst"> = {}): Promise<RecordedResource[]> {
        const byName = new Map(this.state().resources.map((r) => [r.name, r]));
        const recording = await recordProgram(program, { ...opts, preview: true, printWarnings: false, commandState: (_type, name) => byName.get(name) });
        await pulumi.runtime.disconnect();
        return recording.commands;
    }

    async destroy(opts: Pick<ApplyOptions, "timeoutMs" | "parallel" | "onOperation"> = {}): Promise<ApplyResult> {
        const state = this.state();
        const entries: PlannedDelete[] = [
            ...state.pendingDeletes.map((entry) => ({ entry, pending: true, reason: "destroy" as const })),
            ...state.resources.map((entry) => ({ entry, pending: false, reason: "destroy" as const })),
        ];
        const steps = deleteSteps(entries, state);
        const outcome = await this.execute({ steps, state }, opts);
        return this.result(outcome.operations, outcome, {}, 1);
    }

    private async record(program: Program, opts: ApplyOptions): Promise<Recording> {
        const state = this.state();
        const byKey = new Map(state.resources.map((r) => [`${r.type}::${r.name}`, r]));
        const recording = await recordProgram(program, {
            ...opts,
            // As in the engine, outputs of commands that have not run are unknown, not empty.
            preview: true,
            commandState: (type, name) => {
                const r = byKey.get(`${type}::${name}`);
                return r && !r.failed ? { stdout: r.stdout, stderr: r.stderr } : undefined;
            },
        });
        // Let the evaluation's last RPCs (the stack's outputs) reach this recording's mocks, not the next one's.
        await pulumi.runtime.disconnect();
        const unsupported = recording.resources.filter((r) => r.type.startsWith("command:") && r.type !== REMOTE_COMMAND);
        if (unsupported.length > 0) throw new Error(`the harness runs only ${REMOTE_COMMAND}; the program also declares ${unsupported.map((r) => `${r.type} ${r.name}`).join(", ")}`);
        return recording;
    }

    /** Runs the plan against the lab (see {@link runSteps}), writing the state after every call. */
    private async execute(plan: { steps: Step[]; state: HarnessState }, opts: Pick<ApplyOptions, "timeoutMs" | "parallel" | "onOperation">): Promise<ExecutionOutcome> {
        this.writeState(plan.state);
        const runOne = async (s: Step) => {
            const op = await this.runStep(s, opts.timeoutMs ?? 600_000);
            opts.onOperation?.(op);
            return op;
        };
        return runSteps(plan.steps, runOne, () => this.writeState(plan.state), opts.parallel);
    }

    /** One provider call: one SSH session, the command on the command line, `stdin` as standard input. */
    private async runStep(step: Step, timeoutMs: number): Promise<Operation> {
        const { entry } = step;
        const inputs = entry.inputs;
        const command: string | undefined = step.op === "delete" ? inputs.delete : step.op === "update" ? inputs.update : inputs.create;
        const hostName = this.lab.hosts.find((h) => h.address === inputs.connection?.host)?.name;
        const base = { resource: entry.name, urn: entry.urn, host: String(inputs.connection?.host ?? "?"), hostName, op: step.op, reason: step.reason };
        const t0 = Date.now();
        if (command === undefined) return { ...base, code: 0, stdout: "", stderr: "", durationMs: 0 };
        const unknown = findUnknown(inputs);
        if (unknown) return { ...base, code: -1, stdout: "", stderr: `input ${unknown} is unknown at apply time (a look-up without an answer?)`, durationMs: 0 };

        const env = commandEnvironment(step);
        const argv = ["nsenter", `--net=${this.lab.switchNs}`, "--", ...this.sshFor(inputs.connection, Object.keys(env)), command];
        const r = await run(argv, { input: inputs.stdin ?? "", timeoutMs, env: { ...BASE_ENV, ...env } });
        return { ...base, code: r.code, stdout: trimOneNewline(r.stdout), stderr: trimOneNewline(r.stderr), durationMs: Date.now() - t0 };
    }

    /** ssh argv for a recorded `connection`: its key, its pinned host key (any key when none is pinned, like the provider). */
    private sshFor(connection: Record<string, any> | undefined, sendEnv: string[]): string[] {
        if (!connection?.host) throw new Error("a remote.Command without connection.host");
        if (!connection.privateKey) throw new Error(`connection to ${connection.host}: the harness supports private-key login only`);
        const port = Number(connection.port ?? 22);
        const keyFile = this.privateFile("key", connection.privateKey.endsWith("\n") ? connection.privateKey : `${connection.privateKey}\n`);
        let knownHosts = "/dev/null";
        if (connection.hostKey) {
            const hostPart = port === 22 ? connection.host : `[${connection.host}]:${port}`;
            knownHosts = this.privateFile("known_hosts", `${hostPart} ${String(connection.hostKey).trim().split(/\s+/).slice(0, 2).join(" ")}\n`);
        }
        const argv = sshArgv(keyFile, knownHosts, connection.host, port, connection.user ?? "root");
        const options = [...sendEnv.flatMap((k) => ["-o", `SendEnv=${k}`]), ...(connection.hostKey ? [] : ["-o", "StrictHostKeyChecking=no"])];
        // Options must come before the destination.
        return [argv[0], ...options, ...argv.slice(1)];
    }

    /** A file (mode 0600) in the lab's harness directory, named by its content's hash. */
    private privateFile(kind: string, content: string): string {
        const file = path.join(this.workDir, `${kind}-${createHash("sha256").update(content).digest("hex").slice(0, 16)}`);
        if (!fs.existsSync(file)) fs.writeFileSync(file, content, { mode: 0o600 });
        return file;
    }

    private writeState(state: HarnessState): void {
        fs.mkdirSync(path.dirname(this.stateFile), { recursive: true });
        const tmp = `${this.stateFile}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
        fs.renameSync(tmp, this.stateFile);
    }

    private result(operations: Operation[], outcome: { failure?: Operation; skipped: ApplyResult["skipped"] }, outputs: Record<string, unknown>, passes: number): ApplyResult {
        const f = outcome.failure;
        const error = f ? `${f.op} of ${f.resource} on ${f.hostName ?? f.host} failed (exit ${f.code}): ${f.stderr.trim().split("\n").slice(-5).join(" | ")}` : undefined;
        return { ok: !f, operations, failure: f, skipped: outcome.skipped, outputs, passes, error };
    }
}

/** What running a plan did. */
export interface ExecutionOutcome {
    operations: Operation[];
    failure?: Operation;
    skipped: ApplyResult["skipped"];
}

/**
 * `pulumi up`'s default `--parallel` since v3.100 (pulumi/pulumi#15016): `PULUMI_PARALLEL`,
 * else four operations per CPU (pkg/cmd/pulumi/operations/up.go, defaultParallel).
 */
export function defaultParallel(env: NodeJS.ProcessEnv = process.env): number {
    const fromEnv = Number(env.PULUMI_PARALLEL);
    return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 4 * os.availableParallelism();
}

/**
 * Runs planned steps with `runOne` (the provider call) the way the engine's step
 * executor does: a step starts once the steps it waits for have succeeded, at most
 * `parallel` at a time; after a failure nothing new starts and the calls in flight
 * finish (pkg/resource/deploy/step_executor.go, cancelDueToError). Unlike the engine,
 * steps on one host also run one at a time, in plan order (test/lab/ENGINE-RULES.md).
 * `afterEach` runs after each call's commit or fail (the harness writes its state file).
 */
export async function runSteps(steps: Step[], runOne: (step: Step) => Promise<Operation>, afterEach: () => void = () => undefined, parallel = defaultParallel()): Promise<ExecutionOutcome> {
    const planned = new Set(steps.map((s) => s.key));
    const done = new Set<string>();
    const started = new Set<string>();
    const busyHosts = new Set<string>();
    const operations: Operation[] = [];
    let failure: Operation | undefined;
    await new Promise<void>((resolve) => {
        const ready = (s: Step, index: number): boolean => {
            const host = hostKeyOf(s.entry);
            if (busyHosts.has(host)) return false;
            if (steps.slice(0, index).some((o) => !started.has(o.key) && hostKeyOf(o.entry) === host)) return false;
            return s.after.every((k) => done.has(k) || !planned.has(k));
        };
        const pump = () => {
            if (!failure) {
                steps.forEach((s, index) => {
                    if (started.has(s.key) || busyHosts.size >= parallel || !ready(s, index)) return;
                    const host = hostKeyOf(s.entry);
                    started.add(s.key);
                    busyHosts.add(host);
                    void runOne(s).then((op) => {
                        operations.push(op);
                        busyHosts.delete(host);
                        if (op.code === 0) {
                            s.commit({ stdout: op.stdout, stderr: op.stderr });
                            done.add(s.key);
                        } else {
                            s.fail();
                            failure ??= op;
                        }
                        afterEach();
                        pump();
                    });
                });
            }
            if (busyHosts.size === 0 && (failure || started.size === steps.length)) resolve();
        };
        pump();
    });
    const skipped = steps.filter((s) => !started.has(s.key)).map((s) => ({ resource: s.entry.name, op: s.op }));
    return { operations, failure, skipped };
}

/**
 * The environment the provider sets on the SSH session (`Setenv`, which the server
 * must allow with `AcceptEnv`): `environment`, and for update and delete the previous
 * run's non-empty stdout/stderr as `PULUMI_COMMAND_STDOUT`/`PULUMI_COMMAND_STDERR`
 * unless `addPreviousOutputInEnv: false` (command 1.2.1 provider/pkg/provider/remote/commandOutputs.go).
 */
export function commandEnvironment(step: Pick<Step, "op" | "entry">): Record<string, string> {
    const { inputs, stdout, stderr } = step.entry;
    const env: Record<string, string> = { ...(inputs.environment ?? {}) };
    if (step.op !== "create" && inputs.addPreviousOutputInEnv !== false) {
        if (stdout) env.PULUMI_COMMAND_STDOUT = stdout;
        if (stderr) env.PULUMI_COMMAND_STDERR = stderr;
    }
    return env;
}

/**
 * The provider calls that bring `state` to the recorded commands (creates and
 * updates in dependency order, deletes last). Pure: the steps' `commit`/`fail`
 * update the returned state (a copy) as each call succeeds or fails.
 */
export function planApply(current: HarnessState, commands: RecordedResource[], waiting: ReadonlySet<string> = new Set(), opts: { pendingDeletesFirst?: boolean } = {}): { steps: Step[]; state: HarnessState } {
    const state: HarnessState = JSON.parse(JSON.stringify(current));
    const old = new Map(state.resources.map((r) => [r.urn, r]));
    const desired = new Set(commands.map((c) => c.urn));
    const ups: Step[] = [];
    const pending: PlannedDelete[] = state.pendingDeletes.map((entry) => ({ entry, pending: true, reason: "replace" }));
    const firstDeletes = opts.pendingDeletesFirst ? deleteSteps(pending, state, "first") : [];
    const laterDeletes: PlannedDelete[] = opts.pendingDeletesFirst ? [] : pending;
    for (const c of commands) {
        if (waiting.has(c.urn)) continue;
        const entry = toEntry(c);
        const prev = old.get(c.urn);
        const change = prev ? diff(prev, entry) : "new";
        if (change === "same") continue;
        const after = [...c.dependsOn.filter((d) => desired.has(d)).map((d) => `up:${d}`), ...firstDeletes.map((d) => d.key)];
        // deleteBeforeReplace comes from the new registration, as in the engine.
        if (change === "replace" && entry.deleteBeforeReplace) {
            ups.push(deleteStep(`replace:${c.urn}`, prev!, "replace", [], () => removeResource(state, c.urn)));
            after.push(`replace:${c.urn}`);
        } else if (change === "replace") {
            // The old one is deleted after everything else, and stays pending until then.
            state.pendingDeletes.push(prev!);
            laterDeletes.push({ entry: prev!, pending: true, reason: "replace" });
        }
        // An update keeps the previous output (the provider hands it to the command).
        const carried = change === "changed" || change === "retry" ? { stdout: prev!.stdout, stderr: prev!.stderr } : {};
        ups.push({
            key: `up:${c.urn}`,
            entry: { ...entry, ...carried },
            op: change === "new" || change === "replace" || entry.inputs.update === undefined ? "create" : "update",
            reason: change,
            after,
            commit: (out) => putResource(state, { ...entry, ...out }),
            fail: () => putResource(state, { ...entry, ...carried, failed: true }),
        });
    }
    for (const r of state.resources) if (!desired.has(r.urn)) laterDeletes.push({ entry: r, pending: false, reason: "removed" });
    // Deletes come after every create and update, as in the engine: not while a command still waits.
    const deletes = waiting.size > 0 ? [] : deleteSteps(laterDeletes, state);
    // Deletes run after every create and update, as the engine does.
    for (const d of deletes) d.after.push(...ups.map((u) => u.key));
    return { steps: [...firstDeletes, ...ups, ...deletes], state };
}

function toEntry(c: RecordedResource): StateEntry {
    return { urn: c.urn, name: c.name, type: c.type, inputs: c.inputs, dependsOn: c.dependsOn, deleteBeforeReplace: c.deleteBeforeReplace, stdout: "", stderr: "" };
}

/**
 * The provider's diff: no change (and no earlier failure) runs nothing; a change of
 * `triggers` replaces the resource, with or without an `update` command (command
 * 1.2.1 tags `triggers` `replaceOnChanges` and has no Diff of its own, whatever its
 * doc string says: provider/pkg/provider/common/inputs.go); any other input change
 * is an update (`update`, or `create` again when there is none).
 */
function diff(prev: StateEntry, next: StateEntry): "same" | "changed" | "replace" | "retry" {
    const changed = [...new Set([...Object.keys(prev.inputs), ...Object.keys(next.inputs)])].filter((k) => stableJson(prev.inputs[k]) !== stableJson(next.inputs[k]));
    if (changed.length === 0) return prev.failed ? "retry" : "same";
    if (changed.includes("triggers")) return "replace";
    return "changed";
}

function putResource(state: HarnessState, entry: StateEntry): void {
    const i = state.resources.findIndex((r) => r.urn === entry.urn);
    if (i >= 0) state.resources[i] = entry;
    else state.resources.push(entry);
}

function removeResource(state: HarnessState, urn: string): void {
    state.resources = state.resources.filter((r) => r.urn !== urn);
}

function deleteStep(key: string, entry: StateEntry, reason: Operation["reason"], after: string[], commit: () => void): Step {
    return { key, entry, op: "delete", reason, after, commit, fail: () => undefined };
}

/**
 * Delete steps, dependents first: each waits for the deletes of the entries that
 * depend on it, and the list is in that order (steps on one host run in list order).
 */
function deleteSteps(list: PlannedDelete[], state: HarnessState, keyPrefix = "delete"): Step[] {
    const remaining = [...list].reverse();
    const ordered: PlannedDelete[] = [];
    while (remaining.length > 0) {
        const i = remaining.findIndex((d) => !remaining.some((o) => o !== d && o.entry.dependsOn.includes(d.entry.urn)));
        ordered.push(...remaining.splice(i < 0 ? 0 : i, 1));
    }
    const keyOf = new Map(ordered.map((d, i) => [d, `${keyPrefix}:${i}:${d.entry.urn}`]));
    return ordered.map((d) => {
        const dependents = ordered.filter((o) => o !== d && o.entry.dependsOn.includes(d.entry.urn)).map((o) => keyOf.get(o)!);
        const commit = d.pending ? () => (state.pendingDeletes = state.pendingDeletes.filter((p) => p !== d.entry)) : () => removeResource(state, d.entry.urn);
        return deleteStep(keyOf.get(d)!, d.entry, d.reason, dependents, commit);
    });
}

function hostKeyOf(entry: StateEntry): string {
    const c = entry.inputs.connection ?? {};
    return `${c.host}:${c.port ?? 22}`;
}

function stableJson(value: unknown): string {
    if (value === undefined) return "undefined";
    if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
    if (value && typeof value === "object") {
        return `{${Object.keys(value as object).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

/**
 * Commands that must wait: an input is still unknown (it comes from the output of a
 * command that has not run yet), or a command they depend on waits.
 */
export function waitingCommands(commands: RecordedResource[]): Set<string> {
    const waiting = new Set(commands.filter((c) => findUnknown(c.inputs) !== undefined).map((c) => c.urn));
    for (let grew = true; grew; ) {
        grew = false;
        for (const c of commands) {
            if (!waiting.has(c.urn) && c.dependsOn.some((d) => waiting.has(d))) {
                waiting.add(c.urn);
                grew = true;
            }
        }
    }
    return waiting;
}

/** Path of the first input that is still unknown, if any. */
function findUnknown(value: unknown, at = ""): string | undefined {
    if (value === UNKNOWN_PLACEHOLDER) return at || "(value)";
    if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
            const u = findUnknown(value[i], `${at}[${i}]`);
            if (u) return u;
        }
    } else if (value && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) {
            const u = findUnknown(v, at ? `${at}.${k}` : k);
            if (u) return u;
        }
    }
    return undefined;
}

/** The provider trims one trailing newline from stdout and stderr. */
function trimOneNewline(text: string): string {
    return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/**
 * Stack config for `declareStack` over a lab: the inventory of the given hosts
 * (sysv init, the lab key as secret `lab-ssh-key`) plus the given section values.
 */
export function labStackConfig(lab: Lab, sections: Record<string, unknown> = {}, hostNames?: string[]): { config: Record<string, string>; secretKeys: string[] } {
    const hosts = (hostNames ?? lab.hosts.map((h) => h.name)).map((n) => lab.host(n));
    const inventory = { defaults: { privateKey: "lab-ssh-key", init: "sysv", os: "debian" }, hosts: hosts.map((h) => ({ name: h.name, address: h.address, hostKey: h.hostKey })) };
    const config: Record<string, string> = {
        "hostwright:inventory": JSON.stringify(inventory),
        "hostwright:secrets": JSON.stringify({ "lab-ssh-key": hosts[0]?.privateKey ?? "" }),
    };
    for (const [key, value] of Object.entries(sections)) config[`hostwright:${key}`] = JSON.stringify(value);
    return { config, secretKeys: ["hostwright:secrets"] };
}

/** An SSH session for the drift check (tools/check.ts) to a lab host: from the lab's switch, where the hosts are reachable. */
export function labCheckSession(lab: Lab): Session {
    return opensshSession((argv) => ["nsenter", `--net=${lab.switchNs}`, "--", ...argv]);
}
