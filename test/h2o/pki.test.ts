import { X509Certificate } from "crypto";
import { readFileSync } from "fs";
import { ocspUriOf } from "../../components/h2o/certs";
import { makeTestPki, TestPki } from "./pkiFixture";

let p: TestPki;
beforeAll(() => {
    p = makeTestPki("http://ocsp.test:8888/path");
});
afterAll(() => p.cleanup());

describe("tools/pki.ts", () => {
    it("makes a 3-level chain whose signatures and extensions are what the options say", () => {
        const root = new X509Certificate(p.root.certPem);
        const inter = new X509Certificate(p.inter.certPem);
        const leaf = new X509Certificate(p.leaf.certPem);
        expect(root.ca && inter.ca && !leaf.ca).toBe(true);
        expect(root.checkIssued(root) && inter.checkIssued(root) && leaf.checkIssued(inter)).toBe(true);
        expect(leaf.verify(inter.publicKey) && inter.verify(root.publicKey)).toBe(true);
        expect(leaf.subjectAltName).toBe("DNS:www.example.test, DNS:example.test");
        expect(ocspUriOf(leaf)).toBe("http://ocsp.test:8888/path");
        expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
        expect(new X509Certificate(p.clientOnly.certPem).keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
        expect(leaf.checkPrivateKey(require("crypto").createPrivateKey(p.leaf.keyPem))).toBe(true);
        expect(new Date(new X509Certificate(p.expired.certPem).validTo).toISOString()).toBe("2021-01-01T00:00:00.000Z");
        expect(new X509Certificate(p.caLeaf.certPem).ca).toBe(true);
    });

    it("keeps an index.txt for openssl ocsp and revokes with openssl ca", () => {
        const revoked = p.pki.leaf(p.inter, { commonName: "gone.example.test" });
        p.pki.revoke(p.inter, revoked, "superseded");
        const lines = readFileSync(p.inter.indexPath, "utf8").trim().split("\n");
        const line = lines.find((l) => l.includes("/CN=gone.example.test"))!;
        expect(line.split("\t")[0]).toBe("R");
        expect(line).toContain(",superseded");
        expect(line.split("\t")[3]).toBe(revoked.serial);
        expect(lines.find((l) => l.includes("/CN=www.example.test"))!.split("\t")[0]).toBe("V");
    });

    it("gives the responder arguments and chains in trust order", () => {
        const args = p.pki.ocspResponderArgs(p.inter, { port: 18888, requests: 2 });
        expect(args.slice(0, 3)).toEqual(["ocsp", "-index", p.inter.indexPath]);
        expect(args).toEqual(expect.arrayContaining(["-port", "18888", "-CA", p.inter.certPath, "-rsigner", p.inter.certPath, "-nrequest", "2"]));
        const signer = p.pki.ocspSigner(p.inter);
        expect(p.pki.ocspResponderArgs(p.inter, { port: 1, signer })).toEqual(expect.arrayContaining(["-rsigner", signer.certPath, "-rkey", signer.keyPath]));
        expect(new X509Certificate(signer.certPem).keyUsage).toEqual(["1.3.6.1.5.5.7.3.9"]);
        const chain = p.pki.chainPem(p.leaf, p.inter, { includeRoot: true });
        expect(chain).toBe(p.leaf.certPem.trim() + "\n" + p.inter.certPem.trim() + "\n" + p.root.certPem.trim() + "\n");
        expect(p.pki.chainPem(p.leaf, p.inter)).toBe(p.leaf.certPem.trim() + "\n" + p.inter.certPem.trim() + "\n");
    });
});
