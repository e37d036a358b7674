/**
 * Step transactions under the faults they guard against, over real SSH, against real
 * h2o 2.2.5 ("web") and Open vSwitch 3.1 ("node") on lab hosts, applied with the
 * harness from what the components declare. What counts is what is SERVED: the
 * redirect target h2o answers with (each configuration redirects elsewhere), the
 * mirror rows Open vSwitch holds.
 *
 * Faults, at each fault-injection point of the create (core/README.md):
 * - "client":  the SSH client is killed (kill -9 on this machine);
 * - "session": the SSH session is dropped from the host side (its sshd process killed);
 * - "power":   the remote script itself is killed (kill -9): nothing of it runs again,
 *              like a power loss; only the journal is left (a real power loss also
 *              empties the page cache: the journal is synced, which the lab cannot show).
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import { H2oReverseProxy } from "../../components/h2o/component";
import { OvsPortMirror } from "../../components/ovs/component";
import { sh } from "../../core/shell";
import { Pki, IssuedCert } from "../../tools/pki";
import { ApplyResult, Harness } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { run } from "../lab/proc";
import { addVm, must, ovsSnapshot, startOvs, Vm } from "../ovs/ovs-lab";

const POINTS = ["locked", "staged", "validated", "switched", "activated", "committed"] as const;
type Point = (typeof POINTS)[number];
const FAULTS = ["client", "session", "power"] as const;
type Fault = (typeof FAULTS)[number];

const vm1: Vm = { name: "vm1", port: "qvobee51cf7-fb", address: "10.10.0.1" };
const vm2: Vm = { name: "vm2", port: "qvo0c0ffee0-12", address: "10.10.0.2" };

labDescribe("step transactions under faults (lab: web with h2o, node with Open vSwitch)", () => {
    let lab: Lab;
    let web: LabHost;
    let node: LabHost;
    let workDir: string;
    let leaf: IssuedCert;
    let h2oHarness: Harness;
    let ovsHarness: Harness;
    let webBefore: string;
    let nodeBefore: string;

    /** An h2o proxy whose configurations a client tells apart: "/" redirects to http://TAG.example/. */
    const proxy = (tag: string, over: { cipherSuite?: string } = {}) => () => {
        new H2oReverseProxy("front", {
            host: web.inventory(),
            listeners: [
                { name: "http", port: 80 },
                { name: "https", port: 443, tls: { certificateChain: leaf.certPem, privateKey: pulumi.secret(leaf.keyPem), cipherSuite: over.cipherSuite } },
            ],
            virtualHosts: [{ name: "*", paths: [{ path: "/", redirectTo: `http://${tag}.example/` }] }],
        });
    };
    /** A mirror of vm1's port whose configurations differ by direction. */
    const mirror = (direction: "both" | "ingress") => () => {
        new OvsPortMirror("cap", { host: node.inventory(), ports: [vm1.port], direction, capture: { name: "hwcap0", kind: "internal" } });
    };

    /** What h2o serves on both listeners: the redirect target, or the failure. */
    async function served(): Promise<string> {
        const answers: string[] = [];
        for (const url of [`http://${web.address}/`, `https://${web.address}/`]) {
            const r = await lab.runOnSwitch(["curl", "-sk", "--max-time", "5", "-o", "/dev/null", "-w", "%{redirect_url}", url], { timeoutMs: 15_000 });
            answers.push(r.code === 0 ? r.stdout : `curl exit ${r.code}`);
        }
        return answers[0] === answers[1] ? answers[0] : answers.join(" | ");
    }
    const config = (tag: string) => `http://${tag}.example/`;
    /** The owned mirror rows on br-int: "direction select_src select_dst" per row. */
    async function mirrorsServed(): Promise<string> {
        const rows = await must(node, `ovs-vsctl --format=csv --no-headings --columns=select_src_port,select_dst_port find Mirror 'external_ids:hostwright-owner!=""'`);
        return rows.trim().split("\n").filter(Boolean).map((r) => (r.split(",").filter((c) => c.includes("-")).length === 2 ? "both" : "ingress")).join(",") || "none";
    }

    /** Applies and fails the test with the apply's error (each test starts from a known state). */
    async function converged(harness: Harness, program: () => void): Promise<ApplyResult> {
        const r = await harness.apply(program);
        if (!r.ok) throw new Error(r.error);
        return r;
    }

    /** Starts an apply that stops at `point` on `host`; resolves once the create is paused there. */
    async function applyPausedAt(harness: Harness, host: LabHost, program: () => void, point: Point | string): Promise<{ pid: number; apply: Promise<ApplyResult> }> {
        await must(host, sh`mkdir -p /run/hostwright && printf '%s' ${`* ${point}`} > /run/hostwright/pause && rm -f /run/hostwright/paused`);
        const apply = harness.apply(program, { timeoutMs: 120_000 });
        for (let i = 0; i < 300; i++) {
            const r = await host.exec("cat /run/hostwright/paused 2>/dev/null");
            if (r.code === 0 && r.stdout.trim()) return { pid: Number(r.stdout.split(" ")[0]), apply };
            await new Promise((res) => setTimeout(res, 100));
        }
        throw new Error(`the create on ${host.name} never reached fault point ${point}`);
    }

    /** Injects the fault into a paused create, lets the script go on (if it lives), waits until it is gone. */
    async function inject(host: LabHost, pid: number, fault: Fault): Promise<void> {
        if (fault === "power") await must(host, `kill -KILL ${pid}`);
        if (fault === "session") {
            // the sshd process of that session: the nearest ancestor named sshd
            await must(host, `p=${pid}; while [ "$(cat /proc/$p/comm)" != sshd ]; do p=$(awk '{print $4}' /proc/$p/stat); done; kill -KILL $p`);
        }
        if (fault === "client") {
            const r = await run(["pgrep", "-f", `^ssh .*${lab.dir}/harness/.* -l root ${host.address} -- `]);
            const pids = r.stdout.split("\n").filter(Boolean);
            expect(pids.length).toBeGreaterThan(0);
            await run(["kill", "-KILL", ...pids]);
        }
        await must(host, "rm -f /run/hostwright/pause");
        await must(host, `for i in $(seq 1 600); do kill -0 ${pid} 2>/dev/null || exit 0; sleep 0.1; done; echo "the create (pid ${pid}) still runs" >&2; exit 1`);
    }

    beforeAll(async () => {
        lab = await startLab({ hosts: ["web", "node"] });
        web = lab.host("web");
        node = lab.host("node");
        workDir = mkdtempSync(join(tmpdir(), "hw-faults-"));
        const pki = new Pki(join(workDir, "pki"));
        leaf = pki.leaf(pki.rootCa({ commonName: "Faults Root" }), { commonName: "web.example", dnsNames: ["web.example"] });
        await startOvs(node);
        for (const vm of [vm1, vm2]) await addVm(node, vm);
        webBefore = await must(web, "find /etc/h2o /etc/ssl/certs -xdev \\( -type f -o -type l \\) -printf '%p %m %u %l\\n' | sort; find /etc/h2o -type f -exec sha256sum {} + | sort");
        nodeBefore = await ovsSnapshot(node);
        h2oHarness = new Harness(lab, join(workDir, "h2o.json"));
        ovsHarness = new Harness(lab, join(workDir, "ovs.json"));
        const a = await h2oHarness.apply(proxy("a"));
        if (!a.ok) throw new Error(a.error);
        expect(await served()).toBe(config("a"));
        const m = await ovsHarness.apply(mirror("both"));
        if (!m.ok) throw new Error(m.error);
        expect(await mirrorsServed()).toBe("both");
    }, 180_000);

    afterAll(async () => {
        await lab?.down();
        if (workDir) rmSync(workDir, { recursive: true, force: true });
    }, 60_000);

    describe.each(FAULTS)("h2o, fault %s", (fault) => {
        it.each(POINTS)("at %s: serves exactly the old or the new configuration; the next apply recovers and converges", async (point) => {
            await converged(h2oHarness, proxy("a"));
            expect(await served()).toBe(config("a"));
            const { pid, apply } = await applyPausedAt(h2oHarness, web, proxy("b"), point);
            await inject(web, pid, fault);
            const result = await apply;
            expect(result.ok).toBe(false);
            const now = await served();
            // A script that lives on notices the lost client at its next report line and
            // rolls back; only a commit already journalled stands. A killed script leaves its
            // journal: h2o serves what it last loaded until the next run.
            const expected = point === "committed" ? config("b") : fault !== "power" || ["locked", "staged", "validated", "switched"].includes(point) ? config("a") : config("b");
            expect(now).toBe(expected);
            if (fault !== "power") expect(await must(web, "grep -c 'a.example' /etc/h2o/h2o.conf || true")).toBe(now === config("a") ? "1\n" : "0\n");

            const retry = await h2oHarness.apply(proxy("b"));
            if (!retry.ok) throw new Error(retry.error);
            const said = retry.operations.map((o) => o.stdout).join("\n");
            if (fault === "power" && !["locked", "committed"].includes(point)) expect(said).toMatch(/recovering the transaction of step front-proxy-\S+ left open by a run that died \((staging|switching|activating) /);
            if (fault === "power" && point === "committed") expect(said).toContain("completed the commit");
            if (fault !== "power" && !["locked", "committed"].includes(point)) expect(said).toMatch(/earlier interrupted run: step front-proxy-\S+, run [0-9a-f]+ \(pid \d+\): SIG\w+ in state/);
            // a commit journalled before the client went is complete: the retry only confirms it
            if (point === "committed") expect(said).toContain("done (0 file(s) changed)");
            expect(await served()).toBe(config("b"));
            expect(await must(web, "ls -a /etc/h2o /etc/h2o/hostwright | grep -c hostwright- || true")).toBe("0\n");

        }, 180_000);
    });

    describe.each(FAULTS)("Open vSwitch mirror, fault %s", (fault) => {
        it.each(["staged", "activated", "committed"])("at %s: the bridge holds the old or the new mirror, never both or neither; the next apply converges", async (point) => {
            await converged(ovsHarness, mirror("both"));
            const { pid, apply } = await applyPausedAt(ovsHarness, node, mirror("ingress"), point);
            await inject(node, pid, fault);
            expect((await apply).ok).toBe(false);
            expect(["both", "ingress"]).toContain(await mirrorsServed());
            const retry = await ovsHarness.apply(mirror("ingress"));
            if (!retry.ok) throw new Error(retry.error);
            expect(await mirrorsServed()).toBe("ingress");
        }, 180_000);
    });

    it("two applies of the same stack at once: one waits for the host lock, both succeed, nothing collides", async () => {
        await converged(h2oHarness, proxy("a"));
        // Pulumi's mock runtime is one per process: the two evaluations may not overlap,
        // so the first apply is held on the host (inside its create, holding the lock)
        // while the second evaluates and connects.
        const second = new Harness(lab, join(workDir, "h2o-second.json"));
        const first = await applyPausedAt(h2oHarness, web, proxy("c"), "staged");
        const other = second.apply(proxy("c"));
        await must(web, `for i in $(seq 1 300); do [ "$(pgrep -f '^/bin/bash -s$' | wc -l)" -ge 2 ] && exit 0; sleep 0.1; done; echo "the second apply never reached the host" >&2; exit 1`);
        await must(web, "rm -f /run/hostwright/pause");
        const [x, y] = await Promise.all([first.apply, other]);
        if (!x.ok) throw new Error(x.error);
        if (!y.ok) throw new Error(y.error);
        const out = [...x.operations, ...y.operations].map((o) => `${o.stdout}\n${o.stderr}`).join("\n");
        expect(out).toMatch(/waiting for the host lock: create of step front-proxy-\S+ \(pid \d+, run [0-9a-f]+\) since /);
        expect(out).not.toMatch(/cannot stat|No such file/);
        expect(await served()).toBe(config("c"));
        expect(await must(web, "ls -a /etc/h2o /etc/h2o/hostwright | grep -c hostwright- || true")).toBe("0\n");
        // each stack's resource holds its own claim: destroying one leaves the other serving
        const gone = await second.destroy();
        if (!gone.ok) throw new Error(gone.error);
        expect(gone.operations.map((o) => o.stdout).join("\n")).toContain("still claimed by a later create");
        expect(await served()).toBe(config("c"));
    }, 180_000);

    describe.each([
        ["after the new create (the engine since pulumi/pulumi#11027)", false],
        ["before the new create (the engine before it)", true],
    ])("reverts, the old resource's delete running %s", (_label, pendingDeletesFirst) => {
        /** Applies while a client polls the proxy every 100 ms; returns the answers that were not `expected`. */
        async function servingThroughout(expected: string[], work: () => Promise<void>): Promise<string[]> {
            let polling = true;
            const wrong: string[] = [];
            const poller = (async () => {
                while (polling) {
                    const r = await lab.runOnSwitch(["curl", "-s", "--max-time", "3", "-o", "/dev/null", "-w", "%{redirect_url}", `http://${web.address}/`], { timeoutMs: 10_000 });
                    const answer = r.code === 0 ? r.stdout : `curl exit ${r.code}`;
                    if (!expected.includes(answer)) wrong.push(answer);
                    await new Promise((res) => setTimeout(res, 100));
                }
            })();
            try {
                await work();
            } finally {
                polling = false;
                await poller;
            }
            return wrong;
        }

        it("A -> B (rejected by h2o -t) -> A: h2o serves A throughout and after", async () => {
            await converged(h2oHarness, proxy("a"));
            const wrong = await servingThroughout([config("a")], async () => {
                const b = await h2oHarness.apply(proxy("b", { cipherSuite: "NO-SUCH-CIPHER" }));
                expect(b.error).toMatch(/h2o rejected the new configuration/);
                const again = await h2oHarness.apply(proxy("a"), { pendingDeletesFirst });
                if (!again.ok) throw new Error(again.error);
                if (!pendingDeletesFirst) expect(again.operations.filter((o) => o.op === "delete").map((o) => o.stdout).join("\n")).toContain("still claimed by a later create");
            });
            expect(wrong).toEqual([]);
            expect(await served()).toBe(config("a"));
        }, 240_000);

        it("A -> B -> A: h2o serves A or B throughout, A after", async () => {
            await converged(h2oHarness, proxy("a"));
            const wrong = await servingThroughout([config("a"), config("b")], async () => {
                for (const tag of ["b", "a"]) {
                    const r = await h2oHarness.apply(proxy(tag), { pendingDeletesFirst });
                    if (!r.ok) throw new Error(r.error);
                }
            });
            expect(wrong).toEqual([]);
            expect(await served()).toBe(config("a"));
        }, 240_000);
    });

    it("a full disk where the config lives fails naming the file and step; A keeps serving; freed, the next apply converges", async () => {
        await must(web, "cp -a /etc/h2o /root/h2o-saved && mount -t tmpfs -o size=256k tmpfs /etc/h2o && cp -a /root/h2o-saved/. /etc/h2o/ && (dd if=/dev/zero of=/etc/h2o/filler bs=4k 2>/dev/null || true)");
        try {
            const full = await h2oHarness.apply(proxy("d"));
            expect(full.ok).toBe(false);
            expect(full.error).toMatch(/hostwright\[front-proxy-\S+\]: ERROR: could not write \/etc\/h2o\/\S+ \(staged as \/etc\/h2o\/\S+\.hostwright-[0-9a-f]+\): .*No space left on device \(\d+ KiB free on \/etc\/h2o\)/);
            expect(await served()).toBe(config("a"));
            expect(await must(web, "ls -a /etc/h2o /etc/h2o/hostwright | grep -c hostwright- || true")).toBe("0\n");
            await must(web, "rm -f /etc/h2o/filler");
            const freed = await h2oHarness.apply(proxy("d"));
            if (!freed.ok) throw new Error(freed.error);
            expect(await served()).toBe(config("d"));
            const back = await h2oHarness.apply(proxy("a"));
            if (!back.ok) throw new Error(back.error);
        } finally {
            // what h2o now uses goes back onto the host's own /etc/h2o
            await must(web, "rm -f /etc/h2o/filler; rm -rf /root/h2o-saved && cp -a /etc/h2o /root/h2o-saved && umount /etc/h2o && rm -rf /etc/h2o/* && cp -a /root/h2o-saved/. /etc/h2o/ && rm -rf /root/h2o-saved");
        }
        expect(await served()).toBe(config("a"));
    }, 240_000);

    it("destroy restores both hosts byte for byte and stops h2o", async () => {
        for (const h of [h2oHarness, ovsHarness]) {
            const r = await h.destroy();
            if (!r.ok) throw new Error(r.error);
        }
        expect(await must(web, "find /etc/h2o /etc/ssl/certs -xdev \\( -type f -o -type l \\) -printf '%p %m %u %l\\n' | sort; find /etc/h2o -type f -exec sha256sum {} + | sort")).toBe(webBefore);
        expect(await ovsSnapshot(node)).toBe(nodeBefore);
        expect(await served()).toMatch(/curl exit/);
        // the library step goes last, with every core library version (core/library.ts)
        for (const h of [web, node]) expect(await must(h, "ls /var/lib/hostwright/steps 2>/dev/null | wc -l; ls -d /var/lib/hostwright/lib 2>/dev/null | wc -l")).toBe("0\n0\n");
    }, 120_000);
});
