import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { ValidationError } from "../../core/errors";
import { declareStack } from "../../core/config/stack";
import { sections } from "../../components/registry";
import { LibvirtLiveMigration } from "../../components/libvirt/component";
import { groupPki, tlsArgs } from "./fixtures";
import { withoutLibraries } from "../../core/library";

const g = groupPki([
    { name: "a", names: ["a.example.test"] },
    { name: "b", names: ["b.example.test"] },
]);

const SAME_UUID = "0be258c5-e2e5-4e64-8731-cb5fe78b9fc0";
/** What the data-plane steps "printed" (the peer checks have not run). */
function dataPlaneState(o: { uuid?: Record<string, string>; features?: Record<string, string> }) {
    return (_type: string, name: string) => {
        const m = /^cell1-(\w+)-dataplane$/.exec(name);
        if (!m) return undefined;
        const n = m[1];
        const values = {
            hostUuid: o.uuid?.[n] ?? (n === "a" ? SAME_UUID : "a3379adc-3c47-49a1-8a13-6b130d5dce15"),
            "cpu.source": "capabilities",
            "cpu.vendor": "AMD",
            "cpu.model": "EPYC",
            "cpu.features": o.features?.[n] ?? "sse2 avx2",
            addresses: n === "a" ? "10.0.0.1 127.0.0.1" : "10.0.0.2 127.0.0.1",
            dataPort: "49160",
        };
        return { stdout: `hostwright[${name}]: data plane\n${Object.entries(values).map(([k, v]) => `HOSTWRIGHT_OUTPUT ${k}=${v}`).join("\n")}`, stderr: "" };
    };
}

describe("LibvirtLiveMigration under Pulumi mocks", () => {
    it("declares one configuration step per node, then a data-plane step and a peer check per node after all of them", async () => {
        const rec = await recordProgram(() => {
            const group = new LibvirtLiveMigration("cell1", tlsArgs(g, { nova: { release: "2023.1" } }));
            return { nodes: group.nodes, commands: group.commands, warnings: group.warnings };
        });
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(["cell1-a-libvirt", "cell1-b-libvirt", "cell1-a-dataplane", "cell1-b-dataplane", "cell1-a-peers", "cell1-b-peers"]);
        const [a, b, planeA, planeB, checkA, checkB] = withoutLibraries(rec.commands);
        expect(planeA.dependsOn).toEqual(expect.arrayContaining([a.urn, b.urn]));
        expect(checkA.dependsOn).toEqual(expect.arrayContaining([a.urn, b.urn, planeA.urn, planeB.urn]));
        expect(checkB.dependsOn).toEqual(expect.arrayContaining([a.urn, b.urn, planeA.urn, planeB.urn]));
        expect(planeA.inputs.stdin).toContain("hostwright-migration-port-listener");
        const component = rec.resources.find((r) => r.type === "hostwright:libvirt:LiveMigration")!;
        expect(component.name).toBe("cell1");
        expect(a.parentUrn).toBe(component.urn);
        // keys travel only in the secret stdin, never in clear inputs
        expect(a.secretInputs).toContain("stdin");
        expect(a.inputs.stdin).toContain(g.tls.a.serverKey.trim());
        for (const c of withoutLibraries(rec.commands)) {
            for (const [k, v] of Object.entries(c.inputs)) if (!c.secretInputs.includes(k)) expect(JSON.stringify(v)).not.toContain("PRIVATE KEY");
        }
        // the peer check is rendered from the data-plane facts: unknown in a preview
        const recorded = await recordProgram(
            () => {
                const group = new LibvirtLiveMigration("cell1", tlsArgs(g, { nova: { release: "2023.1" } }));
                return { pairs: group.pairs };
            },
            { preview: false, commandState: dataPlaneState({}) },
        );
        expect(withoutLibraries(recorded.commands).find((c) => c.name === "cell1-a-peers")!.inputs.stdin).toContain("hw_check_peer b qemu+tls://b.example.test/system");
        // the fingerprint covers the keys
        expect(withoutLibraries(recorded.commands).find((c) => c.name === "cell1-a-peers")!.secretInputs).toContain("stdin");
        expect(planeA.secretInputs).toContain("stdin");
        expect(checkA.inputs.stdin).toBe(UNKNOWN_PLACEHOLDER);
        expect(rec.outputs.commands).toEqual({
            checkPeer: ["virsh -c 'qemu+tls://a.example.test/system' uri", "virsh -c 'qemu+tls://b.example.test/system' uri"],
            migrate: "openstack server migrate --live-migration --block-migration --host TARGET_HOST SERVER",
            progress: "virsh domjobinfo DOMAIN   # on the source node",
        });
    });

    it("renders each node's check from every node's data-plane facts: data ports and CPU per pair", async () => {
        const rec = await recordProgram(
            () => {
                const group = new LibvirtLiveMigration("cell1", tlsArgs(g));
                return { pairs: group.pairs, nodes: group.nodes, common: group.cpuCommonFeatures };
            },
            { preview: false, commandState: dataPlaneState({ uuid: { a: SAME_UUID, b: SAME_UUID }, features: { a: "sse2 avx2", b: "sse2" } }) },
        );
        const checkA: string = withoutLibraries(rec.commands).find((c) => c.name === "cell1-a-peers")!.inputs.stdin;
        expect(checkA).toContain("hw_data b b.example.test 49160");
        expect(checkA).toMatch(/hw_output cpu\.b 'incompatible: b lacks 1 CPU feature\(s\) of a \(avx2\)/);
        expect(withoutLibraries(rec.commands).find((c) => c.name === "cell1-b-peers")!.inputs.stdin).toContain("hw_output cpu.a ok");
        expect((rec.outputs.nodes as any)[0]).toMatchObject({ hostUuid: SAME_UUID, cpu: { source: "capabilities", vendor: "AMD", model: "EPYC" }, dataPort: 49160 });
        expect(rec.outputs.common).toEqual(["sse2"]);
    });

    it("legacy nova gets the seed's command; verifyPeers false declares no check", async () => {
        const rec = await recordProgram(() => {
            const group = new LibvirtLiveMigration("old", tlsArgs(g, { nova: { release: "liberty" }, verifyPeers: false }));
            return { commands: group.commands };
        });
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(["old-a-libvirt", "old-b-libvirt"]);
        expect((rec.outputs.commands as { migrate: string }).migrate).toBe("nova live-migration --block-migrate SERVER TARGET_HOST");
    });

    it("bad TLS material: one ValidationError listing every problem, nothing declared", async () => {
        const args = tlsArgs(g);
        args.nodes[1] = { ...args.nodes[1], migrationAddress: "10.1.1.1", tls: { ...args.nodes[1].tls!, serverKey: g.tls.a.serverKey } };
        let declared = -1;
        const attempt = recordProgram(() => {
            try {
                new LibvirtLiveMigration("bad", args);
            } finally {
                declared = 0;
            }
        });
        await expect(attempt).rejects.toThrow(ValidationError);
        await expect(attempt).rejects.toThrow(/2 problems in the LibvirtLiveMigration bad[\s\S]*nodes\[1\]\.tls\.serverCertificate: \(host b\) does not cover 10\.1\.1\.1[\s\S]*nodes\[1\]\.tls\.serverKey: \(host b\) does not match/);
        expect(declared).toBe(0);
    });
});

describe("the hostwright:libvirt stack section", () => {
    const inventory = {
        defaults: { privateKey: "ssh" },
        hosts: [
            { name: "compute-a", address: "10.0.0.11", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
            { name: "compute-b", address: "10.0.0.12", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
        ],
    };
    const pki = groupPki([
        { name: "compute-a", names: ["compute-a.example.test", "10.0.0.11"] },
        { name: "compute-b", names: ["compute-b.example.test", "10.0.0.12"] },
    ]);
    const secrets = {
        ssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n",
        "compute-a-libvirt-server-key": pki.tls["compute-a"].serverKey,
        "compute-a-libvirt-client-key": pki.tls["compute-a"].clientKey,
        "compute-b-libvirt-server-key": pki.tls["compute-b"].serverKey,
        "compute-b-libvirt-client-key": pki.tls["compute-b"].clientKey,
    };
    const node = (name: string) => ({
        host: name,
        tls: { serverCertificate: pki.tls[name].serverCertificate, serverKey: `${name}-libvirt-server-key`, clientCertificate: pki.tls[name].clientCertificate, clientKey: `${name}-libvirt-client-key` },
    });
    const section = [{ name: "cell1", transport: "tls", tls: { caCertificate: pki.root.certPem }, nova: { release: "2024.1" }, nodes: [node("compute-a"), node("compute-b")] }];
    const config = (libvirt: unknown, s: Record<string, string> = secrets) => ({
        config: { "hostwright:inventory": JSON.stringify(inventory), "hostwright:secrets": JSON.stringify(s), "hostwright:libvirt": JSON.stringify(libvirt) },
        secretKeys: ["hostwright:secrets"],
    });

    it("is registered and declares the group from the config, keys from hostwright:secrets", async () => {
        expect(sections.map((s) => s.key)).toContain("libvirt");
        const rec = await recordProgram(() => declareStack({ values: config(section).config, secretKeys: new Set(["hostwright:secrets"]) }, sections), config(section));
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(["cell1-compute-a-libvirt", "cell1-compute-b-libvirt", "cell1-compute-a-dataplane", "cell1-compute-b-dataplane", "cell1-compute-a-peers", "cell1-compute-b-peers"]);
        expect(withoutLibraries(rec.commands)[0].inputs.stdin).toContain(pki.tls["compute-a"].serverKey.trim());
        expect(withoutLibraries(rec.commands)[0].inputs.connection.host).toBe("10.0.0.11");
    });

    it.each<[string, unknown, Record<string, string> | undefined, string[]]>([
        ["a missing secret is reported once", section, { ...secrets, "compute-b-libvirt-client-key": undefined as unknown as string }, ["hostwright:libvirt[0].nodes[1].tls.clientKey: secret \"compute-b-libvirt-client-key\" is not in hostwright:secrets"]],
        ["an unknown host", [{ ...section[0], nodes: [node("compute-a"), { ...node("compute-b"), host: "compute-z" }] }], undefined, ["hostwright:libvirt[0].nodes[1].host: host \"compute-z\" is not in hostwright:inventory"]],
        ["a host in two groups", [section[0], { ...section[0], name: "cell2" }], undefined, ["hostwright:libvirt[1].nodes[0].host: host compute-a is already in group cell1", "hostwright:libvirt[1].nodes[1].host: host compute-b is already in group cell1"]],
        ["swapped keys, caught by the component's checks", section, { ...secrets, "compute-a-libvirt-server-key": secrets["compute-b-libvirt-server-key"] }, ["hostwright:libvirt[0].nodes[0].tls.serverKey: (host compute-a) does not match the server certificate"]],
        ["tcp without auth", [{ ...section[0], transport: "tcp", auth: "none", tls: undefined, nodes: [{ host: "compute-a" }, { host: "compute-b" }] }], undefined, ["hostwright:libvirt[0].auth: transport tcp with auth \"none\""]],
        ["a key in the clear", [{ ...section[0], sasl: { password: "-----BEGIN PRIVATE KEY-----" } }], undefined, ["hostwright:libvirt[0].sasl.password: must name an entry of hostwright:secrets"]],
        ["unknown keys", [{ ...section[0], trasnport: "tls" }], undefined, ['hostwright:libvirt[0]: unknown key "trasnport"']],
    ])("%s", async (_name, value, s, messages) => {
        const { config: c, secretKeys } = config(value, s ?? secrets);
        const attempt = recordProgram(() => declareStack({ values: c, secretKeys: new Set(secretKeys) }, sections), { config: c, secretKeys });
        await expect(attempt).rejects.toThrow(ValidationError);
        const error = await attempt.catch((e: ValidationError) => e);
        for (const m of messages) expect((error as ValidationError).message).toContain(m);
    });
});
