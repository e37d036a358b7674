/**
 * The drift check of an h2o proxy (tools/check.ts running the step's `verify` in check
 * mode) against real h2o 2.2.5 and a real `openssl ocsp` responder. Each kind of drift is
 * planted on the lab host as an operator or a package would; the check must name it with
 * the exact line and exit 2, the repair must fix it (asserted from the lab switch: curl,
 * the staple a client sees), and a second check must be clean.
 * Hosts: "web" (h2o), "ca" (the issuing CA's responder and an echo backend).
 */
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { basename, join } from "path";
import { shortHash } from "../../core/hash";
import { h2oSection } from "../../components/h2o/section";
import { declareStack } from "../../core/config/stack";
import { sh } from "../../core/shell";
import { CertificateAuthority, IssuedCert, Pki } from "../../tools/pki";
import { checkCommands, CheckOptions, CheckReport, exitCode, repairCommands, StepCheck } from "../../tools/check";
import type { RecordedResource } from "../../tools/record";
import { Harness, labCheckSession, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { curlVia, startEchoBackend, startOcspResponder, stapleSeen } from "./h2o-lab";

const OCSP_PORT = 8888;
const BACKEND_PORT = 9080;
const NAME = "www.example.test";
const CONF = "/etc/h2o/h2o.conf";
const TRUST = "/etc/ssl/certs";

labDescribe("h2o drift check and repair (lab: web, ca)", () => {
    let lab: Lab;
    let web: LabHost;
    let ca: LabHost;
    let dir: string;
    let rootFile: string;
    let root: CertificateAuthority;
    let leaf: IssuedCert;
    let harness: Harness;
    let checkOpts: CheckOptions;
    let program: () => unknown;

    async function must(host: LabHost, cmd: string): Promise<string> {
        const r = await host.exec(cmd, { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`${host.name}: ${cmd} -> ${r.code}: ${r.stderr}`);
        return r.stdout;
    }

    const commands = (): Promise<RecordedResource[]> => harness.declared(program as () => void);
    const check = async (): Promise<CheckReport> => checkCommands(await commands(), checkOpts);
    const proxyStep = (report: CheckReport): StepCheck => report.hosts.find((h) => h.host === "web")!.steps.find((s) => s.name === "front-proxy")!;
    const rootPath = () => `${TRUST}/hostwright-${shortHash(root.certPem.trim())}.pem`;
    const hashLink = async () => (await must(web, sh`find ${TRUST} -maxdepth 1 -lname ${"hostwright-*.pem"}`)).trim();

    /** What a client gets from outside: the backend through the plain and the TLS listener, verified to the root with a good staple. */
    async function expectServed(): Promise<void> {
        const plain = await curlVia(lab, web.address, `http://${NAME}:8080/plain`);
        expect(plain.code).toBe(0);
        expect(JSON.parse(plain.out)).toMatchObject({ path: "/plain" });
        const tls = await curlVia(lab, web.address, `https://${NAME}:8443/tls`, { caFile: rootFile, certStatus: true });
        expect(tls.code).toBe(0);
        expect(JSON.parse(tls.out)).toMatchObject({ path: "/tls" });
        expect(await stapleSeen(lab, web.address, 8443, NAME)).toBe("Cert Status: good");
    }

    beforeAll(async () => {
        lab = await startLab({ hosts: ["web", "ca"] });
        web = lab.host("web");
        ca = lab.host("ca");
        dir = mkdtempSync(join(tmpdir(), "hw-h2o-drift-"));
        const pki = new Pki(dir);
        root = pki.rootCa({ commonName: "Hostwright Drift Root" });
        const inter = pki.intermediateCa(root, { commonName: "Hostwright Drift Intermediate" });
        leaf = pki.leaf(inter, { commonName: NAME, dnsNames: [NAME], ocspUrl: `http://${ca.address}:${OCSP_PORT}` });
        rootFile = join(dir, "root.pem");
        writeFileSync(rootFile, root.certPem);
        await startOcspResponder(ca, inter, OCSP_PORT);
        await startEchoBackend(lab, ca, [BACKEND_PORT]);
        const proxy = {
            name: "front",
            host: "web",
            numThreads: 2,
            listeners: [
                { name: "http", port: 8080 },
                { name: "https", port: 8443, tls: { certificateChain: inter.certPem + leaf.certPem, privateKey: "www-key", ocsp: { rootCertificate: root.certPem } } },
            ],
            virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: `http://ca:${BACKEND_PORT}` }] }],
        };
        const { config, secretKeys } = labStackConfig(lab, { h2o: [proxy] }, ["web"]);
        const values = { ...config, "hostwright:secrets": JSON.stringify({ ...JSON.parse(config["hostwright:secrets"]), "www-key": leaf.keyPem }) };
        program = () => declareStack({ values, secretKeys: new Set(secretKeys) }, [h2oSection]);
        harness = new Harness(lab, join(dir, "state.json"));
        checkOpts = {
            session: labCheckSession(lab),
            hostNames: { web: `${web.address}:22` },
            secretTexts: [leaf.keyPem],
        };
        const up = await harness.apply(program as () => void);
        if (!up.ok) throw new Error(up.error);
    }, 180_000);

    afterAll(async () => {
        await lab?.down();
        if (dir) rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("after the apply: ok (exit 0), in one session, the proxy's verification within the estate's budget", async () => {
        const report = await check();
        expect(proxyStep(report)).toMatchObject({ status: "ok", drift: [] });
        expect(exitCode(report)).toBe(0);
        expect(report.hosts[0].sessions).toBe(1);
        console.log(`h2o drift e2e: check of web in ${report.hosts[0].durationMs} ms`);
        expect(report.hosts[0].durationMs).toBeLessThan(5_000); // the whole estate's budget; bench/ measures it
        await expectServed();
    }, 60_000);

    let removedLink = "";
    const nothingMore = async () => undefined;
    // Every row has all four entries: jest takes a missing last one for a `done` callback.
    it.each<[string, () => Promise<void>, () => string[], () => Promise<void>]>([
        ["h2o stopped", () => must(web, "service h2o stop >/dev/null 2>&1").then(() => undefined), () => ["h2o is not running (no live process in its pid file /run/h2o.pid)"], nothingMore],
        [
            "a listener's port closed: h2o restarted by hand with an older config (no http listener)",
            async () => {
                const older = (await must(web, `cat ${CONF}`)).replace("listen:\n  port: 8080\n", "").replace(/^# hostwright listeners: .*$/m, "# hostwright listeners: *:8443");
                expect(older).not.toContain("8080");
                await web.exec("cat > /root/h2o-older.conf", { input: older });
                await must(web, "service h2o stop >/dev/null 2>&1 && h2o -m daemon -c /root/h2o-older.conf >/dev/null 2>&1 </dev/null && for i in $(seq 50); do ss -Hltn 'sport = :8443' | grep -q . && exit 0; sleep 0.1; done; exit 1");
            },
            () => [
                "h2o runs with the configuration /root/h2o-older.conf, declared /etc/h2o/h2o.conf",
                "listener http (127.0.0.1:8080) does not answer HTTP",
                "h2o listens on '*:8443', declared '*:8080 *:8443' (started with another configuration?)",
            ],
            async () => expect((await must(web, "ps -o args= -p $(cat /run/h2o.pid)")).trim()).toContain("/etc/h2o/h2o.conf"),
        ],
        [
            "h2o restarted by hand with a copy of its config (same listeners, another file)",
            async () => {
                await must(web, sh`sed 's/^max-connections:.*/max-connections: 9/' ${CONF} > /root/h2o-copy.conf`);
                await must(web, "service h2o stop >/dev/null 2>&1 && h2o -m daemon -c /root/h2o-copy.conf >/dev/null 2>&1 </dev/null && for i in $(seq 50); do ss -Hltn 'sport = :8080' | grep -q . && exit 0; sleep 0.1; done; exit 1");
            },
            () => ["h2o runs with the configuration /root/h2o-copy.conf, declared /etc/h2o/h2o.conf"],
            async () => expect((await must(web, "ps -o args= -p $(cat /run/h2o.pid)")).trim()).toMatch(/ -c \/etc\/h2o\/h2o\.conf$/),
        ],
        [
            "h2o.conf edited by hand (the file check; the repair keeps the edit)",
            () => must(web, sh`sed -i 's/^max-connections:.*/max-connections: 7/' ${CONF}`).then(() => undefined),
            () => [`${CONF}: content differs`],
            async () => {
                expect(await must(web, "grep -l '^max-connections: 7$' /var/lib/hostwright/kept/*/h2o.conf.*")).toMatch(/\/h2o\.conf\./);
                expect(await must(web, sh`grep '^max-connections:' ${CONF}`)).toBe("max-connections: 1024\n");
            },
        ],
        [
            "the root CA's hash link removed",
            async () => {
                removedLink = await hashLink();
                expect(removedLink).toMatch(/^\/etc\/ssl\/certs\/[0-9a-f]{8}\.0$/);
                await must(web, sh`rm ${removedLink}`);
            },
            () => [`root CA ${rootPath()} has no hash link: OpenSSL does not find it (a repair links it as ${removedLink})`],
            async () => {
                expect(await hashLink()).toBe(removedLink);
                // h2o's later OCSP updates verify again: the fetcher, as h2o's user, up to the linked root
                const fetched = await web.exec("su -s /bin/sh www-data -c '/etc/h2o/hostwright/https.ocsp-fetch /etc/h2o/hostwright/https.chain.pem' | openssl ocsp -respin /dev/stdin -resp_text -noverify 2>&1");
                expect(fetched.stdout).toContain("Cert Status: good");
                expect(fetched.stderr).toContain("Response verify OK");
            },
        ],
        [
            "the root CA file removed: its hash link dangles",
            async () => {
                removedLink = await hashLink();
                await must(web, sh`rm ${rootPath()}`);
            },
            () => [`${rootPath()}: missing`, `trust link ${removedLink} points at ${basename(rootPath())}, which is gone`],
            async () => {
                expect(await must(web, sh`readlink ${removedLink}`)).toBe(`${basename(rootPath())}\n`);
            },
        ],
    ])("%s: named precisely (exit 2); the repair fixes it; a second check is clean", async (_what, plant, expected, afterRepair) => {
        await plant();
        const drifted = await check();
        expect(proxyStep(drifted).drift).toEqual(expected());
        expect(proxyStep(drifted).status).toBe("drifted");
        expect(exitCode(drifted)).toBe(2);
        expect(drifted.replaceCommand).toContain("front-proxy");

        const repaired = await repairCommands(await commands(), drifted, checkOpts);
        expect(exitCode(repaired)).toBe(0);
        await expectServed();
        await afterRepair();
        const again = await check();
        expect(proxyStep(again)).toMatchObject({ status: "ok", drift: [] });
        expect(exitCode(again)).toBe(0);
    }, 180_000);
});
