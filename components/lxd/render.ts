/**
 * Pure rendering of the mesh's steps, three per host (all `lxc` calls with LXD_DIR
 * and LXD_CONF set, every value quoted by core/shell):
 *
 *   probe    read-only facts for the pre-flight (lxc and its daemon, versions,
 *            netlink_diag, CRIU, peer connects in parallel); in certificate mode the
 *            host's client certificate, or, when it has none, one the probe makes in
 *            its own state directory (not in LXD_CONF) for the serve step to install
 *   serve    refuses to run when the group pre-flight failed; core.https_address (before
 *            any token: tokens embed it); netlink_diag for stateful mode; then, in
 *            certificate mode, the host's client certificate (the probed one) and trust
 *            of every member's client certificate (local socket, in parallel); in token
 *            mode one trust token per source (secret output)
 *   remotes  on each source: every member, itself included, as a remote named by its
 *            inventory name, server certificate pinned; certificate mode writes them
 *            into lxc's config.yml at once (no network round trip per remote), token
 *            mode adds them one by one (each consumes its token over the network);
 *            then every link verified, in parallel
 *
 * Where a step talks to many peers or adds many entries, it runs them in the
 * background, at most PARALLEL at once, each with its own timeout, and reports once.
 *
 * Runtime objects a step added are recorded in `$HW_STATE.owned` so that undo
 * removes exactly those. A trust entry made by consuming a token belongs to the
 * source's remotes step, which removes it over the API before its remote.
 */
import { createHash, X509Certificate } from "crypto";
import { inParallel, PARALLEL, raw, sh, shq } from "../../core/shell";
import type { StepSpec } from "../../core/step";
import type { ResolvedMember, ResolvedMesh } from "./args";
import { CURL_BATCH_VERSION, Inventory, PreflightVerdict, versionRule } from "./preflight";

/** A step as rendered here: plain text, the step key is given by remoteStep. */
export type StepBody = Omit<StepSpec, "key">;

/** File that keeps netlink_diag loaded across reboots in stateful mode. */
export const MODULES_LOAD_FILE = "/etc/modules-load.d/hostwright-lxd-netlink-diag.conf";

/** Name of the trust entry a target creates for a source's client certificate. */
export function trustName(source: string): string {
    return `hostwright-${source}`;
}

/** Seconds one `lxc query REMOTE:/1.0` of a link check may take. */
export const LINK_TIMEOUT_SECONDS = 10;

/**
 * What curl prints after each transfer of a batch (one line each, tab-separated): the
 * file the answer went to, curl's exit code, the HTTP status and curl's error message
 * (the text `curl -sS` prints after "curl: (CODE) "). `%{exitcode}` and `%{errormsg}`
 * need curl {@link CURL_BATCH_VERSION}.
 */
const TRANSFER_RESULT = "%{filename_effective}\\t%{exitcode}\\t%{http_code}\\t%{errormsg}\\n";

/**
 * One curl process for many requests (a process and a TLS library start-up cost more
 * than a request): `hw_queue OPTION... -o FILE URL` adds a transfer with its own
 * options to the batch; `hw_batch_run RESULTS` runs them, at most {@link PARALLEL} at
 * once (`-Z`), each with its own timeout where its options set one, and writes one
 * {@link TRANSFER_RESULT} line per transfer that ran to RESULTS.
 */
const CURL_BATCH = `hw_batch=()
hw_queue() { hw_batch+=(--next -s -w '${TRANSFER_RESULT}' "$@"); }
hw_batch_run() {
  : > "$1"
  [ \${#hw_batch[@]} -gt 0 ] || return 0
  command -v curl >/dev/null || hw_fail "curl is no longer installed (the pre-flight probe found it): raise preflightRevision to probe again"
  curl -Z --parallel-max ${PARALLEL} "\${hw_batch[@]:1}" > "$1" 2>/dev/null || true
  hw_batch=()
}`;

/** `hw_slurp VAR FILE`: VAR=the whole of FILE; `hw_last_line VAR FILE`: its last line (cat and tail without a process). */
const READERS = `hw_slurp() { printf -v "$1" ''; [ ! -e "$2" ] || IFS= read -r -d '' "$1" < "$2" || true; }
hw_last_line() {
  printf -v "$1" ''
  [ -e "$2" ] || return 0
  local hw_l
  while IFS= read -r hw_l || [ -n "$hw_l" ]; do printf -v "$1" '%s' "$hw_l"; done < "$2"
}`;

/**
 * The local daemon's API through its socket: with one `curl` batch (the probe found a
 * curl that runs them) rather than one `lxc` per call, which counts where a step adds
 * a trust entry per member. `hw_lxd_get PATH` prints the answer (JSON, as `lxc query`
 * or wrapped in LXD's response). `hw_trust_add NAME TRUSTNAME DIR PAYLOAD` trusts a
 * client certificate under TRUSTNAME (PAYLOAD: with curl the request's JSON, queued
 * until `hw_trust_sent DIR`; else the PEM, added by `lxc` at once, so run it in the
 * background); afterwards DIR/NAME.rc holds 0 when LXD trusted it, and the last line
 * of DIR/NAME.out says why not. `hw_untrust FINGERPRINT` removes an entry this step
 * recorded in `$HW_OWN/trust` (queued with curl, until `hw_untrust_sent`), and the record
 * once it is gone.
 */
function localApi(curl: boolean): string {
    if (!curl) {
        return `hw_lxd_get() { lxc query "$1"; }
hw_trust_add() {
  hw_rc=0
  printf '%s' "$4" > "$3/$1.crt"
  lxc config trust add "$3/$1.crt" --name "$2" > "$3/$1.out" 2>&1 || hw_rc=$?
  echo "$hw_rc" > "$3/$1.rc"
}
hw_trust_sent() { :; }
hw_untrust() {
  if hw_trusted "$1"; then lxc config trust remove "$1"; hw_log "removed trust entry $1"; fi
  rm -f "$HW_OWN/trust/$1"
}
hw_untrust_sent() { :; }`;
    }
    return `${CURL_BATCH}
${READERS}
hw_lxd_get() { curl -sS -f --unix-socket "$LXD_DIR/unix.socket" "http://lxd$1"; }
hw_trust_add() {
  echo 1 > "$3/$1.rc"
  echo "no answer from LXD" > "$3/$1.out"
  hw_queue --unix-socket "$LXD_DIR/unix.socket" -X POST -H 'Content-Type: application/json' --data-binary "$4" -o "$3/$1.out" http://lxd/1.0/certificates
}
hw_trust_sent() {
  hw_batch_run "$1/.results"
  while IFS=$'\\t' read -r hw_f hw_rc hw_code hw_msg; do
    hw_n=\${hw_f##*/}
    case "$hw_rc:$hw_code" in
      0:2??) echo 0 > "$1/\${hw_n%.out}.rc" ;;
      0:*)
        # LXD's reason, from its JSON answer
        hw_slurp hw_body "$hw_f"
        hw_msg=\${hw_body#*'"error":"'}
        [ "$hw_msg" = "$hw_body" ] || [ -z "\${hw_msg%%'"'*}" ] || echo "\${hw_msg%%'"'*}" >> "$hw_f" ;;
      *) echo "curl: ($hw_rc) $hw_msg" >> "$hw_f" ;;
    esac
  done < "$1/.results"
}
hw_untrust() {
  if hw_trusted "$1"; then
    hw_queue --unix-socket "$LXD_DIR/unix.socket" -X DELETE -o "$hw_gone/$1" "http://lxd/1.0/certificates/$1"
  else
    rm -f "$HW_OWN/trust/$1"
  fi
}
hw_untrust_sent() {
  hw_batch_run "$hw_gone/.results"
  while IFS=$'\\t' read -r hw_f hw_rc hw_code hw_msg; do
    case "$hw_rc:$hw_code" in
      0:2??) rm -f "$HW_OWN/trust/\${hw_f##*/}"; hw_log "removed trust entry \${hw_f##*/}" ;;
    esac
  done < "$hw_gone/.results"
}`;
}

// The daemon's trust store, listed once (`["/1.0/certificates/FINGERPRINT", ...]`):
// one local call instead of one per member.
const TRUST_STORE = `hw_certs=$(hw_lxd_get /1.0/certificates)
hw_trusted() { case "$hw_certs" in *"/1.0/certificates/$1"*) return 0 ;; esac; return 1; }`;

/** Every fragment starts here: `lxc` must never fall back to another daemon or a home directory. */
function env(mesh: ResolvedMesh): string {
    return sh`export LXD_DIR=${mesh.lxdDir} LXD_CONF=${mesh.clientConfigDir}
hw_fingerprint() { sed '/-----/d' "$1" | base64 -d | sha256sum | cut -d' ' -f1; }`;
}

// What a step added is recorded beside its state directory, not in it: the core
// removes the state directory when a first create fails, and what that run added
// must still be undone later.
const OWNED = `HW_OWN="$HW_STATE.owned"
mkdir -p "$HW_OWN"`;
const FORGET_OWNED = `rm -rf -- "$HW_OWN"`;

/**
 * Runs `action NAME` for every record the step keeps in `dir` (a literal shell word
 * such as "$HW_OWN/remotes") whose name is not in `keep`: what the step made and
 * no longer wants (all of it, on undo).
 */
function forEachOwned(dir: string, action: string, keep: string[] = [], parallel = false): string {
    const run = parallel
        ? `${action} "\${hw_f##*/}" &
  hw_n=$((hw_n + 1)); [ $((hw_n % ${PARALLEL})) -ne 0 ] || wait`
        : `${action} "\${hw_f##*/}"`;
    return `hw_n=0
for hw_f in ${dir}/*; do
  [ -e "$hw_f" ] || continue
  case ${shq(` ${keep.join(" ")} `)} in *" \${hw_f##*/} "*) continue ;; esac
  ${run}
done${parallel ? "\nwait" : ""}`;
}

/** What the probe lists on each host (in the mesh's project) for the per-instance move readiness. */
const INVENTORY_QUERIES = { profiles: "/1.0/profiles", pools: "/1.0/storage-pools", networks: "/1.0/networks", instances: "/1.0/instances?recursion=1" };

/**
 * The connects of one batch (\`bash -c\` with the directory for the results, then NAME
 * ADDRESS PORT of each peer): each in a subshell in the background; its file says
 * "open" or holds bash's reason, and stays empty when the timeout stops the batch first.
 */
const CONNECT_ALL = `d=$1; shift
while [ $# -gt 0 ]; do
  { : 3<>"/dev/tcp/$2/$3"; } 2> "$d/$1" && echo open > "$d/$1" &
  shift 3
done
wait`;

export function renderProbe(mesh: ResolvedMesh, member: ResolvedMember): StepBody {
    const certificateMode = mesh.trust === "certificate";
    // every peer at once, each connect a subshell of one bash per PARALLEL peers, bounded by one
    // timeout (an unreachable peer costs one connect timeout, not one per peer, and no process)
    const batches: ResolvedMember[][] = [];
    mesh.members.forEach((peer, i) => (i % PARALLEL === 0 ? batches.push([peer]) : batches[batches.length - 1].push(peer)));
    const connects = `hw_connects=$(mktemp -d)
${batches.map((batch) => sh`timeout ${mesh.connectTimeoutSeconds} bash -c ${CONNECT_ALL} hw_connect "$hw_connects" ${raw(batch.map((peer) => sh`${peer.name} ${peer.apiAddress} ${peer.apiPort}`).join(" "))} || true`).join("\n")}
${mesh.members.map((peer) => sh`hw_connect_result ${peer.name}; hw_output ${`probe.connect.${peer.name}`} "$hw_c"`).join("\n")}
rm -rf -- "$hw_connects"`;
    const inventory = Object.entries(INVENTORY_QUERIES)
        .map(([key, path]) => {
            const url = `${path}${path.includes("?") ? "&" : "?"}project=${encodeURIComponent(mesh.project)}`;
            return sh`hw_output ${`probe.${key}`} "$( (LXD_CONF="$hw_conf" lxc query ${url} 2>&1 || true) | hw_b64)"`;
        })
        .join("\n");
    return {
        description: `LXD mesh pre-flight probe on ${member.name} (revision ${mesh.preflightRevision})`,
        activate: `${env(mesh)}
hw_b64() { base64 -w0; }
${READERS}
# what one peer's connect left: "open", bash's reason, or nothing when the timeout stopped it
hw_connect_result() {
  hw_last_line hw_c "$hw_connects/$1"
  case "$hw_c" in
    open) ;;
    "") hw_c=timeout ;;
    *[Rr]efused*) hw_c=refused ;;
    *) hw_c="error \${hw_c#hw_connect: line 1: }" ;;
  esac
}
hw_output probe.kernel "$(uname -r)"
# what a running mesh needs on the host: the client, and a daemon behind LXD_DIR's socket
if command -v lxc >/dev/null 2>&1; then hw_output probe.lxc yes; else hw_output probe.lxc no; fi
if [ -S "$LXD_DIR/unix.socket" ]; then hw_output probe.socket yes; else hw_output probe.socket "$LXD_DIR/unix.socket"; fi
# A throw-away client config: the probe must not even create the user's config.yml.
hw_err=$(mktemp); hw_conf=$(mktemp -d)
hw_rc=0; hw_out=$(LXD_CONF="$hw_conf" lxc query /1.0 2>"$hw_err") || hw_rc=$?
[ "$hw_rc" -eq 0 ] || hw_slurp hw_out "$hw_err"
hw_output probe.server_rc "$hw_rc"
hw_output probe.server "$(printf '%s' "$hw_out" | hw_b64)"
# what instances need from a move target (an error text instead of JSON when a query fails)
${inventory}
rm -rf -- "$hw_err" "$hw_conf"
if [ -r /proc/modules ]; then hw_output probe.modules "$(hw_b64 < /proc/modules)"; else hw_output probe.modules absent; fi
hw_kernel=$(uname -r)
hw_out=$( { grep -s netlink_diag "/lib/modules/$hw_kernel/modules.builtin"; grep -s '^CONFIG_NETLINK_DIAG=' "/boot/config-$hw_kernel"; if [ -r /proc/config.gz ]; then zcat /proc/config.gz | grep '^CONFIG_NETLINK_DIAG='; fi; } 2>/dev/null || true)
hw_output probe.builtin "$(printf '%s' "$hw_out" | hw_b64)"
hw_output probe.module_file "$( (modinfo -n netlink_diag 2>/dev/null || true) | hw_b64)"
hw_output probe.persist "$( (grep -Hsx 'netlink_diag' /etc/modules /etc/modules-load.d/*.conf /run/modules-load.d/*.conf /usr/lib/modules-load.d/*.conf 2>/dev/null || true) | hw_b64)"
if command -v criu >/dev/null 2>&1; then hw_rc=0; hw_out=$(criu check 2>&1) || hw_rc=$?; else hw_rc=127; hw_out="criu: not found"; fi
hw_output probe.criu_rc "$hw_rc"
hw_output probe.criu "$(printf '%s' "$hw_out" | hw_b64)"
if command -v openssl >/dev/null 2>&1; then hw_output probe.openssl yes; else hw_output probe.openssl no; fi
if command -v curl >/dev/null 2>&1; then
  hw_output probe.curl yes
  # whether its batches can say how each transfer ended (CURL_BATCH_VERSION)
  hw_v=$(curl --version 2>/dev/null || true); hw_v=\${hw_v#curl }
  hw_output probe.curl_version "\${hw_v%% *}"
else
  hw_output probe.curl no
fi
if [ -s "$LXD_CONF/client.crt" ]; then
  hw_output probe.client_certificate yes
  hw_output probe.client_fingerprint "$(hw_fingerprint "$LXD_CONF/client.crt")"${certificateMode ? `
  hw_output probe.client_pem "$(base64 -w0 < "$LXD_CONF/client.crt")"` : ""}
else
  hw_output probe.client_certificate no${certificateMode ? `
${indent(CLIENT_CANDIDATE, "  ")}` : ""}
fi
${connects}`,
        // the certificate the probe made for a host without one, if the serve step did not install it
        undo: certificateMode ? `${OWNED}
${FORGET_OWNED}` : undefined,
    };
}

function indent(text: string, prefix: string): string {
    return text.replace(/^(?=.)/gm, prefix);
}

/**
 * Certificate mode, a host without a client certificate: the probe makes the one its
 * client will have (as lxc would on first use), in the probe step's own directory, not
 * in LXD_CONF, and prints it, so that every target can trust it in the round its serve
 * step runs, and the host's serve step installs it. A probe run again reuses it.
 */
const CLIENT_CANDIDATE = `${OWNED}
if [ ! -s "$HW_OWN/client.crt" ] && command -v openssl >/dev/null 2>&1; then
  ( umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -sha384 -nodes -days 3650 \\
      -subj "/O=linuxcontainers.org/CN=root@$(hostname)" -keyout "$HW_OWN/client.key" -out "$HW_OWN/client.crt" >/dev/null 2>&1 ) \\
    || rm -f -- "$HW_OWN/client.crt" "$HW_OWN/client.key"
fi
if [ -s "$HW_OWN/client.crt" ]; then
  hw_output probe.client_pem "$(base64 -w0 < "$HW_OWN/client.crt")"
  hw_output probe.client_candidate "$HW_OWN"
fi`;

/** What a target's serve step knows about a source, from the source's probe. */
export interface Source {
    name: string;
    /**
     * SHA-256 (DER, hex) of the client certificate the source presents: LXD's trust-store
     * key. Undefined when the source had none at its probe and, in token mode, is then
     * trusted nowhere (or, in certificate mode, its probe could not make one).
     */
    fingerprint?: string;
    /** Certificate mode: that client certificate, PEM (public). */
    certificate?: string;
    /** Certificate mode: where the source's probe keeps the certificate and key it made (the source had none); its own serve step installs them. */
    candidate?: string;
}

/**
 * Certificate mode: the target trusts each source's client certificate (as the
 * sources' probes reported them), through its local socket: the store is listed once,
 * and the missing certificates are added in parallel. Records in `$HW_OWN/trust`.
 */
function trustFragments(target: ResolvedMember, sources: Array<Required<Pick<Source, "name" | "fingerprint" | "certificate">>>, curl: boolean): { activate: string; undo: string; verify: string } {
    // with curl, the request itself (rendered here: no process turns the PEM into JSON on the host); else the PEM for lxc
    const payload = (src: { name: string; certificate: string }) =>
        curl ? JSON.stringify({ type: "client", name: trustName(src.name), certificate: derBase64(src.certificate) }) : src.certificate;
    const add = (src: { name: string; certificate: string }) => sh`hw_trust_add ${src.name} ${trustName(src.name)} "$hw_new" ${payload(src)}`;
    const known = sources.map(
        (src) => sh`if hw_trusted ${src.fingerprint}; then
  [ -e "$HW_OWN/trust/"${src.fingerprint} ] || hw_log ${`${src.name}: client certificate already trusted; left alone`}
else
  ${raw(curl ? add(src) : sh`: > "$hw_new/"${src.name}.wanted`)}
fi`,
    );
    // without curl, one lxc each, in the background
    const addWithLxc = curl ? "" : `
${inParallel(sources.map((src) => sh`[ ! -e "$hw_new/"${src.name}.wanted ] || ${raw(add(src))}`))}`;
    const recorded = sources
        .map(
            (src) => sh`if [ -e "$hw_new/"${src.name}.rc ]; then
  hw_read hw_rc "$hw_new/"${src.name}.rc
  if [ "$hw_rc" = 0 ]; then
    : > "$HW_OWN/trust/"${src.fingerprint}
    hw_log ${`trusted the client certificate of ${src.name}`}
  else
    hw_last_line hw_why "$hw_new/"${src.name}.out
    hw_refused="$hw_refused"${`\n- ${src.name}: `}"$hw_why"
  fi
fi`,
        )
        .join("\n");
    // what the step recorded and no longer wants: with curl all removals in one batch, else in parallel
    const untrustAll = (keep: string[]) => `${curl ? "hw_gone=$(mktemp -d)\n" : ""}${forEachOwned('"$HW_OWN/trust"', "hw_untrust", keep, !curl)}${curl ? '\nhw_untrust_sent\nrm -rf -- "$hw_gone"' : ""}`;
    return {
        activate: `${localApi(curl)}
${READERS}
${TRUST_STORE}
hw_new=$(mktemp -d)
${known.join("\n")}${addWithLxc}
hw_trust_sent "$hw_new"
hw_refused=""
${recorded}
rm -rf -- "$hw_new"
[ -z "$hw_refused" ] || hw_fail "LXD refused to trust the client certificates of:$hw_refused"
${untrustAll(sources.map((src) => src.fingerprint))}`,
        undo: `${localApi(curl)}
${TRUST_STORE}
${untrustAll([])}
# a record left means its removal failed: say so rather than forget it
for hw_f in "$HW_OWN/trust"/*; do [ ! -e "$hw_f" ] || hw_fail "cannot remove the trust entry \${hw_f##*/}"; done`,
        verify: `${localApi(curl)}
${TRUST_STORE}
${sources.map((src) => sh`hw_trusted ${src.fingerprint} || hw_drift ${`the client certificate of ${src.name} (${src.fingerprint.slice(0, 12)}...) is no longer trusted on ${target.name}`}`).join("\n")}`,
    };
}

/** A PEM certificate's DER, base64 in one line (what LXD's API takes, and what `hw_fingerprint` hashes). */
export function derBase64(pem: string): string {
    return pem.replace(/-----[^-]+-----|\s/g, "");
}

/**
 * Certificate mode: the host's own client certificate is the one its probe reported
 * (and every target trusts): the one the probe made is installed when the host still
 * has none; another one is refused before any change.
 */
function clientIdentity(mesh: ResolvedMesh, self: Source): { preflight: string; activate: string } {
    const probed = self.candidate
        ? sh`[ -s "$LXD_CONF/client.crt" ] || [ -s ${`${self.candidate}/client.crt`} ] \\
  || hw_fail ${`${mesh.clientConfigDir} has no client certificate and the one the pre-flight probe made (${self.candidate}) is gone: raise preflightRevision to probe again`}`
        : "";
    return {
        preflight: `${probed}
if [ -s "$LXD_CONF/client.crt" ] && [ "$(hw_fingerprint "$LXD_CONF/client.crt")" != ${shq(self.fingerprint ?? "")} ]; then
  hw_fail "the lxc client certificate in $LXD_CONF is not the one the pre-flight probe reported (and the members are to trust): raise preflightRevision to probe again"
fi`,
        activate: self.candidate
            ? sh`if [ ! -s "$LXD_CONF/client.crt" ]; then
  mkdir -p "$LXD_CONF"
  ( umask 077; cp -- ${`${self.candidate}/client.key`} "$LXD_CONF/client.key" )
  cp -- ${`${self.candidate}/client.crt`} "$LXD_CONF/client.crt"
  chmod 0644 "$LXD_CONF/client.crt"
  hw_log "installed the lxc client certificate the probe made in $LXD_CONF"
fi`
            : "",
    };
}

/** The first thing a changing step does when the group pre-flight failed: stop, with every problem. */
function preflightFailure(verdict: Pick<PreflightVerdict, "errors">): string {
    return sh`hw_fail ${`the LXD mesh pre-flight failed, nothing was changed:\n- ${verdict.errors.join("\n- ")}`}`;
}

/**
 * The first changing step on each host: refuses to run when the group pre-flight
 * failed; sets core.https_address (before any token: tokens embed it); in token
 * mode issues one trust token per source that is not trusted yet (printed for the
 * source's remotes step, so the step's output is secret); in certificate mode
 * installs the client certificate its probe made when the host had none, and trusts
 * every source's client certificate (from the sources' probes).
 *
 * @param opts.adopt certificate mode: the record directory of the trust step earlier
 *   versions of the component declared on this host; this step takes its records
 *   over (so that step's removal finds no entry of its own to remove)
 * @param opts.curl the host has curl (its probe says so): the daemon's API through its
 *   socket with curl rather than `lxc`
 */
export function renderServe(mesh: ResolvedMesh, member: ResolvedMember, verdict: Pick<PreflightVerdict, "errors">, sources: Source[], opts: { adopt?: string; curl?: boolean } = {}): StepBody {
    const { adopt, curl = false } = opts;
    const want = member.listenAddress;
    const stateful = mesh.migration === "stateful";
    const tokenMode = mesh.trust === "token";
    const blocked = verdict.errors.length > 0;
    const issueTokens = sources
        .map((src) => {
            const name = trustName(src.name);
            const issue = sh`  lxc config trust revoke-token ${name} >/dev/null 2>&1 || true
  : > "$HW_OWN/tokens/"${name}
  hw_token=$(lxc config trust add --name ${name} --quiet)
  hw_output ${`token.${src.name}`} "$hw_token"
  hw_log ${`issued a trust token for ${src.name}`}`;
            return src.fingerprint
                ? sh`if hw_trusted ${src.fingerprint}; then
  hw_log ${`${src.name} is trusted already; no token`}
else
${raw(issue)}
fi`
                : issue.replace(/^  /gm, "");
        })
        .join("\n");
    const tokenNames = sources.map((src) => trustName(src.name));
    // certificate mode: sources without a certificate have failed the pre-flight (this step then stops first)
    const identified = sources.filter((src): src is Required<Pick<Source, "name" | "fingerprint" | "certificate">> & Source => !!src.fingerprint && !!src.certificate);
    const trust = tokenMode ? undefined : trustFragments(member, identified, curl);
    const self = tokenMode || blocked ? undefined : clientIdentity(mesh, sources.find((src) => src.name === member.name) ?? { name: member.name });
    const revokeTokens = `for hw_f in "$HW_OWN/tokens"/*; do
  [ -e "$hw_f" ] || continue
  case " $HW_WANTED " in *" \${hw_f##*/} "*) continue ;; esac
  lxc config trust revoke-token "\${hw_f##*/}" >/dev/null 2>&1 || true
  rm -f "$hw_f"
done`;
    const adoptRecords = adopt
        ? `for hw_f in ${shq(adopt)}/*; do
  case "\${hw_f##*/}" in *[!0-9a-f]*) continue ;; esac
  [ ! -f "$hw_f" ] || mv -f -- "$hw_f" "$HW_OWN/trust/"
done`
        : "";
    return {
        description: `LXD mesh: API address ${want}${tokenMode ? " and trust tokens" : " and trust of the members' client certificates"} on ${member.name}`,
        // The group decision is made before this first changing step on every host.
        preflight: blocked ? preflightFailure(verdict) : self && `${env(mesh)}\n${self.preflight}`,
        files: stateful ? [{ path: MODULES_LOAD_FILE, content: "netlink_diag\n" }] : undefined,
        activate: `${env(mesh)}
${OWNED}
mkdir -p "$HW_OWN/tokens" "$HW_OWN/trust"
hw_cur=$(lxc config get core.https_address)
[ -e "$HW_OWN/https_address.orig" ] || printf '%s' "$hw_cur" > "$HW_OWN/https_address.orig"
if [ "$hw_cur" != ${shq(want)} ]; then
  lxc config set core.https_address ${shq(want)}
  hw_log "core.https_address: \${hw_cur:-unset} -> "${shq(want)}
fi${
            stateful
                ? `
if [ -r /proc/modules ] && ! grep -q '^netlink_diag ' /proc/modules && ! grep -qs '/netlink_diag.ko' "/lib/modules/$(uname -r)/modules.builtin"; then
  modprobe netlink_diag || hw_fail "cannot load the netlink_diag kernel module"
fi`
                : ""
        }
${tokenMode ? `${localApi(curl)}\n${TRUST_STORE}` : ""}
# tokens of sources that left the mesh
HW_WANTED=${shq(tokenNames.join(" "))}
${revokeTokens}
${tokenMode ? issueTokens : `${self?.activate ?? ""}\n${adoptRecords}\n${trust!.activate}`}`,
        // Trust entries and unused tokens go; the address is put back only when it is still the one this step set.
        undo: `${env(mesh)}
${OWNED}
${trust ? trust.undo : ""}
HW_WANTED=""
${revokeTokens}
if [ -e "$HW_OWN/https_address.orig" ]; then
  hw_read hw_orig "$HW_OWN/https_address.orig"
  hw_cur=$(lxc config get core.https_address 2>/dev/null || echo '?')
  if [ "$hw_cur" = ${shq(want)} ] && [ "$hw_orig" != ${shq(want)} ]; then
    if [ -z "$hw_orig" ]; then lxc config unset core.https_address; else lxc config set core.https_address "$hw_orig"; fi
    hw_log "core.https_address restored to \${hw_orig:-unset}"
  fi
fi
${FORGET_OWNED}`,
        verify: trust ? `${env(mesh)}\n${trust.verify}` : undefined,
    };
}

/** What a source needs to know about a target. `token` is a secret (token mode only). */
export interface TargetIdentity {
    name: string;
    url: string;
    /** Server certificate, PEM, from the target's own `lxc query /1.0` (pinned). */
    certificate: string;
    fingerprint: string;
    /** Trust token the target issued for this source; undefined when the target trusts it already. */
    token?: string;
}

/**
 * Rewrites lxc's client config in one go: `hw_conf_rewrite "NAMES" "ENTRIES"` drops the
 * remotes named in NAMES and adds ENTRIES (YAML, as {@link remoteEntry}
 * writes them). `lxc remote switch` to the current default first makes lxc write the
 * file in its own layout (and creates it on first use); the awk program relies on it:
 * top-level keys at column 0, remote names indented by two spaces.
 */
const CONFIG_REWRITE = `hw_conf_normalize() {
  lxc remote switch "$(lxc remote get-default)"
}
hw_conf_rewrite() {
  hw_cfg="$LXD_CONF/config.yml"
  HW_DROP=" $1 " HW_ADD=$2 awk ${shq(`BEGIN { add = ENVIRON["HW_ADD"]; drop = ENVIRON["HW_DROP"] }
function put() { if (!done) printf "%s", add; done = 1 }
/^remotes:/ { print "remotes:"; inside = 1; seen = 1; next }
inside && /^[^ ]/ { put(); inside = 0 }
inside && /^  [^ ]/ { n = substr($0, 3); sub(/:[^:]*$/, "", n); gsub(/^["']|["']$/, "", n); skip = index(drop, " " n " ") > 0 }
inside && skip { next }
{ print }
END { if (!seen) print "remotes:"; put() }`)} "$hw_cfg" > "$hw_cfg.hostwright-new"
  if cmp -s "$hw_cfg" "$hw_cfg.hostwright-new"; then rm -f "$hw_cfg.hostwright-new"
  else chmod --reference="$hw_cfg" "$hw_cfg.hostwright-new"; mv -f "$hw_cfg.hostwright-new" "$hw_cfg"; fi
}`;

/**
 * One remote as lxc's config.yml holds it (`lxc remote add NAME URL --auth-type tls
 * --project P` writes the same). Names, URLs and projects are validated to an
 * alphabet that needs no escaping inside YAML double quotes.
 */
export function remoteEntry(name: string, url: string, project: string): string {
    return `  "${name}":\n    addr: "${url}"\n    auth_type: tls\n    project: "${project}"\n    protocol: lxd\n    public: false\n`;
}

/**
 * `hw_read_remotes`: every remote as `lxc remote list --format yaml` shows it, its
 * address in `hw_addr[NAME]` and project in `hw_project[NAME]` (read in the shell, not
 * by a process per field); `hw_pinned NAME DER`: the certificate pinned for remote NAME
 * is the one whose DER (base64, {@link derBase64}) is DER, the same test as comparing
 * fingerprints, without a process per certificate.
 */
const REMOTES_READER = `declare -A hw_addr hw_project
hw_read_remotes() {
  hw_list=$(lxc remote list --format yaml)
  hw_addr=(); hw_project=()
  hw_name="?"
  while IFS= read -r hw_line; do
    case "$hw_line" in
      "  addr: "*) hw_addr[$hw_name]=\${hw_line#  addr: } ;;
      "  project: "*) hw_project[$hw_name]=\${hw_line#  project: } ;;
      [!\\ ]*:) hw_name=\${hw_line%:}; hw_name=\${hw_name#'"'}; hw_name=\${hw_name%'"'} ;;
    esac
  done <<< "$hw_list"
}
hw_pinned() {
  hw_slurp hw_pem "$LXD_CONF/servercerts/$1.crt"
  hw_pem=\${hw_pem//[$'\\r\\n']/}
  hw_pem=\${hw_pem#*-----BEGIN CERTIFICATE-----}
  [ "\${hw_pem%%-----END CERTIFICATE-----*}" = "$2" ]
}`;

/**
 * `hw_link NAME URL PIN` for every target, then `hw_links_checked`: whether each target
 * answers `/1.0` as trusted within {@link LINK_TIMEOUT_SECONDS}; `$hw_links/NAME.ok` when
 * it did, else `$hw_links/NAME` ends with the reason. With `curl` (a lighter process than
 * `lxc`, and one for every link: {@link CURL_BATCH}) the same proof as `lxc query
 * NAME:/1.0`: lxc's client certificate and key, the server's public key pinned (PIN:
 * SHA-256 of the pinned certificate's SubjectPublicKeyInfo; `-k` because LXD's
 * certificates do not name the API address, lxc pins them too instead of checking
 * names; curl refuses a key other than PIN all the same; `-g` so that an IPv6 URL's
 * brackets are no glob). Without curl on the host, one `lxc query` each, in the background.
 */
function linkCheck(curl: boolean): string {
    // the answer, and the exit code of the call that got it (curl's message, when it has one, becomes the reason)
    const judge = `hw_link_judge() {
  hw_slurp hw_answer "$hw_links/$1"
  case "$2:$hw_answer" in
    0:*'"auth":"trusted"'* | 0:*'"auth": "trusted"'*) : > "$hw_links/$1.ok" ;;
    0:*) ;;
    28:* | 124:*) echo "no answer within ${LINK_TIMEOUT_SECONDS} s" >> "$hw_links/$1" ;;
    *) [ -z "\${3+set}" ] || echo "curl: ($2) $3" >> "$hw_links/$1" ;;
  esac
}`;
    if (!curl) {
        return `hw_links=$(mktemp -d)
${judge}
hw_link() {
  hw_rc=0
  timeout ${LINK_TIMEOUT_SECONDS} lxc query "$1:/1.0" > "$hw_links/$1" 2>&1 || hw_rc=$?
  hw_link_judge "$1" "$hw_rc"
}`;
    }
    // curl reads --cert NAME:PASSWORD: the files go through links in a directory of ours
    return `hw_links=$(mktemp -d)
ln -s "$LXD_CONF/client.crt" "$hw_links/.crt"; ln -s "$LXD_CONF/client.key" "$hw_links/.key"
${CURL_BATCH}
${judge}
hw_link() {
  echo "no answer" > "$hw_links/$1"
  hw_queue -g -k --max-time ${LINK_TIMEOUT_SECONDS} --pinnedpubkey "sha256//$3" --cert "$hw_links/.crt" --key "$hw_links/.key" -o "$hw_links/$1" "$2/1.0"
}
hw_links_checked() {
  hw_batch_run "$hw_links/.results"
  while IFS=$'\\t' read -r hw_f hw_rc hw_code hw_msg; do hw_link_judge "\${hw_f##*/}" "$hw_rc" "$hw_msg"; done < "$hw_links/.results"
}`;
}

/** SHA-256 of a certificate's SubjectPublicKeyInfo, base64 (curl's `--pinnedpubkey sha256//...`); undefined when it does not parse. */
export function publicKeyPin(pem: string): string | undefined {
    try {
        return createHash("sha256").update(new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" })).digest("base64");
    } catch {
        return undefined;
    }
}

/**
 * The remotes step when the group pre-flight failed (a member's server certificate may
 * be unknown): it stops like the serve steps, which run before it anyway.
 */
export function renderBlockedRemotes(source: ResolvedMember, verdict: Pick<PreflightVerdict, "errors">): StepBody {
    return { description: `LXD mesh: remotes on ${source.name}`, preflight: preflightFailure(verdict) };
}

/**
 * @param opts.curl the source has curl (its probe says so): the links are proven with
 *   curl rather than one `lxc` process each
 */
export function renderRemotes(mesh: ResolvedMesh, source: ResolvedMember, targets: TargetIdentity[], opts: { curl?: boolean } = {}): StepBody {
    const tokenMode = mesh.trust === "token";
    const pins = targets.map((t) => publicKeyPin(t.certificate));
    const curl = opts.curl === true && pins.every((p) => p !== undefined);
    const isRight = (t: TargetIdentity) => sh`[ "$hw_cur_url" = ${t.url} ] && [ "\${hw_project[${t.name}]-}" = ${mesh.project} ] && hw_pinned ${t.name} ${derBase64(t.certificate)}`;
    const replacedWarning = (t: TargetIdentity) =>
        sh`[ -e "$HW_OWN/remotes/"${t.name} ] || hw_warn ${`remote ${t.name} pointed to `}"$hw_cur_url"${` (or had another certificate, project or no trust); replaced by ${t.url}`}`;
    // Certificate mode: the target trusts this host already (its serve step), so a remote is
    // only a config entry and a pinned certificate: all are written at once, no network.
    const writeEntry = (t: TargetIdentity) => sh`hw_cur_url=\${hw_addr[${t.name}]-}
if [ -n "$hw_cur_url" ] && ${raw(isRight(t))}; then
  hw_log ${`remote ${t.name} is right; left alone`}
else
  if [ -n "$hw_cur_url" ]; then ${raw(replacedWarning(t))}; fi
  printf '%s' ${t.certificate} > "$LXD_CONF/servercerts/"${`${t.name}.crt`}
  printf '%s' ${t.url} > "$HW_OWN/remotes/"${t.name}
  hw_set="$hw_set "${t.name}
  hw_add="$hw_add"${remoteEntry(t.name, t.url, mesh.project)}
  hw_log ${`remote ${t.name} -> ${t.url}`}
fi`;
    // Token mode: `lxc remote add` consumes the token over the network, one remote at a time
    // (each rewrites config.yml, so they cannot run at once).
    const addWithToken = (t: TargetIdentity) => sh`hw_used=0
hw_cur_url=\${hw_addr[${t.name}]-}
if [ -n "$hw_cur_url" ] && ${raw(isRight(t))} && hw_trusted_remote ${t.name}; then
  hw_log ${`remote ${t.name} is right; left alone`}
else
  if [ -n "$hw_cur_url" ]; then
    ${raw(replacedWarning(t))}
    lxc remote remove ${t.name}
  fi
  printf '%s' ${t.certificate} > "$LXD_CONF/servercerts/"${`${t.name}.crt`}
  if printf '%s\\n' ${t.token ?? ""} | lxc remote add ${t.name} ${t.url} --auth-type tls --project ${mesh.project} >"$HW_OWN/add.out" 2>"$HW_OWN/add.err"; then
    printf '%s' ${t.url} > "$HW_OWN/remotes/"${t.name}
    hw_log ${`added remote ${t.name} -> ${t.url}`}
    # A consumed token made a trust entry on the target: ours to remove later.
    if grep -q 'now trusted' "$HW_OWN/add.out"; then hw_used=1; hw_fingerprint "$LXD_CONF/client.crt" > "$HW_OWN/trust/"${t.name}; fi
  else
    rm -f "$LXD_CONF/servercerts/"${`${t.name}.crt`}
    hw_warn ${`cannot add remote ${t.name}: `}"$(tail -n1 "$HW_OWN/add.err")"
  fi
fi${raw(t.token ? sh`
# a token this host did not need: revoke it rather than leave it valid on the target
[ "$hw_used" = 1 ] || lxc config trust revoke-token ${`${t.name}:`} ${trustName(source.name)} >/dev/null 2>&1 || true` : "")}`;
    // lxc reads the remote as written, and the target answered trusted
    const report = targets
        .map(
            (t) => sh`if ! hw_listed ${t.name} ${t.url} ${mesh.project}; then
  hw_output ${`link.${t.name}`} ${`failed lxc does not list remote ${t.name} as declared (${t.url}, project ${mesh.project})`}
  hw_failed="$hw_failed "${t.name}
elif [ -e "$hw_links/"${`${t.name}.ok`} ]; then
  hw_output ${`link.${t.name}`} ok
else
  hw_last_line hw_why "$hw_links/"${t.name}
  hw_output ${`link.${t.name}`} "failed $hw_why"
  hw_failed="$hw_failed "${t.name}
fi`,
        )
        .join("\n");
    const names = targets.map((t) => t.name);
    const links = targets.map((t, i) => sh`hw_link ${t.name} ${t.url} ${pins[i] ?? ""}`);
    // with curl every link is queued and proven by one process; else one lxc each, in the background
    const checkAll = curl ? `${links.join("\n")}\nhw_links_checked` : inParallel(links);
    // A remote this step added and no longer wants: in token mode our trust entry on the
    // target goes first, over the remote itself, while the target still answers; the
    // config entries all go in one rewrite afterwards.
    const dropOurs = `hw_drop=""
hw_drop_ours() {
  if [ -e "$HW_OWN/trust/$1" ]; then
    hw_read hw_fp "$HW_OWN/trust/$1"
    if lxc query "$1:/1.0/certificates/$hw_fp" >/dev/null 2>&1; then
      lxc config trust remove "$1:$hw_fp" || hw_warn "cannot remove the trust entry of this host on $1"
    fi
    rm -f "$HW_OWN/trust/$1"
  fi
  hw_read hw_ours "$HW_OWN/remotes/$1"
  if [ "\${hw_addr[$1]-}" = "$hw_ours" ]; then
    hw_drop="$hw_drop $1"
    rm -f "$LXD_CONF/servercerts/$1.crt"
    hw_log "removed remote $1"
  fi
  rm -f "$HW_OWN/remotes/$1"
}`;
    // read-only: each remote as declared, and trusted by its server (all queried at once)
    const verifyRemotes = targets
        .map(
            (t) => sh`hw_cur_url=\${hw_addr[${t.name}]-}
hw_slurp hw_answer "$hw_links/"${t.name}
if [ -z "$hw_cur_url" ]; then hw_drift ${`remote ${t.name} is missing on ${source.name}`}
elif [ "$hw_cur_url" != ${t.url} ]; then hw_drift ${`remote ${t.name} points to `}"$hw_cur_url"${`, declared ${t.url}`}
elif ! hw_pinned ${t.name} ${derBase64(t.certificate)}; then hw_drift ${`remote ${t.name}: the pinned server certificate is not ${t.name}'s`}
elif [ -e "$hw_links/"${`${t.name}.ok`} ]; then :
elif [[ $hw_answer == *'"auth"'* ]]; then hw_drift ${`remote ${t.name}: ${t.name} does not trust ${source.name} (trust entry removed there?)`}
else hw_last_line hw_why "$hw_links/"${t.name}; hw_drift ${`remote ${t.name}: cannot reach ${t.name}: `}"\${hw_why:0:200}"
fi`,
        )
        .join("\n");
    return {
        description: `LXD mesh: remotes ${names.join(", ")} on ${source.name}`,
        verify: `${env(mesh)}
${READERS}
${REMOTES_READER}
hw_read_remotes
${linkCheck(curl)}
${checkAll}
${verifyRemotes}
rm -rf -- "$hw_links"`,
        activate: `${env(mesh)}
${OWNED}
mkdir -p "$HW_OWN/remotes" "$HW_OWN/trust" "$LXD_CONF/servercerts"
${CONFIG_REWRITE}
hw_conf_normalize
${READERS}
${REMOTES_READER}
hw_read_remotes
${tokenMode ? `hw_trusted_remote() { lxc query "$1:/1.0" 2>/dev/null | grep -q '"auth": "trusted"'; }` : ""}
hw_set=""
hw_add=""
${targets.map(tokenMode ? addWithToken : writeEntry).join("\n")}
${dropOurs}
${forEachOwned('"$HW_OWN/remotes"', "hw_drop_ours", names)}
[ -z "$hw_set$hw_drop" ] || hw_conf_rewrite "$hw_set $hw_drop" "$hw_add"
${linkCheck(curl)}
${checkAll}
# every remote as lxc reads config.yml now (the pinned certificates were checked or written above)
hw_read_remotes
hw_listed() { [ "\${hw_addr[$1]-}" = "$2" ] && [ "\${hw_project[$1]-}" = "$3" ]; }
hw_failed=""
${report}
rm -rf -- "$hw_links"
[ -z "$hw_failed" ] || hw_fail "no working link from ${source.name} to:$hw_failed"`,
        undo: `${env(mesh)}
${OWNED}
${CONFIG_REWRITE}
hw_conf_normalize
${READERS}
${REMOTES_READER}
hw_read_remotes
${dropOurs}
${forEachOwned('"$HW_OWN/remotes"', "hw_drop_ours")}
[ -z "$hw_drop" ] || hw_conf_rewrite "$hw_drop" ""
${FORGET_OWNED}`,
    };
}

/** Values a step reported, as parsed by `stepReport()`. */
type Values = Record<string, string>;

/** Tokens a target's serve step issued (token mode), by source name. */
export function tokensFromReport(values: Values): Record<string, string> {
    const tokens: Record<string, string> = {};
    for (const [key, value] of Object.entries(values)) {
        const m = /^token\.(.+)$/.exec(key);
        if (m && /^[A-Za-z0-9+/=]+$/.test(value.trim())) tokens[m[1]] = value.trim();
    }
    return tokens;
}

/** Link results of a source's remotes step, by target name: true when lxc lists the remote as written and T answered `/1.0` trusted. */
export function linksFromReport(values: Values): Record<string, boolean> {
    const links: Record<string, boolean> = {};
    for (const [key, value] of Object.entries(values)) {
        const m = /^link\.(.+)$/.exec(key);
        if (m) links[m[1]] = value === "ok";
    }
    return links;
}

/** One cell of the migration matrix: can `lxc move SOURCE:c TARGET:` work, and how. */
export interface MatrixCell {
    /** From SOURCE, lxc lists TARGET's remote as written and TARGET answered `/1.0` trusted (client certificate, pinned key). */
    connected: boolean;
    /** LXD's version rule allows this direction (only newer -> older fails). */
    versionOk: boolean;
    /** Containers, stopped or `--stateless`. */
    stateless: boolean;
    /** Containers, live (CRIU). */
    stateful: boolean;
    /** Virtual machines, live (`migration.stateful=true`). */
    vmLive: boolean;
    /** Why a kind of move is not ready, with the workaround (empty when every kind is). */
    reasons: string[];
}

type MoveKind = "stateless" | "stateful" | "vmLive";
type HostMoves = { serverVersion?: string } & Record<MoveKind, { ready: boolean; reasons: string[] }>;

export function migrationMatrix(members: string[], links: Record<string, Record<string, boolean>>, readiness: Record<string, HostMoves>): Record<string, Record<string, MatrixCell>> {
    const matrix: Record<string, Record<string, MatrixCell>> = {};
    for (const s of members) {
        matrix[s] = {};
        for (const t of members) {
            const connected = links[s]?.[t] === true;
            const sv = readiness[s]?.serverVersion;
            const tv = readiness[t]?.serverVersion;
            const versionProblem = sv && tv ? versionRule({ host: s, version: sv }, { host: t, version: tv }) : `the LXD version of ${sv ? t : s} is unknown`;
            const reasons: string[] = [];
            if (!connected) reasons.push(`the link ${s} -> ${t} is not verified (${t}:/1.0 did not answer trusted to ${s}; see the link.${t} output of ${s}'s remotes step)`);
            if (versionProblem) reasons.push(versionProblem);
            const ready = (kind: MoveKind) => {
                const hostReasons = [...new Set([s, t])].flatMap((h) => (readiness[h]?.[kind].reasons ?? ["no pre-flight result"]).map((r) => `${kind === "stateless" ? "" : `${kind}: `}${h}: ${r}`));
                reasons.push(...hostReasons.filter((r) => !reasons.includes(r)));
                return connected && !versionProblem && hostReasons.length === 0;
            };
            matrix[s][t] = { connected, versionOk: !versionProblem, stateless: ready("stateless"), stateful: ready("stateful"), vmLive: ready("vmLive"), reasons };
        }
    }
    return matrix;
}

/** Can one instance move from its host to a target, as it is now. */
export interface InstanceMove {
    type: "container" | "virtual-machine";
    running: boolean;
    /** What the target lacks: `profile NAME`, `storage pool NAME`, `network NAME`. */
    missing: string[];
    /** `lxc move` works as the instance is now: stopped, a running container with `--stateless`, a running VM only live. */
    ready: boolean;
    /** A live move works: CRIU for a container; `migration.stateful=true` and qemu on both hosts for a VM. */
    live: boolean;
    /** Why not (empty when both are). */
    reasons: string[];
}

/**
 * Target readiness per instance: `moves[source][target][instance]`, for the named
 * instances (or every instance of each source), from the probes' inventories and
 * the matrix. Warnings for named instances no host has.
 */
export function instanceMoves(
    members: string[],
    inventories: Record<string, Inventory | string>,
    matrix: Record<string, Record<string, MatrixCell>>,
    wanted?: string[],
): { moves: Record<string, Record<string, Record<string, InstanceMove>>>; warnings: string[] } {
    const moves: Record<string, Record<string, Record<string, InstanceMove>>> = {};
    const warnings: string[] = [];
    const found = new Set<string>();
    for (const s of members) {
        const source = inventories[s];
        moves[s] = {};
        if (typeof source === "string") {
            warnings.push(`${s}: ${source}; instance readiness not reported for it`);
            continue;
        }
        const instances = source.instances.filter((i) => wanted === undefined || wanted.includes(i.name));
        instances.forEach((i) => found.add(i.name));
        for (const t of members) {
            if (t === s) continue;
            const target = inventories[t];
            const cell = matrix[s]?.[t];
            moves[s][t] = {};
            for (const i of instances) {
                const missing =
                    typeof target === "string"
                        ? []
                        : [
                              ...i.profiles.filter((p) => !target.profiles.includes(p)).map((p) => `profile ${p}`),
                              ...i.pools.filter((p) => !target.pools.includes(p)).map((p) => `storage pool ${p}`),
                              ...i.networks.filter((n) => !target.networks.includes(n)).map((n) => `network ${n}`),
                          ];
                const reasons: string[] = [];
                if (typeof target === "string") reasons.push(`${t}: ${target}`);
                if (missing.length > 0) reasons.push(`${t} has no ${missing.join(", ")} (create ${missing.length > 1 ? "them" : "it"} on ${t} first, same name)`);
                if (cell && !cell.connected) reasons.push(`the link ${s} -> ${t} is not verified`);
                if (cell && !cell.versionOk) reasons.push(`LXD on ${s} is newer than on ${t} (see matrix.${s}.${t}.reasons for the workaround)`);
                const movable = reasons.length === 0 && cell?.stateless === true;
                const vm = i.type === "virtual-machine";
                const liveReasons: string[] = [];
                if (vm && !i.migrationStateful) liveReasons.push(`migration.stateful is not true on VM ${i.name} (set it while the VM is stopped: lxc config set ${i.name} migration.stateful=true)`);
                if (vm && cell && !cell.vmLive) liveReasons.push(`VM live migration between ${s} and ${t} is not ready (see matrix.${s}.${t}.reasons)`);
                if (!vm && cell && !cell.stateful) liveReasons.push(`live container moves between ${s} and ${t} are not ready (see matrix.${s}.${t}.reasons)`);
                const live = movable && liveReasons.length === 0;
                if (vm && i.running && !live) liveReasons.push(`VM ${i.name} is running: stop it for a cold move, or make live migration ready`);
                if (missing.length > 0) warnings.push(`${i.name} cannot move ${s} -> ${t}: ${t} has no ${missing.join(", ")}`);
                moves[s][t][i.name] = {
                    type: i.type,
                    running: i.running,
                    missing,
                    ready: movable && (!vm || !i.running || live),
                    live,
                    reasons: [...reasons, ...liveReasons],
                };
            }
        }
    }
    if (wanted) {
        const unreadable = members.some((m) => typeof inventories[m] === "string");
        wanted.forEach((name, i) => {
            if (!found.has(name) && !unreadable) warnings.push(`instances[${i}]: ${name} is on no host of the mesh (project's instances listed by each probe)`);
        });
    }
    return { moves, warnings };
}

/** Ready-to-run move command for a user on a source host. */
export function moveCommand(mesh: ResolvedMesh, source: string, target: string, stateless: boolean): string {
    return sh`LXD_CONF=${mesh.clientConfigDir} lxc move ${`${source}:`}CONTAINER ${`${target}:`}` + (stateless ? " --stateless" : "");
}
