import { execFileSync, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import { renderStep, StepSpec } from "../../core/step";
import { localScript } from "../core/stepRunner";
import type { OvsPortMirrorArgs } from "../../components/ovs/args";
import { fetchCommand, MirrorPlan, outputPortName, planHash, planMirror, planPcap, renderMirrorStep, rotatingCaptureCommand, tcpdumpCommand } from "../../components/ovs/render";
import { shq } from "../../core/shell";

const node: Host = { name: "compute-1", address: "10.0.0.11", privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" };
const KEY = "web-mirror-0123abcd";
const plan = (args: Partial<OvsPortMirrorArgs>, ports = args.ports ?? ["qvobee51cf7-fb"]) => planMirror({ host: node, ...args }, "web", KEY, ports);
const stepOf = (p: MirrorPlan) => renderMirrorStep(p, "compute-1");
/** The one ovs-vsctl transaction that creates port and mirror. */
const transactionOf = (p: MirrorPlan) => {
    const activate = stepOf(p).activate!;
    return activate.slice(activate.indexOf("hwo_vsctl \\"), activate.indexOf(">/dev/null", activate.indexOf("hwo_vsctl \\")));
};

describe("planMirror defaults", () => {
    it("names the capture interface and the tunnel port from the step key, within Linux's 15 characters", () => {
        const capture = plan({});
        expect(capture.output).toEqual({ type: "capture", kind: "auto", name: expect.stringMatching(/^hwm[0-9a-f]{8}$/) });
        expect(capture.bridge).toBe("br-int");
        expect(capture.direction).toBe("both");
        expect(capture.mirrorName).toBe("hostwright-web");
        const veth = plan({ capture: { kind: "veth" } });
        expect(veth.output).toMatchObject({ kind: "veth", peer: expect.stringMatching(/^hwp[0-9a-f]{8}$/) });
        expect(outputPortName(veth)).toBe((veth.output as { peer: string }).peer);
        const tunnel = plan({ collector: { protocol: "gre", address: "192.0.2.9" } });
        expect(outputPortName(tunnel)).toMatch(/^hwt[0-9a-f]{8}$/);
        // other step keys, other names
        expect(planMirror({ host: node, ports: ["p"] }, "web", "other-key", ["p"]).output).not.toEqual(capture.output);
    });

    it("changes the spec hash with anything that changes the node's state", () => {
        const base = planHash(plan({}));
        expect(planHash(plan({}))).toBe(base);
        for (const change of [{ direction: "ingress" as const }, { vlans: [5] }, { capture: { kind: "veth" as const } }, { bridge: "br-x" }, { mirrorName: "m" }]) {
            expect(planHash(plan(change))).not.toBe(base);
        }
    });
});

describe("the transaction", () => {
    it.each<[string, Partial<OvsPortMirrorArgs>, string[], string[]]>([
        ["both directions", {}, ["select-src-port=@s0", "select-dst-port=@s0"], ["select_all"]],
        ["ingress: packets entering the bridge from the port", { direction: "ingress" }, ["select-src-port=@s0"], ["select-dst-port"]],
        ["egress: packets the bridge sends to the port", { direction: "egress" }, ["select-dst-port=@s0"], ["select-src-port"]],
        ["several ports", { ports: ["qvoa", "qvob"] }, ["-- --id=@s0 get Port qvoa", "-- --id=@s1 get Port qvob", "select-src-port=@s0,@s1"], []],
        ["the whole bridge", { wholeBridge: true, ports: undefined }, ["select_all=true"], ["select-src-port", "get Port"]],
        ["VLANs, sorted", { vlans: [20, 10] }, ["'select_vlan=[10,20]'"], []],
        ["an internal capture (auto without dummy)", {}, ["$hwo_iface", "-- add Bridge br-int ports @op"], []],
        ["a GRE collector", { collector: { protocol: "gre", address: "192.0.2.9", key: 7 } }, ["type=gre", `'options:remote_ip="192.0.2.9"'`, `'options:key="7"'`], ["$hwo_iface"]],
        [
            "an ERSPAN v2 collector on IPv6, egress",
            { direction: "egress", collector: { protocol: "erspan", address: "2001:db8::9", erspanVersion: 2, erspanHardwareId: 4 } },
            ["type=ip6erspan", `'options:erspan_ver="2"'`, `'options:erspan_dir="1"'`, `'options:erspan_hwid="4"'`, `'options:key="1"'`],
            ["erspan_idx"],
        ],
        ["an ERSPAN v1 collector", { collector: { protocol: "erspan", address: "192.0.2.9" } }, ["type=erspan", `'options:erspan_idx="1"'`], ["erspan_hwid"]],
    ])("%s", (_title, args, present, absent) => {
        const txn = transactionOf(plan(args, args.ports ?? (args.wholeBridge ? [] : ["qvobee51cf7-fb"])));
        for (const p of present) expect(txn).toContain(p);
        for (const a of absent) expect(txn).not.toContain(a);
        // one transaction that appends, never replaces the bridge's mirrors, and marks what it makes
        expect(txn).toContain("-- add Bridge br-int mirrors @m");
        expect(txn).not.toMatch(/set Bridge|mirrors=/);
        expect(txn.match(/external_ids:hostwright-owner="web-mirror-0123abcd"/g)).toHaveLength(3);
        expect(txn).toContain("output-port=@op");
    });
});

describe("the step", () => {
    it("finds its own objects by the mark, never by name, and removes only them", () => {
        const step = stepOf(plan({ capture: { kind: "veth", name: "cap0" } }));
        expect(step.undo).toContain(`hwo_mark='external_ids:hostwright-owner="web-mirror-0123abcd"'`);
        expect(step.undo).toContain(`hwo_alias=hostwright-owner=web-mirror-0123abcd`);
        expect(step.undo).toContain("hwo_remove_own_rows");
        expect(step.undo).toContain("hwo_remove_own_links");
        expect(step.undo).not.toMatch(/del-port|--if-exists|destroy Mirror|clear Bridge/);
        expect(step.activate).toContain("ip link add name cap0 type veth peer name hwp");
        expect(step.activate).toContain(`alias "$hwo_alias"`);
        expect(step.preflight).toContain("hwo_vsctl port-to-br");
    });

    it.each<[string, Partial<OvsPortMirrorArgs>, string]>([
        ["tcpdump on the capture interface", { capture: { name: "cap0" } }, "tcpdump -ni cap0 -w /tmp/x.pcap"],
        ["tcpdump for GRE on an IPv4 collector", { collector: { protocol: "gre", address: "192.0.2.9" } }, "tcpdump -ni any -w /tmp/x.pcap 'ip proto 47'"],
        ["tcpdump for ERSPAN on an IPv6 collector", { collector: { protocol: "erspan", address: "2001:db8::9" } }, "tcpdump -ni any -w /tmp/x.pcap 'ip6 proto 47'"],
    ])("%s", (_title, args, command) => {
        expect(tcpdumpCommand(plan(args), "/tmp/x.pcap")).toBe(command);
    });
});

/**
 * Runs a rendered create script with stand-ins for ovs-vsctl and ip that log their
 * arguments (one per line, NUL-terminated), so a test can see exactly which words
 * each program received.
 */
function runWithStubs(script: string): { status: number; out: string; calls: string[][]; dir: string } {
    const dir = mkdtempSync(join(tmpdir(), "hw-ovs-"));
    const log = join(dir, "calls");
    const stub = (answers: string) => `#!/bin/bash\n{ printf '%s\\0' "$(basename "$0")" "$@"; printf '\\n'; } >> ${log}\n${answers}\n`;
    writeFileSync(
        join(dir, "ovs-vsctl"),
        stub(`args=" $* "
case "$args" in
  *" port-to-br "*) echo br-int ;;
  *" find "*|*" list "*) ;;
  *" get Interface "*) echo "[]" ;;
  *" get "*) echo 00000000-0000-0000-0000-000000000001 ;;
esac
exit 0`),
    );
    writeFileSync(join(dir, "ip"), stub(`case " $* " in *" show "*) exit 1 ;; *" type dummy"*) exit 2 ;; esac; exit 0`));
    chmodSync(join(dir, "ovs-vsctl"), 0o755);
    chmodSync(join(dir, "ip"), 0o755);
    // State and run directories (host lock) in the scratch directory: runs as any user.
    const local = localScript(script, dir);
    let status = 0;
    let out: string;
    try {
        out = execFileSync("bash", ["-s"], { input: local, encoding: "utf8", cwd: dir, env: { PATH: `${dir}:/usr/bin:/bin` }, stdio: ["pipe", "pipe", "pipe"] });
    } catch (e: any) {
        status = e.status;
        out = `${e.stdout}${e.stderr}`;
    }
    const calls = existsSync(log)
        ? readFileSync(log, "utf8")
              .split("\n")
              .filter(Boolean)
              .map((line) => line.split("\0").slice(0, -1))
        : [];
    return { status, out, calls, dir };
}

describe("hostile values reach ovs-vsctl as single, literal words", () => {
    const hostile = ["$(touch pwned)", "`touch pwned`", "a'b\"c", "x;touch pwned", "-- --id=@evil", "*"];
    it.each(hostile)("source port %j", (port) => {
        const step = renderMirrorStep(plan({ ports: [port] }, [port]), "compute-1");
        const r = runWithStubs(renderStep({ ...step, files: undefined, key: KEY }).create);
        try {
            expect(r.status).toBe(0);
            expect(r.out).toContain("HOSTWRIGHT_OUTPUT status=created");
            expect(existsSync(join(r.dir, "pwned"))).toBe(false);
            // preflight: the port is looked up by its exact name
            expect(r.calls).toContainEqual(["ovs-vsctl", "--timeout=30", "port-to-br", port]);
            // the transaction: `get Port NAME` with NAME as one argument
            const txn = r.calls.find((c) => c.includes("create") && c.includes("Mirror"))!;
            const at = txn.indexOf("--id=@s0");
            expect(txn.slice(at, at + 4)).toEqual(["--id=@s0", "get", "Port", port]);
            expect(txn.slice(-6)).toEqual(["--", "add", "Bridge", "br-int", "mirrors", "@m"]);
        } finally {
            rmSync(r.dir, { recursive: true, force: true });
        }
    });

    it("a hostile mirror name becomes one quoted OVSDB string", () => {
        const name = `m"1\\'$(id)`;
        const step = renderMirrorStep(planMirror({ host: node, ports: ["p1"], mirrorName: name }, "web", KEY, ["p1"]), "compute-1");
        const r = runWithStubs(renderStep({ ...step, files: undefined, key: KEY }).create);
        try {
            const txn = r.calls.find((c) => c.includes("create") && c.includes("Mirror"))!;
            expect(txn).toContain(`name=${JSON.stringify(name)}`);
            const check = r.calls.find((c) => c.includes("find") && c.includes("Mirror") && c.some((w) => w.startsWith("name=")))!;
            expect(check).toContain(`name=${JSON.stringify(name)}`);
        } finally {
            rmSync(r.dir, { recursive: true, force: true });
        }
    });
});

describe("capture lifecycle", () => {
    it("a lifetime and a capture revision change the spec (a new capture); allowing overlap does not", () => {
        const base = planHash(plan({}));
        expect(planHash(plan({ durationSeconds: 5 }))).not.toBe(base);
        expect(planHash(plan({ durationSeconds: 5, captureRevision: 2 }))).not.toBe(planHash(plan({ durationSeconds: 5 })));
        expect(planHash(plan({ allowOverlappingMirrors: true }))).toBe(base);
    });
    it("starts an expiry job only with a lifetime; the undo stops it first and removes its record", () => {
        const timed = stepOf(plan({ durationSeconds: 5 }));
        expect(timed.activate).toContain(`setsid bash "$hwo_cap/expire.sh" "$hwo_cap" "$1" </dev/null >/dev/null 2>&1 &`);
        expect(timed.activate).toContain(`hwo_start_expiry "$(( $(date +%s) + 5 ))"`);
        expect(timed.activate).toContain("it is not made again (raise captureRevision for a new capture)");
        const plain = stepOf(plan({}));
        expect(plain.activate).not.toContain("hwo_start_expiry");
        // a permanent mirror after a timed one: the old job is stopped
        expect(plain.activate).toContain(`if [ -d "$hwo_cap" ]; then hwo_lock_capture; hwo_stop_expiry; exec 8>&-; rm -rf -- "$hwo_cap"; fi`);
        for (const step of [timed, plain]) {
            expect(step.undo!.indexOf("hwo_stop_expiry; fi")).toBeLessThan(step.undo!.indexOf("  hwo_remove_own_rows"));
            expect(step.undo).toContain(`rm -rf -- "$hwo_cap"`);
        }
    });
    it("the overlap check runs unless allowed, for ports or for the whole bridge", () => {
        expect(stepOf(plan({})).activate).toContain("refusing a second mirror");
        expect(stepOf(plan({ allowOverlappingMirrors: true })).activate).not.toContain("refusing a second mirror");
        expect(stepOf(plan({ wholeBridge: true }, [])).activate).toContain(`hwo_overlap "$hwo_m" "bridge $hwo_br (every port)"`);
    });
    it.each(["qvo'$(touch /tmp/pwned)", "a b;c", "`id`"])("the rendered scripts parse with a hostile port %j, which stays one word", (port) => {
        const scripts = renderStep({ key: KEY, ...stepOf(plan({ durationSeconds: 5 }, [port])) } as StepSpec);
        for (const script of [scripts.create, scripts.delete]) execFileSync("bash", ["-n"], { input: script });
        expect(scripts.create).toContain(`for hwo_p in ${shq(port)}; do`);
    });
});

describe("ready-to-run capture and fetch commands", () => {
    /** The argv a command line gives `program`, as the shell parses it. */
    const argvOf = (cmd: string, program: string) =>
        spawnSync("bash", ["-c", `${program}() { printf '%s\\n' "$@" >&2; }; tar() { :; }; ${cmd}`], { encoding: "utf8" }).stderr.split("\n").slice(0, -1);
    it.each<[string, Partial<OvsPortMirrorArgs>, (p: MirrorPlan) => string[]]>([
        ["defaults", {}, (p) => ["-ni", (p.output as { name: string }).name, "-Z", "root", "-C", "100", "-W", "10", "-w", `/var/tmp/hostwright-${(p.output as { name: string }).name}.pcap`]],
        ["a hostile path", { pcap: { path: "/var/tmp/it's $(id) `x`.pcap", fileMegabytes: 5, files: 2 } }, (p) => ["-ni", (p.output as { name: string }).name, "-Z", "root", "-C", "5", "-W", "2", "-w", "/var/tmp/it's $(id) `x`.pcap"]],
        ["a collector (run on the collector)", { collector: { protocol: "gre", address: "192.0.2.9" } }, () => ["-ni", "any", "-Z", "root", "-C", "100", "-W", "10", "-w", "/var/tmp/hostwright-hostwright-web.pcap", "ip proto 47"]],
    ])("%s", (_what, args, expected) => {
        const p = plan(args);
        const cmd = rotatingCaptureCommand(p, planPcap({ host: node, ...args }, p));
        expect(cmd.startsWith("tcpdump ")).toBe(true);
        expect(argvOf(cmd, "tcpdump")).toEqual(expected(p));
    });
    it("fetches every rotated file with the node's SSH login; a hostile file name stays literal on the node's shell", () => {
        const dir = mkdtempSync(join(tmpdir(), "hw-ovs-fetch-"));
        try {
            const path = `${dir}/it's $(id) \`x\`.pcap`;
            for (const n of [0, 1]) writeFileSync(`${path}${n}`, `packets ${n}`);
            writeFileSync(`${dir}/other.pcap0`, "not ours");
            const cmd = fetchCommand({ address: "10.0.0.11", port: 2222, user: "ops" }, { path, fileMegabytes: 1, files: 2 });
            expect(cmd.endsWith(" | tar -xvf -")).toBe(true);
            const [p, port, login, remote, ...rest] = argvOf(cmd, "ssh");
            expect([p, port, login, rest]).toEqual(["-p", "2222", "ops@10.0.0.11", []]);
            // what the node's shell runs: every rotated file of this capture, nothing else
            const listed = execFileSync("bash", ["-c", `${remote} | tar -tf -`], { encoding: "utf8" });
            expect(listed.split("\n").filter(Boolean).sort()).toEqual(["it's $(id) `x`.pcap0", "it's $(id) `x`.pcap1"]);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
