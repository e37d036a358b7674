import { PassphraseCrypter } from "../../tools/passphrase";

describe("PassphraseCrypter (Pulumi's passphrase provider format)", () => {
    const crypter = PassphraseCrypter.create("correct horse", Buffer.from("0011223344556677", "hex"));

    it("writes encryptionsalt as v1:<salt>:v1:<nonce>:<ciphertext> and reopens with the passphrase", () => {
        expect(crypter.encryptionSalt).toMatch(/^v1:ABEiM0RVZnc=:v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
        const reopened = PassphraseCrypter.open("correct horse", crypter.encryptionSalt);
        expect(reopened.decrypt(crypter.encrypt("-----BEGIN PRIVATE KEY-----\nabc\n"))).toBe("-----BEGIN PRIVATE KEY-----\nabc\n");
    });

    it("refuses a wrong passphrase and a tampered value", () => {
        expect(() => PassphraseCrypter.open("wrong", crypter.encryptionSalt)).toThrow(/incorrect passphrase/);
        const value = crypter.encrypt("secret");
        const tampered = value.slice(0, -4) + (value.endsWith("AAA=") ? "BBB=" : "AAA=");
        expect(() => crypter.decrypt(tampered)).toThrow();
    });
});
