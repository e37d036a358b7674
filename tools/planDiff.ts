/**
 * The plan diff of two offline previews (a base, e.g. the pull request's target
 * branch, and a head): per host, each step marked as the engine will treat it —
 * create (new), delete (gone: its undo runs), replace (its triggers changed: the new
 * step runs, then the old one's undo), update (other inputs changed), unchanged,
 * unknown (its content is known only after apply: a look-up's result, so neither
 * this diff nor the engine's preview can say whether it changes) —
 * with a unified diff of every changed file and of the meaningful part of every
 * changed script (generation ids, staging ids and here-document markers masked, file
 * bodies left to the file diffs). Both previews are already redacted.
 */
import { existsSync, readFileSync } from "fs";
import { join } from "path";
import { UNKNOWN_PLACEHOLDER } from "./record";
import { unifiedDiff } from "./unifiedDiff";

export type Action = "create" | "replace" | "update" | "delete" | "unchanged" | "unknown";

interface PlanStep {
    host: string;
    n: number;
    name: string;
    urn: string;
    command: string;
    files: Array<{ path: string }>;
    deleteBeforeReplace: boolean;
    triggers: unknown[];
}

interface Plan {
    stack: string;
    steps: PlanStep[];
    warnings?: string[];
}

export interface StepChange {
    action: Action;
    host: string;
    name: string;
    /** Position on its host in the head preview (the base's for a delete). */
    n: number;
    deleteBeforeReplace: boolean;
    /** Unified diffs: files, then the create and delete scripts. */
    diffs: string[];
}

export interface PlanDiff {
    stack: string;
    against: string;
    changes: StepChange[];
    counts: Record<Action, number>;
    /** Warnings of the head preview that the base did not have. */
    newWarnings: string[];
}

function readPlan(dir: string): Plan {
    const path = join(dir, "plan.json");
    if (!existsSync(path)) throw new Error(`${dir} holds no plan.json: not a hostwright preview`);
    return JSON.parse(readFileSync(path, "utf8")) as Plan;
}

function stepBase(dir: string, s: PlanStep): string {
    return join(dir, s.host, "steps", `${String(s.n).padStart(2, "0")}-${s.name.replace(/[^A-Za-z0-9._-]/g, "_")}`);
}

function readIf(path: string): string | undefined {
    return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

/**
 * The part of a step script a reviewer needs: here-document bodies (the files, diffed
 * on their own) dropped, and ids that change with any content masked — the generation
 * (`HW_GEN`), staging ids and here-document delimiters.
 */
export function meaningfulScript(script: string): string {
    const out: string[] = [];
    let delimiter: string | undefined;
    let body = 0;
    for (const line of script.split("\n")) {
        if (delimiter !== undefined) {
            if (line === delimiter) {
                out.push(`  [${body} line(s) of content]`);
                delimiter = undefined;
            } else body++;
            continue;
        }
        const heredoc = /<<'(HOSTWRIGHT_EOF_[A-Za-z0-9_]+)'$/.exec(line);
        if (heredoc) {
            delimiter = heredoc[1];
            body = 0;
        }
        out.push(
            line
                .replace(/HOSTWRIGHT_EOF_[A-Za-z0-9]+_*/g, "HOSTWRIGHT_EOF")
                .replace(/\bHW_GEN=[0-9a-f]+/g, "HW_GEN=<generation>")
                .replace(/\b(hw_stage|hw_put_staged) [0-9a-f]{8,}\b/g, "$1 <id>")
                .replace(/\b[0-9a-f]{32}\b/g, "<hash>"),
        );
    }
    return out.join("\n");
}

/** Compares the preview in `baseDir` with the one in `headDir`. */
export function planDiff(baseDir: string | undefined, headDir: string, against: string): PlanDiff {
    const head = readPlan(headDir);
    const base: Plan = baseDir ? readPlan(baseDir) : { stack: head.stack, steps: [] };
    const baseByUrn = new Map(base.steps.map((s) => [s.urn, s]));
    const headUrns = new Set(head.steps.map((s) => s.urn));
    const changes: StepChange[] = [];

    const fileDiffs = (b: PlanStep | undefined, h: PlanStep | undefined): string[] => {
        const paths = [...new Set([...(b?.files ?? []), ...(h?.files ?? [])].map((f) => f.path))].sort();
        return paths
            .map((p) => unifiedDiff(p, b && baseDir ? readIf(join(baseDir, b.host, "files", p)) : undefined, h ? readIf(join(headDir, h.host, "files", p)) : undefined))
            .filter((d) => d !== "");
    };
    const scriptDiffs = (b: PlanStep | undefined, h: PlanStep | undefined): string[] =>
        (["create", "delete"] as const)
            .map((kind) => {
                const before = b && baseDir ? readIf(`${stepBase(baseDir, b)}.${kind}.sh`) : undefined;
                const after = h ? readIf(`${stepBase(headDir, h)}.${kind}.sh`) : undefined;
                const label = `/${(h ?? b)!.host}/steps/${(h ?? b)!.name}.${kind}.sh`;
                return unifiedDiff(label, before === undefined ? undefined : meaningfulScript(before), after === undefined ? undefined : meaningfulScript(after));
            })
            .filter((d) => d !== "");

    for (const h of head.steps) {
        const b = baseByUrn.get(h.urn);
        if (!b) {
            changes.push({ action: "create", host: h.host, name: h.name, n: h.n, deleteBeforeReplace: h.deleteBeforeReplace, diffs: fileDiffs(undefined, h) });
            continue;
        }
        const diffs = [...fileDiffs(b, h), ...scriptDiffs(b, h)];
        // New triggers replace the command; other changed inputs update it in place.
        const action: Action = [b, h].some(knownOnlyAfterApply)
            ? "unknown"
            : JSON.stringify(b.triggers) !== JSON.stringify(h.triggers)
              ? "replace"
              : diffs.length > 0 || b.command !== h.command || b.host !== h.host
                ? "update"
                : "unchanged";
        changes.push({ action, host: h.host, name: h.name, n: h.n, deleteBeforeReplace: h.deleteBeforeReplace, diffs });
    }
    for (const b of base.steps) {
        if (headUrns.has(b.urn)) continue;
        changes.push({ action: "delete", host: b.host, name: b.name, n: b.n, deleteBeforeReplace: b.deleteBeforeReplace, diffs: fileDiffs(b, undefined) });
    }
    const hostOrder = [...new Set([...head.steps, ...base.steps].map((s) => s.host))].sort();
    changes.sort((x, y) => hostOrder.indexOf(x.host) - hostOrder.indexOf(y.host) || Number(x.action === "delete") - Number(y.action === "delete") || x.n - y.n);
    const counts: Record<Action, number> = { create: 0, replace: 0, update: 0, delete: 0, unchanged: 0, unknown: 0 };
    for (const c of changes) counts[c.action]++;
    const baseWarnings = new Set(base.warnings ?? []);
    return { stack: head.stack, against, changes, counts, newWarnings: (head.warnings ?? []).filter((w) => !baseWarnings.has(w)) };
}

/** A step whose content (and so its triggers) is known only after apply. */
function knownOnlyAfterApply(step: PlanStep): boolean {
    return JSON.stringify(step.triggers).includes(UNKNOWN_PLACEHOLDER);
}

const MARK: Record<Action, string> = { create: "+", replace: "±", update: "~", delete: "-", unchanged: " ", unknown: "?" };
const WHAT: Record<Action, string> = {
    create: "create",
    replace: "replace",
    update: "update",
    delete: "delete",
    unchanged: "unchanged",
    unknown: "unknown",
};

function note(c: StepChange): string {
    if (c.action === "replace") return c.deleteBeforeReplace ? " (the old step's undo runs, then the new step)" : " (the new step runs, then the old step's undo, which leaves the new files alone)";
    if (c.action === "delete") return " (its undo runs: files it installed are restored or removed)";
    if (c.action === "update") return " (inputs changed without new triggers: the create script runs again)";
    if (c.action === "unknown") return " (its content is known only after apply, e.g. from a look-up: it may be replaced)";
    return "";
}

export function summaryLine(d: PlanDiff): string {
    const c = d.counts;
    return `${c.create} to create, ${c.replace} to replace, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged${c.unknown > 0 ? `, ${c.unknown} known only after apply` : ""}`;
}

/** The plan diff for a terminal: markers per step, then every diff. */
export function formatText(d: PlanDiff): string {
    const lines = [`plan for stack ${d.stack} against ${d.against}:`];
    for (const host of [...new Set(d.changes.map((c) => c.host))]) {
        lines.push(`  ${host}`);
        for (const c of d.changes.filter((x) => x.host === host)) lines.push(`    ${MARK[c.action]} ${WHAT[c.action].padEnd(9)} ${c.name}${note(c)}`);
    }
    for (const w of d.newWarnings) lines.push(`  new warning: ${w}`);
    lines.push(summaryLine(d));
    for (const c of d.changes.filter((x) => x.diffs.length > 0)) lines.push("", `${MARK[c.action]} ${c.host}: ${c.name} (${c.action})`, ...c.diffs.map((x) => x.trimEnd()));
    return `${lines.join("\n")}\n`;
}

/** Longest diff shown open in a pull-request comment; longer ones are collapsed. */
const OPEN_DIFF_LINES = 30;

/** The plan diff as a pull-request comment body (GitHub markdown; long diffs collapsed). */
export function formatMarkdown(d: PlanDiff): string {
    const out = [`### hostwright plan: \`${d.stack}\` against \`${d.against}\``, "", `**${summaryLine(d)}**`, ""];
    for (const host of [...new Set(d.changes.map((c) => c.host))]) {
        const changed = d.changes.filter((x) => x.host === host);
        out.push(`#### ${host}`, "", "| | step | action |", "|---|---|---|");
        for (const c of changed) out.push(`| \`${MARK[c.action]}\` | \`${c.name}\` | ${WHAT[c.action]}${note(c)} |`);
        out.push("");
        for (const c of changed.filter((x) => x.diffs.length > 0)) {
            const body = c.diffs.join("").trimEnd();
            // A fence longer than any backtick run inside keeps the diff intact.
            const fence = "`".repeat(Math.max(3, ...(body.match(/`+/g) ?? []).map((m) => m.length + 1)));
            const block = [`${fence}diff`, body, fence];
            if (body.split("\n").length > OPEN_DIFF_LINES) out.push(`<details><summary><code>${c.name}</code>: ${c.diffs.length} diff(s), ${body.split("\n").length} lines</summary>`, "", ...block, "", "</details>", "");
            else out.push(`\`${c.name}\`:`, "", ...block, "");
        }
    }
    if (d.newWarnings.length > 0) out.push("**New warnings**", "", ...d.newWarnings.map((w) => `- ${w.replace(/[<>]/g, (ch) => (ch === "<" ? "&lt;" : "&gt;"))}`), "");
    return `${out.join("\n")}\n`;
}
