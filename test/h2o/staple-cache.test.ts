/**
 * Stapling that keeps working when the responder does not: the new checks (Must-Staple,
 * responder override, proxy, staple age), and the component's OCSP fetcher run with the
 * real sh and openssl against a real `openssl ocsp` responder on a local port (the leaf's
 * own URI is overridden with `ocsp.responderUrl`), with a stand-in `date` only to move the
 * clock past a kept response's nextUpdate.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import type { H2oReverseProxyArgs, OcspArgs, TlsArgs } from "../../components/h2o/args";
import { requiresStapling } from "../../components/h2o/certs";
import { checkH2oArgs } from "../../components/h2o/checks";
import { fetcherCacheFiles, renderFetcher, STAGED_ROOTS_ENV } from "../../components/h2o/render";
import type { IssuedCert } from "../../tools/pki";
import { makeTestPki, TestPki } from "./pkiFixture";

// A fetch from a stopped responder takes openssl's whole 5 s timeout.
jest.setTimeout(30_000);

let p: TestPki;
let scratch: string;
beforeAll(() => {
    p = makeTestPki();
    scratch = mkdtempSync(join(tmpdir(), "hw-h2o-staple-"));
});
afterAll(() => {
    p.cleanup();
    rmSync(scratch, { recursive: true, force: true });
});

function proxyArgs(tls: (p: TestPki) => TlsArgs, more: Partial<H2oReverseProxyArgs> = {}): H2oReverseProxyArgs {
    return {
        host: { name: "web1", address: "192.0.2.10", privateKey: "unused", hostKey: "ssh-ed25519 AAAA" },
        listeners: [{ name: "https", port: 443, tls: tls(p) }],
        virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] }],
        ...more,
    };
}
const leafTls = (leaf: (p: TestPki) => IssuedCert, ocsp: OcspArgs | ((q: TestPki) => OcspArgs) = {}) => (q: TestPki): TlsArgs => ({
    certificateChain: leaf(q).certPem + q.inter.certPem,
    privateKey: leaf(q).keyPem,
    ocsp: typeof ocsp === "function" ? ocsp(q) : ocsp,
});
const withRoot = (ocsp: OcspArgs = {}) => (q: TestPki): OcspArgs => ({ rootCertificate: q.root.certPem, ...ocsp });

describe("requiresStapling (TLS Feature status_request, read from the DER)", () => {
    it.each([
        ["a Must-Staple leaf", (q: TestPki) => q.mustStaple, true],
        ["a Must-Staple leaf without OCSP URI", (q: TestPki) => q.mustStapleNoUri, true],
        ["an ordinary leaf with OCSP URI", (q: TestPki) => q.leaf, false],
        ["a CA certificate", (q: TestPki) => q.inter, false],
    ])("%s: %s", (_name, cert, expected) => {
        expect(requiresStapling(new X509Certificate(cert(p).certPem))).toBe(expected);
    });
});

type CheckCase = [string, () => H2oReverseProxyArgs, Array<[string, "error" | "warning", RegExp]>];
const checkCases: CheckCase[] = [
    ["a Must-Staple leaf with a root: fine", () => proxyArgs(leafTls((q) => q.mustStaple, withRoot())), []],
    ["a Must-Staple leaf without OCSP URI can never be stapled", () => proxyArgs(leafTls((q) => q.mustStapleNoUri)), [["listeners[0].tls.certificateChain", "error", /requires OCSP stapling \(TLS Feature status_request, Must-Staple\) but names no OCSP responder/]]],
    ["a Must-Staple leaf with stapling turned off", () => proxyArgs(leafTls((q) => q.mustStaple, withRoot({ updateInterval: 0 }))), [["listeners[0].tls.ocsp.updateInterval", "error", /is 0 \(stapling off\), but CN=must\.example\.test .* requires OCSP stapling/]]],
    ["a Must-Staple leaf with h2o's own fetcher: a warning (no response kept on disk)", () => proxyArgs(leafTls((q) => q.mustStaple)), [["listeners[0].tls.ocsp.verification", "warning", /"h2o-default" keeps no response on disk/]]],
    ["responder override and proxy with the component's fetcher: fine", () => proxyArgs(leafTls((q) => q.leaf, withRoot({ responderUrl: "http://ocsp.internal:8080/ocsp", proxy: "http://10.0.0.1:3128", stapleAgeWarningSeconds: 3600 }))), []],
    [
        "hostile or unusable responder URL and proxy",
        () => proxyArgs(leafTls((q) => q.leaf, withRoot({ responderUrl: "http://ocsp.test/$(id)'", proxy: "http://user:pw@proxy:3128" }))),
        [["listeners[0].tls.ocsp.responderUrl", "error", /http:\/\/ or https:\/\/ URL without credentials/], ["listeners[0].tls.ocsp.proxy", "error", /must be http:\/\/HOST:PORT, without credentials/]],
    ],
    ["a proxy with a path or https", () => proxyArgs(leafTls((q) => q.leaf, withRoot({ proxy: "https://proxy:3128/x" }))), [["listeners[0].tls.ocsp.proxy", "error", /must be http:\/\/HOST:PORT/]]],
    [
        "override, proxy and age need the component's fetcher",
        () => proxyArgs(leafTls((q) => q.leaf, { verification: "h2o-default", responderUrl: "http://ocsp.test/", proxy: "http://proxy:3128", stapleAgeWarningSeconds: 60 })),
        [["listeners[0].tls.ocsp.responderUrl", "error", /needs the component's fetcher/], ["listeners[0].tls.ocsp.proxy", "error", /needs the component's fetcher/], ["listeners[0].tls.ocsp.stapleAgeWarningSeconds", "error", /keeps no record of when it fetched/]],
    ],
    ["a staple age that is not a positive whole number", () => proxyArgs(leafTls((q) => q.leaf, withRoot({ stapleAgeWarningSeconds: 0.5 }))), [["listeners[0].tls.ocsp.stapleAgeWarningSeconds", "error", /whole number of seconds, 1 or more/]]],
    ["a cache directory that is not a plain absolute path", () => proxyArgs(leafTls((q) => q.leaf, withRoot()), { ocspCacheDirectory: "/var/cache/$(id)" }), [["ocspCacheDirectory", "error", /absolute path/]]],
];

describe.each(checkCases)("checkH2oArgs: %s", (_name, args, expected) => {
    it("reports exactly these issues about stapling", () => {
        const issues = checkH2oArgs(args()).issues.filter((i) => !/expires on/.test(i.message));
        expect(issues.map((i) => [i.path, i.severity]).sort()).toEqual(expected.map(([path, severity]) => [path, severity]).sort());
        for (const [path, , re] of expected) expect(issues.find((i) => i.path === path)!.message).toMatch(re);
    });
});

describe("checkH2oArgs: what the plan carries", () => {
    it.each([
        ["Must-Staple, defaults", leafTls((q) => q.mustStaple, withRoot()), { mustStaple: true, stapleAgeWarningSeconds: 14400 + 300, responderUrl: undefined, proxy: undefined }],
        ["an ordinary leaf, a shorter interval, overrides", leafTls((q) => q.leaf, withRoot({ updateInterval: 600, responderUrl: "http://r.test/", proxy: "http://p.test:3128" })), { mustStaple: false, stapleAgeWarningSeconds: 900, responderUrl: "http://r.test/", proxy: "http://p.test:3128" }],
    ])("%s", (_name, tls, expected) => {
        expect(checkH2oArgs(proxyArgs(tls)).tls.get("https")).toMatchObject(expected);
    });
});

/** A real `openssl ocsp` responder for the intermediate's certificates, on a free local port. */
class Responder {
    private child?: ChildProcess;
    constructor(readonly port: number) {}
    async start(): Promise<void> {
        this.child = spawn("openssl", p.pki.ocspResponderArgs(p.inter, { port: this.port }), { stdio: "ignore" });
        for (let i = 0; i < 50; i++) {
            // Asked of the kernel: a probe connection would keep the single-threaded responder waiting for its request.
            if (execFileSync("ss", ["-Hltn", `sport = :${this.port}`], { encoding: "utf8" }).trim() !== "") return;
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`openssl ocsp did not listen on ${this.port}`);
    }
    async stop(): Promise<void> {
        const child = this.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        await new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.kill();
        });
    }
}

/** A minimal forwarding HTTP proxy (what `openssl ocsp -proxy` talks to) that logs each request line. */
const PROXY_SCRIPT = `
import http.server, sys, urllib.request
class P(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open(sys.argv[2], "a").write(self.requestline + "\\n")
        req = urllib.request.Request(self.path, data=body, headers={"Content-Type": self.headers["Content-Type"]})
        data = urllib.request.urlopen(req, timeout=5).read()
        self.send_response(200); self.send_header("Content-Type", "application/ocsp-response"); self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), P).serve_forever()
`;

const freePort = () => 20000 + Math.floor(Math.random() * 20000);

describe.each(["ca-file", "trust-store"] as const)("the component's OCSP fetcher (%s), real openssl responder", (verification) => {
    const port = freePort();
    const responder = new Responder(port);
    let dir: string;
    let cache: string;
    let fetcher: string;
    let chain: string;
    let kept: { response: string; last: string };

    /** Renders and installs the fetcher for `leaf`, asking the local responder (through `proxy` when given). */
    function install(leaf: IssuedCert, proxy?: string) {
        const args = proxyArgs(leafTls(() => leaf, { rootCertificate: p.root.certPem, verification, responderUrl: `http://127.0.0.1:${port}/`, proxy }), {
            ocspCacheDirectory: cache,
            trustDirectory: join(dir, "empty-trust"),
        });
        const checked = checkH2oArgs(args);
        const plan = checked.tls.get("https")!;
        expect(checked.issues.filter((i) => i.severity === "error")).toEqual([]);
        writeFileSync(fetcher, renderFetcher(plan, checked.settings));
        chmodSync(fetcher, 0o755);
        writeFileSync(chain, leaf.certPem + p.inter.certPem);
        kept = fetcherCacheFiles(checked.settings, "https", plan.main.leafFingerprint!);
    }

    /** Runs the fetcher as h2o does (`CMD CERTFILE`); `later` moves `date +%s` forward (a stand-in date). */
    function fetch(later = 0, anchor = join(dir, "root.pem")): { code: number; der: Buffer; log: string; status: string } {
        const bin = join(dir, "bin");
        const env: NodeJS.ProcessEnv = { ...process.env, [STAGED_ROOTS_ENV]: verification === "trust-store" ? anchor : undefined };
        if (later) {
            writeFileSync(join(bin, "date"), `#!/bin/sh\nif [ "$*" = "+%s" ]; then echo $(( $(/bin/date +%s) + ${later} )); else exec /bin/date "$@"; fi\n`);
            chmodSync(join(bin, "date"), 0o755);
            env.PATH = `${bin}:${process.env.PATH}`;
        }
        const r = spawnSync(fetcher, [chain], { env, timeout: 30_000 });
        rmSync(join(bin, "date"), { force: true });
        const der = r.stdout;
        let status = "";
        if (der.length > 0) {
            writeFileSync(join(dir, "out.der"), der);
            status = execFileSync("openssl", ["ocsp", "-respin", join(dir, "out.der"), "-issuer", p.inter.certPath, "-cert", chain, "-noverify"], { encoding: "utf8" }).split("\n")[0].replace(/^.*: /, "");
        }
        return { code: r.status ?? -1, der, log: r.stderr.toString(), status };
    }

    const last = () => readFileSync(kept.last, "utf8").trim();

    beforeAll(async () => {
        dir = mkdtempSync(join(scratch, `${verification}-`));
        cache = join(dir, "cache");
        mkdirSync(cache);
        mkdirSync(join(dir, "bin"));
        mkdirSync(join(dir, "empty-trust"));
        writeFileSync(join(dir, "root.pem"), p.root.certPem);
        fetcher = join(dir, "https.ocsp-fetch");
        chain = join(dir, "https.chain.pem");
        await responder.start();
    }, 30_000);
    afterAll(() => responder.stop(), 30_000);

    it("responder up: a fresh good response, verified, kept on disk", () => {
        install(p.leaf);
        const r = fetch();
        expect([r.code, r.status]).toEqual([0, "good"]);
        expect(readFileSync(kept.response)).toEqual(r.der);
        expect(last()).toBe("fresh");
        expect(r.log).toContain("Response verify OK");
    });

    if (verification === "trust-store") {
        it("a response that does not verify (the root not trusted) is never stapled, fresh or kept", () => {
            const r = fetch(0, join(dir, "empty-trust", "none.pem"));
            expect([r.code, r.der.length, last()]).toEqual([75, 0, "none"]);
            expect(r.log).toContain(`hostwright-ocsp: the response does not verify against ${join(dir, "empty-trust")}`);
        });
    }

    it("responder down: the kept response is served (same bytes) and the run says so", async () => {
        const before = readFileSync(kept.response);
        await responder.stop();
        const r = fetch();
        expect([r.code, r.status]).toEqual([0, "good"]);
        expect(r.der).toEqual(before);
        expect(last()).toBe("cached");
        expect(r.log).toMatch(/hostwright-ocsp: serving the response kept since \S+ \(good, valid until .* GMT\)/);
    });

    it("responder down after the kept response's nextUpdate: nothing stapled, exit 75 (h2o retries)", () => {
        const r = fetch(2 * 3600);
        expect([r.code, r.der.length]).toEqual([75, 0]);
        expect(last()).toBe("none");
        expect(r.log).toMatch(/the kept response is not usable any more \(status good, nextUpdate .* GMT\)/);
    });

    it("another leaf never gets the kept response of the previous one", () => {
        install(p.mustStaple);
        const r = fetch();
        expect([r.code, r.der.length, existsSync(kept.response)]).toEqual([75, 0, false]);
        install(p.leaf);
    });

    it("responder back: fresh again; through an HTTP proxy when one is set", async () => {
        await responder.start();
        const proxyPort = freePort();
        const proxyLog = join(dir, "proxy.log");
        const proxy = spawn("python3", ["-c", PROXY_SCRIPT, String(proxyPort), proxyLog], { stdio: "ignore" });
        try {
            for (let i = 0; i < 50 && spawnSync("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${proxyPort}`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
            install(p.leaf, `http://127.0.0.1:${proxyPort}`);
            const r = fetch();
            expect([r.code, r.status, last()]).toEqual([0, "good", "fresh"]);
            expect(readFileSync(proxyLog, "utf8")).toMatch(new RegExp(`^POST http://127\\.0\\.0\\.1:${port}/ HTTP/1\\.[01]$`, "m"));
        } finally {
            proxy.kill();
        }
    });

    it("a revoked answer is passed on and the kept good response is dropped", async () => {
        const doomed = p.pki.leaf(p.inter, { commonName: `revoked-${verification}.example.test`, ocspUrl: "http://127.0.0.1:18888" });
        // The responder reads its index when it starts.
        await responder.stop();
        await responder.start();
        install(doomed);
        expect(fetch().status).toBe("good");
        await responder.stop();
        p.pki.revoke(p.inter, doomed);
        await responder.start();
        const r = fetch();
        expect([r.code, r.status, last(), existsSync(kept.response)]).toEqual([0, "revoked", "fresh", false]);
        await responder.stop();
        expect(fetch().code).toBe(75);
    });
});
