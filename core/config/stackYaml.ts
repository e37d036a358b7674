/**
 * Reads a stack file (`stacks/Pulumi.<env>.yaml`) defensively: a size bound, UTF-8
 * checked with the position of the first bad byte, and YAML alias expansion bounded
 * before anything walks or serializes the document. Used by the offline preview and
 * the stack/secret tools, and by the program to see which secrets were `secure:`.
 */
import { existsSync, readFileSync, statSync } from "fs";
import * as yaml from "js-yaml";
import { join } from "path";
import { expansionProblem, invalidUtf8 } from "./text";

/** Largest stack file read (certificates included, a 1,000-host estate is well under 1 MiB). */
export const MAX_STACK_FILE_BYTES = 16 * 1024 * 1024;

/** A stack file that cannot be read as a stack config; the message names the file and the place. */
export class StackFileError extends Error {}

export interface StackDocument {
    encryptionsalt?: string;
    secretsprovider?: string;
    encryptedkey?: string;
    config?: Record<string, unknown>;
    [key: string]: unknown;
}

/** `stacks/Pulumi.<stack>.yaml` under the project directory (Pulumi.yaml sets `stackConfigDir: stacks`). */
export function stackFilePath(projectDir: string, stack: string): string {
    return join(projectDir, "stacks", `Pulumi.${stack}.yaml`);
}

/** Parses stack-file bytes; `path` is only for messages. @throws StackFileError */
export function parseStackYaml(bytes: Buffer, path: string): StackDocument {
    if (bytes.length > MAX_STACK_FILE_BYTES) throw new StackFileError(`${path} is ${bytes.length} bytes; a stack file is at most ${MAX_STACK_FILE_BYTES} bytes`);
    const bad = invalidUtf8(bytes);
    if (bad) throw new StackFileError(`${path}:${bad.line}:${bad.column}: not UTF-8 (byte 0x${bytes[bad.offset].toString(16).padStart(2, "0")} at offset ${bad.offset}); save the file as UTF-8`);
    let doc: unknown;
    try {
        doc = yaml.load(bytes.toString("utf8"), { filename: path });
    } catch (e) {
        const reason = e instanceof yaml.YAMLException ? e.reason : e instanceof Error ? e.message : String(e);
        const mark = e instanceof yaml.YAMLException && e.mark ? `:${e.mark.line + 1}:${e.mark.column + 1}` : "";
        throw new StackFileError(`${path}${mark}: not valid YAML: ${reason}`);
    }
    const tooBig = expansionProblem(doc);
    if (tooBig) throw new StackFileError(`${path}: ${tooBig}`);
    if (doc === undefined || doc === null) return {};
    if (typeof doc !== "object" || Array.isArray(doc)) throw new StackFileError(`${path}: must be a YAML map with a 'config:' key`);
    const config = (doc as StackDocument).config;
    if (config !== undefined && config !== null && (typeof config !== "object" || Array.isArray(config))) throw new StackFileError(`${path}: 'config' must be a map of KEY: value`);
    return doc as StackDocument;
}

/** Reads and parses a stack file. @throws StackFileError */
export function readStackYaml(path: string, howToCreate: string): StackDocument {
    if (!existsSync(path)) throw new StackFileError(`no stack file ${path}; ${howToCreate}`);
    const size = statSync(path).size;
    if (size > MAX_STACK_FILE_BYTES) throw new StackFileError(`${path} is ${size} bytes; a stack file is at most ${MAX_STACK_FILE_BYTES} bytes`);
    return parseStackYaml(readFileSync(path), path);
}

/** Is this YAML value a `secure:` (encrypted) value? */
export function isSecureValue(v: unknown): v is { secure: string } {
    if (!v || typeof v !== "object" || Array.isArray(v)) return false;
    const keys = Object.keys(v);
    return keys.length === 1 && keys[0] === "secure" && typeof (v as { secure: unknown }).secure === "string";
}

/**
 * The config paths written as `secure:` values, e.g. `hostwright:secrets.ops-ssh`
 * (keys qualified with `project` when the file leaves the namespace out).
 */
export function securePathsOf(doc: StackDocument, project: string): Set<string> {
    const paths = new Set<string>();
    const walk = (v: unknown, path: string): void => {
        if (isSecureValue(v)) paths.add(path);
        else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
        else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    };
    for (const [key, value] of Object.entries(doc.config ?? {})) walk(value, key.includes(":") ? key : `${project}:${key}`);
    return paths;
}
