/**
 * The engine end-to-end script's pure parts (which engine, how LXD is installed, the
 * example as an engine can apply it on lab hosts) and the workflows, checked
 * statically: every file under .github/workflows parses and is well formed, what it
 * runs exists, and engine.yml runs test/lab/engine.ts with the real CLI.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { commandOutputsOfDeployment, engineValues, lxdInstall, pickEngine, providerPlugins } from "./engine";

const ROOT = path.resolve(__dirname, "..", "..");
const WORKFLOWS = path.join(ROOT, ".github", "workflows");

describe("pickEngine", () => {
    it("takes ENGINE when set, else pulumi when it is on PATH, else the harness", () => {
        expect(pickEngine({ ENGINE: "harness", PATH: "/usr/bin" })).toBe("harness");
        expect(pickEngine({ ENGINE: "pulumi", PATH: "" })).toBe("pulumi");
        expect(pickEngine({ PATH: "/nonexistent" })).toBe("harness");
        const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "pulumi-bin-"));
        fs.writeFileSync(path.join(dir, "pulumi"), "");
        expect(pickEngine({ PATH: `/nonexistent:${dir}` })).toBe("pulumi");
        fs.rmSync(dir, { recursive: true });
        expect(() => pickEngine({ ENGINE: "terraform" })).toThrow("ENGINE=terraform: expected harness or pulumi");
    });
});

describe("providerPlugins", () => {
    it("lists the provider plugins of the @pulumi packages the program depends on, at the versions installed (what the CLI installs before entering the lab; not the dev dependency @pulumi/tls)", () => {
        const pkg = (name: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "@pulumi", name, "package.json"), "utf8"));
        expect(providerPlugins()).toEqual([
            { name: "command", version: pkg("command").pulumi.version },
            { name: "openstack", version: pkg("openstack").version.replace(/^v/, "") },
        ]);
        expect(providerPlugins().map((p) => p.version)).toEqual(expect.arrayContaining([expect.stringMatching(/^1\.\d+\.\d+$/)]));
    });
});

describe("commandOutputsOfDeployment", () => {
    it("reads each live remote.Command's stdout/stderr from `pulumi stack export --show-secrets`, secret ones from their plaintext", () => {
        const secret = (v: string) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify(v) });
        const exported = {
            version: 3,
            deployment: {
                resources: [
                    { urn: "urn:pulumi:s::hostwright::pulumi:pulumi:Stack::hostwright-s", type: "pulumi:pulumi:Stack", outputs: {} },
                    { urn: "urn:pulumi:s::hostwright::hostwright:lxd:RemoteMesh$command:remote:Command::lxd-lxd1-serve", type: "command:remote:Command", outputs: { stdout: "hw_output token abc", stderr: "" } },
                    { urn: "urn:pulumi:s::hostwright::hostwright:h2o:ReverseProxy$command:remote:Command::front-proxy", type: "command:remote:Command", outputs: { stdout: secret("hw_output key x"), stderr: secret("") } },
                    { urn: "urn:pulumi:s::hostwright::hostwright:h2o:ReverseProxy$command:remote:Command::front-proxy", type: "command:remote:Command", delete: true, outputs: { stdout: "old" } },
                ],
            },
        };
        expect([...commandOutputsOfDeployment(exported)]).toEqual([
            ["lxd-lxd1-serve", { stdout: "hw_output token abc", stderr: "" }],
            ["front-proxy", { stdout: "hw_output key x", stderr: "" }],
        ]);
    });
});

describe("lxdInstall", () => {
    it.each([
        [["/usr/bin/lxd"], "package"],
        [["/usr/sbin/lxd", "/snap/bin/lxd"], "package"],
        [["/snap/bin/lxd"], "snap"],
        [[], "none"],
    ])("%j -> %s", (present, kind) => {
        expect(lxdInstall((p) => (present as string[]).includes(p))).toBe(kind);
    });
});

describe("engineValues", () => {
    const inventory = { hosts: [{ name: "c1", labels: { role: "compute" } }, { name: "c2", labels: { role: "compute" } }, { name: "l1", labels: { role: "lxd" } }] };
    const values = {
        "hostwright:inventory": JSON.stringify(inventory),
        "hostwright:ovs": JSON.stringify([{ name: "plain", host: "c2", ports: ["qvo1"] }, { name: "looked-up", openstack: { instanceId: "i-1" }, collector: { address: "192.0.2.50" } }]),
        "hostwright:lxd": JSON.stringify([{ name: "mesh", hosts: [{ host: "l1" }] }]),
    };

    it("declares a mirror found through OpenStack on the first compute node with a port of its own, and leaves the others alone", () => {
        const { values: out, leftOut } = engineValues(values, "package");
        expect(JSON.parse(out["hostwright:ovs"])).toEqual([{ name: "plain", host: "c2", ports: ["qvo1"] }, { name: "looked-up", host: "c1", ports: ["qvoengine1-00"], collector: { address: "192.0.2.50" } }]);
        expect(out["hostwright:lxd"]).toBe(values["hostwright:lxd"]);
        expect(leftOut).toEqual([]);
    });

    it("leaves the lxd section and the LXD role out when LXD is only a snap", () => {
        const { values: out, leftOut } = engineValues(values, "snap");
        expect(out["hostwright:lxd"]).toBeUndefined();
        expect(JSON.parse(out["hostwright:inventory"]).hosts.map((h: { labels: object }) => h.labels)).toEqual([{ role: "compute" }, { role: "compute" }, {}]);
        expect(leftOut).toEqual([expect.stringMatching(/^lxd \(LXD is a snap here/)]);
    });
});

describe(".github/workflows", () => {
    const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
    const scripts = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts);

    it("holds the engine and preview workflows", () => {
        expect(files).toEqual(expect.arrayContaining(["engine.yml", "preview.yml"]));
    });

    describe.each(files)("%s", (file) => {
        const doc = yaml.load(fs.readFileSync(path.join(WORKFLOWS, file), "utf8")) as any;
        const steps: any[] = Object.values(doc.jobs ?? {}).flatMap((job: any) => job.steps ?? []);

        it("has a name, triggers and jobs that run on a runner, each step either `uses` a pinned action or `run`s a command", () => {
            expect(typeof doc.name).toBe("string");
            expect(doc.on).toBeTruthy();
            for (const job of Object.values(doc.jobs) as any[]) {
                expect(job["runs-on"]).toBeTruthy();
                expect(job.steps.length).toBeGreaterThan(0);
            }
            for (const step of steps) {
                expect(("uses" in step) !== ("run" in step)).toBe(true);
                if (step.uses) expect(step.uses).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})$/);
            }
        });

        it("runs only npm scripts and files the project has", () => {
            const commands: string[] = steps.filter((s) => s.run).map((s) => s.run);
            for (const [, script] of commands.join("\n").matchAll(/npm run (?:-[\w-]+ )*([\w:-]+)/g)) expect(scripts).toContain(script);
            for (const [, file] of commands.join("\n").matchAll(/(?:bash|tsx) ((?:scripts|test|tools)\/[\w./-]+)/g)) expect(fs.existsSync(path.join(ROOT, file))).toBe(true);
        });
    });

    it("engine.yml: on pull requests and by hand, installs the CLI with pulumi/actions, then runs the engine script with ENGINE=pulumi as root, and uploads its logs whatever happened", () => {
        const doc = yaml.load(fs.readFileSync(path.join(WORKFLOWS, "engine.yml"), "utf8")) as any;
        expect(Object.keys(doc.on).sort()).toEqual(["pull_request", "workflow_dispatch"]);
        const job = doc.jobs.engine;
        expect(job["runs-on"]).toBe("ubuntu-latest");
        expect(job["timeout-minutes"]).toBeLessThanOrEqual(30);
        const index = (pred: (s: any) => boolean) => job.steps.findIndex(pred);
        const cli = index((s) => String(s.uses).startsWith("pulumi/actions@"));
        const npmCi = index((s) => /^npm ci\b/.test(s.run ?? ""));
        const prereqs = index((s) => (s.run ?? "").includes("scripts/install-prereqs.sh"));
        const engine = index((s) => (s.run ?? "").includes("test/lab/engine.ts"));
        const logs = index((s) => String(s.uses).startsWith("actions/upload-artifact@"));
        expect([cli, npmCi, prereqs, engine, logs].every((i) => i >= 0)).toBe(true);
        expect(cli < engine && npmCi < engine && prereqs < engine && engine < logs).toBe(true);
        expect(job.steps[cli].with?.command).toBeUndefined(); // install only
        expect(job.steps[engine].run).toMatch(/^sudo -E env "PATH=\$PATH" ENGINE=pulumi .*test\/lab\/engine\.ts --logs engine-logs$/);
        expect(job.steps[logs]).toMatchObject({ if: "always()", with: { path: "engine-logs" } });
    });
});
