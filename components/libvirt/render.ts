/**
 * Pure rendering: validated {@link LiveMigrationArgs} -> one configuration step
 * per node and one peer-check step per node (run after every node is configured).
 *
 * What a node's libvirt needs depends on how its daemon runs, which only the host
 * knows, so the step detects it first (preflight) and the file edits and service
 * actions branch on the result:
 * - `legacy`: libvirtd started with `--listen` (LIBVIRTD_ARGS / libvirtd_opts in
 *   /etc/sysconfig|default/libvirtd) reading listen_tls/listen_tcp/listen_addr;
 *   sysvinit hosts and libvirt < 5.6.
 * - `socket`: systemd socket activation (libvirt >= 5.6): `--listen` is fatal and
 *   the listen_* settings are ignored; the step removes `--listen`, enables
 *   `libvirtd-tls.socket` / `libvirtd-tcp.socket` (or the modular `virtproxyd-*`
 *   sockets when virtqemud is in use) and binds an address/port with a drop-in.
 */
import type * as pulumi from "@pulumi/pulumi";
import { contentHash } from "../../core/hash";
import { serviceCommand } from "../../core/host";
import { inParallel, raw, sh, shq } from "../../core/shell";
import type { ManagedFile, EditedFile } from "../../core/step";
import type { LiveMigrationArgs, LiveMigrationNode, MigrationAuth, MigrationTransport } from "./args";
import { migrationAddressOf } from "./checks";
import { IniEdit, iniEditFilter, iniEditorFunction } from "./ini";
import { novaEdits } from "./nova";
import { dataPlaneChecks, migrationPorts, NodeFacts, pairCpu } from "./dataplane";

export const PATHS = {
    caCert: "/etc/pki/CA/cacert.pem",
    serverCert: "/etc/pki/libvirt/servercert.pem",
    serverKey: "/etc/pki/libvirt/private/serverkey.pem",
    clientCert: "/etc/pki/libvirt/clientcert.pem",
    clientKey: "/etc/pki/libvirt/private/clientkey.pem",
    qemuDir: "/etc/pki/qemu",
    libvirtdConf: "/etc/libvirt/libvirtd.conf",
    virtproxydConf: "/etc/libvirt/virtproxyd.conf",
    saslConf: "/etc/sasl2/libvirt.conf",
    saslDb: "/etc/libvirt/passwd.db",
    saslPassword: "/etc/libvirt/hostwright-sasl-password",
    clientAuth: "/etc/libvirt/auth.conf",
    novaConf: "/etc/nova/nova.conf",
    qemuConf: "/etc/libvirt/qemu.conf",
    virtqemudConf: "/etc/libvirt/virtqemud.conf",
} as const;

const DEFAULT_PORT: Record<"tls" | "tcp", number> = { tls: 16514, tcp: 16509 };

/**
 * A file of a step; `secret` ones become Pulumi secrets in the component. A key given as
 * a Pulumi output stays one here (the component hands it on as a secret file content).
 */
export type RenderedFile = Omit<ManagedFile, "content"> & { content: pulumi.Input<string>; secret?: boolean };

/** What the component hands to `remoteStep` (contents still plain). */
export interface RenderedStep {
    description: string;
    files: RenderedFile[];
    edits: EditedFile[];
    preflight: string;
    activate: string;
    reactivate?: string;
    undo?: string;
    afterRestore?: string;
    /** Read-only drift check of what the step keeps running (core StepSpec.verify). */
    verify?: string;
    /** Functions shared by the fragments (core StepSpec.helpers). */
    helpers?: string;
}

/**
 * `hw_libvirt_not_listening`: one line per reason libvirt does not listen as declared
 * (nothing on the port; a legacy libvirtd running without --listen), nothing when it
 * does. Activation restarts libvirtd on it; the drift check reports it.
 */
function notListeningFunction(port: number, transport: string, hostName: string): string {
    return `hw_libvirt_not_listening() {
  ss -Hltn ${sh`sport = :${port}`} | grep -q . || echo ${shq(`nothing listens on port ${port} (${transport}) on ${hostName}: libvirtd restarted without listening?`)}
  if [ "$HW_LIBVIRT_MODE" = legacy ]; then
    hw_pid=$(pidof libvirtd | cut -d' ' -f1)
    if [ -z "$hw_pid" ]; then echo "libvirtd is not running"
    elif ! tr '\\0' ' ' < "/proc/$hw_pid/cmdline" | grep -q -- ' --listen'; then echo "libvirtd runs without --listen (pid $hw_pid: $(tr '\\0' ' ' < "/proc/$hw_pid/cmdline" | cut -c1-120))"; fi
  fi
}`;
}

/** Args with every default filled in. */
export interface Plan {
    transport: MigrationTransport;
    auth: MigrationAuth;
    port: number;
    nodes: Array<LiveMigrationNode & { migrationAddress: string; uri: string }>;
    args: LiveMigrationArgs;
}

/** The libvirt URI nova and the peer check use to reach a node. */
export function libvirtUri(transport: MigrationTransport, address: string, port?: number): string {
    const host = address.includes(":") ? `[${address}]` : address;
    if (transport === "ssh") return `qemu+ssh://${host}/system`;
    return `qemu+${transport}://${host}${port && port !== DEFAULT_PORT[transport] ? `:${port}` : ""}/system`;
}

export function plan(args: LiveMigrationArgs): Plan {
    const transport = args.transport ?? "tls";
    const auth = args.auth ?? (transport === "tcp" ? "sasl" : "none");
    const port = transport === "tcp" ? (args.tcpPort ?? 16509) : (args.tlsPort ?? 16514);
    return {
        transport,
        auth,
        port,
        args,
        nodes: args.nodes.map((n) => ({ ...n, migrationAddress: migrationAddressOf(n), uri: libvirtUri(transport, migrationAddressOf(n), port) })),
    };
}

const q = (s: string) => `"${s}"`;

/** libvirtd.conf / virtproxyd.conf edits for the transport. */
function daemonConfEdits(p: Plan, node: Plan["nodes"][number]): IniEdit[] {
    const set = (key: string, value: string): IniEdit => ({ op: "set", section: "", key, value });
    const unset = (key: string): IniEdit => ({ op: "unset", section: "", key });
    const listen = node.listenAddress ? set("listen_addr", q(node.listenAddress)) : unset("listen_addr");
    if (p.transport === "tcp") {
        return [set("listen_tls", "0"), set("listen_tcp", "1"), set("tcp_port", q(String(p.port))), set("auth_tcp", q(p.auth)), listen];
    }
    const dns = p.args.tls?.allowedClientDns;
    return [
        set("listen_tls", "1"),
        set("listen_tcp", "0"),
        set("tls_port", q(String(p.port))),
        set("auth_tls", q(p.auth)),
        listen,
        set("key_file", q(PATHS.serverKey)),
        set("cert_file", q(PATHS.serverCert)),
        set("ca_file", q(PATHS.caCert)),
        dns ? set("tls_allowed_dn_list", `[${dns.map(q).join(", ")}]`) : unset("tls_allowed_dn_list"),
    ];
}

function hostUuidEdit(uuid: string): IniEdit {
    return { op: "set", section: "", key: "host_uuid", value: q(uuid.toLowerCase()) };
}

/** `/etc/libvirt/auth.conf` (GKeyFile): the SASL credentials this node's clients use for its peers. */
export function clientAuthConf(username: string, password: string, peers: string[]): string {
    const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/^ /, "\\s");
    return [
        "# hostwright: SASL credentials for libvirt live migration between the group's nodes",
        "[credentials-hostwright-migration]",
        `authname=${escape(username)}`,
        `password=${escape(password)}`,
        ...peers.flatMap((peer) => ["", `[auth-libvirt-${peer}]`, "credentials=hostwright-migration"]),
        "",
    ].join("\n");
}

/** Shell functions the node steps use: daemon-mode detection, service probe, QEMU report. */
export function libvirtFunctions(): string {
    return `hw_service_exists() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl cat "$1" >/dev/null 2>&1; else [ -x "/etc/init.d/$1" ]; fi
}
hw_libvirt_detect() {
  # sets HW_LIBVIRT_DAEMON (libvirtd|virtproxyd) and HW_LIBVIRT_MODE (legacy|socket);
  # systemd is running when its runtime directory exists (sd_booted), $1 in tests
  HW_LIBVIRT_DAEMON=libvirtd
  HW_LIBVIRT_MODE=legacy
  if [ -d "\${1:-/run/systemd/system}" ] && command -v systemctl >/dev/null 2>&1; then
    if systemctl cat virtproxyd-tls.socket >/dev/null 2>&1 && { systemctl is-enabled --quiet virtqemud.socket 2>/dev/null || systemctl is-active --quiet virtqemud.service 2>/dev/null; } \\
       && ! systemctl is-enabled --quiet libvirtd.service 2>/dev/null; then
      HW_LIBVIRT_DAEMON=virtproxyd
      HW_LIBVIRT_MODE=socket
    elif systemctl cat libvirtd-tls.socket >/dev/null 2>&1; then
      HW_LIBVIRT_MODE=socket
    fi
  fi
  if [ "$HW_LIBVIRT_DAEMON" = libvirtd ]; then
    HW_LIBVIRT_VERSION=$(libvirtd --version 2>/dev/null | awk '{ print $NF }')
  else
    HW_LIBVIRT_VERSION=$(virtproxyd --version 2>/dev/null | awk '{ print $NF }')
  fi
  HW_LIBVIRT_UNITS="$HW_LIBVIRT_DAEMON.socket $HW_LIBVIRT_DAEMON-ro.socket $HW_LIBVIRT_DAEMON-admin.socket"
}
hw_qemu_report() {
  # hw_qemu_report CANDIDATE...: the first QEMU binary found, and whether it can do block migration
  hw_qemu=""
  for hw_q in "$@"; do if [ -x "$hw_q" ]; then hw_qemu=$hw_q; break; fi; done
  if [ -z "$hw_qemu" ]; then
    hw_warn "no QEMU binary found: install qemu-kvm (RHEL) or qemu-system-x86 (Debian) before migrating"
    return 0
  fi
  hw_qv=$("$hw_qemu" -version 2>/dev/null | head -n 1 | sed -n 's/.*version \\([0-9][0-9.]*\\).*/\\1/p')
  hw_output qemu "$hw_qemu $hw_qv"
  hw_qmajor=\${hw_qv%%.*}
  hw_qminor=\${hw_qv#*.}; hw_qminor=\${hw_qminor%%.*}
  if command -v rpm >/dev/null 2>&1 && rpm -q qemu-kvm >/dev/null 2>&1 && ! rpm -q qemu-kvm-ev >/dev/null 2>&1 && ! rpm -q qemu-kvm-rhev >/dev/null 2>&1 \\
     && [ "\${hw_qmajor:-0}" -lt 2 ]; then
    hw_warn "QEMU $hw_qv here is the distribution's qemu-kvm, built without block migration (drive-mirror/NBD): nova live-migration --block-migrate fails with 'this feature or command is not currently supported'; install qemu-kvm-ev (CentOS Virt SIG / oVirt repository) or use shared storage"
  elif [ -n "$hw_qv" ] && { [ "\${hw_qmajor:-0}" -lt 1 ] || { [ "$hw_qmajor" -eq 1 ] && [ "\${hw_qminor:-0}" -lt 3 ]; }; }; then
    hw_warn "QEMU $hw_qv is older than 1.3 and has no NBD server: block migration is not possible"
  fi
}`;
}

export const QEMU_CANDIDATES = ["/usr/libexec/qemu-kvm", "/usr/bin/qemu-kvm", "/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-aarch64", "/usr/bin/qemu-system-ppc64le", "/usr/bin/qemu-system-s390x"];

/** The configuration step of node `index`. */
export function renderNodeStep(args: LiveMigrationArgs, index: number): RenderedStep {
    const p = plan(args);
    const node = p.nodes[index];
    const host = node.host;
    const os = host.os ?? "debian";
    const files: RenderedFile[] = [];
    const edits: EditedFile[] = [];
    const listening = p.transport !== "ssh";
    const novaConf = args.nova?.configPath ?? PATHS.novaConf;
    const libvirtPaths: string[] = [];

    if (p.transport === "tls") {
        const tls = node.tls!;
        files.push(
            { path: PATHS.caCert, content: args.tls!.caCertificate },
            { path: PATHS.serverCert, content: tls.serverCertificate },
            { path: PATHS.serverKey, content: tls.serverKey, mode: "0600", secret: true },
            { path: PATHS.clientCert, content: tls.clientCertificate },
            { path: PATHS.clientKey, content: tls.clientKey, mode: "0600", secret: true },
        );
        if (args.nova?.nativeTls) {
            const group = args.nova.qemuGroup ?? (os === "rhel" ? "qemu" : "libvirt-qemu");
            files.push(
                { path: `${PATHS.qemuDir}/ca-cert.pem`, content: args.tls!.caCertificate },
                { path: `${PATHS.qemuDir}/server-cert.pem`, content: tls.serverCertificate },
                { path: `${PATHS.qemuDir}/server-key.pem`, content: tls.serverKey, mode: "0640", group, secret: true },
                { path: `${PATHS.qemuDir}/client-cert.pem`, content: tls.clientCertificate },
                { path: `${PATHS.qemuDir}/client-key.pem`, content: tls.clientKey, mode: "0640", group, secret: true },
            );
        }
    }
    if (p.auth === "sasl") {
        const sasl = args.sasl!;
        const mech = sasl.mechanism ?? (p.transport === "tls" ? "scram-sha-256" : "digest-md5");
        files.push(
            { path: PATHS.saslConf, content: `# hostwright: SASL for libvirt live migration\nmech_list: ${mech}\nsasldb_path: ${PATHS.saslDb}\n` },
            { path: PATHS.saslPassword, content: sasl.password, mode: "0600", secret: true },
            {
                path: PATHS.clientAuth,
                content: clientAuthConf(sasl.username ?? "nova", sasl.password, p.nodes.filter((_, i) => i !== index).map((n) => n.migrationAddress)),
                mode: "0640",
                group: sasl.clientGroup ?? "root",
                secret: true,
            },
        );
    }
    libvirtPaths.push(...files.map((f) => f.path).filter((f) => f !== PATHS.clientAuth));

    if (listening) {
        const confEdits = daemonConfEdits(p, node);
        for (const [daemon, path] of [["libvirtd", PATHS.libvirtdConf], ["virtproxyd", PATHS.virtproxydConf]] as const) {
            // libvirtd's QEMU driver reads host_uuid from its own file (virtproxyd's does not: virtqemud.conf below)
            const daemonEdits = daemon === "libvirtd" && node.hostUuid ? [...confEdits, hostUuidEdit(node.hostUuid)] : confEdits;
            edits.push({ path, filter: sh`if [ "$HW_LIBVIRT_DAEMON" = ${daemon} ]; then ${raw(iniEditFilter(daemonEdits))}; else cat; fi` });
            libvirtPaths.push(path);
        }
        const sysconfig = os === "rhel" ? "/etc/sysconfig/libvirtd" : "/etc/default/libvirtd";
        const variables = ["LIBVIRTD_ARGS", "libvirtd_opts"];
        edits.push({
            path: sysconfig,
            filter: `if [ "$HW_LIBVIRT_MODE" = legacy ]; then ${iniEditFilter([{ op: "addWord", variables, word: "--listen" }])}; elif [ "$HW_LIBVIRT_DAEMON" = libvirtd ]; then ${iniEditFilter([{ op: "removeWord", variables, word: "--listen" }])}; else cat; fi`,
        });
        libvirtPaths.push(sysconfig);
        // Under socket activation the address/port live in the socket unit: a drop-in resets ListenStream.
        if (node.listenAddress || p.port !== DEFAULT_PORT[p.transport as "tls" | "tcp"]) {
            const bind = node.listenAddress ? `${node.listenAddress.includes(":") ? `[${node.listenAddress}]` : node.listenAddress}:${p.port}` : String(p.port);
            const content = `# hostwright: libvirt live migration listens on ${bind} only\n[Socket]\nListenStream=\nListenStream=${bind}\n`;
            for (const daemon of ["libvirtd", "virtproxyd"]) {
                const path = `/etc/systemd/system/${daemon}-${p.transport}.socket.d/hostwright-listen.conf`;
                edits.push({ path, filter: sh`if [ "$HW_LIBVIRT_MODE" = socket ] && [ "$HW_LIBVIRT_DAEMON" = ${daemon} ]; then printf '%s' ${content}; else cat; fi` });
                libvirtPaths.push(path);
            }
        }
    }
    if (args.migrationPortMin !== undefined || args.migrationPortMax !== undefined) {
        const { min, max } = migrationPorts(args);
        // read by the QEMU driver when the daemon starts: a change restarts it like the others
        edits.push({ path: PATHS.qemuConf, filter: iniEditFilter([{ op: "set", section: "", key: "migration_port_min", value: String(min) }, { op: "set", section: "", key: "migration_port_max", value: String(max) }]) });
        libvirtPaths.push(PATHS.qemuConf);
    }
    if (node.hostUuid !== undefined) {
        const uuid = iniEditFilter([hostUuidEdit(node.hostUuid)]);
        // the QEMU driver's UUID: libvirtd's own file, or virtqemud's under modular daemons
        if (!listening) edits.push({ path: PATHS.libvirtdConf, filter: sh`if [ "$HW_LIBVIRT_DAEMON" = libvirtd ]; then ${raw(uuid)}; else cat; fi` });
        edits.push({ path: PATHS.virtqemudConf, filter: sh`if [ "$HW_LIBVIRT_DAEMON" = virtproxyd ]; then ${raw(uuid)}; else cat; fi` });
        libvirtPaths.push(...(listening ? [] : [PATHS.libvirtdConf]), PATHS.virtqemudConf);
    }
    if (args.nova) {
        const customPort = p.transport !== "ssh" && p.port !== DEFAULT_PORT[p.transport] ? p.port : undefined;
        edits.push({ path: novaConf, filter: iniEditFilter(novaEdits(args.nova, { transport: p.transport, migrationAddress: node.migrationAddress, customPort })), mode: "0640" });
    }

    const restartLibvirt = args.restartLibvirt ?? true;
    const legacyRestart = serviceCommand(host, "libvirtd", "restart");
    const legacyStart = serviceCommand(host, "libvirtd", "start");
    const legacyStop = serviceCommand(host, "libvirtd", "stop");
    const novaService = args.nova?.service ?? (os === "rhel" ? "openstack-nova-compute" : "nova-compute");
    const socketUnit = `"$HW_LIBVIRT_DAEMON-${p.transport}.socket"`;

    const preflight = `${iniEditorFunction()}
${libvirtFunctions()}
hw_libvirt_detect
${sh`[ "$HW_LIBVIRT_DAEMON" = virtproxyd ] || command -v libvirtd >/dev/null 2>&1 || hw_fail ${`libvirtd is not installed on ${host.name}`}`}
${args.nova ? sh`[ -f ${novaConf} ] || hw_fail ${`${novaConf} does not exist on ${host.name}: install nova-compute first, or leave nova unset`}` : ""}
hw_output daemon "$HW_LIBVIRT_DAEMON $HW_LIBVIRT_MODE"
hw_output libvirt "$HW_LIBVIRT_VERSION"
${sh`hw_output uri ${node.uri}`}`;

    const libvirtChanged = libvirtPaths.map((path) => sh`hw_changed ${path}`).join(" || ");
    const activate = `${sh`hw_libvirt_state=$HW_STATE/libvirt-service-state`}
# the service state before the first apply, for destroy
if [ ! -e "$hw_libvirt_state" ]; then
  { echo "daemon=$HW_LIBVIRT_DAEMON"; echo "mode=$HW_LIBVIRT_MODE"
    if pidof libvirtd >/dev/null 2>&1; then echo "running=1"; else echo "running=0"; fi
    if [ "$HW_LIBVIRT_MODE" = socket ]; then
      systemctl is-active --quiet "$HW_LIBVIRT_DAEMON.service" && echo "service_active=1" || echo "service_active=0"
      for hw_u in $HW_LIBVIRT_UNITS ${listening ? socketUnit : ""}; do systemctl is-enabled --quiet "$hw_u" && echo "enabled $hw_u" || echo "disabled $hw_u"; done
    fi; } > "$hw_libvirt_state"
fi
${p.auth === "sasl" ? saslActivate(args.sasl!.username ?? "nova") : ""}
${listening && restartLibvirt ? `if [ "$HW_LIBVIRT_MODE" = legacy ]; then
  if ${libvirtChanged || "false"}; then hw_log "restarting libvirtd (legacy --listen mode)"; ${legacyRestart}
  elif ! pidof libvirtd >/dev/null 2>&1; then hw_log "starting libvirtd"; ${legacyStart}
  elif [ -n "$(hw_libvirt_not_listening)" ]; then hw_log "libvirtd does not listen as declared ($(hw_libvirt_not_listening | tr '\\n' ' ')): restarting it"; ${legacyRestart}; fi
else
  systemctl daemon-reload
  hw_newly=""
  for hw_u in $HW_LIBVIRT_UNITS ${socketUnit}; do systemctl is-enabled --quiet "$hw_u" || hw_newly="$hw_newly $hw_u"; done
  if [ -n "$hw_newly" ] || ${libvirtChanged || "false"}; then
    hw_log "socket activation: restarting $HW_LIBVIRT_DAEMON with its ${p.transport} socket"
    systemctl stop "$HW_LIBVIRT_DAEMON.service" $HW_LIBVIRT_UNITS ${socketUnit}
    systemctl enable $HW_LIBVIRT_UNITS ${socketUnit}
    systemctl start $HW_LIBVIRT_UNITS ${socketUnit}
    systemctl start "$HW_LIBVIRT_DAEMON.service"
  fi
fi` : ""}
${args.nova ? `if ${sh`hw_changed ${novaConf}`}; then
  ${args.nova.restart ?? true ? `if hw_service_exists ${sh`${novaService}`}; then ${sh`hw_log ${`restarting ${novaService}`}`}; ${serviceCommand(host, novaService, "restart")}; else ${sh`hw_warn ${`nova.conf changed but service ${novaService} is not installed here: restart nova-compute yourself`}`}; fi` : sh`hw_warn ${`nova.conf changed: restart ${novaService} to apply it (nova.restart is false)`}`}
fi` : ""}
${sh`hw_qemu_report ${QEMU_CANDIDATES}`}`;

    // After a failed activation the previous files are back: bring libvirt back on them.
    const reactivate = listening && restartLibvirt ? `if [ "$HW_LIBVIRT_MODE" = legacy ]; then ${legacyRestart} || true; else systemctl daemon-reload; systemctl restart "$HW_LIBVIRT_DAEMON.service" || true; fi` : undefined;

    // Undo acts on the mode the apply found (recorded), not on what the host looks like now.
    const undo = `${libvirtFunctions()}
if [ -e "$HW_STATE/libvirt-service-state" ]; then
  HW_LIBVIRT_DAEMON=$(sed -n 's/^daemon=//p' "$HW_STATE/libvirt-service-state")
  HW_LIBVIRT_MODE=$(sed -n 's/^mode=//p' "$HW_STATE/libvirt-service-state")
else
  hw_libvirt_detect
fi
${p.auth === "sasl" ? saslUndo() : ""}
${listening ? `if [ "$HW_LIBVIRT_MODE" = socket ] && [ -e "$HW_STATE/libvirt-service-state" ]; then
  for hw_u in $(sed -n 's/^disabled //p' "$HW_STATE/libvirt-service-state"); do systemctl disable --now "$hw_u" || true; done
fi` : ""}`;

    // Destroy brings the service state back even when apply was told not to restart.
    const afterRestore = `${listening ? `hw_was_running=$(sed -n 's/^running=//p' "$HW_STATE/libvirt-service-state" 2>/dev/null || true)
if [ "$HW_LIBVIRT_MODE" = legacy ]; then
  if [ "$hw_was_running" = 0 ]; then ${legacyStop} || true; else ${legacyRestart}; fi
else
  systemctl daemon-reload
  if grep -qx service_active=1 "$HW_STATE/libvirt-service-state" 2>/dev/null; then systemctl restart "$HW_LIBVIRT_DAEMON.service"; else systemctl stop "$HW_LIBVIRT_DAEMON.service" || true; fi
fi` : ":"}
${args.nova && (args.nova.restart ?? true) ? `if hw_service_exists ${sh`${novaService}`}; then ${serviceCommand(host, novaService, "restart")} || ${sh`hw_warn ${`could not restart ${novaService} after restoring nova.conf`}`}; fi` : ""}`;

    // Read-only, after the preflight (which detected the daemon and its mode).
    const verify = listening ? `hw_libvirt_not_listening | while IFS= read -r hw_why; do hw_drift "$hw_why"; done` : undefined;

    return {
        description: `libvirt live migration (${p.transport}, auth ${p.auth}) on ${host.name}`,
        helpers: listening ? notListeningFunction(p.port, p.transport, host.name) : undefined,
        files,
        edits,
        preflight,
        activate,
        reactivate,
        undo,
        afterRestore,
        verify,
    };
}

/** SASL: the password database is binary, so it is backed up here (once) instead of as a managed file. */
function saslActivate(username: string): string {
    return `command -v saslpasswd2 >/dev/null 2>&1 || hw_fail "saslpasswd2 is not installed (package sasl2-bin on Debian, cyrus-sasl on RHEL)"
if [ ! -e "$HW_STATE/sasldb.saved" ]; then
  if [ -e ${PATHS.saslDb} ]; then cp -a ${PATHS.saslDb} "$HW_STATE/sasldb.orig"; fi
  : > "$HW_STATE/sasldb.saved"
fi
${sh`saslpasswd2 -p -a libvirt -f ${PATHS.saslDb} -c ${username} < ${PATHS.saslPassword}`}
hw_log "SASL user ${username} set in ${PATHS.saslDb}"`;
}

function saslUndo(): string {
    return `if [ -e "$HW_STATE/sasldb.saved" ]; then
  if [ -e "$HW_STATE/sasldb.orig" ]; then cp -a "$HW_STATE/sasldb.orig" ${PATHS.saslDb}; else rm -f ${PATHS.saslDb}; fi
fi`;
}

/**
 * The peer check of node `index`: opens every other node with the URI nova uses and
 * compares the host UUID the peer serves over that connection with its own (the
 * comparison libvirt makes when migrating: a duplicate fails naming both nodes); with
 * the nodes' data-plane facts also QEMU's migration ports, the peers' names and CPUs.
 * The component adds a file holding the configuration's fingerprint, so that it
 * runs again whenever any node changes.
 */
export function renderPeerCheck(args: LiveMigrationArgs, index: number, facts?: NodeFacts[]): RenderedStep {
    const p = plan(args);
    const node = p.nodes[index];
    const peers = p.nodes.filter((_, i) => i !== index);
    // every peer at once (each check retries for up to ~2 minutes), reported in peer order
    const checks = `hw_peers=$(mktemp -d)
${inParallel(peers.map((peer, i) => sh`hw_check_peer ${peer.host.name} ${peer.uri} "$hw_peers/"${i} > "$hw_peers/"${i} 2>&1`))}
${peers.map((_, i) => sh`hw_peer_report "$hw_peers/"${i}`).join("\n")}
rm -rf -- "$hw_peers"`;
    const dataPlane = facts
        ? [
              dataPlaneChecks(p.nodes.flatMap((peer, i) => (i === index ? [] : [{ host: peer.host.name, address: peer.migrationAddress, listenAddress: peer.listenAddress, facts: facts[i] }]))),
              ...p.nodes.flatMap((peer, i) => {
                  if (i === index) return [];
                  const cpu = pairCpu(args.nova?.cpuMode, facts[index], facts[i]);
                  return [sh`hw_output ${`cpu.${peer.host.name}`} ${cpu}`, ...(cpu === "ok" ? [] : [sh`hw_warn ${`CPU towards ${peer.host.name}: ${cpu}`}`])];
              }),
          ].join("\n")
        : "";
    const who = node.host.name.replace(/[^A-Za-z0-9._-]/g, "");
    return {
        description: `live migration: ${node.host.name} checks its peers over ${p.transport}${facts ? " (control, QEMU migration ports, names, CPU)" : ""}`,
        files: [],
        edits: [],
        preflight: [
            `command -v virsh >/dev/null 2>&1 || hw_fail "virsh is not installed on ${who} (package libvirt-clients / libvirt-client)"`,
        ].join("\n"),
        activate: `hw_failed=""
hw_uuid_failed=""
hw_uuid_of() { timeout 20 virsh -c "$1" capabilities 2>/dev/null </dev/null | sed -n '/<host>/,/<\\/host>/s/.*<uuid>\\(.*\\)<\\/uuid>.*/\\1/p' | head -n 1; }
hw_own_uuid=$(hw_uuid_of qemu:///system)
hw_same_uuid() {
  # hw_same_uuid NAME URI REPORT: the UUID the peer's libvirt serves over the connection a
  # migration uses, against this node's
  hw_peer_uuid=$(hw_uuid_of "$2")
  if [ -n "$hw_own_uuid" ] && [ "$hw_peer_uuid" = "$hw_own_uuid" ]; then
    hw_output "uuid.$1" "same as ${who}: $hw_own_uuid"
    printf '%s' "; nodes ${who} and $1 have the same host UUID $hw_own_uuid (cloned images?): a migration between them fails with 'Attempt to migrate guest to the same host'; set hostUuid on one of them (a new uuidgen) or give it its own SMBIOS UUID / machine-id" > "$3.uuid"
  else
    hw_output "uuid.$1" "\${hw_peer_uuid:-unknown}"
  fi
}
hw_check_peer() {
  # hw_check_peer NAME URI REPORT, in the background: several tries (a daemon that was just
  # restarted may still be starting); what failed goes to REPORT.failed and REPORT.uuid
  hw_try=0
  while :; do
    if hw_out=$(timeout 20 virsh -c "$2" uri 2>&1 </dev/null); then hw_log "opened $1 as $hw_out"; hw_output "peer.$1" ok; hw_same_uuid "$1" "$2" "$3"; return 0; fi
    hw_try=$((hw_try + 1))
    [ "$hw_try" -lt 6 ] || break
    sleep 2
  done
  hw_out=\${hw_out//$'\\n'/ }
  hw_output "peer.$1" "failed: $hw_out"
  printf '%s' "; $2: $hw_out" > "$3.failed"
}
hw_peer_report() {
  # hw_peer_report REPORT: a peer's lines, then its failures into the step's one report
  cat -- "$1"
  [ ! -e "$1.failed" ] || hw_failed="$hw_failed$(cat -- "$1.failed")"
  [ ! -e "$1.uuid" ] || hw_uuid_failed="$hw_uuid_failed$(cat -- "$1.uuid")"
}
${checks}
${sh`[ -z "$hw_uuid_failed" ] || hw_fail ${`duplicate host UUID in the migration group`}"$hw_uuid_failed"`}
hw_data_failed=""
${dataPlane}
${sh`[ -z "$hw_failed" ] || hw_fail ${`node ${node.host.name} cannot open its peers with the URI nova uses`}"$hw_failed$hw_data_failed"`}
${sh`[ -z "$hw_data_failed" ] || hw_fail ${`node ${node.host.name} cannot reach its peers the way a migration's data does`}"$hw_data_failed"`}`,
    };
}

/**
 * A fingerprint of every node's configuration, file contents known (keys given as
 * outputs resolved); it covers secrets, so keep it secret too.
 */
export function configurationFingerprint(steps: Array<Omit<RenderedStep, "files"> & { files: Array<RenderedFile & { content: string }> }>): string {
    return contentHash("hostwright-libvirt-v1", JSON.stringify(steps)).slice(0, 24);
}
