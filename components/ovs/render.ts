/**
 * Pure: validated mirror args -> the step's script fragments. On the node the
 * step owns one Mirror row, one Port (with its Interface) and, for `dummy` and
 * `veth` captures, Linux links; all carry the mark `hostwright-owner=<step key>`
 * (OVS `external_ids`, link `ifalias`) and are found by that mark, never by name.
 */
import { isIP } from "net";
import { contentHash, shortHash } from "../../core/hash";
import { raw, sh, shq } from "../../core/shell";
import type { StepInput } from "../../core/remoteStep";
import type { CaptureKind, MirrorDirection, OvsPortMirrorArgs } from "./args";

export interface CapturePlan {
    type: "capture";
    kind: CaptureKind;
    /** The interface tcpdump listens on. */
    name: string;
    /** The veth end on the bridge (only for `veth`). */
    peer?: string;
    /** Explicit MTU; otherwise measured on the node from the source ports. */
    mtu?: number;
}

export interface CollectorPlan {
    type: "collector";
    /** OVS interface type: `gre`, `ip6gre`, `erspan`, `ip6erspan`. */
    interfaceType: string;
    portName: string;
    address: string;
    /** OVS `options:` of the tunnel interface, in a stable order. */
    options: Array<[string, string]>;
}

/** Everything the node gets, defaults applied. */
export interface MirrorPlan {
    /** The step key: the ownership mark of every object the step makes. */
    ownerKey: string;
    bridge: string;
    /** Source ports (empty with `wholeBridge`). */
    ports: string[];
    direction: MirrorDirection;
    wholeBridge: boolean;
    vlans: number[];
    mirrorName: string;
    output: CapturePlan | CollectorPlan;
    /** Seconds until the node removes the capture by itself; undefined: until destroy. */
    durationSeconds?: number;
    /** Part of the spec: raising it starts a new capture after one expired. */
    captureRevision: number;
    /** Skip the check for other mirrors of the same ports (not part of the spec). */
    allowOverlap: boolean;
}

/** Applies the defaults. `ports` are the source ports (resolved ones for an OpenStack source). */
export function planMirror(args: OvsPortMirrorArgs, componentName: string, ownerKey: string, ports: string[]): MirrorPlan {
    const tag = shortHash(ownerKey).slice(0, 8);
    let output: CapturePlan | CollectorPlan;
    if (args.collector) {
        const c = args.collector;
        const v6 = isIP(c.address) === 6;
        const options: Array<[string, string]> = [["remote_ip", c.address]];
        if (c.protocol === "erspan") {
            const version = c.erspanVersion ?? 1;
            options.push(["key", String(c.key ?? 1)], ["erspan_ver", String(version)]);
            if (version === 1) options.push(["erspan_idx", String(c.erspanIndex ?? 1)]);
            else options.push(["erspan_dir", args.direction === "egress" ? "1" : "0"], ["erspan_hwid", String(c.erspanHardwareId ?? 0)]);
        } else if (c.key !== undefined) options.push(["key", String(c.key)]);
        output = { type: "collector", interfaceType: `${v6 ? "ip6" : ""}${c.protocol}`, portName: c.portName ?? `hwt${tag}`, address: c.address, options };
    } else {
        const kind = args.capture?.kind ?? "auto";
        output = { type: "capture", kind, name: args.capture?.name ?? `hwm${tag}`, ...(kind === "veth" ? { peer: `hwp${tag}` } : {}), ...(args.capture?.mtu ? { mtu: args.capture.mtu } : {}) };
    }
    return {
        ownerKey,
        bridge: args.bridge ?? "br-int",
        ports: args.wholeBridge ? [] : ports,
        direction: args.direction ?? "both",
        wholeBridge: args.wholeBridge ?? false,
        vlans: [...(args.vlans ?? [])].sort((a, b) => a - b),
        mirrorName: args.mirrorName ?? `hostwright-${componentName}`.slice(0, 64),
        output,
        ...(args.durationSeconds !== undefined ? { durationSeconds: args.durationSeconds } : {}),
        captureRevision: args.captureRevision ?? 1,
        allowOverlap: args.allowOverlappingMirrors ?? false,
    };
}

/** Identifies the desired state: stored on the Mirror row, compared on every apply. */
export function planHash(plan: MirrorPlan): string {
    const { allowOverlap: _notPartOfTheMirror, ...spec } = plan;
    return contentHash("hostwright-ovs-mirror-v1", JSON.stringify(spec)).slice(0, 24);
}

/** The OVS port that receives the mirrored packets. */
export function outputPortName(plan: MirrorPlan): string {
    if (plan.output.type === "collector") return plan.output.portName;
    return plan.output.peer ?? plan.output.name;
}

/** A ready-to-run capture command for the node (or, for a collector, for the collector host). */
export function tcpdumpCommand(plan: MirrorPlan, file: string): string {
    if (plan.output.type === "collector") {
        // GRE and ERSPAN are both IP protocol 47.
        const filter = `${isIP(plan.output.address) === 6 ? "ip6" : "ip"} proto 47`;
        return sh`tcpdump -ni any -w ${file} ${filter}`;
    }
    return sh`tcpdump -ni ${plan.output.name} -w ${file}`;
}

/** Rotation limits of {@link rotatingCaptureCommand}, defaults applied. */
export interface PcapPlan {
    path: string;
    fileMegabytes: number;
    files: number;
}

export function planPcap(args: OvsPortMirrorArgs, plan: MirrorPlan): PcapPlan {
    const base = plan.output.type === "capture" ? plan.output.name : plan.mirrorName;
    return { path: args.pcap?.path ?? `/var/tmp/hostwright-${base}.pcap`, fileMegabytes: args.pcap?.fileMegabytes ?? 100, files: args.pcap?.files ?? 10 };
}

/**
 * A capture to pcap files with a bound on disk use: `files` files of `fileMegabytes`
 * MB (`-C`, `-W`: the oldest is overwritten), named PATH0, PATH1, ... `-Z root`: tcpdump
 * must reopen the files it made, which it could not after dropping to its own user.
 */
export function rotatingCaptureCommand(plan: MirrorPlan, pcap: PcapPlan): string {
    const rotation = sh`-Z root -C ${pcap.fileMegabytes} -W ${pcap.files} -w ${pcap.path}`;
    if (plan.output.type === "collector") return sh`tcpdump -ni any ${raw(rotation)} ${`${isIP(plan.output.address) === 6 ? "ip6" : "ip"} proto 47`}`;
    return sh`tcpdump -ni ${plan.output.name} ${raw(rotation)}`;
}

/** Copies the capture files from the node to the current directory (run where the node's SSH login works). */
export function fetchCommand(node: { address: string; port?: number; user?: string }, pcap: PcapPlan): string {
    const slash = pcap.path.lastIndexOf("/");
    const dir = pcap.path.slice(0, slash) || "/";
    // the glob is expanded by the node's shell: every rotated file
    const remote = `${sh`cd ${dir} && tar -cf - --`} ${shq(pcap.path.slice(slash + 1))}*`;
    return sh`ssh -p ${node.port ?? 22} ${`${node.user ?? "root"}@${node.address}`} ${remote} | tar -xvf -`;
}

/** An OVSDB string atom (ovs-vsctl's syntax is JSON's for printable text); the shell quoting comes on top. */
const atom = (value: string) => JSON.stringify(value);

/** Helpers shared by the create and delete fragments. Literal: every value comes in through variables. */
const HELPERS = `hwo_vsctl() { ovs-vsctl --timeout=30 "$@"; }
hwo_own() { hwo_vsctl --bare --columns=_uuid find "$1" "$hwo_mark"; }
hwo_own_links() {
  # links whose ifalias is the mark (ip -o prints it last, after a backslash and four blanks)
  ip -o link show | while IFS= read -r hwo_line; do
    case "$hwo_line" in *"    alias $hwo_alias") hwo_l=\${hwo_line#*: }; printf '%s\\n' "\${hwo_l%%[:@]*}" ;; esac
  done
}
hwo_require_db() {
  hwo_err=$(hwo_vsctl show 2>&1 >/dev/null) || hw_fail "cannot reach the Open vSwitch database (is ovsdb-server running?): $hwo_err"
}
hwo_remove_own_rows() {
  # the row ids and bridge names below are split into words, never globbed
  set -f
  hwo_txn=""
  for hwo_u in $(hwo_own Mirror); do
    for hwo_b in $(hwo_vsctl --bare --columns=name find Bridge "mirrors{>=}$hwo_u"); do hwo_txn="$hwo_txn -- remove Bridge $hwo_b mirrors $hwo_u"; done
  done
  for hwo_u in $(hwo_own Port); do
    for hwo_b in $(hwo_vsctl --bare --columns=name find Bridge "ports{>=}$hwo_u"); do hwo_txn="$hwo_txn -- remove Bridge $hwo_b ports $hwo_u"; done
  done
  # Mirror and Port rows are garbage-collected once no bridge refers to them.
  if [ -n "$hwo_txn" ]; then hwo_vsctl $hwo_txn; hw_log "removed this step's mirror and port"; fi
  set +f
}
hwo_remove_own_links() {
  for hwo_l in $(hwo_own_links); do
    # deleting one end of a veth pair deletes the other
    ip link del dev "$hwo_l" 2>/dev/null || ! ip link show dev "$hwo_l" >/dev/null 2>&1 || hw_fail "cannot remove link $hwo_l"
    hw_log "removed link $hwo_l"
  done
}
hwo_sorted() { printf '%s\\n' $1 | sort | tr '\\n' ' '; }
hwo_port_uuids() { for hwo_p in "$@"; do hwo_vsctl get Port "$hwo_p" _uuid; done | sort | tr '\\n' ' '; }
hwo_max_mtu() {
  # the largest MTU among the interfaces of the given ports (names or row ids), 1500 when OVS reports none
  hwo_max=0
  for hwo_p in "$@"; do
    for hwo_i in $(hwo_vsctl --bare --columns=interfaces list Port "$hwo_p"); do
      hwo_v=$(hwo_vsctl --bare --columns=mtu list Interface "$hwo_i")
      case "$hwo_v" in ''|*[!0-9]*) ;; *) [ "$hwo_v" -le "$hwo_max" ] || hwo_max=$hwo_v ;; esac
    done
  done
  [ "$hwo_max" -gt 0 ] || hwo_max=1500
  echo "$hwo_max"
}`;

function variables(plan: MirrorPlan): string {
    return [
        sh`hwo_key=${plan.ownerKey}`,
        sh`hwo_mark=${`external_ids:hostwright-owner=${atom(plan.ownerKey)}`}`,
        sh`hwo_alias=${`hostwright-owner=${plan.ownerKey}`}`,
        sh`hwo_br=${plan.bridge}`,
    ].join("\n");
}

/**
 * What the mirror needs on the node, checked before any change: Open vSwitch and its
 * database, the bridge, every source port on that bridge. Everything missing is
 * named in one error.
 */
function preflight(plan: MirrorPlan): string {
    const lines = [
        HELPERS,
        variables(plan),
        `command -v ovs-vsctl >/dev/null 2>&1 || hw_fail "ovs-vsctl not found: Open vSwitch is not installed on this node"`,
        `hwo_require_db`,
        `hwo_missing=""`,
        `hwo_lack() { hwo_missing="$hwo_missing
- $1"; }`,
        `hwo_rc=0; hwo_vsctl br-exists "$hwo_br" || hwo_rc=$?`,
        `[ "$hwo_rc" -ne 2 ] || hwo_lack "bridge $hwo_br does not exist on this node (bridges: $(hwo_vsctl list-br | tr '\\n' ' '))"`,
        `[ "$hwo_rc" -eq 0 ] || [ "$hwo_rc" -eq 2 ] || hw_fail "cannot check bridge $hwo_br (ovs-vsctl br-exists exited $hwo_rc)"`,
    ];
    for (const port of plan.ports) {
        lines.push(
            sh`hwo_p=${port}`,
            `if hwo_on=$(hwo_vsctl port-to-br "$hwo_p" 2>/dev/null); then
  [ "$hwo_on" = "$hwo_br" ] || hwo_lack "source port $hwo_p is on bridge $hwo_on, not on $hwo_br"
else
  hwo_lack "source port $hwo_p does not exist on this node (is the VM running here? ovs-vsctl list-ports $hwo_br)"
fi`,
        );
    }
    lines.push(`[ -z "$hwo_missing" ] || hw_fail "the mirror cannot be made on this node, nothing was changed:$hwo_missing"`);
    return lines.join("\n");
}

/** The names the step creates: OVS ports/interfaces, and Linux links (made by it or by OVS). */
function createdNames(plan: MirrorPlan): { ovs: string[]; links: string[] } {
    const o = plan.output;
    if (o.type === "collector") return { ovs: [o.portName], links: [] };
    return { ovs: [o.peer ?? o.name], links: o.peer ? [o.name, o.peer] : [o.name] };
}

/**
 * `hwo_in_sync`: true (exit 0) when the step's own mirror, port and link are exactly
 * as planned; otherwise false with the first difference in `$hwo_why`. The apply
 * converges on it, the drift check reports it.
 */
function inSyncFunction(plan: MirrorPlan, spec: string): string {
    const selected: string[] = [];
    if (!plan.wholeBridge && plan.direction !== "egress") selected.push("select_src_port");
    if (!plan.wholeBridge && plan.direction !== "ingress") selected.push("select_dst_port");
    // `why` is one shell word: double-quoted text of this file, or shq() of a value
    const unless = (why: string) => `|| { hwo_why=${why}; return 1; }`;
    const lines = [
        `hwo_in_sync() {`,
        `  set -- $(hwo_own Mirror); [ $# -eq 1 ] ${unless(`"$# mirrors of this step on the node, 1 declared"`)}; hwo_m=$1`,
        `  set -- $(hwo_own Port); [ $# -eq 1 ] ${unless(`"$# output ports of this step on the node, 1 declared"`)}; hwo_op=$1`,
        sh`  [ "$(hwo_vsctl --bare --columns=_uuid find Mirror "$hwo_mark" ${`external_ids:hostwright-spec=${atom(spec)}`})" = "$hwo_m" ] ${raw(unless(`"the mirror was made from other settings than the declared ones"`))}`,
        `  [ "$(hwo_vsctl --bare --columns=output_port list Mirror "$hwo_m")" = "$hwo_op" ] ${unless(`"the mirror sends to another port than its own output port"`)}`,
        `  hwo_vsctl --bare --columns=mirrors list Bridge "$hwo_br" | grep -qw -- "$hwo_m" ${unless(`"the mirror is not on bridge $hwo_br"`)}`,
        `  hwo_vsctl --bare --columns=ports list Bridge "$hwo_br" | grep -qw -- "$hwo_op" ${unless(`"the output port is not on bridge $hwo_br"`)}`,
        `  hwo_kind=$(hwo_vsctl get Mirror "$hwo_m" external_ids:hostwright-capture-kind 2>/dev/null | tr -d '"') || hwo_kind=""`,
    ];
    if (selected.length > 0) {
        // A VM's port re-created (reboot, migration back) is a new row: the old selection is gone.
        lines.push(sh`  hwo_want=$(hwo_port_uuids ${plan.ports})`);
        for (const column of selected) {
            lines.push(`  [ "$(hwo_sorted "$(hwo_vsctl --bare --columns=${column} list Mirror "$hwo_m")")" = "$hwo_want" ] ${unless(`"the mirror's ${column} is not the declared ports (a port removed, or a VM's port plugged again)"`)}`);
        }
    }
    if (plan.output.type === "capture") {
        for (const link of createdNames(plan).links) lines.push(sh`  ip link show dev ${link} 2>/dev/null | grep -q '[<,]UP[,>]' ${raw(unless(shq(`capture interface ${link} is missing or down`)))}`);
    }
    lines.push(`  return 0`, `}`);
    return lines.join("\n");
}

/** Fails clearly when a name the step needs is taken by something it does not own, or the bridge is full. */
function checkFree(plan: MirrorPlan): string {
    const names = createdNames(plan);
    const lines = [
        `set -- $(hwo_vsctl --bare --columns=mirrors list Bridge "$hwo_br")`,
        `[ $# -lt 32 ] || hw_fail "bridge $hwo_br already holds $# mirrors, the most Open vSwitch applies per bridge; remove unused ones first (ovs-vsctl list Mirror)"`,
        sh`[ -z "$(hwo_vsctl --bare --columns=_uuid find Mirror ${`name=${atom(plan.mirrorName)}`})" ] || hw_fail ${`a mirror named ${plan.mirrorName} already exists and is not this step's (no external_ids:hostwright-owner=${plan.ownerKey}); choose another mirrorName or remove that mirror`}`,
    ];
    for (const name of names.ovs) {
        lines.push(
            sh`[ -z "$(hwo_vsctl --bare --columns=_uuid find Port ${`name=${atom(name)}`})$(hwo_vsctl --bare --columns=_uuid find Interface ${`name=${atom(name)}`})" ] || hw_fail ${`an OVS port or interface named ${name} already exists and is not this step's; choose another name for it`}`,
        );
    }
    for (const name of names.links) {
        lines.push(sh`! ip link show dev ${name} >/dev/null 2>&1 || hw_fail ${`a network interface named ${name} already exists on this node and is not this step's; choose another capture.name`}`);
    }
    if (!plan.allowOverlap) lines.push(overlapCheck(plan));
    return lines.join("\n");
}

/**
 * ovs-tcpdump's rule: one mirror per source port. Fails naming every other mirror on
 * the bridge that selects one of the source ports (or all of them: select_all), with
 * its owner mark; for a whole-bridge mirror, every other whole-bridge mirror.
 */
function overlapCheck(plan: MirrorPlan): string {
    const lines = [
        `hwo_overlaps=""`,
        `hwo_overlap() {`,
        `  hwo_vsctl --bare --columns=mirrors list Bridge "$hwo_br" | grep -qw -- "$1" || return 0`,
        `  hwo_n=$(hwo_vsctl get Mirror "$1" name | tr -d '"')`,
        `  hwo_o=$(hwo_vsctl --if-exists get Mirror "$1" external_ids:hostwright-owner | tr -d '"')`,
        `  hwo_overlaps="$hwo_overlaps; $2 is already mirrored by mirror $hwo_n ($1, owner: \${hwo_o:-none, not made by hostwright})"`,
        `}`,
        `hwo_all=$(hwo_vsctl --bare --columns=_uuid find Mirror select_all=true)`,
    ];
    if (plan.wholeBridge) lines.push(`for hwo_m in $hwo_all; do hwo_overlap "$hwo_m" "bridge $hwo_br (every port)"; done`);
    else {
        lines.push(
            sh`for hwo_p in ${plan.ports}; do`,
            `  hwo_u=$(hwo_vsctl get Port "$hwo_p" _uuid)`,
            `  for hwo_m in $( { hwo_vsctl --bare --columns=_uuid find Mirror "select_src_port{>=}$hwo_u"; hwo_vsctl --bare --columns=_uuid find Mirror "select_dst_port{>=}$hwo_u"; printf '%s\n' $hwo_all; } | sort -u); do hwo_overlap "$hwo_m" "port $hwo_p"; done`,
            `done`,
        );
    }
    lines.push(`[ -z "$hwo_overlaps" ] || hw_fail "refusing a second mirror: \${hwo_overlaps#; }; set allowOverlappingMirrors: true to add this one anyway"`);
    return lines.join("\n");
}

/** Makes the links the step owns (dummy, veth) and sets $hwo_kind and $hwo_iface (extra Interface columns). */
function makeCapture(plan: MirrorPlan & { output: CapturePlan }): string {
    const o = plan.output;
    const mtu = o.mtu !== undefined ? sh`hwo_mtu=${o.mtu}` : plan.wholeBridge ? `hwo_mtu=$(hwo_max_mtu $(hwo_vsctl --bare --columns=ports list Bridge "$hwo_br"))` : sh`hwo_mtu=$(hwo_max_mtu ${plan.ports})`;
    const own = (link: string) => sh`ip link set dev ${link} alias "$hwo_alias" mtu "$hwo_mtu" up`;
    const ovsMade = (kind: string) => [`hwo_kind=${kind}`, `hwo_iface="type=${kind} mtu_request=$hwo_mtu"`];
    const dummyMissing = "cannot create a dummy link (this kernel may lack the dummy driver); set capture.kind to internal, tap or veth";
    switch (o.kind) {
        case "auto":
            // dummy where the kernel has the driver (what ovs-tcpdump does), else an OVS internal port
            return [mtu, sh`if ip link add name ${o.name} type dummy 2>/dev/null; then`, `  hwo_kind=dummy; hwo_iface=""`, `  ${own(o.name)}`, `else`, ...ovsMade("internal").map((l) => `  ${l}`), `fi`].join("\n");
        case "dummy":
            return [mtu, `hwo_kind=dummy; hwo_iface=""`, sh`ip link add name ${o.name} type dummy || hw_fail ${dummyMissing}`, own(o.name)].join("\n");
        case "veth":
            return [mtu, `hwo_kind=veth; hwo_iface=""`, sh`ip link add name ${o.name} type veth peer name ${o.peer!} || hw_fail "cannot create the veth pair"`, own(o.name), own(o.peer!)].join("\n");
        default:
            return [mtu, ...ovsMade(o.kind)].join("\n");
    }
}

/** The one ovs-vsctl transaction: output port + mirror, both appended to the bridge. */
function transaction(plan: MirrorPlan, spec: string): string {
    const owner = `external_ids:hostwright-owner=${atom(plan.ownerKey)}`;
    const o = plan.output;
    const port = outputPortName(plan);
    const parts: string[] = [`hwo_vsctl`];
    plan.ports.forEach((p, i) => parts.push(sh`-- --id=@s${i} get Port ${p}`));
    const iface = o.type === "collector" ? sh`type=${o.interfaceType} ${o.options.map(([k, v]) => `options:${k}=${atom(v)}`)}` : `$hwo_iface`;
    parts.push(sh`-- --id=@oi create Interface ${`name=${atom(port)}`} ${raw(iface)} ${owner}`);
    parts.push(sh`-- --id=@op create Port ${`name=${atom(port)}`} interfaces=@oi ${owner}`);
    parts.push(sh`-- add Bridge ${plan.bridge} ports @op`);
    const refs = plan.ports.map((_, i) => `@s${i}`).join(",");
    const mirror = [sh`-- --id=@m create Mirror ${`name=${atom(plan.mirrorName)}`}`];
    if (plan.wholeBridge) mirror.push("select_all=true");
    else {
        if (plan.direction !== "egress") mirror.push(`select-src-port=${refs}`);
        if (plan.direction !== "ingress") mirror.push(`select-dst-port=${refs}`);
    }
    if (plan.vlans.length > 0) mirror.push(sh`${`select_vlan=[${plan.vlans.join(",")}]`}`);
    mirror.push("output-port=@op", sh`${owner} ${`external_ids:hostwright-spec=${atom(spec)}`}`, `"external_ids:hostwright-capture-kind=$hwo_kind"`);
    parts.push(mirror.join(" "));
    // Append: `set Bridge ... mirrors=@m` would drop every other mirror of the bridge.
    parts.push(sh`-- add Bridge ${plan.bridge} mirrors @m`);
    return `${parts.join(" \\\n  ")} >/dev/null`;
}

/**
 * The capture lifecycle (with `durationSeconds`), recorded beside the step's state
 * directory (the core may remove that one on a failed first create):
 *   expires      end of the capture, epoch seconds
 *   spec, kind   the spec hash and capture kind it was started for
 *   pid          the expiry job (its own session: the whole group is killed)
 *   expire.sh    the job's script: sleeps until the end, then removes the step's objects
 *   expired      written by the job (or a later run) when it removed them: the time
 * `lock` serializes the job with the step's create and undo.
 */
const LIFECYCLE_HELPERS = `hwo_cap="$HW_STATE.capture"
hwo_job_alive() {
  [ -s "$hwo_cap/pid" ] || return 1
  tr '\\0' ' ' < "/proc/$(cat "$hwo_cap/pid")/cmdline" 2>/dev/null | grep -qF -- "$hwo_cap/expire.sh"
}
hwo_stop_expiry() {
  if hwo_job_alive; then kill -- "-$(cat "$hwo_cap/pid")" 2>/dev/null || kill -- "$(cat "$hwo_cap/pid")" 2>/dev/null || true; fi
  for hwo_i in 1 2 3 4 5 6 7 8 9 10; do hwo_job_alive || break; sleep 0.2; done
  rm -f -- "$hwo_cap/pid"
}
hwo_lock_capture() {
  mkdir -p "$hwo_cap"
  exec 8>>"$hwo_cap/lock"
  flock -w 60 8 || hw_fail "the capture's expiry job has held its lock for 60 s"
}
hwo_at() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }`;

/** The expiry job's script: self-contained, values only from the plan (quoted). */
function expireScript(plan: MirrorPlan): string {
    return [
        `#!/bin/bash`,
        `# hostwright: ends the capture of step ${plan.ownerKey.replace(/[\r\n]/g, " ")} (started by its apply)`,
        `set -u`,
        `# keep no descriptor of the run that started this job (the host lock among them)`,
        `for hwo_fd in /proc/$$/fd/*; do hwo_fd=\${hwo_fd##*/}; if [ "$hwo_fd" -gt 2 ] && [ "$hwo_fd" -lt 255 ]; then eval "exec $hwo_fd>&-"; fi; done`,
        `hwo_cap=$1`,
        `hwo_end=$2`,
        `hw_log() { printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> "$hwo_cap/expire.log"; }`,
        `hw_fail() { hw_log "ERROR: $*"; exit 1; }`,
        `hwo_now=$(date +%s)`,
        `[ "$hwo_now" -ge "$hwo_end" ] || sleep "$((hwo_end - hwo_now))"`,
        `exec 8>>"$hwo_cap/lock"`,
        `flock -w 60 8 || hw_fail "the step holds the capture's lock"`,
        HELPERS,
        variables(plan),
        `hwo_require_db`,
        `hwo_remove_own_rows`,
        `hwo_remove_own_links`,
        `[ -z "$(hwo_own Mirror)$(hwo_own Port)" ] || hw_fail "the mirror or its port is still there; the next run of the step removes it"`,
        `date -u +%Y-%m-%dT%H:%M:%SZ > "$hwo_cap/expired"`,
        `rm -f -- "$hwo_cap/pid"`,
        `hw_log "capture ended: mirror, output port and links removed"`,
        ``,
    ].join("\n");
}

function startExpiry(plan: MirrorPlan): string {
    return [
        `hwo_start_expiry() {`,
        `  printf '%s\\n' "$1" > "$hwo_cap/expires"`,
        `  printf '%s\\n' "$hwo_spec" > "$hwo_cap/spec"`,
        `  printf '%s\\n' "$hwo_kind" > "$hwo_cap/kind"`,
        `  rm -f -- "$hwo_cap/expired"`,
        sh`  printf '%s' ${expireScript(plan)} > "$hwo_cap/expire.sh"`,
        `  setsid bash "$hwo_cap/expire.sh" "$hwo_cap" "$1" </dev/null >/dev/null 2>&1 &`,
        `  printf '%s\\n' "$!" > "$hwo_cap/pid"`,
        `}`,
    ].join("\n");
}

function activate(plan: MirrorPlan, spec: string): string {
    const o = plan.output;
    const port = outputPortName(plan);
    const timed = plan.durationSeconds !== undefined;
    const create =
        o.type === "capture"
            ? [
                  makeCapture({ ...plan, output: o }),
                  `${transaction(plan, spec)} || { hwo_remove_own_links; hw_fail "ovs-vsctl could not add the capture port and the mirror to $hwo_br"; }`,
                  // OVS makes internal and tap links itself, down
                  sh`case "$hwo_kind" in internal|tap) ip link set dev ${o.name} up ;; esac`,
              ].join("\n")
            : [`hwo_kind=collector`, `${transaction(plan, spec)} || hw_fail "ovs-vsctl could not add the tunnel port and the mirror to $hwo_br"`].join("\n");
    const markExpired = `date -u +%Y-%m-%dT%H:%M:%SZ > "$hwo_cap/expired"`;
    return [
        HELPERS,
        variables(plan),
        LIFECYCLE_HELPERS,
        inSyncFunction(plan, spec),
        sh`hwo_spec=${spec}`,
        `hwo_status=created`,
        timed
            ? [startExpiry(plan), `hwo_lock_capture`].join("\n")
            : `if [ -d "$hwo_cap" ]; then hwo_lock_capture; hwo_stop_expiry; exec 8>&-; rm -rf -- "$hwo_cap"; fi`,
        `if [ -e "$hwo_cap/expired" ] && [ "$(cat "$hwo_cap/spec" 2>/dev/null)" = "$hwo_spec" ]; then`,
        // The capture ended on the node: said, not silently made again.
        `  hwo_status=expired; hwo_kind=$(cat "$hwo_cap/kind" 2>/dev/null || true)`,
        `  hw_warn "the capture ended at $(cat "$hwo_cap/expired") and was removed from the node; it is not made again (raise captureRevision for a new capture)"`,
        `elif hwo_in_sync; then`,
        `  hwo_status=unchanged`,
        `  hw_log "mirror already in place"`,
        ...(timed
            ? [
                  // the job dies with the node (reboot): end the capture now, or start the job again
                  `  if ! hwo_job_alive; then`,
                  `    if [ "$(date +%s)" -ge "$(cat "$hwo_cap/expires" 2>/dev/null || echo 0)" ]; then`,
                  `      hwo_remove_own_rows; hwo_remove_own_links; ${markExpired}; hwo_status=expired`,
                  `      hw_warn "the capture's time was over and its expiry job was gone (node rebooted?): removed it now"`,
                  `    else`,
                  `      hwo_start_expiry "$(cat "$hwo_cap/expires")"; hw_log "restarted the capture's expiry job"`,
                  `    fi`,
                  `  fi`,
              ]
            : []),
        `else`,
        indent(
            [
                ...(timed ? [`hwo_stop_expiry`] : []),
                `if [ -n "$(hwo_own Mirror)$(hwo_own Port)$(hwo_own_links)" ]; then hwo_status=updated; hwo_remove_own_rows; hwo_remove_own_links; fi`,
                checkFree(plan),
                create,
                // The interface exists once ovs-vswitchd has configured it (ovs-vsctl waits for that).
                sh`hwo_e=$(hwo_vsctl get Interface ${port} error)`,
                `[ "$hwo_e" = "[]" ] || { hwo_remove_own_rows; hwo_remove_own_links; hw_fail "Open vSwitch rejected the output port: $hwo_e"; }`,
                sh`hw_log ${`mirror ${plan.mirrorName} added to ${plan.bridge}`}`,
                ...(timed ? [sh`hwo_start_expiry "$(( $(date +%s) + ${plan.durationSeconds!} ))"`, `hw_log "the node removes the capture at $(hwo_at "$(cat "$hwo_cap/expires")")"`] : []),
            ].join("\n"),
        ),
        `fi`,
        `hw_output status "$hwo_status"`,
        `hw_output captureKind "$hwo_kind"`,
        `hw_output mirror "$(hwo_own Mirror)"`,
        ...(timed ? [`hw_output expiresAt "$(hwo_at "$(cat "$hwo_cap/expires")")"`, `exec 8>&-`] : []),
    ].join("\n");
}

function indent(block: string): string {
    return block.replace(/^/gm, "  ");
}

function undo(): string {
    return [
        // first the expiry job, so that it cannot run while (or after) the objects go
        `if [ -d "$hwo_cap" ]; then hwo_lock_capture; hwo_stop_expiry; fi`,
        `if command -v ovs-vsctl >/dev/null 2>&1; then`,
        `  hwo_require_db`,
        `  hwo_remove_own_rows`,
        `else`,
        `  hw_log "Open vSwitch is not installed: no mirror left to remove"`,
        `fi`,
        `hwo_remove_own_links`,
        `rm -rf -- "$hwo_cap"`,
    ].join("\n");
}

/** The step: preflight checks, then create-or-converge in `activate`, removal in `undo`. */
export function renderMirrorStep(plan: MirrorPlan, node: string): StepInput {
    const spec = planHash(plan);
    const what = plan.wholeBridge ? `bridge ${plan.bridge}` : `${plan.ports.join(", ")} on ${plan.bridge}`;
    const to = plan.output.type === "collector" ? `${plan.output.interfaceType} collector ${plan.output.address}` : plan.output.name;
    return {
        // The node is part of the step's identity: a VM that moved to another node
        // replaces the step, and the old generation's undo runs on the old node.
        description: `OVS mirror ${plan.mirrorName} on ${node}: ${what} -> ${to}`,
        preflight: preflight(plan),
        activate: activate(plan, spec),
        undo: [HELPERS, variables(plan), LIFECYCLE_HELPERS, undo()].join("\n"),
        // read-only: the mirror, its output port and capture link as declared (a capture
        // whose time is over was removed on purpose and is no drift)
        verify: [
            HELPERS,
            variables(plan),
            LIFECYCLE_HELPERS,
            inSyncFunction(plan, spec),
            `hwo_require_db`,
            sh`[ -e "$hwo_cap/expired" ] || hwo_in_sync || hw_drift ${`mirror ${plan.mirrorName} on ${plan.bridge}:`} "$hwo_why"`,
        ].join("\n"),
    };
}
