/**
 * The per-step overhead: an empty step's create, update and undo over the lab's SSH
 * (core/README.md, "Script size"). Root only (the lab).
 *
 *   npx tsx bench/emptyStep.ts [RUNS] [--busy] [--core DIR]
 *
 * --core DIR times the core of another checkout (e.g. `git archive REV core | tar -x -C DIR`
 * gives DIR/core): before and after, alternated, under the same load. --busy writes
 * 200 MB to this machine's disk before each run (what a global sync has to flush).
 */
import { execFileSync } from "child_process";
import { rmSync } from "fs";
import { join, resolve } from "path";
import { startLab } from "../test/lab/lab";
import { shq } from "../core/shell";

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 15);
const busy = args.includes("--busy");
const coreDir = args.includes("--core") ? join(resolve(args[args.indexOf("--core") + 1]), "core") : resolve(__dirname, "../core");
const DIRTY = "/var/tmp/hostwright-bench-dirty";

// eslint-disable-next-line @typescript-eslint/no-var-requires
const step = require(join(coreDir, "step"));
function libraryOf(): { create: string } | undefined {
    try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        return require(join(coreDir, "library")).libraryScripts();
    } catch {
        return undefined; // a core from before the library step
    }
}

async function main(): Promise<void> {
    const lab = await startLab({ hosts: ["bench1"] });
    try {
        const h = lab.host("bench1");
        const s = step.renderStep({ key: "empty", description: "empty step" });
        const library = libraryOf();
        if (library) {
            const r = await h.ssh("/bin/bash -s", { input: library.create });
            if (r.code !== 0) throw new Error(`library step: ${r.stdout}${r.stderr}`);
        }
        console.log(`${coreDir}: create script ${Buffer.byteLength(s.create)} B, undo ${Buffer.byteLength(s.delete)} B${library ? `, library step ${Buffer.byteLength(library.create)} B once per host` : ""}`);
        const time = async (what: string, before: (() => Promise<unknown>) | undefined, run: () => Promise<{ code: number; stdout: string; stderr: string }>) => {
            const ms: number[] = [];
            for (let i = 0; i < runs; i++) {
                await before?.();
                if (busy) execFileSync("dd", ["if=/dev/zero", `of=${DIRTY}`, "bs=1M", "count=200", "status=none"]);
                const t0 = process.hrtime.bigint();
                const r = await run();
                ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
                if (r.code !== 0) throw new Error(`${what}: ${r.stdout}${r.stderr}`);
            }
            ms.sort((a, b) => a - b);
            console.log(`${what.padEnd(13)} median ${ms[Math.floor(ms.length / 2)].toFixed(0)} ms, min ${ms[0].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)} (n=${runs}${busy ? ", 200 MB written before each" : ""})`);
        };
        await time("ssh true", undefined, () => h.ssh("true"));
        await time("empty create", undefined, () => h.ssh("/bin/bash -s", { input: s.create }));
        await time("empty update", undefined, () => h.ssh("/bin/bash -s update", { input: s.create }));
        // each undo drops one claim: the creates above left several; the last ones undo the step
        await time("empty undo", () => h.ssh("/bin/bash -s", { input: s.create }), () => h.ssh(`/bin/bash -c ${shq(s.delete)}`));
    } finally {
        rmSync(DIRTY, { force: true });
        await lab.down();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
