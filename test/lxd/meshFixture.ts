/**
 * The mesh the LxdRemoteMesh unit tests declare (h1, h2, h3) and what its steps
 * "printed" after a run (the probes' facts, the tokens, the verified links).
 */
import { readFileSync } from "fs";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import type { LxdRemoteMeshArgs } from "../../components/lxd/args";

const QUERY = readFileSync(join(__dirname, "../../components/lxd/fixtures/lxc-query-1.0.json"), "utf8");
export const b64 = (s: string) => Buffer.from(s).toString("base64");
export const host = (name: string, i: number): Host => ({ name, address: `198.18.0.${10 + i}`, privateKey: pulumi.secret(`KEY-${name}`), hostKey: "ssh-ed25519 AAAA", init: "sysv" });
export const NAMES = ["h1", "h2", "h3"];
export const args = (over: Partial<LxdRemoteMeshArgs> = {}): LxdRemoteMeshArgs => ({ members: NAMES.map((n, i) => ({ host: host(n, i) })), ...over });
export const CLIENT_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
export const TOKEN = (target: string, source: string) => `eyJ${b64(`${target}-${source}-SECRET`)}`;

/** h1 has instance web (profile "web", pool "fast"); h2 and h3 have only the defaults. */
export function probeOut(version: string, host: string): string {
    const q = JSON.parse(QUERY);
    q.environment.server_version = version;
    q.config = {};
    const lines = {
        "probe.kernel": "6.1.0",
        "probe.server_rc": "0",
        "probe.server": b64(JSON.stringify(q)),
        "probe.modules": b64("vxlan 1 0 - Live 0x0\n"),
        "probe.builtin": b64("CONFIG_NETLINK_DIAG=y"),
        "probe.criu_rc": "127",
        "probe.criu": b64("criu: not found"),
        "probe.client_certificate": "no",
        // certificate mode: the client certificate the probe made for the host
        "probe.client_pem": b64(CLIENT_CERT),
        "probe.client_candidate": `/var/lib/hostwright/steps/mesh-${host}-probe.owned`,
        "probe.openssl": "yes",
        "probe.curl": "yes",
        "probe.curl_version": "7.88.1",
        ...Object.fromEntries(NAMES.map((n) => [`probe.connect.${n}`, "refused"])),
        "probe.profiles": b64(JSON.stringify(host === "h1" ? ["/1.0/profiles/default", "/1.0/profiles/web"] : ["/1.0/profiles/default"])),
        "probe.pools": b64(JSON.stringify(host === "h1" ? ["/1.0/storage-pools/default", "/1.0/storage-pools/fast"] : ["/1.0/storage-pools/default"])),
        "probe.networks": b64("[]"),
        "probe.instances": b64(JSON.stringify(host === "h1" ? [{ name: "web", type: "container", status: "Stopped", profiles: ["default", "web"], expanded_devices: { root: { type: "disk", pool: "fast" } } }] : [])),
    };
    return Object.entries(lines).map(([k, v]) => `HOSTWRIGHT_OUTPUT ${k}=${v}`).join("\n");
}

/** What each step "printed", for the steps that have "run". */
export function state(upTo: "probe" | "serve" | "remotes", versions: Record<string, string> = {}, trust: "token" | "certificate" = "certificate") {
    const order = ["probe", "serve", "remotes"];
    return (_type: string, name: string) => {
        const m = /^mesh-(h\d)-(\w+)$/.exec(name);
        if (!m || order.indexOf(m[2]) > order.indexOf(upTo)) return undefined;
        const [, h, step] = m;
        const lines =
            step === "probe"
                ? probeOut(versions[h] ?? "5.0.2", h)
                : step === "serve"
                  ? trust === "token"
                      ? NAMES.map((s) => `HOSTWRIGHT_OUTPUT token.${s}=${TOKEN(h, s)}`).join("\n")
                      : ""
                  : NAMES.map((t) => `HOSTWRIGHT_OUTPUT link.${t}=ok`).join("\n");
        return { stdout: `hostwright[${name}]: ${step}\n${lines}`, stderr: "" };
    };
}

/** The mesh's own steps, in declaration order (the core may declare steps of its own on the hosts). */
export const meshSteps = (rec: { commands: Array<{ name: string }> }) => rec.commands.map((c) => c.name).filter((n) => n.startsWith("mesh-"));

