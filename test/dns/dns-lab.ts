/**
 * Lab set-up for the resolver e2e tests: test DNS servers (dnsmasq answering a test
 * zone), a host's own cache (dnsmasq or unbound started through init.d scripts, as
 * `serviceCommand` does on sysv hosts), and DHCP renewals through the real dhclient-script.
 */
import type { LabHost } from "../lab/lab";
import { sh } from "../../core/shell";

export async function must(host: LabHost, cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await host.exec(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`${host.name}: ${cmd}\n-> exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
}

export const QUERY_LOG = "/tmp/dns-queries.log";

/** A test name server on `host`: dnsmasq answering `records` (name -> IPv4) and nothing else, logging every query. */
export async function startTestServer(host: LabHost, records: Record<string, string>): Promise<void> {
    const hostRecords = Object.entries(records).map(([n, ip]) => `--host-record=${n},${ip}`);
    await must(
        host,
        sh`dnsmasq --no-resolv --no-hosts --bind-interfaces ${`--listen-address=${host.address}`} --except-interface=lo ${hostRecords} --log-queries ${`--log-facility=${QUERY_LOG}`} --pid-file=/run/dnsmasq-test.pid --user=root --group=root`,
    );
}

/** The names a test server was asked for since the last {@link clearQueryLog}. */
export async function queriedNames(host: LabHost): Promise<string[]> {
    const log = await must(host, sh`cat ${QUERY_LOG} 2>/dev/null || true`);
    return [...log.matchAll(/query\[[A-Z]+\] (\S+) from/g)].map((m) => m[1]);
}

export async function clearQueryLog(host: LabHost): Promise<void> {
    await must(host, sh`: > ${QUERY_LOG}`);
}

/**
 * What Debian's dnsmasq package gives a host, for a lab host with only dnsmasq-base:
 * /etc/dnsmasq.conf (upstream `upstream`, on 127.0.0.1 only), /etc/dnsmasq.d and an
 * init script reading it like the package's (`-7 /etc/dnsmasq.d,...`).
 */
export async function installDnsmasqService(host: LabHost, upstream: string): Promise<void> {
    const conf = `no-resolv\nno-hosts\nserver=${upstream}\nlisten-address=127.0.0.1\nbind-interfaces\nuser=root\ngroup=root\n`;
    const init = `#!/bin/sh
# Lab stand-in for the dnsmasq package's init script.
PIDFILE=/run/dnsmasq/dnsmasq.pid
start() { mkdir -p /run/dnsmasq; dnsmasq -x $PIDFILE -7 /etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new --conf-file=/etc/dnsmasq.conf; }
stop() { [ -f $PIDFILE ] && kill $(cat $PIDFILE) 2>/dev/null; while [ -f $PIDFILE ] && kill -0 $(cat $PIDFILE) 2>/dev/null; do sleep 0.05; done; rm -f $PIDFILE; }
case "$1" in
  start) start ;;
  stop) stop ;;
  restart|force-reload) stop; start ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 3 ;;
esac
`;
    await host.exec("mkdir -p /etc/dnsmasq.d && cat > /etc/dnsmasq.conf", { input: conf });
    await host.exec("cat > /etc/init.d/dnsmasq && chmod 755 /etc/init.d/dnsmasq", { input: init });
    await must(host, "service dnsmasq start >/dev/null 2>&1 </dev/null");
}

/** unbound as the host's cache: everything not pinned goes to `upstream`; no DNSSEC (the test zone is unsigned). */
export async function installUnboundConfig(host: LabHost, upstream: string): Promise<void> {
    const conf = `server:
    interface: 127.0.0.1
    username: ""
    chroot: ""
    directory: "/etc/unbound"
    pidfile: "/run/unbound.pid"
    use-syslog: no
    module-config: "iterator"
    do-ip6: no
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: ${upstream}
include-toplevel: "/etc/unbound/unbound.conf.d/*.conf"
`;
    // The machine's conf.d files want a trust anchor and control keys the lab has no use for.
    await host.exec("rm -f /etc/unbound/unbound.conf.d/*.conf && cat > /etc/unbound/unbound.conf", { input: conf });
}

/** The first A record the cache on `host` gives for `name` ("" when none). */
export async function digA(host: LabHost, name: string): Promise<string> {
    return (await must(host, sh`dig +short +time=2 +tries=2 @127.0.0.1 ${name} A`)).trim();
}

/** Waits (up to 5 s) until the cache on `host` answers `name`: a daemon just started may not listen yet. */
export async function waitForCache(host: LabHost, name: string): Promise<void> {
    await must(host, sh`for i in $(seq 50); do [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 ${name} A)" ] && exit 0; sleep 0.1; done; exit 1`);
}

/**
 * A DHCP renewal as dhclient runs it: the real dhclient-script with reason BOUND and a
 * lease offering other name servers (the interface keeps its lab address).
 */
export async function dhcpBound(host: LabHost): Promise<void> {
    const env = [
        "reason=BOUND",
        "interface=eth0",
        `new_ip_address=${host.address}`,
        "new_subnet_mask=255.254.0.0",
        "new_domain_name_servers=203.0.113.53 203.0.113.54",
        "new_domain_name=dhcp.test",
        "new_domain_search=dhcp.test",
    ];
    // "Address already assigned" from `ip addr add` is expected: the lease is the current address.
    await must(host, sh`env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${env} /sbin/dhclient-script 2>/dev/null`);
}

/** A DHCP server on `host` (dnsmasq, DHCP only) whose leases name other name servers. */
export async function startDhcpServer(host: LabHost): Promise<void> {
    await must(
        host,
        sh`dnsmasq --port=0 --bind-interfaces --interface=eth0 --except-interface=lo --dhcp-range=198.18.1.100,198.18.1.150,255.254.0.0,10m --dhcp-option=option:dns-server,203.0.113.77 --dhcp-option=option:domain-name,lease.test --dhcp-leasefile=/tmp/dhcp.leases --pid-file=/run/dnsmasq-dhcp.pid --user=root --group=root`,
    );
}

/**
 * A real lease: dhclient asks the lab's DHCP server once (its dhclient-script runs
 * with reason BOUND), then stops without releasing (a release would flush every
 * address labelled eth0, the host's lab address too).
 */
export async function dhclientLease(host: LabHost): Promise<string> {
    const out = await must(host, "dhclient -1 -v -sf /sbin/dhclient-script -pf /run/hw-dhclient.pid -lf /tmp/hw-dhclient.leases eth0 2>&1", 30_000);
    await must(host, "dhclient -x -pf /run/hw-dhclient.pid -sf /sbin/dhclient-script eth0 >/dev/null 2>&1");
    return /bound to (\S+)/.exec(out)?.[1] ?? "";
}

/**
 * Lab stand-in for the resolvconf package's enter hook, which also redefines
 * make_resolv_conf: this one writes the lease's name servers into /etc/resolv.conf,
 * so a guard hook sorting before it would lose.
 */
export const RESOLVCONF_HOOK = `make_resolv_conf() {
    { for ns in $new_domain_name_servers; do echo "nameserver $ns"; done; } > /etc/resolv.conf
}
`;

export const NMCLI_LOG = "/tmp/nmcli.log";

/**
 * NetworkManager is not on the build machines. Stand-ins: a process named
 * NetworkManager (a copy of sleep, found by pidof), an nmcli that logs its arguments,
 * and the package's /etc/NetworkManager/conf.d.
 */
export async function startNetworkManagerStandIn(host: LabHost): Promise<void> {
    await host.exec("cat > /usr/bin/nmcli && chmod 755 /usr/bin/nmcli", { input: `#!/bin/sh\necho "$*" >> ${NMCLI_LOG}\n` });
    // Started in the background: wait until it runs under its name (a loaded machine may take a while to exec it).
    await must(host, "mkdir -p /etc/NetworkManager/conf.d && cp /bin/sleep /usr/sbin/NetworkManager && (/usr/sbin/NetworkManager 600 >/dev/null 2>&1 </dev/null &) && for i in $(seq 100); do pidof NetworkManager >/dev/null && exit 0; sleep 0.1; done; echo 'the NetworkManager stand-in did not start within 10 s' >&2; exit 1");
}

export async function stopNetworkManagerStandIn(host: LabHost): Promise<void> {
    await must(host, "kill $(pidof NetworkManager); rm -rf /usr/bin/nmcli /usr/sbin/NetworkManager /etc/NetworkManager");
}
