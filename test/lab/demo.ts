/**
 * `npm run lab -- demo [STACK]`: brings up one lab host per inventory host of the
 * stack (default `example`), points the inventory at them, prepares each host like
 * a real one of its role (label `role: proxy|compute|lxd`), applies the real program
 * with the harness, prints what ran and what each component's demo check verified
 * per host, destroys, checks that every host's files are back, and tears the lab down.
 *
 * Components join the demo with a {@link DemoCheck} listed in {@link demoChecks}
 * (the same checks their end-to-end tests make).
 */
import * as os from "os";
import * as path from "path";
import * as fs from "fs";
import { createHash, createPublicKey, X509Certificate } from "crypto";
import { readStackFile, stackFilePath } from "../../tools/stackFile";
import { CertificateAuthority, IssuedCert, Pki } from "../../tools/pki";
import { sh } from "../../core/shell";
import { LOOKUP } from "../../components/ovs/openstack";
import { Lab, LabHost, snapshotTree, startLab } from "./lab";
import { ApplyOptions, ApplyResult, Harness, Operation, Program } from "./harness";
import { curlVia, BackendEcho, stapleSeen, startEchoBackend, startOcspResponder } from "../h2o/h2o-lab";
import { addCollector, addVm, captureIcmp, must as ovsMust, ping, startOvs, tcpdumpWhile, Vm } from "../ovs/ovs-lab";
import { prepareComputeNodeAs } from "../libvirt/labLibvirt";
import { lxdExec, startLxd } from "../lxd/lxd-lab";
import { dhcpBound } from "../dns/dns-lab";

export const PROJECT = "hostwright";
export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
/** The example stack's documented passphrase (throw-away keys). */
export const EXAMPLE_PASSPHRASE = "hostwright-example";
/** Extra lab hosts the demo adds for what the stack points at outside its inventory. */
export const BACKEND_HOST = "backend";
export const OCSP_HOST = "ocsp";

/** One verified fact about a host, as a line of the demo's report. */
export interface DemoFinding {
    host: string;
    /** The config section whose check made it (set by the demo), or "files" for the restore check. */
    component?: string;
    what: string;
    ok: boolean;
    detail?: string;
}

/** What the demo set up around the stack, for the checks. */
export interface DemoEnvironment {
    /** Directory on this machine for the checks' files (removed with the demo). */
    dir: string;
    /** PEM file (on this machine) with the demo PKI's root CAs: what a client trusts. */
    trustFile: string;
    /** The lab address of each inventory host and extra host. */
    addresses: Record<string, string>;
    /** VMs plugged into br-int per compute host (by inventory name). */
    vms: Record<string, Vm[]>;
    /** Collector network namespaces per compute host: collector address -> namespace name. */
    collectors: Record<string, Record<string, string>>;
}

/** A component's demo check: runs after the apply, on the lab hosts its section used. */
export interface DemoCheck {
    /** Config section key, e.g. `h2o`: the check runs when the stack has it. */
    section: string;
    verify(ctx: { lab: Lab; outputs: Record<string, unknown>; config: unknown; env: DemoEnvironment }): Promise<DemoFinding[]>;
}

type Print = (line: string) => void;
type Json = any;

/** Runs the demo; resolves to false when any apply step, check or restore failed. */
export async function runDemo(stack = "example", print: Print = console.log): Promise<boolean> {
    return (await runDemoReport(stack, print)).ok;
}

/** The demo, with every finding (for the lab test). */
export async function runDemoReport(stack = "example", print: Print = console.log): Promise<{ ok: boolean; findings: DemoFinding[]; apply?: ApplyResult; destroy?: ApplyResult }> {
    const t0 = Date.now();
    const file = readStackFile(stackFilePath(PROJECT_DIR, stack), PROJECT, process.env.PULUMI_CONFIG_PASSPHRASE ?? EXAMPLE_PASSPHRASE);
    const inventory = JSON.parse(file.values["hostwright:inventory"] ?? "{}") as { hosts?: Array<{ name: string }> };
    const names = (inventory.hosts ?? []).map((h) => h.name);
    if (names.length === 0) throw new Error(`stack ${stack} has no hostwright:inventory hosts`);
    const extras = file.values["hostwright:h2o"] ? [BACKEND_HOST, OCSP_HOST].filter((n) => !names.includes(n)) : [];

    const lab = await startLab({ hosts: [...names, ...extras] });
    print(`lab ${lab.prefix}: ${names.length + extras.length} hosts up in ${Date.now() - t0} ms (${[...names, ...extras].join(", ")})`);
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "hostwright-demo-"));
    const findings: DemoFinding[] = [];
    let apply: ApplyResult | undefined;
    let destroy: ApplyResult | undefined;
    try {
        const demo = demoConfig(file.values, lab, stateDir);
        const env: DemoEnvironment = {
            dir: stateDir,
            trustFile: demo.trustFile,
            addresses: Object.fromEntries(lab.hosts.map((h) => [h.name, h.address])),
            vms: {},
            collectors: {},
        };
        let t = Date.now();
        print("preparing the hosts by role (h2o, OCSP responder, OVS with VMs, libvirtd, LXD) ...");
        const invoke = await prepareHosts(lab, demo, env, print);
        print(`prepared in ${Date.now() - t} ms`);
        const before = new Map(lab.hosts.map((h) => [h.name, upperSnapshot(h)]));

        const harness = new Harness(lab, path.join(stateDir, "state.json"));
        t = Date.now();
        // progress while the long phases run: one line per provider call as it finishes
        const progress = (op: Operation) => print(`  ... ${op.code === 0 ? "ok  " : "FAIL"} ${op.op} ${op.resource} on ${op.hostName ?? op.host} (${op.durationMs} ms)`);
        const opts: ApplyOptions = { project: PROJECT, stack, config: demo.config, secretKeys: [...file.secretKeys], invoke, onOperation: progress };
        print("applying ...");
        apply = await harness.apply(loadProgram(), opts);
        printOperations(`apply (${Date.now() - t} ms)`, apply, print);
        let ok = apply.ok;
        if (apply.ok) {
            t = Date.now();
            const checked = await runChecks(lab, apply.outputs, demo.config, env, print);
            findings.push(...checked);
            print(`checks took ${Date.now() - t} ms`);
        }
        t = Date.now();
        print("destroying ...");
        destroy = await harness.destroy({ onOperation: progress });
        printOperations(`destroy (${Date.now() - t} ms)`, destroy, print);
        const restored = lab.hosts.map((h) => ({ ...restoredFinding(h, before.get(h.name)!), component: "files" }));
        print("files back after destroy (upper layer against the one taken before the apply):");
        printFindings(restored, print);
        findings.push(...restored);
        ok = ok && destroy.ok && findings.every((f) => f.ok);
        printSummary(lab, findings, print);
        print(`demo ${ok ? "ok" : "FAILED"}: ${findings.filter((f) => f.ok).length}/${findings.length} findings ok, ${Date.now() - t0} ms`);
        return { ok, findings, apply, destroy };
    } finally {
        await lab.down();
        fs.rmSync(stateDir, { recursive: true, force: true });
        print(`lab ${lab.prefix} removed`);
    }
}

// ---------------------------------------------------------------------------
// The demo's copy of the config

export interface DemoConfig {
    config: Record<string, string>;
    trustFile: string;
    /** OCSP responders to run: port on the ocsp host, the demo CA it answers for, host names to point at it. */
    responders: Array<{ port: number; ca: CertificateAuthority; hostname: string }>;
    /** Ports the backend host listens on. */
    backendPorts: number[];
}

/**
 * The stack's config moved onto the lab:
 * - inventory: lab addresses and pinned host keys, root over port 22, sysv init (no
 *   systemd in a lab host), every private-key secret replaced by the lab's key;
 * - any value equal to an inventory address (e.g. a migration address) becomes the lab address;
 * - every certificate re-issued from a demo PKI of the same shape (same subjects,
 *   names, OCSP URIs, usages, issuers; IP names moved with the hosts), and every
 *   private-key secret replaced by its re-issued certificate's key;
 * - h2o backends outside the lab point at the demo's backend host (same port and path).
 */
export function demoConfig(values: Record<string, string>, lab: Lab, dir: string): DemoConfig {
    const inventory = JSON.parse(values["hostwright:inventory"]);
    const addressMap = new Map<string, string>();
    const keyNames = new Set<string>();
    if (inventory.defaults?.privateKey) keyNames.add(inventory.defaults.privateKey);
    inventory.defaults = { ...(inventory.defaults ?? {}), init: "sysv", user: "root", sshPort: undefined };
    inventory.hosts = inventory.hosts.map((h: Record<string, unknown>) => {
        if (typeof h.privateKey === "string") keyNames.add(h.privateKey);
        const labHost = lab.host(String(h.name));
        addressMap.set(String(h.address), labHost.address);
        return { ...h, address: labHost.address, hostKey: labHost.hostKey, init: "sysv", user: undefined, sshPort: undefined };
    });
    const secrets = JSON.parse(values["hostwright:secrets"] ?? "{}");
    for (const k of keyNames) secrets[k] = lab.hosts[0].privateKey;

    const sections: Record<string, Json> = {};
    for (const [key, value] of Object.entries(values)) {
        if (key === "hostwright:inventory" || key === "hostwright:secrets") continue;
        sections[key] = mapStrings(JSON.parse(value), (s) => addressMap.get(s) ?? s);
    }
    const pki = reissueCertificates(sections, secrets, addressMap, path.join(dir, "pki"));
    const backendPorts = pointBackends(sections["hostwright:h2o"], lab);
    const trustFile = path.join(dir, "demo-roots.pem");
    fs.writeFileSync(trustFile, pki.roots.map((r) => r.certPem).join(""));

    const config: Record<string, string> = { "hostwright:inventory": JSON.stringify(inventory), "hostwright:secrets": JSON.stringify(secrets) };
    for (const [key, value] of Object.entries(sections)) config[key] = JSON.stringify(value);
    return { config, trustFile, responders: pki.responders, backendPorts };
}

function mapStrings(value: Json, fn: (s: string) => string): Json {
    if (typeof value === "string") return fn(value);
    if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
    return value;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const EKU: Record<string, "serverAuth" | "clientAuth" | "OCSPSigning"> = { "1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth", "1.3.6.1.5.5.7.3.9": "OCSPSigning" };

/**
 * Replaces every certificate in the sections (in place) by one of the same shape
 * from a fresh demo PKI, and every private key in `secrets` that belongs to one of
 * them by the new certificate's key. The stack's CA keys are not in it, so an OCSP
 * responder needs CAs the demo owns.
 */
function reissueCertificates(sections: Record<string, Json>, secrets: Record<string, string>, addressMap: Map<string, string>, dir: string) {
    const originals = new Map<string, X509Certificate>();
    mapStrings(sections, (s) => {
        for (const pem of s.match(PEM_CERT) ?? []) {
            const x = new X509Certificate(pem);
            originals.set(x.fingerprint256, x);
        }
        return s;
    });
    const pki = new Pki(dir);
    const made = new Map<string, IssuedCert | CertificateAuthority>();
    const roots: CertificateAuthority[] = [];
    const responders = new Map<string, { port: number; ca: CertificateAuthority; hostname: string }>();
    const cn = (x: X509Certificate) => /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? x.subject.replace(/\n/g, ", ");
    const issuerOf = (x: X509Certificate): X509Certificate => {
        const found = [...originals.values()].find((c) => c.ca && x.checkIssued(c) && x.verify(c.publicKey));
        if (!found) throw new Error(`demo: cannot re-issue ${x.subject}: its issuer (${x.issuer}) is not in the stack config`);
        return found;
    };
    const demoOf = (x: X509Certificate): IssuedCert | CertificateAuthority => {
        const known = made.get(x.fingerprint256);
        if (known) return known;
        let cert: IssuedCert | CertificateAuthority;
        if (x.ca && x.checkIssued(x)) {
            cert = pki.rootCa({ commonName: cn(x) });
            roots.push(cert as CertificateAuthority);
        } else {
            const issuer = demoOf(issuerOf(x)) as CertificateAuthority;
            if (x.ca) cert = pki.intermediateCa(issuer, { commonName: cn(x) });
            else {
                const san = (x.subjectAltName ?? "").split(/,\s*/).filter(Boolean);
                const ocspUrl = /OCSP - URI:(\S+)/.exec(x.infoAccess ?? "")?.[1];
                cert = pki.leaf(issuer, {
                    commonName: cn(x),
                    dnsNames: san.filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4)),
                    ipAddresses: san.filter((n) => n.startsWith("IP Address:")).map((n) => n.slice(11)).map((ip) => addressMap.get(ip) ?? ip),
                    ocspUrl,
                    usages: (x.keyUsage ?? []).map((oid) => EKU[oid]).filter((u) => u !== undefined),
                });
                if (ocspUrl) {
                    const u = new URL(ocspUrl);
                    const port = Number(u.port || 80);
                    const other = responders.get(ocspUrl);
                    if (other && other.ca !== issuer) throw new Error(`demo: OCSP URL ${ocspUrl} serves two CAs; the demo runs one responder per URL`);
                    responders.set(ocspUrl, { port, ca: issuer, hostname: u.hostname });
                }
            }
        }
        made.set(x.fingerprint256, cert);
        return cert;
    };
    for (const x of originals.values()) demoOf(x);
    const replaced = mapStrings(sections, (s) => s.replace(PEM_CERT, (pem) => demoOf(new X509Certificate(pem)).certPem.trim()));
    Object.assign(sections, replaced);
    // Private keys: the secret whose public key is an original certificate's gets the new key.
    const byKey = new Map([...originals.values()].map((x) => [x.publicKey.export({ type: "spki", format: "der" }).toString("base64"), made.get(x.fingerprint256)!]));
    for (const [name, value] of Object.entries(secrets)) {
        if (typeof value !== "string" || !value.includes("PRIVATE KEY")) continue;
        let spki: string;
        try {
            spki = createPublicKey(value).export({ type: "spki", format: "der" }).toString("base64");
        } catch {
            continue; // an OpenSSH key, say
        }
        const cert = byKey.get(spki);
        if (cert) secrets[name] = cert.keyPem;
    }
    return { roots, responders: [...responders.values()] };
}

/** h2o `proxyTo` URLs whose host is not a lab host point at the demo's backend host (same port and path). */
function pointBackends(proxies: Json[] | undefined, lab: Lab): number[] {
    const ports = new Set<number>();
    const labNames = new Set(lab.hosts.flatMap((h) => [h.name, h.address]));
    for (const proxy of proxies ?? []) {
        for (const vh of proxy.virtualHosts ?? []) {
            for (const p of vh.paths ?? []) {
                if (typeof p.proxyTo !== "string") continue;
                const u = new URL(p.proxyTo);
                if (labNames.has(u.hostname)) continue;
                ports.add(Number(u.port || (u.protocol === "https:" ? 443 : 80)));
                u.hostname = lab.host(BACKEND_HOST).address;
                const moved = u.toString();
                p.proxyTo = !p.proxyTo.endsWith("/") && u.pathname === "/" ? moved.replace(/\/$/, "") : moved;
            }
        }
    }
    return [...ports];
}

// ---------------------------------------------------------------------------
// Preparing the hosts like real ones of their role

/** The answers the OpenStack API gives in the demo: every VM looked up sits on the first compute node. */
const DEMO_PORT_ID = "0c0ffee0-1234-4abc-8def-0123456789ab";
const DEMO_PORT_NAME = `qvo${DEMO_PORT_ID.slice(0, 11)}`;

export async function prepareHosts(lab: Lab, demo: DemoConfig, env: DemoEnvironment, print: Print): Promise<NonNullable<ApplyOptions["invoke"]>> {
    const inventory = JSON.parse(demo.config["hostwright:inventory"]);
    const hosts: Array<{ name: string; os?: string; labels?: Record<string, string> }> = inventory.hosts;
    const role = (r: string) => hosts.filter((h) => h.labels?.role === r);
    const computes = role("compute");
    const lookupNode = computes[0]?.name;
    const ovs: Json[] = JSON.parse(demo.config["hostwright:ovs"] ?? "[]");
    const work: Array<Promise<string>> = [];

    // Names the stack uses for services outside the inventory (the OCSP responder) resolve to lab hosts.
    const names = demo.responders.map((r) => `${lab.host(OCSP_HOST).address}\t${r.hostname}`);
    if (names.length > 0) await Promise.all(lab.hosts.map((h) => ovsMust(h, sh`printf '%s\n' ${names} >> /etc/hosts`)));

    if (demo.backendPorts.length > 0) work.push(startEchoBackend(lab, lab.host(BACKEND_HOST), demo.backendPorts).then(() => `${BACKEND_HOST}: echo backend on port(s) ${demo.backendPorts.join(", ")}`));
    for (const r of demo.responders) work.push(startOcspResponder(lab.host(OCSP_HOST), r.ca, r.port).then(() => `${OCSP_HOST}: openssl ocsp responder for ${r.ca.id.slice(3)} on port ${r.port} (as ${r.hostname})`));
    for (const h of role("proxy")) {
        work.push(
            ovsMust(lab.host(h.name), "command -v h2o >/dev/null && [ -x /etc/init.d/h2o ] && id www-data >/dev/null && ! pgrep -x h2o >/dev/null && h2o --version | head -n 1").then(
                (v) => `${h.name}: ${v.trim()} installed (Debian package: /etc/h2o, /etc/init.d/h2o), not running`,
            ),
        );
    }
    for (const h of computes) {
        const host = lab.host(h.name);
        work.push(
            (async () => {
                const did: string[] = [];
                await Promise.all([
                    prepareComputeNodeAs(host, h.os === "rhel" ? "rhel" : "debian").then(() => did.push(`libvirtd running (${h.os ?? "debian"} layout)`)),
                    startOvs(host).then(() => did.push("userspace OVS with br-int (netdev)")),
                ]);
                // VMs: every port a mirror names on this node, the looked-up VM on the look-up node, and a peer to talk to.
                const ports = ovs.filter((m) => m.host === h.name).flatMap((m) => m.ports ?? []);
                if (h.name === lookupNode && ovs.some((m) => m.openstack)) ports.push(DEMO_PORT_NAME);
                const vms: Vm[] = [...new Set(ports)].map((port, i) => ({ name: `vm${i + 1}`, port, address: `10.10.0.${i + 1}` }));
                if (vms.length > 0) vms.push({ name: "peer", port: "qvopeer000-00", address: "10.10.0.200" });
                for (const vm of vms) await addVm(host, vm);
                env.vms[h.name] = vms;
                if (vms.length > 0) did.push(`VMs ${vms.map((v) => `${v.name} (${v.port}, ${v.address})`).join(", ")}`);
                // Collectors of the mirrors that land here, in a namespace behind br-phy (OVS userspace tunnelling).
                const collectors = ovs.filter((m) => m.collector && (m.host === h.name || (!m.host && h.name === lookupNode))).map((m) => m.collector.address as string);
                for (const [i, address] of [...new Set(collectors)].entries()) {
                    if (i > 0) throw new Error(`demo: one collector per node (${h.name} has ${collectors.join(", ")})`);
                    const local = address.replace(/\.\d+$/, address.endsWith(".1") ? ".2" : ".1");
                    await addCollector(host, { name: "collector", local, address });
                    env.collectors[h.name] = { [address]: "collector" };
                    did.push(`collector ${address} (namespace behind br-phy ${local})`);
                }
                return `${h.name}: ${did.join("; ")}`;
            })(),
        );
    }
    for (const h of role("lxd")) work.push(startLxd(lab.host(h.name)).then(() => `${h.name}: LXD daemon with a dir storage pool`));

    const results = await Promise.allSettled(work);
    print("prepared:");
    for (const r of results) print(`  ${r.status === "fulfilled" ? r.value : `FAILED ${String((r.reason as Error).message).split("\n")[0]}`}`);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    if (ovs.some((m) => m.openstack)) print(`  OpenStack look-ups answered by the demo: every VM looked up has port ${DEMO_PORT_ID} (${DEMO_PORT_NAME}) on ${lookupNode}`);

    return (token: string, args: Record<string, any>) => {
        if (!lookupNode) throw new Error(`demo: look-up ${token} but the stack has no compute host`);
        if (token === LOOKUP.instance) {
            const network = ovs.find((m) => m.openstack?.instanceId === args.id)?.openstack?.network ?? "private";
            return { id: args.id, networks: [{ uuid: "demo-net", name: network, port: DEMO_PORT_ID }] };
        }
        if (token === LOOKUP.port) return { id: args.portId, bindings: [{ hostId: `${lookupNode}.cloud.example`, vifType: "ovs", vifDetails: { ovs_hybrid_plug: "true" } }] };
        if (token === LOOKUP.hypervisor) return { hostname: args.hostname, hostIp: lab.host(lookupNode).address };
        throw new Error(`demo: no answer for look-up ${token}`);
    };
}

// ---------------------------------------------------------------------------
// Files back after destroy

/** Daemon state the demo's own daemons write (not what the components change). */
const DAEMON_STATE = ["var/log", "var/lib/lxd", "var/lib/openvswitch", "var/lib/libvirt", "var/cache", "var/run", "run", "tmp", "root/.config/lxc/servercerts", "srv"];

export function upperSnapshot(host: LabHost): Record<string, string> {
    const all = snapshotTree(host.upperDir);
    return Object.fromEntries(Object.entries(all).filter(([p]) => !DAEMON_STATE.some((d) => p === d || p.startsWith(`${d}/`))));
}

/**
 * Left behind on purpose or by another program, not a file the stack changed and
 * failed to restore: shown in the finding's detail, not counted as a failure.
 */
const KNOWN_LEFTOVERS: Array<{ path: RegExp; why: string }> = [
    { path: /^root\/\.config\/lxc\/client\.(crt|key)$/, why: "the lxc client's own key pair, made by its first `lxc remote add`; destroy removes the remotes and the trust, not the client's key" },
];

/** A path of the merged root as snapshotTree would describe it, from the upper layer or else the lower one (this machine's /). */
function effective(snapshot: Record<string, string>, rel: string): string | undefined {
    const upper = snapshot[rel];
    if (upper !== undefined) return upper.startsWith("special ") && upper.endsWith(" 0") ? undefined : upper; // a whiteout: deleted
    try {
        const st = fs.lstatSync(path.join("/", rel));
        const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
        if (st.isDirectory()) return `dir ${meta}`;
        if (st.isSymbolicLink()) return `link ${fs.readlinkSync(path.join("/", rel))}`;
        if (st.isFile()) return `file ${meta} ${createHash("sha256").update(fs.readFileSync(path.join("/", rel))).digest("hex").slice(0, 16)}`;
        return `special ${meta} ${st.rdev}`;
    } catch {
        return undefined;
    }
}

/**
 * The host's files after destroy against the snapshot taken after preparing it:
 * every path either layer holds is compared as the host sees it (a file copied up
 * unchanged by a restore is the same file). Files that differ fail the finding;
 * directories the apply made and left (empty) and {@link KNOWN_LEFTOVERS} are named.
 */
export function restoredFinding(host: LabHost, before: Record<string, string>): DemoFinding {
    const after = upperSnapshot(host);
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== "/").sort();
    const changed = keys.filter((k) => effective(before, k) !== effective(after, k));
    const dirsLeft = changed.filter((k) => effective(before, k) === undefined && effective(after, k)?.startsWith("dir "));
    const known = changed.filter((k) => !dirsLeft.includes(k) && KNOWN_LEFTOVERS.some((l) => l.path.test(k)));
    const wrong = changed.filter((k) => !dirsLeft.includes(k) && !known.includes(k));
    const compared = keys.filter((k) => !effective(before, k)?.startsWith("dir ")).length;
    const notes = [
        ...(dirsLeft.length > 0 ? [`directories left: ${dirsLeft.map((d) => `/${d}`).join(", ")}`] : []),
        ...KNOWN_LEFTOVERS.filter((l) => known.some((k) => l.path.test(k))).map((l) => `left ${known.filter((k) => l.path.test(k)).map((k) => `/${k}`).join(", ")}: ${l.why}`),
    ];
    if (wrong.length === 0) return { host: host.name, what: "files as before the apply", ok: true, detail: [`${compared} file(s) of the upper layer as before`, ...notes].join("; ") };
    return { host: host.name, what: "files as before the apply", ok: false, detail: wrong.slice(0, 8).map((k) => `/${k}: ${effective(before, k) ?? "absent"} -> ${effective(after, k) ?? "absent"}`).join("; ") };
}

// ---------------------------------------------------------------------------
// The components' demo checks

/** h2o: plain and TLS proxying reach the backend (Host kept when asked), redirects, staples as a client sees them. */
const h2oDemoCheck: DemoCheck = {
    section: "h2o",
    async verify({ lab, outputs, config, env }) {
        const out = (outputs.h2o ?? {}) as Record<string, Json>;
        const findings: DemoFinding[] = [];
        const check = async (host: string, what: string, fn: () => Promise<{ ok: boolean; detail: string }>) => {
            const r = await fn().catch((e: Error) => ({ ok: false, detail: e.message }));
            findings.push({ host, what, ...r });
        };
        for (const proxy of config as Json[]) {
            const address = env.addresses[proxy.host];
            const leafNames: Record<string, string> = {};
            for (const l of proxy.listeners) if (l.tls) leafNames[l.name] = leafOf(l.tls.certificateChain).subjectAltName?.split(", ")[0].replace(/^DNS:/, "") ?? "localhost";
            for (const listener of proxy.listeners) {
                const tls = !!listener.tls;
                const scheme = tls ? "https" : "http";
                const hosts = proxy.virtualHosts.filter((vh: Json) => !vh.listeners || vh.listeners.includes(listener.name));
                for (const vh of hosts) {
                    const name = vh.name === "*" ? (leafNames[listener.name] ?? Object.values(leafNames)[0] ?? "demo.example") : vh.name;
                    for (const p of vh.paths) {
                        const url = `${scheme}://${name}:${listener.port}${p.path}hostwright-demo`;
                        const label = `${proxy.name} ${listener.name}:${listener.port} ${name}${p.path}`;
                        if (p.redirectTo) {
                            await check(proxy.host, `${label} redirects`, async () => {
                                const r = await curlVia(lab, address, url, { caFile: env.trustFile, redirect: true });
                                const want = `${p.redirectStatus ?? 302} ${p.redirectTo}`;
                                return { ok: r.out.startsWith(want), detail: r.out };
                            });
                        } else if (p.proxyTo) {
                            await check(proxy.host, `${label} reaches the backend${tls ? " over TLS (chain verifies to the demo root)" : ""}`, async () => {
                                const r = await curlVia(lab, address, url, { caFile: env.trustFile });
                                if (r.code !== 0) return { ok: false, detail: r.out };
                                const echo = JSON.parse(r.out) as BackendEcho;
                                const base = new URL(p.proxyTo).pathname.replace(/\/$/, "");
                                const wantPath = `${base}/hostwright-demo`;
                                const wantHost = p.preserveHost ? `${name}${listener.port === (tls ? 443 : 80) ? "" : `:${listener.port}`}` : undefined;
                                const headers = Object.entries((p.setRequestHeaders ?? {}) as Record<string, string>);
                                const ok = echo.path === wantPath && (!wantHost || echo.host === wantHost) && headers.every(([k, v]) => echo.headers[k.toLowerCase()] === v);
                                const detail = [`backend saw Host ${echo.host}${p.preserveHost ? " (original kept)" : ""}`, `path ${echo.path}`, ...headers.map(([k]) => `${k}: ${echo.headers[k.toLowerCase()]}`)].join(", ");
                                return { ok, detail: ok ? detail : `${detail}; expected path ${wantPath}${wantHost ? `, Host ${wantHost}` : ""}` };
                            });
                        }
                    }
                }
                if (tls) {
                    const hasOcsp = /OCSP - URI:/.test(leafOf(listener.tls.certificateChain).infoAccess ?? "");
                    const reported = out[proxy.name]?.stapling?.[listener.name];
                    await check(proxy.host, `${proxy.name} ${listener.name}:${listener.port} ${hasOcsp ? "staples a good OCSP response" : "stapling not applicable (leaf without OCSP URI)"}`, async () => {
                        const seen = await stapleSeen(lab, address, listener.port, leafNames[listener.name]);
                        const ok = hasOcsp ? seen === "Cert Status: good" && reported === "good" : seen === "no response sent" && reported === "not applicable";
                        return { ok, detail: `s_client: ${seen}; output stapling: ${reported}` };
                    });
                }
            }
        }
        return findings;
    },
};

function leafOf(chain: string): X509Certificate {
    const certs = (chain.match(PEM_CERT) ?? []).map((p) => new X509Certificate(p));
    return certs.find((c) => !c.ca) ?? certs[0];
}

/** ovs: the VM's traffic is seen on the capture interface, or arrives at the collector. */
const ovsDemoCheck: DemoCheck = {
    section: "ovs",
    async verify({ lab, outputs, config, env }) {
        const out = (outputs.ovs ?? {}) as Record<string, Json>;
        const findings: DemoFinding[] = [];
        for (const mirror of config as Json[]) {
            const o = out[mirror.name] ?? {};
            const nodeName = String(o.node ?? mirror.host);
            const node = lab.host(nodeName);
            const vms = env.vms[nodeName] ?? [];
            const source = vms.find((v) => (o.ports ?? []).includes(v.port));
            const peer = vms.find((v) => v.name === "peer");
            const what = `${mirror.name}: ${source?.name ?? "?"} (${(o.ports ?? []).join(", ")}) mirrored to ${o.captureInterface || `${mirror.collector?.protocol} collector ${mirror.collector?.address}`}`;
            const r = await (async () => {
                if (!source || !peer) return { ok: false, detail: `no VM on ${nodeName} for ports ${JSON.stringify(o.ports)}` };
                if (o.captureInterface) {
                    const seen = await captureIcmp(node, String(o.captureInterface), async () => {
                        await ping(node, source, peer.address);
                        await ping(node, peer, source.address);
                    });
                    const sent = seen.filter((l) => l.includes(`${source.address} > `));
                    const received = seen.filter((l) => l.includes(` > ${source.address}:`));
                    const direction = String(mirror.direction ?? "both");
                    const ok = (direction === "egress" || sent.length > 0) && (direction === "ingress" || received.length > 0) && (direction !== "ingress" || received.length === 0) && (direction !== "egress" || sent.length === 0);
                    return { ok, detail: `${direction}: ${sent.length} packet(s) from ${source.name} and ${received.length} to it captured on ${o.captureInterface} while it pinged ${peer.name} and back` };
                }
                const ns = env.collectors[nodeName]?.[mirror.collector?.address];
                if (!ns || !o.tcpdump) return { ok: false, detail: `no collector namespace for ${mirror.collector?.address} on ${nodeName}` };
                const file = /-w (\S+)/.exec(String(o.tcpdump))?.[1] ?? "/tmp/capture.pcap";
                // the mirror's own tcpdump command (an output), run where the collector is
                await ovsMust(node, sh`rm -f ${file}`);
                await tcpdumpWhile(node, String(o.tcpdump), () => ping(node, source, peer.address), { netns: ns });
                const decoded = (await ovsMust(node, sh`tcpdump -nr ${file} 2>/dev/null`)).split("\n");
                const hits = decoded.filter((l) => l.includes(`> ${mirror.collector.address}: GRE`));
                const proto = [...new Set(hits.map((l) => /gre-proto-0x[0-9a-f]+|ERSPAN[^,]*/.exec(l)?.[0]).filter(Boolean))].join(", ");
                return { ok: hits.length > 0, detail: `${hits.length} GRE packet(s)${proto ? ` (${proto})` : ""} arrived at ${mirror.collector.address} while ${source.name} pinged ${peer.name}; captured with the mirror's tcpdump output in the collector's namespace` };
            })().catch((e: Error) => ({ ok: false, detail: e.message.split("\n")[0] }));
            findings.push({ host: nodeName, what, ...r });
        }
        return findings;
    },
};

/** libvirt: each node opens every peer over the group's transport (qemu+tls://), as nova's migration would. */
const libvirtDemoCheck: DemoCheck = {
    section: "libvirt",
    async verify({ lab, outputs, config, env }) {
        const out = (outputs.libvirt ?? {}) as Record<string, Json>;
        const findings: DemoFinding[] = [];
        for (const group of config as Json[]) {
            const transport = group.transport ?? "tls";
            for (const from of group.nodes) {
                for (const to of group.nodes.filter((n: Json) => n !== from)) {
                    const address = to.migrationAddress ?? env.addresses[to.host];
                    const uri = `qemu+${transport}://${address}/system`;
                    const r = await lab.host(from.host).ssh(sh`virsh -c ${uri} hostname`, { timeoutMs: 30_000 });
                    const reported = out[group.name]?.nodes?.find((n: Json) => n.host === from.host)?.peers?.[to.host];
                    const ok = r.code === 0 && r.stdout.trim() === to.host && reported === "ok";
                    findings.push({ host: from.host, what: `${group.name}: opens ${to.host} over ${uri}`, ok, detail: r.code === 0 ? `virsh hostname: ${r.stdout.trim()}; output peers.${to.host}: ${reported}` : r.stderr.trim().split("\n").pop() });
                }
            }
        }
        return findings;
    },
};

/** lxd: every host answers `lxc query X:/1.0` for every host of the mesh (itself included). */
const lxdDemoCheck: DemoCheck = {
    section: "lxd",
    async verify({ lab, config }) {
        const findings: DemoFinding[] = [];
        for (const mesh of config as Json[]) {
            const names: string[] = mesh.hosts.map((h: Json) => h.host);
            for (const from of names) {
                for (const x of names) {
                    const r = await lxdExec(lab.host(from), sh`lxc query ${`${x}:/1.0`}`).then(
                        (text) => {
                            const info = JSON.parse(text);
                            return { ok: info.environment?.server_version !== undefined && info.auth === "trusted", detail: `server_version ${info.environment?.server_version}, auth ${info.auth}, server ${info.environment?.server_name}` };
                        },
                        (e: Error) => ({ ok: false, detail: e.message }),
                    );
                    findings.push({ host: from, what: `${mesh.name}: lxc query ${x}:/1.0`, ...r });
                }
            }
        }
        return findings;
    },
};

const dnsDemoCheck: DemoCheck = {
    section: "dns",
    async verify({ lab, config }) {
        const findings: DemoFinding[] = [];
        for (const guard of config as Json[]) {
            const host = lab.host(guard.host);
            const declared: string[] = guard.resolvConf.nameservers;
            const r = await dhcpBound(host).then(
                async () => {
                    const now = (await host.exec("cat /etc/resolv.conf")).stdout;
                    const servers = [...now.matchAll(/^nameserver (\S+)/gm)].map((m) => m[1]);
                    return { ok: servers.join(" ") === declared.join(" "), detail: `name servers after the renewal: ${servers.join(", ")} (the lease offered 203.0.113.53, 203.0.113.54)` };
                },
                (e: Error) => ({ ok: false, detail: e.message }),
            );
            findings.push({ host: guard.host, what: `${guard.name}: a DHCP renewal (dhclient-script BOUND) keeps the declared resolv.conf`, ...r });
        }
        return findings;
    },
};

/** The components' demo checks (one entry each, like components/registry.ts). */
export const demoChecks: DemoCheck[] = [h2oDemoCheck, ovsDemoCheck, libvirtDemoCheck, lxdDemoCheck, dnsDemoCheck];

// ---------------------------------------------------------------------------
// Running and printing

/** The real program (index.ts), evaluated afresh on every call. */
export function loadProgram(): Program {
    const main = require(path.join(PROJECT_DIR, "index.ts")) as () => Record<string, unknown>;
    return () => main();
}

export function printOperations(phase: string, result: ApplyResult, print: Print): void {
    const byHost = new Map<string, string[]>();
    for (const o of result.operations) {
        const host = o.hostName ?? o.host;
        byHost.set(host, [...(byHost.get(host) ?? []), `${o.code === 0 ? "ok  " : "FAIL"} ${o.op} ${o.resource} (${o.durationMs} ms)`]);
    }
    print(`${phase}: ${result.operations.length} operation(s), ${result.ok ? "ok" : "FAILED"}`);
    for (const [host, lines] of [...byHost.entries()].sort()) {
        print(`  ${host}`);
        for (const l of lines) print(`    ${l}`);
    }
    if (result.error) print(`  error: ${result.error}`);
    if (result.skipped.length > 0) print(`  not run: ${result.skipped.map((s) => s.resource).join(", ")}`);
}

export function printFindings(findings: DemoFinding[], print: Print): void {
    const byHost = new Map<string, DemoFinding[]>();
    for (const f of findings) byHost.set(f.host, [...(byHost.get(f.host) ?? []), f]);
    for (const [host, list] of byHost) {
        print(`  ${host}`);
        for (const f of list) print(`    ${f.ok ? "ok    " : "FAILED"} ${f.what}${f.detail ? ` (${f.detail})` : ""}`);
    }
}

/** One line per host: each component's findings, ok or not. */
function printSummary(lab: Lab, findings: DemoFinding[], print: Print): void {
    print("summary per host:");
    const width = Math.max(...lab.hosts.map((h) => h.name.length));
    for (const h of lab.hosts) {
        const mine = findings.filter((f) => f.host === h.name);
        const parts = [...new Set(mine.map((f) => f.component ?? "?"))].map((c) => {
            const of = mine.filter((f) => (f.component ?? "?") === c);
            const bad = of.filter((f) => !f.ok).length;
            return `${c} ${bad === 0 ? "ok" : "FAILED"} (${of.length - bad}/${of.length})`;
        });
        print(`  ${h.name.padEnd(width)}  ${parts.join(", ")}`);
    }
}

export async function runChecks(lab: Lab, outputs: Record<string, unknown>, config: Record<string, string>, env: DemoEnvironment, print: Print): Promise<DemoFinding[]> {
    const active = demoChecks.filter((c) => config[`hostwright:${c.section}`] !== undefined);
    const all: DemoFinding[] = [];
    const unchecked = Object.keys(config).map((k) => k.replace(/^hostwright:/, "")).filter((k) => k !== "inventory" && k !== "secrets" && !demoChecks.some((c) => c.section === k));
    if (unchecked.length > 0) print(`not verified (no demo check in test/lab/demo.ts demoChecks): ${unchecked.join(", ")}`);
    for (const check of active) {
        const findings = await check.verify({ lab, outputs, config: JSON.parse(config[`hostwright:${check.section}`]), env }).catch((e: Error) => [{ host: "-", what: "check ran", ok: false, detail: e.message }]);
        print(`verified (${check.section}):`);
        printFindings(findings, print);
        all.push(...findings.map((f) => ({ ...f, component: check.section })));
    }
    return all;
}
