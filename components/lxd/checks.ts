/** Pure validation of {@link LxdRemoteMeshArgs}: every problem at once, paths are args field paths. */
import { isIP } from "net";
import type { Issue } from "../../core/errors";
import { DEFAULTS, hostPort, LxdRemoteMeshArgs } from "./args";

/** Remote names `lxc` defines itself; a mesh remote with one of these names would shadow or fail. */
export const RESERVED_REMOTE_NAMES = ["local", "images", "ubuntu", "ubuntu-daily"];

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// Remote names: the inventory-name alphabet (they also name files under servercerts/ and trust entries).
const REMOTE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// LXD instance names are host names: letters, digits, '-', starting with a letter.
const INSTANCE_NAME = /^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// LXD project names: no slashes, spaces or quotes; kept to a conservative alphabet.
const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function isAddress(value: string): boolean {
    return isIP(value) !== 0 || DNS_NAME.test(value);
}

function isAbsolutePath(value: string): boolean {
    return /^\/[^\0\n\r]*$/.test(value) && !value.split("/").includes("..");
}

/** Splits `host:port` / `[v6]:port` / `:port`; undefined when it is none of these. */
export function parseListenAddress(value: string): { address: string; port: number } | undefined {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(value);
    if (!m) return undefined;
    const address = m[1] ?? m[2] ?? "";
    const port = Number(m[3]);
    if (port < 1 || port > 65535) return undefined;
    if (m[1] !== undefined && isIP(address) !== 6) return undefined;
    if (m[2] !== undefined && address !== "" && !isAddress(address)) return undefined;
    return { address, port };
}

export function checkMeshArgs(args: LxdRemoteMeshArgs): Issue[] {
    const issues: Issue[] = [];
    const error = (path: string, message: string) => issues.push({ path, message, severity: "error" });
    const warn = (path: string, message: string) => issues.push({ path, message, severity: "warning" });

    if (!Array.isArray(args.members) || args.members.length === 0) {
        error("members", "needs at least one host (two or more for a migration to have a target)");
    } else if (args.members.length === 1) {
        warn("members", "a mesh of one host has no migration target; add the hosts containers should move to");
    }
    const names = new Map<string, number>();
    const endpoints = new Map<string, string>();
    (args.members ?? []).forEach((m, i) => {
        const at = `members[${i}]`;
        const name = m.host?.name ?? "";
        if (!REMOTE_NAME.test(name)) error(`${at}.host.name`, `${JSON.stringify(name)} cannot be a remote name: use 1-63 lowercase letters, digits or '-'`);
        else if (RESERVED_REMOTE_NAMES.includes(name)) error(`${at}.host.name`, `${JSON.stringify(name)} is a remote name lxc reserves (${RESERVED_REMOTE_NAMES.join(", ")}); rename the inventory host`);
        if (names.has(name)) error(`${at}.host.name`, `host ${JSON.stringify(name)} is listed twice (also members[${names.get(name)}])`);
        names.set(name, i);

        const apiAddress = m.apiAddress ?? m.host?.address ?? "";
        if (!isAddress(apiAddress)) error(`${at}.${m.apiAddress === undefined ? "host.address" : "apiAddress"}`, `${JSON.stringify(apiAddress)} must be an IPv4 or IPv6 address or a DNS name`);
        else if (/^(0\.0\.0\.0|::)$/.test(apiAddress)) error(`${at}.apiAddress`, `${apiAddress} is a wildcard; peers need an address they can connect to (set listenAddress for the wildcard)`);
        const apiPort = m.apiPort ?? DEFAULTS.apiPort;
        if (!Number.isInteger(apiPort) || apiPort < 1 || apiPort > 65535) error(`${at}.apiPort`, `${apiPort} must be a TCP port 1-65535`);
        const endpoint = hostPort(apiAddress, apiPort);
        if (endpoints.has(endpoint)) error(`${at}.apiAddress`, `${endpoint} is also the API address of ${endpoints.get(endpoint)}; every host needs its own`);
        endpoints.set(endpoint, name);

        if (m.listenAddress !== undefined) {
            const listen = parseListenAddress(m.listenAddress);
            if (!listen) error(`${at}.listenAddress`, `${JSON.stringify(m.listenAddress)} must be ADDRESS:PORT, [IPv6]:PORT or :PORT (core.https_address)`);
            else if (listen.port !== apiPort) error(`${at}.listenAddress`, `listens on port ${listen.port} but apiPort is ${apiPort}; peers would connect to a port LXD does not listen on`);
            else if (listen.address !== "" && !["0.0.0.0", "::"].includes(listen.address) && listen.address !== apiAddress) {
                warn(`${at}.listenAddress`, `LXD listens on ${listen.address} while peers connect to ${apiAddress}; make sure ${apiAddress} reaches that address`);
            }
        }
    });

    if (args.project !== undefined && !PROJECT_NAME.test(args.project)) error("project", `${JSON.stringify(args.project)} must be an LXD project name: letters, digits, '_', '.', '-' (up to 63)`);
    for (const key of ["clientConfigDir", "lxdDir"] as const) {
        const value = args[key];
        if (value !== undefined && !isAbsolutePath(value)) error(key, `${JSON.stringify(value)} must be an absolute path without '..' or line breaks`);
    }
    if (args.trust !== undefined && !["token", "certificate"].includes(args.trust)) error("trust", `must be "token" or "certificate" (trust passwords were removed upstream)`);
    if (args.migration !== undefined && !["stateless", "stateful"].includes(args.migration)) error("migration", `must be "stateless" or "stateful"`);
    if (args.preflightRevision !== undefined && (!Number.isInteger(args.preflightRevision) || args.preflightRevision < 0)) error("preflightRevision", "must be a whole number >= 0");
    if (args.connectTimeoutSeconds !== undefined && (!Number.isInteger(args.connectTimeoutSeconds) || args.connectTimeoutSeconds < 1 || args.connectTimeoutSeconds > 120)) {
        error("connectTimeoutSeconds", "must be a whole number of seconds, 1-120");
    }
    if (args.instances !== undefined) {
        if (!Array.isArray(args.instances)) error("instances", "must be a list of instance names (leave it out for every instance)");
        else {
            const seen = new Map<string, number>();
            args.instances.forEach((n, i) => {
                if (typeof n !== "string" || !INSTANCE_NAME.test(n)) error(`instances[${i}]`, `${JSON.stringify(n)} is not an LXD instance name: 1-63 letters, digits or '-', starting with a letter, not ending with '-'`);
                else if (seen.has(n)) error(`instances[${i}]`, `${n} is listed twice (also instances[${seen.get(n)}])`);
                seen.set(n, i);
            });
        }
    }
    return issues;
}
