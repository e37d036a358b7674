/**
 * The proxy step's scripts, run locally in a scratch directory with stand-ins for
 * h2o, the init script and `openssl s_client` (the real openssl does the rest):
 * what happens after the switch for each staple a client could see.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir, userInfo } from "os";
import { join } from "path";
import { X509Certificate } from "crypto";
import type { H2oReverseProxyArgs } from "../../components/h2o/args";
import { checkH2oArgs } from "../../components/h2o/checks";
import { renderH2o } from "../../components/h2o/render";
import { checkScript, renderStep, StepScripts } from "../../core/step";
import { localScript } from "../core/stepRunner";
import { makeTestPki, TestPki } from "./pkiFixture";

let p: TestPki;
let dir: string;
let sleeper: ChildProcess;

const STUBS: Record<string, string> = {
    h2o: `#!/bin/sh\necho "configuration OK"\nexit 0\n`,
    // Like h2o's supervisor: a (re)start binds the config's listener set, a reload keeps the sockets it has.
    service: `#!/bin/sh
echo "$*" >> "$STUB_DIR/service.log"
case $2 in
  start|restart) echo "$STUB_PID" > "$STUB_DIR/h2o.pid"; sed -n 's/^# hostwright listeners: //p' "$STUB_DIR/etc/h2o.conf" > "$STUB_DIR/bound" ;;
  reload) echo "$STUB_PID" > "$STUB_DIR/h2o.pid" ;;
  stop) rm -f "$STUB_DIR/h2o.pid" "$STUB_DIR/bound" ;;
esac
printf 'Starting server: h2o'
`,
    ps: `#!/bin/sh\necho "$(date +%N)"\n`,
    ss: `#!/bin/sh
[ -s "$STUB_DIR/bound" ] || exit 0
# STUB_SS_BLIND: like a host where ss cannot name a socket's process.
if [ -n "\${STUB_SS_BLIND:-}" ]; then users=; else users="users:((\\"h2o\\",pid=$STUB_PID,fd=5))"; fi
tr ' ' '\\n' < "$STUB_DIR/bound" | while read -r s; do echo "LISTEN 0 4096 $s 0.0.0.0:* $users"; done
`,
    openssl: `#!/bin/bash
if [ "$1" = s_client ]; then
  if printf '%s\\n' "$@" | grep -qx -- -status; then
    # Like openssl: the staple's responder certificate is printed before the server's.
    if [ "$STUB_STATUS" = none ]; then echo "OCSP response: no response sent"; else printf 'OCSP response:\\n    Cert Status: %s\\n    This Update: %s\\n' "$STUB_STATUS" "\${STUB_THIS_UPDATE:-$(date -u '+%b %e %H:%M:%S %Y GMT')}"; [ -z "\${STUB_NEXT_UPDATE:-}" ] || printf '    Next Update: %s\\n' "$STUB_NEXT_UPDATE"; cat "$STUB_DIR/responder.pem"; fi
  fi
  echo "Server certificate"
  cat "$STUB_DIR/served.pem"
  exit 0
fi
exec /usr/bin/openssl "$@"
`,
};

beforeAll(() => {
    p = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), "hw-h2o-steps-"));
    mkdirSync(join(dir, "bin"));
    for (const [name, text] of Object.entries(STUBS)) {
        writeFileSync(join(dir, "bin", name), text);
        chmodSync(join(dir, "bin", name), 0o755);
    }
    // A live process whose pid stands in for h2o's.
    sleeper = spawn("sleep", ["600"], { stdio: "ignore" });
});
afterAll(() => {
    sleeper.kill();
    p.cleanup();
    rmSync(dir, { recursive: true, force: true });
});

function args(over: { maxConnections?: number; requireGoodStaple?: boolean; secondListener?: boolean } = {}): H2oReverseProxyArgs {
    const tls = { certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem, ocsp: { stapleWaitSeconds: 1, requireGoodStaple: over.requireGoodStaple } };
    return {
        host: { name: "local", address: "127.0.0.1", privateKey: "unused", hostKey: "ssh-ed25519 AAAA", init: "sysv" },
        user: "nobody",
        maxConnections: over.maxConnections,
        configPath: `${dir}/etc/h2o.conf`,
        tlsDirectory: `${dir}/etc/tls`,
        pidFile: `${dir}/h2o.pid`,
        accessLog: `${dir}/access.log`,
        errorLog: `${dir}/error.log`,
        listeners: [{ name: "https", address: "127.0.0.1", port: 18443, tls }, ...(over.secondListener ? [{ name: "more", address: "127.0.0.1", port: 18444, tls }] : [])],
        virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }],
    };
}

/** Only root may give files to root: as another user the files belong to that user (ownership is exercised as root, here and in the lab). */
const ownedByRunner = process.getuid?.() === 0 ? {} : { owner: userInfo().username, group: execFileSync("id", ["-gn"], { encoding: "utf8" }).trim() };

/** Every version rendered so far: each committed create holds a claim that its own undo drops. */
const rendered: StepScripts[] = [];

function scripts(a: H2oReverseProxyArgs) {
    const checked = checkH2oArgs(a);
    const r = renderH2o("t", a, checked, (id) => id.privateKey as string);
    const step = renderStep({ ...r.proxyStep, key: "h2o-t", files: r.proxyStep.files.map((f) => ({ ...f, content: f.content as string, ...ownedByRunner })) });
    rendered.push(step);
    return step;
}

function run(script: string, status: string, more: Record<string, string> = {}, mode: string[] = []): { code: number; out: string } {
    // State and run directories (host lock) in the scratch directory: runs as any user.
    const local = localScript(script, dir);
    const env = { ...process.env, PATH: `${dir}/bin:${process.env.PATH}`, STUB_DIR: dir, STUB_PID: String(sleeper.pid), STUB_STATUS: status, ...more };
    try {
        return { code: 0, out: execFileSync("bash", ["-s", ...mode], { input: local, encoding: "utf8", env, stdio: ["pipe", "pipe", "pipe"] }) };
    } catch (e: any) {
        return { code: e.status, out: `${e.stdout}${e.stderr}` };
    }
}

const serviceLog = () => (existsSync(`${dir}/service.log`) ? readFileSync(`${dir}/service.log`, "utf8").trim().split("\n") : []);

describe("proxy step after the switch (local run, stand-in h2o)", () => {
    beforeEach(() => {
        writeFileSync(`${dir}/served.pem`, p.leaf.certPem);
        writeFileSync(`${dir}/responder.pem`, p.inter.certPem);
    });

    it("starts h2o, sees the new certificate, reports a good staple on its own line", () => {
        const r = run(scripts(args()).create, "good");
        expect(r.code).toBe(0);
        expect(r.out).toMatch(/^HOSTWRIGHT_OUTPUT stapling\.https=good$/m);
        expect(r.out).toMatch(/^HOSTWRIGHT_OUTPUT config=.*\/etc\/h2o\.conf$/m);
        expect(serviceLog()).toEqual(["h2o start"]);
        expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toContain("max-connections: 1024");
    });

    it("a revoked staple after the switch fails the step and puts the previous files back", () => {
        const r = run(scripts(args({ maxConnections: 77 })).create, "revoked");
        expect(r.code).not.toBe(0);
        expect(r.out).toMatch(/REVOKED/);
        expect(r.out).toContain("activation failed");
        expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toContain("max-connections: 1024");
        // reload to the new files, then reload again to the old ones
        expect(serviceLog().slice(-2)).toEqual(["h2o reload", "h2o reload"]);
    });

    it("no staple: the step succeeds, status and warning say so", () => {
        const r = run(scripts(args({ maxConnections: 78 })).create, "none");
        expect(r.code).toBe(0);
        expect(r.out).toMatch(/^HOSTWRIGHT_OUTPUT stapling\.https=no staple$/m);
        expect(r.out).toMatch(/^HOSTWRIGHT_WARNING listener https: OCSP staple is 'no staple' after 1 s/m);
    });

    it("requireGoodStaple turns 'unknown' into a failure with rollback", () => {
        const r = run(scripts(args({ maxConnections: 79, requireGoodStaple: true })).create, "unknown");
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("OCSP staple is 'unknown' (requireGoodStaple)");
        expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toContain("max-connections: 78");
    });

    it("a listener that keeps serving the old certificate fails the step", () => {
        writeFileSync(`${dir}/served.pem`, p.plain.certPem);
        const s = scripts(args({ maxConnections: 80 })).create.replace("hw_h2o_wait_limit=30", "hw_h2o_wait_limit=2");
        const r = run(s, "good");
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("does not serve the new certificate");
    });

    it("a new listener on a running h2o: a restart (a reload cannot bind it), the downtime reported", () => {
        const r = run(scripts(args({ maxConnections: 80, secondListener: true })).create, "good");
        expect(r.code).toBe(0);
        expect(serviceLog().slice(-1)).toEqual(["h2o restart"]);
        expect(r.out).toContain("the listener set changes (h2o listens on '127.0.0.1:18443', the new configuration on '127.0.0.1:18443 127.0.0.1:18444'): restarting h2o");
        expect(r.out).toMatch(/^HOSTWRIGHT_OUTPUT downtimeMs=\d+$/m);
        expect(r.out).toMatch(/h2o restarted: every listener served again after \d+ ms/);
        expect(readFileSync(`${dir}/bound`, "utf8").trim()).toBe("127.0.0.1:18443 127.0.0.1:18444");
    });

    it("the same listener set again: a reload, no downtime output", () => {
        const r = run(scripts(args({ maxConnections: 81, secondListener: true })).create, "good");
        expect(r.code).toBe(0);
        expect(serviceLog().slice(-1)).toEqual(["h2o reload"]);
        expect(r.out).not.toContain("downtimeMs");
    });

    it("a failed activation after a restart restarts again onto the restored listener set", () => {
        const r = run(scripts(args({ maxConnections: 82 })).create, "revoked");
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("activation failed");
        // Restart to one listener, then back to the restored config's two.
        expect(serviceLog().slice(-2)).toEqual(["h2o restart", "h2o restart"]);
        expect(readFileSync(`${dir}/bound`, "utf8").trim()).toBe("127.0.0.1:18443 127.0.0.1:18444");
        expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toContain("max-connections: 81");
    });

    it("a service command that hangs is killed and fails the step (every wait is bounded)", () => {
        writeFileSync(`${dir}/bin/service`, `#!/bin/sh\necho "$*" >> "$STUB_DIR/service.log"\n[ "$2" = reload ] && exec sleep 600\n`);
        const s = scripts(args({ maxConnections: 83, secondListener: true })).create.replaceAll("hw_h2o_svc 60 service h2o reload", "hw_h2o_svc 1 service h2o reload");
        const t0 = Date.now();
        const r = run(s, "good");
        writeFileSync(`${dir}/bin/service`, STUBS.service);
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("service h2o reload did not finish within 1 s; killed");
        expect(r.out).toContain("reloading h2o failed");
        expect(Date.now() - t0).toBeLessThan(60_000);
        expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toContain("max-connections: 81");
    });

    it("where ss cannot name h2o's sockets: a restart to be safe, and a warning instead of the closed-port check", () => {
        const r = run(scripts(args({ maxConnections: 84, secondListener: true })).create, "good", { STUB_SS_BLIND: "1" });
        expect(r.code).toBe(0);
        expect(serviceLog().slice(-1)).toEqual(["h2o restart"]);
        expect(r.out).toMatch(/^HOSTWRIGHT_WARNING ss -Hltnp names no socket of h2o .*every change restarts h2o$/m);
    });

    it("undo restores the original state and stops the h2o it started", () => {
        // The undo of every version (Pulumi deletes each replaced one); the last claim restores.
        const current = scripts(args({ maxConnections: 84, secondListener: true }));
        for (const older of rendered.filter((r) => r.generation !== current.generation)) expect(run(older.delete, "good").code).toBe(0);
        expect(existsSync(`${dir}/etc/h2o.conf`)).toBe(true);
        const r = run(current.delete, "good");
        expect(r.code).toBe(0);
        expect(existsSync(`${dir}/etc/h2o.conf`)).toBe(false);
        expect(existsSync(`${dir}/etc/tls/https.key`)).toBe(false);
        expect(serviceLog().slice(-1)).toEqual(["h2o stop"]);
        expect(existsSync(`${dir}/state/h2o-t.h2o-started`)).toBe(false);
    });
});

describe("drift check of the proxy step (bash -s check, stand-in h2o)", () => {
    const ERRLOG = () => `${dir}/error.log`;
    let create: string;
    const check = (status: string, more: Record<string, string> = {}) => {
        const r = run(checkScript(create), status, more, ["check"]);
        return { ...r, drift: r.out.split("\n").filter((l) => l.startsWith("HOSTWRIGHT_DRIFT ")).map((l) => l.slice("HOSTWRIGHT_DRIFT ".length)), status: /^HOSTWRIGHT_CHECK (.*)$/m.exec(r.out)?.[1] };
    };
    const fingerprint = () => new X509Certificate(p.leaf.certPem).fingerprint256;

    beforeAll(() => {
        writeFileSync(`${dir}/served.pem`, p.leaf.certPem);
        writeFileSync(`${dir}/responder.pem`, p.inter.certPem);
        create = scripts(args({ maxConnections: 90 })).create;
        expect(run(create, "good").code).toBe(0);
    });
    beforeEach(() => writeFileSync(`${dir}/served.pem`, p.leaf.certPem));

    it("all as declared: ok, no drift line, and the check ran no init command", () => {
        const before = serviceLog();
        const c = check("good");
        expect(c.drift).toEqual([]);
        expect(c.status).toBe("ok");
        expect(serviceLog()).toEqual(before);
    });

    it.each([
        ["revoked", "revoked"],
        ["unknown", "unknown"],
        ["none", "no staple"],
    ])("a staple the client sees as %s is drift", (status, seen) => {
        const c = check(status);
        expect(c.drift).toEqual([`listener https (127.0.0.1:18443): OCSP staple is '${seen}', not good; see ${ERRLOG()}`]);
        expect(c.status).toBe("drifted");
    });

    /** An OpenSSL-style date, `secondsFromNow` away. */
    const opensslDate = (secondsFromNow: number) => new Date(Date.now() + secondsFromNow * 1000).toUTCString().replace(/^\w+, (\d+) (\w+) (\d+) (\S+) GMT$/, "$2 $1 $4 $3 GMT");

    it("a good staple about to expire or expired (nextUpdate) is drift: h2o's updates fail", () => {
        const expiring = check("good", { STUB_NEXT_UPDATE: opensslDate(60) });
        expect(expiring.drift).toHaveLength(1);
        expect(expiring.drift[0]).toMatch(/^listener https \(127\.0\.0\.1:18443\): the OCSP staple is valid until .* \((5\d|60) s from now\): h2o's updates fail; see /);
        expect(check("good", { STUB_NEXT_UPDATE: opensslDate(-3600) }).drift[0]).toMatch(/is valid until .* \(-36\d\d s from now\)/);
    });

    it("a pre-signed response (old thisUpdate, valid for hours) is no drift", () => {
        expect(check("good", { STUB_THIS_UPDATE: opensslDate(-20 * 3600), STUB_NEXT_UPDATE: opensslDate(4 * 3600) }).drift).toEqual([]);
    });

    it("without nextUpdate, a staple older than ocsp-update-interval + margin is drift", () => {
        const c = check("good", { STUB_THIS_UPDATE: "Jan  1 00:00:00 2020 GMT" });
        expect(c.drift).toHaveLength(1);
        expect(c.drift[0]).toMatch(/^listener https \(127\.0\.0\.1:18443\): OCSP staple is \d+ s old \(thisUpdate Jan  1 00:00:00 2020 GMT, no nextUpdate\), more than ocsp-update-interval \+ 300 s: h2o's updates fail; see /);
        expect(check("good", { STUB_THIS_UPDATE: opensslDate(-3600) }).drift).toEqual([]);
    });

    it("another certificate served: the listener's line names both fingerprints (no staple line)", () => {
        writeFileSync(`${dir}/served.pem`, p.plain.certPem);
        const served = new X509Certificate(p.plain.certPem).fingerprint256;
        expect(check("good").drift).toEqual([`listener https (127.0.0.1:18443) serves the certificate with SHA-256 fingerprint ${served}, declared ${fingerprint()}`]);
    });

    it("h2o listening on another set than declared (started by hand with another config) is drift", () => {
        const bound = readFileSync(`${dir}/bound`, "utf8");
        writeFileSync(`${dir}/bound`, "127.0.0.1:18443 127.0.0.1:18444\n");
        try {
            expect(check("good").drift).toEqual(["h2o listens on '127.0.0.1:18443 127.0.0.1:18444', declared '127.0.0.1:18443' (started with another configuration?)"]);
        } finally {
            writeFileSync(`${dir}/bound`, bound);
        }
    });

    it("h2o's supervisor started with another configuration file: drift naming both", () => {
        const pid = readFileSync(`${dir}/h2o.pid`, "utf8");
        // a live process whose command line names another config after -c, as h2o started by hand does
        const other = spawn("perl", ["-e", "sleep 600", "--", "-c", "/root/h2o-older.conf"], { stdio: "ignore" });
        writeFileSync(`${dir}/h2o.pid`, `${other.pid}\n`);
        try {
            expect(check("good").drift).toEqual([`h2o runs with the configuration /root/h2o-older.conf, declared ${dir}/etc/h2o.conf`]);
        } finally {
            other.kill();
            writeFileSync(`${dir}/h2o.pid`, pid);
        }
    });

    it("h2o not running: one line naming the pid file, and the check starts nothing", () => {
        const pid = readFileSync(`${dir}/h2o.pid`, "utf8");
        const before = serviceLog();
        rmSync(`${dir}/h2o.pid`);
        try {
            const c = check("good");
            expect(c.drift).toEqual([`h2o is not running (no live process in its pid file ${dir}/h2o.pid)`]);
            expect(serviceLog()).toEqual(before);
            expect(existsSync(`${dir}/h2o.pid`)).toBe(false);
        } finally {
            writeFileSync(`${dir}/h2o.pid`, pid);
        }
    });
});

describe("the staple after the switch: source, age, Must-Staple (stand-in h2o and s_client, the fetcher's cache files)", () => {
    const cache = () => `${dir}/ocsp-cache`;
    /** A proxy whose listener uses the component's fetcher (ca-file), so the step reads the fetcher's cache. */
    function cachedArgs(leaf: "leaf" | "mustStaple", maxConnections: number): H2oReverseProxyArgs {
        const a = args({ maxConnections });
        a.ocspCacheDirectory = cache();
        // The step gives the cache to h2o's user: only root may give it to another user.
        if (process.getuid?.() !== 0) a.user = userInfo().username;
        a.listeners[0].tls = {
            certificateChain: p[leaf].certPem + p.inter.certPem,
            privateKey: p[leaf].keyPem,
            ocsp: { rootCertificate: p.root.certPem, verification: "ca-file", stapleWaitSeconds: 1, stapleAgeWarningSeconds: 60 },
        };
        return a;
    }
    /** What the fetcher left for `leaf`: its kept response fetched `ageSeconds` ago and what it served last. */
    function fetcherLeft(leaf: "leaf" | "mustStaple", ageSeconds: number, last: string) {
        const base = `${cache()}/https.${new X509Certificate(p[leaf].certPem).fingerprint256.replace(/:/g, "")}`;
        mkdirSync(cache(), { recursive: true });
        writeFileSync(`${base}.der`, "kept response");
        execFileSync("touch", ["-d", `@${Math.floor(Date.now() / 1000) - ageSeconds}`, `${base}.der`]);
        writeFileSync(`${base}.last`, `${last}\n`);
    }
    const NEXT = "Nov 27 10:00:00 2026 GMT";
    const outputs = (out: string) => Object.fromEntries([...out.matchAll(/^HOSTWRIGHT_OUTPUT (staple\w+)\.https=(.*)$/gm)].map((m) => [m[1], m[2]]));

    beforeEach(() => writeFileSync(`${dir}/responder.pem`, p.inter.certPem));

    it.each([
        ["fresh, fetched just now: no warning", "fresh", 0, undefined],
        ["cached, fetched 2 h ago (responder down): served, and a warning naming the age", "cached", 7200, /^HOSTWRIGHT_WARNING listener https: the OCSP staple was fetched 72\d\d s ago, more than stapleAgeWarningSeconds \(60 s\): the responder has not answered since; the kept response is served until its nextUpdate Nov 27 10:00:00 2026 GMT/m],
    ])("a good staple %s", (_name, source, age, warning) => {
        writeFileSync(`${dir}/served.pem`, p.leaf.certPem);
        fetcherLeft("leaf", age, source);
        const r = run(scripts(cachedArgs("leaf", 100 + age)).create, "good", { STUB_NEXT_UPDATE: NEXT });
        expect(r.code).toBe(0);
        expect(outputs(r.out)).toMatchObject({ stapleSource: source, stapleNextUpdate: NEXT });
        expect(outputs(r.out).stapleThisUpdate).toMatch(/^\w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$/);
        if (warning) expect(r.out).toMatch(warning);
        else expect(r.out).not.toContain("HOSTWRIGHT_WARNING listener https");
        expect(existsSync(cache())).toBe(true);
    });

    it("a Must-Staple leaf without a good staple after the switch fails the apply and puts the previous files back", () => {
        writeFileSync(`${dir}/served.pem`, p.mustStaple.certPem);
        fetcherLeft("mustStaple", 0, "none");
        const before = readFileSync(`${dir}/etc/h2o.conf`, "utf8");
        const r = run(scripts(cachedArgs("mustStaple", 120)).create, "none");
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("listener https: OCSP staple is 'no staple', and the certificate requires stapling (Must-Staple: clients refuse it without a good staple); rolling back");
        expect(r.out).toContain("activation failed");
        expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toBe(before);
    });

    it("a Must-Staple leaf that h2o -t could not staple stops the apply before the switch", () => {
        // Like h2o -t when the fetcher exits 75 (no answer, nothing valid kept) for the staged chain.
        writeFileSync(`${dir}/bin/h2o`, `#!/bin/sh\nsed -n 's/^ *certificate-file: "\\(.*\\)"$/[OCSP Stapling] temporary failed for file:\\1/p' "$3"\necho "configuration OK"\n`);
        const before = readFileSync(`${dir}/etc/h2o.conf`, "utf8");
        const services = serviceLog().length;
        try {
            const r = run(scripts(cachedArgs("mustStaple", 121)).create, "good");
            expect(r.code).not.toBe(0);
            expect(r.out).toContain("listener https: the certificate requires OCSP stapling (Must-Staple) and h2o -t got no staple (the responder gave no verified answer and no kept response is valid); nothing was switched");
            expect(readFileSync(`${dir}/etc/h2o.conf`, "utf8")).toBe(before);
            expect(serviceLog()).toHaveLength(services);
        } finally {
            writeFileSync(`${dir}/bin/h2o`, STUBS.h2o);
        }
    });
});
