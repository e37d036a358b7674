/**
 * Stapling through a responder outage, on real h2o 2.2.5 with a real `openssl ocsp`
 * responder: the component's fetcher (ca-file) keeps the last good response and serves it
 * while the responder is stopped (a client on the lab switch still sees `Cert Status: good`,
 * the apply warns about the staple's age), fresh again once the responder is back; a
 * Must-Staple leaf whose responder never answers fails the apply and the previous
 * configuration keeps serving. Hosts: "web" (h2o), "ca" (responder and echo backend).
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { h2oSection } from "../../components/h2o/section";
import { declareStack } from "../../core/config/stack";
import { sh } from "../../core/shell";
import { CertificateAuthority, IssuedCert, Pki } from "../../tools/pki";
import { ApplyResult, Harness, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { startEchoBackend, startOcspResponder, stapleSeen } from "./h2o-lab";

const OCSP_PORT = 8888;
/** Nothing listens there: a leaf pointing at it never gets a staple. */
const DEAD_OCSP_PORT = 8899;
const BACKEND_PORT = 9080;
const NAME = "www.example.test";
/** Longer than a fresh apply's fetch-to-check time, shorter than an apply against a stopped responder (two 5 s fetch timeouts). */
const AGE_LIMIT = 8;

labDescribe("h2o: the kept OCSP response through a responder outage; Must-Staple (lab: web, ca)", () => {
    let lab: Lab;
    let web: LabHost;
    let ca: LabHost;
    let dir: string;
    let root: CertificateAuthority;
    let inter: CertificateAuthority;
    let leaf: IssuedCert;
    let mustStaple: IssuedCert;
    let harness: Harness;
    const secrets: Record<string, string> = {};

    function proxy(over: { maxConnections?: number; mustStaple?: boolean } = {}) {
        const cert = over.mustStaple ? mustStaple : leaf;
        return {
            name: "cached",
            host: "web",
            numThreads: 2,
            maxConnections: over.maxConnections,
            listeners: [
                {
                    name: "https",
                    port: 8443,
                    tls: {
                        certificateChain: cert.certPem + inter.certPem,
                        privateKey: over.mustStaple ? "must-key" : "www-key",
                        ocsp: { rootCertificate: root.certPem, verification: "ca-file", stapleWaitSeconds: 20, stapleAgeWarningSeconds: AGE_LIMIT },
                    },
                },
            ],
            virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: `http://ca:${BACKEND_PORT}` }] }],
        };
    }

    async function apply(p: unknown): Promise<ApplyResult> {
        const { config, secretKeys } = labStackConfig(lab, { h2o: [p] }, ["web"]);
        const values = { ...config, "hostwright:secrets": JSON.stringify({ ...JSON.parse(config["hostwright:secrets"]), ...secrets }) };
        const t0 = Date.now();
        const res = await harness.apply(() => declareStack({ values, secretKeys: new Set(secretKeys) }, [h2oSection]));
        console.log(`h2o staple cache e2e: apply ${Date.now() - t0} ms${res.ok ? "" : `, failed: ${res.error}`}`);
        return res;
    }
    const outputsOf = (res: ApplyResult) => (res.outputs.h2o as any).cached;
    const responderUp = async () => (await ca.exec(sh`ss -Hltn ${`sport = :${OCSP_PORT}`}`)).stdout.trim() !== "";
    /** The leaf serial a client on the switch is served on 8443. */
    const servedSerial = async () => (await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:8443 -servername ${NAME} </dev/null 2>/dev/null | openssl x509 -noout -serial`])).stdout.trim();

    beforeAll(async () => {
        lab = await startLab({ hosts: ["web", "ca"] });
        web = lab.host("web");
        ca = lab.host("ca");
        dir = mkdtempSync(join(tmpdir(), "hw-h2o-cache-"));
        const pki = new Pki(dir);
        root = pki.rootCa({ commonName: "Hostwright Cache Root" });
        inter = pki.intermediateCa(root, { commonName: "Hostwright Cache Intermediate" });
        leaf = pki.leaf(inter, { commonName: NAME, ocspUrl: `http://${ca.address}:${OCSP_PORT}` });
        mustStaple = pki.leaf(inter, { commonName: NAME, ocspUrl: `http://${ca.address}:${DEAD_OCSP_PORT}`, mustStaple: true });
        Object.assign(secrets, { "www-key": leaf.keyPem, "must-key": mustStaple.keyPem });
        await startOcspResponder(ca, inter, OCSP_PORT);
        await startEchoBackend(lab, ca, [BACKEND_PORT]);
        harness = new Harness(lab, join(dir, "state.json"));
    }, 120_000);

    afterAll(async () => {
        await lab?.down();
        if (dir) rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("responder up: a fresh staple, kept on disk for h2o's user", async () => {
        const res = await apply(proxy());
        if (!res.ok) throw new Error(res.error);
        expect(outputsOf(res).stapling).toEqual({ https: "good" });
        expect(outputsOf(res).staples.https).toMatchObject({ source: "fresh", nextUpdate: expect.stringMatching(/ GMT$/), thisUpdate: expect.stringMatching(/ GMT$/) });
        expect(outputsOf(res).warnings).toEqual([]);
        const kept = await web.exec("stat -c '%U %n' /var/cache/hostwright/h2o-ocsp /var/cache/hostwright/h2o-ocsp/https.*.der");
        expect(kept.stdout).toMatch(/^www-data \/var\/cache\/hostwright\/h2o-ocsp\n\S+ \/var\/cache\/hostwright\/h2o-ocsp\/https\.[0-9A-F]{64}\.der\n$/);
        expect(await stapleSeen(lab, web.address, 8443, NAME)).toBe("Cert Status: good");
    }, 180_000);

    it("responder stopped: the kept staple is served (Cert Status: good from the switch) and the apply warns about its age", async () => {
        // The responder's pid from the socket it listens on.
        await ca.exec(sh`kill $(ss -Hltnp ${`sport = :${OCSP_PORT}`} | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); for i in $(seq 50); do ss -Hltn ${`sport = :${OCSP_PORT}`} | grep -q . || exit 0; sleep 0.1; done`);
        expect(await responderUp()).toBe(false);
        const res = await apply(proxy({ maxConnections: 2000 }));
        if (!res.ok) throw new Error(res.error);
        expect(outputsOf(res).stapling).toEqual({ https: "good" });
        expect(outputsOf(res).staples.https.source).toBe("cached");
        expect(outputsOf(res).warnings).toEqual([expect.stringMatching(new RegExp(`^listener https: the OCSP staple was fetched \\d+ s ago, more than stapleAgeWarningSeconds \\(${AGE_LIMIT} s\\): the responder has not answered since`))]);
        expect(await stapleSeen(lab, web.address, 8443, NAME)).toBe("Cert Status: good");
        expect((await web.exec("grep -c 'hostwright-ocsp: serving the response kept since' /var/log/h2o/error.log")).stdout.trim()).not.toBe("0");
    }, 180_000);

    it("responder back: fresh again, no warning", async () => {
        await startOcspResponder(ca, inter, OCSP_PORT);
        const res = await apply(proxy({ maxConnections: 2001 }));
        if (!res.ok) throw new Error(res.error);
        expect(outputsOf(res).staples.https.source).toBe("fresh");
        expect(outputsOf(res).warnings).toEqual([]);
        expect(await stapleSeen(lab, web.address, 8443, NAME)).toBe("Cert Status: good");
    }, 180_000);

    it("a Must-Staple leaf whose responder never answers fails the apply; the previous configuration keeps serving", async () => {
        const res = await apply(proxy({ maxConnections: 2002, mustStaple: true }));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/listener https: the certificate requires OCSP stapling \(Must-Staple\) and h2o -t got no staple .*; nothing was switched/);
        expect(await servedSerial()).toBe(`serial=${leaf.serial}`);
        expect(await stapleSeen(lab, web.address, 8443, NAME)).toBe("Cert Status: good");
        expect((await web.exec("grep -c '^max-connections: 2001$' /etc/h2o/h2o.conf")).stdout.trim()).toBe("1");
    }, 180_000);

    it("destroy removes the kept responses", async () => {
        const res = await harness.destroy();
        if (!res.ok) throw new Error(res.error);
        expect((await web.exec("ls -A /var/cache/hostwright/h2o-ocsp 2>&1; true")).stdout).toMatch(/No such file or directory/);
    }, 180_000);
});
