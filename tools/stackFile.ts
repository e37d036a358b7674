/**
 * Reads `stacks/Pulumi.<env>.yaml` the way the Pulumi CLI hands config to a
 * program: fully-qualified keys, structured values as JSON, `secure:` values
 * decrypted, and a key marked secret when any value inside it was `secure:`.
 */
import { RawConfig } from "../core/config/stack";
import { OPAQUE_SECRET } from "../core/opaque";
import { isSecureValue, readStackYaml, securePathsOf } from "../core/config/stackYaml";
import { PassphraseCrypter } from "./passphrase";

export { stackFilePath } from "../core/config/stackYaml";

export interface StackFile extends RawConfig {
    /** The clear text of every `secure:` value, for redaction. */
    secretTexts: string[];
    /**
     * Paths of the `secure:` values that could not be decrypted here (no passphrase
     * given, or another secrets provider): each reads {@link OPAQUE_SECRET}`(path)`.
     */
    opaqueSecrets: string[];
    /** Why the secrets are opaque, when they are. */
    opaqueReason?: string;
}

/** What `no stack file` tells the user to do. */
export const HOW_TO_CREATE = "create it with `npm run stack -- init NAME` (or `pulumi stack init NAME`: Pulumi.yaml puts stack files in stacks/), then add the inventory and sections as in stacks/Pulumi.example.yaml";

/**
 * @param passphrase PULUMI_CONFIG_PASSPHRASE. Without it, or for a stack whose secrets
 * provider is not the passphrase (Pulumi Cloud, KMS, Vault), every `secure:` value
 * becomes an opaque placeholder (see {@link StackFile.opaqueSecrets}).
 * @throws StackFileError (unreadable file: size, UTF-8, YAML, alias expansion) or Error (a wrong passphrase).
 */
export function readStackFile(path: string, project: string, passphrase: string | undefined): StackFile {
    const doc = readStackYaml(path, HOW_TO_CREATE);
    const values: Record<string, string> = {};
    const secretKeys = new Set<string>();
    const secretTexts: string[] = [];
    const opaqueSecrets: string[] = [];
    const opaqueReason =
        doc.secretsprovider && doc.secretsprovider !== "passphrase"
            ? `the stack's secrets provider is ${doc.secretsprovider}, which only the Pulumi CLI can use`
            : !doc.encryptionsalt
              ? "the stack file has no encryptionsalt (its secrets are kept by Pulumi Cloud or another provider)"
              : passphrase === undefined
                ? "no passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to decrypt them"
                : undefined;
    let crypter: PassphraseCrypter | undefined;
    const decrypt = (ciphertext: string, at: string): string => {
        if (opaqueReason) {
            opaqueSecrets.push(at);
            const placeholder = OPAQUE_SECRET(at);
            secretTexts.push(placeholder);
            return placeholder;
        }
        crypter ??= PassphraseCrypter.open(passphrase!, doc.encryptionsalt!);
        const text = crypter.decrypt(ciphertext);
        secretTexts.push(text);
        return text;
    };
    for (const [rawKey, value] of Object.entries(doc.config ?? {})) {
        const key = rawKey.includes(":") ? rawKey : `${project}:${rawKey}`;
        let secret = false;
        const plain = (v: unknown, at: string): unknown => {
            if (isSecureValue(v)) {
                secret = true;
                return decrypt(v.secure, at);
            }
            if (Array.isArray(v)) return v.map((x, i) => plain(x, `${at}[${i}]`));
            if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x, `${at}.${k}`)]));
            return v;
        };
        const resolved = plain(value, key);
        values[key] = typeof resolved === "string" ? resolved : JSON.stringify(resolved);
        if (secret) secretKeys.add(key);
    }
    return { values, secretKeys, securePaths: securePathsOf(doc, project), secretTexts, opaqueSecrets, ...(opaqueSecrets.length > 0 ? { opaqueReason } : {}) };
}
