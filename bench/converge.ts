/**
 * npm run bench:converge (root): converging the example estate on lab hosts, for 6
 * and 12 hosts (`npm run bench:converge -- 6 12`; `-- 12 --only certificate` for one
 * mesh without its baseline): first apply, no-op apply, drift
 * check (tools/check.ts), destroy; wall time including the program's evaluations,
 * SSH sessions per host, operation time per component. Every host also runs LXD and
 * all of them form ONE mesh (a full mesh, as in issue 16's comparison: the example's
 * meshes are pairs, which never grow).
 *
 * Baseline, in the same process: the same estate with the old token mesh
 * (`trust: "token"`, remotes added one by one over the network), on a lab of its own
 * prepared the same way. Targets: 12 hosts first converge <= 12 s; the mesh's share
 * no longer grows with N². The first apply is also shown in time (when each mesh
 * step kind and each other component's steps ran, and how long nothing ran).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { exampleEstate } from "../scripts/gen-example";
import { checkCommands, CheckReport, opensshSession } from "../tools/check";
import { recordProgram } from "../tools/record";
import { ApplyResult, Harness } from "../test/lab/harness";
import { BACKEND_HOST, demoConfig, DemoEnvironment, loadProgram, OCSP_HOST, PROJECT, prepareHosts } from "../test/lab/demo";
import { labPrerequisites, startLab } from "../test/lab/lab";
import { startLxd } from "../test/lxd/lxd-lab";

const TARGET_FIRST_CONVERGE_SECONDS_AT_12 = 12;

/**
 * CPU time of this process and of everything it starts (the lab's hosts, their
 * daemons and SSH sessions, the SSH clients), in seconds: this process moves into a
 * cpuacct cgroup of its own (cgroup v1; v2's cpu.stat where that is what the machine
 * has). On a machine others share it is the figure that does not move with their load;
 * on 2 CPUs a phase cannot take less wall time than half its CPU time.
 */
function cpuMeter(): { seconds: () => number; close: () => void } | undefined {
    const v1 = "/sys/fs/cgroup/cpuacct";
    const v2 = "/sys/fs/cgroup";
    const [root, read] = fs.existsSync(`${v1}/cpuacct.usage`)
        ? [v1, (dir: string) => Number(fs.readFileSync(`${dir}/cpuacct.usage`, "utf8")) / 1e9]
        : fs.existsSync(`${v2}/cgroup.controllers`)
          ? [v2, (dir: string) => Number(/usage_usec (\d+)/.exec(fs.readFileSync(`${dir}/cpu.stat`, "utf8"))?.[1]) / 1e6]
          : [undefined, undefined];
    if (!root || !read) return undefined;
    const own = `${root}/hostwright-bench-converge-${process.pid}`;
    const before = /^\d+:[^:]*cpuacct[^:]*:(.*)$/m.exec(fs.readFileSync("/proc/self/cgroup", "utf8"))?.[1] ?? /^0::(.*)$/m.exec(fs.readFileSync("/proc/self/cgroup", "utf8"))?.[1] ?? "/";
    try {
        fs.mkdirSync(own);
        fs.writeFileSync(`${own}/cgroup.procs`, String(process.pid));
    } catch {
        return undefined; // not allowed here (a container without cgroup rights)
    }
    return {
        seconds: () => read(own),
        close: () => {
            fs.writeFileSync(`${root}${before === "/" ? "" : before}/cgroup.procs`, String(process.pid));
            try {
                fs.rmdirSync(own);
            } catch {
                // a process of the lab still in it: the directory stays empty-handed
            }
        },
    };
}
type Trust = "certificate" | "token";

interface PhaseFigures {
    seconds: number;
    /** CPU seconds of the bench and the lab during the phase ({@link cpuMeter}); NaN where it cannot be measured. */
    cpuSeconds: number;
    operations: number;
    /** SSH sessions per host: min-max. */
    sessions: string;
}

interface Run {
    hosts: number;
    trust: Trust;
    evalSeconds: number;
    first: PhaseFigures & { passes: number };
    noop: PhaseFigures;
    check: PhaseFigures & { drifted: number };
    destroy: PhaseFigures;
    /** Operation time of the first apply per component type, in seconds (summed over hosts). */
    perComponent: Record<string, number>;
    /** Longest LXD remotes step of the first apply, seconds. */
    remotesStepMax: number;
    /** The mesh's steps in the first apply by kind (probe, serve, remotes; trust before 2026-11-26): mean and longest, seconds. */
    meshSteps: Record<string, { mean: number; max: number }>;
    /** First apply: when each mesh step kind and each other component's steps ran (first start, last end), seconds from the apply's start. */
    timeline: Record<string, { from: number; to: number }>;
    /** First apply: seconds in which no operation ran (the program's evaluations between passes, planning). */
    idleSeconds: number;
}

/** An operation of the first apply, placed in time (the harness reports each as it finishes). */
interface Span {
    kind: string;
    from: number;
    to: number;
}

function timelineOf(spans: Span[]): Run["timeline"] {
    const out: Run["timeline"] = {};
    for (const s of spans) out[s.kind] = { from: Math.min(out[s.kind]?.from ?? Infinity, s.from), to: Math.max(out[s.kind]?.to ?? 0, s.to) };
    return out;
}

/** Time within [0, total] covered by no span. */
function idle(spans: Span[], total: number): number {
    let covered = 0;
    let reach = 0;
    for (const s of [...spans].sort((a, b) => a.from - b.from)) {
        if (s.to > reach) {
            covered += s.to - Math.max(s.from, reach);
            reach = s.to;
        }
    }
    return total - covered;
}

/** `hostwright:lxd:RemoteMesh` from `urn:pulumi:S::P::hostwright:lxd:RemoteMesh$command:remote:Command::NAME`. */
function componentOf(urn: string): string {
    const types = urn.split("::")[2]?.split("$") ?? [];
    return types.length > 1 ? types[types.length - 2] : "(none)";
}

function meshSteps(ops: ApplyResult["operations"]): Run["meshSteps"] {
    const byKind = new Map<string, number[]>();
    for (const o of ops) {
        const kind = /^mesh-.*-(\w+)$/.exec(o.resource)?.[1];
        if (kind) byKind.set(kind, [...(byKind.get(kind) ?? []), o.durationMs / 1e3]);
    }
    return Object.fromEntries([...byKind].map(([k, xs]) => [k, { mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs) }]));
}

function sessionsPerHost(ops: ApplyResult["operations"], hosts: string[]): string {
    const count = new Map(hosts.map((h) => [h, 0]));
    for (const o of ops) if (o.hostName && count.has(o.hostName)) count.set(o.hostName, count.get(o.hostName)! + 1);
    const values = [...count.values()];
    return `${Math.min(...values)}-${Math.max(...values)}`;
}

let meter: ReturnType<typeof cpuMeter>;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
    const cpu0 = meter?.seconds() ?? NaN;
    const t0 = process.hrtime.bigint();
    const value = await work();
    return { value, seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuSeconds: (meter?.seconds() ?? NaN) - cpu0 };
}

async function converge(hosts: number, trust: Trust): Promise<Run> {
    const estate = exampleEstate(hosts);
    const names = (JSON.parse(estate.values["hostwright:inventory"]).hosts as Array<{ name: string }>).map((h) => h.name);
    // The lab answers every OpenStack look-up with the same VM on the first compute
    // node (see bench/check.ts): one copy of the looked-up mirror stays.
    const ovs = JSON.parse(estate.values["hostwright:ovs"] ?? "[]") as Array<Record<string, unknown>>;
    const firstLookedUp = ovs.findIndex((m) => m.openstack);
    const values = {
        ...estate.values,
        "hostwright:ovs": JSON.stringify(ovs.filter((m, i) => !m.openstack || i === firstLookedUp)),
        // port 9443: the example's portal proxy listens on LXD's default 8443
        "hostwright:lxd": JSON.stringify([{ name: "mesh", hosts: names.map((host) => ({ host, apiPort: 9443 })), trust, migration: "stateless" }]),
    };
    const lab = await startLab({ hosts: [...names, BACKEND_HOST, OCSP_HOST] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hw-bench-converge-"));
    try {
        const demo = demoConfig(values, lab, dir);
        const env: DemoEnvironment = { dir, trustFile: demo.trustFile, addresses: Object.fromEntries(lab.hosts.map((h) => [h.name, h.address])), vms: {}, collectors: {} };
        const invoke = await prepareHosts(lab, demo, env, () => undefined);
        // every host in the mesh: LXD where the demo did not start it (role lxd)
        const roles = new Map((JSON.parse(demo.config["hostwright:inventory"]).hosts as Array<{ name: string; labels?: Record<string, string> }>).map((h) => [h.name, h.labels?.role]));
        await Promise.all(names.filter((n) => roles.get(n) !== "lxd").map((n) => startLxd(lab.host(n))));

        const opts = { project: PROJECT, stack: "bench", config: demo.config, secretKeys: [...estate.secretKeys], invoke };
        const harness = new Harness(lab, path.join(dir, "state.json"));
        const program = loadProgram();
        // one evaluation of the program (the apply evaluates it once per pass)
        const evaluation = await timed(() => recordProgram(program, { ...opts, preview: true, printWarnings: false }));

        const spans: Span[] = [];
        const t0 = Date.now();
        const onOperation = (o: ApplyResult["operations"][number]) => {
            const to = (Date.now() - t0) / 1e3;
            const kind = /^mesh-.*-(\w+)$/.exec(o.resource)?.[1];
            spans.push({ kind: kind ? `mesh ${kind}` : componentOf(o.urn).replace(/^hostwright:/, ""), from: to - o.durationMs / 1e3, to });
        };
        const first = await timed(() => harness.apply(program, { ...opts, onOperation }));
        if (!first.value.ok) throw new Error(`first apply (${trust}, ${hosts} hosts) failed: ${first.value.error}`);
        const noop = await timed(() => harness.apply(program, opts));
        if (!noop.value.ok) throw new Error(`no-op apply failed: ${noop.value.error}`);

        const inventory = JSON.parse(demo.config["hostwright:inventory"]).hosts as Array<{ name: string; address: string }>;
        const session = opensshSession((argv) => ["nsenter", `--net=${lab.switchNs}`, "--", ...argv]);
        const check = await timed(async (): Promise<CheckReport> => {
            const byName = new Map(harness.state().resources.map((r) => [r.name, r]));
            const rec = await recordProgram(program, { ...opts, preview: true, printWarnings: false, commandState: (_t, name) => byName.get(name) });
            return checkCommands(rec.commands, { session, hostNames: Object.fromEntries(inventory.map((h) => [h.name, `${h.address}:22`])) });
        });
        if (check.value.hosts.some((h) => h.status !== "ok")) {
            throw new Error(`drift check after the apply: ${check.value.hosts.filter((h) => h.status !== "ok").map((h) => `${h.host} ${h.status}`).join(", ")}`);
        }
        const destroy = await timed(() => harness.destroy());
        if (!destroy.value.ok) throw new Error(`destroy failed: ${destroy.value.error}`);

        const perComponent: Record<string, number> = {};
        for (const o of first.value.operations) perComponent[componentOf(o.urn)] = (perComponent[componentOf(o.urn)] ?? 0) + o.durationMs / 1e3;
        const checkSessions = check.value.hosts.map((h) => h.sessions);
        return {
            hosts,
            trust,
            evalSeconds: evaluation.seconds,
            first: { seconds: first.seconds, cpuSeconds: first.cpuSeconds, operations: first.value.operations.length, sessions: sessionsPerHost(first.value.operations, names), passes: first.value.passes },
            noop: { seconds: noop.seconds, cpuSeconds: noop.cpuSeconds, operations: noop.value.operations.length, sessions: sessionsPerHost(noop.value.operations, names) },
            check: { seconds: check.seconds, cpuSeconds: check.cpuSeconds, operations: check.value.totals.steps, sessions: `${Math.min(...checkSessions)}-${Math.max(...checkSessions)}`, drifted: check.value.totals.driftedSteps },
            destroy: { seconds: destroy.seconds, cpuSeconds: destroy.cpuSeconds, operations: destroy.value.operations.length, sessions: sessionsPerHost(destroy.value.operations, names) },
            perComponent,
            remotesStepMax: Math.max(...first.value.operations.filter((o) => /^mesh-.*-remotes$/.test(o.resource)).map((o) => o.durationMs / 1e3)),
            meshSteps: meshSteps(first.value.operations),
            timeline: timelineOf(spans),
            idleSeconds: idle(spans, first.seconds),
        };
    } finally {
        await lab.down();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

function print(runs: Run[]): void {
    const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
    console.log(`converge of the example estate with a full LXD mesh, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load average now ${load}`);
    console.log("hosts  mesh trust   eval s  first apply s (passes, ops, ssh/host)  no-op s  check s (ssh/host)  destroy s  remotes step max s  mesh share");
    for (const r of runs) {
        const total = Object.values(r.perComponent).reduce((a, b) => a + b, 0);
        const mesh = r.perComponent["hostwright:lxd:RemoteMesh"] ?? 0;
        console.log(
            `${String(r.hosts).padStart(5)}  ${r.trust.padEnd(11)}  ${r.evalSeconds.toFixed(2).padStart(6)}  ${`${r.first.seconds.toFixed(2)} (${r.first.passes}, ${r.first.operations}, ${r.first.sessions})`.padStart(35)}  ${r.noop.seconds.toFixed(2).padStart(7)}  ${`${r.check.seconds.toFixed(2)} (${r.check.sessions})`.padStart(18)}  ${r.destroy.seconds.toFixed(2).padStart(9)}  ${r.remotesStepMax.toFixed(2).padStart(18)}  ${`${((mesh / total) * 100).toFixed(0)}%`.padStart(10)}`,
        );
    }
    console.log("\nCPU seconds of the bench and its lab (a cgroup of their own), per phase; on this machine a phase takes at least CPU / CPUs of wall time:");
    for (const r of runs) {
        const cpu = (p: PhaseFigures) => `${p.cpuSeconds.toFixed(1)} (>= ${(p.cpuSeconds / os.cpus().length).toFixed(1)} s)`;
        console.log(`  ${r.hosts}/${r.trust}: first apply ${cpu(r.first)}, no-op ${cpu(r.noop)}, check ${cpu(r.check)}, destroy ${cpu(r.destroy)}`);
    }
    console.log("\noperation time per component in the first apply, s (summed over hosts):");
    const components = [...new Set(runs.flatMap((r) => Object.keys(r.perComponent)))].sort();
    console.log(`${"component".padEnd(28)}${runs.map((r) => `${r.hosts}/${r.trust}`.padStart(16)).join("")}`);
    for (const c of components) console.log(`${c.padEnd(28)}${runs.map((r) => (r.perComponent[c] ?? 0).toFixed(2).padStart(16)).join("")}`);

    console.log("\nthe mesh's steps in the first apply, mean / longest s:");
    for (const r of runs) console.log(`  ${r.hosts}/${r.trust}: ${Object.entries(r.meshSteps).map(([k, v]) => `${k} ${v.mean.toFixed(2)} / ${v.max.toFixed(2)}`).join(", ")}`);

    console.log("\nthe first apply in time, s from its start (first start - last end; idle: no operation running, i.e. evaluations between passes):");
    for (const r of runs) {
        const spans = Object.entries(r.timeline).sort((a, b) => a[1].from - b[1].from);
        console.log(`  ${r.hosts}/${r.trust}: ${spans.map(([k, v]) => `${k} ${v.from.toFixed(2)}-${v.to.toFixed(2)}`).join(", ")}; idle ${r.idleSeconds.toFixed(2)}`);
    }

    console.log("\nratios, certificate mesh against the token mesh of the same size (same process):");
    for (const cert of runs.filter((r) => r.trust === "certificate")) {
        const token = runs.find((r) => r.trust === "token" && r.hosts === cert.hosts);
        if (!token) continue;
        const meshOf = (r: Run) => r.perComponent["hostwright:lxd:RemoteMesh"] ?? 0;
        console.log(
            `  ${cert.hosts} hosts: first apply ${(cert.first.seconds / token.first.seconds).toFixed(2)}x, mesh operation time ${(meshOf(cert) / meshOf(token)).toFixed(2)}x, remotes step ${(cert.remotesStepMax / token.remotesStepMax).toFixed(2)}x, destroy ${(cert.destroy.seconds / token.destroy.seconds).toFixed(2)}x`,
        );
    }
    const sizes = [...new Set(runs.map((r) => r.hosts))].sort((a, b) => a - b);
    if (sizes.length > 1) {
        const [small, big] = [sizes[0], sizes[sizes.length - 1]];
        for (const trust of ["certificate", "token"] as Trust[]) {
            const a = runs.find((r) => r.hosts === small && r.trust === trust);
            const b = runs.find((r) => r.hosts === big && r.trust === trust);
            if (!a || !b) continue;
            const meshOf = (r: Run) => r.perComponent["hostwright:lxd:RemoteMesh"] ?? 0;
            console.log(
                `  ${trust} mesh, ${small} -> ${big} hosts (${((big / small) ** 2).toFixed(0)}x pairs): mesh operation time ${(meshOf(b) / meshOf(a)).toFixed(2)}x, per host ${((meshOf(b) / big) / (meshOf(a) / small)).toFixed(2)}x, remotes step ${(b.remotesStepMax / a.remotesStepMax).toFixed(2)}x`,
            );
        }
    }
    const at12 = runs.find((r) => r.hosts === 12 && r.trust === "certificate");
    if (at12) console.log(`\n12 hosts, first converge ${at12.first.seconds.toFixed(2)} s (target <= ${TARGET_FIRST_CONVERGE_SECONDS_AT_12} s: ${at12.first.seconds <= TARGET_FIRST_CONVERGE_SECONDS_AT_12 ? "met" : "MISSED"})`);
}

async function main(): Promise<void> {
    const pre = labPrerequisites();
    if (!pre.ok) throw new Error(`bench:converge needs the lab: ${pre.reason}`);
    const args = process.argv.slice(2);
    const sizes = args.map(Number).filter((n) => n > 0);
    // `--only certificate` (or token): one mesh, no baseline (for profiling)
    const only = args.includes("--only") ? (args[args.indexOf("--only") + 1] as Trust) : undefined;
    meter = cpuMeter();
    const runs: Run[] = [];
    for (const hosts of sizes.length > 0 ? sizes : [6, 12]) {
        for (const trust of (["token", "certificate"] as Trust[]).filter((t) => !only || t === only)) {
            runs.push(await converge(hosts, trust));
            console.error(`bench:converge: ${hosts} hosts, ${trust} mesh: first apply ${runs[runs.length - 1].first.seconds.toFixed(2)} s`);
        }
    }
    meter?.close();
    print(runs);
}

main().catch((e) => {
    console.error(`bench:converge: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
});
