/**
 * LxdRemoteMesh on three lab hosts with real LXD 5.0.2 daemons, applied from the
 * stack config through the real program (declareStack) by the lab harness over SSH.
 */
import { declareStack, rawConfigFromRuntime } from "../../core/config/stack";
import { sections } from "../../components/registry";
import { Lab, labDescribe, startLab } from "../lab/lab";
import { ApplyResult, Harness, labStackConfig } from "../lab/harness";
import { importBusyboxImage, lxdExec, lxdSnapshot, startLxd, stopLxd } from "./lxd-lab";

const HOSTS = ["h1", "h2", "h3"];
const program = () => declareStack(rawConfigFromRuntime(), sections);
const summary = (r: ApplyResult) => r.operations.map((o) => `${o.op}:${o.reason}:${o.resource}=${o.code}`);

labDescribe("LxdRemoteMesh on real LXD daemons", () => {
    let lab: Lab;
    let harness: Harness;
    let before: Record<string, Awaited<ReturnType<typeof lxdSnapshot>>>;
    let options: ReturnType<typeof labStackConfig>;

    beforeAll(async () => {
        lab = await startLab({ hosts: HOSTS });
        await Promise.all(lab.hosts.map((h) => startLxd(h)));
        await importBusyboxImage(lab.host("h1"));
        await lxdExec(lab.host("h1"), "lxc init busybox c1 >/dev/null && lxc launch busybox c2 >/dev/null");
        // Instances that need more than the defaults: profile "extra" (also on h3), pool "fast"
        // and host bridge "brx" exist on h1 only.
        await lxdExec(
            lab.host("h1"),
            `lxc profile create extra >/dev/null && lxc profile set extra user.role test
lxc storage create fast dir >/dev/null
ip link add brx type bridge
lxc init busybox c3 -p default -p extra >/dev/null
lxc init busybox c4 -s fast >/dev/null
lxc init busybox c5 >/dev/null && lxc config device add c5 eth0 nic nictype=bridged parent=brx >/dev/null`,
        );
        await lxdExec(lab.host("h3"), "lxc profile create extra >/dev/null");
        before = Object.fromEntries(await Promise.all(lab.hosts.map(async (h) => [h.name, await lxdSnapshot(h)] as const)));
        harness = new Harness(lab, `${lab.dir}/lxd-state.json`);
        options = labStackConfig(lab, { lxd: [{ name: "mesh", hosts: HOSTS.map((host) => ({ host })) }] });
    }, 180_000);

    afterAll(async () => {
        if (lab) await Promise.all(lab.hosts.map((h) => stopLxd(h)));
        await lab?.down();
    }, 120_000);

    it("applies: pre-flight for real, every host has every host as a trusted remote, readiness and matrix reported", async () => {
        const t0 = Date.now();
        const up = await harness.apply(program, options);
        expect(up.error).toBeUndefined();
        console.log(`lxd mesh apply: ${Date.now() - t0} ms, ${up.passes} passes, ${up.operations.length} operations:\n${summary(up).join("\n")}`);
        const mesh = (up.outputs as any).lxd.mesh;
        expect(mesh.preflightErrors).toEqual([]);
        for (const h of HOSTS) {
            expect(mesh.readiness[h]).toMatchObject({ serverVersion: "5.0.2", stateless: { ready: true, reasons: [] }, stateful: { ready: false } });
            // CRIU cannot run here: stateful moves are reported as not ready
            expect(mesh.readiness[h].stateful.reasons.join(" ")).toMatch(/CRIU|criu/);
            // equal versions: every direction passes the version rule (newer -> older cannot be made here: one LXD version)
            for (const t of HOSTS) expect(mesh.matrix[h][t]).toMatchObject({ connected: true, versionOk: true, stateless: true, stateful: false, vmLive: false });
            // no KVM: LXD 5.0.2 here has only the lxc driver, so VM live migration is reported as not ready
            expect(mesh.readiness[h].vmLive.reasons).toEqual([expect.stringMatching(/^LXD reports no qemu driver \(environment\.driver: lxc\)/)]);
        }
        // target readiness per instance, as LXD itself listed them
        const moves = mesh.instances;
        expect(moves.h1.h2.c1).toEqual({ type: "container", running: false, missing: [], ready: true, live: false, reasons: [expect.stringMatching(/^live container moves between h1 and h2 are not ready/)] });
        expect(moves.h1.h2.c2).toMatchObject({ running: true, missing: [], ready: true, live: false });
        expect(moves.h1.h2.c3).toMatchObject({ missing: ["profile extra"], ready: false });
        expect(moves.h1.h3.c3).toMatchObject({ missing: [], ready: true });
        expect(moves.h1.h2.c4).toMatchObject({ missing: ["storage pool fast"], ready: false });
        expect(moves.h1.h3.c5).toMatchObject({ missing: ["network brx"], ready: false });
        expect(moves.h2.h1).toEqual({});
        expect(mesh.warnings).toEqual(expect.arrayContaining(["c3 cannot move h1 -> h2: h2 has no profile extra", "c4 cannot move h1 -> h3: h3 has no storage pool fast"]));
        expect(mesh.moveCommands["h1->h2"]).toBe("LXD_CONF=/root/.config/lxc lxc move h1:CONTAINER h2: --stateless");

        for (const h of lab.hosts) {
            for (const x of HOSTS) {
                const version = await lxdExec(h, `lxc query ${x}:/1.0 | grep -o '"server_version": "[^"]*"'`);
                expect(`${h.name}->${x} ${version.trim()}`).toBe(`${h.name}->${x} "server_version": "5.0.2"`);
            }
            expect(await lxdExec(h, "lxc config trust list-tokens --format csv")).toBe("");
            // certificate trust (the default): each member's client certificate, added through the local socket
            expect(await lxdExec(h, "lxc config trust list --format csv | cut -d, -f2 | sort | tr '\\n' ' '")).toBe("hostwright-h1 hostwright-h2 hostwright-h3 ");
        }
        // the remotes step wrote every remote at once: no `lxc remote add` ran (a network round trip each)
        const remotesStep = up.operations.find((o) => o.resource === "mesh-h1-remotes")!;
        expect(remotesStep.stdout).toContain("remote h3 -> https://");
        expect(remotesStep.stdout).not.toContain("added remote");
    }, 300_000);

    it("the readiness report holds: c3 cannot move to h2 (no profile extra) and moves to h3", async () => {
        const h1 = lab.host("h1");
        const refused = await h1.exec("LXD_DIR=/var/lib/lxd LXD_CONF=/root/.config/lxc lxc move h1:c3 h2:");
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain(`Requested profile "extra" doesn't exist`);
        await lxdExec(h1, "lxc move h1:c3 h3:");
        expect(await lxdExec(h1, "lxc list h3: --format csv -c ns")).toBe("c3,STOPPED\n");
        await lxdExec(h1, "lxc delete h3:c3");
    }, 300_000);

    it("moves a stopped container h1:c1 -> h2: and a running one h1:c2 -> h3: --stateless", async () => {
        const h1 = lab.host("h1");
        await lxdExec(h1, "lxc move h1:c1 h2:");
        await lxdExec(h1, "lxc move h1:c2 h3: --stateless");
        expect(await lxdExec(h1, "lxc list h2: --format csv -c ns")).toBe("c1,STOPPED\n");
        expect(await lxdExec(h1, "lxc list h3: --format csv -c ns")).toBe("c2,RUNNING\n");
        expect(await lxdExec(h1, "lxc list h1: --format csv -c ns")).toBe("c4,STOPPED\nc5,STOPPED\n");
        // and back, driven from another host of the mesh
        await lxdExec(lab.host("h3"), "lxc move h3:c2 h1: --stateless");
        expect(await lxdExec(h1, "lxc list --format csv -c ns")).toBe("c2,RUNNING\nc4,STOPPED\nc5,STOPPED\n");
    }, 300_000);

    it("a second apply runs nothing", async () => {
        const again = await harness.apply(program, options);
        expect(again.error).toBeUndefined();
        expect(summary(again)).toEqual([]);
    }, 120_000);

    it("destroy leaves each host's remotes, trust store, tokens and API address as before", async () => {
        const down = await harness.destroy();
        expect(down.error).toBeUndefined();
        for (const h of lab.hosts) {
            expect({ host: h.name, ...(await lxdSnapshot(h)) }).toEqual({ host: h.name, ...before[h.name] });
            // no step state (nor the records of what the steps added) is left behind
            expect((await h.exec("ls -A /var/lib/hostwright 2>&1 || true")).stdout).toMatch(/No such file/);
        }
    }, 300_000);

    it("token trust (the option): one-time tokens consumed remote by remote, every link trusted, all undone", async () => {
        const tokens = new Harness(lab, `${lab.dir}/lxd-tokens-state.json`);
        const opts = labStackConfig(lab, { lxd: [{ name: "tokens", hosts: HOSTS.map((host) => ({ host })), trust: "token" }] });
        const up = await tokens.apply(program, opts);
        expect(up.error).toBeUndefined();
        expect(summary(await tokens.apply(program, opts))).toEqual([]);
        const matrix = (up.outputs as any).lxd.tokens.matrix;
        for (const h of lab.hosts) {
            for (const x of HOSTS) expect(`${h.name}->${x} ${matrix[h.name][x].connected}`).toBe(`${h.name}->${x} true`);
            expect(await lxdExec(h, "lxc config trust list-tokens --format csv")).toBe("");
        }
        expect(up.operations.find((o) => o.resource === "tokens-h1-remotes")!.stdout).toContain("added remote h2 -> https://");
        await lxdExec(lab.host("h2"), "lxc move h2:c1 h3:");
        expect(await lxdExec(lab.host("h1"), "lxc list h3: --format csv -c ns")).toBe("c1,STOPPED\n");
        expect((await tokens.destroy()).error).toBeUndefined();
        for (const h of lab.hosts) expect({ host: h.name, ...(await lxdSnapshot(h)) }).toEqual({ host: h.name, ...before[h.name] });
    }, 300_000);

    it("stateful mode: the real pre-flight stops the apply before any change (CRIU cannot run here)", async () => {
        const live = new Harness(lab, `${lab.dir}/lxd-stateful-state.json`);
        const up = await live.apply(program, labStackConfig(lab, { lxd: [{ name: "live", hosts: HOSTS.map((host) => ({ host })), migration: "stateful" }] }));
        expect(up.ok).toBe(false);
        expect(up.failure?.resource).toMatch(/^live-h\d-serve$/);
        expect(up.failure?.stderr).toContain("the LXD mesh pre-flight failed, nothing was changed:");
        expect(up.failure?.stderr).toMatch(/- h\d: CRIU is not installed/);
        for (const h of lab.hosts) {
            expect({ host: h.name, ...(await lxdSnapshot(h)) }).toEqual({ host: h.name, ...before[h.name] });
            expect((await h.exec("ls /etc/modules-load.d/hostwright-lxd-netlink-diag.conf 2>&1 || true")).stdout).toMatch(/No such file/);
        }
        expect((await live.destroy()).error).toBeUndefined();
    }, 300_000);
});
