/**
 * Pulumi's passphrase secrets provider, so the offline preview reads `secure:`
 * config values exactly as `pulumi preview` does (and the example generator writes
 * values that `pulumi up` can read): PBKDF2-SHA256 (1,000,000 rounds, 8-byte salt)
 * derives an AES-256-GCM key; values are `v1:<b64 nonce>:<b64 ciphertext+tag>`;
 * `encryptionsalt` is `v1:<b64 salt>:` + the encryption of "pulumi".
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from "crypto";
import { readFileSync } from "fs";

const ROUNDS = 1_000_000;
const VERIFIER = "pulumi";

export class PassphraseCrypter {
    private constructor(
        private readonly key: Buffer,
        readonly encryptionSalt: string,
    ) {}

    /** Opens an existing stack's crypter; throws when the passphrase is wrong. */
    static open(passphrase: string, encryptionSalt: string): PassphraseCrypter {
        const m = /^v1:([^:]+):(v1:[^:]+:[^:]+)$/.exec(encryptionSalt);
        if (!m) throw new Error(`malformed encryptionsalt ${JSON.stringify(encryptionSalt)}`);
        const crypter = new PassphraseCrypter(deriveKey(passphrase, Buffer.from(m[1], "base64")), encryptionSalt);
        let check: string | undefined;
        try {
            check = crypter.decrypt(m[2]);
        } catch {
            check = undefined;
        }
        if (check !== VERIFIER) throw new Error("incorrect passphrase (PULUMI_CONFIG_PASSPHRASE does not open this stack's secrets)");
        return crypter;
    }

    /** Creates a crypter with a new salt (for a new stack file). */
    static create(passphrase: string, salt: Buffer = randomBytes(8)): PassphraseCrypter {
        const key = deriveKey(passphrase, salt);
        const provisional = new PassphraseCrypter(key, "");
        return new PassphraseCrypter(key, `v1:${salt.toString("base64")}:${provisional.encrypt(VERIFIER)}`);
    }

    encrypt(plaintext: string, nonce: Buffer = randomBytes(12)): string {
        const cipher = createCipheriv("aes-256-gcm", this.key, nonce);
        const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
        return `v1:${nonce.toString("base64")}:${body.toString("base64")}`;
    }

    decrypt(value: string): string {
        const m = /^v1:([^:]+):([^:]+)$/.exec(value);
        if (!m) throw new Error("malformed secure value (expected v1:NONCE:CIPHERTEXT)");
        const nonce = Buffer.from(m[1], "base64");
        const body = Buffer.from(m[2], "base64");
        const decipher = createDecipheriv("aes-256-gcm", this.key, nonce);
        decipher.setAuthTag(body.subarray(body.length - 16));
        return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
    }
}

function deriveKey(passphrase: string, salt: Buffer): Buffer {
    return pbkdf2Sync(passphrase, salt, ROUNDS, 32, "sha256");
}

/**
 * The passphrase as the Pulumi CLI finds it: PULUMI_CONFIG_PASSPHRASE (even empty),
 * else the contents of PULUMI_CONFIG_PASSPHRASE_FILE without surrounding white space;
 * undefined when neither is set.
 */
export function passphraseFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
    if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return env.PULUMI_CONFIG_PASSPHRASE;
    if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim();
    return undefined;
}
