/**
 * Drift of a libvirt TLS cell on two lab hosts with real libvirtd 9: what the drift
 * check (tools/check.ts) reports when libvirtd was restarted by hand without
 * listening, or a managed setting was edited, and what repair brings back, seen as
 * `virsh -c qemu+tls://PEER/system` from the other node.
 */
import { declareStack, rawConfigFromRuntime } from "../../core/config/stack";
import { sections } from "../../components/registry";
import { checkCommands, CheckOptions, exitCode, repairCommands } from "../../tools/check";
import { Lab, labDescribe, startLab } from "../lab/lab";
import { Harness, labCheckSession, labStackConfig } from "../lab/harness";
import { GroupPki, groupPki } from "./fixtures";
import { prepareComputeNode, stopLibvirt } from "./labLibvirt";

const HOSTS = ["h1", "h2"];
const program = () => declareStack(rawConfigFromRuntime(), sections);

labDescribe("libvirt drift: check and repair (lab: h1, h2 with libvirtd 9)", () => {
    let lab: Lab;
    let pki: GroupPki;
    let harness: Harness;
    let options: ReturnType<typeof labStackConfig>;
    let checkOpts: CheckOptions;
    const commands = () => harness.declared(program, options);
    /** h1 reaching h2's libvirtd over TLS, as nova would. */
    const reaches = async () => (await lab.host("h1").exec(`timeout 20 virsh -c qemu+tls://${lab.host("h2").address}/system hostname`)).stdout.trim() === "h2";

    beforeAll(async () => {
        lab = await startLab({ hosts: HOSTS });
        pki = groupPki(lab.hosts.map((h) => ({ name: h.name, names: [h.name, h.address] })), `${lab.dir}/pki`);
        await Promise.all(lab.hosts.map(prepareComputeNode));
        options = labStackConfig(lab, {
            libvirt: [
                {
                    name: "cell",
                    transport: "tls",
                    tls: { caCertificate: pki.root.certPem },
                    nova: { release: "2023.1" },
                    nodes: HOSTS.map((h) => ({ host: h, tls: { serverCertificate: pki.tls[h].serverCertificate, serverKey: `${h}-server-key`, clientCertificate: pki.tls[h].clientCertificate, clientKey: `${h}-client-key` } })),
                },
            ],
        });
        const secrets = JSON.parse(options.config["hostwright:secrets"]);
        for (const h of HOSTS) Object.assign(secrets, { [`${h}-server-key`]: pki.tls[h].serverKey, [`${h}-client-key`]: pki.tls[h].clientKey });
        options.config["hostwright:secrets"] = JSON.stringify(secrets);
        harness = new Harness(lab, `${lab.dir}/libvirt-drift-state.json`);
        checkOpts = { session: labCheckSession(lab) };
        const up = await harness.apply(program, options);
        if (!up.ok) throw new Error(up.error);
    }, 240_000);

    afterAll(async () => {
        if (lab) await Promise.all(lab.hosts.map(stopLibvirt));
        await lab?.down();
    }, 120_000);

    it("as applied: h1 reaches h2 over TLS, the check is clean", async () => {
        expect(await reaches()).toBe(true);
        expect(exitCode(await checkCommands(await commands(), checkOpts))).toBe(0);
    }, 120_000);

    it("libvirtd restarted by hand without --listen: named (exit 2); repair restarts it listening; h1 reaches h2 again", async () => {
        await lab.host("h2").exec("service libvirtd stop; libvirtd --daemon");
        expect(await reaches()).toBe(false);
        const cmds = await commands();
        const report = await checkCommands(cmds, checkOpts);
        expect(exitCode(report)).toBe(2);
        const h2 = report.hosts.find((h) => h.host.startsWith(lab.host("h2").address))!;
        expect(h2.steps.flatMap((s) => s.drift)).toEqual([
            "nothing listens on port 16514 (tls) on h2: libvirtd restarted without listening?",
            expect.stringMatching(/^libvirtd runs without --listen \(pid \d+: libvirtd --daemon/),
        ]);
        const repaired = await repairCommands(cmds, report, checkOpts);
        expect(exitCode(repaired)).toBe(0);
        expect(await reaches()).toBe(true);
    }, 180_000);

    it("a managed setting edited in libvirtd.conf: the diff names it; repair puts it back and keeps the edit", async () => {
        await lab.host("h1").exec("sed -i 's/^listen_tls *=.*/listen_tls = 0/' /etc/libvirt/libvirtd.conf");
        const cmds = await commands();
        const report = await checkCommands(cmds, checkOpts);
        const h1 = report.hosts.find((h) => h.host.startsWith(lab.host("h1").address))!;
        const step = h1.steps.find((s) => s.drift.includes("/etc/libvirt/libvirtd.conf: managed settings differ"))!;
        expect(step.diffs.join("\n")).toMatch(/^-listen_tls = 0$/m);
        const repaired = await repairCommands(cmds, report, checkOpts);
        expect(exitCode(repaired)).toBe(0);
        expect((await lab.host("h1").exec("grep -c '^listen_tls = 0' /var/lib/hostwright/kept/*/libvirtd.conf.*")).stdout.trim()).toBe("1");
        expect(await reaches()).toBe(true);
    }, 180_000);
});
