/**
 * Reads `stacks/Pulumi.<env>.yaml` the way the Pulumi CLI hands config to a
 * program: fully-qualified keys, structured values as JSON, `secure:` values
 * decrypted, and a key marked secret when any value inside it was `secure:`.
 */
import { existsSync, readFileSync } from "fs";
import * as yaml from "js-yaml";
import { join } from "path";
import type { RawConfig } from "../core/config/stack";
import { PassphraseCrypter } from "./passphrase";

export interface StackFile extends RawConfig {
    /** The clear text of every `secure:` value, for redaction. */
    secretTexts: string[];
}

export function stackFilePath(projectDir: string, stack: string): string {
    return join(projectDir, "stacks", `Pulumi.${stack}.yaml`);
}

/**
 * @param passphrase PULUMI_CONFIG_PASSPHRASE; required when the file holds `secure:` values.
 */
export function readStackFile(path: string, project: string, passphrase: string | undefined): StackFile {
    if (!existsSync(path)) throw new Error(`no stack file ${path}`);
    const doc = (yaml.load(readFileSync(path, "utf8")) ?? {}) as { config?: Record<string, unknown>; encryptionsalt?: string };
    const values: Record<string, string> = {};
    const secretKeys = new Set<string>();
    const secretTexts: string[] = [];
    let crypter: PassphraseCrypter | undefined;
    const decrypt = (ciphertext: string): string => {
        if (!crypter) {
            if (!doc.encryptionsalt) throw new Error(`${path} has secure values but no encryptionsalt (only the passphrase secrets provider is supported offline)`);
            if (passphrase === undefined) throw new Error(`${path} holds secrets: set PULUMI_CONFIG_PASSPHRASE (as for pulumi preview)`);
            crypter = PassphraseCrypter.open(passphrase, doc.encryptionsalt);
        }
        const text = crypter.decrypt(ciphertext);
        secretTexts.push(text);
        return text;
    };
    for (const [rawKey, value] of Object.entries(doc.config ?? {})) {
        const key = rawKey.includes(":") ? rawKey : `${project}:${rawKey}`;
        let secret = false;
        const plain = (v: unknown): unknown => {
            if (v && typeof v === "object" && !Array.isArray(v)) {
                const entries = Object.entries(v as Record<string, unknown>);
                if (entries.length === 1 && entries[0][0] === "secure" && typeof entries[0][1] === "string") {
                    secret = true;
                    return decrypt(entries[0][1]);
                }
                return Object.fromEntries(entries.map(([k, x]) => [k, plain(x)]));
            }
            if (Array.isArray(v)) return v.map(plain);
            return v;
        };
        const resolved = plain(value);
        values[key] = typeof resolved === "string" ? resolved : JSON.stringify(resolved);
        if (secret) secretKeys.add(key);
    }
    return { values, secretKeys, secretTexts };
}
