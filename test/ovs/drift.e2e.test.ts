/**
 * Drift of an OVS port mirror on real Open vSwitch 3.1 (userspace) on a lab host:
 * what the drift check (tools/check.ts) reports when the mirror, its selection or its
 * capture link changed behind hostwright's back, and what repair brings back, seen
 * as mirrored traffic on the capture interface.
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { sh } from "../../core/shell";
import { OvsPortMirror } from "../../components/ovs/component";
import { checkCommands, CheckOptions, exitCode, repairCommands } from "../../tools/check";
import { Harness, labCheckSession } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { addVm, captureIcmp, must, ping, startOvs, stopOvs, Vm } from "./ovs-lab";

const vm1: Vm = { name: "vm1", port: "qvobee51cf7-fb", address: "10.10.0.1" };
const vm2: Vm = { name: "vm2", port: "qvo0c0ffee0-12", address: "10.10.0.2" };
const CAPTURE = "hwdrift0";

labDescribe("OVS mirror drift: check and repair (lab: compute1)", () => {
    let lab: Lab;
    let node: LabHost;
    let harness: Harness;
    let workDir: string;
    let checkOpts: CheckOptions;
    const program = () => () => {
        new OvsPortMirror("web", { host: node.inventory(), ports: [vm1.port, vm2.port], capture: { name: CAPTURE, kind: "internal" } });
    };
    const commands = () => harness.declared(program());
    /** vm1 -> vm2 pings as the capture interface sees them. */
    const mirrored = async () => (await captureIcmp(node, CAPTURE, () => ping(node, vm1, vm2.address))).filter((l) => l.includes("10.10.0.1 > 10.10.0.2")).length;

    beforeAll(async () => {
        lab = await startLab({ hosts: ["compute1"] });
        node = lab.host("compute1");
        await startOvs(node);
        for (const vm of [vm1, vm2]) await addVm(node, vm);
        workDir = mkdtempSync(join(tmpdir(), "hw-ovs-drift-"));
        harness = new Harness(lab, join(workDir, "state.json"));
        checkOpts = { session: labCheckSession(lab) };
        const up = await harness.apply(program());
        if (!up.ok) throw new Error(up.error);
    }, 120_000);

    afterAll(async () => {
        if (workDir) rmSync(workDir, { recursive: true, force: true });
        try {
            if (node) await stopOvs(node);
        } finally {
            await lab?.down();
        }
    });

    it("as applied: ok, and the capture interface sees vm1's traffic", async () => {
        const report = await checkCommands(await commands(), checkOpts);
        expect(exitCode(report)).toBe(0);
        expect(await mirrored()).toBeGreaterThan(0);
    }, 60_000);

    it.each([
        ["the mirror deleted", `ovs-vsctl -- --id=@m get Mirror hostwright-web -- remove Bridge br-int mirrors @m`, "mirror hostwright-web on br-int: 0 mirrors of this step on the node, 1 declared"],
        ["a port removed from its selection", sh`ovs-vsctl -- --id=@p get Port ${vm2.port} -- remove Mirror hostwright-web select_src_port @p`, "mirror hostwright-web on br-int: the mirror's select_src_port is not the declared ports (a port removed, or a VM's port plugged again)"],
        ["the capture link down", sh`ip link set dev ${CAPTURE} down`, `mirror hostwright-web on br-int: capture interface ${CAPTURE} is missing or down`],
    ])("%s: the check names it (exit 2); repair brings the mirrored traffic back; the next check is clean", async (_label, plant, drift) => {
        await must(node, plant);
        const cmds = await commands();
        const report = await checkCommands(cmds, checkOpts);
        expect(exitCode(report)).toBe(2);
        expect(report.hosts[0].steps.flatMap((s) => s.drift)).toEqual([drift]);
        const repaired = await repairCommands(cmds, report, checkOpts);
        expect(exitCode(repaired)).toBe(0);
        expect(await mirrored()).toBeGreaterThan(0);
    }, 90_000);
});
