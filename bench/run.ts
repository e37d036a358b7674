/**
 * npm run bench: how long the program takes to evaluate (the offline-preview path:
 * the real index.ts under Pulumi's mocks, every component) for 10, 100 and 1,000
 * hosts, and its peak memory. The estate is the example stack's, repeated.
 *
 * Figures are ratios against baselines measured in the same process, so they
 * compare across machines:
 *   - "bare": Pulumi alone declaring as many trivial resources as the program
 *     declares (commands and components), traces off too, in groups as large as
 *     the program's components, each in an event-loop turn of its own, as
 *     declareStack does: its floor;
 *   - "bare, same inputs": Pulumi alone declaring the very commands the program
 *     declared (their recorded inputs: scripts, connections, secrets as secrets)
 *     plus as many trivial resources as it has components, declared the same way:
 *     the floor for declaring what this program declares, whatever computes it;
 *   - "traces": the same program with Pulumi's per-promise stack traces kept
 *     (HOSTWRIGHT_STACK_TRACES=1), which is what index.ts avoids.
 * Each size runs in its own child process, so peak memory is its own (taken after
 * the size's first evaluation, as one `pulumi up` evaluates once); times are the
 * median of RUNS evaluations, the program's and the baselines' alternated.
 */
import { execFileSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { exampleEstate } from "../scripts/gen-example";
import { RecordedResource, recordProgram } from "../tools/record";
import { inNextTurn } from "../core/config/stack";

const SIZES = [10, 100, 1000];
const TARGET_SECONDS_AT_1000 = 5;
const TARGET_RATIO_AT_1000 = 1.5;
const RUNS = 3;

interface Sample {
    hosts: number;
    commands: number;
    resources: number;
    /** The first evaluation of this size (after the 6-host warm-up). */
    firstSeconds: number;
    /** Median of the next RUNS evaluations. */
    seconds: number;
    bareSeconds: number;
    sameInputsSeconds: number;
    tracesSeconds: number;
    peakRssMb: number;
}

async function evaluate(hosts: number, traces: boolean): Promise<{ seconds: number; commands: number; resources: number; components: number; declared: RecordedResource[] }> {
    const estate = exampleEstate(hosts);
    const program = require("../index") as () => Record<string, unknown>;
    if (traces) process.env.HOSTWRIGHT_STACK_TRACES = "1";
    else delete process.env.HOSTWRIGHT_STACK_TRACES;
    // Node's default; the program lowers it unless traces are asked for.
    Error.stackTraceLimit = 10;
    const start = process.hrtime.bigint();
    const recording = await recordProgram(() => program(), { config: estate.values, secretKeys: [...estate.secretKeys], invoke: () => ({}) });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { seconds, commands: recording.commands.length, resources: recording.resources.length, components: recording.resources.filter((r) => !r.parentUrn).length, declared: recording.commands };
}

/**
 * Times Pulumi declaring `resources` resources with `declareOne(i)`, stack-trace
 * capture off and in groups as large as the program's components, each in an
 * event-loop turn of its own, as declareStack declares.
 */
async function timedDeclaration(resources: number, components: number, declareOne: (i: number) => void): Promise<number> {
    const perComponent = Math.max(1, Math.round(resources / components));
    const start = process.hrtime.bigint();
    await recordProgram(async () => {
        const frames = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        try {
            for (let first = 0; first < resources; first += perComponent) {
                await inNextTurn(() => {
                    for (let i = first; i < Math.min(resources, first + perComponent); i++) declareOne(i);
                });
            }
        } finally {
            Error.stackTraceLimit = frames;
        }
    });
    return Number(process.hrtime.bigint() - start) / 1e9;
}

const trivialCommand = (name: string) => new remote.Command(name, { connection: { host: "198.18.0.1", privateKey: pulumi.secret("k") }, create: "true", stdin: pulumi.secret("x") });

/** Pulumi alone: as many trivial resources, declared as the program declares them (the floor). */
function bare(resources: number, components: number): Promise<number> {
    return timedDeclaration(resources, components, (i) => trivialCommand(`bare-${i}`));
}

/**
 * Pulumi alone declaring the program's own commands with their recorded inputs (one
 * secret connection per host, as the program shares them), then as many trivial
 * resources as the program has components, in the same groups: what declaring this
 * much script text costs by itself.
 */
function bareSameInputs(declared: RecordedResource[], resources: number, components: number): Promise<number> {
    const connections = new Map<string, pulumi.Output<unknown>>();
    return timedDeclaration(resources, components, (i) => {
        const c = declared[i];
        if (!c) {
            trivialCommand(`same-${i}`);
            return;
        }
        const inputs: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(c.inputs)) {
            if (key === "connection") {
                const id = JSON.stringify(value);
                if (!connections.has(id)) connections.set(id, pulumi.secret(value));
                inputs[key] = connections.get(id);
            } else inputs[key] = c.secretInputs.includes(key) ? pulumi.secret(value) : value;
        }
        new remote.Command(`same-${i}`, inputs as unknown as remote.CommandArgs);
    });
}

const median = (times: number[]) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];

async function child(hosts: number): Promise<void> {
    await evaluate(6, false); // warm-up: module loading and schema compilation are not per-host costs
    const measured = await evaluate(hosts, false);
    // One evaluation's peak, as one `pulumi up` makes (the alternated baselines below leave garbage of their own).
    const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    // Alternated, so that the program and its baselines run with the heap and the machine in the same state.
    const times = { program: [] as number[], bare: [] as number[], sameInputs: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
        times.program.push((await evaluate(hosts, false)).seconds);
        times.bare.push(await bare(measured.resources, measured.components));
        times.sameInputs.push(await bareSameInputs(measured.declared, measured.resources, measured.components));
    }
    const tracesSeconds = (await evaluate(hosts, true)).seconds;
    const [seconds, bareSeconds, sameInputsSeconds] = [times.program, times.bare, times.sameInputs].map(median);
    const sample: Sample = { hosts, commands: measured.commands, resources: measured.resources, firstSeconds: measured.seconds, seconds, bareSeconds, sameInputsSeconds, tracesSeconds, peakRssMb };
    process.stdout.write(JSON.stringify(sample));
}

function main(): void {
    const samples: Sample[] = SIZES.map((hosts) =>
        JSON.parse(execFileSync(process.execPath, [...process.execArgv, __filename, "--child", String(hosts)], { encoding: "utf8", maxBuffer: 1 << 20 })),
    );
    const perHost = (s: Sample) => (s.seconds / s.hosts) * 1e3;
    console.log("hosts  resources  commands  seconds  first run  ms/host  peak RSS  vs bare Pulumi (first run)  vs bare, same inputs  with stack traces");
    for (const s of samples) {
        console.log(
            `${String(s.hosts).padStart(5)}  ${String(s.resources).padStart(9)}  ${String(s.commands).padStart(8)}  ${s.seconds.toFixed(2).padStart(7)}  ${s.firstSeconds.toFixed(2).padStart(9)}  ${perHost(s).toFixed(2).padStart(7)}  ${`${s.peakRssMb} MB`.padStart(8)}  ${`${(s.seconds / s.bareSeconds).toFixed(2)}x (${(s.firstSeconds / s.bareSeconds).toFixed(2)}x)`.padStart(26)}  ${`${(s.seconds / s.sameInputsSeconds).toFixed(2)}x`.padStart(20)}  ${`${(s.tracesSeconds / s.seconds).toFixed(2)}x slower`.padStart(17)}`,
        );
    }
    const big = samples[samples.length - 1];
    const growth = perHost(big) / perHost(samples[1]);
    const met = Math.max(big.seconds, big.firstSeconds) < TARGET_SECONDS_AT_1000;
    console.log(`1,000 hosts: ${big.seconds.toFixed(2)} s median, ${big.firstSeconds.toFixed(2)} s first run (target < ${TARGET_SECONDS_AT_1000} s for both: ${met ? "met" : "MISSED"})`);
    const ratios = [big.seconds, big.firstSeconds].map((t) => t / big.bareSeconds);
    console.log(
        `1,000 hosts vs bare Pulumi: ${ratios[0].toFixed(2)}x median, ${ratios[1].toFixed(2)}x first run (target <= ${TARGET_RATIO_AT_1000}x: ${Math.max(...ratios) <= TARGET_RATIO_AT_1000 ? "met" : "MISSED"}); ${(big.seconds / big.sameInputsSeconds).toFixed(2)}x Pulumi declaring the same inputs`,
    );
    console.log(`growth 100 -> 1,000 hosts: ${growth.toFixed(2)}x time per host (linear = 1.00x: ${growth <= 1.25 ? "linear" : "WORSE than linear"})`);
}

if (process.argv[2] === "--child") {
    child(Number(process.argv[3])).catch((e) => {
        console.error(e);
        process.exit(1);
    });
} else {
    main();
}
