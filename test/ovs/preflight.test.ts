/**
 * The mirror's pre-flight: everything the node lacks (the bridge, source ports, a
 * port on another bridge) named in one error, before any change; run against a
 * stand-in ovs-vsctl that answers for one node and logs every call.
 */
import { execFileSync } from "child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import { renderStep } from "../../core/step";
import { localScript } from "../core/stepRunner";
import type { OvsPortMirrorArgs } from "../../components/ovs/args";
import { planMirror, renderMirrorStep } from "../../components/ovs/render";

const node: Host = { name: "compute-1", address: "10.0.0.11", privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" };
const KEY = "web-mirror-0123abcd";
const HOSTILE = "$(touch pwned)'x";

/** ovs-vsctl of a node with bridges br-int and br-ex; port qvo-int on br-int, qvo-ex on br-ex. */
const FAKE_VSCTL = `#!/bin/bash
printf '%s\\n' "$*" >> "$FAKE_LOG"
shift # --timeout=30
case "$1" in
  show) exit 0 ;;
  br-exists) case "$2" in br-int|br-ex) exit 0 ;; *) exit 2 ;; esac ;;
  list-br) printf 'br-ex\\nbr-int\\n' ;;
  port-to-br) case "$2" in qvo-int) echo br-int ;; qvo-ex) echo br-ex ;; *) echo "ovs-vsctl: no port named $2" >&2; exit 1 ;; esac ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac`;

function create(args: Partial<OvsPortMirrorArgs>): { status: number; stderr: string; calls: string[]; dir: string } {
    const dir = mkdtempSync(join(tmpdir(), "hw-ovs-pre-"));
    writeFileSync(join(dir, "ovs-vsctl"), FAKE_VSCTL);
    chmodSync(join(dir, "ovs-vsctl"), 0o755);
    const ports = args.ports ?? [];
    const step = renderMirrorStep(planMirror({ host: node, ...args }, "web", KEY, ports), "compute-1");
    const script = localScript(renderStep({ ...step, files: undefined, key: KEY }).create, dir);
    let status = 0;
    let stderr = "";
    try {
        execFileSync("bash", ["-s"], { input: script, encoding: "utf8", cwd: dir, env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_LOG: join(dir, "calls") }, stdio: ["pipe", "pipe", "pipe"] });
    } catch (e: any) {
        status = e.status;
        stderr = String(e.stderr);
    }
    const calls = existsSync(join(dir, "calls")) ? readFileSync(join(dir, "calls"), "utf8").trim().split("\n") : [];
    return { status, stderr, calls, dir };
}

describe("OVS mirror pre-flight: what the node lacks, in one error, before any change", () => {
    it("names the missing bridge, every missing port and a port on another bridge together", () => {
        const r = create({ bridge: "br-x", ports: ["qvo-int", "qvo-gone", HOSTILE] });
        try {
            expect(r.status).toBe(1);
            expect(r.stderr).toContain(
                [
                    "ERROR: the mirror cannot be made on this node, nothing was changed:",
                    "- bridge br-x does not exist on this node (bridges: br-ex br-int )",
                    "- source port qvo-int is on bridge br-int, not on br-x",
                    "- source port qvo-gone does not exist on this node (is the VM running here? ovs-vsctl list-ports br-x)",
                    `- source port ${HOSTILE} does not exist on this node (is the VM running here? ovs-vsctl list-ports br-x)`,
                ].join("\n"),
            );
            // only read-only questions were asked; the hostile name arrived as one literal word
            expect(r.calls.map((c) => c.split(" ")[1])).toEqual(["show", "br-exists", "list-br", "port-to-br", "port-to-br", "port-to-br"]);
            expect(r.calls).toContain(`--timeout=30 port-to-br ${HOSTILE}`);
            expect(existsSync(join(r.dir, "pwned"))).toBe(false);
        } finally {
            rmSync(r.dir, { recursive: true, force: true });
        }
    });

    it("a port on another bridge alone is named", () => {
        const r = create({ bridge: "br-int", ports: ["qvo-ex"] });
        try {
            expect(r.status).toBe(1);
            expect(r.stderr).toMatch(/nothing was changed:\n- source port qvo-ex is on bridge br-ex, not on br-int\n/);
        } finally {
            rmSync(r.dir, { recursive: true, force: true });
        }
    });
});
