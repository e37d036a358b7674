import { redact, REDACTED } from "../../tools/redact";
import { ENCODINGS, HOSTILE_SECRETS } from "./fixtures/encodings";

describe("redact: a secret in every encoding", () => {
    const cases = HOSTILE_SECRETS.flatMap(([label, secret]) => ENCODINGS.map(([how, encode]) => [label, how, secret, encode] as const));
    it.each(cases)("%s, %s", (_label, _how, secret, encode) => {
        const text = `before=${encode(secret)}=after`;
        const redacted = redact(text, [secret]);
        expect(redacted).toBe(`before=${REDACTED}=after`);
    });

    it("redacts each long line of a multi-line secret found on its own (a key re-indented)", () => {
        const key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\nAwEHBG0wawIBAQQgabcdefghijklmnop\n-----END PRIVATE KEY-----\n";
        const text = "key: |\n    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n    AwEHBG0wawIBAQQgabcdefghijklmnop\n";
        expect(redact(text, [key])).toBe(`key: |\n    ${REDACTED}\n    ${REDACTED}\n`);
        // The PEM armour is public and stays.
        expect(redact("-----BEGIN PRIVATE KEY-----", [key])).toBe("-----BEGIN PRIVATE KEY-----");
    });

    it("leaves other text alone and redacts the longer of two overlapping secrets whole", () => {
        expect(redact({ a: ["no secret here"], b: 3 }, ["s3cret"])).toEqual({ a: ["no secret here"], b: 3 });
        expect(redact("x=abc-secret-long", ["abc", "abc-secret-long"])).toBe(`x=${REDACTED}`);
    });

    it.each([
        ["an RSA 4096 key", () => require("crypto").generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string],
        ["64 KiB of punctuation", () => "+/=\n".repeat(16384)],
    ])("redacts %s quickly, written as is and JSON-escaped", (_l, make) => {
        const secret = make();
        const started = Date.now();
        const text = `a=${secret}\nb=${JSON.stringify(secret)}`;
        expect(redact(text, [secret])).toBe(`a=${REDACTED}\nb="${REDACTED}"`);
        expect(Date.now() - started).toBeLessThan(3000);
    });
});
