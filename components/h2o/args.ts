import type * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import type { Inputs } from "../../core/inputs";

/**
 * Which h2o the config is rendered for. `"2.2"` is h2o 2.2.x (Debian 12 ships 2.2.5);
 * `"current"` is h2o 2.3 and later, which adds `identity` lists (several
 * certificate/key pairs on one listener, e.g. RSA + ECDSA).
 */
export type H2oVersion = "2.2" | "current";

/**
 * How an OCSP response is verified on the host before h2o staples it.
 * - `"trust-store"`: the root CA (`ocsp.rootCertificate`) is installed with its hash
 *   link (`<subject hash>.N`, as `c_rehash`/`cert_hashlink` make) in the host's trust
 *   directory, by the same step as the config (a refused apply puts it back), and the
 *   component's fetcher verifies the response up to that root, with every intermediate
 *   of the bundle as untrusted certificates.
 * - `"ca-file"`: the component's fetcher verifies against an explicit CA file (the
 *   issuer chain plus `ocsp.rootCertificate`) embedded in the fetcher; the host's
 *   trust store is not touched.
 * - `"h2o-default"`: h2o's own `fetch-ocsp-response`; it trusts the issuer taken from
 *   the chain file (and, on OpenSSL 1.0.1, needs the root in the system store).
 */
export type OcspVerification = "trust-store" | "ca-file" | "h2o-default";

/** OCSP stapling of one TLS listener. Only relevant when the leaf certificate names an OCSP responder. */
export interface OcspArgs {
    /**
     * Seconds between OCSP updates (`ocsp-update-interval`); `0` turns stapling off.
     * After a failed fetch h2o waits a whole interval before retrying.
     * @default 14400 (h2o's default, 4 hours)
     */
    updateInterval?: number;
    /** Consecutive failed updates before h2o stops stapling (`ocsp-max-failures`). @default 3 */
    maxFailures?: number;
    /**
     * How responses are verified before they are stapled (see {@link OcspVerification}).
     * `"trust-store"` and `"ca-file"` need `rootCertificate`.
     * @default "trust-store" when `rootCertificate` is set, else "h2o-default"
     */
    verification?: OcspVerification;
    /**
     * PEM of the root CA at the top of the chain (usually not in the bundle). Checked to
     * have issued the last certificate of the chain; installed into the trust store with
     * `verification: "trust-store"`, embedded in the fetcher with `"ca-file"`.
     * @default none
     */
    rootCertificate?: string;
    /**
     * PEM of the certificate that issued the leaf, when it should not be taken from the
     * chain (h2o's script uses the SECOND block of the chain file). Used for the OCSP
     * request by the component's fetcher (`"trust-store"`/`"ca-file"`).
     * @default the certificate after the leaf in the ordered chain, or the root if it issued the leaf
     */
    issuerCertificate?: string;
    /** Seconds to wait after the switch for h2o to staple a response before reporting "no staple". @default 20 */
    stapleWaitSeconds?: number;
    /**
     * Fail the step (and roll back) when the staple is not `good` (missing or `unknown`).
     * A `revoked` staple always fails the step. A leaf with OCSP Must-Staple (the TLS
     * Feature extension, status_request) is treated as if this were `true`: clients refuse
     * it without a staple.
     * @default false: reported in the `stapling` output and as a warning
     */
    requireGoodStaple?: boolean;
    /**
     * OCSP responder URL asked instead of the leaf's own (a responder reachable only under
     * another name, or a local relay): `http://` or `https://`, no credentials. Needs the
     * component's fetcher (`verification: "trust-store"` or `"ca-file"`); the response is
     * verified exactly as one from the leaf's responder.
     * @default the leaf's OCSP URI (authorityInfoAccess)
     */
    responderUrl?: string;
    /**
     * HTTP proxy for the fetch, `http://HOST:PORT` (no credentials: the fetcher is readable
     * by h2o's user). Needs `verification: "trust-store"` or `"ca-file"` and OpenSSL 3 on the
     * host (`openssl ocsp -proxy`); applies to `responderUrl` too.
     * @default none: the responder is asked directly
     */
    proxy?: string;
    /**
     * Warn (warnings output and log) when the staple served was fetched from the responder
     * more than this many seconds ago: the component's fetcher keeps the last good response
     * on disk and serves it while the responder is down or slow, until its nextUpdate. The age
     * is measured from the fetch, not from the response's thisUpdate (CAs that pre-sign their
     * responses give a fresh one an old thisUpdate). Needs `verification: "trust-store"` or
     * `"ca-file"`; h2o's own fetcher keeps no record of when it fetched.
     * @default updateInterval + 300: at least one of h2o's updates was served from the cache
     */
    stapleAgeWarningSeconds?: number;
}

/** One certificate/key pair. */
export interface TlsIdentityArgs {
    /**
     * PEM bundle: the server certificate and its intermediate(s), in any order. The
     * component puts it in trust order (leaf first, then each issuer), reports the order
     * used (`chainOrder` output), and rejects gaps, a missing intermediate, a CA in the
     * leaf position, broken signatures and expired certificates.
     */
    certificateChain: string;
    /**
     * PEM private key of the leaf. Must be a Pulumi secret; it reaches the host only as
     * file content (mode 0600, root), never on a command line. Checked to match the leaf.
     */
    privateKey: pulumi.Input<string>;
}

/** TLS settings of a listener. */
export interface TlsArgs extends TlsIdentityArgs {
    /**
     * More certificate/key pairs on the same listener (e.g. an ECDSA chain next to an RSA
     * one), rendered as an `identity` list; h2o picks the first pair the client supports.
     * Needs `h2oVersion: "current"` (h2o 2.2 has no `identity`). Stapling is checked for
     * the main identity.
     * @default []
     */
    extraIdentities?: TlsIdentityArgs[];
    /** `minimum-version`. @default "TLSv1.2" */
    minimumVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
    /** OpenSSL cipher list (`cipher-suite`, TLS 1.2 and below). @default h2o's default */
    cipherSuite?: string;
    /** Server-side cipher preference (`cipher-preference: server`). @default false */
    preferServerCiphers?: boolean;
    /** OCSP stapling; ignored (status "not applicable") when the leaf has no OCSP URI. @default {} */
    ocsp?: OcspArgs;
}

/** One `listen` entry. */
export interface ListenerArgs {
    /**
     * Name of the listener: used in file names on the host, in output keys and by
     * `virtualHosts[].listeners`. 1-32 lowercase letters, digits or '-'.
     */
    name: string;
    /** IP address to bind. @default all addresses */
    address?: string;
    /** TCP port. Two listeners may not share address and port. */
    port: number;
    /** TLS; without it the listener is plain HTTP. @default none */
    tls?: TlsArgs;
}

/** What a path does: proxy to a backend, or redirect to HTTPS. Exactly one of `proxyTo` / `redirectTo`. */
export interface PathArgs {
    /** URL path prefix, e.g. `/` or `/app/`. Must start with `/`. */
    path: string;
    /** Backend URL (`proxy.reverse.url`), `http://` or `https://`, e.g. `http://10.0.0.5:9080`. @default none */
    proxyTo?: string;
    /**
     * Pass the client's Host header to the backend (`proxy.preserve-host`). The seed's
     * Apache virtual hosts rely on it.
     * @default true
     */
    preserveHost?: boolean;
    /** Backend I/O timeout in milliseconds (`proxy.timeout.io`). @default h2o's default (30000) */
    timeoutIoMs?: number;
    /** Backend keep-alive timeout in milliseconds (`proxy.timeout.keepalive`). @default h2o's default (2000) */
    keepaliveTimeoutMs?: number;
    /** Request headers added for the backend (`proxy.header.set`), e.g. `{ "X-Forwarded-Proto": "https" }`. @default {} */
    setRequestHeaders?: Record<string, string>;
    /**
     * Redirect target (`redirect`), typically `https://www.example.com/` on a plain
     * listener; h2o appends the rest of the request path.
     * @default none
     */
    redirectTo?: string;
    /** Redirect status. @default 301 */
    redirectStatus?: 301 | 302 | 307 | 308;
}

/** A virtual host (`hosts:` entry). */
export interface VirtualHostArgs {
    /**
     * Host name the entry answers for, or `"*"` for the catch-all. h2o falls back to the
     * first host entry when no Host header matches; the catch-all is always rendered first.
     * Named hosts are rendered as `name:port` for each of their listeners.
     */
    name: string;
    /**
     * Names of the listeners this host answers on. A catch-all answers on every listener.
     * Names served on TLS listeners must be covered by the listener's certificate.
     * @default every listener
     */
    listeners?: string[];
    /** Paths, longest prefix wins. */
    paths: PathArgs[];
    /** Per-host access log path. @default the global `accessLog` */
    accessLog?: string;
}

/**
 * What `new H2oReverseProxy()` takes: {@link H2oReverseProxyArgs} with every value a
 * `pulumi.Input` (the host's address and keys, certificate chains from `@pulumi/tls`,
 * backend URLs from other resources); the lists of listeners, virtual hosts and paths
 * stay lists. Checked as soon as every value is known, with the same errors.
 */
export type H2oReverseProxyInputs = Inputs<H2oReverseProxyArgs>;

export interface H2oReverseProxyArgs {
    /** The host h2o runs on (an inventory entry). Its `os` picks the trust directory, its `init` how h2o is started. */
    host: Host;
    /** h2o flavour the config is rendered for. @default "2.2" */
    h2oVersion?: H2oVersion;
    /**
     * Unprivileged user h2o switches to (`user`). OCSP updates after start-up run as this
     * user, so it must be able to read the chain files (they are installed 0644).
     * @default "www-data" on Debian, "nobody" on RHEL
     */
    user?: string;
    /** `max-connections`. @default 1024 */
    maxConnections?: number;
    /** `num-threads`. @default h2o's default (one per CPU) */
    numThreads?: number;
    /** `num-ocsp-updaters`: concurrent OCSP fetches. @default h2o's default (10) */
    numOcspUpdaters?: number;
    /** `access-log` path. @default "/var/log/h2o/access.log" */
    accessLog?: string;
    /** `error-log` path; fetcher messages go here too. @default "/var/log/h2o/error.log" */
    errorLog?: string;
    /**
     * `pid-file`. Debian's init script reads it from the config with `grep ^pid-file:`,
     * so it is written unquoted and must be a plain path.
     * @default "/run/h2o.pid"
     */
    pidFile?: string;
    /** Where the config is installed. Debian's and RHEL's service files read `/etc/h2o/h2o.conf`. @default "/etc/h2o/h2o.conf" */
    configPath?: string;
    /** Directory for chains, keys and OCSP fetchers. @default "/etc/h2o/hostwright" */
    tlsDirectory?: string;
    /** Service name for start/reload through the host's init system. @default "h2o" */
    serviceName?: string;
    /**
     * Trust directory that `verification: "trust-store"` installs root CAs into.
     * @default "/etc/ssl/certs" on Debian, "/etc/pki/tls/certs" on RHEL
     */
    trustDirectory?: string;
    /** A certificate that expires within this many days is a warning. @default 30 */
    expiryWarningDays?: number;
    /**
     * Where the component's OCSP fetchers (`verification: "trust-store"` / `"ca-file"`) keep
     * the last good response of each listener's certificate (`<listener>.<leaf SHA-256>.der`)
     * and what they served last (`<listener>.last`). Created by the step, owned by `user`
     * (the later fetches run as that user); the listeners' files are removed on destroy.
     * @default "/var/cache/hostwright/h2o-ocsp"
     */
    ocspCacheDirectory?: string;
    /**
     * Listeners, at least one. Adding or removing one, or changing an address or port, on
     * a running h2o restarts it (a reload cannot bind a new port under h2o's supervisor);
     * the step reports the time without service as `restartDowntimeMs`.
     */
    listeners: ListenerArgs[];
    /** Virtual hosts, at least one. */
    virtualHosts: VirtualHostArgs[];
}
