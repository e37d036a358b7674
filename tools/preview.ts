/**
 * Offline preview for pull-request review:
 *   npm run preview -- --stack <env> [--out DIR] [--against GIT-REF|PREVIEW-DIR [--format text|markdown]]
 * Runs the real program (index.ts) under Pulumi's mocks with the stack's config
 * (stacks/Pulumi.<env>.yaml, secrets decrypted with PULUMI_CONFIG_PASSPHRASE like
 * `pulumi preview`), and writes, per host, every file as it will be installed and
 * every create/delete script, numbered in execution order, plus plan.json.
 * Secrets are replaced by a fixed marker. Output is byte-identical between runs.
 * With --against, also prints the plan diff against an earlier preview or the same
 * stack at a git revision (tools/planDiff.ts).
 */
import { execFileSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join, relative, resolve } from "path";
import { endpointOf } from "../core/config/stack";
import { ValidationError } from "../core/errors";
import { editedPathsOf, stagedFilesOf } from "../core/step";
import { passphraseFromEnv } from "./passphrase";
import { formatMarkdown, formatText, planDiff } from "./planDiff";
import { REDACTED, redact } from "./redact";
import { recordProgram, RecordedResource, RecordedWarning, Recording, UNKNOWN_PLACEHOLDER } from "./record";
import { readStackFile, stackFilePath } from "./stackFile";

export { REDACTED, redact };
/** Directory for steps whose host is known only after apply. */
export const UNRESOLVED_HOST = "known-after-apply";
const PROJECT = "hostwright";

export interface PreviewStep {
    /** Execution order on its host, from 1. */
    n: number;
    host: string;
    name: string;
    urn: string;
    create: string;
    createScript: string;
    deleteScript: string;
    files: Array<{ path: string; mode: string; owner: string; group: string; content: string }>;
    /** Files edited in place on the host (content computed there from what the file holds then). */
    edited: string[];
    dependsOn: string[];
    deleteBeforeReplace: boolean;
    triggers: unknown[];
}

export interface Preview {
    stack: string;
    steps: PreviewStep[];
    /** Warnings, each naming its component and the hosts of its steps. */
    warnings: string[];
    /** Secrets this preview could not decrypt (their values are placeholders, checks needing them not run), and why. */
    opaqueSecrets: { paths: string[]; reason?: string };
    outputs: Record<string, unknown>;
}

/** Evaluates a stack's program offline and returns its plan, secrets redacted. */
export async function previewStack(stack: string, projectDir = resolve(__dirname, ".."), passphrase = passphraseFromEnv()): Promise<Preview> {
    const file = readStackFile(stackFilePath(projectDir, stack), PROJECT, passphrase);
    const program = join(projectDir, "index.ts");
    // The program module exports a function, as Pulumi allows; calling it evaluates the stack.
    const main = require(program) as () => Record<string, unknown>;
    const recording = await recordProgram(
        () => main(),
        {
            project: PROJECT,
            stack,
            config: file.values,
            secretKeys: [...file.secretKeys],
            rootDirectory: projectDir,
            preview: true,
            invoke: () => ({}),
            printWarnings: false,
        },
    );
    return redact({ ...toPreview(stack, recording), opaqueSecrets: { paths: file.opaqueSecrets, reason: file.opaqueReason } }, file.secretTexts);
}

/** The inventory name of the host a command connects to (the program's `hosts` output maps names to endpoints). */
function hostOf(cmd: RecordedResource, recording: Recording): string {
    const c = cmd.inputs.connection ?? {};
    // A host found by a look-up (e.g. an OpenStack VM's compute node) is not known offline.
    if (typeof c !== "object" || c.host === undefined || c.host === UNKNOWN_PLACEHOLDER) return UNRESOLVED_HOST;
    const endpoint = endpointOf(String(c.host ?? UNKNOWN_PLACEHOLDER), Number(c.port ?? 22));
    const hosts = (recording.outputs.hosts ?? {}) as Record<string, string>;
    return Object.keys(hosts).find((name) => hosts[name] === endpoint) ?? safeName(endpoint);
}

/** The script inside `/bin/bash -c '<script>'`. */
function innerScript(commandLine: string | undefined): string {
    const m = /^(?:sudo -n )?\/bin\/bash -c '([\s\S]*)'$/.exec(commandLine ?? "");
    return m ? m[1].replace(/'\\''/g, "'") : commandLine ?? "";
}

function toPreview(stack: string, recording: Recording): Omit<Preview, "opaqueSecrets"> {
    const counters = new Map<string, number>();
    const steps = recording.commands.map((cmd): PreviewStep => {
        const host = hostOf(cmd, recording);
        const n = (counters.get(host) ?? 0) + 1;
        counters.set(host, n);
        const stdin = String(cmd.inputs.stdin ?? "");
        return {
            n,
            host,
            name: cmd.name,
            urn: cmd.urn,
            create: String(cmd.inputs.create ?? ""),
            createScript: stdin || String(cmd.inputs.create ?? ""),
            deleteScript: innerScript(cmd.inputs.delete),
            files: stagedFilesOf(stdin),
            edited: editedPathsOf(stdin),
            dependsOn: cmd.dependsOn,
            deleteBeforeReplace: cmd.deleteBeforeReplace,
            triggers: cmd.inputs.triggers ?? [],
        };
    });
    return { stack, steps, warnings: recording.warnings.map((w) => warningLine(w, recording, steps)), outputs: recording.outputs };
}

/** A warning prefixed with the component it is attached to and the hosts that component's steps run on. */
function warningLine(warning: RecordedWarning, recording: Recording, steps: PreviewStep[]): string {
    const resource = recording.resources.find((r) => r.urn === warning.urn);
    if (!resource) return warning.message;
    const parentOf = new Map(recording.resources.map((r) => [r.urn, r.parentUrn]));
    const within = (urn: string): boolean => {
        for (let u: string | undefined = urn; u; u = parentOf.get(u)) if (u === resource.urn) return true;
        return false;
    };
    const hosts = [...new Set(steps.filter((s) => within(s.urn)).map((s) => s.host))].sort();
    // the hosts as the steps show them, not as the component's log line names them (core/errors.ts hostsPrefix)
    const message = warning.message.replace(/^\((?:host|hosts) [^)]*\) /, "");
    return `${resource.type} ${resource.name}${hosts.length ? ` (${hosts.length === 1 ? "host" : "hosts"} ${hosts.join(", ")})` : ""}: ${message}`;
}

function safeName(name: string): string {
    return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * Writes the preview directory (replacing an earlier preview there). Everything is
 * written into a sibling directory first and renamed into place at the end, so a
 * failure (a name too long for this machine, a full disk) leaves no partial preview.
 */
export function writePreview(preview: Preview, outDir: string): void {
    if (existsSync(outDir) && readdirSync(outDir).length > 0 && !existsSync(join(outDir, "plan.json"))) {
        throw new Error(`${outDir} exists and is not a hostwright preview; choose another --out`);
    }
    const staging = `${outDir}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    try {
        writeTree(preview, staging);
    } catch (e) {
        rmSync(staging, { recursive: true, force: true });
        const err = e as NodeJS.ErrnoException;
        const where = err.path ? relative(staging, err.path) : "";
        throw new Error(`cannot write the preview${where ? ` file ${where}` : ""}: ${err.code === "ENAMETOOLONG" ? "name too long for this machine" : err.message}; nothing was written`);
    }
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
}

function writeTree(preview: Preview, outDir: string): void {
    const write = (path: string, content: string, mode = 0o644) => {
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, content, { mode });
    };
    for (const s of preview.steps) {
        const base = join(outDir, s.host, "steps", `${String(s.n).padStart(2, "0")}-${safeName(s.name)}`);
        write(`${base}.create.sh`, `# command: ${s.create}  (script on standard input)\n${s.createScript}`);
        write(`${base}.delete.sh`, s.deleteScript);
        for (const f of s.files) write(join(outDir, s.host, "files", f.path), f.content);
    }
    const plan = {
        stack: preview.stack,
        hosts: [...new Set(preview.steps.map((s) => s.host))].sort(),
        steps: preview.steps.map((s) => ({
            host: s.host,
            n: s.n,
            name: s.name,
            urn: s.urn,
            command: s.create,
            files: s.files.map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, group: f.group, bytes: Buffer.byteLength(f.content) })),
            edited: s.edited,
            dependsOn: s.dependsOn,
            deleteBeforeReplace: s.deleteBeforeReplace,
            triggers: s.triggers,
        })),
        warnings: preview.warnings,
        ...(preview.opaqueSecrets.paths.length > 0 ? { opaqueSecrets: preview.opaqueSecrets } : {}),
        outputs: preview.outputs,
    };
    write(join(outDir, "plan.json"), `${JSON.stringify(plan, null, 2)}\n`);
}

export function summary(preview: Preview): string {
    const lines = [`stack ${preview.stack}: ${preview.steps.length} step(s) on ${new Set(preview.steps.map((s) => s.host)).size} host(s)`];
    for (const host of [...new Set(preview.steps.map((s) => s.host))].sort()) {
        const steps = preview.steps.filter((s) => s.host === host);
        lines.push(`  ${host}: ${steps.length} step(s), ${steps.reduce((n, s) => n + s.files.length, 0)} file(s)`);
        for (const s of steps) lines.push(`    ${String(s.n).padStart(2, "0")} ${s.name}${s.files.length ? `  [${s.files.map((f) => f.path).join(", ")}]` : ""}`);
    }
    return lines.join("\n");
}

const USAGE = "usage: npm run preview -- --stack <env> [--out DIR] [--project-dir DIR] [--against GIT-REF|PREVIEW-DIR [--format text|markdown]]";

interface Args {
    stack: string;
    out?: string;
    projectDir?: string;
    against?: string;
    format: "text" | "markdown";
}

function parseArgs(argv: string[]): Args {
    const args: Partial<Args> = { format: "text" };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack" || argv[i] === "-s") args.stack = argv[++i];
        else if (argv[i] === "--out") args.out = argv[++i];
        else if (argv[i] === "--project-dir") args.projectDir = argv[++i];
        else if (argv[i] === "--against") args.against = argv[++i];
        else if (argv[i] === "--format" && ["text", "markdown"].includes(argv[i + 1])) args.format = argv[++i] as Args["format"];
        else throw new Error(`unknown argument ${argv[i]}${argv[i] === "--format" ? ` ${argv[i + 1]}` : ""}; ${USAGE}`);
    }
    if (!args.stack) throw new Error(USAGE);
    return args as Args;
}

/**
 * The directory of the preview to compare with: `against` itself when it holds a
 * preview, else the preview of the stack at that git revision, made by that
 * revision's own program and tools in a scratch copy (undefined: the stack file did
 * not exist there, every step is new).
 */
export function basePreview(against: string, stack: string, projectDir: string, scratch: string): string | undefined {
    if (existsSync(join(against, "plan.json"))) return against;
    if (existsSync(against)) throw new Error(`--against ${against}: a directory without plan.json is not a hostwright preview`);
    const git = (...args: string[]) => execFileSync("git", ["-C", projectDir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    try {
        git("rev-parse", "--verify", "--quiet", `${against}^{commit}`);
    } catch {
        throw new Error(`--against ${against}: neither a preview directory nor a git revision of ${projectDir}`);
    }
    const tree = join(scratch, "tree");
    mkdirSync(tree, { recursive: true });
    execFileSync("sh", ["-c", 'git -C "$1" archive "$2" | tar -x -C "$3"', "sh", projectDir, against, tree], { stdio: ["ignore", "ignore", "pipe"] });
    if (!existsSync(stackFilePath(tree, stack))) return undefined;
    symlinkSync(join(projectDir, "node_modules"), join(tree, "node_modules"), "dir");
    const out = join(scratch, "preview");
    try {
        execFileSync("npx", ["tsx", "tools/preview.ts", "--stack", stack, "--out", out], { cwd: tree, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        throw new Error(`the preview of ${stack} at ${against} failed:\n${String((e as { stderr?: string }).stderr ?? e).trim()}`);
    }
    return out;
}

async function main(): Promise<void> {
    const args = parseArgs(process.argv.slice(2));
    const projectDir = args.projectDir ? resolve(args.projectDir) : resolve(__dirname, "..");
    const preview = await previewStack(args.stack, projectDir);
    const out = resolve(args.out ?? join("preview-out", args.stack));
    writePreview(preview, out);
    // With --format markdown, standard output is the comment body alone.
    const log = args.against && args.format === "markdown" ? console.error : console.log;
    if (preview.opaqueSecrets.paths.length > 0) console.warn(`note: ${preview.opaqueSecrets.paths.length} secret(s) not decrypted (${preview.opaqueSecrets.reason}); they appear as placeholders and the checks that need them are listed as not checked`);
    for (const w of preview.warnings) console.warn(`warning: ${w}`);
    log(summary(preview));
    log(`written to ${out}`);
    if (!args.against) return;
    const scratch = mkdtempSync(join(tmpdir(), "hostwright-base-"));
    try {
        const base = basePreview(args.against, args.stack, projectDir, scratch);
        const diff = planDiff(base, out, args.against);
        process.stdout.write(args.format === "markdown" ? formatMarkdown(diff) : `\n${formatText(diff)}`);
    } finally {
        rmSync(scratch, { recursive: true, force: true });
    }
}

if (require.main === module) {
    main().catch((e: unknown) => {
        console.error(e instanceof ValidationError ? `error: ${e.message}` : `error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    });
}
