/**
 * The stack config: read (from `pulumi.Config`'s raw values, which the offline
 * preview sets from the stack YAML), validated as a whole, then declared.
 * Every problem is collected before any resource exists.
 */
import { existsSync } from "fs";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { Issue, IssueList, joinPath, ValidationError } from "../errors";
import { Host } from "../host";
import { isOpaqueSecret } from "../opaque";
import { inventory, Inventory, secretRefs, textBlocks } from "./schema";
import { isReferenceIssue, placeholderHost, StackContext, StackSection } from "./sections";
import { readStackYaml, securePathsOf, StackFileError, stackFilePath } from "./stackYaml";
import { capQuotedValues, controlCharacterProblem, quote, TextKind } from "./text";

export const NAMESPACE = "hostwright";
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** Config as the engine passes it: fully-qualified key -> raw string (JSON for structured values). */
export interface RawConfig {
    values: Record<string, string>;
    secretKeys: ReadonlySet<string>;
    /**
     * The paths written as `secure:` values in the stack file (`hostwright:secrets.NAME`),
     * when the file was read: the engine marks a whole key secret when any value inside
     * it is, so only the file shows an entry of `hostwright:secrets` left in clear.
     */
    securePaths?: ReadonlySet<string>;
}

/**
 * The running program's config, exactly as `pulumi up` (or the offline preview)
 * provided it, with the secure paths of the stack file when the program can read it.
 */
export function rawConfigFromRuntime(): RawConfig {
    const values = pulumi.runtime.allConfig();
    // isConfigSecret is exported by the runtime but missing from its type declarations.
    const runtime = pulumi.runtime as unknown as { isConfigSecret(key: string): boolean };
    const secretKeys = new Set(Object.keys(values).filter((k) => runtime.isConfigSecret(k)));
    return { values, secretKeys, securePaths: stackFileSecurePaths(pulumi.runtime.getRootDirectory(), pulumi.getStack()) };
}

/** The secure paths of the project's stack file, or undefined when there is no project directory or readable file (e.g. under mocks). */
function stackFileSecurePaths(projectDir: string, stack: string): ReadonlySet<string> | undefined {
    const path = stackFilePath(projectDir, stack);
    if (!existsSync(join(projectDir, "Pulumi.yaml")) || !existsSync(path)) return undefined;
    let doc;
    try {
        doc = readStackYaml(path, "");
    } catch (e) {
        // The engine has read this file already; a file it accepts but this reader refuses is reported by the preview.
        if (e instanceof StackFileError) return undefined;
        throw e;
    }
    return securePathsOf(doc, pulumi.getProject());
}

export interface ValidatedStack {
    inventory: Inventory;
    /** Section key -> validated entries, for the sections present in the config. */
    sections: Map<string, Array<{ name: string }>>;
    context: StackContext;
    warnings: Issue[];
    /** Checks not run because they need a secret this run cannot read (see core/opaque.ts). */
    notRun: Issue[];
    /** Config paths of fields naming a secret this run cannot read, e.g. `hostwright:libvirt[0].sasl.password`. */
    opaqueReferences: string[];
}

const UNPARSABLE = Symbol("unparsable");

/** Largest config value read (the stack file itself is bounded the same way). */
export const MAX_VALUE_CHARS = 16 * 1024 * 1024;

function parseValue(key: string, raw: string, issues: IssueList): unknown {
    if (raw.length > MAX_VALUE_CHARS) {
        issues.error(key, `is ${raw.length} characters long; a config value is at most ${MAX_VALUE_CHARS}`);
        return UNPARSABLE;
    }
    try {
        return JSON.parse(raw);
    } catch {
        issues.error(key, "must be a structured value (a YAML map or list), not a plain string");
        return UNPARSABLE;
    }
}

/** The schema that validates the value at `path` inside `schema` (walking arrays, maps and optionals), if one does. */
function schemaAt(schema: z.ZodType, path: PropertyKey[]): any {
    let node: any = schema;
    const unwrap = () => {
        while (node && ["optional", "nullable", "default", "pipe"].includes(node.def?.type)) node = node.def.innerType ?? node.def.in;
    };
    unwrap();
    for (const p of path) {
        if (node?.def?.type === "array") node = node.def.element;
        else if (node?.def?.type === "object") node = node.def.shape[p as string];
        else if (node?.def?.type === "record") node = node.def.valueType;
        else return undefined;
        unwrap();
    }
    return node;
}

/**
 * Control characters, NUL and decoding errors in every string of a config value
 * (map keys included), whatever component reads it: a value reaches a file, a URL
 * or a shell. Strings are one line unless their schema is a text block (PEM).
 * Returns the paths it reported, so schema errors on the same place are not repeated.
 */
function textIssues(value: unknown, key: string, schema: z.ZodType | undefined, issues: IssueList): Set<string> {
    const reported = new Set<string>();
    const walk = (v: unknown, path: Array<string | number>, at: string): void => {
        // A private key pasted in clear is reported as such (below), not for its line breaks.
        if (typeof v === "string" && !PRIVATE_KEY_PEM.test(v)) {
            const node = schema && schemaAt(schema, path);
            const kind: TextKind = node && textBlocks.has(node) ? "block" : "line";
            const problem = controlCharacterProblem(v, kind);
            if (problem) {
                issues.error(at, problem);
                reported.add(at);
            }
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => walk(x, [...path, i], `${at}[${i}]`));
        } else if (v && typeof v === "object") {
            for (const [k, x] of Object.entries(v)) {
                const problem = controlCharacterProblem(k, "line");
                if (problem) {
                    issues.error(`${at}.${quote(k)}`, `the key ${problem}`);
                    reported.add(at);
                } else walk(x, [...path, k], `${at}.${k}`);
            }
        }
    };
    walk(value, [], key);
    return reported;
}

/** Formats a zod issue as one of ours: the YAML path, what is wrong and what would be valid. */
export function zodIssue(prefix: string, issue: z.core.$ZodIssue, schema: z.ZodType): Issue {
    const path = prefix + issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
    switch (issue.code) {
        case "unrecognized_keys": {
            const valid = validKeys(schema, issue.path);
            const named = issue.keys.slice(0, 10).map((k) => quote(k)).join(", ") + (issue.keys.length > 10 ? ` and ${issue.keys.length - 10} more` : "");
            const hints = valid ? issue.keys.slice(0, 10).flatMap((k) => meantKey(k, valid)) : [];
            return { path, message: `unknown key${issue.keys.length > 1 ? "s" : ""} ${named}${valid ? `; valid keys: ${valid.join(", ")}` : ""}${hints.map((h) => `; ${h}`).join("")}` };
        }
        case "invalid_value":
            return { path, message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}` };
        case "invalid_type": {
            // zod 4 leaves the input out of issues; its message ends with "received <type>".
            const received = /received (\w+)$/.exec(issue.message)?.[1];
            if (received === undefined || received === "undefined") return { path, message: `is required (${issue.expected})` };
            return { path, message: `must be ${article(issue.expected)}${issue.expected}, not ${received === "array" ? "a list" : received === "object" ? "a map" : `a ${received}`}` };
        }
        default:
            return { path, message: issue.message };
    }
}

/** Keys named differently in the stack config than in the library's types. */
const STACK_NAMES: Record<string, { key: string; why: string }> = {
    port: { key: "sshPort", why: "the stack config calls the SSH port sshPort; a library Host calls it port" },
};

/** "did you mean" hints for an unknown key: a renamed key, or a valid key one or two edits away. */
function meantKey(key: string, valid: string[]): string[] {
    const renamed = STACK_NAMES[key];
    if (renamed && valid.includes(renamed.key)) return [`did you mean ${renamed.key}? ${renamed.why}`];
    const close = valid.find((v) => editDistance(key.toLowerCase(), v.toLowerCase()) <= 2 && key.length > 2);
    return close ? [`did you mean ${close}?`] : [];
}

function editDistance(a: string, b: string): number {
    if (Math.abs(a.length - b.length) > 2 || a.length > 64) return 3;
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const row = [i];
        for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
        prev = row;
    }
    return prev[b.length];
}

function article(expected: string): string {
    return /^[aeiou]/.test(expected) ? "an " : "a ";
}

/** The keys an object schema accepts at `path` (walking arrays and optionals). */
function validKeys(schema: z.ZodType, path: PropertyKey[]): string[] | undefined {
    const node = schemaAt(schema, path);
    return node?.def?.type === "object" ? Object.keys(node.def.shape) : undefined;
}

/** Looks for private keys written in clear anywhere in a non-secret config value. */
function clearPrivateKeys(value: unknown, path: string, out: Issue[]): void {
    if (typeof value === "string") {
        if (PRIVATE_KEY_PEM.test(value)) {
            out.push({ path, message: "holds a private key in clear; store it as a secret (pulumi config set --secret --path 'hostwright:secrets.NAME' < key.pem) and refer to it by NAME" });
        }
    } else if (Array.isArray(value)) {
        value.forEach((v, i) => clearPrivateKeys(v, `${path}[${i}]`, out));
    } else if (value && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) clearPrivateKeys(v, `${path}.${k}`, out);
    }
}

/**
 * Validates the whole stack config against the inventory schema and the given sections.
 * @throws ValidationError listing every problem, before anything is declared.
 */
/** Config paths of the fields (secretRef schemas) that name one of the `opaque` secrets -> the secret's name. */
function opaqueReferences(key: string, value: unknown, schema: z.ZodType, opaque: ReadonlySet<string>): Map<string, string> {
    const found = new Map<string, string>();
    const walk = (v: unknown, path: Array<string | number>, at: string): void => {
        if (typeof v === "string") {
            if (opaque.has(v) && secretRefs.has(schemaAt(schema, path))) found.set(at, v);
        } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i], `${at}[${i}]`));
        else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k], `${at}.${k}`);
    };
    walk(value, [], key);
    return found;
}

/** The names of the hosts of an inventory value, even one that fails its schema. */
function hostNamesOf(inventoryValue: unknown): string[] {
    const list = (inventoryValue as { hosts?: unknown } | null)?.hosts;
    if (!Array.isArray(list)) return [];
    return list.map((h) => (h as { name?: unknown } | null)?.name).filter((n): n is string => typeof n === "string");
}

/**
 * Checks one config value against its schema and the text rules for every string in
 * it; returns the parsed value when both pass. A string refused for its characters
 * is not reported again by the schema.
 */
function parseSection<T>(key: string, value: unknown, schema: z.ZodType<T>, issues: IssueList): T | undefined {
    const badText = textIssues(value, key, schema, issues);
    const parsed = schema.safeParse(value);
    if (parsed.success) return badText.size === 0 ? parsed.data : undefined;
    for (const i of parsed.error.issues) {
        const issue = zodIssue(key, i, schema);
        if (!badText.has(issue.path)) issues.addAll([issue]);
    }
    return undefined;
}

export function validateStack(raw: RawConfig, sections: StackSection[]): ValidatedStack {
    const issues = new IssueList();
    const sectionByKey = new Map(sections.map((s) => [s.key, s]));
    const known = new Set(["inventory", "secrets", ...sectionByKey.keys()]);

    for (const key of Object.keys(raw.values).sort()) {
        const [ns, rest] = key.split(/:(.*)/s);
        if (ns !== NAMESPACE) continue;
        if (!known.has(rest)) issues.error(key.length > 200 ? quote(key) : key, `unknown config key; valid keys: ${[...known].map((k) => `${NAMESPACE}:${k}`).join(", ")}`);
    }

    // Secrets: one map, encrypted.
    const secretsKey = `${NAMESPACE}:secrets`;
    const secrets = new Map<string, string>();
    const opaque = new Set<string>();
    const opaquePaths: string[] = [];
    const notRun: Issue[] = [];
    if (raw.values[secretsKey] !== undefined) {
        const value = parseValue(secretsKey, raw.values[secretsKey], issues);
        if (value !== UNPARSABLE && !raw.secretKeys.has(secretsKey)) {
            issues.error(secretsKey, "is not encrypted; set each entry with: pulumi config set --secret --path 'hostwright:secrets.NAME' < FILE");
        }
        // The engine marks the whole map secret when one entry is: only the file shows an entry left in clear.
        const encrypted = [...(raw.securePaths ?? [])].some((p) => p.startsWith(`${secretsKey}.`));
        if (value && typeof value === "object" && !Array.isArray(value)) {
            for (const [k, v] of Object.entries(value)) {
                const at = `${secretsKey}.${/^[A-Za-z0-9._-]{1,128}$/.test(k) ? k : quote(k)}`;
                if (!/^[A-Za-z0-9._-]{1,128}$/.test(k)) issues.error(at, "secret names are 1-128 letters, digits, '.', '_', '-'");
                else if (typeof v !== "string") issues.error(at, "must be a string (PEM text, a token or a password)");
                else if (encrypted && !raw.securePaths!.has(at)) issues.error(at, `is in clear in the stack file while the other secrets are encrypted; remove it and set it with: pulumi config set --secret --path '${at}' < FILE`);
                else {
                    const problem = controlCharacterProblem(v, "secret");
                    if (problem) issues.error(at, problem);
                    else {
                        secrets.set(k, v);
                        if (isOpaqueSecret(v)) opaque.add(k);
                    }
                }
            }
        } else if (value !== UNPARSABLE) issues.error(secretsKey, "must be a map of NAME: value");
    }

    // Nothing outside hostwright:secrets may hold a private key in clear.
    for (const [key, rawValue] of Object.entries(raw.values)) {
        if (key === secretsKey || !key.startsWith(`${NAMESPACE}:`) || raw.secretKeys.has(key)) continue;
        const found: Issue[] = [];
        let parsed: unknown = rawValue;
        try {
            parsed = JSON.parse(rawValue);
        } catch {
            /* a plain string */
        }
        clearPrivateKeys(parsed, key, found);
        issues.addAll(found);
    }

    // Inventory.
    const invKey = `${NAMESPACE}:inventory`;
    let inv: Inventory | undefined;
    const hosts = new Map<string, Host>();
    if (raw.values[invKey] === undefined) {
        issues.error(invKey, "is required: a map with 'hosts' (name, address, hostKey, privateKey, ...) and optional 'defaults'");
    } else {
        const value = parseValue(invKey, raw.values[invKey], issues);
        if (value !== UNPARSABLE) inv = parseSection(invKey, value, inventory, issues);
        // An inventory with errors still names its hosts: references to other names are reported now, not after a fix.
        if (!inv) for (const hostName of hostNamesOf(value)) hosts.set(hostName, placeholderHost(hostName));
    }
    const inventoryValid = inv !== undefined;
    if (inv) {
        const seenNames = new Map<string, number>();
        const notAKey = new Set<string>();
        const seenEndpoints = new Map<string, string>();
        inv.hosts.forEach((h, i) => {
            const at = `${invKey}.hosts[${i}]`;
            if (seenNames.has(h.name)) issues.error(`${at}.name`, `duplicate host name ${quote(h.name)} (also hosts[${seenNames.get(h.name)}]); host names must be unique`);
            seenNames.set(h.name, i);
            const port = h.sshPort ?? inv!.defaults?.sshPort ?? 22;
            const endpoint = `${h.address}:${port}`;
            if (seenEndpoints.has(endpoint)) issues.error(`${at}.address`, `${endpoint} is also the SSH endpoint of host ${seenEndpoints.get(endpoint)}; each host needs its own address or port`);
            seenEndpoints.set(endpoint, h.name);
            const keyName = h.privateKey ?? inv!.defaults?.privateKey;
            if (keyName === undefined) issues.error(`${at}.privateKey`, "is required (here or in defaults.privateKey): the name of the host's SSH private key in hostwright:secrets");
            else if (!secrets.has(keyName)) issues.error(`${at}.privateKey`, `secret ${quote(keyName)} is not in hostwright:secrets; add it with: pulumi config set --secret --path 'hostwright:secrets.${keyName}' < KEYFILE`);
            else if (opaque.has(keyName)) {
                if (!notAKey.has(keyName)) notRun.push({ path: `${secretsKey}.${keyName}`, message: `is the SSH private key of host ${h.name}: not checked (the secret's value is not known here)` });
                notAKey.add(keyName);
            }
            else if (!/-----BEGIN (OPENSSH |RSA |EC )?PRIVATE KEY-----/.test(secrets.get(keyName)!) && !notAKey.has(keyName)) {
                notAKey.add(keyName);
                issues.error(`${secretsKey}.${keyName}`, `is used as the SSH private key of host ${h.name} but is not a PEM or OpenSSH private key`);
            }
            // Frozen: components walk their args for late values, and a frozen host is walked once (core/inputs.ts).
            hosts.set(h.name, Object.freeze({
                name: h.name,
                address: h.address,
                port,
                user: h.user ?? inv!.defaults?.user ?? "root",
                // An undecrypted key stays its placeholder: it only reaches the connection, and an unknown there would hide the host.
                privateKey: pulumi.secret(secrets.get(keyName ?? "") ?? ""),
                hostKey: h.hostKey,
                os: h.os ?? inv!.defaults?.os ?? "debian",
                init: h.init ?? inv!.defaults?.init ?? "systemd",
                labels: Object.freeze({ ...h.labels }),
            }));
        });
    }

    const context: StackContext = {
        hosts,
        secretNames: new Set(secrets.keys()),
        secretValue: (n) => (opaque.has(n) ? undefined : secrets.get(n)),
        // An undecrypted secret stays its placeholder: what it reaches is still rendered (and redacted).
        secret: (n) => pulumi.secret(secrets.get(n) ?? ""),
    };

    const values = new Map<string, Array<{ name: string }>>();
    for (const section of sections) {
        const key = `${NAMESPACE}:${section.key}`;
        if (raw.values[key] === undefined) continue;
        const value = parseValue(key, raw.values[key], issues);
        if (value === UNPARSABLE) continue;
        const parsed = parseSection(key, value, section.schema, issues);
        if (parsed === undefined) continue;
        values.set(section.key, parsed);
        if (inventoryValid) {
            const found = section.check(parsed, context);
            // A problem reported on a field naming an undecrypted secret comes from a check that needed its value.
            const needsOpaque = opaque.size === 0 ? new Map<string, string>() : opaqueReferences(key, value, section.schema, opaque);
            opaquePaths.push(...needsOpaque.keys());
            for (const issue of found) {
                const at = joinPath(key, issue.path);
                const secretName = needsOpaque.get(at);
                if (secretName !== undefined && (issue.severity ?? "error") === "error") notRun.push({ path: at, message: `not checked: needs the value of ${secretsKey}.${secretName}, which is not known here` });
                else issues.addAll([issue], key);
            }
        }
        // With an inventory in error only dangling references are sure; the other checks need the real hosts.
        else if (hosts.size > 0) issues.addAll(section.check(parsed, context).filter(isReferenceIssue), key);
    }

    // Components quote values in their messages: keep a huge value from flooding the terminal.
    for (const issue of issues.issues) issue.message = capQuotedValues(issue.message);
    issues.throwIfErrors("stack config");
    return { inventory: inv!, sections: values, context, warnings: issues.warnings, notRun: [...new Map(notRun.map((i) => [i.path, i])).values()], opaqueReferences: opaquePaths };
}

/** `address:port`, with IPv6 addresses in brackets. */
export function endpointOf(address: string, port: number): string {
    return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Validates, then declares every configured section's entries. Resolves to the stack
 * outputs; rejects with a {@link ValidationError} before anything is declared.
 */
export async function declareStack(raw: RawConfig, sections: StackSection[]): Promise<Record<string, unknown>> {
    const stack = validateStack(raw, sections);
    // A section's warnings come from its component's own checks, which the component
    // logs again, attached to its resource: log here only the rest (inventory, secrets).
    const sectionPrefixes = sections.map((s) => `${NAMESPACE}:${s.key}`);
    for (const n of stack.notRun) pulumi.log.warn(`${n.path}: ${n.message}`);
    for (const w of stack.warnings) {
        if (!sectionPrefixes.some((p) => w.path === p || w.path.startsWith(`${p}[`) || w.path.startsWith(`${p}.`))) pulumi.log.warn(`${w.path}: ${w.message}`);
    }
    // Inventory name -> SSH endpoint: tells a reader (and the offline preview) where each step runs.
    const outputs: Record<string, unknown> = { hosts: Object.fromEntries([...stack.context.hosts.values()].map((h) => [h.name, endpointOf(h.address, h.port ?? 22)])) };
    for (const section of sections) {
        const entries = stack.sections.get(section.key);
        if (!entries) continue;
        const declared: Record<string, unknown> = {};
        for (const [i, entry] of entries.entries()) {
            declared[entry.name] = await inNextTurn(() => {
                const at = `${NAMESPACE}:${section.key}[${i}]`;
                try {
                    return section.declare(entry, stack.context);
                } catch (e) {
                    // A component that checks a secret's value itself cannot be declared without it:
                    // the offline preview leaves it out, says so, and writes the rest.
                    const needed = stack.opaqueReferences.filter((p) => p.startsWith(`${at}.`) || p.startsWith(`${at}[`));
                    if (!(e instanceof ValidationError) || needed.length === 0) throw e;
                    pulumi.log.warn(`${at} (${entry.name}): not previewed: the component checks the values of ${needed.join(", ")}, which are not known here`);
                    return { notPreviewed: "secrets not known offline" };
                }
            });
        }
        outputs[section.key] = declared;
    }
    return outputs;
}

/**
 * `declare()` in an event-loop turn of its own. Pulumi registers what the last component
 * declared before the next one starts, so the registration's temporaries die young
 * instead of being copied by every minor GC until the whole estate is declared: half
 * the evaluation time of a large estate. And called from the event loop rather than
 * from the program's chain of awaits, the component's resources are constructed on a
 * short stack: Pulumi takes and source-maps the whole stack of every resource
 * (`Resource.callsites`), so each frame below costs that much more per resource
 * (bench/README.md).
 */
export function inNextTurn<T>(declare: () => T): Promise<T> {
    return new Promise((resolve, reject) =>
        setImmediate(() => {
            try {
                resolve(declare());
            } catch (e) {
                reject(e);
            }
        }),
    );
}

export { ValidationError };
