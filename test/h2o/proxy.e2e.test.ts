/**
 * h2o reverse proxy against the real programs on lab hosts: h2o 2.2.5 on "web",
 * a real `openssl ocsp` responder on "ca", a Python backend that echoes the Host
 * header on "backend". Applied through the `hostwright:h2o` stack section with the
 * lab harness (what the real program declares, run over real SSH).
 */
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { X509Certificate } from "crypto";
import { h2oSection } from "../../components/h2o/section";
import { declareStack } from "../../core/config/stack";
import { CertificateAuthority, IssuedCert, Pki } from "../../tools/pki";
import { Harness, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { startOcspResponder } from "./h2o-lab";

const OCSP_PORT = 8888;
const FLIP_PORT = 8889;
const OCSP2_PORT = 8890;
/** Nothing listens there: a leaf pointing at it never gets a staple. */
const DEAD_OCSP_PORT = 8899;
const HOSTILE = `a'b"c $(touch /tmp/pwned) \`id\` #x: y`;
const BACKEND_PORT = 9080;

/** A backend that answers every GET with the Host header it received. */
const BACKEND = `
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        extra = " x-hw=%s" % self.headers.get("X-Hw") if self.headers.get("X-Hw") else ""
        body = ("backend saw host=%s path=%s%s\\n" % (self.headers.get("Host"), self.path, extra)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", ${BACKEND_PORT}), H).serve_forever()
`;

async function must(host: LabHost, cmd: string, input?: string): Promise<string> {
    const r = await host.exec(cmd, { input, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${host.name}: ${cmd} -> ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

/** Files and processes of the web host that the proxy may touch, as text to compare. */
async function webSnapshot(web: LabHost): Promise<string> {
    return must(
        web,
        `for d in /etc/h2o /etc/ssl/certs; do find "$d" -xdev \\( -type f -o -type l \\) -printf '%p %m %u %l\\n' | sort; done
         find /etc/h2o -type f -exec sha256sum {} + | sort
         [ -e /run/h2o.pid ] && echo "pid file present" || echo "no pid file"
         pgrep -x h2o >/dev/null && echo "h2o running" || echo "h2o not running"`,
    );
}

labDescribe("h2o reverse proxy with OCSP stapling (lab: web, ca, backend)", () => {
    let lab: Lab;
    let web: LabHost;
    let ca: LabHost;
    let pkiDir: string;
    let pki: Pki;
    let root: CertificateAuthority;
    let inter: CertificateAuthority;
    let leaf: IssuedCert;
    let plain: IssuedCert;
    let revoked: IssuedCert;
    let flipped: IssuedCert;
    /** A second PKI whose root has the same subject (so the same hash link name) as `root`: a re-keyed root. */
    let root2: CertificateAuthority;
    let inter2: CertificateAuthority;
    let leaf2: IssuedCert;
    let revoked2: IssuedCert;
    let unanswered2: IssuedCert;
    let harness: Harness;
    let before: string;
    const secrets: Record<string, string> = {};

    /** The program: the stack section, as index.ts declares it, with the lab inventory. */
    function program(proxies: unknown[]) {
        const { config, secretKeys } = labStackConfig(lab, { h2o: proxies }, ["web"]);
        const allSecrets = { ...JSON.parse(config["hostwright:secrets"]), ...secrets };
        const values = { ...config, "hostwright:secrets": JSON.stringify(allSecrets) };
        return () => declareStack({ values, secretKeys: new Set(secretKeys) }, [h2oSection]);
    }

    /** The proxy of the seed: catch-all to the backend on 80 and 443, plus a listener whose leaf has no OCSP URI. */
    function seedProxy(over: { httpsChain?: string; httpsKey?: string; httpsRoot?: string; requireGoodStaple?: boolean; cipherSuite?: string } = {}) {
        return {
            name: "front",
            host: "web",
            user: "www-data",
            maxConnections: 1024,
            numThreads: 2,
            listeners: [
                { name: "http", port: 80 },
                {
                    name: "https",
                    port: 443,
                    tls: {
                        certificateChain: over.httpsChain ?? inter.certPem + leaf.certPem,
                        privateKey: over.httpsKey ?? "www-key",
                        cipherSuite: over.cipherSuite,
                        ocsp: { rootCertificate: over.httpsRoot ?? root.certPem, stapleWaitSeconds: over.requireGoodStaple ? 5 : 20, requireGoodStaple: over.requireGoodStaple },
                    },
                },
                { name: "plain", port: 8443, tls: { certificateChain: plain.certPem + inter.certPem, privateKey: "plain-key" } },
                // The same leaf, verified against a CA file inside the fetcher, and with h2o's own fetch script.
                { name: "cafile", port: 8444, tls: { certificateChain: leaf.certPem + inter.certPem, privateKey: "www-key", ocsp: { rootCertificate: root.certPem, verification: "ca-file" } } },
                { name: "stock", port: 8445, tls: { certificateChain: leaf.certPem + inter.certPem, privateKey: "www-key", ocsp: { verification: "h2o-default" } } },
            ],
            virtualHosts: [
                {
                    name: "*",
                    paths: [
                        { path: "/", proxyTo: `http://backend:${BACKEND_PORT}` },
                        // Hostile values travel through YAML and shell untouched.
                        { path: "/odd'$(id)", proxyTo: `http://backend:${BACKEND_PORT}/odd/`, setRequestHeaders: { "X-Hw": HOSTILE } },
                    ],
                },
            ],
        };
    }

    /** curl from the lab switch (outside the web host), resolving the test names to web. */
    async function curl(url: string, extra: string[] = []): Promise<{ code: number; out: string }> {
        const r = await lab.runOnSwitch(["curl", "-sS", "--max-time", "10", "--resolve", `www.example.test:443:${web.address}`, "--resolve", `plain.example.test:8443:${web.address}`, ...extra, url], { timeoutMs: 20_000 });
        return { code: r.code, out: `${r.stdout}${r.stderr}` };
    }

    async function statusOf(port: number, name: string): Promise<string> {
        const r = await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:${port} -servername ${name} -status </dev/null 2>&1`], { timeoutMs: 20_000 });
        return r.stdout;
    }

    beforeAll(async () => {
        lab = await startLab({ hosts: ["web", "ca", "backend"] });
        web = lab.host("web");
        ca = lab.host("ca");
        const ocspUrl = `http://${ca.address}:${OCSP_PORT}`;
        pkiDir = mkdtempSync(join(tmpdir(), "hw-h2o-e2e-"));
        pki = new Pki(pkiDir);
        root = pki.rootCa({ commonName: "Hostwright Lab Root" });
        inter = pki.intermediateCa(root, { commonName: "Hostwright Lab Intermediate" });
        leaf = pki.leaf(inter, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl });
        plain = pki.leaf(inter, { commonName: "plain.example.test" });
        revoked = pki.leaf(inter, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl });
        pki.revoke(inter, revoked);
        // Revoked between the pre-switch check and h2o's own fetch: its responder says
        // "good" to h2o -t's two requests, then "revoked".
        flipped = pki.leaf(inter, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl: `http://${ca.address}:${FLIP_PORT}` });
        const indexBeforeFlip = readFileSync(inter.indexPath, "utf8");
        pki.revoke(inter, flipped);
        root2 = pki.rootCa({ commonName: "Hostwright Lab Root" });
        inter2 = pki.intermediateCa(root2, { commonName: "Hostwright Lab Intermediate 2" });
        leaf2 = pki.leaf(inter2, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl: `http://${ca.address}:${OCSP2_PORT}` });
        revoked2 = pki.leaf(inter2, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl: `http://${ca.address}:${OCSP2_PORT}` });
        pki.revoke(inter2, revoked2);
        unanswered2 = pki.leaf(inter2, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl: `http://${ca.address}:${DEAD_OCSP_PORT}` });
        Object.assign(secrets, { "www-key": leaf.keyPem, "plain-key": plain.keyPem, "revoked-key": revoked.keyPem, "flipped-key": flipped.keyPem, "leaf2-key": leaf2.keyPem, "revoked2-key": revoked2.keyPem, "unanswered2-key": unanswered2.keyPem });

        // The responder answers from the intermediate's index.txt, on the ca host.
        await must(ca, "mkdir -p /srv/ocsp");
        for (const [file, content] of [["index.txt", require("fs").readFileSync(inter.indexPath, "utf8")], ["ca.pem", inter.certPem], ["ca.key", inter.keyPem]]) {
            await must(ca, `cat > /srv/ocsp/${file}`, content);
        }
        await must(ca, `cd /srv/ocsp && setsid openssl ocsp -index index.txt -port ${OCSP_PORT} -CA ca.pem -rsigner ca.pem -rkey ca.key -ignore_err -nmin 60 >/srv/ocsp/log 2>&1 </dev/null & sleep 0.3`);
        await must(ca, "cat > /srv/ocsp/index-before-flip.txt", indexBeforeFlip);
        // Several certificates share a subject here: openssl needs to be told that is fine.
        await must(ca, "echo 'unique_subject = no' | tee /srv/ocsp/index-before-flip.txt.attr > /srv/ocsp/index.txt.attr");
        const responder = (index: string, more: string) => `openssl ocsp -index ${index} -port ${FLIP_PORT} -CA ca.pem -rsigner ca.pem -rkey ca.key -ignore_err -nmin 60 ${more}`;
        await must(ca, `cd /srv/ocsp && setsid sh -c '${responder("index-before-flip.txt", "-nrequest 2")}; exec ${responder("index.txt", "")}' >/srv/ocsp/flip.log 2>&1 </dev/null & sleep 0.3`);
        await startOcspResponder(ca, inter2, OCSP2_PORT, "/srv/ocsp2");
        const backend = lab.host("backend");
        await must(backend, "cat > /root/backend.py", BACKEND);
        await must(backend, "setsid python3 /root/backend.py >/root/backend.log 2>&1 </dev/null &");
        const up = await lab.runOnSwitch(["curl", "-sS", "--retry", "20", "--retry-connrefused", "--retry-delay", "0", "--max-time", "10", `http://${backend.address}:${BACKEND_PORT}/ready`]);
        if (up.code !== 0) throw new Error(`backend did not start: ${up.stderr} ${(await backend.exec("cat /root/backend.log")).stdout}`);
        harness = new Harness(lab, join(pkiDir, "state.json"));
        before = await webSnapshot(web);
    }, 120_000);

    afterAll(async () => {
        await lab?.down();
        if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
    }, 60_000);

    it("without the root CA in the host's trust store, an OCSP response cannot be verified", async () => {
        // What the component's fetcher does, by hand, before anything is deployed.
        await must(web, "mkdir -p /tmp/o");
        await must(web, "cat > /tmp/o/chain.pem", leaf.certPem + inter.certPem);
        await must(web, "cat > /tmp/o/issuer.pem", inter.certPem);
        const fetch = await web.exec(`openssl ocsp -issuer /tmp/o/issuer.pem -cert /tmp/o/chain.pem -url http://${ca.address}:${OCSP_PORT} -noverify -respout /tmp/o/r.der && openssl ocsp -respin /tmp/o/r.der -verify_other /tmp/o/issuer.pem -CApath /etc/ssl/certs`);
        expect(`${fetch.stdout}${fetch.stderr}`).toMatch(/Response Verify Failure|unable to get local issuer certificate/);
        expect(fetch.code).not.toBe(0);
    }, 60_000);

    it("applies: proxy on the plain and TLS ports, staple good, chain reordered, no-OCSP leaf 'not applicable'", async () => {
        const t0 = Date.now();
        const res = await harness.apply(program([seedProxy()]));
        if (!res.ok) throw new Error(res.error);
        console.log(`h2o e2e: first apply ${Date.now() - t0} ms, ${res.operations.length} command(s)`);
        const out = (res.outputs.h2o as any).front;
        expect(out.stapling).toEqual({ https: "good", plain: "not applicable", cafile: "good", stock: "good" });
        expect(out.chainOrder.https).toEqual(["CN=www.example.test (given as #2)", "CN=Hostwright Lab Intermediate (given as #1)"]);
        expect(out.configPath).toBe("/etc/h2o/h2o.conf");

        // Proxying works on both ports and the backend sees the original Host.
        const http = await curl(`http://${web.address}/hello`, ["-H", "Host: www.example.test"]);
        expect(http.out).toBe("backend saw host=www.example.test path=/hello\n");
        const odd = await curl(`http://${web.address}/odd'$(id)/rest`);
        expect(odd.out).toMatch(/^backend saw host=\S+ path=\/odd\/+rest x-hw=(.*)\n$/);
        expect(/x-hw=(.*)\n$/.exec(odd.out)![1]).toBe(HOSTILE);
        expect((await web.exec("ls /tmp/pwned")).code).not.toBe(0);
        const caFile = join(pkiDir, "root-only.pem");
        require("fs").writeFileSync(caFile, root.certPem);
        const https = await curl("https://www.example.test/tls", ["--cacert", caFile, "--cert-status"]);
        expect(https.out).toBe("backend saw host=www.example.test path=/tls\n");
        expect((await curl("https://plain.example.test:8443/", ["--cacert", caFile])).out).toBe("backend saw host=plain.example.test:8443 path=/\n");

        // The staple as a client sees it, and the served chain: leaf first.
        expect(await statusOf(443, "www.example.test")).toContain("Cert Status: good");
        expect(await statusOf(8443, "plain.example.test")).toContain("OCSP response: no response sent");
        for (const port of [8444, 8445]) expect(await statusOf(port, "www.example.test")).toContain("Cert Status: good");
        const shown = await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:443 -servername www.example.test -showcerts </dev/null 2>/dev/null`]);
        const served = shown.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!.map((pem) => new X509Certificate(pem).subject);
        expect(served).toEqual(["CN=www.example.test", "CN=Hostwright Lab Intermediate"]);

        // Files on the host: key private to root, chain readable by h2o's user.
        expect(await must(web, "stat -c '%a %U' /etc/h2o/hostwright/https.key /etc/h2o/hostwright/https.chain.pem")).toBe("600 root\n644 root\n");
        expect((await web.exec("su -s /bin/sh www-data -c 'head -c 27 /etc/h2o/hostwright/https.chain.pem'")).stdout).toBe("-----BEGIN CERTIFICATE-----");
    }, 180_000);

    it("the root CA the proxy step installs, with its hash link, is what lets the fetcher verify", async () => {
        const hash = (await must(web, `openssl x509 -noout -hash -in /etc/ssl/certs/hostwright-*.pem`)).trim();
        expect(await must(web, `readlink /etc/ssl/certs/${hash}.0`)).toMatch(/^hostwright-[0-9a-f]{16}\.pem\n$/);
        // The fetcher, run as h2o's user like h2o's later updates, staples a verified response ...
        const ok = await web.exec("su -s /bin/sh www-data -c '/etc/h2o/hostwright/https.ocsp-fetch /etc/h2o/hostwright/https.chain.pem' | openssl ocsp -respin /dev/stdin -resp_text -noverify 2>&1");
        expect(ok.stdout).toContain("Cert Status: good");
        // ... and without the hash link it refuses (exit 75: h2o retries later).
        await must(web, `mv /etc/ssl/certs/${hash}.0 /tmp/hashlink`);
        const refused = await web.exec("/etc/h2o/hostwright/https.ocsp-fetch /etc/h2o/hostwright/https.chain.pem >/dev/null");
        await must(web, `mv /tmp/hashlink /etc/ssl/certs/${hash}.0`);
        expect(refused.code).toBe(75);
        expect(refused.stderr).toContain("does not verify against /etc/ssl/certs");
    }, 60_000);

    it("a second apply runs nothing", async () => {
        const res = await harness.apply(program([seedProxy()]));
        expect(res.ok).toBe(true);
        expect(res.operations).toEqual([]);
    }, 120_000);

    it("a config h2o rejects fails the apply with h2o's message and leaves the old proxy serving", async () => {
        const res = await harness.apply(program([seedProxy({ cipherSuite: "NO-SUCH-CIPHER" })]));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/h2o rejected the new configuration/);
        expect(res.error).toMatch(/cipher/i);
        expect(await must(web, "grep -c NO-SUCH-CIPHER /etc/h2o/h2o.conf || true")).toBe("0\n");
        expect((await curl(`http://${web.address}/still`)).out).toContain("path=/still");
        expect(await statusOf(443, "www.example.test")).toContain("Cert Status: good");
    }, 120_000);

    it("a revoked leaf fails the apply loudly and the good certificate keeps serving", async () => {
        const res = await harness.apply(program([seedProxy({ httpsChain: revoked.certPem + inter.certPem, httpsKey: "revoked-key" })]));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/REVOKED/);
        const served = await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:443 -servername www.example.test </dev/null 2>/dev/null | openssl x509 -noout -serial`]);
        expect(served.stdout.trim()).toBe(`serial=${leaf.serial}`);
        expect(await statusOf(443, "www.example.test")).toContain("Cert Status: good");
    }, 120_000);

    it("a staple that turns out revoked after the switch fails the apply and rolls back", async () => {
        const res = await harness.apply(program([seedProxy({ httpsChain: flipped.certPem + inter.certPem, httpsKey: "flipped-key" })]));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/staples a REVOKED OCSP response/);
        expect(res.failure!.stdout).toMatch(/h2o -t: .*: good/);
        expect(res.failure!.stdout).toContain("rolled back /etc/h2o/hostwright/https.chain.pem");
        const served = await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:443 -servername www.example.test </dev/null 2>/dev/null | openssl x509 -noout -serial`]);
        expect(served.stdout.trim()).toBe(`serial=${leaf.serial}`);
    }, 120_000);

    /** The trust directory: every entry with its type and link target, and the content of hostwright's roots. */
    const trustListing = () => must(web, `cd /etc/ssl/certs && find . -maxdepth 1 \\( -type f -o -type l \\) -printf '%p %y %l\\n' | sort && sha256sum hostwright-*`);
    /** What h2o's next OCSP update of the https listener would staple: its fetcher, run as h2o's user. */
    const nextUpdate = async () => (await web.exec("su -s /bin/sh www-data -c '/etc/h2o/hostwright/https.ocsp-fetch /etc/h2o/hostwright/https.chain.pem' | openssl ocsp -respin /dev/stdin -resp_text -noverify 2>&1")).stdout;
    const servedSerial = async () => (await lab.runOnSwitch(["bash", "-c", `openssl s_client -connect ${web.address}:443 -servername www.example.test </dev/null 2>/dev/null | openssl x509 -noout -serial`])).stdout.trim();

    it("a revoked leaf under a new root is refused before the switch (the staged root verifies h2o -t's fetch): trust directory byte-identical", async () => {
        const trust = await trustListing();
        const res = await harness.apply(program([seedProxy({ httpsChain: revoked2.certPem + inter2.certPem, httpsKey: "revoked2-key", httpsRoot: root2.certPem })]));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/the OCSP responder reports a certificate as REVOKED; not deploying it/);
        expect(await trustListing()).toBe(trust);
        expect(await nextUpdate()).toContain("Cert Status: good");
        expect(await servedSerial()).toBe(`serial=${leaf.serial}`);
        expect(await statusOf(443, "www.example.test")).toContain("Cert Status: good");
    }, 120_000);

    it("a new root whose apply fails after the switch is rolled back with the rest: trust directory byte-identical, no dangling link", async () => {
        const trust = await trustListing();
        const res = await harness.apply(program([seedProxy({ httpsChain: unanswered2.certPem + inter2.certPem, httpsKey: "unanswered2-key", httpsRoot: root2.certPem, requireGoodStaple: true })]));
        expect(res.ok).toBe(false);
        expect(res.error).toMatch(/OCSP staple is 'no staple' \(requireGoodStaple\)/);
        // The switch did swap the roots and their link before the rollback put them back.
        expect(res.failure!.stdout).toMatch(/removed hash link \/etc\/ssl\/certs\/[0-9a-f]{8}\.0 \(its root CA is gone\)/);
        expect(await trustListing()).toBe(trust);
        expect(await servedSerial()).toBe(`serial=${leaf.serial}`);
        expect(await statusOf(443, "www.example.test")).toContain("Cert Status: good");
        // The staple does not lapse at the next update: the previous root still verifies it.
        expect(await nextUpdate()).toContain("Cert Status: good");
    }, 120_000);

    it("a root change moves the hash link to the new root and leaves no dangling link; the new chain staples", async () => {
        const res = await harness.apply(program([seedProxy({ httpsChain: leaf2.certPem + inter2.certPem, httpsKey: "leaf2-key", httpsRoot: root2.certPem })]));
        if (!res.ok) throw new Error(res.error);
        expect((res.outputs.h2o as any).front.stapling.https).toBe("good");
        expect(await servedSerial()).toBe(`serial=${leaf2.serial}`);
        expect(await statusOf(443, "www.example.test")).toContain("Cert Status: good");
        const hash = (await must(web, "openssl x509 -noout -hash", root2.certPem)).trim();
        const roots = (await must(web, "ls /etc/ssl/certs | grep '^hostwright-' || true")).trim().split("\n");
        expect(roots).toHaveLength(1);
        expect((await must(web, "cat /etc/ssl/certs/hostwright-*.pem")).trim()).toBe(root2.certPem.trim());
        expect(await must(web, `readlink /etc/ssl/certs/${hash}.0`)).toBe(`${roots[0]}\n`);
        expect(await must(web, "find /etc/ssl/certs -xtype l")).toBe("");
    }, 120_000);

    it("back to the good config, then destroy leaves the host as before", async () => {
        const again = await harness.apply(program([seedProxy()]));
        if (!again.ok) throw new Error(again.error);
        const res = await harness.destroy();
        if (!res.ok) throw new Error(res.error);
        expect(await webSnapshot(web)).toBe(before);
        expect((await curl(`http://${web.address}/`)).code).not.toBe(0);
    }, 180_000);
});
