/**
 * npm run bench:check (root): the drift check (tools/check.ts) of the example estate
 * scaled to HOSTS lab hosts (default 12), prepared like real ones and applied first
 * (not timed): wall time including the program's evaluation, SSH sessions per host,
 * bytes sent, with nothing drifted and with drift planted on every third host.
 * Baseline, in the same process: one bare SSH session per host (`true`), all hosts
 * at once: the floor for reaching the estate. Target: under 5 s for 12 hosts.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { exampleEstate } from "../scripts/gen-example";
import { sh } from "../core/shell";
import { stagedFilesOf } from "../core/step";
import { checkCommands, CheckOptions, CheckReport } from "../tools/check";
import { recordProgram } from "../tools/record";
import { Harness, labCheckSession } from "../test/lab/harness";
import { BACKEND_HOST, demoConfig, DemoEnvironment, loadProgram, OCSP_HOST, PROJECT, prepareHosts } from "../test/lab/demo";
import { labPrerequisites, startLab } from "../test/lab/lab";

const TARGET_SECONDS = 5;
const RUNS = 3;

async function main(): Promise<void> {
    const pre = labPrerequisites();
    if (!pre.ok) throw new Error(`bench:check needs the lab: ${pre.reason}`);
    const hosts = Number(process.argv[2] ?? 12);
    const estate = exampleEstate(hosts);
    const names = (JSON.parse(estate.values["hostwright:inventory"]).hosts as Array<{ name: string }>).map((h) => h.name);
    const lab = await startLab({ hosts: [...names, BACKEND_HOST, OCSP_HOST] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hw-bench-check-"));
    try {
        // The lab answers every OpenStack look-up with the same VM on the first compute
        // node: the estate's copies of the looked-up mirror would be one port mirrored
        // twice to the same collector there. One of them stays.
        const ovs = JSON.parse(estate.values["hostwright:ovs"] ?? "[]") as Array<Record<string, unknown>>;
        const firstLookedUp = ovs.findIndex((m) => m.openstack);
        const values = { ...estate.values, "hostwright:ovs": JSON.stringify(ovs.filter((m, i) => !m.openstack || i === firstLookedUp)) };
        const demo = demoConfig(values, lab, dir);
        const env: DemoEnvironment = { dir, trustFile: demo.trustFile, addresses: Object.fromEntries(lab.hosts.map((h) => [h.name, h.address])), vms: {}, collectors: {} };
        const invoke = await prepareHosts(lab, demo, env, () => undefined);
        const opts = { project: PROJECT, stack: "bench", config: demo.config, secretKeys: [...estate.secretKeys], invoke };
        const harness = new Harness(lab, path.join(dir, "state.json"));
        const up = await harness.apply(loadProgram(), opts);
        if (!up.ok) throw new Error(`apply failed: ${up.error}`);
        const inventory = JSON.parse(demo.config["hostwright:inventory"]).hosts as Array<{ name: string; address: string }>;
        const session = labCheckSession(lab);
        const checkOpts: CheckOptions = { session, hostNames: Object.fromEntries(inventory.map((h) => [h.name, `${h.address}:22`])) };

        /** What `npm run check` does, timed: evaluate the program, then check every host. */
        const timedCheck = async (): Promise<{ seconds: number; evalSeconds: number; report: CheckReport }> => {
            const t0 = process.hrtime.bigint();
            const commands = await harness.declared(loadProgram(), opts);
            const evalSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
            const report = await checkCommands(commands, checkOpts);
            return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, evalSeconds, report };
        };
        const bare = async (): Promise<number> => {
            const t0 = process.hrtime.bigint();
            const connection = (h: { address: string }) => ({ host: h.address, port: 22, user: "root", privateKey: fs.readFileSync(`${lab.dir}/id_ed25519`, "utf8"), hostKey: lab.hosts.find((x) => x.address === h.address)!.hostKey });
            await Promise.all(inventory.map((h) => session(connection(h), "true", "")));
            return Number(process.hrtime.bigint() - t0) / 1e9;
        };
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

        const rows: string[] = [];
        for (const phase of ["nothing drifted", "drift planted"] as const) {
            if (phase === "drift planted") {
                // every third host: a hand edit of the first world-readable file a step manages there
                const steps = (await timedCheck()).report;
                for (const h of steps.hosts.filter((_, i) => i % 3 === 0)) {
                    const rec = await recordProgram(loadProgram(), { ...opts, preview: true, printWarnings: false });
                    const file = rec.commands
                        .filter((c) => `${c.inputs.connection?.host}:22` === h.address)
                        .flatMap((c) => stagedFilesOf(String(c.inputs.stdin ?? "")))
                        .find((f) => /[4-7]$/.test(f.mode));
                    if (file) await lab.host(h.host).exec(sh`echo '# hand edit' >> ${file.path}`);
                }
            }
            const runs = [];
            for (let i = 0; i < RUNS; i++) runs.push(await timedCheck());
            const bareSeconds = median([await bare(), await bare(), await bare()]);
            const last = runs[runs.length - 1].report;
            const sessions = last.hosts.map((h) => h.sessions);
            const bytes = last.hosts.reduce((n, h) => n + h.bytesSent, 0);
            const seconds = median(runs.map((r) => r.seconds));
            rows.push(
                `${phase.padEnd(16)}  ${String(last.hosts.length).padStart(5)}  ${String(last.totals.steps).padStart(5)}  ${String(last.totals.driftedSteps).padStart(7)}  ${seconds.toFixed(2).padStart(7)}  ${median(runs.map((r) => r.evalSeconds)).toFixed(2).padStart(7)}  ${`${Math.min(...sessions)}-${Math.max(...sessions)}`.padStart(8)}  ${`${(bytes / 1024).toFixed(0)} KiB`.padStart(9)}  ${`${(seconds / bareSeconds).toFixed(1)}x`.padStart(9)}  ${seconds < TARGET_SECONDS ? "met" : "MISSED"}`,
            );
        }
        console.log(`drift check of the example estate on ${hosts} lab hosts (${os.cpus().length} CPUs), median of ${RUNS}:`);
        console.log("phase             hosts  steps  drifted  total s   eval s  sessions  bytes sent  vs bare SSH  < 5 s");
        for (const r of rows) console.log(r);
    } finally {
        await lab.down();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(`bench:check: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
});
