/** A 3-level test PKI (and a 4-level branch) shared by the h2o tests (made with tools/pki.ts, in a scratch directory). */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CertificateAuthority, IssuedCert, Pki } from "../../tools/pki";

export interface TestPki {
    dir: string;
    pki: Pki;
    root: CertificateAuthority;
    inter: CertificateAuthority;
    /** www.example.test + example.test, OCSP URI */
    leaf: IssuedCert;
    /** plain.example.test, no OCSP URI */
    plain: IssuedCert;
    /** expired in 2021 */
    expired: IssuedCert;
    /** expires in 10 days */
    soon: IssuedCert;
    /** a CA-flagged certificate issued by the intermediate */
    caLeaf: IssuedCert;
    /** clientAuth only */
    clientOnly: IssuedCert;
    /** issued directly by the root */
    rootLeaf: IssuedCert;
    /** a second, unrelated root */
    otherRoot: CertificateAuthority;
    /** a forged intermediate: same subject as `inter`, another key */
    forgedInter: CertificateAuthority;
    /** an intermediate of `otherRoot`: a CA unrelated to `leaf` */
    otherInter: CertificateAuthority;
    /** 4 levels: root -> policy CA -> issuing CA -> deep.example.test (OCSP URI) */
    policy: CertificateAuthority;
    issuing: CertificateAuthority;
    deepLeaf: IssuedCert;
    /** must.example.test: OCSP URI and the TLS Feature extension (Must-Staple) */
    mustStaple: IssuedCert;
    /** nouri.example.test: Must-Staple without an OCSP URI (can never be stapled) */
    mustStapleNoUri: IssuedCert;
    cleanup(): void;
}

export function makeTestPki(ocspUrl = "http://127.0.0.1:18888"): TestPki {
    const dir = mkdtempSync(join(tmpdir(), "hw-h2o-pki-"));
    const pki = new Pki(dir);
    const root = pki.rootCa({ commonName: "Hostwright Test Root" });
    const inter = pki.intermediateCa(root, { commonName: "Hostwright Test Intermediate" });
    const otherRoot = pki.rootCa({ commonName: "Other Root" });
    const policy = pki.intermediateCa(root, { commonName: "Hostwright Test Policy CA", pathLength: 1 });
    const issuing = pki.intermediateCa(policy, { commonName: "Hostwright Test Issuing CA" });
    return {
        dir,
        pki,
        root,
        inter,
        otherRoot,
        leaf: pki.leaf(inter, { commonName: "www.example.test", dnsNames: ["www.example.test", "example.test"], ocspUrl }),
        plain: pki.leaf(inter, { commonName: "plain.example.test" }),
        expired: pki.leaf(inter, { commonName: "old.example.test", notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2021-01-01T00:00:00Z") }),
        soon: pki.leaf(inter, { commonName: "soon.example.test", days: 10 }),
        caLeaf: pki.leaf(inter, { commonName: "ca.example.test", isCa: true }),
        clientOnly: pki.leaf(inter, { commonName: "client.example.test", usages: ["clientAuth"] }),
        rootLeaf: pki.leaf(root, { commonName: "direct.example.test", ocspUrl }),
        forgedInter: pki.intermediateCa(otherRoot, { commonName: "Hostwright Test Intermediate" }),
        otherInter: pki.intermediateCa(otherRoot, { commonName: "Other Intermediate" }),
        policy,
        issuing,
        deepLeaf: pki.leaf(issuing, { commonName: "deep.example.test", ocspUrl }),
        mustStaple: pki.leaf(inter, { commonName: "must.example.test", ocspUrl, mustStaple: true }),
        mustStapleNoUri: pki.leaf(inter, { commonName: "nouri.example.test", mustStaple: true }),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
}
