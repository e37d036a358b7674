/**
 * The harness without a lab: which provider calls an apply makes for a given state
 * and recording, in which order, what the state becomes, how the calls are scheduled
 * and what reaches the SSH session. Each "R<n>" test holds the harness to that row
 * of test/lab/ENGINE-RULES.md (the engine's and the command provider's rules, with sources).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { remote } from "@pulumi/command";
import type { RecordedResource } from "../../tools/record";
import type { Lab } from "./lab";
import { commandEnvironment, defaultParallel, Harness, HarnessState, Operation, planApply, runSteps, Step } from "./harness";

const conn = (host: string) => ({ host, port: 22, user: "root", privateKey: "KEY", hostKey: "ssh-ed25519 AAAA" });

function cmd(name: string, opts: { host?: string; stdin?: string; trigger?: string; update?: string; after?: string[]; dbr?: boolean; env?: Record<string, string>; previousOutput?: boolean } = {}): RecordedResource {
    const inputs: Record<string, unknown> = { connection: conn(opts.host ?? "198.18.0.10"), create: "/bin/bash -s", delete: `undo ${name}`, stdin: opts.stdin ?? `script ${name}`, triggers: [opts.trigger ?? "g1"] };
    if (opts.update) inputs.update = opts.update;
    if (opts.env) inputs.environment = opts.env;
    if (opts.previousOutput !== undefined) inputs.addPreviousOutputInEnv = opts.previousOutput;
    return { urn: `urn:${name}`, type: "command:remote:Command", name, inputs, secretInputs: [], dependsOn: (opts.after ?? []).map((a) => `urn:${a}`), deleteBeforeReplace: opts.dbr ?? false };
}

const EMPTY: HarnessState = { version: 1, resources: [], pendingDeletes: [] };
const ops = (steps: Step[]) => steps.map((s) => `${s.op}:${s.reason}:${s.entry.name}`);

/** Applies a plan as if every call succeeded (or `failing` failed) and returns the new state. */
function run(state: HarnessState, commands: RecordedResource[], failing?: string): { steps: Step[]; state: HarnessState } {
    const plan = planApply(state, commands);
    for (const s of plan.steps) {
        if (s.entry.name === failing && s.op !== "delete") {
            s.fail();
            break;
        }
        s.commit({ stdout: `out ${s.entry.name} ${s.entry.inputs.stdin}`, stderr: "" });
    }
    return { steps: plan.steps, state: JSON.parse(JSON.stringify(plan.state)) };
}

describe("planApply", () => {
    const program = [cmd("a"), cmd("b", { after: ["a"] }), cmd("c", { host: "198.18.0.11", after: ["a"] })];

    it("creates everything on a first apply, each step waiting for its dependencies", () => {
        const { steps, state } = run(EMPTY, program);
        expect(ops(steps)).toEqual(["create:new:a", "create:new:b", "create:new:c"]);
        expect(steps.map((s) => s.after)).toEqual([[], ["up:urn:a"], ["up:urn:a"]]);
        expect(state.resources.map((r) => [r.name, r.stdout])).toEqual([["a", "out a script a"], ["b", "out b script b"], ["c", "out c script c"]]);
    });

    it("plans nothing when inputs are unchanged", () => {
        const { state } = run(EMPTY, program);
        expect(planApply(state, program).steps).toEqual([]);
    });

    it("replaces on a trigger change: create the new one, then delete the old one with its old inputs, after every other change", () => {
        const { state } = run(EMPTY, program);
        const changed = [cmd("a", { stdin: "script a v2", trigger: "g2" }), cmd("b", { after: ["a"], stdin: "script b v2" }), program[2]];
        const plan = planApply(state, changed);
        expect(ops(plan.steps)).toEqual(["create:replace:a", "create:changed:b", "delete:replace:a"]);
        expect(plan.steps[2].entry.inputs.stdin).toBe("script a");
        expect(plan.steps[2].after).toEqual(["up:urn:a", "up:urn:b"]);
        expect(plan.state.pendingDeletes.map((p) => p.name)).toEqual(["a"]);
        plan.steps.forEach((s) => s.commit({ stdout: "x", stderr: "" }));
        expect(plan.state.pendingDeletes).toEqual([]);
        expect(plan.state.resources.find((r) => r.name === "a")?.inputs.stdin).toBe("script a v2");
    });

    it("runs update (with the previous stdout) for a change other than triggers when there is an update command", () => {
        const { state } = run(EMPTY, [cmd("u", { update: "refresh" })]);
        const plan = planApply(state, [cmd("u", { update: "refresh", stdin: "script u v2" })]);
        expect(ops(plan.steps)).toEqual(["update:changed:u"]);
        expect(plan.steps[0].entry.stdout).toBe("out u script u");
    });

    it("R1 (before pulumi/pulumi#11027, `pendingDeletesFirst`): deletes what an earlier update left pending before any create", () => {
        const { state } = run(EMPTY, [cmd("a"), cmd("b")]);
        const pendingA = run(state, [cmd("a", { trigger: "g2", stdin: "v2" }), cmd("b")], "a").state;
        const plan = planApply(pendingA, [cmd("a", { trigger: "g3", stdin: "v3" }), cmd("b")], new Set(), { pendingDeletesFirst: true });
        expect(ops(plan.steps)).toEqual(["delete:replace:a", "create:replace:a", "delete:replace:a"]);
        expect(plan.steps[0].entry.inputs.stdin).toBe("script a");
        expect(plan.steps[1].after).toContain(plan.steps[0].key);
        expect(plan.steps[2].entry.inputs.stdin).toBe("v2");
    });

    it("deletes resources that left the program, dependents first", () => {
        const { state } = run(EMPTY, program);
        const plan = planApply(state, []);
        expect(ops(plan.steps)).toEqual(["delete:removed:c", "delete:removed:b", "delete:removed:a"]);
        const [c, b, a] = plan.steps;
        expect(a.after.sort()).toEqual([b.key, c.key].sort());
        plan.steps.forEach((s) => s.commit({ stdout: "", stderr: "" }));
        expect(plan.state.resources).toEqual([]);
    });

    it("keeps a failed create in the state and retries it on the next apply even without changes", () => {
        const { state } = run(EMPTY, program, "b");
        expect(state.resources.map((r) => [r.name, r.failed ?? false])).toEqual([["a", false], ["b", true]]);
        expect(ops(planApply(state, program).steps)).toEqual(["create:retry:b", "create:new:c"]);
    });

    it("keeps the old resource pending when its replacement fails, and deletes it once the replacement is in", () => {
        const { state } = run(EMPTY, [cmd("a")]);
        const v2 = [cmd("a", { trigger: "g2", stdin: "v2" })];
        const failed = run(state, v2, "a").state;
        expect(failed.pendingDeletes.map((p) => p.inputs.stdin)).toEqual(["script a"]);
        expect(failed.resources[0]).toMatchObject({ failed: true });
        const retry = planApply(failed, v2);
        expect(ops(retry.steps)).toEqual(["create:retry:a", "delete:replace:a"]);
        retry.steps.forEach((s) => s.commit({ stdout: "", stderr: "" }));
        expect(retry.state.pendingDeletes).toEqual([]);
        expect(retry.state.resources[0].inputs.stdin).toBe("v2");
    });
});

describe("engine rules (test/lab/ENGINE-RULES.md)", () => {
    it("R1: a delete left pending by an earlier update runs at the end of the next one, after every create (since pulumi/pulumi#11027)", () => {
        const { state } = run(EMPTY, [cmd("a"), cmd("b")]);
        const pendingA = run(state, [cmd("a", { trigger: "g2", stdin: "v2" }), cmd("b")], "a").state;
        const plan = planApply(pendingA, [cmd("a", { trigger: "g3", stdin: "v3" }), cmd("b", { stdin: "b v2" })]);
        expect(ops(plan.steps)).toEqual(["create:replace:a", "create:changed:b", "delete:replace:a", "delete:replace:a"]);
        expect(plan.steps.slice(2).map((s) => s.entry.inputs.stdin).sort()).toEqual(["script a", "v2"]);
        for (const d of plan.steps.slice(2)) expect(d.after).toEqual(expect.arrayContaining(["up:urn:a", "up:urn:b"]));
    });

    it("R2: a replacement creates the new resource first and deletes the old one (old inputs) after every create and update", () => {
        const { state } = run(EMPTY, [cmd("a"), cmd("b")]);
        const plan = planApply(state, [cmd("a", { trigger: "g2", stdin: "v2" }), cmd("b", { stdin: "b v2" })]);
        expect(ops(plan.steps)).toEqual(["create:replace:a", "create:changed:b", "delete:replace:a"]);
        expect(plan.steps[2]).toMatchObject({ entry: { inputs: { stdin: "script a" } }, after: ["up:urn:a", "up:urn:b"] });
    });

    it("R3: deleteBeforeReplace (from the new registration) deletes the old resource before creating the new one", () => {
        const { state } = run(EMPTY, [cmd("a")]);
        const plan = planApply(state, [cmd("a", { dbr: true, trigger: "g2" })]);
        expect(ops(plan.steps)).toEqual(["delete:replace:a", "create:replace:a"]);
        expect(plan.steps[1].after).toContain(plan.steps[0].key);
    });

    it("R4: a trigger change replaces the resource even when it has an update command (triggers are replaceOnChanges in command 1.2.1)", () => {
        const { state } = run(EMPTY, [cmd("u", { update: "refresh" })]);
        expect(ops(planApply(state, [cmd("u", { update: "refresh", trigger: "g2" })]).steps)).toEqual(["create:replace:u", "delete:replace:u"]);
    });

    it("R5: any other input change is an update, which runs `create` again when there is no `update` command", () => {
        const { state } = run(EMPTY, [cmd("a"), cmd("u", { update: "refresh" })]);
        const plan = planApply(state, [cmd("a", { stdin: "a v2" }), cmd("u", { update: "refresh", stdin: "u v2" })]);
        expect(plan.steps.map((s) => [s.entry.name, s.op, s.reason])).toEqual([["a", "create", "changed"], ["u", "update", "changed"]]);
    });

    it("R6: a failed create stays in the state (init errors) and is updated on the next apply although nothing changed", () => {
        const { state } = run(EMPTY, [cmd("a"), cmd("u", { update: "refresh" })], "u");
        expect(state.resources.find((r) => r.name === "u")).toMatchObject({ failed: true });
        expect(ops(planApply(state, [cmd("a"), cmd("u", { update: "refresh" })]).steps)).toEqual(["update:retry:u"]);
    });

    it("R7: when the replacement's create fails, the old resource is kept pending delete and deleted by the apply that gets the replacement in", () => {
        const { state } = run(EMPTY, [cmd("a")]);
        const failed = run(state, [cmd("a", { trigger: "g2", stdin: "v2" })], "a").state;
        expect(failed.pendingDeletes.map((p) => p.inputs.stdin)).toEqual(["script a"]);
        expect(ops(planApply(failed, [cmd("a", { trigger: "g2", stdin: "v2" })]).steps)).toEqual(["create:retry:a", "delete:replace:a"]);
    });

    it("R8: a resource waits for what it dependsOn; deletes run dependents first", () => {
        const program = [cmd("a"), cmd("b", { after: ["a"] }), cmd("c", { host: "198.18.0.11", after: ["b"] })];
        const { steps, state } = run(EMPTY, program);
        expect(steps.map((s) => [s.entry.name, s.after])).toEqual([["a", []], ["b", ["up:urn:a"]], ["c", ["up:urn:b"]]]);
        const removal = planApply(state, []);
        expect(ops(removal.steps)).toEqual(["delete:removed:c", "delete:removed:b", "delete:removed:a"]);
        expect(removal.steps[1].after).toEqual([removal.steps[0].key]);
        expect(removal.steps[2].after).toEqual([removal.steps[1].key]);
    });

    it("R9: after a failure nothing new starts, calls in flight finish and are committed", async () => {
        const { steps, state } = planApply(EMPTY, [cmd("a"), cmd("b", { after: ["a"] }), cmd("x", { host: "198.18.0.11" }), cmd("y", { host: "198.18.0.12" })]);
        const fake = fakeProvider({ a: { code: 1, ms: 5 }, x: { code: 0, ms: 40 }, y: { code: 0, ms: 40 } });
        const outcome = await runSteps(steps, fake.run, undefined, 10);
        expect(state.resources.map((r) => [r.name, r.failed ?? false])).toEqual([["a", true], ["x", false], ["y", false]]);
        expect(outcome.failure?.resource).toBe("a");
        expect(outcome.skipped).toEqual([{ resource: "b", op: "create" }]);
        expect(outcome.operations.map((o) => [o.resource, o.code])).toEqual([["a", 1], ["x", 0], ["y", 0]]);
        expect(fake.finished).toEqual(["a", "x", "y"]);
    });

    it("R10: at most `parallel` operations at once (default four per CPU, PULUMI_PARALLEL overrides); the harness runs one at a time per host", async () => {
        expect(defaultParallel({})).toBe(4 * require("os").availableParallelism());
        expect(defaultParallel({ PULUMI_PARALLEL: "3" })).toBe(3);
        const hosts = ["198.18.0.10", "198.18.0.11", "198.18.0.12", "198.18.0.13"];
        const program = hosts.flatMap((host, i) => [cmd(`s${i}`, { host }), cmd(`t${i}`, { host })]);
        const bounded = fakeProvider({});
        await runSteps(planApply(EMPTY, program).steps, bounded.run, undefined, 2);
        expect(bounded.maxInFlight).toBe(2);
        const unbounded = fakeProvider({});
        await runSteps(planApply(EMPTY, program).steps, unbounded.run, undefined, 100);
        expect(unbounded.maxInFlight).toBe(hosts.length);
        expect(unbounded.maxInFlightPerHost).toBe(1);
    });

    it("R11: the harness's state holds inputs in clear, secrets included (the engine encrypts them: a deliberate difference)", () => {
        const { state } = run(EMPTY, [cmd("a", { stdin: "PRIVATE KEY material" })]);
        expect(state.resources[0].inputs.stdin).toBe("PRIVATE KEY material");
    });

    it("R12: update and delete get the previous output in PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false; environment always", () => {
        const { state } = run(EMPTY, [cmd("a", { env: { MODE: "x" }, update: "refresh" }), cmd("q", { previousOutput: false })]);
        const changed = planApply(state, [cmd("a", { env: { MODE: "x" }, update: "refresh", stdin: "v2" }), cmd("q", { previousOutput: false, stdin: "v2" })]);
        const envOf = (name: string, op: Step["op"]) => commandEnvironment({ ...changed.steps.find((s) => s.entry.name === name)!, op });
        expect(envOf("a", "update")).toEqual({ MODE: "x", PULUMI_COMMAND_STDOUT: "out a script a" });
        expect(envOf("a", "delete")).toEqual({ MODE: "x", PULUMI_COMMAND_STDOUT: "out a script a" });
        expect(envOf("a", "create")).toEqual({ MODE: "x" });
        expect(envOf("q", "create")).toEqual({});
        expect(envOf("q", "delete")).toEqual({});
    });
});

describe("Harness.preview", () => {
    it("lists what an apply would run (pulumi preview) and runs nothing", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-preview-"));
        try {
            // No host is contacted: a preview only evaluates the program and plans.
            const harness = new Harness({ dir, hosts: [] } as unknown as Lab, path.join(dir, "state.json"));
            const program = () => {
                new remote.Command("x", { connection: { host: "198.18.0.10", privateKey: "KEY" }, create: "true", delete: "true" });
            };
            expect(await harness.preview(program)).toEqual([{ resource: "x", op: "create", reason: "new" }]);
            expect(harness.state().resources).toEqual([]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

/** A provider stand-in for runSteps: each call takes `ms` and exits with `code` (0 by default); records concurrency. */
function fakeProvider(behaviour: Record<string, { code: number; ms: number }>) {
    const finished: string[] = [];
    const inFlightPerHost = new Map<string, number>();
    let inFlight = 0;
    const stats = { finished, maxInFlight: 0, maxInFlightPerHost: 0 };
    const run = async (s: Step): Promise<Operation> => {
        const host = String(s.entry.inputs.connection.host);
        inFlight++;
        inFlightPerHost.set(host, (inFlightPerHost.get(host) ?? 0) + 1);
        stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
        stats.maxInFlightPerHost = Math.max(stats.maxInFlightPerHost, inFlightPerHost.get(host)!);
        const { code, ms } = behaviour[s.entry.name] ?? { code: 0, ms: 10 };
        await new Promise((resolve) => setTimeout(resolve, ms));
        inFlight--;
        inFlightPerHost.set(host, inFlightPerHost.get(host)! - 1);
        finished.push(s.entry.name);
        return { resource: s.entry.name, urn: s.entry.urn, host, op: s.op, reason: s.reason, code, stdout: "", stderr: "", durationMs: ms };
    };
    return Object.assign(stats, { run });
}
