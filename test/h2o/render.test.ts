import { execFileSync, spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { dirname, join } from "path";
import type { H2oReverseProxyArgs } from "../../components/h2o/args";
import { checkH2oArgs } from "../../components/h2o/checks";
import { emitYaml, LISTENER_SET_MARKER, listenerSet, PlainScalar, relinkFunction, renderH2o, STAGED_ROOTS_ENV, YamlMap } from "../../components/h2o/render";
import type { Host } from "../../core/host";
import { stagedPath } from "../../core/step";
import { makeTestPki, TestPki } from "./pkiFixture";

// h2o is a test prerequisite (scripts/install-prereqs.sh): these tests fail without it.
const H2O = "/usr/bin/h2o";
const host: Host = { name: "web1", address: "192.0.2.10", privateKey: "unused", hostKey: "ssh-ed25519 AAAA", init: "sysv" };

let p: TestPki;
let dir: string;
beforeAll(() => {
    p = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), "hw-h2o-render-"));
});
afterAll(() => {
    p.cleanup();
    rmSync(dir, { recursive: true, force: true });
});

/** Args whose files all live in a scratch directory, so the real h2o can check them. */
function scratchArgs(name: string, overrides: Partial<H2oReverseProxyArgs>): H2oReverseProxyArgs {
    const base = join(dir, name);
    mkdirSync(base, { recursive: true });
    return {
        host,
        user: "nobody",
        accessLog: `${base}/access.log`,
        errorLog: `${base}/error.log`,
        pidFile: `${base}/h2o.pid`,
        configPath: `${base}/h2o.conf`,
        tlsDirectory: `${base}/tls`,
        // Root CAs are files of the step: never this machine's /etc/ssl/certs.
        trustDirectory: `${base}/certs`,
        listeners: [],
        virtualHosts: [],
        ...overrides,
    };
}

/** Writes every rendered file and runs `h2o -t`; returns its exit code and output. */
function h2oTest(args: H2oReverseProxyArgs): { code: number; out: string; config: string } {
    const checked = checkH2oArgs(args);
    const errors = checked.issues.filter((i) => i.severity !== "warning");
    if (errors.length) throw new Error(JSON.stringify(errors));
    const r = renderH2o("t", args, checked, (id) => id.privateKey as string);
    for (const f of r.proxyStep.files) {
        mkdirSync(dirname(f.path), { recursive: true });
        writeFileSync(f.path, f.content as string, { mode: parseInt(f.mode ?? "0644", 8) });
    }
    // Nothing answers OCSP here: each fetch gives up after the fetcher's 5 s timeout.
    const res = spawnSync(H2O, ["-t", "-c", checked.settings.configPath], { encoding: "utf8", timeout: 60_000 });
    return { code: res.status ?? -1, out: `${res.stdout}${res.stderr}`, config: r.config };
}

const tls = () => ({ certificateChain: p.inter.certPem + p.leaf.certPem, privateKey: p.leaf.keyPem });
const plainTls = () => ({ certificateChain: p.plain.certPem + p.inter.certPem, privateKey: p.plain.keyPem });

type RenderCase = [string, () => Partial<H2oReverseProxyArgs>, Array<string | RegExp>];
const renderCases: RenderCase[] = [
    [
        "the seed: catch-all proxy on 80 and 443, preserve-host",
        () => ({
            maxConnections: 1024,
            numThreads: 4,
            listeners: [{ name: "http", address: "127.0.0.1", port: 18080 }, { name: "https", address: "127.0.0.1", port: 18443, tls: { ...tls(), cipherSuite: "AES128-SHA:ECDHE-RSA-AES128-SHA256:AES128-GCM-SHA256:HIGH:MEDIUM:!aNULL:!MD5:!RC4" } }],
            virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }],
        }),
        [/^user: "nobody"$/m, /^max-connections: 1024$/m, /^num-threads: 4$/m, /^listen:\n  host: "127.0.0.1"\n  port: 18080\nlisten:/m, /proxy\.reverse\.url: "http:\/\/127\.0\.0\.1:9080"/, /proxy\.preserve-host: ON/, /cipher-suite: "AES128-SHA:/, /^hosts:\n  "\*":/m],
    ],
    [
        "named hosts: redirect on the plain listener, proxy with headers and timeouts on TLS",
        () => ({
            listeners: [{ name: "http", port: 18081 }, { name: "https", port: 18444, tls: { ...tls(), minimumVersion: "TLSv1.3", preferServerCiphers: true } }],
            virtualHosts: [
                { name: "www.example.test", listeners: ["http"], paths: [{ path: "/", redirectTo: "https://www.example.test:18444/", redirectStatus: 308 }] },
                { name: "www.example.test", listeners: ["https"], paths: [{ path: "/", proxyTo: "https://10.0.0.5:8443/app/", preserveHost: false, timeoutIoMs: 5000, keepaliveTimeoutMs: 1000, setRequestHeaders: { "X-Forwarded-Proto": "https", "X-Tag": "a#b: c" } }] },
                { name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] },
            ],
        }),
        [/^hosts:\n  "\*":/m, /"www\.example\.test:18081":\n    paths:\n      "\/":\n        redirect:\n          status: 308\n          url: "https:\/\/www\.example\.test:18444\/"/, /"www\.example\.test:18444":/, /proxy\.preserve-host: OFF/, /proxy\.timeout\.io: 5000/, /proxy\.header\.set: "X-Forwarded-Proto: https"\n\s+proxy\.header\.set: "X-Tag: a#b: c"/, /minimum-version: TLSv1\.3/, /cipher-preference: server/],
    ],
    [
        "no OCSP URI: stapling off (ocsp-update-interval 0), no fetcher",
        () => ({ listeners: [{ name: "https", port: 18445, tls: plainTls() }], virtualHosts: [{ name: "plain.example.test", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] }),
        [/ocsp-update-interval: 0/],
    ],
    [
        "OCSP with trust-store verification: fetcher as ocsp-update-cmd",
        () => ({ listeners: [{ name: "https", port: 18446, tls: { ...tls(), ocsp: { rootCertificate: p.root.certPem, updateInterval: 600, maxFailures: 5 } } }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }], numOcspUpdaters: 2 }),
        [/ocsp-update-interval: 600/, /ocsp-max-failures: 5/, /ocsp-update-cmd: ".*\/tls\/https\.ocsp-fetch"/, /^num-ocsp-updaters: 2$/m],
    ],
    [
        "hostile path and header values stay inside their YAML strings",
        () => ({
            listeners: [{ name: "http", port: 18082 }],
            virtualHosts: [{ name: "*", paths: [{ path: "/a\"b'c:{x}[y]#z", proxyTo: "http://127.0.0.1:9080/?q=$(id)&r=`id`" }, { path: "/", proxyTo: "http://127.0.0.1:9080", setRequestHeaders: { "X-Evil": "\"}; user: root\t'$(reboot)'" } }] }],
        }),
        [/"\/a\\"b'c:\{x\}\[y\]#z":/, /proxy\.header\.set: "X-Evil: \\"}; user: root\\t'\$\(reboot\)'"/],
    ],
];

describe.each(renderCases)("render: %s", (name, overrides, expectations) => {
    const args = () => scratchArgs(name.replace(/[^a-z]/gi, "").slice(0, 30), overrides());
    it("renders the expected h2o.conf", () => {
        const a = args();
        const r = renderH2o("t", a, checkH2oArgs(a), (id) => id.privateKey as string);
        for (const e of expectations) expect(r.config).toMatch(e);
        // The pid file stays unquoted: Debian's init script reads it with awk.
        expect(r.config).toMatch(new RegExp(`^pid-file: ${a.pidFile}$`, "m"));
        // The listener set, for the rollback and undo of a later version to read back.
        expect(r.config.split("\n")[1]).toBe(`${LISTENER_SET_MARKER}${listenerSet(a.listeners)}`);
        // Valid YAML (duplicate keys are how h2o takes several listeners).
        expect(() => yaml.load(r.config, { json: true })).not.toThrow();
    });
    it("passes the real h2o -t (h2o 2.2.5 here)", () => {
        const res = h2oTest(args());
        expect(res.out).toContain("configuration OK");
        expect(res.code).toBe(0);
    }, 60_000);
});

describe.each([
    ["no address: every address, as ss shows h2o's 0.0.0.0 and [::] sockets", [{ port: 80 }], "*:80"],
    ["0.0.0.0 and :: on one port are one entry", [{ address: "0.0.0.0", port: 80 }, { address: "::", port: 80 }], "*:80"],
    ["sorted as sort(1) does under LC_ALL=C", [{ address: "127.0.0.1", port: 8443 }, { port: 443 }, { port: 80 }], "*:443 *:80 127.0.0.1:8443"],
    ["IPv6 written as ss writes it: compressed, lower case, in brackets", [{ address: "2001:DB8:0:0::1", port: 443 }], "[2001:db8::1]:443"],
    ["IPv4-mapped IPv6 keeps its dotted tail", [{ address: "::ffff:192.0.2.1", port: 80 }], "[::ffff:192.0.2.1]:80"],
])("listenerSet: %s", (_name, listeners, expected) => {
    it("names the sockets h2o binds", () => expect(listenerSet(listeners)).toBe(expected));
});

describe("render details", () => {
    it("h2o rejects a chain given intermediate-first, which is why the bundle is reordered", () => {
        const a = scratchArgs("reversed", { listeners: [{ name: "https", port: 18447, tls: tls() }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] });
        const checked = checkH2oArgs(a);
        const r = renderH2o("t", a, checked, (id) => id.privateKey as string);
        const chain = r.proxyStep.files.find((f) => f.path.endsWith("https.chain.pem"))!;
        expect(new X509Certificate(chain.content as string).subject).toBe("CN=www.example.test");
        expect(checked.tls.get("https")!.main.reordered).toBe(true);
        // The same files with the bundle as given make h2o 2.2.5 fail with a misleading key error.
        h2oTest(a);
        writeFileSync(chain.path, p.inter.certPem + p.leaf.certPem);
        const res = spawnSync(H2O, ["-t", "-c", checked.settings.configPath], { encoding: "utf8" });
        expect(res.status).not.toBe(0);
        expect(`${res.stdout}${res.stderr}`).toMatch(/private key/);
    });

    it("the validation config points at the staged files; the live config at the live ones", () => {
        const a = scratchArgs("staged", { listeners: [{ name: "https", port: 18448, tls: { ...tls(), ocsp: { rootCertificate: p.root.certPem, verification: "ca-file" } } }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] });
        const r = renderH2o("t", a, checkH2oArgs(a), () => "KEY");
        const chain = `${a.tlsDirectory}/https.chain.pem`;
        expect(r.config).toContain(JSON.stringify(chain));
        expect(r.proxyStep.validate).toContain(JSON.stringify(stagedPath(chain)));
        expect(r.proxyStep.validate).toContain(JSON.stringify(stagedPath(`${a.tlsDirectory}/https.ocsp-fetch`)));
        expect(r.proxyStep.validate).toContain("h2o -t -c");
        // ca-file: nothing in the trust directory, the CA bundle is inside the fetcher.
        expect(r.trustRoots).toEqual([]);
        expect(r.proxyStep.files.filter((f) => f.path.startsWith(a.trustDirectory!))).toEqual([]);
        const fetcher = r.proxyStep.files.find((f) => f.path.endsWith(".ocsp-fetch"))!;
        expect(fetcher.mode).toBe("0755");
        expect(fetcher.content).toContain(p.root.certPem.trim());
        expect(fetcher.content).toContain('-CAfile "$tmp/ca.pem"');
    });

    it("trust-store verification: the root is a file of the proxy step, linked after every change (Debian and RHEL paths)", () => {
        for (const [os, dirName] of [["debian", "/etc/ssl/certs"], ["rhel", "/etc/pki/tls/certs"]] as const) {
            const a = scratchArgs(`trust${os}`, { host: { ...host, os }, trustDirectory: undefined, listeners: [{ name: "https", port: 18449, tls: { ...tls(), ocsp: { rootCertificate: p.root.certPem } } }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] });
            const r = renderH2o("t", a, checkH2oArgs(a), () => "KEY");
            expect(r.trustRoots).toEqual([expect.stringMatching(new RegExp(`^${dirName}/hostwright-[0-9a-f]{16}\\.pem$`))]);
            expect(r.proxyStep.files.find((f) => f.path === r.trustRoots[0])).toMatchObject({ content: p.root.certPem, mode: "0644" });
            // One idempotent relink after the activation's switch, the rollback and the undo; the function is a helper of the step, defined once.
            expect(r.proxyStep.helpers).toContain(relinkFunction(dirName));
            for (const script of [r.proxyStep.activate!, r.proxyStep.reactivate!, r.proxyStep.afterRestore!]) {
                expect(script).not.toContain("hw_h2o_relink() {");
                expect(script).toMatch(/^hw_h2o_relink$/m);
            }
            expect(r.proxyStep.undo).toBeUndefined();
            // The staged root verifies the responses of h2o -t before the switch, and only there.
            expect(r.proxyStep.validate).toContain(`cat -- "$(hw_staged ${r.trustRoots[0]})" >> "$hw_h2o_roots"`);
            expect(r.proxyStep.validate).toContain(`export ${STAGED_ROOTS_ENV}="$hw_h2o_roots"`);
            expect(r.proxyStep.activate).not.toContain(STAGED_ROOTS_ENV);
            const fetcher = r.proxyStep.files.find((f) => f.path.endsWith(".ocsp-fetch"))!.content as string;
            expect(fetcher).toContain(`-CApath ${dirName} \${${STAGED_ROOTS_ENV}:+-CAfile "$${STAGED_ROOTS_ENV}"}`);
        }
    });

    it("two listeners with one root install it once", () => {
        const a = scratchArgs("oneroot", {
            listeners: [
                { name: "a", port: 18460, tls: { ...tls(), ocsp: { rootCertificate: p.root.certPem } } },
                { name: "b", port: 18461, tls: { ...tls(), ocsp: { rootCertificate: p.root.certPem } } },
            ],
            virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }],
        });
        const r = renderH2o("t", a, checkH2oArgs(a), () => "KEY");
        expect(r.trustRoots).toHaveLength(1);
        expect(r.proxyStep.files.filter((f) => f.path === r.trustRoots[0])).toHaveLength(1);
    });

    it("keys are 0600 root, chains 0644 (h2o's user reads them for later OCSP fetches)", () => {
        const a = scratchArgs("modes", { listeners: [{ name: "https", port: 18450, tls: tls() }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] });
        const r = renderH2o("t", a, checkH2oArgs(a), () => "KEY");
        const byPath = Object.fromEntries(r.proxyStep.files.map((f) => [f.path.slice(f.path.lastIndexOf("/") + 1), f]));
        expect(byPath["https.key"].mode).toBe("0600");
        expect(byPath["https.key"].owner ?? "root").toBe("root");
        expect(byPath["https.chain.pem"].mode).toBe("0644");
    });

    it("extra identities render as an identity list (h2o 2.3+)", () => {
        const a = scratchArgs("identity", { h2oVersion: "current", listeners: [{ name: "https", port: 18451, tls: { ...plainTls(), extraIdentities: [plainTls()] } }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] });
        const r = renderH2o("t", a, checkH2oArgs(a), () => "KEY");
        expect(r.config).toMatch(/  ssl:\n    identity:\n      - certificate-file: ".*https\.chain\.pem"\n        key-file: ".*https\.key"\n      - certificate-file: ".*https\.1\.chain\.pem"/);
    });

    it("the YAML writer quotes keys and values that are not plain", () => {
        const m = new YamlMap().add("a", "x: y").add("/p", new YamlMap().add("k", 1)).add("l", [new YamlMap().add("b", "c").add("d", "e"), "f"]).add("pid-file", new PlainScalar("/run/x.pid"));
        expect(emitYaml(m)).toBe('a: "x: y"\n"/p":\n  k: 1\nl:\n  - b: "c"\n    d: "e"\n  - "f"\npid-file: /run/x.pid\n');
    });

    it("the OCSP fetcher is valid sh", () => {
        const a = scratchArgs("fetcher", { listeners: [{ name: "https", port: 18452, tls: { ...tls(), ocsp: { rootCertificate: p.root.certPem } } }], virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }] });
        const r = renderH2o("t", a, checkH2oArgs(a), () => "KEY");
        const fetcher = r.proxyStep.files.find((f) => f.path.endsWith(".ocsp-fetch"))!.content as string;
        expect(() => execFileSync("sh", ["-n"], { input: fetcher })).not.toThrow();
        expect(fetcher.startsWith("#!/bin/sh\n")).toBe(true);
    });
});
