// Secrets with backslashes, tabs, quotes, newlines and non-ASCII planted in every secret
// field of the example stack: no encoding of any of them may reach the offline preview.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { join } from "path";
import { PassphraseCrypter } from "../../tools/passphrase";
import { previewStack, REDACTED, writePreview } from "../../tools/preview";
import { ENCODINGS } from "./fixtures/encodings";

const REPO = join(__dirname, "..", "..");
const PASSPHRASE = "planted-secrets-test";
/** Printable but hostile: every character a file format or a shell escapes. */
const HOSTILE = `\\back\\\\slash \ttab "double" 'single' caf\u00e9 \u6f22\u5b57 $(id) \`id\``;

function listFiles(dir: string, prefix = ""): string[] {
    return readdirSync(dir).sort().flatMap((entry) => {
        const path = join(dir, entry);
        return statSync(path).isDirectory() ? listFiles(path, `${prefix}${entry}/`) : [`${prefix}${entry}`];
    });
}

describe("offline preview of secrets written in escaped forms", () => {
    let project: string;
    let out: string;
    /** Secret name -> planted clear text; each holds a marker, PLANTEDn, found by no encoding but redaction. */
    const planted = new Map<string, string>();

    beforeAll(() => {
        project = mkdtempSync(join(tmpdir(), "hw-planted-"));
        out = join(project, "preview-out");
        const doc = yaml.load(readFileSync(join(REPO, "stacks", "Pulumi.example.yaml"), "utf8")) as { encryptionsalt: string; config: Record<string, any> };
        const example = PassphraseCrypter.open("hostwright-example", doc.encryptionsalt);
        const crypter = PassphraseCrypter.create(PASSPHRASE);
        const secrets = doc.config["hostwright:secrets"] as Record<string, { secure: string }>;
        let n = 0;
        for (const [name, value] of Object.entries(secrets)) {
            const clear = example.decrypt(value.secure);
            const marker = `PLANTED${n++}X`;
            // An OpenSSH key gets a hostile line inside; a PEM key a hostile line before its armour (RFC 7468 allows explanatory text there).
            planted.set(name, clear.startsWith("-----BEGIN OPENSSH") ? clear.replace("\n", `\n${marker}${HOSTILE}\n`) : `${marker}${HOSTILE}\n${clear}`);
        }
        // The SASL password of libvirt, written escaped into auth.conf (one line: libvirt refuses line breaks there).
        planted.set("libvirt-sasl", `PLANTED${n}X${HOSTILE}`);
        const group = doc.config["hostwright:libvirt"][0];
        Object.assign(group, { auth: "sasl", sasl: { username: "nova", password: "libvirt-sasl", mechanism: "scram-sha-256" } });
        doc.config["hostwright:secrets"] = Object.fromEntries([...planted].map(([name, text]) => [name, { secure: crypter.encrypt(text) }]));
        mkdirSync(join(project, "stacks"));
        writeFileSync(join(project, "stacks", "Pulumi.planted.yaml"), yaml.dump({ encryptionsalt: crypter.encryptionSalt, config: doc.config }));
        writeFileSync(join(project, "Pulumi.yaml"), readFileSync(join(REPO, "Pulumi.yaml")));
        writeFileSync(join(project, "index.ts"), `export = require(${JSON.stringify(join(REPO, "index"))});\n`);
    });
    afterAll(() => rmSync(project, { recursive: true, force: true }));

    it("writes the planted secrets only as the redaction marker, in no encoding", async () => {
        writePreview(await previewStack("planted", project, PASSPHRASE), out);
        const files = listFiles(out);
        const texts = files.map((f) => [f, readFileSync(join(out, f), "utf8")] as const);
        // The secrets reach files (TLS keys, auth.conf, the SASL password file): they were there to be found.
        const authConf = texts.find(([f]) => f.endsWith("/files/etc/libvirt/auth.conf"));
        expect(authConf?.[1]).toContain(`password=${REDACTED}`);
        expect(texts.filter(([, t]) => t.includes(REDACTED)).length).toBeGreaterThanOrEqual(planted.size);
        const leaks: string[] = [];
        for (const [name, secret] of planted) {
            const marker = /PLANTED\d+X/.exec(secret)![0];
            for (const [file, text] of texts) {
                if (text.includes(marker)) leaks.push(`${name} (marker) in ${file}`);
                for (const [how, encode] of ENCODINGS) if (text.includes(encode(secret))) leaks.push(`${name} (${how}) in ${file}`);
            }
        }
        expect(leaks).toEqual([]);
    }, 120_000);
});
