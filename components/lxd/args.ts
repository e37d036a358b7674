import type { Host } from "../../core/host";
import type { Inputs } from "../../core/inputs";

/** How each host comes to trust the others' `lxc` clients. */
export type TrustMethod = "token" | "certificate";
/** What kind of move the mesh must be ready for. */
export type MigrationMode = "stateless" | "stateful";

/** One LXD host of the mesh. */
export interface LxdMeshMember {
    /**
     * The inventory host. Its `name` becomes the remote name on every host of the
     * mesh (so `lxc move h1:c1 h2:` uses inventory names); it must not be a name
     * `lxc` reserves (`local`, `images`, `ubuntu`, `ubuntu-daily`). Its other fields
     * may be inputs (e.g. the address of an `openstack.compute.Instance`); the name stays plain.
     */
    host: Host;
    /**
     * Address the other hosts use to reach this host's LXD API (IP or DNS name).
     * The remote URL is `https://<apiAddress>:<apiPort>`; the pre-flight checks
     * that every host of the mesh can connect to it. May be an input (another resource's
     * address): the other members' scripts then are rendered once it is known.
     * @default host.address (the SSH address)
     */
    apiAddress?: string;
    /**
     * TCP port of the LXD API on this host. Must match the port of `listenAddress`.
     * @default 8443
     */
    apiPort?: number;
    /**
     * The value written to `core.https_address` (where LXD listens), e.g.
     * `10.0.0.1:8443` or `[::]:8443`. Set before any trust token is issued,
     * because a token embeds the addresses LXD listens on.
     * @default `<apiAddress>:<apiPort>` (IPv6 in brackets)
     */
    listenAddress?: string;
}

export interface LxdRemoteMeshArgs {
    /**
     * The hosts of the mesh (at least two for a migration to have a target).
     * Every host gets every host, itself included, as a remote: `lxc move c1 h2:`
     * fails with "websocket: bad handshake" while `lxc move h1:c1 h2:` works.
     */
    members: LxdMeshMember[];
    /**
     * LXD project the remotes point at (`lxc remote add --project`). Must exist
     * on every host.
     * @default "default"
     */
    project?: string;
    /**
     * The `lxc` client configuration directory (`LXD_CONF`) on every host: remotes,
     * server certificates and the client certificate live there. Every `lxc` call
     * of the component uses it, and the move commands it outputs set it; the user
     * who runs `lxc move` must use the same directory.
     * @default "/root/.config/lxc"
     */
    clientConfigDir?: string;
    /**
     * The daemon's directory (`LXD_DIR`, holding `unix.socket`): `/var/lib/lxd`
     * for Debian's package, `/var/snap/lxd/common/lxd` for the snap.
     * @default "/var/lib/lxd"
     */
    lxdDir?: string;
    /**
     * How trust is established. In both modes the source pins the target's server
     * certificate (its fingerprint comes from the target's own `lxc query /1.0`).
     * `certificate`: each target trusts every member's client certificate through its
     * local socket (`lxc config trust add CERT`, in parallel), and each source writes
     * all its remotes into `LXD_CONF/config.yml` at once: no network round trip per
     * remote, no secret crossing hosts, so the mesh's apply does not grow with the
     * number of hosts (only the final link check queries every remote, in parallel):
     * three rounds (probe, serve, remotes), the probes reporting the client
     * certificates the serve steps trust.
     * `token`: the target issues a one-time trust token (`lxc config trust add --name`)
     * that the source consumes with `lxc remote add`, one remote after another (a
     * network round trip each, N² over the mesh); the token passes through Pulumi only
     * as a secret and is never printed or put on a command line. Use it when the
     * client certificates must not be pushed to the targets by this component. A
     * revoked trust entry is repaired by re-running the serve step in certificate mode
     * only (a token is single-use). Trust passwords are not supported (removed upstream).
     * @default "certificate"
     */
    trust?: TrustMethod;
    /**
     * `stateless`: stopped containers and `lxc move --stateless` (the matrix marks
     * newer-to-older directions, which LXD cannot move). `stateful` (live, CRIU) additionally requires
     * the `netlink_diag` kernel module (loaded and made persistent by the component
     * through `/etc/modules-load.d`) and CRIU installed and passing `criu check` on
     * every host. Readiness for both is reported either way.
     * @default "stateless"
     */
    migration?: MigrationMode;
    /**
     * The pre-flight probes run once and are not repeated while nothing changes.
     * Increase this number to probe again, e.g. after upgrading LXD on a host
     * that failed the version check.
     * @default 1
     */
    preflightRevision?: number;
    /**
     * Seconds each host waits for a TCP connection to a peer's API address during
     * the pre-flight.
     * @default 5
     */
    connectTimeoutSeconds?: number;
    /**
     * Instances (in `project`) whose moves the `instances` output reports: per source
     * and target, whether the target has the instance's profiles, storage pools and
     * networks, and whether a cold or live move works. Read by the probe, so the
     * report is as of the last probe (raise `preflightRevision` to refresh it); a
     * name no host has is a warning.
     * @default every instance on each host
     */
    instances?: string[];
}

/**
 * {@link LxdRemoteMeshArgs} as the constructor takes them: every value may come from
 * another resource (`pulumi.Input`): a member's host fields but its name (an instance's
 * `accessIpV4` as `address`), `apiAddress`, `apiPort`, `listenAddress`, the instance
 * names, the migration mode, the revision and timeouts, the directories. What stays
 * plain decides what is declared: the members list and each `host.name` (the remote
 * names and step names), and `trust` (the token mode keeps the serve steps' output
 * secret, a resource option). Plain args are checked before anything is declared; with
 * a late value the whole mesh is checked and resolved once every value is known (each
 * member's URL reaches the other members' scripts), and a bad one fails the apply with
 * the message the plain value gets. In a preview with unknown values the steps are
 * declared with unknown content.
 */
export type LxdRemoteMeshInputs = Omit<Inputs<LxdRemoteMeshArgs>, "trust"> & Pick<LxdRemoteMeshArgs, "trust">;

/** Args with every default applied (what render.ts works on). */
export interface ResolvedMember {
    name: string;
    host: Host;
    apiAddress: string;
    apiPort: number;
    listenAddress: string;
    /** `https://<apiAddress>:<apiPort>` (IPv6 in brackets). */
    url: string;
}

export interface ResolvedMesh {
    members: ResolvedMember[];
    project: string;
    clientConfigDir: string;
    lxdDir: string;
    trust: TrustMethod;
    migration: MigrationMode;
    preflightRevision: number;
    connectTimeoutSeconds: number;
    /** Undefined: every instance. */
    instances?: string[];
}

export const DEFAULTS = {
    apiPort: 8443,
    project: "default",
    clientConfigDir: "/root/.config/lxc",
    lxdDir: "/var/lib/lxd",
    trust: "certificate" as TrustMethod,
    migration: "stateless" as MigrationMode,
    preflightRevision: 1,
    connectTimeoutSeconds: 5,
};

/** `host:port`, with an IPv6 literal in brackets. */
export function hostPort(address: string, port: number): string {
    return `${address.includes(":") ? `[${address}]` : address}:${port}`;
}

/** Applies the defaults. Call after {@link import("./checks").checkMeshArgs} found no errors. */
export function resolveMesh(args: LxdRemoteMeshArgs): ResolvedMesh {
    return {
        members: args.members.map((m) => {
            const apiAddress = m.apiAddress ?? m.host.address;
            const apiPort = m.apiPort ?? DEFAULTS.apiPort;
            return { name: m.host.name, host: m.host, apiAddress, apiPort, listenAddress: m.listenAddress ?? hostPort(apiAddress, apiPort), url: `https://${hostPort(apiAddress, apiPort)}` };
        }),
        project: args.project ?? DEFAULTS.project,
        clientConfigDir: args.clientConfigDir ?? DEFAULTS.clientConfigDir,
        lxdDir: args.lxdDir ?? DEFAULTS.lxdDir,
        trust: args.trust ?? DEFAULTS.trust,
        migration: args.migration ?? DEFAULTS.migration,
        preflightRevision: args.preflightRevision ?? DEFAULTS.preflightRevision,
        connectTimeoutSeconds: args.connectTimeoutSeconds ?? DEFAULTS.connectTimeoutSeconds,
        instances: args.instances,
    };
}
