/**
 * Pure pre-flight: parsers over the command outputs a probe step recorded on each
 * host (`lxc query /1.0`, `/proc/modules` or `lsmod`, `criu check`, TCP connects)
 * and the group decision made from them. No I/O here; tests feed recorded outputs.
 */

/** What `lxc query /1.0` (trusted, over the unix socket) says about a server. */
export type ServerInfo =
    | { ok: true; version: string; fingerprint: string; certificate: string; httpsAddress: string }
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
    return { ok: true, version, fingerprint, certificate, httpsAddress };
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
    server: ServerInfo;
    netlinkDiag: NetlinkDiag;
    criu: CriuStatus;
    /** The client certificate exists in the client config directory. */
    clientCertificate: boolean;
    /** Its fingerprint, when it exists (a token is issued only to a source its target does not trust yet). */
    clientFingerprint?: string;
    /** openssl is installed (needed to create a missing client certificate). */
    openssl: boolean;
    /** Connect results towards each peer's API address, by peer name. */
    connect: Record<string, ConnectResult>;
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
    stateless: Readiness;
    stateful: Readiness;
}

export interface PreflightVerdict {
    /** Problems that stop the apply before any change; each names the hosts involved. */
    errors: string[];
    warnings: string[];
    hosts: Record<string, HostReadiness>;
}

/** Message for differing LXD versions, naming every host and version. Undefined when all agree. */
export function versionMismatch(versions: Array<{ host: string; version: string }>): string | undefined {
    const byVersion = new Map<string, string[]>();
    for (const v of versions) byVersion.set(v.version, [...(byVersion.get(v.version) ?? []), v.host]);
    if (byVersion.size <= 1) return undefined;
    const list = [...byVersion.entries()].map(([version, hosts]) => `${version} on ${hosts.join(", ")}`).join("; ");
    return (
        `LXD server versions differ: ${list}. A move between different versions fails with ` +
        `"Bad key: volatile.idmap.base" (the target rejects instance keys written by the other version); ` +
        `install the same LXD version on every host, then raise preflightRevision to probe again`
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

/**
 * The group decision: blocking errors (before any change) and per-host readiness
 * for stateless and stateful moves. In stateful mode the component itself loads
 * netlink_diag and makes it persistent, so a loadable module counts as ready.
 */
export function decidePreflight(facts: HostFacts[], members: MemberPlan[], mode: "stateless" | "stateful"): PreflightVerdict {
    const errors: string[] = [];
    const warnings: string[] = [];
    const hosts: Record<string, HostReadiness> = {};
    const byName = new Map(facts.map((f) => [f.name, f]));
    const groupProblems: string[] = [];

    for (const m of members) {
        const f = byName.get(m.name);
        if (!f) {
            errors.push(`${m.name}: the pre-flight probe reported nothing`);
            continue;
        }
        if (!f.server.ok) errors.push(`${m.name}: LXD does not answer: ${f.server.error}`);
        if (!f.clientCertificate && !f.openssl) errors.push(`${m.name}: the client config directory has no client certificate and openssl is not installed to create one`);
    }

    const versions = facts.filter((f) => f.server.ok).map((f) => ({ host: f.name, version: (f.server as { version: string }).version }));
    const mismatch = versionMismatch(versions);
    if (mismatch) {
        errors.push(mismatch);
        groupProblems.push("LXD versions differ across the mesh");
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
        const stateless: string[] = [...groupProblems];
        if (!f) stateless.push("no probe result");
        else if (!f.server.ok) stateless.push(f.server.error);
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
        hosts[m.name] = {
            serverVersion: f?.server.ok ? f.server.version : undefined,
            stateless: { ready: stateless.length === 0, reasons: stateless },
            stateful: { ready: stateful.length === 0, reasons: stateful },
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
        openssl: values["probe.openssl"] === "yes",
        connect,
    };
}
