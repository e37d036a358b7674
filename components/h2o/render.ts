/**
 * Pure rendering of checked args into what the host gets: `h2o.conf` (and a copy
 * pointing at the staged files, for `h2o -t` before the switch), the chain/key files,
 * OCSP fetchers, the root CAs for trust-store verification, and the step scripts around them.
 */
import type { Host } from "../../core/host";
import { serviceCommand } from "../../core/host";
import { shortHash } from "../../core/hash";
import { heredocInto, raw, sh, shq } from "../../core/shell";
import { ManagedFile, RUN_TOKEN, stagedPath, StepSpec } from "../../core/step";
import { isIPv6 } from "net";
import type { H2oReverseProxyArgs, ListenerArgs, PathArgs, TlsIdentityArgs } from "./args";
import { STAPLE_AGE_MARGIN_SECONDS } from "./checks";
import type { CheckResult, Settings, StaplingStatus, TlsPlan } from "./checks";

// ---------------------------------------------------------------------------
// A small YAML writer: h2o needs repeated keys (`listen`, `proxy.header.set`),
// which no YAML library emits. Strings are written as JSON strings, which are
// valid YAML double-quoted scalars, so no value can break the structure.

/** A mapping whose keys may repeat, in order. */
export class YamlMap {
    constructor(readonly entries: Array<[string, YamlNode]> = []) {}
    add(key: string, value: YamlNode | undefined): this {
        if (value !== undefined) this.entries.push([key, value]);
        return this;
    }
}
/** A scalar written without quotes (only for values checked to be plain, e.g. pid-file). */
export class PlainScalar {
    constructor(readonly text: string) {}
}
export type YamlNode = string | number | PlainScalar | YamlMap | YamlNode[];

function yamlKey(key: string): string {
    return /^[A-Za-z][A-Za-z0-9_.-]*$/.test(key) ? key : JSON.stringify(key);
}

function yamlScalar(value: string | number | PlainScalar): string {
    if (value instanceof PlainScalar) return value.text;
    if (typeof value === "number") return String(value);
    return /^(ON|OFF|TLSv1(\.[123])?|server|client)$/.test(value) ? value : JSON.stringify(value);
}

export function emitYaml(map: YamlMap, indent = ""): string {
    return map.entries
        .map(([k, v]) => {
            const head = `${indent}${yamlKey(k)}:`;
            if (v instanceof YamlMap) return `${head}\n${emitYaml(v, `${indent}  `)}`;
            if (Array.isArray(v)) return `${head}\n${v.map((item) => emitItem(item, `${indent}  `)).join("")}`;
            return `${head} ${yamlScalar(v)}\n`;
        })
        .join("");
}

function emitItem(item: YamlNode, indent: string): string {
    if (item instanceof YamlMap) return `${indent}- ${emitYaml(item, `${indent}  `).slice(indent.length + 2)}`;
    if (Array.isArray(item)) throw new Error("nested YAML sequences are not used by h2o.conf");
    return `${indent}- ${yamlScalar(item)}\n`;
}

// ---------------------------------------------------------------------------

/** Where one TLS listener's files live on the host. */
export interface ListenerFiles {
    chain: string;
    key: string;
    /** Extra identities: [chain, key] pairs. */
    extras: Array<{ chain: string; key: string }>;
    /** The component's OCSP fetcher (`ocsp-update-cmd`), when used. */
    fetcher?: string;
}

export function listenerFiles(settings: Settings, plan: TlsPlan): ListenerFiles {
    const base = `${settings.tlsDirectory}/${plan.listener.name}`;
    return {
        chain: `${base}.chain.pem`,
        key: `${base}.key`,
        extras: plan.extras.map((_, i) => ({ chain: `${base}.${i + 1}.chain.pem`, key: `${base}.${i + 1}.key` })),
        fetcher: plan.stapling === "applicable" && plan.verification !== "h2o-default" ? `${base}.ocsp-fetch` : undefined,
    };
}

/**
 * Comment line of h2o.conf holding its listener set ({@link listenerSet}). The rollback and
 * the undo read it from the config they put back, to know whether a reload can serve it.
 */
export const LISTENER_SET_MARKER = "# hostwright listeners: ";

/**
 * The listening sockets a config asks for, as the host's `ss -Hltn` names them, sorted and
 * space-separated: `ADDR:PORT`, `[ADDR6]:PORT`, `*:PORT` for every address (h2o binds
 * `0.0.0.0` and `[::]` then). h2o's supervisor keeps the sockets it started with, so a
 * reload cannot bind a new one: a different set needs a restart.
 */
export function listenerSet(listeners: Array<Pick<ListenerArgs, "address" | "port">>): string {
    const socket = (l: Pick<ListenerArgs, "address" | "port">) => {
        if (l.address === undefined || l.address === "0.0.0.0" || l.address === "::") return `*:${l.port}`;
        if (!isIPv6(l.address)) return `${l.address}:${l.port}`;
        const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(l.address);
        // The URL parser prints an IPv6 address the way ss does (compressed, lower case), except a mapped IPv4 one.
        return mapped ? `[::ffff:${mapped[1]}]:${l.port}` : `${new URL(`http://[${l.address}]/`).hostname}:${l.port}`;
    };
    return [...new Set(listeners.map(socket))].sort().join(" ");
}

/** Renders h2o.conf; `at` maps each managed file path (to point `h2o -t` at the staged copies). */
export function renderConfig(args: H2oReverseProxyArgs, checked: CheckResult, header: string, at: (path: string) => string = (p) => p): string {
    const s = checked.settings;
    const root = new YamlMap()
        .add("user", s.user)
        .add("max-connections", s.maxConnections)
        .add("num-threads", s.numThreads)
        .add("num-ocsp-updaters", s.numOcspUpdaters)
        .add("pid-file", new PlainScalar(s.pidFile))
        .add("error-log", s.errorLog)
        .add("access-log", s.accessLog);
    for (const l of args.listeners) {
        const listen = new YamlMap().add("host", l.address).add("port", l.port);
        const plan = checked.tls.get(l.name);
        if (plan) {
            const files = listenerFiles(s, plan);
            const ssl = new YamlMap();
            if (plan.extras.length > 0) {
                ssl.add("identity", [
                    new YamlMap().add("certificate-file", at(files.chain)).add("key-file", at(files.key)),
                    ...files.extras.map((e) => new YamlMap().add("certificate-file", at(e.chain)).add("key-file", at(e.key))),
                ]);
            } else {
                ssl.add("certificate-file", at(files.chain)).add("key-file", at(files.key));
            }
            ssl.add("minimum-version", l.tls!.minimumVersion ?? "TLSv1.2")
                .add("cipher-suite", l.tls!.cipherSuite)
                .add("cipher-preference", l.tls!.preferServerCiphers ? "server" : undefined)
                // 0 turns the fetch off where there is nothing to staple.
                .add("ocsp-update-interval", plan.stapling === "applicable" ? plan.updateInterval : 0);
            if (plan.stapling === "applicable") ssl.add("ocsp-max-failures", plan.maxFailures).add("ocsp-update-cmd", files.fetcher ? at(files.fetcher) : undefined);
            listen.add("ssl", ssl);
        }
        root.add("listen", listen);
    }
    const hosts = new YamlMap();
    // The catch-all first: h2o falls back to the first host entry.
    const ordered = [...args.virtualHosts].sort((a, b) => Number(b.name === "*") - Number(a.name === "*"));
    for (const v of ordered) {
        const keys = v.name === "*" ? ["*"] : (v.listeners ?? args.listeners.map((l) => l.name)).map((n) => `${v.name}:${args.listeners.find((l) => l.name === n)!.port}`);
        for (const key of keys) {
            const paths = new YamlMap();
            for (const p of v.paths) paths.add(p.path, renderPath(p));
            hosts.add(key, new YamlMap().add("access-log", v.accessLog).add("paths", paths));
        }
    }
    root.add("hosts", hosts);
    return `${header}\n${LISTENER_SET_MARKER}${listenerSet(args.listeners)}\n${emitYaml(root)}`;
}

function renderPath(p: PathArgs): YamlMap {
    const m = new YamlMap();
    if (p.redirectTo !== undefined) return m.add("redirect", new YamlMap().add("status", p.redirectStatus ?? 301).add("url", p.redirectTo));
    m.add("proxy.reverse.url", p.proxyTo!)
        .add("proxy.preserve-host", p.preserveHost === false ? "OFF" : "ON")
        .add("proxy.timeout.io", p.timeoutIoMs)
        .add("proxy.timeout.keepalive", p.keepaliveTimeoutMs);
    for (const [name, value] of Object.entries(p.setRequestHeaders ?? {})) m.add("proxy.header.set", `${name}: ${value}`);
    return m;
}

/**
 * Environment variable naming an extra CA file the trust-store fetcher also trusts. Set
 * only for hostwright's own `h2o -t` run, which validates the new configuration while
 * the new root CA is still staged (not yet in the trust directory).
 */
export const STAGED_ROOTS_ENV = "HOSTWRIGHT_OCSP_STAGED_ROOTS";

/** Cache file names of a listener's fetcher: the last good response, and what it served last, per leaf. */
export function fetcherCacheFiles(settings: Settings, listener: string, leafFingerprint: string): { response: string; last: string } {
    const base = `${settings.ocspCacheDirectory}/${listener}.${leafFingerprint.replace(/:/g, "")}`;
    return { response: `${base}.der`, last: `${base}.last` };
}

/**
 * The component's OCSP fetcher for one listener (h2o runs `ocsp-update-cmd CERTFILE`
 * and staples the DER it prints; exit 75 means "try again later"). Unlike h2o's
 * `fetch-ocsp-response` it verifies the response up to a real trust anchor (the
 * host's trust directory or an embedded CA file), never to the issuer alone, with
 * every intermediate of the bundle as untrusted certificates.
 * It keeps the last good verified response per leaf in `ocspCacheDirectory` and serves it
 * while the responder gives no verified answer (down, slow: 5 s, a broken signature),
 * until its nextUpdate; a `revoked` answer removes it. Each run records what it served
 * (`fresh`, `cached`, `none`) for the step's report.
 * The certificates are embedded, so the staged copy is self-contained.
 */
export function renderFetcher(plan: TlsPlan, settings: Settings): string {
    const anchor =
        plan.verification === "ca-file"
            ? raw(`-CAfile "$tmp/ca.pem"`)
            : raw(`${sh`-CApath ${settings.trustDirectory}`} \${${STAGED_ROOTS_ENV}:+-CAfile "\$${STAGED_ROOTS_ENV}"}`);
    const anchorName = plan.verification === "ca-file" ? "the CA file" : settings.trustDirectory;
    const embed = (file: string, pem: string) => heredocInto(`hw_put "$tmp/${file}"`, pem, shortHash(file + pem));
    const uri = plan.responderUrl
        ? sh`uri=${plan.responderUrl}`
        : `uri=$(openssl x509 -in "$cert" -noout -ocsp_uri) || exit 1
case $uri in http://*|https://*) ;; *) say "no OCSP URI in $cert"; exit 1 ;; esac`;
    const proxy = plan.proxy
        ? `can_ask=yes
case $(openssl version) in
  "OpenSSL 3."*) set -- "$@" ${sh`-proxy ${plan.proxy}`} ;;
  *) say ${shq(`ocsp.proxy needs OpenSSL 3 (openssl ocsp -proxy): not asking the responder`)}; can_ask=no ;;
esac`
        : "";
    return `#!/bin/sh
# Managed by hostwright: OCSP fetcher of h2o listener ${plan.listener.name} (ocsp-update-cmd).
# Verifies with: ${plan.verification === "ca-file" ? "the embedded CA file" : `the trust directory ${settings.trustDirectory}`}.
# Keeps the last good response in ${settings.ocspCacheDirectory} and serves it while the responder fails, until its nextUpdate.
cert=$1
tmp=$(mktemp -d "\${TMPDIR:-/tmp}/hostwright-ocsp.XXXXXX") || exit 75
trap 'rm -rf "$tmp"' EXIT
hw_put() { head -c "$2" > "$1"; }
say() { echo "hostwright-ocsp: $*" >&2; }
${embed("issuer.pem", plan.main.issuerPem ?? "")}
${embed("untrusted.pem", plan.main.untrustedPem ?? "")}
${plan.verification === "ca-file" ? embed("ca.pem", plan.main.caBundlePem ?? "") : ""}
${sh`cache=${settings.ocspCacheDirectory}
listener=${plan.listener.name}`}
# Per leaf: a new certificate never gets the old one's response.
fp=$(openssl x509 -in "$cert" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g') || exit 1
kept=$cache/$listener.$fp.der
served() {
  # What this run served (fresh, cached, none), for the step's report; a cache the user cannot write only loses the report.
  { printf '%s\\n' "$1" > "$kept.last.$$" && mv -f "$kept.last.$$" "$cache/$listener.$fp.last"; } 2>/dev/null || rm -f "$kept.last.$$" 2>/dev/null
  true
}
judge() {
  # judge FILE: FILE is a response for this certificate that verifies up to ${anchorName}; sets
  # status (good, revoked, unknown) and next_update ("" without)
  # No -issuer in the verification: openssl would fall back to trusting it (OCSP_TRUSTOTHER)
  # and verify nothing. Every intermediate is given: with the issuer alone a 4-level chain does not reach its root.
  openssl ocsp -respin "$1" -verify_other "$tmp/untrusted.pem" ${anchor} > "$tmp/verify.out" 2>&1 \\
    && ! grep -q 'Response Verify Failure' "$tmp/verify.out" || { sed 's/^/hostwright-ocsp: /' "$tmp/verify.out" >&2; return 1; }
  # The status for this certificate's ID: reading it needs the issuer, so it is a separate, non-verifying call.
  openssl ocsp -respin "$1" -issuer "$tmp/issuer.pem" -cert "$cert" -noverify > "$tmp/status.out" 2>&1 || { sed 's/^/hostwright-ocsp: /' "$tmp/status.out" >&2; return 1; }
  status=$(sed -n 's/^.*: \\(good\\|revoked\\|unknown\\)$/\\1/p' "$tmp/status.out" | head -n 1)
  next_update=$(sed -n 's/^[[:space:]]*Next Update: //p' "$tmp/status.out" | head -n 1)
  [ -n "$status" ] || { say "the response holds no status for $cert"; return 1; }
}
${uri}
host=\${uri#*://}
host=\${host%%/*}
# OpenSSL 1.x does not send a Host header by itself (and 1.0 wants it as two words).
case $(openssl version) in
  "OpenSSL 1.0."*|LibreSSL*) set -- -header Host "$host" ;;
  "OpenSSL 1."*) set -- -header "Host=$host" ;;
  *) set -- ;;
esac
${proxy}
say "asking $uri${plan.proxy ? sh` through ${plan.proxy}` : ""}"
if ! ${plan.proxy ? `[ "$can_ask" = yes ] || ! ` : ""}openssl ocsp -issuer "$tmp/issuer.pem" -cert "$cert" -url "$uri" "$@" -timeout 5 -noverify -respout "$tmp/resp.der" >&2; then
  say "no answer from $uri"
elif ! judge "$tmp/resp.der"; then
  say ${shq(`the response does not verify against ${anchorName}`)}
else
  sed 's/^/hostwright-ocsp: /' "$tmp/verify.out" >&2
  case $status in
    good)
      if { cp "$tmp/resp.der" "$kept.$$" && mv -f "$kept.$$" "$kept"; } 2>/dev/null; then
        # Only the current leaf's response is worth keeping.
        for old in "$cache/$listener".*.der; do [ "$old" = "$kept" ] || rm -f "$old" "\${old%.der}.last" 2>/dev/null; done
      else
        rm -f "$kept.$$" 2>/dev/null
        say "cannot keep the response in $cache (not writable by $(id -un)); a responder outage will leave the listener without a staple"
      fi ;;
    # Never hide a revocation behind an older good answer.
    revoked) rm -f "$kept" 2>/dev/null ;;
  esac
  served fresh
  cat "$tmp/resp.der"
  exit 0
fi
if [ -s "$kept" ] && judge "$kept" && [ "$status" = good ] && [ -n "$next_update" ] \\
   && [ "$(date -d "$next_update" +%s 2>/dev/null || echo 0)" -gt "$(date +%s)" ]; then
  say "serving the response kept since $(date -u -r "$kept" '+%Y-%m-%dT%H:%M:%SZ') (good, valid until $next_update)"
  served cached
  cat "$kept"
  exit 0
fi
[ ! -s "$kept" ] || say "the kept response is not usable any more (status \${status:-unreadable}, nextUpdate \${next_update:-none}); not stapled"
served none
exit 75
`;
}

/** File content that is either text or an opaque secret value (the private key). */
export type RenderedFile<K> = Omit<ManagedFile, "content"> & { content: string | K };

export interface TlsListenerView {
    name: string;
    /** `host:port` to connect to from the host itself. */
    localEndpoint: string;
    /** `host:port` to connect to from elsewhere. */
    remoteEndpoint: string;
    /** SNI name, or undefined for none. */
    serverName?: string;
    stapling: TlsPlan["stapling"];
    order: string[];
    reordered: boolean;
}

export interface H2oRender<K> {
    config: string;
    /** The one step: config, chains, keys, fetchers and (trust-store verification) root CAs. */
    proxyStep: Omit<StepSpec, "key" | "files"> & { files: Array<RenderedFile<K>> };
    /** The root CA files installed in the trust directory (`verification: "trust-store"`). */
    trustRoots: string[];
    listeners: TlsListenerView[];
    /** Stapling status known before apply ("not applicable", "disabled"); others come from the host. */
    staticStapling: Record<string, StaplingStatus>;
    /** Ready-to-run commands that show the staple of each TLS listener. */
    checkCommands: Record<string, string>;
}

/** Where a root CA for trust-store verification is installed: named by its content, so a new root is a new file. */
export function trustRootPath(settings: Settings, rootPem: string): string {
    return `${settings.trustDirectory}/hostwright-${shortHash(rootPem.trim())}.pem`;
}

/**
 * Shell functions over the trust directory's hash links (`<subject hash>.N`, how OpenSSL
 * finds a CA in a directory), shared by the activation, the rollback, the undo and the
 * drift check:
 * - `hw_h2o_dangling LINK`: LINK is a symlink to a hostwright-*.pem that is gone;
 * - `hw_h2o_link_of CA`: sets `hw_link_at` to the link that reaches CA (OpenSSL tries
 *   .0, .1, ... and stops at the first missing N) and succeeds; else sets it to that first
 *   free `<hash>.N` and fails (1), or fails with 2 when CA is not a certificate;
 * - `hw_h2o_relink`: makes the links agree with the hostwright-*.pem roots present: a link
 *   to a missing one is removed (the last link of the same hash moves into the gap), a
 *   present one without a link gets one (.N skips other CAs with the same hash).
 *   Idempotent, so the activation, the rollback and the undo all run it after the files
 *   changed, and no link is ever left dangling.
 */
export function relinkFunction(trustDirectory: string): string {
    return `hw_h2o_trust=${shq(trustDirectory)}
hw_h2o_dangling() {
  [ -L "$1" ] && [ ! -e "$1" ] || return 1
  case $(readlink -- "$1") in hostwright-*.pem|*/hostwright-*.pem) return 0 ;; *) return 1 ;; esac
}
hw_h2o_link_of() {
  hw_hash=$(openssl x509 -noout -hash -in "$1") || return 2
  hw_n=0
  while [ -e "$hw_h2o_trust/$hw_hash.$hw_n" ] || [ -L "$hw_h2o_trust/$hw_hash.$hw_n" ]; do
    hw_link_at=$hw_h2o_trust/$hw_hash.$hw_n
    [ "$(readlink -- "$hw_link_at")" != "\${1##*/}" ] || return 0
    hw_n=$((hw_n + 1))
  done
  hw_link_at=$hw_h2o_trust/$hw_hash.$hw_n
  return 1
}
hw_h2o_relink() {
  [ -d "$hw_h2o_trust" ] || return 0
  hw_gone=1
  while [ -n "$hw_gone" ]; do
    hw_gone=
    for hw_link in "$hw_h2o_trust"/*; do
      hw_h2o_dangling "$hw_link" || continue
      rm -f -- "$hw_link"
      hw_log "removed hash link $hw_link (its root CA is gone)"
      # OpenSSL stops at the first missing <hash>.N: the last link of this hash fills the gap.
      hw_n=\${hw_link##*.} hw_last=
      case $hw_n in ''|*[!0-9]*) hw_n= ;; esac
      while [ -n "$hw_n" ] && { [ -e "\${hw_link%.*}.$((hw_n + 1))" ] || [ -L "\${hw_link%.*}.$((hw_n + 1))" ]; }; do hw_n=$((hw_n + 1)); hw_last=\${hw_link%.*}.$hw_n; done
      if [ -n "$hw_last" ]; then mv -fT -- "$hw_last" "$hw_link"; hw_log "moved $hw_last to $hw_link"; fi
      hw_gone=1
      break
    done
  done
  for hw_ca in "$hw_h2o_trust"/hostwright-*.pem; do
    [ -f "$hw_ca" ] && [ ! -L "$hw_ca" ] || continue
    hw_rc=0
    hw_h2o_link_of "$hw_ca" || hw_rc=$?
    case $hw_rc in
      0) continue ;;
      2) hw_warn "$hw_ca is not a certificate; not linked"; continue ;;
    esac
    ln -s -- "\${hw_ca##*/}" "$hw_link_at"
    hw_log "linked $hw_link_at -> \${hw_ca##*/}"
  done
}`;
}

function endpoint(address: string, port: number): string {
    return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Renders everything the host gets. `keyContent` turns an identity's private key into file content (kept opaque). */
export function renderH2o<K>(name: string, args: H2oReverseProxyArgs, checked: CheckResult, keyContent: (identity: TlsIdentityArgs) => K): H2oRender<K> {
    const s = checked.settings;
    const host: Host = args.host;
    const header = `# Managed by hostwright (hostwright:h2o:ReverseProxy ${JSON.stringify(name).slice(1, -1)}); local edits are overwritten.`;
    const files: Array<RenderedFile<K>> = [];
    const managed = new Set<string>();
    const addFile = (f: RenderedFile<K>) => {
        files.push(f);
        managed.add(f.path);
    };

    const views: TlsListenerView[] = [];
    const staticStapling: Record<string, StaplingStatus> = {};
    const checkCommands: Record<string, string> = {};
    const trustRoots: string[] = [];
    for (const l of args.listeners) {
        const plan = checked.tls.get(l.name);
        if (!plan) continue;
        const f = listenerFiles(s, plan);
        // The chain is public: readable by h2o's user, who runs the later OCSP fetches.
        addFile({ path: f.chain, content: plan.main.orderedPem ?? "", mode: "0644" });
        addFile({ path: f.key, content: keyContent(l.tls!), mode: "0600" });
        plan.extras.forEach((e, i) => {
            addFile({ path: f.extras[i].chain, content: e.orderedPem ?? "", mode: "0644" });
            addFile({ path: f.extras[i].key, content: keyContent(l.tls!.extraIdentities![i]), mode: "0600" });
        });
        if (f.fetcher) addFile({ path: f.fetcher, content: renderFetcher(plan, s), mode: "0755" });
        if (plan.stapling === "applicable" && plan.verification === "trust-store") {
            // In the proxy step, so a refused apply puts the trust directory back with the rest.
            const rootPem = l.tls!.ocsp!.rootCertificate!;
            const path = trustRootPath(s, rootPem);
            if (!managed.has(path)) {
                addFile({ path, content: rootPem, mode: "0644" });
                trustRoots.push(path);
            }
        }
        const named = args.virtualHosts.find((v) => v.name !== "*" && !v.name.startsWith("*.") && (v.listeners ?? [l.name]).includes(l.name))?.name;
        const leafName = plan.main.leafName && !plan.main.leafName.startsWith("*.") && !/^[0-9.:]+$/.test(plan.main.leafName) ? plan.main.leafName : undefined;
        const local = l.address === undefined || l.address === "0.0.0.0" ? "127.0.0.1" : l.address === "::" ? "::1" : l.address;
        const remote = l.address === undefined || l.address === "0.0.0.0" || l.address === "::" ? host.address : l.address;
        const view: TlsListenerView = {
            name: l.name,
            localEndpoint: endpoint(local, l.port),
            remoteEndpoint: endpoint(remote, l.port),
            serverName: named ?? leafName,
            stapling: plan.stapling,
            order: plan.main.order,
            reordered: plan.main.reordered,
        };
        views.push(view);
        if (plan.stapling !== "applicable") staticStapling[l.name] = plan.stapling;
        checkCommands[l.name] = sh`openssl s_client -connect ${view.remoteEndpoint} ${view.serverName ? ["-servername", view.serverName] : []} -status </dev/null 2>/dev/null | grep -E 'OCSP response:|OCSP Response Status|Cert Status'`;
    }
    const config = renderConfig(args, checked, header);
    addFile({ path: s.configPath, content: config, mode: "0644" });
    const validationConfig = renderConfig(args, checked, header, (p) => (managed.has(p) ? stagedPath(p) : p));
    const wanted = listenerSet(args.listeners);

    const pid = s.pidFile;
    const start = serviceCommand(host, s.serviceName, "start");
    const reload = serviceCommand(host, s.serviceName, "reload");
    const restart = serviceCommand(host, s.serviceName, "restart");
    const stop = serviceCommand(host, s.serviceName, "stop");
    // Outside the state directory: a failed first create removes that before reactivate runs.
    const started = raw(`"$HW_STATE.h2o-started"`);
    // Every wait is bounded: the init commands by `timeout`, each probe by its own, each loop by a deadline.
    const helpers = `hw_h2o_errlog=${shq(s.errorLog)}
hw_h2o_wait_limit=30
hw_h2o_svc() {
  # hw_h2o_svc SECONDS COMMAND...: an init-system command, killed after SECONDS. The init
  # script prints without a final newline and the daemon keeps writing to inherited
  # descriptors: both would garble the step's report lines, so its output goes to a file.
  hw_svc_limit=$1; shift
  hw_svc_log=$(mktemp "\${TMPDIR:-/tmp}/hostwright-h2o-svc.XXXXXX")
  hw_svc_rc=0
  timeout -k 5 "$hw_svc_limit" "$@" </dev/null >"$hw_svc_log" 2>&1 || hw_svc_rc=$?
  hw_log "$*: $(tr '\n' ' ' < "$hw_svc_log" | cut -c1-300)"
  rm -f -- "$hw_svc_log"
  [ "$hw_svc_rc" -ne 124 ] || hw_log "$* did not finish within $hw_svc_limit s; killed"
  return "$hw_svc_rc"
}
hw_h2o_running() { [ -s ${shq(pid)} ] && kill -0 "$(cat ${shq(pid)})" 2>/dev/null; }
hw_h2o_config_in_use() {
  # The configuration h2o's supervisor was started with: its -c / --conf argument ("" when none)
  tr '\\0' '\\n' 2>/dev/null < "/proc/$(cat ${shq(pid)} 2>/dev/null || echo 0)/cmdline" | sed -n -e '/^\\(-c\\|--conf\\)$/{n;p;q;}' -e 's/^--conf=//p' | head -n 1
}
hw_h2o_other_config() {
  # h2o was started with another configuration file than ours (a relative path is not judged)
  case $(hw_h2o_config_in_use) in /*) [ "$(hw_h2o_config_in_use)" != ${shq(s.configPath)} ] ;; *) return 1 ;; esac
}
hw_h2o_workers() {
  # the pids of the supervisor's children, space-separated
  hw_read hw_h2o_pid ${shq(pid)}
  hw_ws=$(ps -o pid= --ppid "\${hw_h2o_pid:-0}" 2>/dev/null) || true
  printf '%s ' $hw_ws
}
hw_h2o_bound() {
  # The TCP sockets h2o's supervisor and workers listen on, as listenerSet() (render.ts) writes them
  # (an interface suffix dropped, any-address as *). Parsed by bash: it runs in every wait loop.
  hw_read hw_h2o_pid ${shq(pid)}
  hw_pids=" $hw_h2o_pid $(hw_h2o_workers)"
  hw_socks=$(ss -Hltnp 2>/dev/null | while read -r _ _ _ hw_local _ hw_users; do
    while [[ $hw_users =~ pid=([0-9]+) ]]; do
      hw_users=\${hw_users#*"\${BASH_REMATCH[0]}"}
      case $hw_pids in *" \${BASH_REMATCH[1]} "*) ;; *) continue ;; esac
      if [[ $hw_local =~ %[^]:]*: ]]; then hw_local=\${hw_local/"\${BASH_REMATCH[0]}"/:}; fi
      case $hw_local in 0.0.0.0:*|"*":*|"[::]":*) hw_local="*:\${hw_local##*:}" ;; esac
      printf '%s\\n' "$hw_local"
      break
    done
  done | sort -u)
  hw_socks=\${hw_socks//$'\\n'/ }
  printf '%s' "$hw_socks"
}
hw_h2o_sni() { [ "$1" = - ] || printf '%s' "-servername $1"; }
hw_h2o_served_leaf() {
  # hw_h2o_served_leaf HOST:PORT SNI: the SHA-256 fingerprint of the leaf served there ("" when none)
  timeout 5 openssl s_client -connect "$1" $(hw_h2o_sni "$2") </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//'
}
hw_h2o_answers_http() {
  # hw_h2o_answers_http HOST PORT: h2o answers HTTP there. A connect alone proves nothing:
  # the kernel accepts on a socket the supervisor holds even when no worker serves it.
  # The request is malformed on purpose: h2o answers 400 itself, whatever the backend does.
  [ "$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "hostwright-probe\\r\\n\\r\\n" >&3 && head -c 5 <&3' "$1" "$2" 2>/dev/null)" = "HTTP/" ]
}
hw_h2o_staple_seen() {
  # hw_h2o_staple_seen HOST:PORT SNI FINGERPRINT: one look at the staple, as a client sees it.
  # Sets hw_fp (the SHA-256 fingerprint of the leaf served, "" without a handshake), hw_st
  # (good, revoked, unknown, "no staple", or "another certificate" when hw_fp is not
  # FINGERPRINT), hw_st_time and hw_st_next (the response's thisUpdate and nextUpdate, "" without).
  hw_s=$(timeout 5 openssl s_client -connect "$1" $(hw_h2o_sni "$2") -status </dev/null 2>&1 || true)
  # The staple printed above it holds the responder's certificate: take the one after "Server certificate".
  hw_fp=$(printf '%s\\n' "$hw_s" | sed -n '/^Server certificate/,/^-----END CERTIFICATE-----/p' | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//')
  hw_st_time=
  hw_st_next=
  if [ "$hw_fp" != "$3" ]; then hw_st="another certificate"; return 0; fi
  case "$hw_s" in
    *"Cert Status: good"*) hw_st=good ;;
    *"Cert Status: revoked"*) hw_st=revoked ;;
    *"Cert Status: unknown"*) hw_st=unknown ;;
    *) hw_st="no staple"; return 0 ;;
  esac
  hw_st_time=$(printf '%s\\n' "$hw_s" | sed -n 's/^ *This Update: //p' | head -n 1)
  hw_st_next=$(printf '%s\\n' "$hw_s" | sed -n 's/^ *Next Update: //p' | head -n 1)
}
hw_h2o_wait_bound() {
  # hw_h2o_wait_bound SET: until h2o listens on exactly SET (a removed port is closed again)
  hw_end=$(( $(date +%s) + 10 ))
  until [ "$(hw_h2o_bound)" = "$1" ]; do
    [ "$(date +%s)" -lt "$hw_end" ] || return 1
    sleep 0.2
  done
}
hw_h2o_reload() {
  # Graceful: the new generation replaces the old workers once it is up; until they are
  # gone both answer on the same sockets.
  hw_h2o_before=$(hw_h2o_workers)
  hw_h2o_svc 60 ${reload} || return 1
  hw_end=$(( $(date +%s) + hw_h2o_wait_limit ))
  for hw_pid in $hw_h2o_before; do
    while kill -0 "$hw_pid" 2>/dev/null && [ "$(date +%s)" -lt "$hw_end" ]; do sleep 0.25; done
  done
}
hw_h2o_serve_restored() {
  # After a rollback or undo: serve the config now on disk. A reload when h2o already
  # listens on its listener set; otherwise (another set, or a config not written by
  # hostwright, whose set is unknown) a restart, which binds exactly the config's ports.
  hw_want=$(sed -n ${shq(`s/^${LISTENER_SET_MARKER}//p`)} ${shq(s.configPath)} 2>/dev/null | head -n 1)
  if [ -n "$hw_want" ] && [ "$(hw_h2o_bound)" = "$hw_want" ]; then
    hw_h2o_reload || hw_warn "reloading h2o with the restored configuration failed; see $hw_h2o_errlog"
  else
    hw_log "restarting h2o: it listens on '$(hw_h2o_bound)', the restored configuration on '\${hw_want:-(not written by hostwright)}'"
    if hw_h2o_svc 120 ${restart}; then
      [ -z "$hw_want" ] || hw_h2o_wait_bound "$hw_want" || hw_warn "after the restart h2o listens on '$(hw_h2o_bound)', not '$hw_want'; see $hw_h2o_errlog"
    else
      hw_warn "restarting h2o with the restored configuration failed; see $hw_h2o_errlog"
    fi
  fi
}
${relinkFunction(s.trustDirectory)}`;

    // The staged root CAs are not in the trust directory yet: the fetchers trust them through
    // STAGED_ROOTS_ENV during this h2o -t only.
    const stagedRoots = trustRoots.length === 0 ? "" : `hw_h2o_roots=$(mktemp "\${TMPDIR:-/tmp}/hostwright-h2o-roots.XXXXXX")
${trustRoots.map((r) => sh`openssl x509 -noout -in "$(hw_staged ${r})" || hw_fail ${`staged ${r} is not a certificate`}
cat -- "$(hw_staged ${r})" >> "$hw_h2o_roots"`).join("\n")}
export ${STAGED_ROOTS_ENV}="$hw_h2o_roots"`;
    // A Must-Staple leaf that h2o -t could not staple (no answer, no kept response still valid) stops the apply
    // before the switch: the previous configuration keeps serving.
    const mustStapleChecks = args.listeners
        .map((l) => checked.tls.get(l.name))
        .filter((plan): plan is TlsPlan => plan !== undefined && plan.mustStaple && plan.stapling === "applicable")
        .map((plan) => {
            const staged = stagedPath(listenerFiles(s, plan).chain).split(RUN_TOKEN)[0];
            return sh`if printf '%s\\n' "$hw_h2o_out" | grep -E 'OCSP Stapling\\] (temporary failed|does not work)' | grep -qF -- ${staged}; then
  hw_fail ${`listener ${plan.listener.name}: the certificate requires OCSP stapling (Must-Staple) and h2o -t got no staple (the responder gave no verified answer and no kept response is valid); nothing was switched`}
fi`;
        })
        .join("\n");
    const validate = `hw_h2o_conf=$(mktemp "\${TMPDIR:-/tmp}/hostwright-h2o-test.XXXXXX")
${heredocInto(`hw_put_staged "$hw_h2o_conf"`, validationConfig, shortHash(validationConfig))}
${stagedRoots}
set +e
# h2o -t runs the OCSP fetch; h2o's own script has no timeout for a responder that never answers.
hw_h2o_out=$(timeout -k 5 120 h2o -t -c "$hw_h2o_conf" 2>&1)
hw_h2o_rc=$?
set -e
rm -f -- "$hw_h2o_conf"${trustRoots.length === 0 ? "" : ` "$hw_h2o_roots"`}
printf '%s\\n' "$hw_h2o_out" | sed 's/^/h2o -t: /'
# h2o -t exits 0 even when the OCSP fetch fails: its output says what happened.
[ "$hw_h2o_rc" -ne 124 ] || hw_fail "h2o -t did not finish within 120 s (an OCSP responder that does not answer?); nothing was switched"
[ "$hw_h2o_rc" -eq 0 ] || hw_fail "h2o rejected the new configuration (h2o -t exit $hw_h2o_rc; the running h2o keeps its configuration): $(printf '%s\\n' "$hw_h2o_out" | grep -v 'OCSP Stapling\\] testing' | tail -n 4 | tr '\\n' ' ')"
case "$hw_h2o_out" in *": revoked"*) hw_fail "the OCSP responder reports a certificate as REVOKED; not deploying it: $(printf '%s\\n' "$hw_h2o_out" | grep ': revoked' | head -n 1)" ;; esac
printf '%s\\n' "$hw_h2o_out" | grep -E 'OCSP Stapling\\] (temporary failed|does not work|.*disabled)' | while IFS= read -r hw_line; do hw_warn "h2o -t: $hw_line"; done
${mustStapleChecks}
true`;

    // Each listener's probe arguments: the activation waits until they pass, the drift check looks once.
    const probes = args.listeners.map((l) => {
        const v = views.find((x) => x.name === l.name);
        if (v) return sh`tls ${l.name} ${v.localEndpoint} ${v.serverName ?? "-"} ${checked.tls.get(l.name)!.main.leafFingerprint ?? "-"}`;
        const local = l.address === undefined || l.address === "0.0.0.0" ? "127.0.0.1" : l.address === "::" ? "::1" : l.address;
        return sh`plain ${l.name} ${local} ${l.port}`;
    });
    const stapled = views.filter((v) => v.stapling === "applicable").map((v) => ({ view: v, plan: checked.tls.get(v.name)! }));
    // What a staple that is not good means: 0 a warning, 1 a failure (requireGoodStaple), 2 a failure (the leaf's Must-Staple).
    const strictness = (plan: TlsPlan) => (plan.mustStaple ? 2 : plan.requireGoodStaple ? 1 : 0);
    const cacheBase = (plan: TlsPlan) =>
        listenerFiles(s, plan).fetcher && plan.main.leafFingerprint ? fetcherCacheFiles(s, plan.listener.name, plan.main.leafFingerprint).response.replace(/\.der$/, "") : "-";
    const staples = stapled
        .map(({ view: v, plan }) => sh`hw_h2o_staple ${v.name} ${v.localEndpoint} ${v.serverName ?? "-"} ${plan.stapleWaitSeconds} ${strictness(plan)} ${plan.main.leafFingerprint ?? "-"} ${cacheBase(plan)} ${plan.stapleAgeWarningSeconds}`)
        .join("\n");
    const cached = stapled.some(({ plan }) => cacheBase(plan) !== "-");
    // The fetchers run as h2o's user after start-up: the cache is theirs.
    const cacheDirectory = cached ? sh`mkdir -p ${s.ocspCacheDirectory}
chown ${s.user} ${s.ocspCacheDirectory}
chmod 0755 ${s.ocspCacheDirectory}` : "";
    const activate = `hw_h2o_wait_tls() {
  # hw_h2o_wait_tls NAME HOST:PORT SNI FINGERPRINT: until the listener serves the new leaf
  hw_end=$(( $(date +%s) + hw_h2o_wait_limit ))
  until [ "$(hw_h2o_served_leaf "$2" "$3")" = "$4" ]; do
    [ "$(date +%s)" -lt "$hw_end" ] || hw_fail "listener $1 ($2) does not serve the new certificate $hw_h2o_wait_limit s after h2o was (re)started or reloaded; see $hw_h2o_errlog"
    sleep 0.2
  done
}
hw_h2o_wait_plain() {
  # hw_h2o_wait_plain NAME HOST PORT: until h2o answers HTTP there
  hw_end=$(( $(date +%s) + hw_h2o_wait_limit ))
  until hw_h2o_answers_http "$2" "$3"; do
    [ "$(date +%s)" -lt "$hw_end" ] || hw_fail "listener $1 ($2:$3) does not answer HTTP $hw_h2o_wait_limit s after h2o was (re)started or reloaded; see $hw_h2o_errlog"
    sleep 0.2
  done
}
hw_h2o_staple() {
  # hw_h2o_staple NAME HOST:PORT SNI WAIT STRICT FINGERPRINT CACHE AGE-LIMIT: what h2o staples, as a client
  # sees it. STRICT: 0 a staple that is not good is a warning, 1 a failure (requireGoodStaple), 2 a failure
  # (Must-Staple). CACHE: the fetcher's cache files without .der/.last ("-" for h2o's own fetcher).
  hw_end=$(( $(date +%s) + $4 ))
  if [ "$7" != - ] && [ "$hw_h2o_fetches" = yes ]; then
    # A staple can only follow the fetcher's answer, which it notes in CACHE.last: looking for
    # that note costs no process, a handshake costs two openssl runs.
    until [ "$7.last" -nt "$hw_h2o_began" ]; do
      printf -v hw_now '%(%s)T' -1
      [ "$hw_now" -lt "$hw_end" ] || break
      sleep 0.1
    done
  fi
  while :; do
    hw_h2o_staple_seen "$2" "$3" "$6"
    # Only a connection that presents the new leaf counts (an old worker may still answer).
    [ "$hw_st" != "another certificate" ] || hw_st="no staple"
    printf -v hw_now '%(%s)T' -1
    if [ "$hw_st" = "no staple" ] && [ "$hw_now" -lt "$hw_end" ]; then
      # once the fetcher notes a response served, h2o staples it within moments; otherwise poll slowly
      hw_note=none
      if [ "$7" != - ] && [ "$7.last" -nt "$hw_h2o_began" ]; then hw_read hw_note "$7.last"; fi
      if [ "$hw_note" = none ]; then sleep 1; else sleep 0.2; fi
      continue
    fi
    break
  done
  # fresh or cached: what the fetcher served last for this leaf; h2o's own fetcher keeps no such record.
  if [ "$7" = - ]; then hw_src=h2o; else hw_src=$(cat "$7.last" 2>/dev/null || echo none); fi
  hw_output "stapling.$1" "$hw_st"
  hw_output "stapleSource.$1" "$hw_src"
  hw_output "stapleThisUpdate.$1" "$hw_st_time"
  hw_output "stapleNextUpdate.$1" "$hw_st_next"
  hw_log "listener $1: OCSP staple: $hw_st (source $hw_src, thisUpdate \${hw_st_time:-none}, nextUpdate \${hw_st_next:-none})"
  case "$hw_st" in
    good)
      if [ "$7" != - ] && [ -f "$7.der" ]; then
        hw_age=$(( $(date +%s) - $(stat -c %Y "$7.der") ))
        [ "$hw_age" -le "$8" ] || hw_warn "listener $1: the OCSP staple was fetched $hw_age s ago, more than stapleAgeWarningSeconds ($8 s): the responder has not answered since; the kept response is served until its nextUpdate $hw_st_next; see $hw_h2o_errlog"
      fi ;;
    revoked) hw_fail "listener $1 staples a REVOKED OCSP response: the certificate is revoked; rolling back" ;;
    *) case $5 in
         2) hw_fail "listener $1: OCSP staple is '$hw_st', and the certificate requires stapling (Must-Staple: clients refuse it without a good staple); rolling back; see $hw_h2o_errlog" ;;
         1) hw_fail "listener $1: OCSP staple is '$hw_st' (requireGoodStaple); see $hw_h2o_errlog" ;;
       esac
       hw_warn "listener $1: OCSP staple is '$hw_st' after $4 s; h2o retries after ocsp-update-interval; see $hw_h2o_errlog" ;;
  esac
}
hw_h2o_relink
${cacheDirectory}
hw_h2o_want=${shq(wanted)}
hw_h2o_t0=
# the fetchers' notes (CACHE.last) newer than this mark come from the h2o started or reloaded below
hw_h2o_began="$HW_TXN/h2o-began"
: > "$hw_h2o_began"
hw_h2o_fetches=yes
if ! hw_h2o_running; then
  hw_log "starting h2o"
  : > ${started}
  hw_h2o_svc 60 ${start} || hw_fail "starting h2o failed; see $hw_h2o_errlog"
elif hw_h2o_other_config; then
  # A reload would re-read the other file: only a restart reads ours.
  hw_log "h2o runs with the configuration $(hw_h2o_config_in_use), not ${raw(shq(s.configPath))}: restarting h2o"
  hw_h2o_t0=$(date +%s%N)
  hw_h2o_svc 120 ${restart} || hw_fail "restarting h2o failed; see $hw_h2o_errlog"
elif [ "$(hw_h2o_bound)" != "$hw_h2o_want" ]; then
  # h2o's supervisor keeps the sockets it started with: a reload cannot bind a new port
  # ("is not being bound to the server") nor close a removed one.
  hw_log "the listener set changes (h2o listens on '$(hw_h2o_bound)', the new configuration on '$hw_h2o_want'): restarting h2o"
  hw_h2o_t0=$(date +%s%N)
  hw_h2o_svc 120 ${restart} || hw_fail "restarting h2o failed; see $hw_h2o_errlog"
elif [ "$HW_CHANGED" -gt 0 ]; then
  hw_log "reloading h2o"
  hw_h2o_reload || hw_fail "reloading h2o failed; see $hw_h2o_errlog"
else
  hw_h2o_fetches=no
fi
${probes.map((p) => `hw_h2o_wait_${p}`).join("\n")}
if [ -n "$hw_h2o_t0" ]; then
  hw_h2o_gap=$(( ($(date +%s%N) - hw_h2o_t0) / 1000000 ))
  hw_output downtimeMs "$hw_h2o_gap"
  hw_log "h2o restarted: every listener served again after $hw_h2o_gap ms"
fi
hw_h2o_now=$(hw_h2o_bound)
if [ -z "$hw_h2o_now" ]; then
  # Its listeners answer, so h2o holds sockets: ss cannot name their process here.
  hw_warn ${shq(`ss -Hltnp names no socket of h2o (pid file ${s.pidFile}): removed listeners cannot be checked, and every change restarts h2o`)}
elif [ "$hw_h2o_now" != "$hw_h2o_want" ]; then
  hw_h2o_wait_bound "$hw_h2o_want" || hw_fail "h2o listens on '$(hw_h2o_bound)', not on the configuration's '$hw_h2o_want'; see $hw_h2o_errlog"
fi
${staples}
hw_output config ${shq(s.configPath)}
true`;

    // Read-only (npm run check): one look at what the activation waits for, each difference a drift line.
    const stapleMaxAge = new Map(stapled.map(({ view, plan }) => [view.name, plan.updateInterval + STAPLE_AGE_MARGIN_SECONDS]));
    const verify = `hw_h2o_verify_tls() {
  # hw_h2o_verify_tls NAME HOST:PORT SNI FINGERPRINT [MAX-STAPLE-AGE]: one handshake shows the
  # leaf served and, for a listener with stapling, the staple
  hw_h2o_staple_seen "$2" "$3" "$4"
  if [ -z "$hw_fp" ]; then hw_drift "listener $1 ($2) does not complete a TLS handshake"; return 0; fi
  if [ "$hw_fp" != "$4" ]; then hw_drift "listener $1 ($2) serves the certificate with SHA-256 fingerprint $hw_fp, declared $4"; return 0; fi
  [ -n "\${5:-}" ] || return 0
  if [ "$hw_st" != good ]; then hw_drift "listener $1 ($2): OCSP staple is '$hw_st', not good; see $hw_h2o_errlog"; return 0; fi
  # A staple counts while it is valid (nextUpdate): CAs that pre-sign their responses give
  # a fresh fetch an old thisUpdate. Only a response without nextUpdate is judged by age.
  if [ -n "$hw_st_next" ]; then
    hw_until=$(date -d "$hw_st_next" +%s 2>/dev/null) || hw_fail "listener $1 ($2): the staple's nextUpdate '$hw_st_next' is not a date"
    hw_left=$(( hw_until - $(date +%s) ))
    [ "$hw_left" -gt ${STAPLE_AGE_MARGIN_SECONDS} ] || hw_drift "listener $1 ($2): the OCSP staple is valid until $hw_st_next ($hw_left s from now): h2o's updates fail; see $hw_h2o_errlog"
    return 0
  fi
  hw_at=$(date -d "$hw_st_time" +%s 2>/dev/null) || hw_fail "listener $1 ($2): the staple's thisUpdate '$hw_st_time' is not a date"
  hw_age=$(( $(date +%s) - hw_at ))
  [ "$hw_age" -le "$5" ] || hw_drift "listener $1 ($2): OCSP staple is $hw_age s old (thisUpdate $hw_st_time, no nextUpdate), more than ocsp-update-interval + ${STAPLE_AGE_MARGIN_SECONDS} s: h2o's updates fail; see $hw_h2o_errlog"
}
hw_h2o_verify_plain() {
  # hw_h2o_verify_plain NAME HOST PORT
  hw_h2o_answers_http "$2" "$3" || hw_drift "listener $1 ($2:$3) does not answer HTTP"
}
hw_h2o_verify_root() {
  # hw_h2o_verify_root CA: OpenSSL finds CA through a hash link (a missing CA is the file check's)
  [ -f "$1" ] || return 0
  hw_rc=0
  hw_h2o_link_of "$1" || hw_rc=$?
  case $hw_rc in
    1) hw_drift "root CA $1 has no hash link: OpenSSL does not find it (a repair links it as $hw_link_at)" ;;
    2) hw_drift "root CA $1 is not a certificate" ;;
  esac
}
if ! hw_h2o_running; then
  hw_drift ${shq(`h2o is not running (no live process in its pid file ${pid})`)}
else
  if hw_h2o_other_config; then hw_drift "h2o runs with the configuration $(hw_h2o_config_in_use), declared "${shq(s.configPath)}; fi
${args.listeners.map((l, i) => `  hw_h2o_verify_${probes[i]}${stapleMaxAge.has(l.name) ? ` ${stapleMaxAge.get(l.name)}` : ""}`).join("\n")}
  hw_h2o_is=$(hw_h2o_bound)
  hw_h2o_want=${shq(wanted)}
  # Empty where ss cannot name h2o's sockets: the apply warned about it.
  if [ -n "$hw_h2o_is" ] && [ "$hw_h2o_is" != "$hw_h2o_want" ]; then
    hw_drift "h2o listens on '$hw_h2o_is', declared '$hw_h2o_want' (started with another configuration?)"
  fi
fi
for hw_link in "$hw_h2o_trust"/*; do
  if hw_h2o_dangling "$hw_link"; then hw_drift "trust link $hw_link points at $(readlink -- "$hw_link"), which is gone"; fi
done
${trustRoots.map((r) => sh`hw_h2o_verify_root ${r}`).join("\n")}
true`;

    const reactivate = `hw_h2o_relink
if [ -e ${started} ] && [ ! -e "$HW_STATE/generation" ]; then
  hw_h2o_svc 90 ${stop} || true
  rm -f ${started}
elif hw_h2o_running; then
  hw_h2o_serve_restored
else
  # The activation stopped it (a restart whose start failed): bring the previous configuration back up.
  hw_h2o_svc 60 ${start} || hw_warn "starting h2o with the previous configuration failed; see $hw_h2o_errlog"
fi`;

    // The fetchers' kept responses of this proxy's listeners (other files in the directory are not ours).
    const forgetResponses = cached
        ? `${stapled
              .filter(({ plan }) => cacheBase(plan) !== "-")
              .map(({ plan }) => `rm -f -- ${shq(s.ocspCacheDirectory)}/${shq(plan.listener.name)}.*.der ${shq(s.ocspCacheDirectory)}/${shq(plan.listener.name)}.*.last`)
              .join("\n")}
rmdir -- ${shq(s.ocspCacheDirectory)} 2>/dev/null || true`
        : "";
    const afterRestore = `hw_h2o_relink
${forgetResponses}
if [ -e ${started} ]; then
  hw_log "stopping h2o (it was not running before hostwright started it)"
  hw_h2o_svc 90 ${stop} || true
  rm -f ${started}
elif hw_h2o_running; then
  hw_h2o_serve_restored
fi`;

    const preflight = `command -v h2o >/dev/null 2>&1 || hw_fail "h2o is not installed on this host (Debian: apt-get install h2o)"
command -v openssl >/dev/null 2>&1 || hw_fail "openssl is not installed on this host"
command -v ss >/dev/null 2>&1 || hw_fail "ss is not installed on this host (Debian: apt-get install iproute2); it tells which ports h2o listens on"
id -u ${shq(s.user)} >/dev/null 2>&1 || hw_fail ${shq(`h2o user ${s.user} does not exist on this host`)}`;

    return {
        config,
        proxyStep: {
            description: `h2o ${name}: ${args.listeners.length} listener(s), ${args.virtualHosts.length} virtual host(s), config ${s.configPath}`,
            files,
            // Once at the top of both scripts, for the activation, the rollback, the undo and the check.
            helpers,
            preflight,
            validate,
            activate,
            reactivate,
            afterRestore,
            verify,
        },
        trustRoots,
        listeners: views,
        staticStapling,
        checkCommands,
    };
}
