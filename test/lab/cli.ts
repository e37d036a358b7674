/**
 * `npm run lab -- up N | down [PREFIX|--all] | status | demo [STACK]` (as root).
 * `up` leaves the lab running (persistent: only `down` removes it) and prints how to reach it.
 */
import { downAllLabs, downLab, labPrerequisites, listLabs, openLab, startLab, sweepStaleLabs } from "./lab";
import { runDemo } from "./demo";

const USAGE = `usage: npm run lab -- up [N] | down [PREFIX | --all] | status | demo [STACK]
  up N         start N lab hosts (h1..hN) and leave them running
  down PREFIX  remove one lab; without PREFIX: labs whose owner died; --all: every lab
  status       list labs and their hosts
  demo [STACK] bring up hosts for the stack (default example), prepare them per role, apply,
               print per host what was verified, destroy, check files are back, tear down`;

async function up(count: number): Promise<void> {
    const names = Array.from({ length: count }, (_, i) => `h${i + 1}`);
    const t0 = Date.now();
    const lab = await startLab({ hosts: names, persistent: true });
    console.log(`lab ${lab.prefix}: ${count} host(s) up in ${Date.now() - t0} ms`);
    for (const h of lab.hosts) console.log(`  ${h.name}  ${h.address}  init pid ${h.initPid}  upper ${h.upperDir}`);
    console.log(`reach a host:  nsenter -t ${lab.hosts[0].initPid} -a bash        (all its namespaces)`);
    console.log(`ssh:           nsenter --net=${lab.switchNs} ssh -i ${lab.dir}/id_ed25519 -o UserKnownHostsFile=${lab.knownHosts} root@${lab.hosts[0].address}`);
    console.log(`remove:        npm run lab -- down ${lab.prefix}`);
}

async function down(arg: string | undefined): Promise<void> {
    if (arg === "--all") {
        const removed = await downAllLabs();
        console.log(removed.length ? `removed ${removed.join(", ")}` : "no labs");
    } else if (arg) {
        await downLab(arg);
        console.log(`removed ${arg}`);
    } else {
        const removed = await sweepStaleLabs();
        console.log(removed.length ? `removed stale ${removed.join(", ")}` : "no stale labs (use --all to remove running ones)");
    }
}

async function status(): Promise<void> {
    const labs = listLabs();
    if (labs.length === 0) console.log("no labs");
    for (const l of labs) {
        const owner = l.record?.owner ? `owner pid ${l.record.owner.pid}` : "persistent";
        console.log(`${l.prefix}  ${l.stale ? "STALE" : "running"}  ${owner}  created ${l.record?.created ?? "?"}`);
        if (l.stale || !l.record) continue;
        for (const h of openLab(l.prefix).hosts) {
            const alive = await h.exec("true", { timeoutMs: 5000 }).then((r) => r.code === 0, () => false);
            console.log(`  ${h.name}  ${h.address}  init ${h.initPid}  ${alive ? "up" : "DOWN"}`);
        }
    }
}

async function main(argv: string[]): Promise<void> {
    const [command, arg] = argv;
    if (command !== "status" && command !== undefined) {
        const pre = labPrerequisites();
        if (!pre.ok) throw new Error(pre.reason);
    }
    switch (command) {
        case "up":
            return up(parseCount(arg));
        case "down":
            return down(arg);
        case "status":
            return status();
        case "demo":
            if (!(await runDemo(arg))) process.exitCode = 1;
            return;
        default:
            console.log(USAGE);
            if (command !== undefined && command !== "help") process.exitCode = 2;
    }
}

function parseCount(arg: string | undefined): number {
    const n = arg === undefined ? 3 : Number(arg);
    if (!Number.isInteger(n) || n < 1 || n > 240) throw new Error(`host count must be 1..240, got ${arg}`);
    return n;
}

main(process.argv.slice(2)).catch((e: Error) => {
    console.error(`lab: ${e.message}`);
    process.exit(1);
});
