/**
 * The example stack end to end on lab hosts through an engine: the real Pulumi CLI
 * (`ENGINE=pulumi`, .github/workflows/engine.yml) or the apply harness standing in
 * for it (`ENGINE=harness`, test/lab/engine.e2e.test.ts). Both write the same lab
 * stack file, apply, verify with the demo's checks, expect no changes on a second
 * look, destroy, and check that every host's files are back; only the engine calls
 * differ. The demo (test/lab/demo.ts) provides the config moved onto the lab, the
 * host preparation, the checks and the restore check.
 *
 *   sudo -E npx tsx test/lab/engine.ts [--logs DIR]     (exit 1 when a stage failed)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { randomBytes } from "crypto";
import * as yaml from "js-yaml";
import * as pulumiSdk from "@pulumi/pulumi";
import { readStackFile, stackFilePath } from "../../tools/stackFile";
import { PassphraseCrypter } from "../../tools/passphrase";
import { checkCommands, exitCode, formatReport, commandOutputsOfDeployment, CommandOutputs, recordStack } from "../../tools/check";
import { Lab, LabHost, startLab } from "./lab";
import { Harness, labCheckSession } from "./harness";
import { BASE_ENV, run } from "./proc";
import {
    BACKEND_HOST, DemoEnvironment, DemoFinding, demoConfig, EXAMPLE_PASSPHRASE, loadProgram, OCSP_HOST, prepareHosts, printFindings,
    printOperations, PROJECT, PROJECT_DIR, restoredFinding, runChecks, upperSnapshot,
} from "./demo";

export type EngineName = "harness" | "pulumi";
type Print = (line: string) => void;
type Json = any;

/** One stage of the run, as the report lists it. */
export interface EngineStage {
    stage: string;
    ok: boolean;
    detail?: string;
}

export interface EngineReport {
    engine: EngineName;
    ok: boolean;
    stages: EngineStage[];
    /** The demo checks' findings after the apply and the restore check's after the destroy. */
    findings: DemoFinding[];
    /** Sections of the example left out on this machine, with the reason. */
    leftOut: string[];
    logDir: string;
}

/** `ENGINE` when set, else the real CLI when `pulumi` is on PATH, else the harness. */
export function pickEngine(env: NodeJS.ProcessEnv = process.env): EngineName {
    if (env.ENGINE === "harness" || env.ENGINE === "pulumi") return env.ENGINE;
    if (env.ENGINE) throw new Error(`ENGINE=${env.ENGINE}: expected harness or pulumi`);
    return onPath("pulumi", env) ? "pulumi" : "harness";
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
    return (env.PATH ?? "").split(":").some((dir) => dir && fs.existsSync(path.join(dir, program)));
}

/**
 * How LXD is installed here. Debian ships the daemon as a package (`/usr/bin/lxd`),
 * which the lab starts per host; Ubuntu ships it only as a snap (`/snap/bin/lxd`, a
 * `snap run` wrapper that needs snapd's own mount namespace and is not on a lab
 * host's PATH), so there the lab cannot start one daemon per host.
 */
export function lxdInstall(exists: (p: string) => boolean = fs.existsSync): "package" | "snap" | "none" {
    if (["/usr/bin/lxd", "/usr/sbin/lxd"].some(exists)) return "package";
    return exists("/snap/bin/lxd") ? "snap" : "none";
}

/**
 * The example's config as an engine can apply it on lab hosts:
 * - no OpenStack look-ups (the real engine would ask an OpenStack API the lab does not
 *   have): a mirror found through OpenStack is declared on the demo's first compute
 *   node with a port of its own, as an operator would write it without the API;
 * - without a per-host LXD daemon (snap-only LXD), the `lxd` section is left out and
 *   its hosts are not prepared as LXD hosts.
 */
export function engineValues(values: Record<string, string>, lxd: ReturnType<typeof lxdInstall>): { values: Record<string, string>; leftOut: string[] } {
    const out = { ...values };
    const leftOut: string[] = [];
    const inventory = JSON.parse(out["hostwright:inventory"] ?? "{}");
    const firstCompute = (inventory.hosts ?? []).find((h: Json) => h.labels?.role === "compute")?.name;
    if (out["hostwright:ovs"]) {
        const mirrors = JSON.parse(out["hostwright:ovs"]).map((m: Json, i: number) => {
            if (!m.openstack) return m;
            if (!firstCompute) throw new Error(`ovs mirror ${m.name} is found through OpenStack but the inventory has no compute host`);
            const { openstack: _lookedUp, ...declared } = m;
            return { ...declared, host: firstCompute, ports: [`qvoengine${i}-00`] };
        });
        out["hostwright:ovs"] = JSON.stringify(mirrors);
    }
    if (lxd !== "package" && out["hostwright:lxd"]) {
        delete out["hostwright:lxd"];
        for (const h of inventory.hosts ?? []) if (h.labels?.role === "lxd") delete h.labels.role;
        out["hostwright:inventory"] = JSON.stringify(inventory);
        leftOut.push(`lxd (LXD is ${lxd === "snap" ? "a snap here" : "not installed"}: the lab starts LXD per host from the Debian package only)`);
    }
    return { values: out, leftOut };
}

/**
 * Writes the lab stack file the way a user would: non-secret sections as YAML values,
 * then every `hostwright:secrets` entry as a secret. `setSecret` is the engine's
 * `pulumi config set --secret`; the file must already hold the stack's encryption salt.
 */
async function writeStackConfig(file: string, config: Record<string, string>, setSecret: (name: string, value: string) => Promise<void>): Promise<void> {
    const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as Json;
    doc.config = {};
    for (const [key, value] of Object.entries(config)) if (key !== "hostwright:secrets") doc.config[key] = JSON.parse(value);
    fs.writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }), { mode: 0o600 });
    for (const [name, value] of Object.entries(JSON.parse(config["hostwright:secrets"] ?? "{}") as Record<string, string>)) await setSecret(name, value);
}

/** What a command printed when it last ran, by resource name. */

/** What an engine does with the stack; `up` resolves to the stack outputs. */
interface Engine {
    /** The project directory whose `stacks/` holds the stack file, and the stack's passphrase. */
    projectDir: string;
    passphrase: string;
    /** Each command's stdout/stderr from the engine's state. */
    commandOutputs(): Promise<CommandOutputs>;
    /** Creates the stack and its (empty) stack file with its encryption salt; returns the file. */
    init(): Promise<string>;
    setSecret(name: string, value: string): Promise<void>;
    up(): Promise<{ ok: boolean; outputs: Record<string, unknown>; detail: string }>;
    /** Secrets the engine's state holds in clear (undefined: this engine's state is not checked). */
    secretsInState(secrets: string[]): Promise<string[] | undefined>;
    expectNoChanges(): Promise<{ ok: boolean; detail: string }>;
    destroy(): Promise<{ ok: boolean; detail: string }>;
    /** Removes the stack and its file. */
    remove(): Promise<void>;
}

/**
 * Resource provider plugins of the installed `@pulumi/*` packages the program depends
 * on: name and version, as the CLI would fetch them. Dev dependencies (`@pulumi/tls`,
 * used only by tests under Pulumi's mocks) need no plugin.
 */
export function providerPlugins(nodeModules = path.join(PROJECT_DIR, "node_modules", "@pulumi")): Array<{ name: string; version: string }> {
    const dependencies = Object.keys(JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).dependencies ?? {});
    return fs
        .readdirSync(nodeModules)
        .filter((dir) => dependencies.includes(`@pulumi/${dir}`))
        .map((dir) => JSON.parse(fs.readFileSync(path.join(nodeModules, dir, "package.json"), "utf8")))
        .filter((pkg) => pkg.pulumi?.resource === true)
        .map((pkg) => ({ name: String(pkg.pulumi.name), version: String(pkg.pulumi.version ?? pkg.version).replace(/^v/, "") }));
}

/**
 * The real CLI: local backend and PULUMI_HOME in the run's directory, passphrase
 * secrets. Lab hosts are reachable only from the lab's switch namespace, which has no
 * route out: the provider plugins are installed first, then every other call runs there.
 */
function pulumiEngine(stack: string, work: string, logDir: string, print: Print, switchNs: string): Engine {
    const passphrase = randomBytes(24).toString("base64");
    const env = {
        ...BASE_ENV,
        PATH: process.env.PATH ?? BASE_ENV.PATH,
        PULUMI_HOME: path.join(work, "pulumi-home"),
        PULUMI_CONFIG_PASSPHRASE: passphrase,
        PULUMI_SKIP_UPDATE_CHECK: "true",
    };
    type Call = { input?: string; outsideLab?: boolean; stdoutHoldsSecrets?: boolean };
    let n = 0;
    const pulumi = async (args: string[], opts: Call = {}) => {
        const argv = [...(opts.outsideLab ? [] : ["nsenter", `--net=${switchNs}`, "--"]), "pulumi", "--cwd", PROJECT_DIR, "--non-interactive", ...args];
        const label = `${String(++n).padStart(2, "0")}-${args.filter((a) => !a.startsWith("-")).slice(0, 2).join("-")}`;
        const r = await run(argv, { input: opts.input, timeoutMs: 1_200_000, env });
        // Secret values go on stdin only and pulumi masks secrets in what it prints; output that may hold them is not logged.
        const stdout = opts.stdoutHoldsSecrets ? "(stdout not logged: it may hold secrets)" : r.stdout;
        fs.writeFileSync(path.join(logDir, `pulumi-${label}.log`), `$ ${argv.join(" ")}\n(exit ${r.code})\n${stdout}\n${r.stderr}`);
        print(`  pulumi ${args.join(" ")}: exit ${r.code}`);
        return r;
    };
    const must = async (args: string[], opts: Call = {}) => {
        const r = await pulumi(args, opts);
        if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
        return r.stdout;
    };
    const file = stackFilePath(PROJECT_DIR, stack);
    const tail = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-3).join(" | ");
    return {
        projectDir: PROJECT_DIR,
        passphrase,
        async commandOutputs() {
            const exported = JSON.parse(await must(["stack", "export", "--stack", stack, "--show-secrets"], { stdoutHoldsSecrets: true }));
            return commandOutputsOfDeployment(exported);
        },
        async init() {
            for (const p of providerPlugins()) await must(["plugin", "install", "resource", p.name, p.version], { outsideLab: true });
            fs.mkdirSync(path.join(work, "backend"), { recursive: true });
            await must(["login", `file://${path.join(work, "backend")}`]);
            await must(["stack", "init", stack, "--secrets-provider", "passphrase"]);
            return file;
        },
        async setSecret(name, value) {
            await must(["config", "set", "--stack", stack, "--secret", "--path", "--raw", `hostwright:secrets.${name}`], { input: value });
        },
        async up() {
            const r = await pulumi(["up", "--stack", stack, "--yes"]);
            if (r.code !== 0) return { ok: false, outputs: {}, detail: tail(r) };
            const outputs = JSON.parse(await must(["stack", "output", "--stack", stack, "--json", "--show-secrets"], { stdoutHoldsSecrets: true }));
            return { ok: true, outputs, detail: r.stdout.match(/Resources:[\s\S]*?(?=\n\n|$)/)?.[0].replace(/\s+/g, " ") ?? "" };
        },
        async secretsInState(secrets) {
            const state = await must(["stack", "export", "--stack", stack], { stdoutHoldsSecrets: true });
            return secrets.filter((s) => state.includes(s));
        },
        async expectNoChanges() {
            const r = await pulumi(["preview", "--stack", stack, "--expect-no-changes"]);
            return { ok: r.code === 0, detail: r.code === 0 ? "no changes" : tail(r) };
        },
        async destroy() {
            const r = await pulumi(["destroy", "--stack", stack, "--yes", "--skip-preview"]);
            return { ok: r.code === 0, detail: tail(r) };
        },
        async remove() {
            await pulumi(["stack", "rm", stack, "--yes", "--force"]);
            fs.rmSync(file, { force: true });
        },
    };
}

/**
 * The harness standing in for the CLI: the same stack file, secrets encrypted as the
 * passphrase provider does, in a project directory of the run's own (a copy of
 * Pulumi.yaml), which the program sees as its root: it reads the stack file's
 * `secure:` entries from there, as it does from the project under the CLI.
 */
function harnessEngine(lab: Lab, stack: string, work: string, print: Print): Engine {
    const passphrase = randomBytes(24).toString("base64");
    const projectDir = path.join(work, "project");
    const file = stackFilePath(projectDir, stack);
    const harness = new Harness(lab, path.join(work, "harness-state.json"));
    let crypter: PassphraseCrypter | undefined;
    const options = () => {
        const { values, secretKeys } = readStackFile(file, PROJECT, passphrase);
        return { project: PROJECT, stack, config: values, secretKeys: [...secretKeys], rootDirectory: projectDir };
    };
    return {
        projectDir,
        passphrase,
        async commandOutputs() {
            return new Map(harness.state().resources.map((r) => [r.name, { stdout: r.stdout, stderr: r.stderr }]));
        },
        async init() {
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(projectDir, "Pulumi.yaml"));
            crypter = PassphraseCrypter.create(passphrase);
            fs.writeFileSync(file, yaml.dump({ encryptionsalt: crypter.encryptionSalt }), { mode: 0o600 });
            return file;
        },
        async setSecret(name, value) {
            const doc = yaml.load(fs.readFileSync(file, "utf8")) as Json;
            doc.config["hostwright:secrets"] ??= {};
            doc.config["hostwright:secrets"][name] = { secure: crypter!.encrypt(value) };
            fs.writeFileSync(file, yaml.dump(doc, { lineWidth: -1 }), { mode: 0o600 });
        },
        async up() {
            const r = await harness.apply(loadProgram(), options());
            printOperations("  harness apply", r, print);
            return { ok: r.ok, outputs: r.outputs, detail: r.error ?? `${r.operations.length} operation(s) in ${r.passes} pass(es)` };
        },
        async secretsInState() {
            return undefined;
        },
        async expectNoChanges() {
            const changes = await harness.preview(loadProgram(), options());
            return { ok: changes.length === 0, detail: changes.length === 0 ? "no changes" : changes.map((c) => `${c.op} ${c.resource} (${c.reason})`).join(", ") };
        },
        async destroy() {
            const r = await harness.destroy();
            printOperations("  harness destroy", r, print);
            return { ok: r.ok, detail: r.error ?? `${r.operations.length} operation(s)` };
        },
        async remove() {
            fs.rmSync(file, { force: true });
        },
    };
}

/** Runs the whole sequence; every stage is reported, the lab is always torn down. */
export async function runEngineE2e(opts: { engine?: EngineName; logDir?: string; print?: Print } = {}): Promise<EngineReport> {
    const engineName = opts.engine ?? pickEngine();
    const logDir = path.resolve(opts.logDir ?? path.join(PROJECT_DIR, "engine-logs"));
    fs.mkdirSync(logDir, { recursive: true });
    // Written line by line, synchronously: the transcript is complete when this returns
    // (a stream's end() flushes later) and keeps every line a killed run printed.
    const transcript = fs.openSync(path.join(logDir, "engine-e2e.log"), "w");
    const print: Print = (line) => {
        fs.writeSync(transcript, `${line}\n`);
        (opts.print ?? console.log)(line);
    };
    const stages: EngineStage[] = [];
    const findings: DemoFinding[] = [];
    const stage = (name: string, ok: boolean, detail?: string) => {
        stages.push({ stage: name, ok, detail });
        print(`${ok ? "ok    " : "FAILED"} ${name}${detail ? `: ${detail}` : ""}`);
        return ok;
    };

    const example = readStackFile(stackFilePath(PROJECT_DIR, "example"), PROJECT, EXAMPLE_PASSPHRASE);
    const lxd = lxdInstall();
    const { values, leftOut } = engineValues(example.values, lxd);
    print(`engine: ${engineName}; LXD: ${lxd}${leftOut.length > 0 ? `; left out: ${leftOut.join("; ")}` : ""}`);
    const names = (JSON.parse(values["hostwright:inventory"]).hosts as Array<{ name: string }>).map((h) => h.name);
    const extras = values["hostwright:h2o"] ? [BACKEND_HOST, OCSP_HOST] : [];

    const lab = await startLab({ hosts: [...names, ...extras] });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "hostwright-engine-"));
    const stack = `lab-${lab.prefix}`;
    const engine = engineName === "pulumi" ? pulumiEngine(stack, work, logDir, print, lab.switchNs) : harnessEngine(lab, stack, work, print);
    let created = false;
    try {
        stage("lab", true, `${lab.prefix}: ${lab.hosts.map((h) => h.name).join(", ")}`);
        const demo = demoConfig(values, lab, work);
        const env: DemoEnvironment = { dir: work, trustFile: demo.trustFile, addresses: Object.fromEntries(lab.hosts.map((h) => [h.name, h.address])), vms: {}, collectors: {} };
        await prepareHosts(lab, demo, env, print);
        const before = new Map(lab.hosts.map((h) => [h.name, upperSnapshot(h)]));

        const file = await engine.init();
        created = true;
        await writeStackConfig(file, demo.config, (name, value) => engine.setSecret(name, value));
        const secrets = Object.values(JSON.parse(demo.config["hostwright:secrets"]) as Record<string, string>);
        stage("stack file", stackFileHoldsConfig(file, demo.config, secrets), `${path.basename(file)}: ${Object.keys(demo.config).length} keys, ${secrets.length} secrets encrypted`);

        const up = await engine.up();
        if (stage("up", up.ok, up.detail)) {
            const checked = await runChecks(lab, up.outputs, demo.config, env, print);
            findings.push(...checked);
            const failed = checked.filter((f) => !f.ok).length;
            stage("checks", checked.length > 0 && failed === 0, `${checked.length - failed}/${checked.length} findings ok`);
            const inClear = await engine.secretsInState(secrets.map(distinctiveLine));
            if (inClear !== undefined) stage("state holds no secret in clear", inClear.length === 0, `${inClear.length} of ${secrets.length} secrets found in \`pulumi stack export\``);
            const again = await engine.expectNoChanges();
            stage("preview --expect-no-changes", again.ok, again.detail);
            const drift = await driftCheck(engine, stack, lab, print);
            stage("drift check", drift.ok, drift.detail);
        }
        const destroyed = await engine.destroy();
        stage("destroy", destroyed.ok, destroyed.detail);
        const restored = lab.hosts.map((h) => ({ ...restoredFinding(h, before.get(h.name)!), component: "files" }));
        print("files back after destroy:");
        printFindings(restored, print);
        findings.push(...restored);
        stage("files back", restored.every((f) => f.ok), `${restored.filter((f) => f.ok).length}/${restored.length} hosts`);
    } catch (e) {
        stage("run", false, (e as Error).message.split("\n")[0]);
    } finally {
        if (created) await engine.remove().catch((e: Error) => print(`removing stack ${stack}: ${e.message}`));
        await copyHostLogs(lab.hosts, logDir);
        await lab.down();
        fs.rmSync(work, { recursive: true, force: true });
    }
    const ok = stages.length > 0 && stages.every((s) => s.ok);
    print(`engine e2e (${engineName}) ${ok ? "ok" : "FAILED"}: ${stages.filter((s) => s.ok).length}/${stages.length} stages ok; logs in ${logDir}`);
    fs.closeSync(transcript);
    return { engine: engineName, ok, stages, findings, leftOut, logDir };
}

/**
 * `npm run check`'s checker (tools/check.ts) right after the apply: every step on
 * every host as declared. The program is evaluated with the commands' outputs from
 * the engine's state, so steps whose inputs come from another command's output are
 * checked too (the check CLI alone, under mocks, cannot know them).
 */
async function driftCheck(engine: Engine, stack: string, lab: Lab, print: Print): Promise<{ ok: boolean; detail: string }> {
    const { recording, secretTexts } = await recordStack(stack, engine.projectDir, engine.passphrase, await engine.commandOutputs(), PROJECT_DIR);
    // Let the evaluation's last RPCs reach this recording's mocks, not a later one's.
    await pulumiSdk.runtime.disconnect();
    const report = await checkCommands(recording.commands, { session: labCheckSession(lab), hostNames: (recording.outputs.hosts ?? {}) as Record<string, string>, secretTexts });
    print(formatReport(report));
    const { steps, driftedSteps } = report.totals;
    return { ok: exitCode(report) === 0, detail: `${steps} step(s) on ${report.hosts.length} host(s) checked, ${driftedSteps} drifted (exit ${exitCode(report)})` };
}

/** The stack file as written reads back (tools/stackFile.ts) to the config, with every secret `secure:`. */
function stackFileHoldsConfig(file: string, config: Record<string, string>, secrets: string[]): boolean {
    const text = fs.readFileSync(file, "utf8");
    if (secrets.some((s) => text.includes(distinctiveLine(s)))) return false;
    const doc = yaml.load(text) as Json;
    const secureEntries = Object.values(doc.config?.["hostwright:secrets"] ?? {}).filter((v: Json) => typeof v?.secure === "string");
    return secureEntries.length === secrets.length && Object.keys(config).every((k) => k in doc.config);
}

/** The longest line of a secret: what would show it leaked (a PEM body line, or the whole value). */
function distinctiveLine(secret: string): string {
    return secret.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
}

/** Each host's sshd log (every session the engine opened; it lives on the host's own /run) into the log directory. */
async function copyHostLogs(hosts: LabHost[], logDir: string): Promise<void> {
    await Promise.all(
        hosts.map(async (h) => {
            const r = await h.exec("cat /run/hostwright-lab/sshd.log");
            if (r.code === 0) fs.writeFileSync(path.join(logDir, `sshd-${h.name}.log`), r.stdout);
        }),
    );
}

if (require.main === module) {
    const i = process.argv.indexOf("--logs");
    runEngineE2e({ logDir: i > 0 ? process.argv[i + 1] : undefined }).then(
        (r) => process.exit(r.ok ? 0 : 1),
        (e: Error) => {
            console.error(e.message);
            process.exit(1);
        },
    );
}

export { commandOutputsOfDeployment };
