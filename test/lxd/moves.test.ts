import type { InstanceFacts, Inventory } from "../../components/lxd/preflight";
import { instanceMoves, MatrixCell, migrationMatrix } from "../../components/lxd/render";

const ready = { ready: true, reasons: [] };
const notReady = (reason: string) => ({ ready: false, reasons: [reason] });
const host = (version: string, over: object = {}) => ({ serverVersion: version, stateless: ready, stateful: notReady("CRIU is not installed"), vmLive: ready, ...over });
const allLinks = { h1: { h1: true, h2: true }, h2: { h1: true, h2: true } };

describe("migrationMatrix", () => {
    it("marks only the newer-to-older direction, with the rule and the workaround", () => {
        const m = migrationMatrix(["h1", "h2"], allLinks, { h1: host("5.21.1"), h2: host("5.0.2") });
        expect(m.h2.h1).toMatchObject({ connected: true, versionOk: true, stateless: true, stateful: false, vmLive: true });
        expect(m.h1.h2).toMatchObject({ connected: true, versionOk: false, stateless: false, stateful: false, vmLive: false });
        expect(m.h1.h2.reasons[0]).toMatch(/^h1 runs LXD 5\.21\.1, newer than h2 \(5\.0\.2\).*Workaround: upgrade h2 to 5\.21\.1 or newer/);
        expect(m.h1.h1.versionOk).toBe(true);
    });
    it("says why when the link is not verified or a host is not ready", () => {
        const m = migrationMatrix(["h1", "h2"], { h1: { h2: false } }, { h1: host("5.0.2"), h2: host("5.0.2", { vmLive: notReady("LXD reports no qemu driver") }) });
        expect(m.h1.h2).toEqual({
            connected: false,
            versionOk: true,
            stateless: false,
            stateful: false,
            vmLive: false,
            reasons: [
                "the link h1 -> h2 is not verified (h2:/1.0 did not answer trusted to h1; see the link.h2 output of h1's remotes step)",
                "stateful: h1: CRIU is not installed",
                "stateful: h2: CRIU is not installed",
                "vmLive: h2: LXD reports no qemu driver",
            ],
        });
    });
});

const instance = (over: Partial<InstanceFacts>): InstanceFacts => ({ name: "c1", type: "container", running: false, profiles: ["default"], pools: ["default"], networks: [], migrationStateful: false, ...over });
const inventory = (instances: InstanceFacts[], over: Partial<Inventory> = {}): Inventory => ({ profiles: ["default"], pools: ["default"], networks: ["eth0"], instances, ...over });
const cell = (over: Partial<MatrixCell> = {}): MatrixCell => ({ connected: true, versionOk: true, stateless: true, stateful: false, vmLive: true, reasons: [], ...over });
const matrixOf = (c: MatrixCell) => ({ h1: { h1: cell(), h2: c }, h2: { h1: cell(), h2: cell() } });

describe("instanceMoves: target readiness per instance", () => {
    it.each<[string, InstanceFacts, MatrixCell, Partial<Inventory>, object]>([
        ["a stopped container with everything on the target", instance({}), cell(), {}, { missing: [], ready: true, live: false }],
        ["a profile, a pool and a network missing", instance({ profiles: ["default", "web"], pools: ["fast"], networks: ["br-ext"] }), cell(), {}, { missing: ["profile web", "storage pool fast", "network br-ext"], ready: false }],
        ["a host bridge present on the target", instance({ networks: ["eth0"] }), cell(), {}, { missing: [], ready: true }],
        ["a running container (moves --stateless; live needs CRIU)", instance({ running: true }), cell(), {}, { ready: true, live: false, reasons: [expect.stringMatching(/^live container moves between h1 and h2 are not ready/)] }],
        ["a running container with CRIU ready", instance({ running: true }), cell({ stateful: true }), {}, { ready: true, live: true, reasons: [] }],
        ["a running VM with migration.stateful", instance({ type: "virtual-machine", running: true, migrationStateful: true }), cell(), {}, { ready: true, live: true, reasons: [] }],
        ["a running VM without migration.stateful", instance({ name: "v1", type: "virtual-machine", running: true }), cell(), {}, { ready: false, live: false, reasons: [expect.stringContaining("lxc config set v1 migration.stateful=true"), "VM v1 is running: stop it for a cold move, or make live migration ready"] }],
        ["a stopped VM on hosts without qemu", instance({ type: "virtual-machine", migrationStateful: true }), cell({ vmLive: false }), {}, { ready: true, live: false, reasons: [expect.stringMatching(/^VM live migration between h1 and h2 is not ready/)] }],
        ["a newer-to-older direction", instance({}), cell({ versionOk: false, stateless: false }), {}, { ready: false, reasons: [expect.stringMatching(/^LXD on h1 is newer than on h2/), expect.anything()] }],
    ])("%s", (_what, i, c, targetOver, expected) => {
        const { moves } = instanceMoves(["h1", "h2"], { h1: inventory([i]), h2: inventory([], targetOver) }, matrixOf(c));
        expect(moves.h1.h2[i.name]).toMatchObject(expected);
    });

    it("reports the named instances only, warns about names no host has and about missing objects", () => {
        const { moves, warnings } = instanceMoves(
            ["h1", "h2"],
            { h1: inventory([instance({ name: "web", profiles: ["web"] }), instance({ name: "db" })]), h2: inventory([instance({ name: "cache" })]) },
            matrixOf(cell()),
            ["web", "cache", "ghost"],
        );
        expect(Object.keys(moves.h1.h2)).toEqual(["web"]);
        expect(Object.keys(moves.h2.h1)).toEqual(["cache"]);
        expect(warnings).toEqual(["web cannot move h1 -> h2: h2 has no profile web", "instances[2]: ghost is on no host of the mesh (project's instances listed by each probe)"]);
    });

    it("says so when a host's inventory could not be read", () => {
        const { moves, warnings } = instanceMoves(["h1", "h2"], { h1: inventory([instance({})]), h2: "cannot read the host's profiles, pools, networks and instances: Error: x" }, matrixOf(cell()));
        expect(moves.h1.h2.c1).toMatchObject({ ready: false, reasons: ["h2: cannot read the host's profiles, pools, networks and instances: Error: x", expect.stringMatching(/^live container moves/)] });
        expect(warnings).toEqual(["h2: cannot read the host's profiles, pools, networks and instances: Error: x; instance readiness not reported for it"]);
    });
});
