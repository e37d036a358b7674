import { execFileSync } from "child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import { renderStep, parseStepReport, StepSpec } from "../../core/step";
import { localScript } from "../core/stepRunner";
import { resolveMesh, ResolvedMesh } from "../../components/lxd/args";
import { factsFromProbe, decidePreflight } from "../../components/lxd/preflight";
import { moveCommand, renderProbe, renderRemotes, renderServe, renderTrust, TargetIdentity, tokensFromReport } from "../../components/lxd/render";

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
    const log = () => readFileSync(`${root}/lxc.log`, "utf8");

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
        expect(readFileSync(`${root}/lxd/remotes`, "utf8")).toBe("h1 https://198.18.0.10:8443 default\nh2 https://198.18.0.11:8443 default\n");
        expect(readFileSync(`${root}/lxd/trust-remote`, "utf8").split("\n").filter(Boolean)).toHaveLength(2);

        // Unchanged: left alone. The undo scripts carry no token (they go on a command line).
        expect(run(remotes, "update")).toContain("remote h2 is right; left alone");
        expect(renderStep({ ...remotes, key: "t" }).delete).not.toContain("FROMh");

        run(remotes, "delete");
        expect(readFileSync(`${root}/lxd/remotes`, "utf8")).toBe("");
        expect(readFileSync(`${root}/lxd/trust-remote`, "utf8")).toBe("");
        run(serve, "delete");
        expect(existsSync(`${root}/lxd/https_address`)).toBe(false);
    });

    it("serve (certificate): creates and prints the client certificate, issues no token", () => {
        const out = parseStepReport(run(renderServe({ ...mesh, trust: "certificate" }, mesh.members[0], { errors: [] }, [{ name: "h1" }])));
        expect(Buffer.from(out.values.client_certificate, "base64").toString()).toContain("-----BEGIN CERTIFICATE-----");
        expect(out.values.client_fingerprint).toMatch(/^[0-9a-f]{64}$/);
        expect(Object.keys(out.values).filter((k) => k.startsWith("token."))).toEqual([]);
        expect(existsSync(`${root}/${HOSTILE}/client.key`)).toBe(true);
    });

    it("remotes: a remote the user pointed elsewhere is corrected with a warning", () => {
        mkdirSync(`${root}/lxd`);
        writeFileSync(`${root}/lxd/remotes`, "h2 https://10.9.9.9:8443 default\n");
        const targets: TargetIdentity[] = mesh.members.map((t) => ({ name: t.name, url: t.url, certificate: SERVER_CERT, fingerprint: SERVER_FP }));
        const report = parseStepReport(run(renderRemotes(mesh, mesh.members[0], targets)));
        expect(report.warnings).toEqual(["remote h2 pointed to https://10.9.9.9:8443 (or had another certificate, project or no trust); replaced by https://198.18.0.11:8443"]);
        expect(readFileSync(`${root}/lxd/remotes`, "utf8")).toContain("h2 https://198.18.0.11:8443 default");
    });

    it("trust (certificate): adds the client certificates from a file, named after the source", () => {
        const certMesh: ResolvedMesh = { ...mesh, trust: "certificate" };
        const sources = [{ name: "h1", certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", fingerprint: "cd".repeat(32) }];
        const trust = renderTrust(certMesh, certMesh.members[0], sources);
        expect(parseStepReport(run(trust)).values).toEqual({});
        expect(readFileSync(`${root}/lxd/trust`, "utf8")).toContain("-----BEGIN CERTIFICATE----- hostwright-h1");
        expect(log()).toMatch(/config\\ trust\\ add\\ \/tmp\/tmp\.\S+\\ --name\\ hostwright-h1|config\\ trust\\ add\\ \S+\\ --name\\ hostwright-h1/);
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
        // nothing listens on the lab addresses here: connects fail; only reachability errors remain
        expect(decidePreflight(facts, mesh.members, "stateless").errors.every((e) => /cannot reach|refuses/.test(e))).toBe(true);
    });
});
