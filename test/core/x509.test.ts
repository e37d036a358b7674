import { createPrivateKey, sign, verify, X509Certificate } from "crypto";
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { keyMatchesCertificate } from "../../core/x509";

// Keys in every form a user may paste, made by openssl as users make them, each with a self-signed certificate.
const dir = mkdtempSync(join(tmpdir(), "hw-x509-"));
const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
const keys: Record<string, string> = {};
const certs: Record<string, X509Certificate> = {};

function makeKey(name: string, ...genpkey: string[]): void {
    openssl("genpkey", ...genpkey, "-out", `${name}.pem`);
    openssl("req", "-x509", "-key", `${name}.pem`, "-subj", `/CN=${name}`, "-days", "2", "-out", `${name}.crt`);
    keys[name] = readFileSync(join(dir, `${name}.pem`), "utf8");
    certs[name] = new X509Certificate(readFileSync(join(dir, `${name}.crt`)));
}

beforeAll(() => {
    makeKey("p256", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
    makeKey("p256b", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
    makeKey("p384", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384");
    makeKey("p521", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521");
    makeKey("rsa", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048");
    makeKey("ed25519", "-algorithm", "ED25519");
    // The same P-256 key as SEC1 ("EC PRIVATE KEY"), without its public point, and after `openssl ecparam -genkey`'s parameters block.
    keys["p256 sec1"] = openssl("ec", "-in", "p256.pem").toString();
    keys["p256 sec1 without public point"] = openssl("ec", "-in", "p256.pem", "-no_public").toString();
    keys["p256 after parameters"] = openssl("ecparam", "-name", "prime256v1").toString() + keys["p256 sec1"];
    keys["p521 sec1"] = openssl("ec", "-in", "p521.pem").toString();
    keys["p256 CRLF"] = keys.p256.replace(/\n/g, "\r\n");
    keys["p256 with a compressed public point"] = openssl("ec", "-in", "p256.pem", "-conv_form", "compressed").toString();
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("keyMatchesCertificate", () => {
    it.each([
        ["p256", "p256", true],
        ["p256 sec1", "p256", true],
        ["p256 sec1 without public point", "p256", true],
        ["p256 after parameters", "p256", true],
        ["p256 CRLF", "p256", true],
        ["p256 with a compressed public point", "p256", true],
        ["p256 with a compressed public point", "p256b", false],
        ["p384", "p384", true],
        ["p521", "p521", true],
        ["p521 sec1", "p521", true],
        ["rsa", "rsa", true],
        ["ed25519", "ed25519", true],
        ["p256b", "p256", false],
        ["p256 sec1", "p256b", false],
        ["p256", "p384", false],
        ["p384", "p256", false],
        ["p256", "rsa", false],
        ["rsa", "p256", false],
        ["ed25519", "p256", false],
    ])("key %s against the certificate of %s: %s, as OpenSSL answers", (key, cert, expected) => {
        expect(keyMatchesCertificate(certs[cert], keys[key])).toBe(expected);
        expect(certs[cert].checkPrivateKey(createPrivateKey(keys[key]))).toBe(expected);
    });

    it("does not match a key whose embedded public point is another key's", () => {
        // PKCS#8 from openssl ends with the SEC1 [1] BIT STRING holding the uncompressed point (65 bytes for P-256).
        const der = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
        const forged = Buffer.concat([der(keys.p256).subarray(0, -65), der(keys.p256b).subarray(-65)]);
        const pem = `-----BEGIN PRIVATE KEY-----\n${forged.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
        expect(keyMatchesCertificate(certs.p256, pem)).toBe(false);
        expect(keyMatchesCertificate(certs.p256b, pem)).toBe(false);
        // OpenSSL compares the embedded point and calls it p256b's, but the key signs with p256's scalar.
        expect(certs.p256b.checkPrivateKey(createPrivateKey(pem))).toBe(true);
        const signature = sign("sha256", Buffer.from("hello"), createPrivateKey(pem));
        expect(verify("sha256", Buffer.from("hello"), certs.p256b.publicKey, signature)).toBe(false);
        expect(verify("sha256", Buffer.from("hello"), certs.p256.publicKey, signature)).toBe(true);
    });

    it("leaves an EC key with a scalar out of range to OpenSSL, which loads it and matches it with nothing", () => {
        const body = keys["p256 sec1 without public point"].replace(/-----[A-Z ]+-----|\s/g, "");
        const der = Buffer.from(body, "base64");
        der.fill(0, 7, 39); // SEQUENCE, INTEGER 1, then the OCTET STRING's 32 bytes from offset 7
        const pem = `-----BEGIN EC PRIVATE KEY-----\n${der.toString("base64")}\n-----END EC PRIVATE KEY-----\n`;
        expect(certs.p256.checkPrivateKey(createPrivateKey(pem))).toBe(false);
        expect(keyMatchesCertificate(certs.p256, pem)).toBe(false);
    });

    it.each([
        ["an encrypted key", () => openssl("pkcs8", "-topk8", "-in", "p256.pem", "-v2", "aes-256-cbc", "-passout", "pass:secret").toString()],
        ["a certificate", () => certs.p256.toString()],
        ["a truncated key", () => keys.p256.replace(/\n[A-Za-z0-9+/=]+\n-----END/, "\n-----END")],
        ["base64 garbage", () => "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
    ])("throws for %s, as loading it does", (_, make) => {
        const pem = make();
        expect(() => createPrivateKey(pem)).toThrow();
        expect(() => keyMatchesCertificate(certs.p256, pem)).toThrow();
    });
});

describe("keyMatchesCertificate with a compressed public point in the certificate", () => {
    it("answers as OpenSSL does", () => {
        openssl("ec", "-in", "p256.pem", "-conv_form", "compressed", "-out", "compressed.pem");
        openssl("req", "-x509", "-key", "compressed.pem", "-subj", "/CN=c", "-days", "2", "-out", "c.crt");
        const cert = new X509Certificate(readFileSync(join(dir, "c.crt")));
        expect(cert.checkPrivateKey(createPrivateKey(keys.p256))).toBe(true);
        expect(keyMatchesCertificate(cert, keys.p256)).toBe(true);
        expect(keyMatchesCertificate(cert, keys.p256b)).toBe(false);
    });
});
