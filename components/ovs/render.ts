/**
 * Pure: validated mirror args -> the step's script fragments. On the node the
 * step owns one Mirror row, one Port (with its Interface) and, for `dummy` and
 * `veth` captures, Linux links; all carry the mark `hostwright-owner=<step key>`
 * (OVS `external_ids`, link `ifalias`) and are found by that mark, never by name.
 */
import { isIP } from "net";
import { contentHash, shortHash } from "../../core/hash";
import { raw, sh } from "../../core/shell";
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
    };
}

/** Identifies the desired state: stored on the Mirror row, compared on every apply. */
export function planHash(plan: MirrorPlan): string {
    return contentHash("hostwright-ovs-mirror-v1", JSON.stringify(plan)).slice(0, 24);
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

/** Preconditions: OVS reachable, bridge present, every source port on it. */
function preflight(plan: MirrorPlan): string {
    const lines = [
        HELPERS,
        variables(plan),
        `command -v ovs-vsctl >/dev/null 2>&1 || hw_fail "ovs-vsctl not found: Open vSwitch is not installed on this node"`,
        `hwo_require_db`,
        `hwo_rc=0; hwo_vsctl br-exists "$hwo_br" || hwo_rc=$?`,
        `[ "$hwo_rc" -ne 2 ] || hw_fail "bridge $hwo_br does not exist on this node (bridges: $(hwo_vsctl list-br | tr '\\n' ' '))"`,
        `[ "$hwo_rc" -eq 0 ] || hw_fail "cannot check bridge $hwo_br (ovs-vsctl br-exists exited $hwo_rc)"`,
    ];
    for (const port of plan.ports) {
        lines.push(
            sh`hwo_p=${port}`,
            `hwo_on=$(hwo_vsctl port-to-br "$hwo_p" 2>/dev/null) || hw_fail "source port $hwo_p does not exist on this node (is the VM running here? ovs-vsctl list-ports $hwo_br)"`,
            `[ "$hwo_on" = "$hwo_br" ] || hw_fail "source port $hwo_p is on bridge $hwo_on, not on $hwo_br"`,
        );
    }
    return lines.join("\n");
}

/** The names the step creates: OVS ports/interfaces, and Linux links (made by it or by OVS). */
function createdNames(plan: MirrorPlan): { ovs: string[]; links: string[] } {
    const o = plan.output;
    if (o.type === "collector") return { ovs: [o.portName], links: [] };
    return { ovs: [o.peer ?? o.name], links: o.peer ? [o.name, o.peer] : [o.name] };
}

/** True (exit 0) when the step's own mirror, port and link are exactly as planned. */
function inSyncFunction(plan: MirrorPlan, spec: string): string {
    const selected: string[] = [];
    if (!plan.wholeBridge && plan.direction !== "egress") selected.push("select_src_port");
    if (!plan.wholeBridge && plan.direction !== "ingress") selected.push("select_dst_port");
    const lines = [
        `hwo_in_sync() {`,
        `  set -- $(hwo_own Mirror); [ $# -eq 1 ] || return 1; hwo_m=$1`,
        `  set -- $(hwo_own Port); [ $# -eq 1 ] || return 1; hwo_op=$1`,
        sh`  [ "$(hwo_vsctl --bare --columns=_uuid find Mirror "$hwo_mark" ${`external_ids:hostwright-spec=${atom(spec)}`})" = "$hwo_m" ] || return 1`,
        `  [ "$(hwo_vsctl --bare --columns=output_port list Mirror "$hwo_m")" = "$hwo_op" ] || return 1`,
        `  hwo_vsctl --bare --columns=mirrors list Bridge "$hwo_br" | grep -qw -- "$hwo_m" || return 1`,
        `  hwo_vsctl --bare --columns=ports list Bridge "$hwo_br" | grep -qw -- "$hwo_op" || return 1`,
        `  hwo_kind=$(hwo_vsctl get Mirror "$hwo_m" external_ids:hostwright-capture-kind 2>/dev/null | tr -d '"') || hwo_kind=""`,
    ];
    if (selected.length > 0) {
        // A VM's port re-created (reboot, migration back) is a new row: the old selection is gone.
        lines.push(sh`  hwo_want=$(hwo_port_uuids ${plan.ports})`);
        for (const column of selected) lines.push(`  [ "$(hwo_sorted "$(hwo_vsctl --bare --columns=${column} list Mirror "$hwo_m")")" = "$hwo_want" ] || return 1`);
    }
    if (plan.output.type === "capture") {
        for (const link of createdNames(plan).links) lines.push(sh`  ip link show dev ${link} 2>/dev/null | grep -q '[<,]UP[,>]' || return 1`);
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

function activate(plan: MirrorPlan, spec: string): string {
    const o = plan.output;
    const port = outputPortName(plan);
    const create =
        o.type === "capture"
            ? [
                  makeCapture({ ...plan, output: o }),
                  `${transaction(plan, spec)} || { hwo_remove_own_links; hw_fail "ovs-vsctl could not add the capture port and the mirror to $hwo_br"; }`,
                  // OVS makes internal and tap links itself, down
                  sh`case "$hwo_kind" in internal|tap) ip link set dev ${o.name} up ;; esac`,
              ].join("\n")
            : [`hwo_kind=collector`, `${transaction(plan, spec)} || hw_fail "ovs-vsctl could not add the tunnel port and the mirror to $hwo_br"`].join("\n");
    return [
        HELPERS,
        variables(plan),
        inSyncFunction(plan, spec),
        `hwo_status=created`,
        `if hwo_in_sync; then`,
        `  hwo_status=unchanged`,
        `  hw_log "mirror already in place"`,
        `else`,
        indent(
            [
                `if [ -n "$(hwo_own Mirror)$(hwo_own Port)$(hwo_own_links)" ]; then hwo_status=updated; hwo_remove_own_rows; hwo_remove_own_links; fi`,
                checkFree(plan),
                create,
                // The interface exists once ovs-vswitchd has configured it (ovs-vsctl waits for that).
                sh`hwo_e=$(hwo_vsctl get Interface ${port} error)`,
                `[ "$hwo_e" = "[]" ] || { hwo_remove_own_rows; hwo_remove_own_links; hw_fail "Open vSwitch rejected the output port: $hwo_e"; }`,
                sh`hw_log ${`mirror ${plan.mirrorName} added to ${plan.bridge}`}`,
            ].join("\n"),
        ),
        `fi`,
        `hw_output status "$hwo_status"`,
        `hw_output captureKind "$hwo_kind"`,
        `hw_output mirror "$(hwo_own Mirror)"`,
    ].join("\n");
}

function indent(block: string): string {
    return block.replace(/^/gm, "  ");
}

function undo(): string {
    return [
        `if command -v ovs-vsctl >/dev/null 2>&1; then`,
        `  hwo_require_db`,
        `  hwo_remove_own_rows`,
        `else`,
        `  hw_log "Open vSwitch is not installed: no mirror left to remove"`,
        `fi`,
        `hwo_remove_own_links`,
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
        undo: [HELPERS, variables(plan), undo()].join("\n"),
    };
}
