/**
 * The offline preview of the example stack without its passphrase (issue 14): the
 * libvirt group's keys are opaque, yet its steps are written (the component takes
 * them as secrets); only the key checks are listed as not run.
 */
import { spawnSync } from "child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { sections } from "../../components/registry";
import { declareStack, RawConfig, validateStack } from "../../core/config/stack";
import { withoutLibraries } from "../../core/library";
import { OPAQUE_SECRET } from "../../core/opaque";
import { recordProgram } from "../../tools/record";

const ROOT = join(__dirname, "../..");
const EXAMPLE_PASSPHRASE = "hostwright-example";

interface Plan {
    steps: Array<{ host: string; name: string; command: string }>;
    outputs: { libvirt: Record<string, unknown> };
}

/** `npm run preview -- --stack example` as a user runs it, with or without the passphrase. */
function preview(passphrase: string | undefined, out: string): { status: number | null; stdout: string; stderr: string; plan: Plan } {
    const env = { ...process.env };
    delete env.PULUMI_CONFIG_PASSPHRASE;
    delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
    if (passphrase !== undefined) env.PULUMI_CONFIG_PASSPHRASE = passphrase;
    const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["tools/preview.ts", "--stack", "example", "--out", out], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr, plan: run.status === 0 ? (JSON.parse(readFileSync(join(out, "plan.json"), "utf8")) as Plan) : ({} as Plan) };
}

function filesUnder(dir: string): string[] {
    return readdirSync(dir).flatMap((e) => (statSync(join(dir, e)).isDirectory() ? filesUnder(join(dir, e)) : [join(dir, e)]));
}

const libvirtSteps = (plan: Plan) => plan.steps.filter((s) => s.name.startsWith("cell1-")).map((s) => `${s.host} ${s.name}`);

describe("offline preview of the example stack without the passphrase", () => {
    let dir: string;
    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), "hw-libvirt-preview-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("writes the libvirt group's steps, the ones the passphrase gives, and lists only the key checks as not run", () => {
        const opaque = preview(undefined, join(dir, "opaque"));
        const clear = preview(EXAMPLE_PASSPHRASE, join(dir, "clear"));
        expect([opaque.status, opaque.stderr]).toEqual([0, expect.stringContaining("secret(s) not decrypted (no passphrase")]);
        expect(clear.status).toBe(0);

        expect(opaque.stderr).not.toContain("not previewed");
        expect(opaque.plan.outputs.libvirt.cell1).not.toHaveProperty("notPreviewed");
        const steps = ["cell1-compute1-libvirt", "cell1-compute2-libvirt", "cell1-compute1-dataplane", "cell1-compute2-dataplane", "cell1-compute1-peers", "cell1-compute2-peers"];
        expect(libvirtSteps(opaque.plan).sort()).toEqual(steps.map((s) => `${s.split("-")[1]} ${s}`).sort());
        expect(libvirtSteps(opaque.plan)).toEqual(libvirtSteps(clear.plan));
        for (const node of ["compute1", "compute2"]) expect(opaque.stdout).toMatch(new RegExp(`  ${node}: .*\\n(    \\d+ .*\\n)*    \\d+ cell1-${node}-libvirt`));

        // Not run: the four key checks, nothing else of the group.
        const notChecked = opaque.stderr.split("\n").filter((l) => l.includes("hostwright:libvirt") && l.includes("not checked"));
        expect(notChecked.map((l) => /hostwright:libvirt\[0\]\.(\S+):/.exec(l)?.[1]).sort()).toEqual(
            ["nodes[0].tls.clientKey", "nodes[0].tls.serverKey", "nodes[1].tls.clientKey", "nodes[1].tls.serverKey"],
        );
        expect(opaque.stderr).toContain("warning: hostwright:libvirt[0].nodes[0].tls.serverKey: not checked: needs the value of hostwright:secrets.compute1-libvirt-server-key, which is not known here");

        // Written in full: only the undecrypted keys are (redacted) placeholders.
        const written = filesUnder(join(dir, "opaque"));
        const script = readFileSync(written.find((f) => f.endsWith("-cell1-compute1-libvirt.create.sh"))!, "utf8");
        expect(script).not.toContain("<known after apply>");
        expect(script).toContain("/etc/pki/libvirt/servercert.pem");
        expect(readFileSync(written.find((f) => f.endsWith("compute1/files/etc/pki/libvirt/private/serverkey.pem"))!, "utf8")).toBe("[secret redacted by hostwright preview]");
        for (const f of written) {
            const text = readFileSync(f, "utf8");
            expect([f, text.includes("[opaque secret"), text.includes("PRIVATE KEY")]).toEqual([f, false, false]);
        }
    }, 240_000);
});

describe("a SASL group whose password this run cannot read (an offline preview without the passphrase)", () => {
    const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";
    const config = {
        "hostwright:inventory": { defaults: { privateKey: "ops-ssh" }, hosts: ["c1", "c2"].map((n, i) => ({ name: n, address: `198.51.100.${20 + i}`, hostKey: ED25519 })) },
        "hostwright:secrets": { "ops-ssh": OPAQUE_SECRET("hostwright:secrets.ops-ssh"), "sasl-pw": OPAQUE_SECRET("hostwright:secrets.sasl-pw") },
        "hostwright:libvirt": [{ name: "cell2", nodes: [{ host: "c1" }, { host: "c2" }], transport: "tcp", auth: "sasl", sasl: { username: "migration", password: "sasl-pw", mechanism: "digest-md5" } }],
    };
    const raw = (): RawConfig => ({ values: Object.fromEntries(Object.entries(config).map(([k, v]) => [k, JSON.stringify(v)])), secretKeys: new Set(["hostwright:secrets"]) });

    it("is declared with the placeholder (a secret file content, redacted in the preview); only the password's check is listed as not run", async () => {
        expect(validateStack(raw(), sections).notRun.map((i) => i.path)).toEqual(["hostwright:secrets.ops-ssh", "hostwright:libvirt[0].sasl.password"]);
        const recording = await recordProgram(() => declareStack(raw(), sections), { printWarnings: false });
        expect(recording.warnings.map((w) => w.message).filter((m) => m.includes("not previewed"))).toEqual([]);
        const steps = withoutLibraries(recording.commands).filter((c) => c.name.startsWith("cell2-"));
        expect(steps.map((c) => c.name)).toEqual(["cell2-c1-libvirt", "cell2-c2-libvirt", "cell2-c1-dataplane", "cell2-c2-dataplane", "cell2-c1-peers", "cell2-c2-peers"]);
        const [first] = steps;
        expect(first.secretInputs).toContain("stdin");
        expect(first.inputs.stdin).toContain(OPAQUE_SECRET("hostwright:secrets.sasl-pw"));
    });
});
