/**
 * Reads `stacks/Pulumi.<env>.yaml` the way the Pulumi CLI hands config to a
 * program: fully-qualified keys, structured values as JSON, `secure:` values
 * decrypted, and a key marked secret when any value inside it was `secure:`.
 */
import type { RawConfig } from "../core/config/stack";
import { isSecureValue, readStackYaml, securePathsOf } from "../core/config/stackYaml";
import { PassphraseCrypter } from "./passphrase";

export { stackFilePath } from "../core/config/stackYaml";

export interface StackFile extends RawConfig {
    /** The clear text of every `secure:` value, for redaction. */
    secretTexts: string[];
}

/** What `no stack file` tells the user to do. */
export const HOW_TO_CREATE = "create it with `pulumi stack init NAME` (it lands in stacks/ as Pulumi.yaml sets stackConfigDir), or start from a copy of stacks/Pulumi.example.yaml";

/**
 * @param passphrase PULUMI_CONFIG_PASSPHRASE; required when the file holds `secure:` values.
 * @throws StackFileError (unreadable file: size, UTF-8, YAML, alias expansion) or Error (secrets).
 */
export function readStackFile(path: string, project: string, passphrase: string | undefined): StackFile {
    const doc = readStackYaml(path, HOW_TO_CREATE);
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
            if (isSecureValue(v)) {
                secret = true;
                return decrypt(v.secure);
            }
            if (Array.isArray(v)) return v.map(plain);
            if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
            return v;
        };
        const resolved = plain(value);
        values[key] = typeof resolved === "string" ? resolved : JSON.stringify(resolved);
        if (secret) secretKeys.add(key);
    }
    return { values, secretKeys, securePaths: securePathsOf(doc, project), secretTexts };
}
