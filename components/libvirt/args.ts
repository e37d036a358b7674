import type * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import type { Inputs } from "../../core/inputs";

/** How one libvirt connects to another: TLS on 16514, plain TCP on 16509, or SSH. */
export type MigrationTransport = "tls" | "tcp" | "ssh";
/** Authentication on the libvirt socket: none (TLS client certificates still apply) or SASL. */
export type MigrationAuth = "none" | "sasl";

/**
 * A node's TLS material (transport `tls`), PEM text. Keys may be Pulumi outputs (a
 * `@pulumi/tls` key, a secret from a secrets manager): each reaches the host only as a
 * secret file content, and is checked against its certificate once its value is known.
 */
export interface NodeTls {
    /**
     * Server certificate, the leaf only (libvirt validates it against
     * `tls.caCertificate` alone: intermediates go there). Must cover the node's
     * `migrationAddress` (what peers dial), be valid now, be issued by a
     * certificate of `tls.caCertificate`, and allow serverAuth if it lists extended key usages.
     * Installed as `/etc/pki/libvirt/servercert.pem`.
     */
    serverCertificate: string;
    /**
     * Private key of the server certificate, unencrypted PEM; a plain string is made a
     * Pulumi secret. Must match `serverCertificate` (checked before anything is declared
     * when given as a string, once known when given as an output, with the same message).
     * Installed as `/etc/pki/libvirt/private/serverkey.pem` (0600).
     */
    serverKey: pulumi.Input<string>;
    /**
     * Client certificate this node presents to its peers, the leaf only. Must be
     * issued by a certificate of `tls.caCertificate` and allow clientAuth if it lists extended key usages.
     * Installed as `/etc/pki/libvirt/clientcert.pem`.
     */
    clientCertificate: string;
    /**
     * Private key of the client certificate, unencrypted PEM; handled like `serverKey`
     * (must match `clientCertificate`). Installed as `/etc/pki/libvirt/private/clientkey.pem` (0600).
     */
    clientKey: pulumi.Input<string>;
}

/** One compute node of the migration group. */
export interface LiveMigrationNode {
    /** The compute host (inventory entry). Its `os` picks `/etc/sysconfig` vs `/etc/default` and the nova service name. */
    host: Host;
    /**
     * The address or name its peers dial: the host part of the libvirt URI
     * (`qemu+tls://ADDRESS/system`) and, for nova newton and later,
     * `[libvirt] live_migration_inbound_addr`. With TLS the server certificate must
     * cover it. Older nova dials the compute service's host name instead: set this
     * to that name there.
     * @default host.address
     */
    migrationAddress?: string;
    /**
     * IP address libvirt listens on (`listen_addr`, or the socket unit's
     * `ListenStream` under socket activation). Unset: every address.
     * @default undefined (all addresses)
     */
    listenAddress?: string;
    /** TLS material of this node; required with transport `tls`, refused otherwise. @default undefined */
    tls?: NodeTls;
    /**
     * libvirt's host UUID for this node (`host_uuid` in libvirtd.conf; virtqemud.conf
     * under modular daemons), as puppet-nova's `host_uuid`. Needed when nodes were
     * cloned with one SMBIOS UUID or machine-id: libvirt then reports the same UUID on
     * both and migrations fail with "Attempt to migrate guest to the same host" (the
     * peer check refuses such a group, naming both nodes). Must differ across the
     * group; libvirt rejects a UUID of one repeated digit. Unset: the file's own
     * setting (or libvirt's SMBIOS default) is left alone.
     * @default undefined
     */
    hostUuid?: string;
}

/** SASL credentials shared by the group (auth `sasl`). */
export interface SaslCredentials {
    /** SASL user created with `saslpasswd2 -a libvirt` on every node and used by every node's client. @default "nova" */
    username?: string;
    /**
     * Password, in clear so it can be checked; becomes a Pulumi secret and reaches hosts
     * only inside files (mode 0600). Given as an output, it is awaited with the other late
     * inputs (the steps are then declared once it is known).
     */
    password: string;
    /**
     * SASL mechanism: `digest-md5` works over plain TCP; `scram-sha-256` needs TLS
     * (libvirt refuses it without an encrypted channel).
     * @default "scram-sha-256" with transport tls, "digest-md5" with tcp
     */
    mechanism?: "digest-md5" | "scram-sha-256";
    /**
     * Group that may read the client credentials file `/etc/libvirt/auth.conf`
     * (nova-compute's user must read it to migrate). @default "root"
     */
    clientGroup?: string;
}

/** The nova side: which options go into nova.conf. */
export interface NovaMigrationOptions {
    /**
     * nova release: a name (`liberty`, `antelope`), a year release (`2023.1`) or a
     * major version (`27`). Up to mitaka the legacy flags are written
     * (`live_migration_flag` / `block_migration_flag` without TUNNELLED, as in the
     * seed; `[DEFAULT]` before havana, `[libvirt]` from havana, where nova reads
     * them); from newton the `[libvirt]` options (`live_migration_scheme`,
     * `live_migration_inbound_addr`, `live_migration_tunnelled = false`, ...).
     * The options of the other era are removed so exactly one set is in force.
     */
    release: string;
    /** Path of nova.conf; edited in place (other keys and comments are kept). @default "/etc/nova/nova.conf" */
    configPath?: string;
    /** nova-compute service to restart after a change. @default "openstack-nova-compute" on rhel, "nova-compute" on debian */
    service?: string;
    /** Restart nova-compute when nova.conf changed (a missing service is reported as a warning). @default true */
    restart?: boolean;
    /** `live_migration_permit_auto_converge` (newton+): throttle the guest's vCPUs so that a busy guest converges. @default false */
    permitAutoConverge?: boolean;
    /** `live_migration_permit_post_copy` (newton+): switch to post-copy when pre-copy does not converge. @default false */
    permitPostCopy?: boolean;
    /** `live_migration_bandwidth` in MiB/s; 0 lets libvirt choose. @default 0 */
    bandwidthMiBps?: number;
    /** `live_migration_downtime` in ms, the longest pause allowed at switch-over (newton+). @default nova's (500) */
    maxDowntimeMs?: number;
    /** `live_migration_completion_timeout` in seconds per GiB of guest RAM (newton+). @default nova's (800) */
    completionTimeoutSeconds?: number;
    /**
     * `live_migration_with_native_tls` (stein+): QEMU encrypts the migration
     * stream itself; needs transport `tls` (the same material is installed into
     * `/etc/pki/qemu`, readable by `qemuGroup`). Without it, and without
     * tunnelling, memory and disks cross the network in clear.
     * @default false
     */
    nativeTls?: boolean;
    /** Group of the QEMU processes, which must read `/etc/pki/qemu` keys with `nativeTls`. @default "qemu" on rhel, "libvirt-qemu" on debian */
    qemuGroup?: string;
    /**
     * `[libvirt] cpu_mode` (newton+): the CPU nova gives its guests, which decides what
     * the peer check's `cpu` result means per pair. `host-model` (nova's default with
     * KVM): a guest may move to a node with at least the source's CPU features.
     * `host-passthrough`: only to a node with the identical CPU. `custom`: every node
     * must run every model of `cpuModels` (checked on each node with `virsh
     * cpu-compare`). `none`: the hypervisor's default model. Unset: nova.conf's own
     * setting is left alone and pairs are judged as host-model.
     * @default undefined
     */
    cpuMode?: "host-model" | "host-passthrough" | "custom" | "none";
    /**
     * CPU models for `cpuMode: "custom"` (`[libvirt] cpu_models`; stein and later take a
     * list, earlier releases one model in `cpu_model`), e.g. `["Skylake-Server-IBRS"]`.
     * Only with `cpuMode: "custom"`, which needs at least one.
     * @default undefined
     */
    cpuModels?: string[];
}

/**
 * What `new LibvirtLiveMigration()` takes: {@link LiveMigrationArgs} with every value a
 * `pulumi.Input`: each node's host fields but its name (an instance's `accessIpV4` as
 * `host.address`), migration and listen addresses, the CA, server and client
 * certificates and keys (e.g. from `@pulumi/tls`), SASL settings, nova options. The
 * list of nodes stays a list and `verifyPeers` stays plain: they decide which steps are
 * declared. The same checks run as soon as every value is known, with the same errors;
 * during a preview with unknown values the steps are declared with unknown content.
 */
export type LiveMigrationInputs = Omit<Inputs<LiveMigrationArgs>, "verifyPeers"> & Pick<LiveMigrationArgs, "verifyPeers">;

export interface LiveMigrationArgs {
    /** The compute nodes; every node must be able to open every other one. At least two, unique hosts. */
    nodes: LiveMigrationNode[];
    /**
     * `tls` (default): libvirt on 16514 with certificates. `tcp`: 16509, needs auth
     * `sasl` unless `allowUnauthenticatedTcp`. `ssh`: nothing listens; nova and the
     * peer check use `qemu+ssh://` and the SSH keys of the user running them.
     * @default "tls"
     */
    transport?: MigrationTransport;
    /** Authentication on the libvirt TCP/TLS socket (`auth_tcp` / `auth_tls`). @default "none" with tls, "sasl" with tcp */
    auth?: MigrationAuth;
    /**
     * Allows transport `tcp` with auth `none` (the seed's setup): anyone who
     * reaches the port can then run and read VMs as root. Off, that combination is
     * refused; on, it is applied with a warning.
     * @default false
     */
    allowUnauthenticatedTcp?: boolean;
    /** TLS material shared by the group; required with transport `tls`, refused otherwise. @default undefined */
    tls?: {
        /**
         * CA certificates, PEM: the root and every intermediate that issues the nodes'
         * certificates (libvirt checks against this file only). Installed as `/etc/pki/CA/cacert.pem`.
         */
        caCertificate: string;
        /**
         * libvirtd `tls_allowed_dn_list`: client certificate DNs (glob patterns) allowed
         * to connect. Unset: any certificate the CA signed.
         * @default undefined
         */
        allowedClientDns?: string[];
    };
    /** SASL credentials; required with auth `sasl`, refused otherwise. @default undefined */
    sasl?: SaslCredentials;
    /**
     * TCP port of libvirt for transport tcp (`tcp_port`; a socket drop-in under socket
     * activation). A non-default port makes nova use `live_migration_uri` (the scheme
     * option cannot carry a port). @default 16509
     */
    tcpPort?: number;
    /** TCP port of libvirt for transport tls (`tls_port`); see `tcpPort` for what a non-default port implies. @default 16514 */
    tlsPort?: number;
    /**
     * Lowest TCP port QEMU listens on for an incoming migration's memory stream
     * (`migration_port_min` in /etc/libvirt/qemu.conf; written only when set, with
     * `migrationPortMax`'s default then). Besides libvirt's own port these ports must be
     * open between the nodes: the peer check opens a listener in the range on every
     * node and connects to it from every peer. Must not include `tlsPort`/`tcpPort`.
     * @default 49152 (QEMU's default; qemu.conf untouched)
     */
    migrationPortMin?: number;
    /** Highest port of that range (`migration_port_max`); see `migrationPortMin`. @default 49215 (QEMU's default) */
    migrationPortMax?: number;
    /** nova options; unset: nova.conf is not touched (libvirt only). @default undefined */
    nova?: NovaMigrationOptions;
    /**
     * Restart (or socket-activate) the libvirt daemon when its configuration changed.
     * Off: the new configuration waits for your restart (the peer check will then
     * likely fail). Destroy restores the previous service state either way.
     * @default true
     */
    restartLibvirt?: boolean;
    /**
     * After every node is configured, each node checks each peer: the control
     * connection with the URI nova uses (`virsh -c URI uri`), QEMU's migration ports
     * (a listener in `migrationPortMin..Max` on the peer), the peer's name as this node
     * resolves it, and CPU compatibility; the group's host UUIDs must differ. A node
     * whose control connection, migration ports or name resolution fails, or a
     * duplicate host UUID, fails the deploy naming the nodes; CPU differences and a
     * name resolving to an address the peer does not have are warnings. Results per
     * pair in the `pairs` output.
     * @default true
     */
    verifyPeers?: boolean;
}
