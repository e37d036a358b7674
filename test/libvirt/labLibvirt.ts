/**
 * Turns a lab host into a compute node as the libvirt-daemon-system and
 * nova-compute packages leave it (without systemd): stock config files with their
 * comments, the libvirt-qemu user, and a sysv init script that starts the real
 * libvirtd 9 with the arguments from /etc/default/libvirtd. No KVM: no VM runs,
 * but libvirtd accepts remote connections (qemu+tls, qemu+tcp) as on a real node.
 */
import type { LabHost } from "../lab/lab";

export const STOCK_LIBVIRTD_CONF = `# Master libvirt daemon configuration file
#
#################################################################
#
# Network connectivity controls
#

# Flag listening for secure TLS connections on the public TCP/IP port.
#
# To enable it, you must also pass the --listen flag to libvirtd
# when socket activation is not in use.
#
# This is enabled by default, uncomment this to disable it
#listen_tls = 0

# Listen for unencrypted TCP connections on the public TCP/IP port.
#listen_tcp = 1

# Override the default mDNS advertisement name.
#mdns_name = "Virtualization Host Joe Demo"

#################################################################
#
# UNIX socket access controls
#
unix_sock_group = "root"
unix_sock_rw_perms = "0770"

# Set an authentication scheme for UNIX read-only sockets
#auth_tcp = "sasl"
#auth_tls = "none"

#################################################################
#
# Logging controls
#
log_outputs="3:file:/var/log/libvirt/libvirtd.log"
`;

export const STOCK_DEFAULT_LIBVIRTD = `# Defaults for libvirtd initscript (/etc/init.d/libvirtd)
# This is a POSIX shell fragment

# Start libvirtd to handle qemu/kvm:
start_libvirtd="yes"

# options passed to libvirtd, add "--listen" to make it accept remote connections
LIBVIRTD_ARGS=""
`;

export const STOCK_SASL_CONF = `# If you want to use the non-TLS socket, then you *must* include
# the GSSAPI or SCRAM-SHA-256 mechanisms, because they are
# the only ones that can offer session encryption as well
# as authentication.
mech_list: gssapi

# Some older builds of MIT kerberos on Linux ignore this option &
# instead need KRB5_KTNAME env var.
#keytab: /etc/libvirt/krb5.tab
`;

/** A nova.conf as a deployment tool leaves it: comments, sections, secrets, the seed-era flag. */
export const STOCK_NOVA_CONF = `[DEFAULT]
# Written by the deployment tool -- do not remove this comment.
my_ip = 198.18.0.10
transport_url = rabbit://nova:rabbit-s3cret@controller:5672/
# The seed (2015) put this flag here by hand:
block_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC

[api_database]
connection = mysql+pymysql://nova:db-s3cret@controller/nova_api

[libvirt]
#
# Options in this section are for the libvirt driver.
#
virt_type = qemu
#live_migration_scheme = <None>
live_migration_tunnelled = true

[vnc]
enabled = true
`;

/** sysv init script: what the lab's hosts use instead of systemd units. */
export const INIT_SCRIPT = `#!/bin/sh
# libvirtd (lab stand-in for libvirt-daemon-system's init script)
PIDFILE=/run/libvirtd.pid
LIBVIRTD_ARGS=""
[ -r /etc/default/libvirtd ] && . /etc/default/libvirtd
running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
do_start() {
  running && return 0
  mkdir -p /run/libvirt /var/log/libvirt
  # shellcheck disable=SC2086
  /usr/sbin/libvirtd --daemon --pid-file "$PIDFILE" $LIBVIRTD_ARGS \${libvirtd_opts:-} </dev/null >/dev/null 2>&1 || { echo "libvirtd failed to start: $(tail -n 3 /var/log/libvirt/libvirtd.log)" >&2; return 1; }
  i=0
  while [ $i -lt 100 ]; do
    running && [ -S /run/libvirt/libvirt-sock ] && return 0
    i=$((i + 1)); sleep 0.1
  done
  echo "libvirtd did not come up" >&2; return 1
}
do_stop() {
  running || { rm -f "$PIDFILE"; return 0; }
  pid=$(cat "$PIDFILE"); kill "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
  rm -f "$PIDFILE"
}
case "$1" in
  start) do_start ;;
  stop) do_stop ;;
  restart|force-reload) do_stop; do_start ;;
  status) running ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
`;

/** nova-compute stand-in: no nova here, but the component's restarts are recorded. */
export const NOVA_INIT_SCRIPT = `#!/bin/sh
# nova-compute (lab stand-in): records each action with the nova.conf it would read
echo "$1 $(md5sum < /etc/nova/nova.conf | cut -c1-12)" >> /var/log/nova-compute-actions.log
`;

/** Files the component may change on a node, for before/after comparisons. */
export const WATCHED_FILES = [
    "/etc/libvirt/libvirtd.conf",
    "/etc/default/libvirtd",
    "/etc/sasl2/libvirt.conf",
    "/etc/nova/nova.conf",
    "/etc/pki/CA/cacert.pem",
    "/etc/pki/libvirt/servercert.pem",
    "/etc/pki/libvirt/private/serverkey.pem",
    "/etc/pki/libvirt/clientcert.pem",
    "/etc/pki/libvirt/private/clientkey.pem",
    "/etc/libvirt/auth.conf",
    "/etc/libvirt/passwd.db",
    "/etc/libvirt/hostwright-sasl-password",
    "/etc/libvirt/qemu.conf",
    "/etc/libvirt/virtqemud.conf",
];

async function ok(host: LabHost, cmd: string, input?: string): Promise<string> {
    const r = await host.exec(cmd, { input, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${host.name}: ${cmd.split("\n")[0]} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
}

/** RHEL's /etc/sysconfig/libvirtd as the libvirt-daemon package leaves it. */
export const STOCK_SYSCONFIG_LIBVIRTD = `# Override the default config file
# NOTE: This setting is no longer honoured if using
# systemd. Set '--config /etc/libvirt/libvirtd.conf'
# in LIBVIRTD_ARGS instead.
#LIBVIRTD_CONFIG=/etc/libvirt/libvirtd.conf

# Listen for TCP/IP connections
# NB. must setup TLS/SSL keys prior to using this
#LIBVIRTD_ARGS="--listen"
`;

/** Installs the stock files and starts libvirtd (local sockets only, as after package installation). */
export async function prepareComputeNode(host: LabHost): Promise<void> {
    await prepareComputeNodeAs(host, "debian");
}

/**
 * {@link prepareComputeNode} for an OS family: "rhel" lays the node out as RHEL does:
 * \`/etc/sysconfig/libvirtd\` (read by the init script instead of \`/etc/default/libvirtd\`)
 * and the \`openstack-nova-compute\` service.
 */
export async function prepareComputeNodeAs(host: LabHost, os: "debian" | "rhel"): Promise<void> {
    const rhel = os === "rhel";
    await ok(host, `set -e
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
getent group nova >/dev/null || groupadd -r nova
mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /etc/sasl2 /etc/nova /etc/init.d`);
    const files: Array<[string, string, string]> = [
        ["/etc/libvirt/libvirtd.conf", STOCK_LIBVIRTD_CONF, "0644"],
        rhel ? ["/etc/sysconfig/libvirtd", STOCK_SYSCONFIG_LIBVIRTD, "0644"] : ["/etc/default/libvirtd", STOCK_DEFAULT_LIBVIRTD, "0644"],
        ["/etc/sasl2/libvirt.conf", STOCK_SASL_CONF, "0644"],
        ["/etc/nova/nova.conf", STOCK_NOVA_CONF.replace("198.18.0.10", host.address), "0640"],
        ["/etc/init.d/libvirtd", rhel ? INIT_SCRIPT.replace(/\/etc\/default\/libvirtd/g, "/etc/sysconfig/libvirtd") : INIT_SCRIPT, "0755"],
        [rhel ? "/etc/init.d/openstack-nova-compute" : "/etc/init.d/nova-compute", NOVA_INIT_SCRIPT, "0755"],
    ];
    if (rhel) await ok(host, "mkdir -p /etc/sysconfig");
    for (const [path, content, mode] of files) await ok(host, `cat > '${path}' && chmod ${mode} '${path}'`, content);
    await ok(host, "chgrp nova /etc/nova/nova.conf && service libvirtd start");
}

/** Path -> content (or null when absent) of the watched files, plus whether libvirtd runs and listens. */
export async function nodeSnapshot(host: LabHost): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    for (const path of WATCHED_FILES) {
        const r = await host.exec(`[ -e '${path}' ] && { stat -c '%a %U:%G' '${path}'; md5sum < '${path}' | cut -c1-12; }`);
        out[path] = r.code === 0 ? r.stdout : null;
    }
    out.libvirtd = (await host.exec("service libvirtd status && echo running || echo stopped")).stdout.trim();
    out.listening = (await host.exec("ss -Hltn '( sport = :16509 or sport = :16514 )' | awk '{ print $4 }' | sort | tr '\\n' ' '")).stdout.trim();
    // data-plane listeners of the peer check (the bracket keeps pgrep from matching its own shell)
    out.migrationPortListeners = (await host.exec("pgrep -fc 'hostwright-migration-port-liste[n]er' || true")).stdout.trim();
    return out;
}

/** The nova-compute actions recorded so far (one "ACTION NOVA_CONF_MD5" per line). */
export async function novaActions(host: LabHost): Promise<string[]> {
    return (await host.exec("cat /var/log/nova-compute-actions.log 2>/dev/null || true")).stdout.split("\n").filter(Boolean);
}

/** Stops libvirtd (the lab's `down` would kill it anyway; tests stop their own daemons). */
export async function stopLibvirt(host: LabHost): Promise<void> {
    await host.exec("service libvirtd stop");
}
