/**
 * h2o on a lab host with a 4-level RSA PKI (root, policy CA, issuing CA, leaf): stapling
 * in all three verification modes, then listeners added to and removed from the running
 * h2o (a reload cannot bind a new port under Debian's init script: the step restarts and
 * reports the downtime). Everything is asserted from the lab switch, as a client sees it.
 * Hosts: "web" (h2o 2.2.5), "ca" (the issuing CA's `openssl ocsp` responder and an echo
 * backend). Applied through the `hostwright:h2o` stack section with the lab harness.
 */
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { h2oSection } from "../../components/h2o/section";
import { declareStack } from "../../core/config/stack";
import { CertificateAuthority, IssuedCert, Pki } from "../../tools/pki";
import { ApplyResult, Harness, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { curlVia, startEchoBackend, startOcspResponder, stapleSeen } from "./h2o-lab";

const OCSP_PORT = 8888;
/** Nothing listens there: a leaf pointing at it never gets a staple. */
const DEAD_OCSP_PORT = 8899;
const BACKEND_PORT = 9080;
const NAME = "deep.example.test";

labDescribe("h2o: 4-level chains and listener changes on a running h2o (lab: web, ca)", () => {
    let lab: Lab;
    let web: LabHost;
    let ca: LabHost;
    let dir: string;
    let rootFile: string;
    let root: CertificateAuthority;
    let policy: CertificateAuthority;
    let issuing: CertificateAuthority;
    let leaf: IssuedCert;
    let unstapled: IssuedCert;
    let harness: Harness;
    let trustBefore: string;
    const secrets: Record<string, string> = {};

    function program(proxy: unknown) {
        const { config, secretKeys } = labStackConfig(lab, { h2o: [proxy] }, ["web"]);
        const values = { ...config, "hostwright:secrets": JSON.stringify({ ...JSON.parse(config["hostwright:secrets"]), ...secrets }) };
        return () => declareStack({ values, secretKeys: new Set(secretKeys) }, [h2oSection]);
    }

    /** The same 4-level leaf on three TLS ports, one per verification mode, plus `extra` listeners. */
    function proxy(extra: Array<{ name: string; port: number }> = [], over: { trustStoreLeaf?: "unstapled"; requireGoodStaple?: boolean } = {}) {
        // Given top-down, the way CAs often ship it: the component puts it in trust order.
        const bundle = (cert: IssuedCert) => policy.certPem + issuing.certPem + cert.certPem;
        const tls = (verification: string, cert = leaf, key = "deep-key") => ({
            certificateChain: bundle(cert),
            privateKey: key,
            ocsp: { verification, ...(verification === "h2o-default" ? {} : { rootCertificate: root.certPem }), stapleWaitSeconds: 15, requireGoodStaple: over.requireGoodStaple },
        });
        return {
            name: "deep",
            host: "web",
            numThreads: 2,
            listeners: [
                { name: "store", port: 8443, tls: over.trustStoreLeaf ? tls("trust-store", unstapled, "unstapled-key") : tls("trust-store") },
                { name: "cafile", port: 8444, tls: tls("ca-file") },
                { name: "stock", port: 8445, tls: tls("h2o-default") },
                ...extra,
            ],
            virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: `http://ca:${BACKEND_PORT}` }] }],
        };
    }

    async function apply(p: unknown): Promise<ApplyResult> {
        const t0 = Date.now();
        const res = await harness.apply(program(p));
        console.log(`h2o chains/listeners e2e: apply ${Date.now() - t0} ms, ${res.operations.length} command(s)${res.ok ? "" : `, failed: ${res.error}`}`);
        return res;
    }

    /** What an HTTP client gets on a plain port of web: the backend's echo, or curl's error. */
    async function plainGet(port: number, path: string): Promise<{ code: number; out: string }> {
        return curlVia(lab, web.address, `http://www.example.test:${port}${path}`);
    }

    /** Each TLS port staples `good`; a freshly restarted h2o fetches its first staples within seconds. */
    async function expectAllStaplesGood(): Promise<void> {
        for (const port of [8443, 8444, 8445]) {
            let seen = "";
            for (let i = 0; i < 20 && seen !== "Cert Status: good"; i++) {
                if (i > 0) await new Promise((r) => setTimeout(r, 1000));
                seen = await stapleSeen(lab, web.address, port, NAME);
            }
            expect(`${port}: ${seen}`).toBe(`${port}: Cert Status: good`);
        }
    }

    /** The trust directory as a client of it sees it: every entry with its link target and content hash. */
    const trustListing = async () => (await web.exec(`cd /etc/ssl/certs && find . -maxdepth 1 \\( -type f -o -type l \\) -printf '%p %y %l\\n' | sort && sha256sum hostwright-* 2>/dev/null; true`)).stdout;

    const outputsOf = (res: ApplyResult) => (res.outputs.h2o as any).deep;
    const proxyStdout = (res: ApplyResult) => res.operations.map((o) => o.stdout).join("\n");

    beforeAll(async () => {
        lab = await startLab({ hosts: ["web", "ca"] });
        web = lab.host("web");
        ca = lab.host("ca");
        dir = mkdtempSync(join(tmpdir(), "hw-h2o-deep-"));
        const pki = new Pki(dir);
        const rsa = "rsa-2048" as const;
        root = pki.rootCa({ commonName: "Hostwright Deep Root", keyType: rsa });
        policy = pki.intermediateCa(root, { commonName: "Hostwright Deep Policy CA", keyType: rsa, pathLength: 1 });
        issuing = pki.intermediateCa(policy, { commonName: "Hostwright Deep Issuing CA", keyType: rsa });
        leaf = pki.leaf(issuing, { commonName: NAME, keyType: rsa, ocspUrl: `http://${ca.address}:${OCSP_PORT}` });
        unstapled = pki.leaf(issuing, { commonName: NAME, keyType: rsa, ocspUrl: `http://${ca.address}:${DEAD_OCSP_PORT}` });
        Object.assign(secrets, { "deep-key": leaf.keyPem, "unstapled-key": unstapled.keyPem });
        rootFile = join(dir, "root-only.pem");
        writeFileSync(rootFile, root.certPem);
        await startOcspResponder(ca, issuing, OCSP_PORT);
        await startEchoBackend(lab, ca, [BACKEND_PORT]);
        harness = new Harness(lab, join(dir, "state.json"));
        trustBefore = await trustListing();
    }, 120_000);

    afterAll(async () => {
        await lab?.down();
        if (dir) rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("a 4-level RSA chain staples 'good' in trust-store, ca-file and h2o-default modes", async () => {
        const res = await apply(proxy());
        if (!res.ok) throw new Error(res.error);
        expect(outputsOf(res).stapling).toEqual({ store: "good", cafile: "good", stock: "good" });
        // h2o -t's own fetches verified too, before the switch, with the root still staged.
        expect(outputsOf(res).warnings).toEqual([]);
        expect(proxyStdout(res)).not.toMatch(/OCSP Stapling\] (temporary failed|does not work)/);
        expect(outputsOf(res).chainOrder.store).toEqual([`CN=${NAME} (given as #3)`, "CN=Hostwright Deep Issuing CA (given as #2)", "CN=Hostwright Deep Policy CA (given as #1)"]);
        await expectAllStaplesGood();
        // Served and verified to the root by a client that checks the staple itself.
        const https = await curlVia(lab, web.address, `https://${NAME}:8443/tls`, { caFile: rootFile, certStatus: true });
        expect(https.code).toBe(0);
        expect(JSON.parse(https.out)).toMatchObject({ path: "/tls" });
        // The trust-store fetcher verifies to the root with both intermediates, as h2o's user.
        const fetched = await web.exec("su -s /bin/sh www-data -c '/etc/h2o/hostwright/store.ocsp-fetch /etc/h2o/hostwright/store.chain.pem' | openssl ocsp -respin /dev/stdin -resp_text -noverify 2>&1");
        expect(fetched.stdout).toContain("Cert Status: good");
        expect(fetched.stderr).toContain("Response verify OK");
    }, 180_000);

    it("adding a listener to the running h2o restarts it: the new port is served, the downtime reported", async () => {
        const before = (await web.exec("cat /run/h2o.pid")).stdout.trim();
        const res = await apply(proxy([{ name: "http", port: 8080 }]));
        if (!res.ok) throw new Error(res.error);
        const out = proxyStdout(res);
        expect(out).toContain("the listener set changes (h2o listens on '*:8443 *:8444 *:8445', the new configuration on '*:8080 *:8443 *:8444 *:8445'): restarting h2o");
        expect(out).toMatch(/h2o restarted: every listener served again after \d+ ms/);
        const downtime = outputsOf(res).restartDowntimeMs;
        console.log(`h2o chains/listeners e2e: listener added, downtime ${downtime} ms`);
        expect(downtime).toBeGreaterThan(0);
        expect(downtime).toBeLessThan(30_000);
        expect((await web.exec("cat /run/h2o.pid")).stdout.trim()).not.toBe(before);
        // The new port answers through the proxy, from outside the host; the others still do.
        const http = await plainGet(8080, "/added");
        expect(http.code).toBe(0);
        expect(JSON.parse(http.out)).toMatchObject({ host: "www.example.test:8080", path: "/added" });
        await expectAllStaplesGood();
    }, 180_000);

    it("an unchanged listener set is reloaded, not restarted (downtime 0)", async () => {
        const res = await apply({ ...proxy([{ name: "http", port: 8080 }]), maxConnections: 2000 });
        if (!res.ok) throw new Error(res.error);
        const out = proxyStdout(res);
        expect(out).toContain("reloading h2o");
        expect(out).not.toContain("restarting h2o");
        expect(outputsOf(res).restartDowntimeMs).toBe(0);
        expect((await plainGet(8080, "/still")).code).toBe(0);
    }, 180_000);

    it("a change of listeners whose activation fails rolls back to the previous listener set", async () => {
        // Adds 8081 (a restart) and a leaf whose responder never answers, with requireGoodStaple: the activation fails after the restart.
        const res = await apply(proxy([{ name: "http", port: 8080 }, { name: "more", port: 8081 }], { trustStoreLeaf: "unstapled", requireGoodStaple: true }));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/OCSP staple is 'no staple' \(requireGoodStaple\)/);
        expect(res.failure!.stdout).toContain("restarting h2o");
        expect(res.failure!.stdout).toMatch(/restarting h2o: it listens on '\*:8080 \*:8081 \*:8443 \*:8444 \*:8445', the restored configuration on '\*:8080 \*:8443 \*:8444 \*:8445'/);
        // What is served is the previous configuration: 8081 closed again, 8080 and the TLS ports as before.
        expect((await plainGet(8081, "/")).code).not.toBe(0);
        expect((await plainGet(8080, "/back")).code).toBe(0);
        const served = await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:8443 -servername ${NAME} </dev/null 2>/dev/null | openssl x509 -noout -serial`]);
        expect(served.stdout.trim()).toBe(`serial=${leaf.serial}`);
        await expectAllStaplesGood();
    }, 180_000);

    it("removing a listener restarts h2o: its port is closed, the others still served", async () => {
        const res = await apply(proxy());
        if (!res.ok) throw new Error(res.error);
        expect(proxyStdout(res)).toContain("the new configuration on '*:8443 *:8444 *:8445'): restarting h2o");
        const downtime = outputsOf(res).restartDowntimeMs;
        console.log(`h2o chains/listeners e2e: listener removed, downtime ${downtime} ms`);
        expect(downtime).toBeGreaterThan(0);
        const gone = await plainGet(8080, "/");
        expect(gone.code).toBe(7); // curl: connection refused
        expect((await web.exec("ss -Hltn 'sport = :8080'")).stdout.trim()).toBe("");
        await expectAllStaplesGood();
        const https = await curlVia(lab, web.address, `https://${NAME}:8445/after`, { caFile: rootFile, certStatus: true });
        expect(JSON.parse(https.out)).toMatchObject({ path: "/after" });
    }, 180_000);

    it("destroy stops the h2o it started and leaves no trust link behind", async () => {
        const res = await harness.destroy();
        if (!res.ok) throw new Error(res.error);
        expect((await web.exec("pgrep -x h2o")).code).not.toBe(0);
        expect(await trustListing()).toBe(trustBefore);
        expect((await plainGet(8443, "/")).code).not.toBe(0);
    }, 180_000);
});
