import { checkChain, ChainInput, ocspUriOf, splitPemCertificates } from "../../components/h2o/certs";
import { X509Certificate } from "crypto";
import { makeTestPki, TestPki } from "./pkiFixture";

/** Flips the last byte of a certificate's DER: the signature no longer verifies, the rest parses. */
export function tamperSignature(pem: string): string {
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    der[der.length - 1] ^= 0x01;
    const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").trim();
    return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

let p: TestPki;
beforeAll(() => {
    p = makeTestPki();
});
afterAll(() => p.cleanup());

type Case = [string, () => ChainInput, { errors?: RegExp[]; warnings?: RegExp[]; order?: string[]; reordered?: boolean; ocsp?: boolean }];

const cases: Case[] = [
    ["leaf, intermediate: in order", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem, rootCertificate: p.root.certPem, names: ["www.example.test"] }), { order: ["www.example.test", "Hostwright Test Intermediate"], reordered: false, ocsp: true }],
    ["intermediate, leaf: reordered", () => ({ certificateChain: p.inter.certPem + p.leaf.certPem, privateKey: p.leaf.keyPem }), { order: ["www.example.test", "Hostwright Test Intermediate"], reordered: true }],
    ["leaf, root, intermediate: reordered with the root last", () => ({ certificateChain: p.leaf.certPem + p.root.certPem + p.inter.certPem }), { order: ["www.example.test", "Hostwright Test Intermediate", "Hostwright Test Root"], reordered: true }],
    ["leaf only, root configured: missing intermediate", () => ({ certificateChain: p.leaf.certPem, rootCertificate: p.root.certPem }), { errors: [/missing intermediate/, /issuer is not in the bundle/] }],
    ["leaf + root without intermediate: the missing issuer is named", () => ({ certificateChain: p.leaf.certPem + p.root.certPem }), { errors: [/^certificateChain: the issuer of CN=www\.example\.test, CN=Hostwright Test Intermediate, is not in the bundle \(#2 CN=Hostwright Test Root did not issue it\)/, /names an OCSP responder but its issuer is not in the bundle/] }],
    ["leaf + unrelated intermediate: the missing issuer is named, not two chains", () => ({ certificateChain: p.plain.certPem + p.otherInter.certPem }), { errors: [/^certificateChain: the issuer of CN=plain\.example\.test, CN=Hostwright Test Intermediate, is not in the bundle \(#2 CN=Other Intermediate did not issue it\); add CN=Hostwright Test Intermediate after the leaf$/] }],
    ["unrelated intermediate first, then the leaf", () => ({ certificateChain: p.otherInter.certPem + p.plain.certPem }), { errors: [/the issuer of CN=plain\.example\.test, CN=Hostwright Test Intermediate, is not in the bundle \(#1 CN=Other Intermediate did not issue it\)/] }],
    ["leaf + forged intermediate (same name, other key)", () => ({ certificateChain: p.plain.certPem + p.forgedInter.certPem }), { errors: [/the issuer of CN=plain\.example\.test, CN=Hostwright Test Intermediate, is not in the bundle \(#2 CN=Hostwright Test Intermediate did not issue it\)/] }],
    ["complete chain + an unrelated CA: that CA is named", () => ({ certificateChain: p.plain.certPem + p.inter.certPem + p.otherInter.certPem }), { errors: [/^certificateChain: certificate #3 \(CN=Other Intermediate\) is not connected to the leaf CN=plain\.example\.test; the chain stops at CN=Hostwright Test Intermediate, whose issuer \(CN=Hostwright Test Root\) is missing from the bundle$/] }],
    ["4 levels, given in reverse", () => ({ certificateChain: p.issuing.certPem + p.policy.certPem + p.deepLeaf.certPem, rootCertificate: p.root.certPem }), { order: ["deep.example.test", "Hostwright Test Issuing CA", "Hostwright Test Policy CA"], reordered: true, ocsp: true }],
    ["CA certificate in the leaf position", () => ({ certificateChain: p.caLeaf.certPem + p.inter.certPem }), { errors: [/leaf position holds a CA certificate/] }],
    ["an intermediate alone is a CA in the leaf position", () => ({ certificateChain: p.inter.certPem }), { errors: [/CA certificate/] }],
    ["broken signature on the leaf", () => ({ certificateChain: tamperSignature(p.leaf.certPem) + p.inter.certPem }), { errors: [/signature of CN=www.example.test does not verify/] }],
    ["key of another certificate", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.plain.keyPem }), { errors: [/does not match the public key of the leaf/] }],
    ["a key that is not a key", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }), { errors: [/cannot be read as a PEM private key/] }],
    ["expired leaf", () => ({ certificateChain: p.expired.certPem + p.inter.certPem }), { errors: [/CN=old.example.test expired on 2021-01-01/] }],
    ["expiring within the window: warning", () => ({ certificateChain: p.soon.certPem + p.inter.certPem }), { warnings: [/CN=soon.example.test expires on .* \(within 1[01] days\)/] }],
    ["expiring outside a smaller window: nothing", () => ({ certificateChain: p.soon.certPem + p.inter.certPem, expiryWarningDays: 5 }), {}],
    ["names not covered", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, names: ["www.example.test", "other.test", "*", "192.0.2.1"] }), { errors: [/does not cover "other.test"/, /does not cover "192.0.2.1"/] }],
    ["clientAuth-only leaf", () => ({ certificateChain: p.clientOnly.certPem + p.inter.certPem }), { errors: [/not valid for TLS servers/] }],
    ["two leaves", () => ({ certificateChain: p.leaf.certPem + p.plain.certPem + p.inter.certPem }), { errors: [/2 unrelated chains/] }],
    ["duplicate certificate: warning, dropped", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem + p.inter.certPem }), { warnings: [/appears twice/], order: ["www.example.test", "Hostwright Test Intermediate"] }],
    ["garbage block", () => ({ certificateChain: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n" + p.leaf.certPem + p.inter.certPem }), { errors: [/#1 of the bundle cannot be parsed/] }],
    ["no PEM at all", () => ({ certificateChain: "hello" }), { errors: [/no '-----BEGIN CERTIFICATE-----' block/] }],
    ["root that did not issue the chain", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, rootCertificate: p.otherRoot.certPem }), { errors: [/missing intermediate: CN=Hostwright Test Intermediate was issued by CN=Hostwright Test Root/] }],
    ["root that is not self-signed", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, rootCertificate: p.inter.certPem }), { errors: [/not a self-signed root CA/] }],
    ["no OCSP URI: stapling not applicable, no error", () => ({ certificateChain: p.plain.certPem + p.inter.certPem }), { ocsp: false }],
    ["leaf issued by the root, leaf-only bundle with the root configured: issuer is the root", () => ({ certificateChain: p.rootLeaf.certPem, rootCertificate: p.root.certPem }), { ocsp: true }],
    ["explicit issuer that did not issue the leaf", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, issuerCertificate: p.root.certPem }), { errors: [/ocsp.issuerCertificate|did not issue the leaf/] }],
];

describe.each(cases)("checkChain: %s", (_name, input, expected) => {
    it("reports exactly the expected problems", () => {
        const r = checkChain(input());
        const errors = r.issues.filter((i) => i.severity === "error").map((i) => `${i.path}: ${i.message}`);
        const warnings = r.issues.filter((i) => i.severity === "warning").map((i) => i.message);
        expect(errors).toHaveLength((expected.errors ?? []).length);
        for (const re of expected.errors ?? []) expect(errors.some((e) => re.test(e))).toBe(true);
        expect(warnings).toHaveLength((expected.warnings ?? []).length);
        for (const re of expected.warnings ?? []) expect(warnings.some((w) => re.test(w))).toBe(true);
        if (expected.order) expect(r.order.map((o) => /CN=([^,(]+)/.exec(o)![1].trim())).toEqual(expected.order);
        if (expected.reordered !== undefined) expect(r.reordered).toBe(expected.reordered);
        if (expected.ocsp !== undefined) expect(r.ocspUri !== undefined).toBe(expected.ocsp);
    });
});

describe("checkChain details", () => {
    it("returns the bundle leaf first, the issuer, the CA bundle up to the root, and the leaf's fingerprint", () => {
        const r = checkChain({ certificateChain: p.inter.certPem + p.leaf.certPem, rootCertificate: p.root.certPem });
        const blocks = splitPemCertificates(r.orderedPem!);
        expect(new X509Certificate(blocks[0]).subject).toBe("CN=www.example.test");
        expect(new X509Certificate(blocks[1]).subject).toBe("CN=Hostwright Test Intermediate");
        expect(new X509Certificate(r.issuerPem!).subject).toBe("CN=Hostwright Test Intermediate");
        expect(splitPemCertificates(r.caBundlePem!).map((b) => new X509Certificate(b).subject)).toEqual(["CN=Hostwright Test Intermediate", "CN=Hostwright Test Root"]);
        expect(r.leafFingerprint).toBe(new X509Certificate(p.leaf.certPem).fingerprint256);
        expect(r.leafName).toBe("www.example.test");
        expect(r.ocspUri).toBe("http://127.0.0.1:18888");
    });

    it.each([
        ["3 levels: the intermediate", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, rootCertificate: p.root.certPem }), ["Hostwright Test Intermediate"]],
        ["4 levels: both intermediates (the issuer alone does not reach the root)", () => ({ certificateChain: p.deepLeaf.certPem + p.issuing.certPem + p.policy.certPem, rootCertificate: p.root.certPem }), ["Hostwright Test Issuing CA", "Hostwright Test Policy CA"]],
        ["leaf issued by the root: the root, which is its issuer", () => ({ certificateChain: p.rootLeaf.certPem, rootCertificate: p.root.certPem }), ["Hostwright Test Root"]],
        ["explicit issuer outside the bundle: added", () => ({ certificateChain: p.leaf.certPem, issuerCertificate: p.inter.certPem }), ["Hostwright Test Intermediate"]],
        ["leaf without issuer: nothing", () => ({ certificateChain: p.plain.certPem }), []],
    ] as Array<[string, () => ChainInput, string[]]>)("untrusted certificates for OCSP verification, %s", (_n, input, subjects) => {
        const r = checkChain(input());
        expect(splitPemCertificates(r.untrustedPem ?? "").map((b) => new X509Certificate(b).subject.replace(/^CN=/, ""))).toEqual(subjects);
    });

    it("reads the OCSP URI from authorityInfoAccess", () => {
        expect(ocspUriOf(new X509Certificate(p.leaf.certPem))).toBe("http://127.0.0.1:18888");
        expect(ocspUriOf(new X509Certificate(p.plain.certPem))).toBeUndefined();
    });

    it("never puts the private key into a message", () => {
        const r = checkChain({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.plain.keyPem });
        const bodyLine = p.plain.keyPem.split("\n")[1];
        expect(JSON.stringify(r.issues)).not.toContain(bodyLine);
    });
});
