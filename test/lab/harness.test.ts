/**
 * The harness's planner without a lab: which provider calls an apply makes for a
 * given state and recording, in which order, and what the state becomes.
 */
import type { RecordedResource } from "../../tools/record";
import { HarnessState, planApply, Step } from "./harness";

const conn = (host: string) => ({ host, port: 22, user: "root", privateKey: "KEY", hostKey: "ssh-ed25519 AAAA" });

function cmd(name: string, opts: { host?: string; stdin?: string; trigger?: string; update?: string; after?: string[]; dbr?: boolean } = {}): RecordedResource {
    const inputs: Record<string, unknown> = { connection: conn(opts.host ?? "198.18.0.10"), create: "/bin/bash -s", delete: `undo ${name}`, stdin: opts.stdin ?? `script ${name}`, triggers: [opts.trigger ?? "g1"] };
    if (opts.update) inputs.update = opts.update;
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

    it("deletes first with deleteBeforeReplace", () => {
        const { state } = run(EMPTY, [cmd("a", { dbr: true })]);
        const plan = planApply(state, [cmd("a", { dbr: true, trigger: "g2" })]);
        expect(ops(plan.steps)).toEqual(["delete:replace:a", "create:replace:a"]);
        expect(plan.steps[1].after).toEqual(["replace:urn:a"]);
    });

    it("runs update (with the previous stdout) for a change other than triggers when there is an update command", () => {
        const { state } = run(EMPTY, [cmd("u", { update: "refresh" })]);
        const plan = planApply(state, [cmd("u", { update: "refresh", stdin: "script u v2" })]);
        expect(ops(plan.steps)).toEqual(["update:changed:u"]);
        expect(plan.steps[0].entry.stdout).toBe("out u script u");
    });

    it("replaces on a trigger change even with an update command (command 1.2.1: triggers are replaceOnChanges)", () => {
        const { state } = run(EMPTY, [cmd("u", { update: "refresh" })]);
        expect(ops(planApply(state, [cmd("u", { update: "refresh", trigger: "g2" })]).steps)).toEqual(["create:replace:u", "delete:replace:u"]);
    });

    it("retries a failed create with the update command when there is one", () => {
        const { state } = run(EMPTY, [cmd("u", { update: "refresh" })], "u");
        expect(ops(planApply(state, [cmd("u", { update: "refresh" })]).steps)).toEqual(["update:retry:u"]);
    });

    it("with pendingDeletesFirst, deletes what an earlier update left pending before any create (the engine before pulumi/pulumi#11027)", () => {
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
