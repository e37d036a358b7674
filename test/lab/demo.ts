/**
 * `npm run lab -- demo [STACK]`: brings up one lab host per inventory host of the
 * stack (default `example`), points the inventory at them, applies the real program
 * with the harness, prints what ran and what each component's demo check verified
 * per host, destroys, and tears the lab down.
 *
 * Components join the demo with a {@link DemoCheck} listed in {@link demoChecks}
 * (the same checks their end-to-end tests make).
 */
import * as os from "os";
import * as path from "path";
import * as fs from "fs";
import { readStackFile, stackFilePath } from "../../tools/stackFile";
import { Lab, startLab } from "./lab";
import { ApplyResult, Harness, Program } from "./harness";

const PROJECT = "hostwright";
const PROJECT_DIR = path.resolve(__dirname, "..", "..");
/** The example stack's documented passphrase (throw-away keys). */
const EXAMPLE_PASSPHRASE = "hostwright-example";

/** One verified fact about a host, as a line of the demo's report. */
export interface DemoFinding {
    host: string;
    what: string;
    ok: boolean;
    detail?: string;
}

/** A component's demo check: runs after the apply, on the lab hosts its section used. */
export interface DemoCheck {
    /** Config section key, e.g. `h2o`: the check runs when the stack has it. */
    section: string;
    verify(ctx: { lab: Lab; outputs: Record<string, unknown>; config: unknown }): Promise<DemoFinding[]>;
}

/** The components' demo checks (one import and one entry each, like components/registry.ts). */
export const demoChecks: DemoCheck[] = [];

/** Runs the demo; resolves to false when any apply step or check failed. */
export async function runDemo(stack = "example", print: (line: string) => void = console.log): Promise<boolean> {
    const file = readStackFile(stackFilePath(PROJECT_DIR, stack), PROJECT, process.env.PULUMI_CONFIG_PASSPHRASE ?? EXAMPLE_PASSPHRASE);
    const inventory = JSON.parse(file.values["hostwright:inventory"] ?? "{}") as { hosts?: Array<{ name: string }> };
    const names = (inventory.hosts ?? []).map((h) => h.name);
    if (names.length === 0) throw new Error(`stack ${stack} has no hostwright:inventory hosts`);

    const t0 = Date.now();
    const lab = await startLab({ hosts: names });
    print(`lab ${lab.prefix}: ${names.length} hosts up in ${Date.now() - t0} ms (${names.join(", ")})`);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "hostwright-demo-"));
    try {
        const config = labConfig(file.values, lab);
        const harness = new Harness(lab, path.join(stateDir, "state.json"));
        const program = loadProgram();
        const up = await harness.apply(program, { project: PROJECT, stack, config, secretKeys: [...file.secretKeys], invoke: () => ({}) });
        printOperations("apply", up, print);
        let ok = up.ok;
        if (up.ok) ok = (await runChecks(lab, up.outputs, config, print)) && ok;
        const down = await harness.destroy();
        printOperations("destroy", down, print);
        return ok && down.ok;
    } finally {
        await lab.down();
        fs.rmSync(stateDir, { recursive: true, force: true });
        print(`lab ${lab.prefix} removed`);
    }
}

/**
 * The stack's config with its inventory moved onto the lab: lab addresses and
 * pinned host keys, root over port 22, sysv init (no systemd in a lab host), and
 * every private-key secret replaced by the lab's key.
 */
function labConfig(values: Record<string, string>, lab: Lab): Record<string, string> {
    const inventory = JSON.parse(values["hostwright:inventory"]);
    const keyNames = new Set<string>();
    if (inventory.defaults?.privateKey) keyNames.add(inventory.defaults.privateKey);
    inventory.defaults = { ...(inventory.defaults ?? {}), init: "sysv", user: "root", sshPort: undefined };
    inventory.hosts = inventory.hosts.map((h: Record<string, unknown>) => {
        if (typeof h.privateKey === "string") keyNames.add(h.privateKey);
        const labHost = lab.host(String(h.name));
        return { ...h, address: labHost.address, hostKey: labHost.hostKey, init: "sysv", user: undefined, sshPort: undefined };
    });
    const secrets = JSON.parse(values["hostwright:secrets"] ?? "{}");
    for (const k of keyNames) secrets[k] = lab.hosts[0].privateKey;
    return { ...values, "hostwright:inventory": JSON.stringify(inventory), "hostwright:secrets": JSON.stringify(secrets) };
}

/** The real program (index.ts), evaluated afresh on every call. */
function loadProgram(): Program {
    const main = require(path.join(PROJECT_DIR, "index.ts")) as () => Record<string, unknown>;
    return () => main();
}

function printOperations(phase: string, result: ApplyResult, print: (line: string) => void): void {
    const byHost = new Map<string, string[]>();
    for (const o of result.operations) {
        const host = o.hostName ?? o.host;
        byHost.set(host, [...(byHost.get(host) ?? []), `${o.code === 0 ? "ok  " : "FAIL"} ${o.op} ${o.resource} (${o.durationMs} ms)`]);
    }
    print(`${phase}: ${result.operations.length} operation(s), ${result.ok ? "ok" : "FAILED"}`);
    for (const [host, lines] of [...byHost.entries()].sort()) {
        print(`  ${host}`);
        for (const l of lines) print(`    ${l}`);
    }
    if (result.error) print(`  error: ${result.error}`);
    if (result.skipped.length > 0) print(`  not run: ${result.skipped.map((s) => s.resource).join(", ")}`);
}

async function runChecks(lab: Lab, outputs: Record<string, unknown>, config: Record<string, string>, print: (line: string) => void): Promise<boolean> {
    const active = demoChecks.filter((c) => config[`hostwright:${c.section}`] !== undefined);
    if (active.length === 0) {
        print("verified: no component has registered a demo check yet (test/lab/demo.ts demoChecks)");
        return true;
    }
    let ok = true;
    for (const check of active) {
        const findings = await check.verify({ lab, outputs, config: JSON.parse(config[`hostwright:${check.section}`]) }).catch((e: Error) => [{ host: "-", what: "check ran", ok: false, detail: e.message }]);
        print(`verified (${check.section}):`);
        for (const f of findings) {
            print(`  ${f.ok ? "ok  " : "FAIL"} ${f.host}: ${f.what}${f.detail ? ` (${f.detail})` : ""}`);
            ok &&= f.ok;
        }
    }
    return ok;
}
