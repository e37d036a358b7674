/**
 * Pure: validated ResolverGuard args -> file contents and the two steps' script
 * fragments. The guard step owns /etc/resolv.conf, the dhclient enter hook (Debian)
 * and the PEERDNS edits (RHEL); the pins step owns the cache's pin files. Both are
 * restored by core/step.ts on destroy (a resolv.conf symlink comes back as a symlink).
 */
import { raw, sh } from "../../core/shell";
import { awkEditFilter } from "../../core/step";
import type { OsFamily } from "../../core/host";
import type { StepInput } from "../../core/remoteStep";
import type { CacheArgs, ProbeType, ResolvConfArgs } from "./args";
import { isWithin, normalDomain } from "./checks";

export const RESOLV_CONF = "/etc/resolv.conf";
/**
 * The enter hook. run-parts (which dhclient-script lists the hooks with) skips names
 * with a dot, and the hooks are sourced in order: the name sorts after the resolvconf
 * package's own hook (`resolvconf`), which redefines make_resolv_conf too.
 */
export const DHCLIENT_HOOK = "/etc/dhcp/dhclient-enter-hooks.d/zz-hostwright-keep-resolv-conf";
/** Sorts after other conf.d files, whose later settings win. */
export const NETWORK_MANAGER_DROP_IN = "/etc/NetworkManager/conf.d/99-hostwright-dns-none.conf";
export const IFCFG_DIR = "/etc/sysconfig/network-scripts";
/** The first CentOS 6 glibc whose getaddrinfo(3) no longer fails with EAI_AGAIN when called from several threads. */
export const GLIBC_EAI_AGAIN_FIXED = "2.12-1.149.el6_6.9";

/** The resolv.conf content, in resolv.conf(5) order. */
export function renderResolvConf(componentName: string, rc: ResolvConfArgs): string {
    const lines = [`# Managed by hostwright (ResolverGuard ${oneLine(componentName)}): DHCP does not rewrite this file.`];
    if (rc.search && rc.search.length > 0) lines.push(`search ${rc.search.map(normalDomain).join(" ")}`);
    for (const ns of rc.nameservers) lines.push(`nameserver ${ns}`);
    if (rc.options && rc.options.length > 0) lines.push(`options ${rc.options.join(" ")}`);
    return `${lines.join("\n")}\n`;
}

/** The enter hook: sourced by dhclient-script, so it only defines the function (an `exit` here would end the script). */
export function renderDhclientHook(componentName: string): string {
    return [
        `# Managed by hostwright (ResolverGuard ${oneLine(componentName)}).`,
        `# Sourced by dhclient-script: DHCP still sets addresses and routes, never /etc/resolv.conf.`,
        `make_resolv_conf() { :; }`,
        ``,
    ].join("\n");
}

export function renderNetworkManagerDropIn(componentName: string): string {
    return [`# Managed by hostwright (ResolverGuard ${oneLine(componentName)}): NetworkManager leaves /etc/resolv.conf alone.`, `[main]`, `dns=none`, ``].join("\n");
}

/**
 * Host-side filter for an ifcfg file (a shell-variable file): the first PEERDNS
 * assignment becomes `PEERDNS=no` (kept as is when it already says no), later ones
 * go, a missing one is appended; every other line is kept. Exits 10 when nothing
 * changes, and the wrapper then replays the input byte for byte.
 */
export const PEERDNS_AWK = String.raw`
{ L[++n] = $0 }
END {
  m = 0; found = 0; changed = 0
  for (i = 1; i <= n; i++) {
    if (L[i] ~ /^[ \t]*(export[ \t]+)?PEERDNS[ \t]*=/) {
      if (found) { changed = 1; continue }
      found = 1
      if (L[i] ~ /^[ \t]*(export[ \t]+)?PEERDNS=("no"|'no'|no)[ \t]*$/) N[++m] = L[i]
      else { N[++m] = "PEERDNS=no"; changed = 1 }
      continue
    }
    N[++m] = L[i]
  }
  if (!found) { N[++m] = "PEERDNS=no"; changed = 1 }
  if (!changed) exit 10
  for (i = 1; i <= m; i++) print N[i]
}
`;

/** Shell function `hwd_peerdns_no`: stdin -> stdout filter for StepSpec.edits. */
export function peerdnsFilterFunction(): string {
    return awkEditFilter("hwd_peerdns_no", PEERDNS_AWK);
}

/** Reports the host's glibc package version (`hw_output glibc`), for {@link glibcEaiAgainWarning}; in both steps, as either may be alone. */
export const GLIBC_REPORT = `if command -v rpm >/dev/null 2>&1 && hwd_glibc=$(rpm -q --qf '%{VERSION}-%{RELEASE}\\n' glibc 2>/dev/null); then
  hw_output glibc "$(printf '%s\\n' "$hwd_glibc" | sort -u | tr '\\n' ' ')"
elif command -v dpkg-query >/dev/null 2>&1 && hwd_glibc=$(dpkg-query -W -f '\${Version}' libc6 2>/dev/null); then
  hw_output glibc "$hwd_glibc"
fi`;

/** The NetworkManager reload: only where it runs (`nmcli general reload` since 1.22, SIGHUP before). */
const NM_RELOAD = `if hwd_nm=$(pidof NetworkManager 2>/dev/null); then nmcli general reload 2>/dev/null || kill -HUP $hwd_nm; fi`;

/** The guard step: resolv.conf, and what keeps DHCP (dhclient, NetworkManager) from rewriting it. */
export function renderGuardStep(componentName: string, os: OsFamily, rc: ResolvConfArgs, interfaces: string[]): StepInput {
    const dropIn = renderNetworkManagerDropIn(componentName);
    const files = [{ path: RESOLV_CONF, content: renderResolvConf(componentName, rc), mode: "0644" }];
    if (os === "debian") files.push({ path: DHCLIENT_HOOK, content: renderDhclientHook(componentName), mode: "0644" });
    const ifcfg = interfaces.map((i) => `${IFCFG_DIR}/ifcfg-${i}`);
    const preflight = [
        // A bind-mounted resolv.conf (containers, `ip netns exec`) cannot be renamed over.
        sh`if command -v mountpoint >/dev/null 2>&1 && mountpoint -q ${RESOLV_CONF}; then hw_fail ${`${RESOLV_CONF} is a mount point (a container's?): it cannot be replaced; manage the resolver where it is mounted from`}; fi`,
        os === "rhel" ? peerdnsFilterFunction() : "",
        // Editing a missing ifcfg file would create a configuration for an interface that has none.
        ...ifcfg.map((path) => sh`[ -f ${path} ] || hw_fail ${`${path} does not exist: declare only interfaces configured with network-scripts`}`),
    ].join("\n");
    const nmInstalled = `{ [ -x /usr/sbin/NetworkManager ] || [ -x /sbin/NetworkManager ]; }`;
    // The drop-in holds exactly what the step writes (the activation rewrites it otherwise, the check reports it).
    const dropInCurrent = sh`{ [ -f ${NETWORK_MANAGER_DROP_IN} ] && [ "$(cat ${NETWORK_MANAGER_DROP_IN})" = ${dropIn.replace(/\n$/, "")} ]; }`;
    const verify = [
        sh`if [ -L ${RESOLV_CONF} ]; then hw_drift "${raw(RESOLV_CONF)} is a symlink to $(readlink ${RESOLV_CONF}), not the declared file: whatever writes there (resolvconf, systemd-resolved, NetworkManager) decides the resolver"; fi`,
        os === "debian" ? dhclientHookVerify() : "",
        `if ${nmInstalled} && ! ${dropInCurrent}; then`,
        sh`  hw_drift ${`${NETWORK_MANAGER_DROP_IN} is missing or changed: NetworkManager may rewrite ${RESOLV_CONF} (declared: [main] dns=none)`}`,
        `fi`,
    ].join("\n");
    return {
        description: `resolver guard on ${os === "rhel" ? "RHEL" : "Debian"}: ${RESOLV_CONF} kept (${rc.nameservers.join(", ")})${ifcfg.length > 0 ? `, PEERDNS=no for ${interfaces.join(", ")}` : ""}`,
        files,
        edits: ifcfg.map((path) => ({ path, filter: "hwd_peerdns_no" })),
        preflight,
        // NetworkManager's drop-in exists only where NetworkManager is installed, so it
        // is written here (the step's own file) rather than declared: a declared file
        // would create /etc/NetworkManager on every host.
        activate: [
            `if ${nmInstalled}; then`,
            `  if ! ${dropInCurrent}; then`,
            sh`    mkdir -p ${NETWORK_MANAGER_DROP_IN.replace(/\/[^/]*$/, "")}`,
            sh`    printf '%s' ${dropIn} > ${`${NETWORK_MANAGER_DROP_IN}.hostwright-new`}`,
            sh`    mv -f ${`${NETWORK_MANAGER_DROP_IN}.hostwright-new`} ${NETWORK_MANAGER_DROP_IN}`,
            `    ${NM_RELOAD}`,
            `  fi`,
            sh`  hw_output networkManagerDropIn ${NETWORK_MANAGER_DROP_IN}`,
            `fi`,
            GLIBC_REPORT,
        ].join("\n"),
        undo: sh`if [ -f ${NETWORK_MANAGER_DROP_IN} ]; then rm -f ${NETWORK_MANAGER_DROP_IN}; ${raw(NM_RELOAD)}; fi`,
        verify,
    };
}

/**
 * Drift check of the enter hook (a missing or changed hook is the file check's): dhclient-script
 * sources what `run-parts --list` lists, in order, so the hook must be listed, and no hook
 * listed after it may define make_resolv_conf again (its definition would win).
 */
function dhclientHookVerify(): string {
    const dir = DHCLIENT_HOOK.replace(/\/[^/]*$/, "");
    return sh`if [ -f ${DHCLIENT_HOOK} ]; then
  hwd_after=
  hwd_listed=0
  for hwd_hook in $(run-parts --list ${dir}); do
    if [ "$hwd_hook" = ${DHCLIENT_HOOK} ]; then hwd_listed=1
    elif [ "$hwd_listed" = 1 ] && grep -Eq '(^|[^A-Za-z0-9_])make_resolv_conf[[:space:]]*[(][[:space:]]*[)]' "$hwd_hook"; then hwd_after="$hwd_after $hwd_hook"
    fi
  done
  [ "$hwd_listed" = 1 ] || hw_drift ${`${DHCLIENT_HOOK} is not among the hooks run-parts lists in ${dir}: dhclient-script does not source it`}
  [ -z "$hwd_after" ] || hw_drift "hook(s)$hwd_after run after ${raw(DHCLIENT_HOOK)} and define make_resolv_conf again: DHCP rewrites ${raw(RESOLV_CONF)}"
fi`;
}

/** A pinned domain with the defaults applied. */
export interface PinPlan {
    domain: string;
    servers: string[];
    probe: { name: string; type: ProbeType };
}

/** The cache with the defaults applied. */
export interface CachePlan {
    kind: CacheArgs["kind"];
    /** dnsmasq / unbound: the pin file ("" for dnscache). */
    configFile: string;
    /** dnsmasq / unbound: the service restarted (unused for dnscache). */
    service: string;
    /** dnscache: its service directory. */
    directory: string;
    address: string;
    verify: boolean;
    pins: PinPlan[];
}

export function planCache(componentName: string, cache: CacheArgs): CachePlan {
    const file = `hostwright-${componentName.replace(/[^A-Za-z0-9_.-]/g, "_")}.conf`;
    return {
        kind: cache.kind,
        configFile: cache.configFile ?? { dnsmasq: `/etc/dnsmasq.d/${file}`, unbound: `/etc/unbound/unbound.conf.d/${file}`, dnscache: "" }[cache.kind],
        service: cache.service ?? cache.kind,
        directory: cache.directory ?? "/etc/dnscache",
        address: cache.address ?? "127.0.0.1",
        verify: cache.verify ?? true,
        pins: cache.domains.map((d) => {
            const domain = normalDomain(d.domain);
            return { domain, servers: [...d.servers], probe: d.probe ? { name: normalDomain(d.probe.name), type: d.probe.type ?? "A" } : { name: domain, type: "SOA" } };
        }),
    };
}

/** dnsmasq: one `server=/<domain>/<ip>` line per server. */
export function renderDnsmasqPins(componentName: string, plan: CachePlan): string {
    const lines = [`# Managed by hostwright (ResolverGuard ${oneLine(componentName)}): per-domain name servers.`];
    for (const pin of plan.pins) for (const s of pin.servers) lines.push(`server=/${pin.domain}/${s}`);
    return `${lines.join("\n")}\n`;
}

/**
 * unbound's default local zones (unbound.conf(5): RFC 6761 names and the AS112 reverse
 * zones). It answers names in them itself (NXDOMAIN) and never asks a forward-zone,
 * so a pin below one needs `local-zone: ... transparent` as well (found in the lab
 * with a pinned `.test` domain).
 */
export const UNBOUND_DEFAULT_ZONES = [
    "localhost", "test", "invalid", "onion", "home.arpa",
    "127.in-addr.arpa", "10.in-addr.arpa", "0.in-addr.arpa", "254.169.in-addr.arpa", "168.192.in-addr.arpa",
    "2.0.192.in-addr.arpa", "100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa", "255.255.255.255.in-addr.arpa",
    ...Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa`),
    ...Array.from({ length: 64 }, (_, i) => `${64 + i}.100.in-addr.arpa`),
    `1${".0".repeat(31)}.ip6.arpa`, `0${".0".repeat(31)}.ip6.arpa`,
    "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa", "8.b.d.0.1.0.0.2.ip6.arpa",
];

/** unbound: one `forward-zone` per domain (a top-level clause: Debian includes conf.d with include-toplevel). */
export function renderUnboundPins(componentName: string, plan: CachePlan): string {
    const lines = [`# Managed by hostwright (ResolverGuard ${oneLine(componentName)}): per-domain name servers.`];
    const shadowed = plan.pins.filter((pin) => UNBOUND_DEFAULT_ZONES.some((zone) => isWithin(pin.domain, zone)));
    if (shadowed.length > 0) {
        lines.push(`# unbound answers these itself by default (local zones); let them reach their forward-zone`, `server:`);
        for (const pin of shadowed) lines.push(`    local-zone: "${pin.domain}." transparent`);
    }
    for (const pin of plan.pins) {
        lines.push(`forward-zone:`, `    name: "${pin.domain}."`);
        for (const s of pin.servers) lines.push(`    forward-addr: ${s}`);
    }
    return `${lines.join("\n")}\n`;
}

/** djbdns dnscache: `root/servers/<domain>` holds the domain's servers, one IPv4 address a line (the seed's layout). */
export function renderDnscachePins(plan: CachePlan): Array<{ path: string; content: string }> {
    return plan.pins.map((pin) => ({ path: `${plan.directory}/root/servers/${pin.domain}`, content: `${pin.servers.join("\n")}\n` }));
}

/** The shell command that makes the cache read its pins again. */
export function cacheReloadCommand(plan: CachePlan, serviceCommand: (service: string, action: "restart") => string): string {
    switch (plan.kind) {
        case "dnsmasq":
            // dnsmasq reads server= lines only at start (SIGHUP re-reads hosts files, not the config).
            return serviceCommand(plan.service, "restart");
        case "unbound":
            // Not the service's reload: a SIGHUP returns before unbound has re-read its
            // config, and a probe right after it gets the old forwarders' cached answer.
            // unbound-control reload waits; without remote control, restart.
            return `unbound-checkconf >/dev/null && if unbound-control status >/dev/null 2>&1; then unbound-control reload >/dev/null; else ${serviceCommand(plan.service, "restart")}; fi`;
        case "dnscache":
            // dnscache reads root/servers only at start; supervise restarts it.
            return sh`svc -t ${plan.directory}`;
    }
}

/** The pins step: the cache's files, validated before the switch, the cache reloaded, every probe asked. */
export function renderPinsStep(componentName: string, plan: CachePlan, serviceCommand: (service: string, action: "restart") => string): StepInput {
    const reload = cacheReloadCommand(plan, serviceCommand);
    let files: Array<{ path: string; content: string }>;
    let preflight: string;
    let validate = "";
    switch (plan.kind) {
        case "dnsmasq":
            files = [{ path: plan.configFile, content: renderDnsmasqPins(componentName, plan) }];
            preflight = `command -v dnsmasq >/dev/null 2>&1 || hw_fail "dnsmasq is not installed"`;
            validate = sh`dnsmasq --test --conf-file="$(hw_staged ${plan.configFile})"`;
            break;
        case "unbound":
            files = [{ path: plan.configFile, content: renderUnboundPins(componentName, plan) }];
            preflight = `command -v unbound-checkconf >/dev/null 2>&1 || hw_fail "unbound-checkconf is not installed (is unbound?)"`;
            validate = sh`unbound-checkconf "$(hw_staged ${plan.configFile})"`;
            break;
        case "dnscache":
            files = renderDnscachePins(plan);
            preflight = [
                sh`[ -d ${`${plan.directory}/root/servers`} ] || hw_fail ${`${plan.directory}/root/servers does not exist: is dnscache set up there (dnscache-conf)?`}`,
                `command -v svc >/dev/null 2>&1 || hw_fail "svc (daemontools) is not installed: dnscache cannot be restarted"`,
            ].join("\n");
            break;
    }
    if (plan.verify) preflight += `\ncommand -v dig >/dev/null 2>&1 || hw_fail "dig is not installed (dnsutils / bind-utils); install it or set cache.verify: false"`;
    const probes = plan.verify ? plan.pins.map((pin) => probeCommand(plan.address, pin)).join("\n") : "";
    // Also restarted when nothing changed but the cache does not serve the pins (stopped, or
    // restarted by hand with another configuration): what a repair needs.
    const serving = [`hwd_problem=`, ...plan.pins.map((pin) => `[ -n "$hwd_problem" ] || ${pinCheck(plan, pin)}`)].map((l) => `  ${l}`);
    return {
        description: `per-domain name servers in ${plan.kind} (${plan.pins.map((p) => p.domain).join(", ")})`,
        files: files.map((f) => ({ ...f, mode: "0644" })),
        preflight,
        validate,
        activate: plan.verify
            ? [PIN_CHECK_FUNCTION, `if [ "$HW_CHANGED" -gt 0 ]; then`, `  ${reload}`, `else`, ...serving, `  if [ -n "$hwd_problem" ]; then`, `    hw_log "$hwd_problem: restarting the cache"`, `    ${reload}`, `  fi`, `fi`, probes, GLIBC_REPORT].join("\n")
            : [`if [ "$HW_CHANGED" -gt 0 ]; then`, `  ${reload}`, `fi`, GLIBC_REPORT].join("\n"),
        reactivate: reload,
        afterRestore: `if [ "$HW_CHANGED" -gt 0 ]; then ${reload}; fi`,
        // Read-only: one look per pin, each problem a drift line.
        verify: plan.verify ? [PIN_CHECK_FUNCTION, ...plan.pins.map((pin) => `${pinCheck(plan, pin)}\n[ -z "$hwd_problem" ] || hw_drift "$hwd_problem"`)].join("\n") : "",
    };
}

/**
 * Shell functions over one query each (a try of 1 s: callers that wait loop):
 * - `hwd_probe @SERVER NAME TYPE`: succeeds on NOERROR with at least one record; the whole
 *   answer is in `hwd_out`, `hwd_why` says in a few words why it failed;
 * - `hwd_records TYPE`: the records of that answer, sorted, one line (SOA: the two names
 *   only, serials move);
 * - `hwd_pin_check KIND @CACHE NAME TYPE SERVER...`: sets `hwd_problem` ("" when the cache
 *   answers NAME as one of the pinned servers does; a cache serving without the pins answers
 *   from elsewhere). Servers that do not answer leave the comparison out: the host is not at
 *   fault then.
 */
const PIN_CHECK_FUNCTION = `hwd_probe() {
  hwd_out=$(dig +time=1 +tries=1 "$1" "$2" "$3" 2>&1) || true
  printf '%s\\n' "$hwd_out" | grep -q 'status: NOERROR' && printf '%s\\n' "$hwd_out" | grep -Eq 'ANSWER: [1-9]'
}
hwd_why() {
  printf '%s\\n' "$hwd_out" | grep -oE 'status: [A-Z]+|communications error.*|connection timed out.*|no servers could be reached' | head -n 1 | sed 's/^status: NOERROR$/no records (NOERROR)/'
}
hwd_records() {
  printf '%s\\n' "$hwd_out" | sed -n '/^;; ANSWER SECTION:/,/^$/p' | grep -v '^;;' | grep . \\
    | if [ "$1" = SOA ]; then awk '{ print $5, $6 }'; else awk '{ $1 = $2 = $3 = ""; sub(/^ +/, ""); print }'; fi | sort | tr '\\n' ' ' | sed 's/ $//'
}
hwd_pin_check() {
  hwd_kind=$1 hwd_cache=$2 hwd_name=$3 hwd_type=$4
  shift 4
  hwd_problem=
  if ! hwd_probe "$hwd_cache" "$hwd_name" "$hwd_type"; then
    hwd_problem="the $hwd_kind cache at \${hwd_cache#@} does not answer $hwd_name $hwd_type: $(hwd_why)"
    return 0
  fi
  hwd_cached=$(hwd_records "$hwd_type")
  for hwd_server in "$@"; do
    hwd_probe "@$hwd_server" "$hwd_name" "$hwd_type" || continue
    hwd_pinned=$(hwd_records "$hwd_type")
    [ "$hwd_pinned" = "$hwd_cached" ] || hwd_problem="the $hwd_kind cache at \${hwd_cache#@} answers $hwd_name $hwd_type with '$hwd_cached', the pinned servers ($(printf '%s' "$*" | sed 's/ /, /g')) with '$hwd_pinned': it does not serve the pins (restarted with another configuration?)"
    return 0
  done
}`;

function pinCheck(plan: CachePlan, pin: PinPlan): string {
    return sh`hwd_pin_check ${plan.kind} ${`@${plan.address}`} ${pin.probe.name} ${pin.probe.type} ${pin.servers}`;
}

/**
 * Asks the cache for the probe until it answers (a restarted cache needs a moment):
 * NOERROR with at least one record, 10 tries within about 15 s; prints the answer as an output.
 */
function probeCommand(address: string, pin: PinPlan): string {
    const at = `@${address}`;
    const what = `${pin.probe.name} ${pin.probe.type} via ${address} (pinned to ${pin.servers.join(", ")})`;
    return [
        `hwd_ok=0`,
        `for hwd_try in 1 2 3 4 5 6 7 8 9 10; do`,
        sh`  if hwd_probe ${at} ${pin.probe.name} ${pin.probe.type}; then hwd_ok=1; break; fi`,
        `  sleep 0.5`,
        `done`,
        sh`[ "$hwd_ok" -eq 1 ] || hw_fail ${`no answer for ${what}: `}"$(hwd_why)"`,
        sh`hw_output ${`answer.${pin.domain}`} "$(dig +short +time=1 +tries=1 ${at} ${pin.probe.name} ${pin.probe.type} | head -n 3 | tr '\\n' ' ')"`,
        sh`hw_log ${`answered: ${what}`}`,
    ].join("\n");
}

/**
 * rpm's version comparison (rpmvercmp): alternating digit and letter segments,
 * digits numerically and newer than letters, `~` older than anything.
 * Returns -1, 0 or 1.
 */
export function compareRpmVersions(a: string, b: string): number {
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
        while (i < a.length && !/[A-Za-z0-9~]/.test(a[i])) i++;
        while (j < b.length && !/[A-Za-z0-9~]/.test(b[j])) j++;
        const ta = a[i] === "~";
        const tb = b[j] === "~";
        if (ta || tb) {
            if (!ta) return 1;
            if (!tb) return -1;
            i++;
            j++;
            continue;
        }
        if (i >= a.length || j >= b.length) break;
        const digits = /[0-9]/.test(a[i]);
        const segment = digits ? /^[0-9]+/ : /^[A-Za-z]+/;
        const sa = segment.exec(a.slice(i))![0];
        const sbMatch = segment.exec(b.slice(j));
        if (!sbMatch) return digits ? 1 : -1;
        const sb = sbMatch[0];
        i += sa.length;
        j += sb.length;
        if (digits) {
            const na = sa.replace(/^0+/, "");
            const nb = sb.replace(/^0+/, "");
            if (na.length !== nb.length) return na.length > nb.length ? 1 : -1;
            if (na !== nb) return na > nb ? 1 : -1;
        } else if (sa !== sb) return sa > sb ? 1 : -1;
    }
    const restA = i < a.length;
    const restB = j < b.length;
    return restA === restB ? 0 : restA ? 1 : -1;
}

/** True for a CentOS/RHEL 6 glibc (`2.12-<release>.el6...`) older than {@link GLIBC_EAI_AGAIN_FIXED}. */
export function glibcHasEaiAgainBug(versionRelease: string): boolean {
    const m = /^2\.12-(.+)$/.exec(versionRelease.trim());
    if (!m || !/\.el6/.test(m[1])) return false;
    return compareRpmVersions(m[1], GLIBC_EAI_AGAIN_FIXED.slice("2.12-".length)) < 0;
}

/** The warning for the versions a host reported (`hw_output glibc`, space-separated), or undefined. */
export function glibcEaiAgainWarning(reported: string | undefined): string | undefined {
    const old = (reported ?? "").split(/\s+/).filter((v) => v && glibcHasEaiAgainBug(v));
    if (old.length === 0) return undefined;
    return `glibc ${old.join(", ")} fails multithreaded getaddrinfo(3) now and then with EAI_AGAIN ("Temporary failure in name resolution"); update glibc to ${GLIBC_EAI_AGAIN_FIXED} or later (CentOS 6 updates)`;
}

function oneLine(text: string): string {
    return text.replace(/[\r\n]/g, " ");
}
