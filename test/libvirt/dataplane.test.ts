import { execFileSync, spawn, spawnSync } from "child_process";
import { commonCpuFeatures, cpuCompatibility, dataPlaneChecks, factsFromReport, pairCpu, LISTENER_GREETING, LISTENER_PY, migrationPorts, NodeFacts } from "../../components/libvirt/dataplane";
import { checkLiveMigration } from "../../components/libvirt/checks";
import { PATHS, renderNodeStep } from "../../components/libvirt/render";
import { groupPki, tlsArgs } from "./fixtures";

const facts = (host: string, over: Partial<NodeFacts> = {}, cpu: Partial<NodeFacts["cpu"]> = {}): NodeFacts => ({
    host,
    hostUuid: `${host === "a" ? "1" : "2"}be258c5-e2e5-4e64-8731-cb5fe78b9fc0`,
    cpu: { source: "capabilities", vendor: "Intel", model: "Skylake-Server-IBRS", features: ["sse2", "avx2", "avx512f"], ...cpu },
    addresses: ["10.0.0.1"],
    dataPort: 49152,
    cpuModels: {},
    ...over,
});

describe("data-plane facts and pair decisions", () => {
    it("reads what the data-plane step printed", () => {
        expect(
            factsFromReport("a", { hostUuid: "0BE258C5-E2E5-4E64-8731-CB5FE78B9FC0", "cpu.source": "capabilities", "cpu.vendor": "AMD", "cpu.model": "EPYC", "cpu.features": "avx2  sse2 ", addresses: "10.0.0.1 fe80::1 ", dataPort: "49160" }),
        ).toEqual({ host: "a", hostUuid: "0be258c5-e2e5-4e64-8731-cb5fe78b9fc0", cpu: { source: "capabilities", vendor: "AMD", model: "EPYC", features: ["avx2", "sse2"] }, addresses: ["10.0.0.1", "fe80::1"], dataPort: 49160, cpuModels: {} });
        expect(factsFromReport("a", { "cpuModel.Skylake-Server": "incompatible: CPU described in the model is incompatible with host CPU", "cpuModel.kvm64": "ok" }).cpuModels).toEqual({ "Skylake-Server": "incompatible: CPU described in the model is incompatible with host CPU", kvm64: "ok" });
        expect(factsFromReport("a", { dataPort: "none: python3 is not installed on a, so no listener could be opened" }).dataPort).toBe("none: python3 is not installed on a, so no listener could be opened");
        expect(factsFromReport("a", {}).dataPort).toBe("none: the data-plane step reported no port");
    });

    it.each<[string, Partial<NodeFacts["cpu"]>, Partial<NodeFacts["cpu"]>, RegExp]>([
        ["the same CPU", {}, {}, /^ok$/],
        ["a target with more features", { features: ["sse2"] }, {}, /^ok$/],
        ["a target without avx512f", {}, { features: ["sse2", "avx2"] }, /^incompatible: b lacks 1 CPU feature\(s\) of a \(avx512f\): guests with cpu_mode host-model\/host-passthrough started on a cannot move there; use a common cpu_mode=custom model \(virsh hypervisor-cpu-baseline\)$/],
        ["another vendor", {}, { vendor: "AMD" }, /^incompatible: CPU vendors differ \(Intel on a, AMD on b\)$/],
        ["facts from different sources", {}, { source: "/proc/cpuinfo" }, /^unknown: the nodes reported their CPUs from different sources/],
        ["no features reported", {}, { features: [] }, /^unknown: a node reported no CPU features$/],
    ])("CPU: %s", (_what, a, b, expected) => {
        expect(cpuCompatibility(facts("a", {}, a), facts("b", {}, b))).toMatch(expected);
    });

    it.each<[string, "host-model" | "host-passthrough" | "custom" | "none" | undefined, Partial<NodeFacts>, Partial<NodeFacts["cpu"]>, RegExp]>([
        ["unset: judged as host-model", undefined, {}, { features: ["sse2", "avx2", "avx512f", "more"] }, /^ok$/],
        ["host-model, a target with more features", "host-model", {}, { features: ["sse2", "avx2", "avx512f", "more"] }, /^ok$/],
        ["host-passthrough, a target with more features", "host-passthrough", {}, { features: ["sse2", "avx2", "avx512f", "more"] }, /^incompatible: cpu_mode host-passthrough gives guests the exact host CPU, and b's \(Skylake-Server-IBRS\) is not a's/],
        ["host-passthrough, the identical CPU", "host-passthrough", {}, {}, /^ok$/],
        ["custom, every model runs on the target", "custom", { cpuModels: { kvm64: "ok" } }, {}, /^ok$/],
        ["custom, a model the target cannot run", "custom", { cpuModels: { kvm64: "ok", "Cascadelake-Server": "incompatible: CPU described in the model is incompatible with host CPU" } }, {}, /^incompatible: b cannot run cpu_models Cascadelake-Server \(CPU described in the model is incompatible with host CPU\): guests with that model can neither start nor arrive there$/],
        ["none", "none", {}, { vendor: "AMD" }, /^ok \(cpu_mode none/],
    ])("CPU for nova's cpu_mode: %s", (_what, mode, target, targetCpu, expected) => {
        expect(pairCpu(mode, facts("a"), facts("b", target, targetCpu))).toMatch(expected);
    });

    it("the common CPU features of the group", () => {
        expect(commonCpuFeatures([facts("a"), facts("b", {}, { features: ["sse2", "avx512f", "x"] })])).toEqual(["sse2", "avx512f"]);
    });
});

describe("the data-plane checks, run as shell", () => {
    const run = (script: string) => spawnSync("bash", ["--norc", "-c", `hw_output() { printf 'OUT %s=%s\\n' "$1" "$2"; }; hw_warn() { printf 'WARN %s\\n' "$*"; }; hw_log() { :; }; hw_data_failed=""\n${script}\nprintf 'FAILED%s\\n' "$hw_data_failed"`], { encoding: "utf8" }).stdout;

    it.each<[string, string, string | undefined, string[], RegExp]>([
        ["a name that leads to one of the peer's addresses", "localhost", undefined, ["127.0.0.1"], /OUT name\.b=ok \(localhost -> 127\.0\.0\.1\)/],
        ["a name that leads elsewhere", "localhost", undefined, ["10.9.9.9"], /OUT name\.b=elsewhere: localhost resolves to 127\.0\.0\.1 here; 127\.0\.0\.1 not an address of b \(10\.9\.9\.9\)\nWARN localhost resolves to 127\.0\.0\.1 here; 127\.0\.0\.1 not an address of b \(10\.9\.9\.9\): nova and libvirt may dial it/],
        ["a listen address the name must lead to", "localhost", "127.0.0.1", ["10.9.9.9"], /OUT name\.b=ok \(localhost -> 127\.0\.0\.1\)/],
        ["a name that does not resolve", "no-such-host.invalid", undefined, ["10.0.0.2"], /OUT name\.b=failed: no-such-host\.invalid does not resolve here\n[\s\S]*FAILED; no-such-host\.invalid \(b\) does not resolve on this node/],
    ])("name: %s", (_what, address, listenAddress, addresses, expected) => {
        expect(run(dataPlaneChecks([{ host: "b", address, listenAddress, facts: facts("b", { addresses, dataPort: "none: test" }) }]))).toMatch(expected);
    });

    it("a peer without a listener is reported, not failed; a hostile peer name stays one word", () => {
        const out = run(dataPlaneChecks([{ host: "b'$(touch /tmp/hw-pwned)", address: "localhost", facts: facts("b", { addresses: ["127.0.0.1"], dataPort: "none: python3 is not installed on b" }) }]));
        expect(out).toContain("OUT data.b'$(touch /tmp/hw-pwned)=not checked: none: python3 is not installed on b");
        expect(out).toContain("WARN QEMU migration ports of b'$(touch /tmp/hw-pwned) not checked");
        expect(out).toMatch(/FAILED\n$/);
    });

    it("the listener binds the first free port of the range, answers the greeting, and hw_data reads it; a closed port fails naming the pair", () => {
        const started = execFileSync("python3", ["-c", LISTENER_PY, "49530", "49539", "20"], { encoding: "utf8" }).trim();
        const [port, pid] = started.split(" ").map(Number);
        try {
            expect(port).toBeGreaterThanOrEqual(49530);
            expect(port).toBeLessThanOrEqual(49539);
            const out = run(dataPlaneChecks([{ host: "b", address: "127.0.0.1", facts: facts("b", { addresses: ["127.0.0.1"], dataPort: port }) }]));
            expect(out).toContain(`OUT data.b=ok (port ${port})`);
            expect(out).toMatch(/FAILED\n$/);
            const closed = run(dataPlaneChecks([{ host: "b", address: "127.0.0.1", facts: facts("b", { addresses: ["127.0.0.1"], dataPort: 9 }) }]));
            expect(closed).toMatch(/OUT data\.b=failed: port 9 on 127\.0\.0\.1: .*Connection refused/);
            expect(closed).toMatch(/FAILED; QEMU migration port 9 on b \(127\.0\.0\.1\): .*Connection refused.* \(open ports of migration_port_min\.\.max between the nodes\)/);
        } finally {
            process.kill(pid);
        }
        expect(LISTENER_GREETING).toBe("hostwright migration port");
    });

    it("every peer's port is tried at once and reported in peer order, each failure in the one list", async () => {
        // Four listeners that greet only once all four have a connection: tried one after
        // another, the first would wait for the others until the gate gives up, and all fail.
        const gate = `
import socket, sys, time
socks = []
for _ in range(4):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
for s in socks: s.settimeout(8)
conns = []
try:
    for s in socks: conns.append(s.accept()[0])
    for c in conns: c.sendall(sys.argv[1].encode())
except socket.timeout:
    pass
time.sleep(0.5)`;
        const child = spawn("python3", ["-c", gate, LISTENER_GREETING], { stdio: ["ignore", "pipe", "inherit"] });
        try {
            const line = await new Promise<string>((resolve, reject) => {
                child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
                child.once("error", reject);
            });
            const ports = line.split(" ").map(Number);
            const peers = ["b", "c", "d", "e", "f"].map((host, i) => ({ host, address: "127.0.0.1", facts: facts(host, { addresses: ["127.0.0.1"], dataPort: i === 2 ? 9 : ports[i > 2 ? i - 1 : i] }) }));
            const out = run(dataPlaneChecks(peers));
            expect(out.split("\n").filter((l) => l.startsWith("OUT data."))).toEqual([
                `OUT data.b=ok (port ${ports[0]})`,
                `OUT data.c=ok (port ${ports[1]})`,
                expect.stringMatching(/^OUT data\.d=failed: port 9 on 127\.0\.0\.1: .*Connection refused/),
                `OUT data.e=ok (port ${ports[2]})`,
                `OUT data.f=ok (port ${ports[3]})`,
            ]);
            expect(out).toMatch(/FAILED; QEMU migration port 9 on d \(127\.0\.0\.1\): .*Connection refused.*\n$/);
        } finally {
            child.kill();
        }
    });
});

describe("migration ports and host UUIDs in the args", () => {
    const g = groupPki([
        { name: "a", names: ["a.example.test"] },
        { name: "b", names: ["b.example.test"] },
    ]);
    const errors = (over: object) => checkLiveMigration({ ...tlsArgs(g), ...over }).filter((i) => i.severity === "error").map((i) => `${i.path}: ${i.message}`);
    const withUuids = (a?: string, b?: string) => ({ nodes: tlsArgs(g).nodes.map((n, i) => ({ ...n, hostUuid: i === 0 ? a : b })) });

    it.each<[string, object, string[]]>([
        ["QEMU's default range", {}, []],
        ["a range of its own", { migrationPortMin: 49400, migrationPortMax: 49410 }, []],
        ["a reversed range", { migrationPortMin: 49500, migrationPortMax: 49400 }, ["migrationPortMax: 49400 is below migrationPortMin 49500"]],
        ["a privileged port", { migrationPortMin: 80 }, ["migrationPortMin: 80 must be a TCP port 1024-65535"]],
        ["a range holding libvirt's TLS port", { migrationPortMin: 16000, migrationPortMax: 17000 }, ["migrationPortMin: the range 16000-17000 holds libvirt's own port 16514; QEMU would take it"]],
        ["two distinct host UUIDs", withUuids("6c1f0e7a-3b59-4d0e-8a6f-0d2b9e51c7a4", "6C1F0E7A-3B59-4D0E-8A6F-0D2B9E51C7A5"), []],
        ["one host UUID on both nodes", withUuids("6c1f0e7a-3b59-4d0e-8a6f-0d2b9e51c7a4", "6C1F0E7A-3B59-4D0E-8A6F-0D2B9E51C7A4"), ['nodes[1].hostUuid: (host b) 6c1f0e7a-3b59-4d0e-8a6f-0d2b9e51c7a4 is also the hostUuid of nodes[0] (a); migrations between them would fail with "Attempt to migrate guest to the same host"']],
        ["a host UUID that is no UUID", withUuids("host-a; reboot"), ['nodes[0].hostUuid: (host a) "host-a; reboot" must be a UUID like 8e2b8ac2-6f5a-4a4c-9d38-2f0f2b3c9a11 (uuidgen)']],
        ["a host UUID of one repeated digit", withUuids("ffffffff-ffff-ffff-ffff-ffffffffffff"), ["nodes[0].hostUuid: (host a) ffffffff-ffff-ffff-ffff-ffffffffffff repeats one digit; libvirt rejects such a host UUID"]],
    ])("%s", (_what, over, expected) => expect(errors(over)).toEqual(expected));

    it("writes the range into qemu.conf only when given, and host_uuid into the daemon's file", () => {
        const plain = renderNodeStep(tlsArgs(g), 0);
        expect(plain.edits.map((e) => e.path)).not.toContain(PATHS.qemuConf);
        const step = renderNodeStep({ ...tlsArgs(g), migrationPortMin: 49400, ...withUuids("6C1F0E7A-3B59-4D0E-8A6F-0D2B9E51C7A4") }, 0);
        const qemu = step.edits.find((e) => e.path === PATHS.qemuConf)!;
        expect(qemu.filter).toContain(`set\n\nmigration_port_min\n49400\nset\n\nmigration_port_max\n${migrationPorts({ migrationPortMin: 49400 }).max}`);
        expect(step.edits.find((e) => e.path === PATHS.libvirtdConf)!.filter).toContain('host_uuid\n"6c1f0e7a-3b59-4d0e-8a6f-0d2b9e51c7a4"');
        expect(step.edits.find((e) => e.path === PATHS.virtqemudConf)!.filter).toMatch(/^if \[ "\$HW_LIBVIRT_DAEMON" = virtproxyd \]/);
        // a change of either restarts libvirt (its activate tests hw_changed on them)
        expect(step.activate).toContain(`hw_changed ${PATHS.qemuConf}`);
    });
});
