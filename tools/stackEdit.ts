/**
 * Edits a stack file the way the Pulumi CLI does, for users without it:
 * `pulumi stack init` (a new file with a fresh `encryptionsalt` for the passphrase
 * secrets provider) and `pulumi config set --secret --path 'hostwright:secrets.NAME'`
 * (`secure: v1:...` under `config: hostwright:secrets: NAME:`). Comments and the
 * layout of the rest of the file are kept. Pure functions on the file's text.
 */
import * as YAML from "yaml";
import { isSecureValue, parseStackYaml, StackDocument } from "../core/config/stackYaml";
import { controlCharacterProblem } from "../core/config/text";
import { PassphraseCrypter } from "./passphrase";

export const SECRETS_KEY = "hostwright:secrets";
const SECRET_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** The text of a new stack file: only the passphrase provider's salt, as `pulumi stack init` writes it. */
export function newStackText(crypter: PassphraseCrypter): string {
    return `encryptionsalt: ${crypter.encryptionSalt}\n`;
}

/**
 * What `pulumi config set` does to a value read from standard input: one trailing
 * newline removed (cmdutil.RemoveTrailingNewline), nothing else.
 */
export function valueFromStdin(text: string): string {
    return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** Why this stack file's secrets cannot be written with a passphrase, or undefined when they can. */
export function passphraseProviderProblem(doc: StackDocument, path: string): string | undefined {
    if (doc.secretsprovider && doc.secretsprovider !== "passphrase") {
        return `${path} uses the secrets provider ${doc.secretsprovider}; only the passphrase provider works without the Pulumi CLI (use: pulumi config set --secret --path '${SECRETS_KEY}.NAME' < FILE)`;
    }
    if (!doc.encryptionsalt) {
        return `${path} has no encryptionsalt: it was not made for the passphrase secrets provider (Pulumi Cloud keeps its key in the service); create it with \`npm run stack -- init NAME\` or use pulumi config set --secret`;
    }
    return undefined;
}

function editable(text: string, path: string): { doc: StackDocument; edit: YAML.Document } {
    const doc = parseStackYaml(Buffer.from(text, "utf8"), path);
    return { doc, edit: YAML.parseDocument(text) };
}

function render(edit: YAML.Document): string {
    // lineWidth 0: never fold long values (a fold would rewrite lines the edit did not touch).
    return edit.toString({ lineWidth: 0 });
}

/**
 * Sets `config: hostwright:secrets: NAME: { secure: ... }`, encrypted with the file's
 * salt and `passphrase`. @throws Error naming the problem (bad name or value, wrong passphrase, another provider).
 */
export function setSecret(text: string, path: string, name: string, value: string, passphrase: string): string {
    if (!SECRET_NAME.test(name)) throw new Error(`secret names are 1-128 letters, digits, '.', '_', '-' (got ${JSON.stringify(name.slice(0, 40))})`);
    const problem = controlCharacterProblem(value, "secret");
    if (problem) throw new Error(`the value of ${name} ${problem}`);
    if (value.length === 0) throw new Error(`the value of ${name} is empty (standard input was empty)`);
    const { doc, edit } = editable(text, path);
    const providerProblem = passphraseProviderProblem(doc, path);
    if (providerProblem) throw new Error(providerProblem);
    const crypter = PassphraseCrypter.open(passphrase, doc.encryptionsalt!);
    const secrets = doc.config?.[SECRETS_KEY];
    if (secrets !== undefined && (typeof secrets !== "object" || secrets === null || Array.isArray(secrets))) throw new Error(`${path}: ${SECRETS_KEY} is not a map; fix it by hand first`);
    edit.setIn(["config", SECRETS_KEY, name], edit.createNode({ secure: crypter.encrypt(value) }));
    return render(edit);
}

/** Removes `hostwright:secrets.NAME` (and the map when it was the last entry). @throws Error when there is no such secret. */
export function removeSecret(text: string, path: string, name: string): string {
    const { doc, edit } = editable(text, path);
    const secrets = doc.config?.[SECRETS_KEY] as Record<string, unknown> | undefined;
    if (!secrets || typeof secrets !== "object" || !(name in secrets)) throw new Error(`${path} has no secret ${JSON.stringify(name.slice(0, 128))}`);
    edit.deleteIn(["config", SECRETS_KEY, name]);
    if (Object.keys(secrets).length === 1) edit.deleteIn(["config", SECRETS_KEY]);
    return render(edit);
}

/** The entries of `hostwright:secrets`: name and whether it is encrypted (a clear entry is a config error). */
export function listSecrets(text: string, path: string): Array<{ name: string; encrypted: boolean }> {
    const { doc } = editable(text, path);
    const secrets = doc.config?.[SECRETS_KEY];
    if (!secrets || typeof secrets !== "object" || Array.isArray(secrets)) return [];
    return Object.entries(secrets).map(([name, v]) => ({ name, encrypted: isSecureValue(v) }));
}
