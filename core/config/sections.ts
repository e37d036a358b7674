import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { Issue } from "../errors";
import type { Host } from "../host";

/** What a section sees of the rest of the stack config. */
export interface StackContext {
    /** Inventory hosts by name, resolved (private keys as Pulumi secrets) and frozen. */
    hosts: ReadonlyMap<string, Host>;
    /** Names of the entries of `hostwright:secrets`. */
    secretNames: ReadonlySet<string>;
    /**
     * The clear text of a named secret, for checks made before anything is declared
     * (never log it); undefined when it is not known (an offline preview that cannot
     * decrypt the stack's secrets): a check that needs it is then not run.
     */
    secretValue(name: string): string | undefined;
    /** A named secret as a Pulumi secret. */
    secret(name: string): pulumi.Output<string>;
}

/**
 * One component's part of the stack config: the `hostwright:<key>` config value, a
 * list of entries, each declaring one component named by its `name`.
 * Registered in `components/registry.ts`.
 */
export interface StackSection<Entry extends { name: string } = any> {
    /** Config key inside the `hostwright` namespace, e.g. `h2o` for `hostwright:h2o`. */
    key: string;
    /** One line for `--help`-style listings and error messages. */
    title: string;
    schema: z.ZodType<Entry[]>;
    /**
     * Checks the schema cannot express (host references, secrets, certificates).
     * Paths are relative to the section value, e.g. `[0].host`.
     */
    check(entries: Entry[], ctx: StackContext): Issue[];
    /**
     * Declares one entry's component; returns its stack outputs (`<key>.<name>`).
     * Called only when no section has errors.
     */
    declare(entry: Entry, ctx: StackContext): Record<string, unknown>;
}

/**
 * Issues made by {@link hostRefIssues} and {@link secretRefIssues}: they stay true
 * when the inventory itself has errors, so they are reported beside its schema errors.
 */
const referenceIssues = new WeakSet<Issue>();

/** Whether an issue is a dangling host or secret reference (see {@link referenceIssues}). */
export function isReferenceIssue(issue: Issue): boolean {
    return referenceIssues.has(issue);
}

function reference(issue: Issue): Issue[] {
    referenceIssues.add(issue);
    return [issue];
}

/** Issue for a host reference that is not in the inventory (empty when it is). */
export function hostRefIssues(ctx: StackContext, path: string, hostName: string): Issue[] {
    if (ctx.hosts.has(hostName)) return [];
    const known = [...ctx.hosts.keys()];
    return reference({ path, message: `host ${JSON.stringify(hostName)} is not in hostwright:inventory (known hosts: ${known.slice(0, 20).join(", ")}${known.length > 20 ? ", ..." : ""})` });
}

/** Issue for a secret reference that is not in `hostwright:secrets` (empty when it is). */
export function secretRefIssues(ctx: StackContext, path: string, secretName: string): Issue[] {
    if (ctx.secretNames.has(secretName)) return [];
    return reference({ path, message: `secret ${JSON.stringify(secretName)} is not in hostwright:secrets; add it with: pulumi config set --secret --path 'hostwright:secrets.${secretName}' < FILE` });
}

/** Issues for entries of a section list that repeat an earlier entry's `name` (resource names are unique per section). */
export function duplicateNameIssues(entries: ReadonlyArray<{ name: string }>, what: string): Issue[] {
    const first = new Map<string, number>();
    const issues: Issue[] = [];
    entries.forEach((e, i) => {
        const earlier = first.get(e.name);
        if (earlier !== undefined) issues.push({ path: `[${i}].name`, message: `duplicate ${what} name ${JSON.stringify(e.name)} (also [${earlier}])` });
        else first.set(e.name, i);
    });
    return issues;
}

/** Stands in for a host missing from the inventory while the other checks run (that error is reported once, by {@link hostRefIssues}). */
export function placeholderHost(hostName: string): Host {
    return { name: hostName, address: hostName, privateKey: "", hostKey: "" };
}
