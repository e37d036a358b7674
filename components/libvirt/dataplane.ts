/**
 * The migration data plane, beside libvirt's control connection: what breaks real
 * migrations after `virsh -c URI` works (FIELD-NOTES §7).
 *
 * A `dataplane` step per node (after every node is configured) reads the node's
 * facts and opens a short-lived listener in QEMU's migration port range:
 * - host UUID as libvirt reports it (`virsh capabilities`), for the output;
 * - host CPU (vendor, model, features): a guest started on one node needs every
 *   feature of its CPU on the target;
 * - the node's own addresses, for the name check of its peers;
 * - a TCP listener on the first free port of `migration_port_min..max` for
 *   {@link LISTENER_SECONDS} s (python3; no python3: reported, not checked).
 * The peer check of each node then connects to every peer's listener, resolves every
 * peer's migration address and compares CPUs; it reads the peers' UUIDs itself, live,
 * over the control connection (render.ts).
 */
import { isIP } from "net";
import { inParallel, sh, shq } from "../../core/shell";
import type { LiveMigrationArgs } from "./args";
import type { RenderedStep } from "./render";

/** QEMU's own default migration port range (qemu.conf `migration_port_min/max`). */
export const QEMU_MIGRATION_PORTS = { min: 49152, max: 49215 };
/** How long a data-plane listener waits for its peers' connections. */
export const LISTENER_SECONDS = 300;
/** What the listener answers, so a peer knows it reached this listener and not something else. */
export const LISTENER_GREETING = "hostwright migration port";

/** The migration port range in force: the args', else QEMU's default. */
export function migrationPorts(args: Pick<LiveMigrationArgs, "migrationPortMin" | "migrationPortMax">): { min: number; max: number } {
    return { min: args.migrationPortMin ?? QEMU_MIGRATION_PORTS.min, max: args.migrationPortMax ?? QEMU_MIGRATION_PORTS.max };
}

// Binds the first free port of the range (IPv6 and IPv4 where it can), prints "PORT PID",
// and serves the greeting from a detached child until its time is up. The marker comment
// is on the command line, so the step finds (and stops) only its own listener.
export const LISTENER_PY = `# hostwright-migration-port-listener
import os, socket, sys, time
lo, hi, life = (int(a) for a in sys.argv[1:4])
def bind(port):
    for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((address, port))
            return s
        except OSError:
            s.close()
    return None
for port in range(lo, hi + 1):
    s = bind(port)
    if s:
        break
else:
    print("none: every port of %d-%d is in use" % (lo, hi))
    sys.exit(0)
s.listen(64)
pid = os.fork()
if pid:
    print(port, pid)
    sys.exit(0)
os.setsid()
null = os.open(os.devnull, os.O_RDWR)
for fd in range(0, 1024):
    if fd not in (s.fileno(), null):
        try:
            os.close(fd)
        except OSError:
            pass
for fd in (0, 1, 2):
    os.dup2(null, fd)
s.settimeout(1.0)
end = time.time() + life
while time.time() < end:
    try:
        c, _ = s.accept()
        c.sendall(b"${LISTENER_GREETING}\\n")
        c.close()
    except OSError:
        pass
`;

/** Stops the step's listener (found by its pid and the marker on its command line). */
const STOP_LISTENER = `hw_listener="$HW_STATE.listener"
if [ -s "$hw_listener/pid" ] && tr '\\0' ' ' < "/proc/$(cat "$hw_listener/pid")/cmdline" 2>/dev/null | grep -q hostwright-migration-port-listener; then
  kill "$(cat "$hw_listener/pid")" 2>/dev/null || true
fi
rm -f -- "$hw_listener/pid"`;

/** The data-plane step of node `index`: facts and a listener; read-only otherwise. */
export function renderDataPlane(args: LiveMigrationArgs, index: number): RenderedStep {
    const node = args.nodes[index];
    const ports = migrationPorts(args);
    // cpu_mode custom: can this node run each model? (libvirt compares it with the host CPU)
    const models = args.nova?.cpuMode === "custom" ? (args.nova.cpuModels ?? []) : [];
    const modelChecks = models
        .map(
            (m) => sh`printf '%s' ${`<cpu mode='custom' match='exact'><model fallback='forbid'>${m}</model></cpu>`} > "$hw_listener/cpu.xml"
if hw_cmp=$(timeout 30 virsh -c qemu:///system cpu-compare "$hw_listener/cpu.xml" 2>&1 </dev/null); then hw_output ${`cpuModel.${m}`} ok; else hw_output ${`cpuModel.${m}`} "incompatible: $(printf '%s' "$hw_cmp" | sed "s|$hw_listener/cpu.xml|the model|" | tr '\n' ' ')"; fi`,
        )
        .join("\n");
    return {
        description: `live migration data plane on ${node.host.name}: host UUID, CPU, a listener in QEMU's migration ports ${ports.min}-${ports.max}`,
        files: [],
        edits: [],
        preflight: "",
        activate: `${STOP_LISTENER}
mkdir -p "$hw_listener"
hw_caps=$(timeout 30 virsh -c qemu:///system capabilities 2>/dev/null | sed -n '/<host>/,/<\\/host>/p') || hw_caps=""
hw_field() { printf '%s\\n' "$hw_caps" | sed -n "$1" | head -n 1; }
hw_output hostUuid "$(hw_field 's/.*<uuid>\\(.*\\)<\\/uuid>.*/\\1/p')"
if [ -n "$hw_caps" ]; then
  hw_output cpu.source capabilities
  hw_output cpu.vendor "$(hw_field '/<cpu>/,/<\\/cpu>/s/.*<vendor>\\(.*\\)<\\/vendor>.*/\\1/p')"
  hw_output cpu.model "$(hw_field '/<cpu>/,/<\\/cpu>/s/.*<model>\\(.*\\)<\\/model>.*/\\1/p')"
  hw_output cpu.features "$(printf '%s\\n' "$hw_caps" | sed -n "/<cpu>/,/<\\/cpu>/s/.*<feature .*name='\\([^']*\\)'.*/\\1/p" | sort -u | tr '\\n' ' ')"
else
  # no QEMU driver answering: the kernel's view of the CPU
  hw_output cpu.source /proc/cpuinfo
  hw_output cpu.vendor "$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  hw_output cpu.model "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  hw_output cpu.features "$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1 | tr ' ' '\\n' | sort -u | tr '\\n' ' ')"
fi
${modelChecks}
hw_output addresses "$(ip -o addr show 2>/dev/null | awk '{ split($4, a, "/"); print a[1] }' | sort -u | tr '\\n' ' ')"
if command -v python3 >/dev/null 2>&1; then
  hw_port=$(python3 -c ${shq(LISTENER_PY)} ${ports.min} ${ports.max} ${LISTENER_SECONDS} 2>&1 </dev/null) || hw_port="none: the listener failed: $hw_port"
  case "$hw_port" in
    none*) hw_output dataPort "$hw_port" ;;
    *) printf '%s\\n' "\${hw_port#* }" > "$hw_listener/pid"; hw_output dataPort "\${hw_port% *}"; hw_log "listening on port \${hw_port% *} for ${LISTENER_SECONDS} s" ;;
  esac
else
  hw_output dataPort "none: python3 is not installed on ${node.host.name.replace(/[^A-Za-z0-9._-]/g, "")}, so no listener could be opened"
fi`,
        undo: `${STOP_LISTENER}
rm -rf -- "$hw_listener"`,
    };
}

/** What a node's data-plane step reported. */
export interface NodeFacts {
    host: string;
    hostUuid: string;
    cpu: { source: string; vendor: string; model: string; features: string[] };
    addresses: string[];
    /** The listener's port, or why there is none (`none: ...`). */
    dataPort: number | string;
    /** cpu_mode custom: per model, `ok` or why this node cannot run it (`virsh cpu-compare`). */
    cpuModels: Record<string, string>;
}

export function factsFromReport(host: string, values: Record<string, string>): NodeFacts {
    const port = Number(values.dataPort);
    const words = (v: string | undefined) => (v ?? "").split(/\s+/).filter((w) => w !== "");
    return {
        host,
        hostUuid: (values.hostUuid ?? "").toLowerCase(),
        cpu: { source: values["cpu.source"] ?? "", vendor: values["cpu.vendor"] ?? "", model: values["cpu.model"] ?? "", features: words(values["cpu.features"]) },
        addresses: words(values.addresses),
        dataPort: Number.isInteger(port) && port > 0 ? port : values.dataPort || "none: the data-plane step reported no port",
        cpuModels: Object.fromEntries(Object.entries(values).filter(([k]) => k.startsWith("cpuModel.")).map(([k, v]) => [k.slice("cpuModel.".length), v])),
    };
}

/** Can a guest using the source's host CPU run on the target? `ok`, or what the target lacks. */
export function cpuCompatibility(source: NodeFacts, target: NodeFacts): string {
    if (source.cpu.features.length === 0 || target.cpu.features.length === 0) return "unknown: a node reported no CPU features";
    if (source.cpu.source !== target.cpu.source) return `unknown: the nodes reported their CPUs from different sources (${source.cpu.source}, ${target.cpu.source})`;
    if (source.cpu.vendor !== target.cpu.vendor) return `incompatible: CPU vendors differ (${source.cpu.vendor} on ${source.host}, ${target.cpu.vendor} on ${target.host})`;
    const missing = source.cpu.features.filter((f) => !target.cpu.features.includes(f));
    if (missing.length > 0) {
        return `incompatible: ${target.host} lacks ${missing.length} CPU feature(s) of ${source.host} (${missing.slice(0, 12).join(" ")}${missing.length > 12 ? " ..." : ""}): guests with cpu_mode host-model/host-passthrough started on ${source.host} cannot move there; use a common cpu_mode=custom model (virsh hypervisor-cpu-baseline)`;
    }
    return "ok";
}

/**
 * The pair's CPU result for nova's `cpu_mode`: host-model (and unset) needs the source's
 * features on the target, host-passthrough the identical CPU, custom every model runnable
 * on the target; none uses the hypervisor's default model.
 */
export function pairCpu(mode: NonNullable<LiveMigrationArgs["nova"]>["cpuMode"], source: NodeFacts, target: NodeFacts): string {
    if (mode === "none") return "ok (cpu_mode none: the hypervisor's default model)";
    if (mode === "custom") {
        const bad = Object.entries(target.cpuModels).filter(([, v]) => v !== "ok");
        if (Object.keys(target.cpuModels).length === 0) return "unknown: the target reported no model check";
        return bad.length === 0 ? "ok" : `incompatible: ${target.host} cannot run cpu_models ${bad.map(([m, why]) => `${m} (${why.replace(/^incompatible: /, "")})`).join(", ")}: guests with that model can neither start nor arrive there`;
    }
    const forward = cpuCompatibility(source, target);
    if (mode !== "host-passthrough" || forward !== "ok") return forward;
    const backward = cpuCompatibility(target, source);
    if (backward !== "ok" || source.cpu.model !== target.cpu.model) {
        return `incompatible: cpu_mode host-passthrough gives guests the exact host CPU, and ${target.host}'s (${target.cpu.model}) is not ${source.host}'s (${source.cpu.model}); use host-model or a custom model`;
    }
    return "ok";
}

/** Features every node has: what a common custom CPU model may use. */
export function commonCpuFeatures(facts: NodeFacts[]): string[] {
    if (facts.length === 0) return [];
    return facts[0].cpu.features.filter((f) => facts.every((n) => n.cpu.features.includes(f)));
}

/**
 * The data-plane part of a node's peer check: per peer, its listener (`data.PEER`),
 * its name as this node resolves it against the peer's own addresses (`name.PEER`).
 * Shell for the peer step's activate; failures are collected in `$hw_data_failed`.
 */
export function dataPlaneChecks(peers: Array<{ host: string; address: string; listenAddress?: string; facts: NodeFacts }>): string {
    const lines = [
        `hw_data() {
  # hw_data PEER ADDRESS PORT REPORT, in the background: connect to the peer's listener and
  # read its greeting; what failed goes to REPORT.failed
  hw_got=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -c ${LISTENER_GREETING.length} <&3' "$2" "$3" 2>&1 </dev/null) || true
  if [ "$hw_got" = ${shq(LISTENER_GREETING)} ]; then hw_output "data.$1" "ok (port $3)"; hw_log "reached $1's migration port $3"
  else
    hw_got=\${hw_got//$'\\n'/ }
    hw_output "data.$1" "failed: port $3 on $2: \${hw_got:-no answer}"
    printf '%s' "; QEMU migration port $3 on $1 ($2): \${hw_got:-no answer} (open ports of migration_port_min..max between the nodes)" > "$4.failed"
  fi
}
hw_name() {
  # hw_name PEER ADDRESS WANTED...: every address ADDRESS resolves to here must be one of WANTED
  hw_p=$1; hw_a=$2; shift 2
  hw_resolved=$(getent ahosts "$hw_a" 2>/dev/null | awk '{ print $1 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
  if [ -z "$hw_resolved" ]; then
    hw_output "name.$hw_p" "failed: $hw_a does not resolve here"
    hw_data_failed="$hw_data_failed; $hw_a ($hw_p) does not resolve on this node"
    return
  fi
  hw_stray=""
  for hw_r in $hw_resolved; do
    hw_ours=0
    for hw_w in "$@"; do [ "$hw_r" != "$hw_w" ] || hw_ours=1; done
    [ "$hw_ours" = 1 ] || hw_stray="$hw_stray $hw_r"
  done
  if [ -z "$hw_stray" ]; then hw_output "name.$hw_p" "ok ($hw_a -> $hw_resolved)"; return; fi
  hw_output "name.$hw_p" "elsewhere: $hw_a resolves to $hw_resolved here;$hw_stray not an address of $hw_p ($*)"
  hw_warn "$hw_a resolves to $hw_resolved here;$hw_stray not an address of $hw_p ($*): nova and libvirt may dial it; fix DNS or /etc/hosts unless a NAT maps it"
}`,
    ];
    // every peer's port at once (each connect waits up to 10 s), reported in peer order
    lines.push("hw_dp=$(mktemp -d)");
    lines.push(inParallel(peers.flatMap((peer, i) => (typeof peer.facts.dataPort === "number" ? [sh`hw_data ${peer.host} ${peer.address} ${peer.facts.dataPort} "$hw_dp/"${i} > "$hw_dp/"${i} 2>&1`] : []))));
    peers.forEach((peer, i) => {
        if (typeof peer.facts.dataPort === "number") {
            lines.push(sh`cat -- "$hw_dp/"${i}
[ ! -e "$hw_dp/"${i}.failed ] || hw_data_failed="$hw_data_failed$(cat -- "$hw_dp/"${i}.failed)"`);
        } else {
            lines.push(sh`hw_output ${`data.${peer.host}`} ${`not checked: ${peer.facts.dataPort}`}`);
            lines.push(sh`hw_warn ${`QEMU migration ports of ${peer.host} not checked: ${peer.facts.dataPort}`}`);
        }
        // A listen address must be what the name leads to; otherwise any address of the peer.
        const wanted = peer.listenAddress ? [peer.listenAddress] : peer.facts.addresses.filter((a) => isIP(a) !== 0);
        lines.push(sh`hw_name ${peer.host} ${peer.address} ${wanted}`);
    });
    lines.push(`rm -rf -- "$hw_dp"`);
    return lines.join("\n");
}
