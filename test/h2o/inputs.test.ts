/**
 * H2oReverseProxy fed by other resources (issue 18): a host address from an
 * `openstack.compute.Instance`, a chain and key from `@pulumi/tls`, each mocked with
 * Pulumi's official mocks. Late arguments must declare exactly what plain ones do,
 * leave the step unknown during a preview, and fail with the same message.
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as tls from "@pulumi/tls";
import { H2oReverseProxy } from "../../components/h2o/component";
import type { H2oReverseProxyArgs, H2oReverseProxyInputs } from "../../components/h2o/args";
import type { Host } from "../../core/host";
import { spawnSync } from "child_process";
import { writeFileSync } from "fs";
import { join } from "path";
import { recordProgram, RecordOptions, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { makeTestPki, TestPki } from "./pkiFixture";

let p: TestPki;
beforeAll(() => {
    p = makeTestPki();
});
afterAll(() => p.cleanup());

const ROOT = join(__dirname, "../..");
const VM_ADDRESS = "192.0.2.77";
const host: Host = { name: "web1", address: VM_ADDRESS, privateKey: pulumi.secret("SSH-KEY"), hostKey: "ssh-ed25519 AAAA", init: "sysv" };

function plainArgs(chain = p.inter.certPem + p.leaf.certPem): H2oReverseProxyArgs {
    return {
        host,
        listeners: [
            { name: "http", port: 80 },
            { name: "https", port: 443, tls: { certificateChain: chain, privateKey: pulumi.secret(p.leaf.keyPem), ocsp: { rootCertificate: p.root.certPem } } },
        ],
        virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] }],
    };
}

/** The same estate with the host's address from a VM and the chain and key from @pulumi/tls. */
function lateArgs(): H2oReverseProxyInputs {
    const vm = new openstack.compute.Instance("web1-vm", { flavorName: "m1.small", imageName: "debian-12" });
    const key = new tls.PrivateKey("www-key", { algorithm: "RSA", rsaBits: 2048 });
    const request = new tls.CertRequest("www-csr", { privateKeyPem: key.privateKeyPem, subject: { commonName: "www.example.test" } });
    const leaf = new tls.LocallySignedCert("www", {
        certRequestPem: request.certRequestPem,
        caCertPem: p.inter.certPem,
        caPrivateKeyPem: pulumi.secret("CA-KEY"),
        validityPeriodHours: 24,
        allowedUses: ["server_auth"],
    });
    const plain = plainArgs();
    return {
        ...plain,
        host: { ...host, address: vm.accessIpV4 },
        listeners: [plain.listeners[0], { ...plain.listeners[1], tls: { ...plain.listeners[1].tls!, certificateChain: pulumi.interpolate`${p.inter.certPem}${leaf.certPem}`, privateKey: key.privateKeyPem } }],
    };
}

/** What the VM and the certificate report after a real apply; nothing during a preview. */
function providers(leafPem: () => string, known = true): RecordOptions["resourceState"] {
    return (type) => {
        if (!known) return undefined;
        if (type === "openstack:compute/instance:Instance") return { accessIpV4: VM_ADDRESS };
        if (type === "tls:index/privateKey:PrivateKey") return { privateKeyPem: p.leaf.keyPem };
        if (type === "tls:index/certRequest:CertRequest") return { certRequestPem: "CSR" };
        if (type === "tls:index/locallySignedCert:LocallySignedCert") return { certPem: leafPem() };
        return undefined;
    };
}

const outputsOf = (proxy: H2oReverseProxy) => ({ chainOrder: proxy.chainOrder, checkCommands: proxy.checkCommands, configPath: proxy.configPath, stapling: proxy.stapling, steps: proxy.steps });

describe("H2oReverseProxy with inputs from other resources", () => {
    it("declares the very step plain arguments declare, once the VM and the certificate are known", async () => {
        const plain = await recordProgram(() => outputsOf(new H2oReverseProxy("front", plainArgs())), { preview: false, printWarnings: false });
        const late = await recordProgram(() => outputsOf(new H2oReverseProxy("front", lateArgs())), { preview: false, printWarnings: false, resourceState: providers(() => p.leaf.certPem) });
        // the host's library step first (core/library.ts), declared the same way
        const [libA, a] = plain.commands;
        const [libB, b] = late.commands;
        expect(late.commands.map((c) => c.name)).toEqual(["hostwright-lib-web1", "front-proxy"]);
        expect(libB.inputs.connection.host).toBe(VM_ADDRESS);
        expect(libB.inputs.stdin).toEqual(libA.inputs.stdin);
        expect(b.inputs.connection.host).toBe(VM_ADDRESS);
        for (const input of ["stdin", "create", "update", "delete", "triggers"]) expect(b.inputs[input]).toEqual(a.inputs[input]);
        // The key travels only in the secret stdin; the outputs stay readable.
        expect(b.secretInputs).toContain("stdin");
        expect(b.inputs.delete).not.toContain(p.leaf.keyPem.split("\n")[1]);
        expect(late.outputs).toEqual(plain.outputs);
        expect(late.outputs.chainOrder).toEqual({ https: ["CN=www.example.test (given as #2)", "CN=Hostwright Test Intermediate (given as #1)"] });
        expect(late.outputs.checkCommands).toEqual({ https: expect.stringContaining(`${VM_ADDRESS}:443`) });
    });

    it("during a preview with the VM not created yet, declares the step with unknown content instead of failing", async () => {
        const rec = await recordProgram(() => outputsOf(new H2oReverseProxy("front", lateArgs())), { preview: true, printWarnings: false, resourceState: providers(() => p.leaf.certPem, false) });
        expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-web1", "front-proxy"]);
        const [, step] = rec.commands;
        expect(step.inputs.stdin).toBe(UNKNOWN_PLACEHOLDER);
        expect(step.inputs.connection?.host).not.toBe(VM_ADDRESS);
        expect(rec.outputs.chainOrder).toBe(UNKNOWN_PLACEHOLDER);
        // The step's address is known: npm run check and pulumi up --replace can name it.
        expect(rec.outputs.steps).toEqual([expect.objectContaining({ name: "front-proxy", host: "web1" })]);
    });

    it("a bad value known only at apply time fails with the message the plain value gets", async () => {
        const plainError = await recordProgram(() => outputsOf(new H2oReverseProxy("front", plainArgs(p.inter.certPem + p.expired.certPem))), { preview: false, printWarnings: false }).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(plainError?.message).toMatch(/problems? in the h2o reverse proxy front:[\s\S]*listeners\[1\]\.tls\.certificateChain: .*expired/);
        // Late, the error rejects every Output built on the value (the step's inputs, the
        // component's outputs): the program ends as `pulumi up` ends it, so run it on its own.
        const program = join(p.dir, "late-invalid.ts");
        writeFileSync(
            program,
            `import * as pulumi from ${JSON.stringify(require.resolve("@pulumi/pulumi"))};
import { H2oReverseProxy } from ${JSON.stringify(join(ROOT, "components/h2o/component"))};
pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "hostwright", "inputs", false);
new H2oReverseProxy("front", {
    host: { name: "web1", address: "${VM_ADDRESS}", privateKey: pulumi.secret("SSH-KEY"), hostKey: "ssh-ed25519 AAAA", init: "sysv" },
    listeners: [
        { name: "http", port: 80 },
        { name: "https", port: 443, tls: { certificateChain: pulumi.output(${JSON.stringify(p.inter.certPem + p.expired.certPem)}), privateKey: pulumi.secret(${JSON.stringify(p.leaf.keyPem)}), ocsp: { rootCertificate: ${JSON.stringify(p.root.certPem)} } } },
    ],
    virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] }],
});
`,
        );
        const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [program], { encoding: "utf8", cwd: ROOT });
        expect(run.status).not.toBe(0);
        expect(run.stderr).toContain(plainError!.message);
        expect(run.stderr).not.toContain("error serializing property");
    });
});
