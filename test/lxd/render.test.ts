import { execFileSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import { inParallel, PARALLEL } from "../../core/shell";
import { renderStep, parseStepReport, StepSpec } from "../../core/step";
import { localScript, runStep } from "../core/stepRunner";
import { resolveMesh, ResolvedMesh } from "../../components/lxd/args";
import { factsFromProbe, decidePreflight } from "../../components/lxd/preflight";
import { moveCommand, publicKeyPin, renderBlockedRemotes, renderProbe, renderRemotes, renderServe, Source, TargetIdentity, tokensFromReport } from "../../components/lxd/render";

const FIXTURES = join(__dirname, "../../components/lxd/fixtures");
const QUERY = JSON.parse(readFileSync(join(FIXTURES, "lxc-query-1.0.json"), "utf8"));
const SERVER_CERT: string = QUERY.environment.certificate;
const SERVER_FP: string = QUERY.environment.certificate_fingerprint;
const HOSTILE = `conf dir/it's "x" $(touch pwned) \`id\``;

const host = (name: string) => ({ name, address: name === "h1" ? "198.18.0.10" : "198.18.0.11", privateKey: pulumi.secret("k"), hostKey: "ssh-ed25519 AAAA" });

describe("rendered LXD mesh steps, run locally against a fake lxc", () => {
    let root: string;
    let mesh: ResolvedMesh;
    const env = () => ({ ...process.env, PATH: `${root}/bin:/usr/bin:/bin`, FAKE_LXC_LOG: `${root}/lxc.log`, FAKE_LXC_STATE: `${root}/lxd`, FAKE_LXC_QUERY: `${root}/query.json` });
    // "update": how Pulumi runs the create of a resource it already has (the step keeps its one claim)
    const run = (spec: Omit<StepSpec, "key">, op: "create" | "update" | "delete" = "create") => {
        // one state directory per step, as on a host
        const scripts = renderStep({ ...spec, key: spec.description.replace(/[^A-Za-z0-9]/g, "").slice(0, 40) } as StepSpec);
        // State and run directories (host lock) in the scratch root: runs as any user.
        const script = localScript(op === "delete" ? scripts.delete : scripts.create, root);
        return execFileSync("bash", ["-s", ...(op === "update" ? ["update"] : [])], { input: script, encoding: "utf8", env: env(), cwd: root, stdio: ["pipe", "pipe", "pipe"] });
    };
    /** The step's create script in check mode (what `npm run check` runs): its output, drift lines included. */
    const runCheck = (spec: Omit<StepSpec, "key">) => {
        const r = runStep(renderStep({ ...spec, key: spec.description.replace(/[^A-Za-z0-9]/g, "").slice(0, 40) } as StepSpec).create, root, { mode: "check", env: env() });
        expect(r.status).not.toBe(1);
        return r.out;
    };
    const log = () => readFileSync(`${root}/lxc.log`, "utf8");
    const conf = () => `${root}/${HOSTILE}`;
    /** "NAME URL PROJECT" of every remote in the client's config.yml, as lxc lists them, sorted. */
    const remoteList = () =>
        execFileSync(`${root}/bin/lxc`, ["remote", "list", "--format", "yaml"], { encoding: "utf8", env: { ...env(), LXD_CONF: conf(), FAKE_LXC_LOG: "/dev/null" } })
            .split(/\n(?=\S)/)
            .map((block) => block.replace(/:\n {2}addr: /, " ").replace(/\n {2}project: /, " ").trim())
            .filter((line) => line !== "")
            .sort();
    const targetsOf = (m: ResolvedMesh, extra: Partial<TargetIdentity> = {}): TargetIdentity[] =>
        m.members.map((t) => ({ name: t.name, url: t.url, certificate: SERVER_CERT, fingerprint: SERVER_FP, ...extra }));

    beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), "hw-lxd-"));
        mkdirSync(`${root}/bin`);
        symlinkSync(join(FIXTURES, "fake-lxc.sh"), `${root}/bin/lxc`);
        writeFileSync(`${root}/query.json`, JSON.stringify(QUERY));
        mesh = resolveMesh({ members: [{ host: host("h1") }, { host: host("h2") }], clientConfigDir: `${root}/${HOSTILE}`, lxdDir: `${root}/lxd dir` });
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it("probe: reads everything with LXD_DIR and LXD_CONF set exactly, and its output parses", () => {
        const out = run(renderProbe(mesh, mesh.members[0]));
        // the daemon of LXD_DIR, through a throw-away client config (read-only: not even config.yml is made)
        expect(log()).toMatch(new RegExp(`argv=query\\\\ /1.0 LXD_DIR=${root}/lxd\\\\ dir LXD_CONF=/tmp/tmp\\.\\w+\\n`));
        expect(existsSync(`${root}/${HOSTILE}`)).toBe(false);
        expect(existsSync(join(root, "pwned"))).toBe(false);
        expect(existsSync(join(root, "pwned"))).toBe(false);
        const facts = factsFromProbe("h1", parseStepReport(out).values);
        expect(facts.server).toMatchObject({ ok: true, version: "5.0.2", fingerprint: SERVER_FP });
        expect(Object.keys(facts.connect)).toEqual(["h1", "h2"]);
        expect(facts.clientCertificate).toBe(false);
    });

    it("serve: refuses to change anything when the group pre-flight failed", () => {
        const verdict = { errors: ["h1 cannot reach h2's LXD API address https://198.18.0.11:8443: No route to host"] };
        expect(() => run(renderServe(mesh, mesh.members[0], verdict, []))).toThrow(/pre-flight failed, nothing was changed:\n- h1 cannot reach h2's LXD API address/);
        expect(existsSync(`${root}/lxc.log`)).toBe(false);
    });

    it("serve (token) and remotes: the whole flow on one host, token only on stdin, trust removed on undo", () => {
        mesh = { ...mesh, trust: "token" };
        const serve = renderServe(mesh, mesh.members[0], { errors: [] }, [{ name: "h1" }, { name: "h2", fingerprint: "ab".repeat(32) }]);
        const tokens = tokensFromReport(parseStepReport(run(serve)).values);
        expect(readFileSync(`${root}/lxd/https_address`, "utf8")).toBe("198.18.0.10:8443");
        expect(Object.keys(tokens)).toEqual(["h1", "h2"]);
        expect(log()).toContain(`LXD_CONF=${root}/conf\\ dir/it\\'s\\ \\"x\\"\\ \\$\\(touch\\ pwned\\)\\ \\\`id\\\``);

        const targets: TargetIdentity[] = mesh.members.map((t) => ({ name: t.name, url: t.url, certificate: SERVER_CERT, fingerprint: SERVER_FP, token: `${tokens.h1}FROM${t.name}` }));
        const remotes = renderRemotes(mesh, mesh.members[0], targets);
        const first = parseStepReport(run(remotes));
        expect(first.values).toEqual({ "link.h1": "ok", "link.h2": "ok" });
        expect(readFileSync(`${root}/lxd/stdin.h2`, "utf8")).toBe(`${tokens.h1}FROMh2\n`);
        expect(log()).not.toContain("FROMh");
        expect(readFileSync(`${root}/${HOSTILE}/servercerts/h2.crt`, "utf8")).toBe(SERVER_CERT);
        expect(remoteList()).toEqual(["h1 https://198.18.0.10:8443 default", "h2 https://198.18.0.11:8443 default", "images https://images.linuxcontainers.org", "local unix://"]);
        expect(readFileSync(`${root}/lxd/trust-remote`, "utf8").split("\n").filter(Boolean)).toHaveLength(2);

        // Unchanged: left alone. The undo scripts carry no token (they go on a command line).
        expect(run(remotes, "update")).toContain("remote h2 is right; left alone");
        expect(renderStep({ ...remotes, key: "t" }).delete).not.toContain("FROMh");

        run(remotes, "delete");
        expect(remoteList()).toEqual(["images https://images.linuxcontainers.org", "local unix://"]);
        expect(readFileSync(`${root}/lxd/trust-remote`, "utf8")).toBe("");
        run(serve, "delete");
        expect(existsSync(`${root}/lxd/https_address`)).toBe(false);
    });

    /** The sources as the component makes them from the probes' facts (certificate mode). */
    const sourcesOf = (probeOut: string, other: Partial<Source> = {}): Source[] => {
        const me = factsFromProbe("h1", parseStepReport(probeOut).values).identity!;
        return [{ name: "h1", ...me }, { name: "h2", certificate: me.certificate, fingerprint: "cd".repeat(32), ...other }];
    };

    it("certificate mode, a host without a client certificate: the probe makes one in its own directory, serve installs it, trusts every member's, and refuses another", () => {
        const probe = renderProbe(mesh, mesh.members[0]);
        const out = run(probe);
        // nothing in LXD_CONF yet: the probe kept the certificate and key in its step's directory
        expect(existsSync(conf())).toBe(false);
        const facts = factsFromProbe("h1", parseStepReport(out).values);
        expect(facts.clientCertificate).toBe(false);
        expect(facts.identity).toMatchObject({ certificate: expect.stringContaining("-----BEGIN CERTIFICATE-----"), candidate: expect.stringMatching(/\.owned$/) });
        expect(statSync(`${facts.identity!.candidate}/client.key`).mode & 0o077).toBe(0);
        // a probe run again (a replacement) reuses it: the members keep trusting the same certificate
        expect(factsFromProbe("h1", parseStepReport(run(probe, "update")).values).identity).toEqual(facts.identity);

        const sources = sourcesOf(out);
        const serve = renderServe(mesh, mesh.members[0], { errors: [] }, sources);
        expect(serve.description).toBe("LXD mesh: API address 198.18.0.10:8443 and trust of the members' client certificates on h1");
        const report = parseStepReport(run(serve));
        expect(Object.keys(report.values)).toEqual([]);
        expect(readFileSync(`${conf()}/client.crt`, "utf8")).toBe(facts.identity!.certificate);
        expect(statSync(`${conf()}/client.key`).mode & 0o077).toBe(0);
        expect(readFileSync(`${root}/lxd/https_address`, "utf8")).toBe("198.18.0.10:8443");
        // in parallel, through the local socket, each under its trust name
        expect(readFileSync(`${root}/lxd/trust`, "utf8").split("\n").filter(Boolean).sort()).toEqual([`${facts.identity!.fingerprint} hostwright-h1`, `${facts.identity!.fingerprint} hostwright-h2`]);
        expect(log()).not.toMatch(/config trust add --name/);

        // undo: the trust entries and the address go; the client certificate stays (the client's identity)
        run(serve, "delete");
        expect(readFileSync(`${root}/lxd/trust`, "utf8")).toBe("");
        expect(existsSync(`${root}/lxd/https_address`)).toBe(false);
        expect(existsSync(`${conf()}/client.crt`)).toBe(true);

        // another client certificate than the probe saw: refused before any change
        writeFileSync(`${conf()}/client.crt`, SERVER_CERT);
        expect(() => run(serve)).toThrow(/the lxc client certificate in .* is not the one the pre-flight probe reported/);
        expect(existsSync(`${root}/lxd/https_address`)).toBe(false);
        // the probe's undo removes the certificate it kept
        run(probe, "delete");
        expect(existsSync(facts.identity!.candidate!)).toBe(false);
    });

    it("certificate mode with curl on the host: the trust store listed and every certificate added through the daemon's socket by one curl, no lxc for them; undone the same way; a refusal named", () => {
        symlinkSync(join(FIXTURES, "fake-curl.sh"), `${root}/bin/curl`);
        const sources = sourcesOf(run(renderProbe(mesh, mesh.members[0])));
        // (LXD refuses one certificate under two names: each member has its own)
        const serve = renderServe(mesh, mesh.members[0], { errors: [] }, [sources[0], { name: "h2", certificate: SERVER_CERT, fingerprint: SERVER_FP }], { curl: true });
        run(serve);
        expect(readFileSync(`${root}/lxd/trust`, "utf8").split("\n").filter(Boolean).sort()).toEqual([`${sources[0].fingerprint} hostwright-h1`, `${SERVER_FP} hostwright-h2`].sort());
        expect(log()).not.toMatch(/argv=(query\\ \/1\.0\/certificates|config\\ trust\\ add)/);
        // one curl lists the store, one adds both certificates
        expect(log().match(/^curl argv=.*POST.*$/gm)).toEqual([expect.stringMatching(/hostwright-h1.*--next.*hostwright-h2/)]);
        const calls = log().split("\n").filter((l) => l.startsWith("curl")).length;
        run(serve, "delete");
        // the undo removes both entries with one curl (after listing the store)
        expect(log().split("\n").filter((l) => l.startsWith("curl")).length - calls).toBe(2);
        expect(readFileSync(`${root}/lxd/trust`, "utf8")).toBe("");
        // an entry LXD refuses: named with LXD's error
        writeFileSync(`${root}/lxd/refuse`, "hostwright-h2\n");
        const refused = (() => {
            try {
                return run(serve);
            } catch (e: any) {
                return `${e.stdout}${e.stderr}`;
            }
        })();
        expect(refused).toMatch(/LXD refused to trust the client certificates of:\n- h2: Failed parsing certificate/);
        // what the failed run added is the step's own: its undo (Pulumi keeps the failed resource and deletes it) removes it
        run(serve, "delete");
        expect(readFileSync(`${root}/lxd/trust`, "utf8")).toBe("");
    });

    it("certificate mode: takes over the records of the trust step earlier versions declared, so that step's removal leaves the entries", () => {
        const sources = sourcesOf(run(renderProbe(mesh, mesh.members[0])));
        const old = `${root}/old-trust.owned`;
        mkdirSync(old);
        mkdirSync(`${root}/lxd`, { recursive: true });
        writeFileSync(`${root}/lxd/trust`, `${sources[1].fingerprint} hostwright-h2\n`);
        writeFileSync(`${old}/${sources[1].fingerprint}`, "");
        const out = run(renderServe(mesh, mesh.members[0], { errors: [] }, sources, { adopt: old }));
        expect(out).not.toContain("h2: client certificate already trusted; left alone");
        expect(readdirSync(old)).toEqual([]);
        run(renderServe(mesh, mesh.members[0], { errors: [] }, sources, { adopt: old }), "delete");
        expect(readFileSync(`${root}/lxd/trust`, "utf8")).toBe("");
    });

    it("certificate mode (the default): trust in parallel through the local socket, remotes written into config.yml at once, links checked in parallel", () => {
        expect(mesh.trust).toBe("certificate");
        const sources = sourcesOf(run(renderProbe(mesh, mesh.members[0])));
        const serve = renderServe(mesh, mesh.members[0], { errors: [] }, sources);
        run(serve);

        const step = renderRemotes(mesh, mesh.members[0], targetsOf(mesh));
        const before = log().split("\n").length;
        const first = parseStepReport(run(step));
        expect(first.values).toEqual({ "link.h1": "ok", "link.h2": "ok" });
        // no `lxc remote add` (a network round trip each): lxc only lists (before and after the rewrite), normalizes and is queried
        const calls = log().split("\n").slice(before - 1).filter(Boolean).map((l) => l.replace(/^argv=(.*?) LXD_DIR=.*/, "$1"));
        expect(calls.sort()).toEqual(["query\\ h1:/1.0", "query\\ h2:/1.0", "remote\\ get-default", "remote\\ list\\ --format\\ yaml", "remote\\ list\\ --format\\ yaml", "remote\\ switch\\ local"]);
        expect(remoteList()).toEqual(["h1 https://198.18.0.10:8443 default", "h2 https://198.18.0.11:8443 default", "images https://images.linuxcontainers.org", "local unix://"]);
        expect(readFileSync(`${conf()}/servercerts/h2.crt`, "utf8")).toBe(SERVER_CERT);
        expect(existsSync(join(root, "pwned"))).toBe(false);

        // unchanged: nothing rewritten
        const yml = readFileSync(`${conf()}/config.yml`, "utf8");
        expect(run(step, "update")).toContain("remote h2 is right; left alone");
        expect(readFileSync(`${conf()}/config.yml`, "utf8")).toBe(yml);

        // a member leaves: its remote goes, the other stays
        const one = { ...mesh, members: mesh.members.slice(0, 1) };
        // the same step (its key here comes from the description), replaced as Pulumi does: new create, old delete
        const shrunk = { ...renderRemotes(one, one.members[0], targetsOf(one)), description: step.description };
        expect(parseStepReport(run(shrunk)).values).toEqual({ "link.h1": "ok" });
        run(step, "delete");
        expect(remoteList()).toEqual(["h1 https://198.18.0.10:8443 default", "images https://images.linuxcontainers.org", "local unix://"]);
        expect(existsSync(`${conf()}/servercerts/h2.crt`)).toBe(false);

        run(shrunk, "delete");
        expect(remoteList()).toEqual(["images https://images.linuxcontainers.org", "local unix://"]);
        run(serve, "delete");
        expect(readFileSync(`${root}/lxd/trust`, "utf8")).toBe("");
    });

    it("remotes with curl on the host: one curl for every link, each with lxc's client certificate and its pinned server key, no lxc query; a wrong pin fails the link", () => {
        symlinkSync(join(FIXTURES, "fake-curl.sh"), `${root}/bin/curl`);
        expect(publicKeyPin(SERVER_CERT)).toBe("3PyN7QjE63hL0iJsbyKqEe4CFCok+VrOQUJ7wOjXtA0=");
        run(renderServe(mesh, mesh.members[0], { errors: [] }, sourcesOf(run(renderProbe(mesh, mesh.members[0])))));
        const step = renderRemotes(mesh, mesh.members[0], targetsOf(mesh), { curl: true });
        expect(parseStepReport(run(step)).values).toEqual({ "link.h1": "ok", "link.h2": "ok" });
        expect(log()).not.toMatch(/argv=query\\ h\d:/);
        const curls = log().split("\n").filter((l) => l.startsWith("curl argv=") && l.includes("pinnedpubkey"));
        expect(curls).toHaveLength(1);
        expect(curls[0].match(/--pinnedpubkey\\ sha256\/\/3PyN7QjE63hL0iJsbyKqEe4CFCok\+VrOQUJ7wOjXtA0=/g)).toHaveLength(2);
        // the drift check proves the links the same way
        expect(runCheck(step)).not.toContain("HOSTWRIGHT_DRIFT");
        // h2 presents another key than the pinned one: the link fails, named, and the check says so
        writeFileSync(`${root}/lxd/presents.h2`, readFileSync(`${conf()}/client.crt`));
        expect(() => run(step, "update")).toThrow(/no working link from h1 to: h2\n/);
        expect(runCheck(step)).toContain("HOSTWRIGHT_DRIFT remote h2: cannot reach h2: curl: (90) SSL: public key does not match pinned public key");
    });

    it("remotes with curl: a link that fails among working ones is named with its reason, each from its own transfer of the one curl", () => {
        symlinkSync(join(FIXTURES, "fake-curl.sh"), `${root}/bin/curl`);
        run(renderServe(mesh, mesh.members[0], { errors: [] }, sourcesOf(run(renderProbe(mesh, mesh.members[0])))));
        const three = resolveMesh({ members: [{ host: host("h1") }, { host: host("h2") }, { host: { ...host("h3"), address: "198.18.0.12" } }], clientConfigDir: mesh.clientConfigDir, lxdDir: mesh.lxdDir });
        const step = renderRemotes(three, three.members[0], targetsOf(three), { curl: true });
        expect(parseStepReport(run(step)).values).toEqual({ "link.h1": "ok", "link.h2": "ok", "link.h3": "ok" });
        writeFileSync(`${root}/lxd/down`, "h2\n");
        const failed = (() => {
            try {
                return run(step, "update");
            } catch (e: any) {
                return `${e.stdout}${e.stderr}`;
            }
        })();
        const report = parseStepReport(failed);
        expect(report.values).toEqual({ "link.h1": "ok", "link.h2": "failed curl: (7) Failed to connect to https://198.18.0.11:8443", "link.h3": "ok" });
        expect(failed).toMatch(/no working link from h1 to: h2\n/);
        expect(runCheck(step)).toContain("HOSTWRIGHT_DRIFT remote h2: cannot reach h2: curl: (7) Failed to connect to https://198.18.0.11:8443");
        expect(runCheck(step)).not.toMatch(/DRIFT remote h[13]/);
    });

    it("remotes, when the pre-flight failed: stop like the serve steps", () => {
        const blocked = renderBlockedRemotes(mesh.members[0], { errors: ["h2: LXD does not answer"] });
        expect(() => run(blocked)).toThrow(/pre-flight failed, nothing was changed:\n- h2: LXD does not answer/);
        expect(existsSync(`${root}/lxc.log`)).toBe(false);
    });

    it("remotes: every link is queried, the ones that fail are named in one error", () => {
        mkdirSync(`${root}/lxd`);
        writeFileSync(`${root}/lxd/down`, "h2\n");
        expect(() => run(renderRemotes(mesh, mesh.members[0], targetsOf(mesh)))).toThrow(/no working link from h1 to: h2\n/);
    });

    it("remotes: a remote the user pointed elsewhere (kept in lxc's config.yml) is corrected with a warning; other remotes are kept", () => {
        mkdirSync(conf(), { recursive: true });
        writeFileSync(
            `${conf()}/config.yml`,
            'default-remote: local\nremotes:\n  h2:\n    addr: https://10.9.9.9:8443\n    auth_type: tls\n    project: default\n    protocol: lxd\n    public: false\n  local:\n    addr: unix://\n    public: false\n  "yes":\n    addr: https://10.1.1.1:8443\n    public: false\naliases: {}\n',
        );
        const report = parseStepReport(run(renderRemotes(mesh, mesh.members[0], targetsOf(mesh))));
        expect(report.warnings).toEqual(["remote h2 pointed to https://10.9.9.9:8443 (or had another certificate, project or no trust); replaced by https://198.18.0.11:8443"]);
        expect(remoteList()).toEqual(["h1 https://198.18.0.10:8443 default", "h2 https://198.18.0.11:8443 default", "local unix://", "yes https://10.1.1.1:8443"]);
        expect(readFileSync(`${conf()}/config.yml`, "utf8")).toMatch(/^default-remote: local\nremotes:\n/);
        expect(readFileSync(`${conf()}/config.yml`, "utf8")).toMatch(/\naliases: \{\}\n$/);
    });

    it("parallel fragments run in batches of PARALLEL and wait for all", () => {
        const text = inParallel(Array.from({ length: PARALLEL + 2 }, (_, i) => `job ${i}`));
        expect(text.split("\n").filter((l) => l === "wait")).toHaveLength(2);
        expect(text.split("\n")[PARALLEL]).toBe("wait");
        const out = execFileSync("bash", ["-c", `set -eu\nd=$(mktemp -d)\n${inParallel(Array.from({ length: 20 }, (_, i) => `{ sleep 0.2; : > "$d/${i}"; }`))}\nls "$d" | wc -l; rm -rf "$d"`], { encoding: "utf8" });
        expect(out.trim()).toBe("20");
    });

    it("stateful mode installs the netlink_diag persistence file", () => {
        const spec = renderServe({ ...mesh, migration: "stateful" }, mesh.members[0], { errors: [] }, []);
        expect(spec.files).toEqual([{ path: "/etc/modules-load.d/hostwright-lxd-netlink-diag.conf", content: "netlink_diag\n" }]);
        expect(spec.activate).toContain("modprobe netlink_diag");
    });

    it("move commands name both remotes and set LXD_CONF", () => {
        expect(moveCommand(mesh, "h1", "h2", true)).toBe(`LXD_CONF='${root}/conf dir/it'\\''s "x" $(touch pwned) \`id\`' lxc move h1:CONTAINER h2: --stateless`);
    });

    it("a verdict built from two probes of the same fake host passes", () => {
        const out = run(renderProbe(mesh, mesh.members[0]));
        const facts = ["h1", "h2"].map((n) => factsFromProbe(n, parseStepReport(out).values));
        // nothing listens on the lab addresses here: connects fail; and no daemon socket is in the scratch LXD_DIR
        const errors = decidePreflight(facts, mesh.members, "stateless").errors;
        expect(errors.filter((e) => !/cannot reach|refuses/.test(e))).toEqual(["h1", "h2"].map((h) => `${h}: no LXD daemon runs: ${root}/lxd dir/unix.socket does not exist (start LXD, or set lxdDir to the daemon's directory: /var/snap/lxd/common/lxd for the snap)`));
    });
});
