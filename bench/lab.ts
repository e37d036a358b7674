/**
 * Lab start-up benchmark (root): times `startLab` for N hosts with sshd (default 10),
 * the first SSH login to every host, and `down`, over several runs.
 * `npm run bench:lab -- [HOSTS] [RUNS]`; target: 10 hosts up in under 5 s.
 */
import { labPrerequisites, startLab } from "../test/lab/lab";
import type { RunResult } from "../test/lab/proc";

interface Sample {
    startMs: number;
    sshMs: number;
    downMs: number;
}

async function once(hosts: number): Promise<Sample> {
    const names = Array.from({ length: hosts }, (_, i) => `h${i + 1}`);
    const t0 = Date.now();
    const lab = await startLab({ hosts: names });
    const startMs = Date.now() - t0;
    let logins: RunResult[];
    let sshMs: number;
    const t1 = Date.now();
    try {
        logins = await Promise.all(lab.hosts.map((h) => h.ssh("hostname")));
        sshMs = Date.now() - t1;
    } finally {
        await lab.down();
    }
    const downMs = Date.now() - t1 - sshMs;
    const bad = logins.findIndex((r, i) => r.code !== 0 || r.stdout.trim() !== names[i]);
    if (bad >= 0) throw new Error(`SSH to ${names[bad]} failed: ${logins[bad].stderr}`);
    return { startMs, sshMs, downMs };
}

function stats(values: number[]): string {
    const sorted = [...values].sort((a, b) => a - b);
    return `${sorted[0]} / ${sorted[Math.floor(sorted.length / 2)]} / ${sorted[sorted.length - 1]}`;
}

async function main(): Promise<void> {
    const pre = labPrerequisites();
    if (!pre.ok) throw new Error(pre.reason);
    const hosts = Number(process.argv[2] ?? 10);
    const runs = Number(process.argv[3] ?? 5);
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await once(hosts));
    const worstToSsh = Math.max(...samples.map((s) => s.startMs + s.sshMs));
    console.log(`lab start-up, ${hosts} hosts, ${runs} runs (min / median / max, ms)`);
    console.log(`| phase | ms |\n|---|---|`);
    console.log(`| startLab (namespaces, overlay, sshd ready) | ${stats(samples.map((s) => s.startMs))} |`);
    console.log(`| first SSH login to every host (parallel) | ${stats(samples.map((s) => s.sshMs))} |`);
    console.log(`| down | ${stats(samples.map((s) => s.downMs))} |`);
    console.log(`worst start + first login: ${worstToSsh} ms (target < 5000): ${worstToSsh < 5000 ? "OK" : "TOO SLOW"}`);
    if (worstToSsh >= 5000) process.exitCode = 1;
}

main().catch((e: Error) => {
    console.error(`bench:lab: ${e.message}`);
    process.exit(1);
});
