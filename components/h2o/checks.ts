/**
 * Pure validation of {@link H2oReverseProxyArgs}: every problem at once, with the
 * args field path (`listeners[0].tls.certificateChain`). Also settles the defaults
 * and the certificate facts (order, OCSP) that rendering needs.
 */
import { isIP } from "net";
import type { Issue } from "../../core/errors";
import { joinPath } from "../../core/errors";
import type { H2oReverseProxyArgs, H2oVersion, ListenerArgs, OcspVerification, TlsIdentityArgs } from "./args";
import { ChainReport, checkChain } from "./certs";

/**
 * How much older than `ocsp-update-interval` a staple may be before the drift check reports
 * it: h2o fetches a new response every interval; one older than that plus the fetch's own
 * time means its updates fail (after `ocsp-max-failures` it stops stapling). Also the
 * default of `ocsp.stapleAgeWarningSeconds` on top of the interval.
 */
export const STAPLE_AGE_MARGIN_SECONDS = 300;

/** Stapling status of a TLS listener: decided here, or measured on the host after the switch. */
export type StaplingStatus = "good" | "revoked" | "unknown" | "no staple" | "not applicable" | "disabled" | "not checked";

/** Defaults applied: what the host gets. */
export interface Settings {
    h2oVersion: H2oVersion;
    user: string;
    maxConnections: number;
    numThreads?: number;
    numOcspUpdaters?: number;
    accessLog: string;
    errorLog: string;
    pidFile: string;
    configPath: string;
    tlsDirectory: string;
    serviceName: string;
    trustDirectory: string;
    expiryWarningDays: number;
    ocspCacheDirectory: string;
}

/** What the checks established for one TLS listener. */
export interface TlsPlan {
    listener: ListenerArgs;
    main: ChainReport;
    extras: ChainReport[];
    /** "applicable" when the leaf has an OCSP URI and stapling is on. */
    stapling: "applicable" | "not applicable" | "disabled";
    verification: OcspVerification;
    updateInterval: number;
    maxFailures: number;
    stapleWaitSeconds: number;
    requireGoodStaple: boolean;
    /** The leaf carries OCSP Must-Staple: a staple that is not good fails the apply. */
    mustStaple: boolean;
    /** `ocsp.responderUrl`, when set. */
    responderUrl?: string;
    /** `ocsp.proxy`, when set. */
    proxy?: string;
    stapleAgeWarningSeconds: number;
}

export interface CheckResult {
    issues: Issue[];
    settings: Settings;
    /** By listener name. */
    tls: Map<string, TlsPlan>;
}

export interface CheckOptions {
    /**
     * The clear text of a private key, for the key-match check; the component passes
     * it when the key is a plain string, the stack section from `hostwright:secrets`.
     * @default the `privateKey` value when it is a string
     */
    privateKeyText?: (identity: TlsIdentityArgs, listenerIndex: number, identityIndex: number) => string | undefined;
    /** @default now */
    now?: Date;
}

const LISTENER_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const HOST_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Paths that reach a shell, YAML or Debian's init script (`grep ^pid-file: | awk '{print $2}'`) unquoted must be plain. */
const PLAIN_PATH = /^\/[A-Za-z0-9._+@%,:=\/-]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CIPHERS = /^[A-Za-z0-9:+!@=_.,-]+$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The settings with their defaults, as documented in args.ts. */
export function settingsOf(args: H2oReverseProxyArgs): Settings {
    const rhel = args.host.os === "rhel";
    return {
        h2oVersion: args.h2oVersion ?? "2.2",
        user: args.user ?? (rhel ? "nobody" : "www-data"),
        maxConnections: args.maxConnections ?? 1024,
        numThreads: args.numThreads,
        numOcspUpdaters: args.numOcspUpdaters,
        accessLog: args.accessLog ?? "/var/log/h2o/access.log",
        errorLog: args.errorLog ?? "/var/log/h2o/error.log",
        pidFile: args.pidFile ?? "/run/h2o.pid",
        configPath: args.configPath ?? "/etc/h2o/h2o.conf",
        tlsDirectory: args.tlsDirectory ?? "/etc/h2o/hostwright",
        serviceName: args.serviceName ?? "h2o",
        trustDirectory: args.trustDirectory ?? (rhel ? "/etc/pki/tls/certs" : "/etc/ssl/certs"),
        expiryWarningDays: args.expiryWarningDays ?? 30,
        ocspCacheDirectory: args.ocspCacheDirectory ?? "/var/cache/hostwright/h2o-ocsp",
    };
}

/** Host names a listener serves (its virtual hosts), for the certificate name check. */
export function namesOnListener(args: H2oReverseProxyArgs, listener: string): string[] {
    return [...new Set((args.virtualHosts ?? []).filter((v) => v.name !== "*" && (v.listeners ?? (args.listeners ?? []).map((l) => l.name)).includes(listener)).map((v) => v.name))];
}

/** Checks the args; never throws. */
export function checkH2oArgs(args: H2oReverseProxyArgs, options: CheckOptions = {}): CheckResult {
    const issues: Issue[] = [];
    const error = (path: string, message: string) => issues.push({ path, message, severity: "error" });
    const settings = settingsOf(args);
    const tls = new Map<string, TlsPlan>();

    const positiveInt = (path: string, value: number | undefined, max = 1_000_000) => {
        if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) error(path, `must be a whole number from 1 to ${max}`);
    };
    positiveInt("maxConnections", args.maxConnections);
    positiveInt("numThreads", args.numThreads, 1024);
    positiveInt("numOcspUpdaters", args.numOcspUpdaters, 1024);
    if (args.h2oVersion !== undefined && !["2.2", "current"].includes(args.h2oVersion)) error("h2oVersion", `must be "2.2" or "current"`);
    if (!USER.test(settings.user)) error("user", "must be a POSIX user name");
    for (const [field, value] of [["accessLog", settings.accessLog], ["errorLog", settings.errorLog], ["pidFile", settings.pidFile], ["configPath", settings.configPath], ["tlsDirectory", settings.tlsDirectory], ["trustDirectory", settings.trustDirectory], ["ocspCacheDirectory", settings.ocspCacheDirectory]] as const) {
        if (!PLAIN_PATH.test(value) || value.split("/").includes("..") || value.length > 240) error(field, `must be an absolute path of letters, digits and ._+@%,:=/- without '..' (got ${JSON.stringify(value)})`);
    }
    if (!/^[A-Za-z0-9@._-]{1,64}$/.test(settings.serviceName)) error("serviceName", "must be a service name (letters, digits, '@', '.', '_', '-')");
    if (args.expiryWarningDays !== undefined && (!Number.isInteger(args.expiryWarningDays) || args.expiryWarningDays < 0)) error("expiryWarningDays", "must be a whole number of days, 0 or more");

    // Listeners.
    const listeners = args.listeners ?? [];
    if (listeners.length === 0) error("listeners", "needs at least one listener");
    const byName = new Map<string, number>();
    const endpoints = new Map<string, string>();
    listeners.forEach((l, i) => {
        const at = `listeners[${i}]`;
        if (!LISTENER_NAME.test(l.name ?? "")) error(`${at}.name`, "must be 1-32 lowercase letters, digits or '-', not starting or ending with '-'");
        else if (byName.has(l.name)) error(`${at}.name`, `duplicate listener name ${JSON.stringify(l.name)} (also listeners[${byName.get(l.name)}])`);
        byName.set(l.name, i);
        if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535) error(`${at}.port`, "must be a TCP port 1-65535");
        if (l.address !== undefined && isIP(l.address) === 0) error(`${at}.address`, "must be an IPv4 or IPv6 address");
        for (const [other, name] of endpoints) {
            const [addr, port] = JSON.parse(other) as [string | null, number];
            if (port === l.port && (addr === null || l.address === undefined || addr === l.address)) error(`${at}.port`, `listener ${name} already binds port ${l.port}${addr ? ` on ${addr}` : ""}`);
        }
        endpoints.set(JSON.stringify([l.address ?? null, l.port]), l.name);
        if (l.tls) tls.set(l.name, checkTls(args, l, i, settings, options, issues));
    });

    // Virtual hosts.
    const hosts = args.virtualHosts ?? [];
    if (hosts.length === 0) error("virtualHosts", "needs at least one virtual host (\"*\" for a catch-all)");
    const pairs = new Map<string, string>();
    const catchAlls = hosts.map((v, i) => [v, i] as const).filter(([v]) => v.name === "*");
    if (catchAlls.length > 1) error(`virtualHosts[${catchAlls[1][1]}].name`, `only one catch-all "*" is allowed (also virtualHosts[${catchAlls[0][1]}])`);
    hosts.forEach((v, i) => {
        const at = `virtualHosts[${i}]`;
        if (v.name !== "*" && (!HOST_NAME.test(v.name ?? "") || v.name.length > 253) && isIP(v.name ?? "") === 0) error(`${at}.name`, `must be "*", a host name (optionally "*.domain") or an IP address`);
        if (v.listeners !== undefined) {
            if (v.name === "*") error(`${at}.listeners`, "a catch-all answers on every listener (h2o falls back to the first host entry); remove 'listeners' or name the host");
            if (v.listeners.length === 0) error(`${at}.listeners`, "must name at least one listener (or be left out for all)");
            v.listeners.forEach((name, j) => {
                if (!byName.has(name)) error(`${at}.listeners[${j}]`, `no listener named ${JSON.stringify(name)} (listeners: ${[...byName.keys()].join(", ")})`);
            });
        }
        for (const name of v.name === "*" ? [] : (v.listeners ?? [...byName.keys()])) {
            const key = `${v.name.toLowerCase()}@${name}`;
            if (pairs.has(key)) error(`${at}.name`, `${JSON.stringify(v.name)} on listener ${name} is already defined by ${pairs.get(key)}`);
            pairs.set(key, at);
        }
        if (v.accessLog !== undefined && (!PLAIN_PATH.test(v.accessLog) || v.accessLog.split("/").includes(".."))) error(`${at}.accessLog`, "must be an absolute path of letters, digits and ._+@%,:=/-");
        if (!v.paths || v.paths.length === 0) error(`${at}.paths`, "needs at least one path");
        const seenPaths = new Set<string>();
        (v.paths ?? []).forEach((p, j) => {
            const pat = `${at}.paths[${j}]`;
            if (typeof p.path !== "string" || !/^\/[\x21-\x7e]*$/.test(p.path)) error(`${pat}.path`, "must start with '/' and hold only visible ASCII characters");
            else if (seenPaths.has(p.path)) error(`${pat}.path`, `duplicate path ${JSON.stringify(p.path)}`);
            seenPaths.add(p.path);
            if ((p.proxyTo === undefined) === (p.redirectTo === undefined)) error(pat, "needs exactly one of 'proxyTo' (a backend URL) or 'redirectTo'");
            if (p.proxyTo !== undefined && !httpUrl(p.proxyTo)) error(`${pat}.proxyTo`, `must be an http:// or https:// URL with a host, e.g. http://10.0.0.5:9080 (got ${JSON.stringify(p.proxyTo)})`);
            if (p.redirectTo !== undefined && !httpUrl(p.redirectTo)) error(`${pat}.redirectTo`, `must be an http:// or https:// URL, e.g. https://www.example.com/`);
            if (p.redirectStatus !== undefined && ![301, 302, 307, 308].includes(p.redirectStatus)) error(`${pat}.redirectStatus`, "must be 301, 302, 307 or 308");
            if (p.redirectTo !== undefined && (p.preserveHost !== undefined || p.timeoutIoMs !== undefined || p.keepaliveTimeoutMs !== undefined || p.setRequestHeaders !== undefined)) {
                error(pat, "proxy settings (preserveHost, timeouts, setRequestHeaders) only apply with 'proxyTo'");
            }
            positiveInt(`${pat}.timeoutIoMs`, p.timeoutIoMs, 86_400_000);
            positiveInt(`${pat}.keepaliveTimeoutMs`, p.keepaliveTimeoutMs, 86_400_000);
            for (const [name, value] of Object.entries(p.setRequestHeaders ?? {})) {
                if (!HEADER_NAME.test(name)) error(`${pat}.setRequestHeaders.${name}`, "is not a valid HTTP header name");
                if (typeof value !== "string" || /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) error(`${pat}.setRequestHeaders.${name}`, "value must be a string without control characters");
            }
        });
    });
    return { issues, settings, tls };
}

function httpUrl(text: string): boolean {
    try {
        const u = new URL(text);
        return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "" && !/[\s"'\\]/.test(text);
    } catch {
        return false;
    }
}

function checkTls(args: H2oReverseProxyArgs, l: ListenerArgs, index: number, settings: Settings, options: CheckOptions, issues: Issue[]): TlsPlan {
    const at = `listeners[${index}].tls`;
    const t = l.tls!;
    const ocsp = t.ocsp ?? {};
    const error = (path: string, message: string) => issues.push({ path: joinPath(at, path), message, severity: "error" });
    const keyText = (identity: TlsIdentityArgs, n: number) =>
        options.privateKeyText ? options.privateKeyText(identity, index, n) : typeof identity.privateKey === "string" ? identity.privateKey : undefined;
    const names = namesOnListener(args, l.name);
    const check = (identity: TlsIdentityArgs, n: number, withOcsp: boolean) =>
        checkChain({
            certificateChain: identity.certificateChain ?? "",
            privateKey: keyText(identity, n),
            rootCertificate: withOcsp ? ocsp.rootCertificate : undefined,
            issuerCertificate: withOcsp ? ocsp.issuerCertificate : undefined,
            names,
            expiryWarningDays: settings.expiryWarningDays,
            now: options.now,
        });

    const main = check(t, 0, true);
    for (const i of main.issues) issues.push({ ...i, path: joinPath(at, i.path) });
    const extras = (t.extraIdentities ?? []).map((identity, n) => {
        const report = check(identity, n + 1, false);
        for (const i of report.issues) issues.push({ ...i, path: joinPath(`${at}.extraIdentities[${n}]`, i.path) });
        return report;
    });
    if (extras.length > 0 && settings.h2oVersion === "2.2") error("extraIdentities", `h2o 2.2 has no 'identity' list (it fails with "unknown property: identity"); set h2oVersion: "current" for h2o 2.3 and later, or use one identity`);
    if (t.minimumVersion !== undefined && !["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"].includes(t.minimumVersion)) error("minimumVersion", `must be one of "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"`);
    if (t.cipherSuite !== undefined && !CIPHERS.test(t.cipherSuite)) error("cipherSuite", "must be an OpenSSL cipher list (letters, digits and :+!@=_.,-)");

    const updateInterval = ocsp.updateInterval ?? 14400;
    if (!Number.isInteger(updateInterval) || updateInterval < 0) error("ocsp.updateInterval", "must be a whole number of seconds (0 turns stapling off)");
    const maxFailures = ocsp.maxFailures ?? 3;
    if (!Number.isInteger(maxFailures) || maxFailures < 1) error("ocsp.maxFailures", "must be a whole number, 1 or more");
    const stapleWaitSeconds = ocsp.stapleWaitSeconds ?? 20;
    if (!Number.isInteger(stapleWaitSeconds) || stapleWaitSeconds < 1 || stapleWaitSeconds > 600) error("ocsp.stapleWaitSeconds", "must be a whole number of seconds from 1 to 600");
    const verification = ocsp.verification ?? (ocsp.rootCertificate !== undefined ? "trust-store" : "h2o-default");
    if (!["trust-store", "ca-file", "h2o-default"].includes(verification)) error("ocsp.verification", `must be "trust-store", "ca-file" or "h2o-default"`);
    const stapling = updateInterval === 0 ? "disabled" : main.ocspUri === undefined ? "not applicable" : "applicable";
    if (stapling === "applicable" && verification !== "h2o-default" && ocsp.rootCertificate === undefined) {
        error("ocsp.rootCertificate", `is required with verification ${JSON.stringify(verification)}: responses are verified up to the root CA`);
    }
    const ownFetcher = `needs the component's fetcher (verification "trust-store" or "ca-file"); h2o's fetch-ocsp-response has no such option`;
    if (ocsp.responderUrl !== undefined) {
        if (!plainUrl(ocsp.responderUrl, ["http:", "https:"])) error("ocsp.responderUrl", `must be an http:// or https:// URL without credentials, spaces or quotes (got ${JSON.stringify(ocsp.responderUrl)})`);
        if (verification === "h2o-default") error("ocsp.responderUrl", ownFetcher);
    }
    if (ocsp.proxy !== undefined) {
        if (!plainUrl(ocsp.proxy, ["http:"]) || !/^http:\/\/[^/]+\/?$/.test(ocsp.proxy)) error("ocsp.proxy", `must be http://HOST:PORT, without credentials or a path (got ${JSON.stringify(ocsp.proxy)})`);
        if (verification === "h2o-default") error("ocsp.proxy", ownFetcher);
    }
    const stapleAgeWarningSeconds = ocsp.stapleAgeWarningSeconds ?? updateInterval + STAPLE_AGE_MARGIN_SECONDS;
    if (ocsp.stapleAgeWarningSeconds !== undefined) {
        if (!Number.isInteger(ocsp.stapleAgeWarningSeconds) || ocsp.stapleAgeWarningSeconds < 1) error("ocsp.stapleAgeWarningSeconds", "must be a whole number of seconds, 1 or more");
        if (verification === "h2o-default") error("ocsp.stapleAgeWarningSeconds", `needs the component's fetcher (verification "trust-store" or "ca-file"): h2o's own fetcher keeps no record of when it fetched`);
    }
    const mustStaple = main.mustStaple === true;
    if (mustStaple) {
        const leaf = main.order[0] ?? "the leaf";
        if (main.ocspUri === undefined) error("certificateChain", `${leaf} requires OCSP stapling (TLS Feature status_request, Must-Staple) but names no OCSP responder: it can never be stapled and clients would refuse it`);
        else if (updateInterval === 0) error("ocsp.updateInterval", `is 0 (stapling off), but ${leaf} requires OCSP stapling (TLS Feature status_request, Must-Staple): clients would refuse it`);
        else if (verification === "h2o-default") {
            issues.push({ path: joinPath(at, "ocsp.verification"), severity: "warning", message: `${leaf} requires OCSP stapling (Must-Staple), and "h2o-default" keeps no response on disk: an h2o restart while the responder is down leaves it without a staple; set ocsp.rootCertificate for the component's fetcher, which serves the last good response until its nextUpdate` });
        }
    }
    return {
        listener: l,
        main,
        extras,
        stapling,
        verification,
        updateInterval,
        maxFailures,
        stapleWaitSeconds,
        requireGoodStaple: ocsp.requireGoodStaple ?? false,
        mustStaple,
        responderUrl: ocsp.responderUrl,
        proxy: ocsp.proxy,
        stapleAgeWarningSeconds,
    };
}

/** A URL with one of `protocols` and a host, nothing a fetcher line or YAML could misread, and no credentials. */
function plainUrl(text: string, protocols: string[]): boolean {
    try {
        const u = new URL(text);
        return protocols.includes(u.protocol) && u.hostname !== "" && u.username === "" && u.password === "" && /^[\x21-\x7e]+$/.test(text) && !/["'\\`$]/.test(text);
    } catch {
        return false;
    }
}
