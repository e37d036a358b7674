/**
 * OvsPortMirror against real Open vSwitch 3.1 (userspace datapath) on a lab host
 * "compute1" with three "VMs" on br-int, applied through the `hostwright:ovs` stack
 * section with the lab harness (what the real program declares, over real SSH).
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { declareStack } from "../../core/config/stack";
import { sh } from "../../core/shell";
import { ovsSection } from "../../components/ovs/section";
import { LOOKUP } from "../../components/ovs/openstack";
import { ApplyResult, Harness, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { addCollector, addVm, captureIcmp, must, ovsSnapshot, ping, removeCollector, startOvs, stopOvs, tcpdumpWhile, Vm } from "./ovs-lab";

// vm1 is on a VXLAN-sized network: the capture interface takes its MTU.
const vm1: Vm = { name: "vm1", port: "qvobee51cf7-fb", address: "10.10.0.1", mtu: 1450 };
const vm2: Vm = { name: "vm2", port: "qvo0c0ffee0-12", address: "10.10.0.2" };
const vm3: Vm = { name: "vm3", port: "qvoa1b2c3d4-e5", address: "10.10.0.3" };

/** An operator's mirror that was on br-int before hostwright came: vm3's traffic to an internal port. */
const FOREIGN = `ovs-vsctl -- --id=@s get Port ${vm3.port} \\
  -- --id=@i create Interface name=opcap type=internal -- --id=@p create Port name=opcap interfaces=@i -- add Bridge br-int ports @p \\
  -- --id=@m create Mirror name=operator-mirror select-src-port=@s output-port=@p -- add Bridge br-int mirrors @m >/dev/null
  ip link set opcap up`;

labDescribe("OVS port mirror on userspace Open vSwitch (lab: compute1 with vm1..vm3)", () => {
    let lab: Lab;
    let node: LabHost;
    let harness: Harness;
    let workDir: string;
    let before: string;
    let operatorMirror: string;

    const program = (mirrors: unknown[], hosts = ["compute1"]) => {
        const { config, secretKeys } = labStackConfig(lab, { ovs: mirrors }, hosts);
        return () => declareStack({ values: config, secretKeys: new Set(secretKeys) }, [ovsSection]);
    };
    const web = (over: Record<string, unknown> = {}) => ({ name: "web", host: "compute1", ports: [vm1.port], ...over });
    /** Names of the rows of a table, sorted; only those hostwright marked with `owned`. */
    const names = async (table: string, owned = false) =>
        (await must(node, `ovs-vsctl --format=csv --no-headings --columns=name find ${table} ${owned ? `'external_ids:hostwright-owner!=""'` : ""} | sort`)).split("\n").filter(Boolean);
    const ownedMirrors = () => names("Mirror", true);
    const mirrorOutputs = (outputs: Record<string, unknown>) => (outputs.ovs as Record<string, Record<string, unknown>>).web;

    beforeAll(async () => {
        const t0 = Date.now();
        lab = await startLab({ hosts: ["compute1", "compute2"] });
        node = lab.host("compute1");
        await Promise.all([startOvs(node), startOvs(lab.host("compute2"))]);
        for (const vm of [vm1, vm2, vm3]) await addVm(node, vm);
        await must(node, FOREIGN);
        expect(await ping(node, vm1, vm2.address)).toBe(true);
        before = await ovsSnapshot(node);
        operatorMirror = await must(node, `ovs-vsctl get Mirror operator-mirror _uuid`);
        expect(before).toMatch(/== Mirror\noperator-mirror,\{\},\[<qvoa1b2c3d4-e5>\],\[\],false,\[\],<opcap>\n/);
        workDir = mkdtempSync(join(tmpdir(), "hw-ovs-e2e-"));
        harness = new Harness(lab, join(workDir, "state.json"));
        console.log(`ovs e2e: lab, OVS and 3 VMs ready in ${Date.now() - t0} ms`);
    }, 60_000);

    afterAll(async () => {
        if (workDir) rmSync(workDir, { recursive: true, force: true });
        try {
            for (const host of lab?.hosts ?? []) await stopOvs(host);
        } finally {
            await lab?.down();
        }
    });

    it("apply appends the mirror; the capture interface sees vm1's traffic both ways and not vm3's", async () => {
        const t0 = Date.now();
        const res = await harness.apply(program([web()]));
        expect(res.error).toBeUndefined();
        console.log(`ovs e2e: first apply ${Date.now() - t0} ms`);
        const out = mirrorOutputs(res.outputs);
        // this kernel has no dummy driver: auto falls back to an OVS internal port
        expect(out).toMatchObject({ node: "compute1", bridge: "br-int", ports: [vm1.port], captureKind: "internal", status: "created" });
        expect(await must(node, `ovs-vsctl get Mirror ${out.mirrorId} name`)).toBe("hostwright-web\n");
        const capture = String(out.captureInterface);
        expect(capture.length).toBeLessThanOrEqual(15);
        expect(out.tcpdump).toBe(`tcpdump -ni ${capture} -w /tmp/${capture}.pcap`);
        expect(await must(node, sh`ip -o link show dev ${capture}`)).toMatch(/[<,]UP[,>].* mtu 1450 /);

        const seen = await captureIcmp(node, capture, async () => {
            await ping(node, vm1, vm2.address);
            await ping(node, vm3, vm2.address);
        });
        expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo request"))).toBe(true);
        expect(seen.some((l) => l.includes("10.10.0.2 > 10.10.0.1: ICMP echo reply"))).toBe(true);
        expect(seen.filter((l) => l.includes("10.10.0.3"))).toEqual([]);
        // the tcpdump output runs as given and writes a readable capture
        await tcpdumpWhile(node, `${out.tcpdump} icmp`, () => ping(node, vm1, vm2.address));
        expect(await must(node, sh`tcpdump -nr ${`/tmp/${capture}.pcap`} 2>/dev/null`)).toContain("10.10.0.1 > 10.10.0.2: ICMP echo request");
        // the operator's mirror is still on the bridge, next to ours
        expect(await names("Mirror")).toEqual(["hostwright-web", "operator-mirror"]);
        expect(await ownedMirrors()).toEqual(["hostwright-web"]);
    }, 60_000);

    it("a second apply runs nothing", async () => {
        const res = await harness.apply(program([web()]));
        expect(res.error).toBeUndefined();
        expect(res.operations).toEqual([]);
    }, 60_000);

    it("re-running the create converges: a VM port re-created (new row) is selected again", async () => {
        // Nova re-plugs a VM: same port name, new row; the mirror's weak reference to the old row is gone.
        await must(node, sh`ovs-vsctl del-port br-int ${vm1.port} -- add-port br-int ${vm1.port}`);
        expect(await must(node, `ovs-vsctl --bare --columns=select_src_port find Mirror name=hostwright-web`)).toBe("\n");
        // run as Pulumi re-runs a create it has (an update): it keeps the one claim the step holds
        const step = harness.state().resources.find((r) => r.name === "web-mirror")!;
        const rerun = await node.ssh(step.inputs.update, { input: step.inputs.stdin, timeoutMs: 60_000 });
        expect(rerun.code).toBe(0);
        expect(rerun.stdout).toContain("HOSTWRIGHT_OUTPUT status=updated");
        const capture = String(mirrorOutputs((await harness.apply(program([web()]))).outputs).captureInterface);
        const seen = await captureIcmp(node, capture, () => ping(node, vm1, vm2.address));
        expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo request"))).toBe(true);
        // and once more: nothing to fix
        const again = await node.ssh(step.inputs.update, { input: step.inputs.stdin, timeoutMs: 60_000 });
        expect(again.stdout).toContain("HOSTWRIGHT_OUTPUT status=unchanged");
        expect(await ownedMirrors()).toEqual(["hostwright-web"]);
    }, 60_000);

    it("ingress only, to a veth capture: vm1's requests are seen, the replies it receives are not", async () => {
        const res = await harness.apply(program([web({ direction: "ingress", capture: { kind: "veth", name: "webcap" } })]));
        expect(res.error).toBeUndefined();
        expect(res.operations.map((o) => `${o.op}:${o.reason}`)).toEqual(["create:replace", "delete:replace"]);
        // the old generation's undo leaves the new generation's objects alone
        expect(res.operations[1].stdout).toMatch(/superseded|still claimed by a later create/);
        expect(mirrorOutputs(res.outputs)).toMatchObject({ captureInterface: "webcap", captureKind: "veth", status: "updated" });
        expect(await must(node, `ip -o link show dev webcap`)).toMatch(/[<,]UP[,>].* mtu 1450 .*alias hostwright-owner=web-mirror-/);
        const seen = await captureIcmp(node, "webcap", async () => {
            await ping(node, vm1, vm2.address);
            await ping(node, vm2, vm1.address);
        });
        expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo request"))).toBe(true);
        expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo reply"))).toBe(true);
        expect(seen.filter((l) => l.includes("> 10.10.0.1:"))).toEqual([]);
        // the internal capture port of the first generation is gone; one mirror of ours
        expect(await ownedMirrors()).toEqual(["hostwright-web"]);
        expect(await names("Port", true)).toEqual([expect.stringMatching(/^hwp[0-9a-f]{8}$/)]);
    }, 60_000);

    it("egress only: vm1 receives requests and replies, its own sends are not mirrored", async () => {
        const res = await harness.apply(program([web({ direction: "egress", capture: { kind: "tap", name: "webtap" } })]));
        expect(res.error).toBeUndefined();
        const seen = await captureIcmp(node, "webtap", async () => {
            await ping(node, vm1, vm2.address);
            await ping(node, vm2, vm1.address);
        });
        expect(seen.some((l) => l.includes("10.10.0.2 > 10.10.0.1: ICMP echo reply"))).toBe(true);
        expect(seen.some((l) => l.includes("10.10.0.2 > 10.10.0.1: ICMP echo request"))).toBe(true);
        expect(seen.filter((l) => l.includes("10.10.0.1 >"))).toEqual([]);
        expect(await must(node, `ip -o link show | grep -c webcap || true`)).toBe("0\n");
    }, 60_000);

    it("a mirror found through OpenStack (mocked look-ups) lands on the VM's node and port", async () => {
        const asked: string[] = [];
        const invoke = (token: string, args: Record<string, any>) => {
            asked.push(token);
            if (token === LOOKUP.instance) return { id: args.id, networks: [{ uuid: "net-1", name: "private", port: "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a" }] };
            if (token === LOOKUP.port) return { bindings: [{ hostId: "compute1.cloud.example", vifType: "ovs", vifDetails: { ovs_hybrid_plug: "true" } }] };
            throw new Error(`unexpected look-up ${token}`);
        };
        const vmMirror = { name: "web", openstack: { instanceId: "9e319540-9a67-4563-9aad-132c64faa1b1" }, direction: "ingress", capture: { kind: "veth", name: "webcap" } };
        const res = await harness.apply(program([vmMirror]), { invoke });
        expect(res.error).toBeUndefined();
        expect(asked).toContain(LOOKUP.port);
        expect(mirrorOutputs(res.outputs)).toMatchObject({ node: "compute1", ports: ["qvobee51cf7-fb"], captureInterface: "webcap" });
        const seen = await captureIcmp(node, "webcap", () => ping(node, vm1, vm2.address));
        expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo request"))).toBe(true);
        expect(seen.filter((l) => l.includes("> 10.10.0.1:"))).toEqual([]);
    }, 60_000);

    it("a VM that Nova moved to another node: the mirror follows it and leaves the old node as it was", async () => {
        const compute2 = lab.host("compute2");
        const moved: Vm = { ...vm1, name: "vm1b", address: "10.10.0.11" };
        await addVm(compute2, moved);
        await addVm(compute2, { ...vm2, name: "vm2b", address: "10.10.0.12" });
        const before2 = await ovsSnapshot(compute2);
        const before1 = await ovsSnapshot(node); // holds the "web" mirror of the tests above
        const own = new Harness(lab, join(workDir, "migration.json"));
        let boundTo = "compute1.cloud.example";
        const invoke = (token: string, args: Record<string, any>) => {
            if (token === LOOKUP.port) return { id: args.portId, bindings: [{ hostId: boundTo, vifType: "ovs", vifDetails: { ovs_hybrid_plug: "true" } }] };
            throw new Error(`unexpected look-up ${token}`);
        };
        // "web" mirrors the same port on compute1: a second mirror of it must be allowed explicitly
        const vmMirror = [{ name: "follow", openstack: { portId: "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a" }, capture: { kind: "veth", name: "followcap" }, allowOverlappingMirrors: true }];
        const first = await own.apply(program(vmMirror, ["compute1", "compute2"]), { invoke });
        expect(first.error).toBeUndefined();
        // the step found by a look-up has its own library step (core/library.ts), which follows it
        const ops = (r: ApplyResult, library: boolean) => r.operations.filter((o) => o.resource.endsWith("-hostwright-lib") === library).map((o) => `${o.op}:${o.reason}@${o.hostName}`);
        expect(ops(first, false)).toEqual(["create:new@compute1"]);
        expect(ops(first, true)).toEqual(["create:new@compute1"]);
        const onCompute1 = await ovsSnapshot(node);

        boundTo = "compute2.cloud.example"; // live migration
        const second = await own.apply(program(vmMirror, ["compute1", "compute2"]), { invoke });
        expect(second.error).toBeUndefined();
        expect(ops(second, false)).toEqual(["create:replace@compute2", "delete:replace@compute1"]);
        expect(ops(second, true)).toEqual(["create:replace@compute2", "delete:replace@compute1"]);
        expect((second.outputs.ovs as any).follow.node).toBe("compute2");
        expect(onCompute1).not.toBe(before1);
        expect(await ovsSnapshot(node)).toBe(before1);
        const seen = await captureIcmp(compute2, "followcap", () => ping(compute2, moved, "10.10.0.12"));
        expect(seen.some((l) => l.includes("10.10.0.11 > 10.10.0.12: ICMP echo request"))).toBe(true);

        expect((await own.destroy()).error).toBeUndefined();
        expect(await ovsSnapshot(compute2)).toBe(before2);
        expect(await must(compute2, "ls -d /var/lib/hostwright/lib 2>/dev/null | wc -l")).toBe("0\n");
    }, 60_000);

    it("destroy removes exactly its mirror, port and links; the operator's mirror survives", async () => {
        const res = await harness.destroy();
        expect(res.error).toBeUndefined();
        expect(await ovsSnapshot(node)).toBe(before);
        expect(await names("Mirror")).toEqual(["operator-mirror"]);
        expect(await must(node, `ovs-vsctl get Mirror operator-mirror _uuid`)).toBe(operatorMirror);
        // the operator's capture still works
        const seen = await captureIcmp(node, "opcap", () => ping(node, vm3, vm2.address));
        expect(seen.some((l) => l.includes("10.10.0.3 > 10.10.0.2: ICMP echo request"))).toBe(true);
    }, 60_000);

    it("remote collectors: the whole bridge in GRE, then vm1 in ERSPAN, reach the collector; destroy restores the node", async () => {
        await addCollector(node, { name: "collector", local: "192.168.77.1", address: "192.168.77.2" });
        const withCollector = await ovsSnapshot(node);
        /** Runs a mirror's tcpdump output inside the collector while vm1 pings vm2; returns the decoded capture. */
        const collect = async (tcpdump: string) => {
            await tcpdumpWhile(node, tcpdump, () => ping(node, vm1, vm2.address), { netns: "collector" });
            return must(node, `tcpdump -nr /tmp/hostwright-span.pcap 2>/dev/null`);
        };

        const gre = await harness.apply(program([{ name: "span", host: "compute1", wholeBridge: true, mirrorName: "hostwright-span", collector: { protocol: "gre", address: "192.168.77.2", key: 42 } }]));
        expect(gre.error).toBeUndefined();
        const out = (gre.outputs.ovs as any).span;
        expect(out).toMatchObject({ captureInterface: "", captureKind: "collector", tcpdump: "tcpdump -ni any -w /tmp/hostwright-span.pcap 'ip proto 47'" });
        expect(await must(node, `ovs-vsctl --bare --columns=select_all find Mirror name=hostwright-span`)).toBe("true\n");
        const inGre = await collect(out.tcpdump);
        expect(inGre).toMatch(/192\.168\.77\.1 > 192\.168\.77\.2: GREv0, key=0x2a, .*10\.10\.0\.1 > 10\.10\.0\.2: ICMP echo request/);

        const erspan = await harness.apply(program([{ name: "span", host: "compute1", ports: [vm1.port], mirrorName: "hostwright-span", collector: { protocol: "erspan", address: "192.168.77.2", erspanIndex: 9 } }]));
        expect(erspan.error).toBeUndefined();
        expect(await must(node, `ovs-vsctl --format=csv --no-headings --columns=type,options find Interface 'external_ids:hostwright-owner!=""'`)).toBe(
            `erspan,"{erspan_idx=""9"", erspan_ver=""1"", key=""1"", remote_ip=""192.168.77.2""}"\n`,
        );
        // ERSPAN type II (GRE protocol 0x88be)
        expect(await collect(out.tcpdump)).toMatch(/192\.168\.77\.1 > 192\.168\.77\.2: GREv0, seq \d+, .*gre-proto-0x88be/);

        expect((await harness.destroy()).error).toBeUndefined();
        expect(await ovsSnapshot(node)).toBe(withCollector);
        await removeCollector(node, "collector");
        expect(await ovsSnapshot(node)).toBe(before);
    }, 60_000);

    it("VLAN selection: only packets on the chosen (node-local) VLAN are mirrored", async () => {
        // vm1 and vm2 on local VLAN 101 (as Neutron's agent tags them); vm3 stays untagged and talks to br-int's own port
        await must(node, sh`ovs-vsctl set Port ${vm1.port} tag=101 -- set Port ${vm2.port} tag=101; ip addr add 10.10.0.254/24 dev br-int; ip link set br-int up`);
        const res = await harness.apply(program([{ name: "vlan", host: "compute1", wholeBridge: true, vlans: [101], capture: { name: "vlancap" } }]));
        expect(res.error).toBeUndefined();
        expect((res.outputs.ovs as any).vlan.warnings).toEqual([expect.stringContaining("node-local tags")]);
        const seen = await captureIcmp(node, "vlancap", async () => {
            await ping(node, vm1, vm2.address);
            await ping(node, vm3, "10.10.0.254");
        });
        expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo request"))).toBe(true);
        expect(seen.filter((l) => l.includes("10.10.0.3"))).toEqual([]);
        expect((await harness.destroy()).error).toBeUndefined();
        await must(node, sh`ovs-vsctl clear Port ${vm1.port} tag -- clear Port ${vm2.port} tag; ip addr del 10.10.0.254/24 dev br-int; ip link set br-int down`);
        expect(await ovsSnapshot(node)).toBe(before);
    }, 60_000);

    it.each<[string, string, Record<string, unknown>, RegExp]>([
        ["a source port that is not on the node", "", { ports: ["qvodeadbeef-00"] }, /source port qvodeadbeef-00 does not exist on this node/],
        ["a bridge that is not there", "", { bridge: "br-ex" }, /bridge br-ex does not exist on this node \(bridges: br-int \)/],
        ["a foreign port with the capture's name", "", { capture: { name: "opcap" } }, /an OVS port or interface named opcap already exists and is not this step's/],
        ["a foreign mirror with the mirror's name", "", { mirrorName: "operator-mirror" }, /a mirror named operator-mirror already exists and is not this step's/],
        [
            "a bridge that already holds 32 mirrors",
            `for i in $(seq 2 32); do ovs-vsctl -- --id=@m create Mirror name=filler$i select_all=true -- add Bridge br-int mirrors @m >/dev/null; done`,
            {},
            /bridge br-int already holds 32 mirrors/,
        ],
    ])("fails clearly for %s and leaves the node as it was", async (_t, setup, over, message) => {
        if (setup) await must(node, setup);
        const snapshot = await ovsSnapshot(node);
        const res = await harness.apply(program([web(over)]));
        expect(res.ok).toBe(false);
        expect(`${res.failure?.stdout}${res.failure?.stderr}`).toMatch(message);
        expect(await ovsSnapshot(node)).toBe(snapshot);
        expect((await harness.destroy()).error).toBeUndefined();
        expect(await ovsSnapshot(node)).toBe(snapshot);
    }, 60_000);

    describe("capture lifecycle and one mirror per port", () => {
        const jobRunning = async () => (await node.exec("pgrep -f 'capture/[e]xpire.sh' || true")).stdout.trim();
        const datapathPorts = async () => must(node, "ovs-appctl dpif/show");
        beforeAll(async () => {
            // the 32-mirror case above leaves its filler mirrors
            await must(node, `for u in $(ovs-vsctl --bare --columns=_uuid find Mirror select_all=true); do case "$(ovs-vsctl get Mirror "$u" name)" in filler*) ovs-vsctl remove Bridge br-int mirrors "$u" ;; esac; done`);
        });

        it("a 5-second capture ends by itself on the node: its mirror, port and link go, the bridge's other mirrors stay; later runs say expired", async () => {
            const timed = new Harness(lab, join(workDir, "timed.json"));
            const cfg = [{ name: "short", host: "compute1", ports: [vm1.port], durationSeconds: 5, capture: { name: "shortcap" } }];
            const snapshot = await ovsSnapshot(node);
            const up = await timed.apply(program(cfg));
            expect(up.error).toBeUndefined();
            const out = (up.outputs.ovs as any).short;
            expect(out).toMatchObject({ status: "created", captureInterface: "shortcap" });
            expect(out.lifetime).toMatch(/^5 s from the apply that creates it: then a job on the node removes the mirror/);
            const expiresAt = Date.parse(out.expiresAt);
            expect(Math.abs(expiresAt - (Date.now() + 5000))).toBeLessThan(4000);
            expect(await ownedMirrors()).toEqual(["hostwright-short"]);
            expect(await datapathPorts()).toContain("shortcap");
            expect(await jobRunning()).not.toBe("");
            const seen = await captureIcmp(node, "shortcap", () => ping(node, vm1, vm2.address));
            expect(seen.some((l) => l.includes("10.10.0.1 > 10.10.0.2: ICMP echo request"))).toBe(true);

            // no Pulumi run from here on: the node ends the capture
            const deadline = expiresAt + 8000;
            while ((await ownedMirrors()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
            expect(await ownedMirrors()).toEqual([]);
            expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 1000);
            expect(await ovsSnapshot(node)).toBe(snapshot);
            expect(await must(node, "ovs-vsctl get Mirror operator-mirror _uuid")).toBe(operatorMirror);
            const dp = await datapathPorts();
            expect(dp).not.toContain("shortcap");
            expect(dp).toContain("opcap");
            expect(await jobRunning()).toBe("");

            // the create run again (a retry, an update): reported as expired, not made again
            const step = timed.state().resources.find((r) => r.name === "short-mirror")!;
            const rerun = await node.ssh(step.inputs.update, { input: step.inputs.stdin, timeoutMs: 60_000 });
            expect(rerun.code).toBe(0);
            expect(rerun.stdout).toContain("HOSTWRIGHT_OUTPUT status=expired");
            expect(rerun.stdout).toMatch(/HOSTWRIGHT_WARNING the capture ended at \S+ and was removed from the node; it is not made again \(raise captureRevision/);
            expect(await ownedMirrors()).toEqual([]);
            // an unchanged stack runs nothing (remote.Command has no read): the expiry shows when the step runs again
            expect((await timed.apply(program(cfg))).operations).toEqual([]);

            // undo after the expiry works and leaves the node as it was
            expect((await timed.destroy()).error).toBeUndefined();
            expect(await ovsSnapshot(node)).toBe(snapshot);
            expect((await node.exec("ls -d /var/lib/hostwright/steps/short-mirror-*.capture 2>/dev/null || true")).stdout).toBe("");
        }, 60_000);

        it("a new captureRevision captures again; destroy before the end stops the job, which then removes nothing", async () => {
            const timed = new Harness(lab, join(workDir, "timed2.json"));
            const snapshot = await ovsSnapshot(node);
            const up = await timed.apply(program([{ name: "short", host: "compute1", ports: [vm1.port], durationSeconds: 3, captureRevision: 2, capture: { name: "shortcap" } }]));
            expect(up.error).toBeUndefined();
            expect((up.outputs.ovs as any).short.status).toBe("created");
            expect(await ownedMirrors()).toEqual(["hostwright-short"]);
            expect((await timed.destroy()).error).toBeUndefined();
            expect(await jobRunning()).toBe("");
            expect(await ovsSnapshot(node)).toBe(snapshot);
            // past the capture's end: no job is left to remove anything
            await new Promise((r) => setTimeout(r, 3500));
            expect(await ovsSnapshot(node)).toBe(snapshot);
        }, 60_000);

        it("refuses a second mirror of a port the operator's mirror already selects, naming it and its owner", async () => {
            const snapshot = await ovsSnapshot(node);
            const h = new Harness(lab, join(workDir, "overlap.json"));
            const res = await h.apply(program([{ name: "dup", host: "compute1", ports: [vm3.port] }]));
            expect(res.ok).toBe(false);
            expect(res.failure?.stderr).toMatch(/refusing a second mirror: port qvoa1b2c3d4-e5 is already mirrored by mirror operator-mirror \([0-9a-f-]{36}, owner: none, not made by hostwright\); set allowOverlappingMirrors: true/);
            expect(await ovsSnapshot(node)).toBe(snapshot);
            expect((await h.destroy()).error).toBeUndefined();
        }, 60_000);

        it("refuses a second hostwright mirror of the same port naming the first one's step; allowed explicitly, both mirror; the rotating capture and the fetch command work", async () => {
            const snapshot = await ovsSnapshot(node);
            const h = new Harness(lab, join(workDir, "overlap2.json"));
            const first = { name: "one", host: "compute1", ports: [vm1.port], capture: { name: "onecap" } };
            const second = { name: "two", host: "compute1", ports: [vm1.port], capture: { name: "twocap" }, pcap: { fileMegabytes: 1, files: 3 } };
            const refused = await h.apply(program([first, second]));
            expect(refused.ok).toBe(false);
            expect(refused.failure?.resource).toBe("two-mirror");
            expect(refused.failure?.stderr).toMatch(/port qvobee51cf7-fb is already mirrored by mirror hostwright-one \([0-9a-f-]{36}, owner: one-mirror-[0-9a-f]{8}\)/);
            expect(await ownedMirrors()).toEqual(["hostwright-one"]);

            const allowed = await h.apply(program([first, { ...second, allowOverlappingMirrors: true }]));
            expect(allowed.error).toBeUndefined();
            expect(await ownedMirrors()).toEqual(["hostwright-one", "hostwright-two"]);
            const out = (allowed.outputs.ovs as any).two;
            expect(out.captureCommand).toBe("tcpdump -ni twocap -Z root -C 1 -W 3 -w /var/tmp/hostwright-twocap.pcap");
            expect(out.fetchCommand).toBe(`ssh -p 22 root@${node.address} 'cd /var/tmp && tar -cf - -- hostwright-twocap.pcap*' | tar -xvf -`);
            // both outputs see vm1's packets
            let one: string[] = [];
            const two = await captureIcmp(node, "twocap", async () => (one = await captureIcmp(node, "onecap", () => ping(node, vm1, vm2.address))));
            expect(one.some((l) => l.includes("10.10.0.1 > 10.10.0.2"))).toBe(true);
            expect(two.some((l) => l.includes("10.10.0.1 > 10.10.0.2"))).toBe(true);

            // the rotating capture as given, then fetched over SSH as given
            await tcpdumpWhile(node, out.captureCommand, () => ping(node, vm1, vm2.address));
            const fetchDir = mkdtempSync(join(tmpdir(), "hw-ovs-fetch-"));
            try {
                const login = `ssh() { command ssh -i ${lab.dir}/id_ed25519 -o UserKnownHostsFile=${lab.knownHosts} -o BatchMode=yes "$@"; }`;
                const fetched = await lab.runOnSwitch(["bash", "-c", `${login}\ncd ${fetchDir} && ${out.fetchCommand}`], { timeoutMs: 30_000 });
                expect(fetched.stderr).toBe("");
                expect(fetched.stdout).toBe("hostwright-twocap.pcap0\n");
                const decoded = await lab.runOnSwitch(["tcpdump", "-nr", join(fetchDir, "hostwright-twocap.pcap0")]);
                expect(decoded.stdout).toContain("10.10.0.1 > 10.10.0.2: ICMP echo request");
            } finally {
                rmSync(fetchDir, { recursive: true, force: true });
            }
            await must(node, "rm -f /var/tmp/hostwright-twocap.pcap*");
            expect((await h.destroy()).error).toBeUndefined();
            expect(await ovsSnapshot(node)).toBe(snapshot);
        }, 60_000);
    });
});
