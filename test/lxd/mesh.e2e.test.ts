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
            for (const t of HOSTS) expect(mesh.matrix[h][t]).toEqual({ connected: true, stateless: true, stateful: false });
        }
        expect(mesh.moveCommands["h1->h2"]).toBe("LXD_CONF=/root/.config/lxc lxc move h1:CONTAINER h2: --stateless");

        for (const h of lab.hosts) {
            for (const x of HOSTS) {
                const version = await lxdExec(h, `lxc query ${x}:/1.0 | grep -o '"server_version": "[^"]*"'`);
                expect(`${h.name}->${x} ${version.trim()}`).toBe(`${h.name}->${x} "server_version": "5.0.2"`);
            }
            expect(await lxdExec(h, "lxc config trust list-tokens --format csv")).toBe("");
        }
    }, 300_000);

    it("moves a stopped container h1:c1 -> h2: and a running one h1:c2 -> h3: --stateless", async () => {
        const h1 = lab.host("h1");
        await lxdExec(h1, "lxc move h1:c1 h2:");
        await lxdExec(h1, "lxc move h1:c2 h3: --stateless");
        expect(await lxdExec(h1, "lxc list h2: --format csv -c ns")).toBe("c1,STOPPED\n");
        expect(await lxdExec(h1, "lxc list h3: --format csv -c ns")).toBe("c2,RUNNING\n");
        expect(await lxdExec(h1, "lxc list h1: --format csv -c ns")).toBe("");
        // and back, driven from another host of the mesh
        await lxdExec(lab.host("h3"), "lxc move h3:c2 h1: --stateless");
        expect(await lxdExec(h1, "lxc list --format csv -c ns")).toBe("c2,RUNNING\n");
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

    it("certificate trust: client certificates trusted directly, server certificates pinned, all undone", async () => {
        const certs = new Harness(lab, `${lab.dir}/lxd-certs-state.json`);
        const opts = labStackConfig(lab, { lxd: [{ name: "certs", hosts: HOSTS.map((host) => ({ host })), trust: "certificate" }] });
        // probe -> serve -> trust -> remotes is one level deeper than the harness's 3 passes per apply
        const first = await certs.apply(program, opts);
        expect(first.error).toBeUndefined();
        const second = await certs.apply(program, opts);
        expect(second.error).toBeUndefined();
        expect(summary(await certs.apply(program, opts))).toEqual([]);
        const matrix = (second.outputs as any).lxd.certs.matrix;
        for (const h of lab.hosts) {
            for (const x of HOSTS) expect(`${h.name}->${x} ${matrix[h.name][x].connected}`).toBe(`${h.name}->${x} true`);
            expect(await lxdExec(h, "lxc config trust list --format csv | cut -d, -f2 | sort | tr '\\n' ' '")).toBe("hostwright-h1 hostwright-h2 hostwright-h3 ");
        }
        await lxdExec(lab.host("h2"), "lxc move h2:c1 h3:");
        expect(await lxdExec(lab.host("h1"), "lxc list h3: --format csv -c ns")).toBe("c1,STOPPED\n");
        expect((await certs.destroy()).error).toBeUndefined();
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
