/**
 * LibvirtLiveMigration fed by other resources (issue 18): a node's host address (and
 * listen address) from an `openstack.compute.Instance`, its server certificate and key
 * from `@pulumi/tls`, the CA and nova settings as outputs, each mocked with Pulumi's
 * official mocks. Late arguments must declare exactly what plain ones do, leave the
 * steps unknown during a preview, and fail with the same message.
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as tls from "@pulumi/tls";
import { spawnSync } from "child_process";
import { rmSync, writeFileSync } from "fs";
import { join } from "path";
import { LibvirtLiveMigration } from "../../components/libvirt/component";
import type { LiveMigrationArgs, LiveMigrationInputs, MigrationTransport } from "../../components/libvirt/args";
import { ValidationError } from "../../core/errors";
import { withoutLibraries } from "../../core/library";
import { recordProgram, RecordOptions, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { groupPki, testHost } from "./fixtures";

const ROOT = join(__dirname, "../..");
const VM_ADDRESS = "192.0.2.11";
const g = groupPki([
    { name: "a", names: [VM_ADDRESS] },
    { name: "b", names: ["b.example.test"] },
]);
afterAll(() => rmSync(g.pki.dir, { recursive: true, force: true }));

const hostA = testHost("a", { address: VM_ADDRESS });
const hostB = testHost("b");

function plainArgs(over: { serverKeyA?: string; addressA?: string } = {}): LiveMigrationArgs {
    return {
        nodes: [
            { host: { ...hostA, address: over.addressA ?? VM_ADDRESS }, listenAddress: over.addressA ?? VM_ADDRESS, tls: { ...g.tls.a, serverKey: over.serverKeyA ?? g.tls.a.serverKey } },
            { host: hostB, tls: g.tls.b },
        ],
        transport: "tls",
        tls: { caCertificate: g.root.certPem, allowedClientDns: ["CN=* migration client"] },
        nova: { release: "2023.1", permitAutoConverge: true, bandwidthMiBps: 100 },
    };
}

/** The same group with node a's address from a VM, its server certificate and key from @pulumi/tls, the rest as outputs. */
function lateArgs(): LiveMigrationInputs {
    const vm = new openstack.compute.Instance("compute-a-vm", { flavorName: "m1.large", imageName: "debian-12" });
    const key = new tls.PrivateKey("a-server-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
    const request = new tls.CertRequest("a-server-csr", { privateKeyPem: key.privateKeyPem, subject: { commonName: "a" }, ipAddresses: [vm.accessIpV4] });
    const cert = new tls.LocallySignedCert("a-server", {
        certRequestPem: request.certRequestPem,
        caCertPem: g.root.certPem,
        caPrivateKeyPem: pulumi.secret("CA-KEY"),
        validityPeriodHours: 24,
        allowedUses: ["server_auth"],
    });
    const plain = plainArgs();
    return {
        nodes: [
            { host: { ...hostA, address: vm.accessIpV4 }, listenAddress: vm.accessIpV4, tls: { ...g.tls.a, serverCertificate: cert.certPem, serverKey: key.privateKeyPem, clientKey: pulumi.secret(g.tls.a.clientKey) } },
            { host: hostB, tls: g.tls.b },
        ],
        transport: pulumi.output<MigrationTransport>("tls"),
        tls: { caCertificate: pulumi.output(g.root.certPem), allowedClientDns: [pulumi.output("CN=* migration client")] },
        nova: { release: pulumi.output("2023.1"), permitAutoConverge: pulumi.output(true), bandwidthMiBps: plain.nova!.bandwidthMiBps },
    };
}

/** What the VM and the TLS resources report after a real apply; nothing during a preview. */
function providers(known = true): RecordOptions["resourceState"] {
    return (type) => {
        if (!known) return undefined;
        if (type === "openstack:compute/instance:Instance") return { accessIpV4: VM_ADDRESS };
        if (type === "tls:index/privateKey:PrivateKey") return { privateKeyPem: g.tls.a.serverKey };
        if (type === "tls:index/certRequest:CertRequest") return { certRequestPem: "CSR" };
        if (type === "tls:index/locallySignedCert:LocallySignedCert") return { certPem: g.tls.a.serverCertificate };
        return undefined;
    };
}

/** What the data-plane steps "printed", so that the peer checks are rendered too. */
function commandState(type: string, name: string) {
    const m = /^cell1-(\w+)-dataplane$/.exec(name);
    if (!m) return undefined;
    const values = { hostUuid: m[1] === "a" ? "0be258c5-e2e5-4e64-8731-cb5fe78b9fc0" : "a3379adc-3c47-49a1-8a13-6b130d5dce15", "cpu.source": "capabilities", "cpu.vendor": "AMD", "cpu.model": "EPYC", "cpu.features": "sse2", addresses: "10.0.0.1", dataPort: "49160" };
    return { stdout: Object.entries(values).map(([k, v]) => `HOSTWRIGHT_OUTPUT ${k}=${v}`).join("\n"), stderr: "" };
}

const outputsOf = (group: LibvirtLiveMigration) => ({ nodes: group.nodes, pairs: group.pairs, cpuCommonFeatures: group.cpuCommonFeatures, warnings: group.warnings, commands: group.commands, steps: group.steps });
const STEPS = ["cell1-a-libvirt", "cell1-b-libvirt", "cell1-a-dataplane", "cell1-b-dataplane", "cell1-a-peers", "cell1-b-peers"];
const COMPARED = ["stdin", "create", "update", "delete", "triggers"];

describe("LibvirtLiveMigration with inputs from other resources", () => {
    it("declares the very steps plain arguments declare, once the VM and the TLS material are known", async () => {
        const plain = await recordProgram(() => outputsOf(new LibvirtLiveMigration("cell1", plainArgs())), { preview: false, printWarnings: false, commandState });
        const late = await recordProgram(() => outputsOf(new LibvirtLiveMigration("cell1", lateArgs())), { preview: false, printWarnings: false, commandState, resourceState: providers() });
        // The hosts' library steps (core/library.ts) are compared too; the group's own steps are STEPS.
        expect(withoutLibraries(plain.commands).map((c) => c.name)).toEqual(STEPS);
        expect(late.commands.map((c) => c.name)).toEqual(plain.commands.map((c) => c.name));
        late.commands.forEach((b, i) => {
            const a = plain.commands[i];
            for (const input of COMPARED) expect([b.name, input, b.inputs[input]]).toEqual([a.name, input, a.inputs[input]]);
            expect(b.secretInputs.sort()).toEqual(a.secretInputs.sort());
        });
        const [configA] = withoutLibraries(late.commands);
        expect(configA.inputs.connection.host).toBe(VM_ADDRESS);
        // The keys travel only in the secret stdin; the peers dial the VM's address.
        expect(configA.secretInputs).toContain("stdin");
        expect(configA.inputs.stdin).toContain(g.tls.a.serverKey.trim());
        for (const c of late.commands) {
            for (const [k, v] of Object.entries(c.inputs)) if (!c.secretInputs.includes(k)) expect(JSON.stringify(v)).not.toContain("PRIVATE KEY");
        }
        expect(late.commands.find((c) => c.name === "cell1-b-peers")!.inputs.stdin).toContain(`hw_check_peer a qemu+tls://${VM_ADDRESS}/system`);
        expect(late.outputs).toEqual(plain.outputs);
        expect((late.outputs.commands as { checkPeer: string[] }).checkPeer[0]).toBe(`virsh -c 'qemu+tls://${VM_ADDRESS}/system' uri`);
        expect((late.outputs.nodes as Array<{ uri: string }>)[0].uri).toBe(`qemu+tls://${VM_ADDRESS}/system`);
    });

    it("with plain args and keys as secret outputs (as the stack program passes them), declares what plain keys declare and checks the rest at once", async () => {
        const asSecrets = (): LiveMigrationInputs => {
            const args = plainArgs();
            return { ...args, nodes: args.nodes.map((n) => ({ ...n, tls: { ...n.tls!, serverKey: pulumi.secret(n.tls!.serverKey), clientKey: pulumi.secret(n.tls!.clientKey) } })) };
        };
        const plain = await recordProgram(() => outputsOf(new LibvirtLiveMigration("cell1", plainArgs())), { preview: false, printWarnings: false, commandState });
        const secret = await recordProgram(() => outputsOf(new LibvirtLiveMigration("cell1", asSecrets())), { preview: false, printWarnings: false, commandState });
        secret.commands.forEach((b, i) => {
            for (const input of COMPARED) expect([b.name, input, b.inputs[input]]).toEqual([plain.commands[i].name, input, plain.commands[i].inputs[input]]);
        });
        expect(secret.outputs).toEqual(plain.outputs);
        // Nothing in them is awaited: a bad plain value still throws in the constructor.
        const bad = asSecrets();
        bad.nodes[0] = { ...bad.nodes[0], migrationAddress: "not an address!" };
        await recordProgram(() => {
            expect(() => new LibvirtLiveMigration("cell1", bad)).toThrow(ValidationError);
            return {};
        });
    });

    it("during a preview with the VM and the certificate not created yet, declares every step with unknown content instead of failing", async () => {
        const rec = await recordProgram(() => outputsOf(new LibvirtLiveMigration("cell1", lateArgs())), { preview: true, printWarnings: false, resourceState: providers(false) });
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(STEPS);
        for (const c of withoutLibraries(rec.commands)) expect([c.name, c.inputs.stdin]).toEqual([c.name, UNKNOWN_PLACEHOLDER]);
        const [configA, configB] = withoutLibraries(rec.commands);
        expect(configA.inputs.connection?.host).not.toBe(VM_ADDRESS);
        // b's own host is known, its step's content is not (its peer a's address is in its nova.conf edit).
        expect(configB.inputs.connection.host).toBe("b.example.test");
        expect(rec.outputs.commands).toBe(UNKNOWN_PLACEHOLDER);
        // The steps' addresses are known: npm run check and pulumi up --replace can name them.
        expect((rec.outputs.steps as Array<{ name: string; host: string }>).map((s) => `${s.host} ${s.name}`)).toEqual(STEPS.map((s) => `${s.split("-")[1]} ${s}`));
    });

    /** The plain arguments' error, then the same values given late in a program of their own (the rejection ends it, as `pulumi up` ends). */
    async function lateFailure(plain: LiveMigrationArgs, late: string): Promise<{ plainError: string; stderr: string; status: number | null }> {
        const plainError = await recordProgram(() => outputsOf(new LibvirtLiveMigration("cell1", plain)), { preview: false, printWarnings: false }).then(
            () => "",
            (e: Error) => e.message,
        );
        const program = join(g.pki.dir, `late-invalid-${Math.random().toString(36).slice(2)}.ts`);
        writeFileSync(
            program,
            `import * as pulumi from ${JSON.stringify(require.resolve("@pulumi/pulumi"))};
import { LibvirtLiveMigration } from ${JSON.stringify(join(ROOT, "components/libvirt/component"))};
pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "hostwright", "inputs", false);
const host = (name: string, address: pulumi.Input<string>) => ({ name, address, privateKey: pulumi.secret("KEY-" + name), hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB" });
const tls = ${JSON.stringify(g.tls)};
new LibvirtLiveMigration("cell1", ${late});
`,
        );
        const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [program], { encoding: "utf8", cwd: ROOT });
        return { plainError, stderr: run.stderr, status: run.status };
    }

    it.each([
        [
            "a server key that belongs to another certificate",
            { serverKeyA: g.tls.b.serverKey },
            `{ nodes: [{ host: host("a", "${VM_ADDRESS}"), tls: { ...tls.a, serverKey: pulumi.secret(pulumi.output(tls.b.serverKey)) } }, { host: host("b", "b.example.test"), tls: tls.b }], tls: { caCertificate: ${JSON.stringify(g.root.certPem)} } }`,
            /1 problem in the LibvirtLiveMigration cell1:\n {2}- nodes\[0\]\.tls\.serverKey: \(host a\) does not match the server certificate \(CN=a\)$/,
        ],
        [
            "a VM address the server certificate does not cover",
            { addressA: "192.0.2.99" },
            `{ nodes: [{ host: host("a", pulumi.output("192.0.2.99")), tls: { ...tls.a, serverKey: pulumi.secret(tls.a.serverKey) } }, { host: host("b", "b.example.test"), tls: tls.b }], tls: { caCertificate: ${JSON.stringify(g.root.certPem)} } }`,
            /1 problem in the LibvirtLiveMigration cell1:\n {2}- nodes\[0\]\.tls\.serverCertificate: \(host a\) does not cover 192\.0\.2\.99/,
        ],
    ])("%s, known only at apply time, fails with the message the plain value gets", async (_what, over, late, expected) => {
        const args = plainArgs(over);
        // the late programs leave out what plainArgs adds beyond the one bad value
        const { plainError, stderr, status } = await lateFailure({ nodes: args.nodes.map((n) => ({ host: n.host, tls: n.tls })), tls: { caCertificate: g.root.certPem } }, late);
        expect(plainError).toMatch(expected);
        expect(status).not.toBe(0);
        expect(stderr).toContain(plainError);
        expect(stderr).not.toContain("error serializing property");
        expect(stderr).not.toContain(g.tls.b.serverKey.split("\n")[1]);
    });
});
