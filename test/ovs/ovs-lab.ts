/**
 * Open vSwitch 3.1 in userspace on a lab host (this kernel has no openvswitch
 * module): ovsdb-server + ovs-vswitchd started by hand at their default paths (so
 * a plain `ovs-vsctl`, as the step runs it, finds them), `br-int` with
 * `datapath_type=netdev`, and "VMs": network namespaces inside the host, each
 * plugged into br-int by a veth whose bridge end is named like Neutron's
 * `qvo` + 11 characters of a port id.
 */
import type { LabHost } from "../lab/lab";
import { raw, sh } from "../../core/shell";

export async function must(host: LabHost, cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await host.exec(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`${host.name}: ${cmd}\n-> exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

/** Starts ovsdb-server and ovs-vswitchd (userspace datapath) and makes `br-int`. */
export async function startOvs(host: LabHost): Promise<void> {
    await must(
        host,
        `set -e
         mkdir -p /run/openvswitch /var/log/openvswitch "$(dirname "$(readlink -f /etc/openvswitch/conf.db)")"
         rm -f "$(readlink -f /etc/openvswitch/conf.db)"
         ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
         ovsdb-server --remote=punix:/run/openvswitch/db.sock --pidfile --detach --log-file >/dev/null 2>&1 </dev/null
         ovs-vsctl --no-wait init
         ovs-vswitchd --pidfile --detach --log-file >/dev/null 2>&1 </dev/null
         ovs-vsctl add-br br-int -- set Bridge br-int datapath_type=netdev`,
    );
}

/** Stops both daemons (ovs-vswitchd removes the links it made). */
export async function stopOvs(host: LabHost): Promise<void> {
    await host.exec(`ovs-appctl -t ovs-vswitchd exit 2>/dev/null; ovs-appctl -t ovsdb-server exit 2>/dev/null; true`);
}

/** A "VM": a network namespace with `eth0` at `address`/24, plugged into br-int through port `port`. */
export interface Vm {
    name: string;
    port: string;
    address: string;
    /** MTU of the VM's link (e.g. 1450 on a VXLAN tenant network). @default 1500 */
    mtu?: number;
}

export async function addVm(host: LabHost, vm: Vm): Promise<void> {
    await must(
        host,
        sh`set -e
           ip netns add ${vm.name}
           ip link add ${vm.port} type veth peer name eth0 netns ${vm.name}
           ip link set ${vm.port} mtu ${vm.mtu ?? 1500} up
           ip netns exec ${vm.name} ip link set eth0 mtu ${vm.mtu ?? 1500}
           ip netns exec ${vm.name} ip addr add ${`${vm.address}/24`} dev eth0
           ip netns exec ${vm.name} ip link set eth0 up
           ip netns exec ${vm.name} ip link set lo up
           ovs-vsctl add-port br-int ${vm.port}`,
    );
}

/** `count` pings from one VM to an address (each answered within 1 s); true when all came back. */
export async function ping(host: LabHost, from: Vm, to: string, count = 3): Promise<boolean> {
    const r = await host.exec(sh`ip netns exec ${from.name} busybox ping -c ${count} -W 1 -i 0.2 ${to}`, { timeoutMs: 20_000 });
    return r.code === 0;
}

let captures = 0;

/**
 * Runs `tcpdump` (the command line given, e.g. a mirror's `tcpdump` output; `netns`
 * to run it in a namespace) while `traffic` runs: the traffic starts once tcpdump says
 * it is listening, and this tcpdump (not another capture's) is stopped with SIGINT (it
 * writes what it caught) 1.5 s after the traffic ends: libpcap hands packets over in
 * batches at most 1 s apart, and a SIGINT before the batch drops it. No fixed capture
 * window: on a loaded machine tcpdump can take more than a second to start and the
 * traffic several.
 */
export async function tcpdumpWhile(host: LabHost, tcpdump: string, traffic: () => Promise<unknown>, opts: { netns?: string; stdout?: string } = {}): Promise<void> {
    const files = `/tmp/hostwright-tcpdump-${++captures}`;
    const inNs = opts.netns ? sh`ip netns exec ${opts.netns} ` : "";
    // `ip netns exec` and timeout exec in turn: the pid is timeout's, which passes SIGINT on to tcpdump
    await must(
        host,
        sh`rm -f ${`${files}.err`}; (${raw(inNs)}timeout 60 ${raw(tcpdump)} >${opts.stdout ?? "/dev/null"} 2>${`${files}.err`} & echo $! > ${`${files}.pid`})
           for _ in $(seq 200); do grep -q 'listening on' ${`${files}.err`} 2>/dev/null && exit 0; sleep 0.1; done
           echo "tcpdump did not start listening in 20 s:"; cat ${`${files}.err`}; exit 1`,
    );
    try {
        await traffic();
    } finally {
        await must(host, sh`sleep 1.5; read -r pid < ${`${files}.pid`}; kill -INT "$pid" 2>/dev/null || true; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done`, 70_000);
    }
}

/** Captures ICMP on `iface` (tcpdump's one-line summaries) while `traffic` runs. */
export async function captureIcmp(host: LabHost, iface: string, traffic: () => Promise<unknown>): Promise<string[]> {
    const out = `/tmp/capture-${iface}.txt`;
    // a mirror keeps the packets' VLAN tags: match ICMP inside an 802.1Q header too
    await tcpdumpWhile(host, sh`tcpdump -nl -i ${iface} icmp or vlan and icmp`, traffic, { stdout: out });
    return (await must(host, sh`cat ${out}`)).split("\n").filter((l) => l.includes("ICMP"));
}

/**
 * The OVS database (Mirror, Port and Interface rows, counters left out) and the
 * host's links, as sorted text. Row ids are replaced by the rows' names, so a row
 * re-created with the same content (a VM port re-plugged) compares equal.
 */
export async function ovsSnapshot(host: LabHost): Promise<string> {
    const text = await must(
        host,
        `list() { echo "== $1"; ovs-vsctl --format=csv --no-headings --columns="$2" list "$1"; }
         list Mirror _uuid,name,external_ids,select_src_port,select_dst_port,select_all,select_vlan,output_port
         list Port _uuid,name,interfaces,external_ids
         list Interface _uuid,name,type,options,external_ids
         echo "== links"; ip -o link show | sed 's/: <.*//; s/^[0-9]*: //'`,
    );
    const names = new Map<string, string>();
    for (const line of text.split("\n")) {
        const m = /^([0-9a-f-]{36}),([^,]*),/.exec(line);
        if (m) names.set(m[1], m[2]);
    }
    const sections = text.split(/^(?===)/m).map((section) => {
        const [title, ...rows] = section.split("\n").filter(Boolean);
        const named = rows.map((row) => row.replace(/^[0-9a-f-]{36},/, "").replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => `<${names.get(id) ?? id}>`));
        return [title, ...named.sort()].join("\n");
    });
    return sections.join("\n");
}

/**
 * A remote collector reached through OVS's userspace tunnelling: bridge `br-phy`
 * (netdev) with address `local`/24 on its internal port and a veth to namespace
 * `name`, where the collector has `address`/24.
 */
export async function addCollector(host: LabHost, c: { name: string; local: string; address: string }): Promise<void> {
    await must(
        host,
        sh`set -e
           ovs-vsctl add-br br-phy -- set Bridge br-phy datapath_type=netdev
           ip netns add ${c.name}
           ip link add ul0 type veth peer name ul1 netns ${c.name}
           ip link set ul0 up
           ovs-vsctl add-port br-phy ul0
           ip addr add ${`${c.local}/24`} dev br-phy
           ip link set br-phy up
           ip netns exec ${c.name} ip addr add ${`${c.address}/24`} dev ul1
           ip netns exec ${c.name} ip link set ul1 up`,
    );
}

export async function removeCollector(host: LabHost, name: string): Promise<void> {
    await must(host, sh`ip netns del ${name}; ovs-vsctl del-br br-phy`);
}
