import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import type { HostInput } from "./inputs";

/** Operating-system family: decides package names and file locations (e.g. `/etc/default` vs `/etc/sysconfig`). */
export type OsFamily = "debian" | "rhel";
/** How services are started and reloaded on the host. */
export type InitSystem = "systemd" | "sysv";

/**
 * A host that components act on over SSH: one inventory entry, resolved.
 * Components take a `Host` and never open connections themselves. In a program,
 * every field but `name` may be a `pulumi.Input` (see {@link HostInput}), e.g. an
 * instance's `accessIpV4`.
 */
export interface Host {
    /** Inventory name; unique in a stack, used in resource names and as the LXD remote name. */
    name: string;
    /** IP address or DNS name that SSH (and peers) use to reach the host. */
    address: string;
    /** SSH port (`sshPort` in the stack config's inventory). @default 22 */
    port?: number;
    /** SSH user; when not `root`, steps run through `sudo -n`. @default "root" */
    user?: string;
    /** SSH private key (PEM/OpenSSH). Must be a Pulumi secret. */
    privateKey: pulumi.Input<string>;
    /**
     * The host's SSH public host key (`ssh-ed25519 AAAA...`), pinned: the command
     * provider refuses a host that presents another key.
     */
    hostKey: string;
    /** @default "debian" */
    os?: OsFamily;
    /** @default "systemd" */
    init?: InitSystem;
    /** Free-form labels, e.g. `{ role: compute }`. @default {} */
    labels?: Record<string, string>;
}

/** The `connection` block of `remote.Command`, with the host key pinned and the key kept secret. */
export function connectionFor(host: HostInput): types.input.remote.ConnectionArgs {
    // One connection per host object: every step on the host shares its secret key Output.
    let connection = connections.get(host);
    if (!connection) {
        connection = {
            host: host.address,
            port: host.port ?? 22,
            user: host.user ?? "root",
            privateKey: pulumi.secret(host.privateKey),
            hostKey: host.hostKey,
            dialErrorLimit: 3,
            perDialTimeout: 15,
        };
        connections.set(host, connection);
    }
    return connection;
}

const connections = new WeakMap<HostInput, types.input.remote.ConnectionArgs>();

/** Prefix that gives a step root rights: nothing for root, `sudo -n` (never prompts) otherwise. */
export function privilegePrefix(host: Pick<Host, "user">): string {
    return (host.user ?? "root") === "root" ? "" : "sudo -n ";
}

/** Shell command that starts, restarts or reloads a service with the host's init system. */
export function serviceCommand(host: Host, service: string, action: "start" | "stop" | "restart" | "reload"): string {
    const name = service.replace(/[^A-Za-z0-9@._-]/g, "");
    if (name !== service) throw new Error(`invalid service name ${JSON.stringify(service)}`);
    return (host.init ?? "systemd") === "systemd" ? `systemctl ${action} ${name}` : `service ${name} ${action}`;
}
