/**
 * Pure pre-flight: parsers over the command outputs a probe step recorded on each
 * host (`lxc query /1.0`, `/proc/modules` or `lsmod`, `criu check`, TCP connects)
 * and the group decision made from them. No I/O here; tests feed recorded outputs.
 */
import { createHash } from "crypto";

/** What `lxc query /1.0` (trusted, over the unix socket) says about a server. */
export type ServerInfo =
    | {
          ok: true;
          version: string;
          fingerprint: string;
          certificate: string;
          httpsAddress: string;
          /** `environment.driver` split on `|`: `lxc` runs containers, `qemu` virtual machines. */
          drivers: string[];
      }
    | { ok: false; error: string };

/** Parses the JSON `lxc query /1.0` prints; an error (not a throw) for anything else. */
export function parseServerInfo(output: string, exitCode = 0): ServerInfo {
    const lines = output.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    const firstLine = () => lines.find((l) => /^Error:/.test(l)) ?? lines[0] ?? "no output";
    if (exitCode !== 0) return { ok: false, error: `lxc query /1.0 failed (exit ${exitCode}): ${firstLine()}` };
    let doc: any;
    try {
        doc = JSON.parse(output);
    } catch {
        return { ok: false, error: `lxc query /1.0 did not print JSON: ${firstLine().slice(0, 200)}` };
    }
    const env = doc?.environment;
    if (doc?.auth !== "trusted" || typeof env !== "object" || env === null) return { ok: false, error: "lxc query /1.0 answered without server details (the local client is not trusted)" };
    const version = env.server_version;
    const fingerprint = env.certificate_fingerprint;
    const certificate = env.certificate;
    if (typeof version !== "string" || !/^\d+(\.\d+)*/.test(version)) return { ok: false, error: `lxc query /1.0 reports no usable environment.server_version (${JSON.stringify(version)})` };
    if (typeof fingerprint !== "string" || !/^[0-9a-f]{64}$/.test(fingerprint)) return { ok: false, error: "lxc query /1.0 reports no environment.certificate_fingerprint" };
    if (typeof certificate !== "string" || !certificate.includes("-----BEGIN CERTIFICATE-----")) return { ok: false, error: "lxc query /1.0 reports no environment.certificate" };
    const httpsAddress = typeof doc.config?.["core.https_address"] === "string" ? doc.config["core.https_address"] : "";
    const drivers = typeof env.driver === "string" ? env.driver.split("|").map((d: string) => d.trim()).filter((d: string) => d !== "") : [];
    return { ok: true, version, fingerprint, certificate, httpsAddress, drivers };
}

/** Names of loaded modules from `/proc/modules` or `lsmod` output (the first column; lsmod's header skipped). */
export function loadedModules(text: string): Set<string> {
    const names = new Set<string>();
    for (const line of text.split("\n")) {
        const name = line.trim().split(/\s+/)[0];
        if (name && name !== "Module") names.add(name);
    }
    return names;
}

export type NetlinkDiagState = "builtin" | "loaded" | "loadable" | "missing";

export interface NetlinkDiag {
    state: NetlinkDiagState;
    /** Loaded at every boot: built into the kernel, or listed in /etc/modules or a modules-load.d file. */
    persistent: boolean;
}

/**
 * Where `netlink_diag` stands ("Diag module missing (-2)" from CRIU means it is not there).
 * @param modules `/proc/modules` or `lsmod` output; undefined when the kernel has no module support (no /proc/modules)
 * @param builtin matching lines of `modules.builtin` and of the kernel config (`CONFIG_NETLINK_DIAG=y|m`)
 * @param moduleFile path of the module file when one exists (`modinfo -n netlink_diag`)
 * @param persistLines matching lines of /etc/modules and modules-load.d files
 */
export function netlinkDiagStatus(input: { modules: string | undefined; builtin: string; moduleFile: string; persistLines: string }): NetlinkDiag {
    const builtin = /(^|\/)netlink_diag\.ko\b/m.test(input.builtin) || /^CONFIG_NETLINK_DIAG=y\s*$/m.test(input.builtin);
    const persistent = builtin || input.persistLines.split("\n").some((l) => /(^|:)\s*netlink_diag\s*$/.test(l));
    if (builtin) return { state: "builtin", persistent };
    if (input.modules !== undefined && loadedModules(input.modules).has("netlink_diag")) return { state: "loaded", persistent };
    if (input.moduleFile.trim() !== "" || /^CONFIG_NETLINK_DIAG=m\s*$/m.test(input.builtin)) return { state: "loadable", persistent };
    return { state: "missing", persistent: false };
}

export type CriuStatus = { state: "ok" } | { state: "missing" } | { state: "failing"; detail: string };

/** Reads `criu check` (exit code and combined output). */
export function parseCriuCheck(output: string, exitCode: number): CriuStatus {
    if (exitCode === 127) return { state: "missing" };
    if (exitCode === 0 && /Looks good/i.test(output)) return { state: "ok" };
    const line = output.split("\n").map((l) => l.trim()).find((l) => /error/i.test(l)) ?? output.trim().split("\n")[0] ?? "";
    return { state: "failing", detail: (line || `exit ${exitCode}`).slice(0, 300) };
}

/** Result of a TCP connect from one host to a peer's API address. */
export type ConnectResult = { state: "open" } | { state: "refused" } | { state: "unreachable"; detail: string };

/** Reads the probe's connect line: `open`, `refused`, `timeout` or `error <message>`. */
export function parseConnect(line: string): ConnectResult {
    const text = line.trim();
    if (text === "open") return { state: "open" };
    if (text === "refused" || /connection refused/i.test(text)) return { state: "refused" };
    if (text === "timeout") return { state: "unreachable", detail: "no answer (timed out)" };
    return { state: "unreachable", detail: text.replace(/^error\s*/, "").slice(0, 200) || "connection failed" };
}

/** Everything one host's probe found out. */
export interface HostFacts {
    name: string;
    kernel: string;
    /** The `lxc` client is installed (undefined: not probed). */
    lxc?: boolean;
    /** The daemon's socket path when it does not exist (no daemon runs behind `lxdDir`). */
    missingSocket?: string;
    server: ServerInfo;
    netlinkDiag: NetlinkDiag;
    criu: CriuStatus;
    /** The client certificate exists in the client config directory. */
    clientCertificate: boolean;
    /** Its fingerprint, when it exists (a token is issued only to a source its target does not trust yet). */
    clientFingerprint?: string;
    /**
     * Certificate mode: the client certificate the host's client presents to the members
     * (PEM, public; fingerprint: SHA-256 of its DER, hex): the one in the client config
     * directory, or, when it had none, the one the probe made, kept in `candidate` (a
     * directory of the probe step's) until the serve step installs it.
     */
    identity?: { certificate: string; fingerprint: string; candidate?: string };
    /** openssl is installed (needed to create a missing client certificate). */
    openssl: boolean;
    /**
     * curl is installed and runs batches that say how each transfer ended (curl
     * {@link CURL_BATCH_VERSION} or later): the serve and remotes steps then talk to LXD
     * with one curl rather than one `lxc` per call.
     */
    curl: boolean;
    /** Connect results towards each peer's API address, by peer name. */
    connect: Record<string, ConnectResult>;
    /** Profiles, storage pools, networks and instances in the mesh's project; an error string when they could not be read. */
    inventory: Inventory | string;
}

/** What an instance needs from the host it runs on. */
export interface InstanceFacts {
    name: string;
    type: "container" | "virtual-machine";
    running: boolean;
    profiles: string[];
    /** Storage pools of its disk devices (root and custom volumes). */
    pools: string[];
    /** Networks of its NICs: managed networks (`network=`) and host interfaces (`parent=`). */
    networks: string[];
    /** `migration.stateful` is true in its expanded config (VM live migration). */
    migrationStateful: boolean;
}

/** A host's objects an instance can depend on. */
export interface Inventory {
    profiles: string[];
    pools: string[];
    /** Managed networks and host interfaces LXD lists under /1.0/networks. */
    networks: string[];
    instances: InstanceFacts[];
}

/** Last path element of each URL of a recursion-0 listing (`["/1.0/profiles/default"]` -> `["default"]`). */
function namesOf(listing: unknown, what: string): string[] {
    if (!Array.isArray(listing)) throw new Error(`${what} is not a list`);
    return listing.map((url) => decodeURIComponent(String(url).replace(/\?.*$/, "").split("/").pop() ?? ""));
}

/** One instance from `/1.0/instances?recursion=1`. */
export function instanceFacts(doc: any): InstanceFacts {
    const devices: Record<string, Record<string, string>> = doc.expanded_devices ?? {};
    const pools = new Set<string>();
    const networks = new Set<string>();
    for (const d of Object.values(devices)) {
        if (d.type === "disk" && d.pool) pools.add(d.pool);
        if (d.type === "nic") {
            if (d.network) networks.add(d.network);
            else if (d.parent) networks.add(d.parent);
        }
    }
    return {
        name: String(doc.name),
        type: doc.type === "virtual-machine" ? "virtual-machine" : "container",
        running: doc.status === "Running" || doc.status === "Frozen",
        profiles: Array.isArray(doc.profiles) ? doc.profiles.map(String) : [],
        pools: [...pools].sort(),
        networks: [...networks].sort(),
        migrationStateful: String(doc.expanded_config?.["migration.stateful"] ?? "") === "true",
    };
}

/** Parses the four `lxc query` answers of the probe; an error string instead of a throw. */
export function parseInventory(json: { profiles: string; pools: string; networks: string; instances: string }): Inventory | string {
    try {
        const instances = JSON.parse(json.instances);
        if (!Array.isArray(instances)) return "the instance list is not a list";
        return {
            profiles: namesOf(JSON.parse(json.profiles), "the profile list"),
            pools: namesOf(JSON.parse(json.pools), "the storage pool list"),
            networks: namesOf(JSON.parse(json.networks), "the network list"),
            instances: instances.map(instanceFacts),
        };
    } catch (e) {
        const first = Object.values(json).map((v) => v.trim()).find((v) => !v.startsWith("[") && !v.startsWith("{")) ?? "";
        return `cannot read the host's profiles, pools, networks and instances: ${(first.split("\n").find((l) => /^Error:/.test(l)) ?? (e as Error).message).slice(0, 200)}`;
    }
}

/** What the verdict needs to know about a member besides its probe. */
export interface MemberPlan {
    name: string;
    /** Value core.https_address will have. */
    listenAddress: string;
    /** URL peers connect to. */
    url: string;
}

export interface Readiness {
    ready: boolean;
    /** Why not (empty when ready). */
    reasons: string[];
}

export interface HostReadiness {
    serverVersion?: string;
    /** Containers: stopped or `--stateless` moves. */
    stateless: Readiness;
    /** Containers: live moves (CRIU, netlink_diag). */
    stateful: Readiness;
    /** Virtual machines: live migration (`migration.stateful=true` on the VM; LXD's qemu driver on the host). */
    vmLive: Readiness;
}

export interface PreflightVerdict {
    /** Problems that stop the apply before any change; each names the hosts involved. */
    errors: string[];
    warnings: string[];
    hosts: Record<string, HostReadiness>;
}

/**
 * The oldest curl whose `-Z` batches report each transfer's exit code and message
 * (`%{exitcode}`, `%{errormsg}`): the serve and remotes steps use curl from there on.
 */
export const CURL_BATCH_VERSION = "7.75.0";

/** Compares dotted versions numerically ("5.0.10" after "5.0.2"); a missing part counts as 0. */
export function compareVersions(a: string, b: string): number {
    const parts = (v: string) => (v.match(/\d+/g) ?? []).map(Number);
    const pa = parts(a);
    const pb = parts(b);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const d = (pa[i] ?? 0) - (pb[i] ?? 0);
        if (d !== 0) return Math.sign(d);
    }
    return 0;
}

/**
 * LXD's move rule for one direction: only a move from a newer server to an older
 * one fails (canonical/lxd#2683 "Bad key: volatile.idmap.base", #10391 "Unknown
 * configuration key"); equal versions and older-to-newer moves work (#8265).
 * Returns why the direction fails, with the documented workaround; undefined when it is fine.
 */
export function versionRule(source: { host: string; version: string }, target: { host: string; version: string }): string | undefined {
    if (compareVersions(source.version, target.version) <= 0) return undefined;
    return (
        `${source.host} runs LXD ${source.version}, newer than ${target.host} (${target.version}): a move from a newer to an older LXD fails ` +
        `because the target rejects instance keys it does not know ("Bad key: volatile.idmap.base", canonical/lxd#2683; ` +
        `"Unknown configuration key: volatile.cloud-init.instance-id", #10391); equal or older-to-newer is fine (#8265). ` +
        `Workaround: upgrade ${target.host} to ${source.version} or newer; or, per the LXD maintainers, ` +
        `unset the key the error names on the instance before the move (lxc config unset INSTANCE volatile.KEY), ` +
        `or lxc copy (which resets volatile keys) and delete the source instance`
    );
}

function describeNetlinkDiag(n: NetlinkDiag): string | undefined {
    switch (n.state) {
        case "missing":
            return "the netlink_diag kernel module is missing (CRIU fails with \"Diag module missing (-2)\"); install the kernel's extra modules package (Ubuntu: linux-modules-extra-$(uname -r))";
        case "loadable":
            return "the netlink_diag kernel module is not loaded";
        case "loaded":
            return n.persistent ? undefined : "netlink_diag is loaded but not listed in /etc/modules-load.d, so it is gone after a reboot";
        default:
            return undefined;
    }
}

function describeCriu(c: CriuStatus): string | undefined {
    if (c.state === "missing") return "CRIU is not installed (stateful moves checkpoint the container with criu)";
    if (c.state === "failing") return `criu check fails: ${c.detail}`;
    return undefined;
}

/** What is missing for LXD to answer on a host, most basic first: the client, a daemon behind the socket, an answer. */
function daemonProblem(f: HostFacts): string | undefined {
    if (f.lxc === false) return "the lxc client is not installed (Debian: apt install lxd; elsewhere the lxd snap, with lxdDir /var/snap/lxd/common/lxd)";
    if (f.missingSocket) return `no LXD daemon runs: ${f.missingSocket} does not exist (start LXD, or set lxdDir to the daemon's directory: /var/snap/lxd/common/lxd for the snap)`;
    if (!f.server.ok) return `LXD does not answer: ${f.server.error}`;
    return undefined;
}

/**
 * The group decision: blocking errors (before any change) and per-host readiness
 * for stateless and stateful moves. In stateful mode the component itself loads
 * netlink_diag and makes it persistent, so a loadable module counts as ready. In
 * certificate trust every host needs a client certificate the others can trust.
 */
export function decidePreflight(facts: HostFacts[], members: MemberPlan[], mode: "stateless" | "stateful", trust: "token" | "certificate" = "token"): PreflightVerdict {
    const errors: string[] = [];
    const warnings: string[] = [];
    const hosts: Record<string, HostReadiness> = {};
    const byName = new Map(facts.map((f) => [f.name, f]));

    for (const m of members) {
        const f = byName.get(m.name);
        if (!f) {
            errors.push(`${m.name}: the pre-flight probe reported nothing`);
            continue;
        }
        const daemon = daemonProblem(f);
        if (daemon) errors.push(`${m.name}: ${daemon}`);
        if (!f.clientCertificate && !f.openssl) errors.push(`${m.name}: the client config directory has no client certificate and openssl is not installed to create one`);
        else if (trust === "certificate" && !f.identity) errors.push(`${m.name}: the probe reported no client certificate to trust (none in the client config directory, and openssl could not make one)`);
    }

    // Differing versions block only the newer-to-older directions: reported, not an error.
    const versions = facts.filter((f) => f.server.ok).map((f) => ({ host: f.name, version: (f.server as { version: string }).version }));
    for (const s of versions) {
        for (const t of versions) {
            if (compareVersions(s.version, t.version) > 0) warnings.push(`moves ${s.host} -> ${t.host} will fail: LXD ${s.version} -> ${t.version} is newer to older; see the matrix output for the workaround`);
        }
    }

    // Reachability: every host must reach every peer's API address (itself included).
    const unreachableFrom = new Map<string, string[]>();
    for (const source of facts) {
        for (const target of members) {
            const result = source.connect[target.name];
            const t = byName.get(target.name);
            if (!result) {
                errors.push(`${source.name}: the probe did not test ${target.name}'s API address ${target.url}`);
                continue;
            }
            if (result.state === "unreachable") {
                errors.push(`${source.name} cannot reach ${target.name}'s LXD API address ${target.url}: ${result.detail}`);
                unreachableFrom.set(target.name, [...(unreachableFrom.get(target.name) ?? []), source.name]);
            } else if (result.state === "refused" && t?.server.ok && t.server.httpsAddress === target.listenAddress) {
                errors.push(`${source.name}: ${target.name} refuses connections on ${target.url} although its core.https_address is already ${target.listenAddress}`);
                unreachableFrom.set(target.name, [...(unreachableFrom.get(target.name) ?? []), source.name]);
            }
        }
    }

    for (const m of members) {
        const f = byName.get(m.name);
        const stateless: string[] = [];
        if (!f) stateless.push("no probe result");
        else if (daemonProblem(f)) stateless.push(daemonProblem(f)!);
        const unreachable = unreachableFrom.get(m.name);
        if (unreachable) stateless.push(`API address not reachable from ${unreachable.join(", ")}`);
        const stateful = [...stateless];
        if (f) {
            const diag = describeNetlinkDiag(f.netlinkDiag);
            const fixedByUs = mode === "stateful" && (f.netlinkDiag.state === "loadable" || f.netlinkDiag.state === "loaded");
            if (diag && !fixedByUs) stateful.push(diag);
            const criu = describeCriu(f.criu);
            if (criu) stateful.push(criu);
            if (mode === "stateful") {
                if (f.netlinkDiag.state === "missing") errors.push(`${m.name}: ${diag}`);
                if (criu) errors.push(`${m.name}: ${criu}`);
            }
        }
        const vmLive = [...stateless];
        if (f?.server.ok && !f.server.drivers.includes("qemu")) {
            vmLive.push(`LXD reports no qemu driver (environment.driver: ${f.server.drivers.join(" | ") || "none"}): virtual machines cannot run here (KVM and QEMU needed)`);
        }
        hosts[m.name] = {
            serverVersion: f?.server.ok ? f.server.version : undefined,
            stateless: { ready: stateless.length === 0, reasons: stateless },
            stateful: { ready: stateful.length === 0, reasons: stateful },
            vmLive: { ready: vmLive.length === 0, reasons: vmLive },
        };
    }
    if (mode === "stateless" && members.some((m) => !hosts[m.name].stateful.ready)) {
        warnings.push(`stateful (live) moves are not ready on ${members.filter((m) => !hosts[m.name].stateful.ready).map((m) => m.name).join(", ")}; see the readiness output`);
    }
    return { errors, warnings, hosts };
}

function decode(value: string | undefined): string {
    return Buffer.from(value ?? "", "base64").toString("utf8");
}

/** The client certificate a certificate-mode probe printed (`probe.client_pem`, and `probe.client_candidate` when it made it). */
function clientIdentity(values: Record<string, string>): HostFacts["identity"] {
    const pem = decode(values["probe.client_pem"]);
    const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
    if (!body) return undefined;
    const fingerprint = createHash("sha256").update(Buffer.from(body.replace(/\s/g, ""), "base64")).digest("hex");
    const candidate = values["probe.client_candidate"];
    return { certificate: pem, fingerprint, ...(candidate ? { candidate } : {}) };
}

/** The facts in one probe step's `hw_output` values (see render.ts `renderProbe`). */
export function factsFromProbe(name: string, values: Record<string, string>): HostFacts {
    const connect: Record<string, ConnectResult> = {};
    for (const [key, value] of Object.entries(values)) {
        const m = /^probe\.connect\.(.+)$/.exec(key);
        if (m) connect[m[1]] = parseConnect(value);
    }
    const server =
        values["probe.server"] === undefined
            ? ({ ok: false, error: "the probe did not report the server" } as ServerInfo)
            : parseServerInfo(decode(values["probe.server"]), Number(values["probe.server_rc"] ?? "1"));
    return {
        name,
        kernel: values["probe.kernel"] ?? "",
        lxc: values["probe.lxc"] === undefined ? undefined : values["probe.lxc"] === "yes",
        missingSocket: values["probe.socket"] === undefined || values["probe.socket"] === "yes" ? undefined : values["probe.socket"],
        server,
        netlinkDiag: netlinkDiagStatus({
            modules: values["probe.modules"] === "absent" ? undefined : decode(values["probe.modules"]),
            builtin: decode(values["probe.builtin"]),
            moduleFile: decode(values["probe.module_file"]),
            persistLines: decode(values["probe.persist"]),
        }),
        criu: parseCriuCheck(decode(values["probe.criu"]), Number(values["probe.criu_rc"] ?? "127")),
        clientCertificate: values["probe.client_certificate"] === "yes",
        clientFingerprint: /^[0-9a-f]{64}$/.test(values["probe.client_fingerprint"] ?? "") ? values["probe.client_fingerprint"] : undefined,
        identity: clientIdentity(values),
        openssl: values["probe.openssl"] === "yes",
        curl: values["probe.curl"] === "yes" && compareVersions(values["probe.curl_version"] ?? "0", CURL_BATCH_VERSION) >= 0,
        connect,
        inventory: parseInventory({
            profiles: decode(values["probe.profiles"]),
            pools: decode(values["probe.pools"]),
            networks: decode(values["probe.networks"]),
            instances: decode(values["probe.instances"]),
        }),
    };
}
