/**
 * The apply harness against real lab hosts: provider semantics (create, no-op,
 * replace, delete), failure reporting, outputs from real stdout, and clean undo.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { connectionFor } from "../../core/host";
import { remoteStep, stepReport } from "../../core/remoteStep";
import type { Host } from "../../core/host";
import type { StepInput } from "../../core/remoteStep";
import { Lab, labDescribe, snapshotTree, startLab } from "./lab";
import { ApplyResult, Harness, labStackConfig } from "./harness";

/**
 * Overlayfs copies a directory's parents up into the upper layer when something is
 * created inside it; they stay there (unchanged) after the undo removed what it made.
 */
const COPIED_UP_PARENTS = ["var", "var/lib"];

interface StepDecl {
    name: string;
    host: string;
    step: StepInput;
    after?: string[];
    deleteBeforeReplace?: boolean;
}

/** A component declaring the given steps, exporting every step's hw_output values. */
class Steps extends pulumi.ComponentResource {
    readonly reports: Record<string, pulumi.Output<Record<string, string>>> = {};
    constructor(name: string, hosts: Map<string, Host>, steps: StepDecl[]) {
        super("hostwright:test:Steps", name, {}, {});
        const made = new Map<string, pulumi.Resource>();
        for (const s of steps) {
            const cmd = remoteStep(s.name, { host: hosts.get(s.host)!, step: s.step, dependsOn: (s.after ?? []).map((a) => made.get(a)!), deleteBeforeReplace: s.deleteBeforeReplace }, { parent: this });
            made.set(s.name, cmd);
            this.reports[s.name] = stepReport(cmd).apply((r) => r.values);
        }
        this.registerOutputs({});
    }
}

const summary = (r: ApplyResult) => r.operations.map((o) => `${o.op}:${o.reason}:${o.resource}@${o.hostName}=${o.code}`);

labDescribe("apply harness", () => {
    let lab: Lab;
    let hosts: Map<string, Host>;
    let stateCount = 0;
    const program = (steps: StepDecl[]) => () => ({ reports: new Steps("t", hosts, steps).reports });
    const harness = () => new Harness(lab, `${lab.dir}/state-${++stateCount}.json`);
    const accepted = async (host: string) => (await lab.host(host).exec("grep -c 'Accepted publickey' /run/hostwright-lab/sshd.log || true")).stdout.trim();

    beforeAll(async () => {
        lab = await startLab({ hosts: ["h1", "h2"] });
        hosts = new Map(lab.hosts.map((h) => [h.name, h.inventory()]));
    }, 60_000);
    afterAll(() => lab?.down());

    it("apply then destroy of a trivial step leaves the host's upper layer as it was; outputs carry the real stdout", async () => {
        const h = harness();
        const before = snapshotTree(lab.host("h1").upperDir);
        const steps: StepDecl[] = [{ name: "trivial", host: "h1", step: { description: "trivial file", files: [{ path: "/etc/hw-trivial.conf", content: pulumi.secret("x = 1\n") }], activate: "hw_output size \"$(wc -c < /etc/hw-trivial.conf)\"" } }];

        const applied = await h.apply(program(steps));
        expect(applied.error).toBeUndefined();
        // the host's library step first (core/library.ts), deleted last
        expect(summary(applied)).toEqual(["create:new:hostwright-lib-h1@h1=0", "create:new:trivial@h1=0"]);
        expect(applied.outputs).toEqual({ reports: { trivial: { size: "6" } } });
        expect((await lab.host("h1").ssh("cat /etc/hw-trivial.conf")).stdout).toBe("x = 1\n");

        const destroyed = await h.destroy();
        expect(summary(destroyed)).toEqual(["delete:destroy:trivial@h1=0", "delete:destroy:hostwright-lib-h1@h1=0"]);
        expect(h.state().resources).toEqual([]);
        const after = snapshotTree(lab.host("h1").upperDir);
        for (const dir of COPIED_UP_PARENTS) if (!(dir in before)) expect(after[dir]).toMatch(/^dir /);
        expect((await lab.host("h1").exec("test -e /var/lib/hostwright; echo $?")).stdout.trim()).toBe("1");
        expect(Object.fromEntries(Object.entries(after).filter(([p]) => !COPIED_UP_PARENTS.includes(p) || p in before))).toEqual(before);
    }, 60_000);

    it("a second apply with no change runs zero scripts (no SSH login at all)", async () => {
        const h = harness();
        const steps: StepDecl[] = [
            { name: "same-a", host: "h1", step: { description: "a", files: [{ path: "/etc/hw-same-a", content: "a\n" }] } },
            { name: "same-b", host: "h2", step: { description: "b", activate: "hw_output peer done" }, after: ["same-a"] },
        ];
        expect((await h.apply(program(steps))).operations).toHaveLength(4);
        const logins = [await accepted("h1"), await accepted("h2")];
        const again = await h.apply(program(steps));
        expect(again.ok).toBe(true);
        expect(again.operations).toEqual([]);
        expect([await accepted("h1"), await accepted("h2")]).toEqual(logins);
        expect(again.outputs).toEqual({ reports: { "same-a": {}, "same-b": { peer: "done" } } });
        expect((await h.destroy()).ok).toBe(true);
    }, 60_000);

    it("a failing step leaves later steps unrun and reports host, step, exit code and stderr; a fixed program then completes", async () => {
        const h = harness();
        const steps = (failing: boolean): StepDecl[] => [
            { name: "ok-first", host: "h1", step: { description: "first", files: [{ path: "/etc/hw-first", content: "1\n" }] } },
            { name: "breaks", host: "h1", step: { description: "breaks", preflight: failing ? "hw_fail 'disk on fire'" : ":" } },
            { name: "after-same-host", host: "h1", step: { description: "later", files: [{ path: "/etc/hw-later", content: "2\n" }] } },
            { name: "after-other-host", host: "h2", step: { description: "dependent", files: [{ path: "/etc/hw-dependent", content: "3\n" }] }, after: ["breaks"] },
        ];
        const failed = await h.apply(program(steps(true)));
        expect(failed.ok).toBe(false);
        expect(failed.failure).toMatchObject({ resource: "breaks", hostName: "h1", host: lab.host("h1").address, op: "create", code: 1 });
        expect(failed.failure!.stderr).toContain("ERROR: disk on fire");
        expect(failed.error).toMatch(/^create of breaks on h1 failed \(exit 1\): .*disk on fire/);
        expect(failed.skipped).toEqual([{ resource: "after-same-host", op: "create" }, { resource: "after-other-host", op: "create" }]);
        expect(summary(failed).sort()).toEqual(["create:new:hostwright-lib-h1@h1=0", "create:new:hostwright-lib-h2@h2=0", "create:new:ok-first@h1=0", "create:new:breaks@h1=1"].sort());
        expect((await lab.host("h1").exec("test -e /etc/hw-later || echo absent")).stdout).toBe("absent\n");
        expect((await lab.host("h2").exec("test -e /etc/hw-dependent || echo absent")).stdout).toBe("absent\n");

        const fixed = await h.apply(program(steps(false)));
        expect(fixed.error).toBeUndefined();
        expect(summary(fixed).sort()).toEqual(["create:replace:breaks@h1=0", "create:new:after-other-host@h2=0", "create:new:after-same-host@h1=0", "delete:replace:breaks@h1=0"].sort());
        expect((await h.destroy()).ok).toBe(true);
    }, 60_000);

    it("replaces a changed step (create new, then delete old; delete first with deleteBeforeReplace) and deletes removed ones, dependents first", async () => {
        const h = harness();
        const decl = (v: string, dbr: boolean, withExtra: boolean): StepDecl[] => [
            { name: "conf", host: "h1", step: { description: "conf", files: [{ path: "/etc/hw-replace.conf", content: `v=${v}\n` }] } },
            { name: "conf-dbr", host: "h2", step: { description: "conf dbr", files: [{ path: "/etc/hw-dbr.conf", content: `v=${v}\n` }] }, deleteBeforeReplace: dbr },
            ...(withExtra ? [{ name: "extra", host: "h2", step: { description: "extra", files: [{ path: "/etc/hw-extra", content: "e\n" }] }, after: ["conf"] }] : []),
        ];
        expect((await h.apply(program(decl("1", true, true)))).ok).toBe(true);
        const changed = await h.apply(program(decl("2", true, false)));
        expect(changed.error).toBeUndefined();
        const ops = summary(changed);
        expect(ops.indexOf("create:replace:conf@h1=0")).toBeLessThan(ops.indexOf("delete:replace:conf@h1=0"));
        expect(ops.indexOf("delete:replace:conf-dbr@h2=0")).toBeLessThan(ops.indexOf("create:replace:conf-dbr@h2=0"));
        expect(ops).toContain("delete:removed:extra@h2=0");
        expect(ops).toHaveLength(5);
        const files = await lab.host("h1").exec("cat /etc/hw-replace.conf");
        expect(files.stdout).toBe("v=2\n");
        expect((await lab.host("h2").exec("cat /etc/hw-dbr.conf; test -e /etc/hw-extra || echo no-extra")).stdout).toBe("v=2\nno-extra\n");

        const destroyed = await h.destroy();
        expect(destroyed.ok).toBe(true);
        expect((await lab.host("h1").exec("test -e /etc/hw-replace.conf || echo gone")).stdout).toBe("gone\n");
    }, 60_000);

    it("runs update (with the previous stdout and the environment) on a plain change, and delete with stdin and the last stdout", async () => {
        const h = harness();
        const raw = (x: string) => () => {
            const cmd = new remote.Command("raw", {
                connection: connectionFor(hosts.get("h1")!),
                create: "echo \"created-$X-$(cat)\"",
                update: "echo \"updated-$X-from-$PULUMI_COMMAND_STDOUT\"",
                delete: "cat > /tmp/raw-deleted-stdin; printf %s \"$PULUMI_COMMAND_STDOUT\" > /tmp/raw-deleted-prev",
                environment: { X: x },
                stdin: "in",
            });
            return { out: cmd.stdout };
        };
        const created = await h.apply(raw("1"));
        expect(created.outputs).toEqual({ out: "created-1-in" });
        const updated = await h.apply(raw("2"));
        expect(summary(updated)).toEqual(["update:changed:raw@h1=0"]);
        expect(updated.outputs).toEqual({ out: "updated-2-from-created-1-in" });
        expect(summary(await h.destroy())).toEqual(["delete:destroy:raw@h1=0"]);
        expect((await lab.host("h1").exec("cat /tmp/raw-deleted-stdin; echo; cat /tmp/raw-deleted-prev")).stdout).toBe("in\nupdated-2-from-created-1-in");
    }, 60_000);

    it("evaluates the real program (index.ts) over the lab inventory built by labStackConfig", async () => {
        const main = require("../../index") as () => Record<string, unknown>;
        const { config, secretKeys } = labStackConfig(lab);
        const r = await harness().apply(() => main(), { config, secretKeys });
        expect(r.error).toBeUndefined();
        expect(r.outputs).toMatchObject({ hosts: { h1: expect.stringContaining("198.18.0.10"), h2: expect.stringContaining("198.18.0.11") } });
    }, 60_000);
});
