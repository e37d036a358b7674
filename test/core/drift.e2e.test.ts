/**
 * Drift check and repair (tools/check.ts) against the example stack applied to lab
 * hosts prepared like real ones (test/lab/demo.ts): real h2o, Open vSwitch, libvirtd,
 * LXD, dhclient layouts. Drift is planted by hand on the hosts, as an operator or a
 * package would; the check must name it, repair must fix it and keep the hand edits.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { editedPathsOf, stagedFilesOf } from "../../core/step";
import { sh } from "../../core/shell";
import { checkCommands, CheckOptions, CheckReport, exitCode, formatReport, repairCommands } from "../../tools/check";
import { readStackFile, stackFilePath } from "../../tools/stackFile";
import { ApplyOptions, Harness, labCheckSession } from "../lab/harness";
import { BACKEND_HOST, demoConfig, DemoEnvironment, EXAMPLE_PASSPHRASE, loadProgram, OCSP_HOST, PROJECT, PROJECT_DIR, prepareHosts } from "../lab/demo";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";

labDescribe("drift check and repair (lab: the example stack on prepared hosts)", () => {
    let lab: Lab;
    let dir: string;
    let harness: Harness;
    let opts: ApplyOptions;
    let checkOpts: CheckOptions;

    async function must(host: LabHost, cmd: string): Promise<string> {
        const r = await host.exec(cmd, { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`${host.name}: ${cmd} -> ${r.code}: ${r.stderr}`);
        return r.stdout;
    }

    const commands = () => harness.declared(loadProgram(), opts);
    const check = async (): Promise<CheckReport> => checkCommands(await commands(), checkOpts);
    const stepOf = (report: CheckReport, host: string, name: RegExp) => report.hosts.find((h) => h.host === host)!.steps.find((s) => name.test(s.name))!;

    beforeAll(async () => {
        const file = readStackFile(stackFilePath(PROJECT_DIR, "example"), PROJECT, EXAMPLE_PASSPHRASE);
        const names = (JSON.parse(file.values["hostwright:inventory"]).hosts as Array<{ name: string }>).map((h) => h.name);
        lab = await startLab({ hosts: [...names, BACKEND_HOST, OCSP_HOST] });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hw-drift-"));
        const demo = demoConfig(file.values, lab, dir);
        const env: DemoEnvironment = { dir, trustFile: demo.trustFile, addresses: Object.fromEntries(lab.hosts.map((h) => [h.name, h.address])), vms: {}, collectors: {} };
        const invoke = await prepareHosts(lab, demo, env, () => undefined);
        opts = { project: PROJECT, stack: "example", config: demo.config, secretKeys: [...file.secretKeys], invoke };
        harness = new Harness(lab, path.join(dir, "state.json"));
        const inventory = JSON.parse(demo.config["hostwright:inventory"]).hosts as Array<{ name: string; address: string }>;
        checkOpts = {
            session: labCheckSession(lab),
            hostNames: Object.fromEntries(inventory.map((h) => [h.name, `${h.address}:22`])),
            secretTexts: file.secretTexts,
        };
    }, 300_000);

    afterAll(async () => {
        await lab?.down();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("before any apply: every step is 'not applied' (exit 2), in one SSH session per host", async () => {
        const report = await check();
        expect(report.hosts.map((h) => h.status)).toEqual(report.hosts.map(() => "drifted"));
        expect(report.hosts.flatMap((h) => h.steps.map((s) => s.status))).toEqual(report.hosts.flatMap((h) => h.steps.map(() => "not-applied")));
        expect(report.hosts.every((h) => h.sessions === 1)).toBe(true);
        // the LXD mesh's later steps and the libvirt peer checks embed what other steps
        // print (probes, trust tokens, node facts): not checkable before those ran
        expect(report.notChecked.length).toBeGreaterThan(0);
        expect(report.notChecked.filter((s) => !/^lxd-|-peers$/.test(s.name))).toEqual([]);
        expect(exitCode(report)).toBe(2);
    }, 120_000);

    it("after the apply: everything ok, exit 0", async () => {
        const up = await harness.apply(loadProgram(), opts);
        if (!up.ok) throw new Error(up.error);
        const t0 = Date.now();
        const report = await check();
        console.log(`drift e2e: check of ${report.hosts.length} hosts, ${report.totals.steps} steps in ${Date.now() - t0} ms`);
        expect(formatReport(report)).toMatch(/total: \d+ host\(s\), \d+ ok, 0 drifted, 0 unreachable, 0 with errors; 0 of \d+ step\(s\) drifted or not applied/);
        expect(report.notChecked).toEqual([]);
        expect(exitCode(report)).toBe(0);
    }, 300_000);

    it("names each planted drift precisely, exits 2; repair fixes it, keeps the hand edits, and a second check is clean", async () => {
        const cmds = await commands();
        const proxy1 = lab.host("proxy1");
        const compute1 = lab.host("compute1");
        const lxd1 = lab.host("lxd1");
        const frontStep = cmds.find((c) => c.name.startsWith("front") && String(c.inputs.stdin).includes("/etc/h2o/"))!;
        const conf = stagedFilesOf(String(frontStep.inputs.stdin)).find((f) => f.path.endsWith("h2o.conf"))!.path;
        const chain = stagedFilesOf(String(frontStep.inputs.stdin)).find((f) => f.path.endsWith(".chain.pem"))!.path;
        const nova = cmds.flatMap((c) => (c.inputs.connection.host === compute1.address ? editedPathsOf(String(c.inputs.stdin)) : [])).find((p) => p.endsWith("nova.conf"))!;
        // an operator's edit, a mode change, a package rewriting resolv.conf, a managed key changed by hand
        await must(proxy1, sh`sed -i 's/^max-connections:.*/max-connections: 7/' ${conf} && chmod 0666 ${chain}`);
        await must(lxd1, "printf 'nameserver 192.0.2.53\\n' > /etc/resolv.conf");
        const novaBefore = await must(compute1, sh`cat ${nova}`);
        const managedKey = /^(live_migration_\w+|block_migration_flag)\s*=.*$/m.exec(novaBefore)![0];
        await must(compute1, sh`sed -i ${`s/^${managedKey.split("=")[0].trim()}\\s*=.*/${managedKey.split("=")[0].trim()} = changed_by_hand/`} ${nova}`);

        const drifted = await check();
        expect(exitCode(drifted)).toBe(2);
        const front = drifted.hosts.find((h) => h.host === "proxy1")!.steps.find((s) => s.urn === frontStep.urn)!;
        expect(front.status).toBe("drifted");
        expect(front.drift).toEqual(expect.arrayContaining([`${conf}: content differs`, `${chain}: mode and owner are 666 root root, declared 644 root root`]));
        expect(front.diffs.join("\n")).toMatch(/^-max-connections: 7$/m);
        const resolv = stepOf(drifted, "lxd1", /./);
        expect(drifted.hosts.find((h) => h.host === "lxd1")!.steps.flatMap((s) => s.drift)).toContain("/etc/resolv.conf: content differs");
        expect(resolv).toBeDefined();
        const novaDrift = drifted.hosts.find((h) => h.host === "compute1")!.steps.find((s) => s.drift.includes(`${nova}: managed settings differ`))!;
        expect(novaDrift.diffs.join("\n")).toMatch(/= changed_by_hand$/m);
        // the private key never travels back
        expect(JSON.stringify(drifted)).not.toMatch(/PRIVATE KEY/);
        expect(drifted.replaceCommand).toContain(`--replace '${frontStep.urn}'`);

        const repaired = await repairCommands(cmds, drifted, checkOpts);
        expect(exitCode(repaired)).toBe(0);
        expect(repaired.repaired).toContain(frontStep.urn);
        // the operator's version of h2o.conf and of resolv.conf are kept on their hosts
        expect(await must(proxy1, "grep -l 'max-connections: 7' /var/lib/hostwright/kept/*/h2o.conf.*")).toMatch(/h2o\.conf\./);
        expect(await must(lxd1, "cat /var/lib/hostwright/kept/*/resolv.conf.*")).toBe("nameserver 192.0.2.53\n");
        expect(await must(compute1, sh`grep -c changed_by_hand ${nova} || true`)).toBe("0\n");
        expect(exitCode(await check())).toBe(0);
    }, 300_000);

    it("a host that does not answer is 'unreachable' without delaying the others (exit 1)", async () => {
        const lxd2 = lab.host("lxd2");
        // no reply at all (the link is down): the connection waits for its timeout
        await must(lxd2, "ip link set eth0 down");
        try {
            const t0 = Date.now();
            const report = await check();
            const took = Date.now() - t0;
            const down = report.hosts.find((h) => h.host === "lxd2")!;
            expect(down.status).toBe("unreachable");
            expect(down.error).toMatch(/timed out|No route|unreachable/i);
            for (const h of report.hosts.filter((x) => x.host !== "lxd2")) {
                // lxd1's remote to lxd2 is as broken as lxd2 itself: said, and nothing else
                const drift = h.steps.flatMap((st) => st.drift);
                // (it waits for that link up to the mesh's link timeout); the other hosts do not wait
                if (h.host === "lxd1") expect(drift).toEqual([expect.stringMatching(/^remote lxd2: cannot reach lxd2: /)]);
                else {
                    expect(h.status).toBe("ok");
                    expect(h.durationMs).toBeLessThan(took - 3_000);
                }
            }
            expect(exitCode(report)).toBe(1);
        } finally {
            await must(lxd2, "ip link set eth0 up");
        }
    }, 120_000);

    it("destroy still restores every file (the kept hand edits stay)", async () => {
        const down = await harness.destroy();
        if (!down.ok) throw new Error(down.error);
        expect(await must(lab.host("lxd1"), "ls /var/lib/hostwright/steps 2>/dev/null | wc -l; ls /var/lib/hostwright/kept/*/ | grep -c resolv.conf")).toBe("0\n1\n");
    }, 300_000);
});
