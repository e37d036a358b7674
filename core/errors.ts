import * as pulumi from "@pulumi/pulumi";

/** One problem in the input, located by its path in the stack config or the component args. */
export interface Issue {
    /** Dotted/indexed path, e.g. `hostwright:h2o[0].listeners[1].port`. */
    path: string;
    /** What is wrong and what would be valid. */
    message: string;
    /** Warnings do not stop a deploy; they are reported. */
    severity?: "error" | "warning";
}

/**
 * Raised before any resource is declared when the input has errors; lists every
 * problem at once. A `RunError`, so `pulumi up` prints the message without a stack trace.
 */
export class ValidationError extends pulumi.RunError {
    constructor(
        readonly issues: Issue[],
        readonly subject = "configuration",
    ) {
        const message = formatIssues(subject, issues.filter((i) => (i.severity ?? "error") === "error"));
        super(message);
        this.name = "ValidationError";
        // Found once late inputs are known, the error rejects the Outputs built on them, and
        // Pulumi's serializer prefixes `error serializing property "K": ` to this very object
        // for every property it passes through: the engine would print that chain. Keep the
        // message the one the same values get when given plainly.
        Object.defineProperty(this, "message", { get: () => message, set: () => undefined, enumerable: false, configurable: true });
    }
}

export function formatIssues(subject: string, issues: Issue[]): string {
    const lines = issues.map((i) => `  - ${i.path}: ${i.message}`);
    return `${issues.length} problem${issues.length === 1 ? "" : "s"} in the ${subject}:\n${lines.join("\n")}`;
}

/** Collects issues under a path prefix; `throwIfErrors` raises one ValidationError for all of them. */
export class IssueList {
    readonly issues: Issue[] = [];

    error(path: string, message: string): void {
        this.issues.push({ path, message, severity: "error" });
    }

    warn(path: string, message: string): void {
        this.issues.push({ path, message, severity: "warning" });
    }

    addAll(issues: Issue[], prefix = ""): void {
        for (const i of issues) this.issues.push({ ...i, path: joinPath(prefix, i.path) });
    }

    get errors(): Issue[] {
        return this.issues.filter((i) => (i.severity ?? "error") === "error");
    }

    get warnings(): Issue[] {
        return this.issues.filter((i) => i.severity === "warning");
    }

    throwIfErrors(subject: string): void {
        if (this.errors.length > 0) throw new ValidationError(this.issues, subject);
    }
}

/** Joins a prefix and a relative path: ("a", "b") -> "a.b", ("a", "[0].b") -> "a[0].b". */
export function joinPath(prefix: string, path: string): string {
    if (!prefix) return path;
    if (!path) return prefix;
    return path.startsWith("[") ? `${prefix}${path}` : `${prefix}.${path}`;
}

/**
 * A component constructor's argument check: throws one ValidationError listing
 * every error (before anything is declared), logs each warning on the component,
 * and returns the warnings as `path: message` lines for its `warnings` output.
 */
export function acceptArgs(issues: Issue[], subject: string, component: pulumi.Resource, hosts: string[] = []): string[] {
    const list = new IssueList();
    list.addAll(issues);
    list.throwIfErrors(subject);
    const warnings = list.warnings.map((w) => `${w.path}: ${w.message}`);
    // The engine shows a warning under its component; the line names the hosts.
    const where = hostsPrefix(hosts);
    for (const w of warnings) pulumi.log.warn(`${where}${w}`, component);
    return warnings;
}

/** `(host h1) ` or `(hosts h1, h2) ` before a logged warning; nothing without hosts. */
export function hostsPrefix(hosts: string[]): string {
    const names = [...new Set(hosts.filter(Boolean))];
    return names.length === 0 ? "" : `(${names.length === 1 ? "host" : "hosts"} ${names.join(", ")}) `;
}
