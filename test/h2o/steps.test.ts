/**
 * The proxy step's scripts, run locally in a scratch directory with stand-ins for
 * h2o, the init script and `openssl s_client` (the real openssl does the rest):
 * what happens after the switch for each staple a client could see.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import type { H2oReverseProxyArgs } from "../../components/h2o/args";
import { checkH2oArgs } from "../../components/h2o/checks";
import { renderH2o } from "../../components/h2o/render";
import { renderStep, STATE_ROOT } from "../../core/step";
import { makeTestPki, TestPki } from "./pkiFixture";

let p: TestPki;
let dir: string;
let sleeper: ChildProcess;

const STUBS: Record<string, string> = {
    h2o: `#!/bin/sh\necho "configuration OK"\nexit 0\n`,
    service: `#!/bin/sh\necho "$*" >> "$STUB_DIR/service.log"\ncase $2 in start|reload) echo "$STUB_PID" > "$STUB_DIR/h2o.pid" ;; stop) rm -f "$STUB_DIR/h2o.pid" ;; esac\nprintf 'Starting server: h2o'\n`,
    ps: `#!/bin/sh\necho "$(date +%N)"\n`,
    openssl: `#!/bin/bash
if [ "$1" = s_client ]; then
  if printf '%s\\n' "$@" | grep -qx -- -status; then
    # Like openssl: the staple's responder certificate is printed before the server's.
    if [ "$STUB_STATUS" = none ]; then echo "OCSP response: no response sent"; else printf 'OCSP response:\\n    Cert Status: %s\\n' "$STUB_STATUS"; cat "$STUB_DIR/responder.pem"; fi
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

function args(over: { maxConnections?: number; requireGoodStaple?: boolean } = {}): H2oReverseProxyArgs {
    return {
        host: { name: "local", address: "127.0.0.1", privateKey: "unused", hostKey: "ssh-ed25519 AAAA", init: "sysv" },
        user: "nobody",
        maxConnections: over.maxConnections,
        configPath: `${dir}/etc/h2o.conf`,
        tlsDirectory: `${dir}/etc/tls`,
        pidFile: `${dir}/h2o.pid`,
        accessLog: `${dir}/access.log`,
        errorLog: `${dir}/error.log`,
        listeners: [{ name: "https", address: "127.0.0.1", port: 18443, tls: { certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem, ocsp: { stapleWaitSeconds: 1, requireGoodStaple: over.requireGoodStaple } } }],
        virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://127.0.0.1:9080" }] }],
    };
}

function scripts(a: H2oReverseProxyArgs) {
    const checked = checkH2oArgs(a);
    const r = renderH2o("t", a, checked, (id) => id.privateKey as string);
    return renderStep({ ...r.proxyStep, key: "h2o-t", files: r.proxyStep.files.map((f) => ({ ...f, content: f.content as string })) });
}

function run(script: string, status: string): { code: number; out: string } {
    const local = script.split(STATE_ROOT).join(`${dir}/state`);
    const env = { ...process.env, PATH: `${dir}/bin:${process.env.PATH}`, STUB_DIR: dir, STUB_PID: String(sleeper.pid), STUB_STATUS: status };
    try {
        return { code: 0, out: execFileSync("bash", ["-s"], { input: local, encoding: "utf8", env, stdio: ["pipe", "pipe", "pipe"] }) };
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
        const s = scripts(args({ maxConnections: 80 })).create.replace("$(seq 1 60)", "$(seq 1 2)");
        const r = run(s, "good");
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("does not serve the new certificate");
    });

    it("undo restores the original state and stops the h2o it started", () => {
        const current = scripts(args({ maxConnections: 78 }));
        const r = run(current.delete, "good");
        expect(r.code).toBe(0);
        expect(existsSync(`${dir}/etc/h2o.conf`)).toBe(false);
        expect(existsSync(`${dir}/etc/tls/https.key`)).toBe(false);
        expect(serviceLog().slice(-1)).toEqual(["h2o stop"]);
        expect(existsSync(`${dir}/state/h2o-t.h2o-started`)).toBe(false);
    });
});
