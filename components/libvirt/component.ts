import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepInput, stepReport } from "../../core/remoteStep";
import type { LiveMigrationArgs } from "./args";
import { checkLiveMigration } from "./checks";
import { novaMajor, NEWTON } from "./nova";
import { configurationFingerprint, plan, RenderedStep, renderNodeStep, renderPeerCheck } from "./render";

/** What one node reported. */
export interface LiveMigrationNodeStatus {
    host: string;
    /** URI its peers (and nova) use to reach it. */
    uri: string;
    /** `libvirtd legacy`, `libvirtd socket` or `virtproxyd socket`: how the daemon runs there. */
    daemon: string;
    libvirtVersion: string;
    /** QEMU binary and version, when found. */
    qemu: string;
    /** Peer name -> `ok` or `failed: ERROR` (empty when verifyPeers is off). */
    peers: Record<string, string>;
}

function stepInput(r: RenderedStep): StepInput {
    return { ...r, files: r.files.map(({ secret, ...f }) => ({ ...f, content: secret ? pulumi.secret(f.content) : f.content })) };
}

/**
 * Configures a group of compute nodes so that `nova live-migration` (also with
 * `--block-migrate`, without shared storage) works between every pair: libvirt
 * listening over TLS/TCP with certificates or SASL, nova's migration options, then
 * a check from every node to every peer with the URI nova uses.
 */
export class LibvirtLiveMigration extends pulumi.ComponentResource {
    /** Per node: daemon mode found, versions, URI, peer-check results. */
    readonly nodes: pulumi.Output<LiveMigrationNodeStatus[]>;
    /** Warnings from validation and from the hosts (e.g. QEMU without block migration). */
    readonly warnings: pulumi.Output<string[]>;
    /** Ready-to-run commands: check a peer, start a migration, follow its progress. */
    readonly commands: { checkPeer: string[]; migrate: string; progress: string };

    constructor(name: string, args: LiveMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:libvirt:LiveMigration", name, {}, opts);
        const validationWarnings = acceptArgs(checkLiveMigration(args), `LibvirtLiveMigration ${name}`, this);

        const p = plan(args);
        const rendered = args.nodes.map((_, i) => renderNodeStep(args, i));
        const configured = rendered.map((r, i) => remoteStep(`${name}-${args.nodes[i].host.name}-libvirt`, { host: args.nodes[i].host, step: stepInput(r) }, { parent: this }));
        // The check runs again whenever any node's configuration changes; the fingerprint covers
        // secrets, so it travels as a secret file rather than in the clear script.
        const fingerprint = pulumi.secret(configurationFingerprint(rendered));
        const checked = (args.verifyPeers ?? true)
            ? args.nodes.map((node, i) => {
                  const check = renderPeerCheck(args, i);
                  const step: StepInput = { ...stepInput(check), files: [{ path: `/var/lib/hostwright/libvirt/peer-check-${name.replace(/[^A-Za-z0-9._-]/g, "_")}`, content: fingerprint, mode: "0600" }] };
                  return remoteStep(`${name}-${node.host.name}-peers`, { host: node.host, step, dependsOn: configured }, { parent: this });
              })
            : [];

        const reports = pulumi.all(configured.map(stepReport));
        const checkReports = pulumi.all(checked.map(stepReport));
        this.nodes = pulumi.all([reports, checkReports]).apply(([rs, cs]) =>
            rs.map((r, i) => ({
                host: args.nodes[i].host.name,
                uri: p.nodes[i].uri,
                daemon: r.values.daemon ?? "",
                libvirtVersion: r.values.libvirt ?? "",
                qemu: r.values.qemu ?? "",
                peers: Object.fromEntries(Object.entries(cs[i]?.values ?? {}).filter(([k]) => k.startsWith("peer.")).map(([k, v]) => [k.slice(5), v])),
            })),
        );
        this.warnings = pulumi.all([reports, checkReports]).apply(([rs, cs]) => [
            ...validationWarnings,
            ...rs.flatMap((r, i) => r.warnings.map((w) => `${args.nodes[i].host.name}: ${w}`)),
            ...cs.flatMap((c, i) => c.warnings.map((w) => `${args.nodes[i].host.name}: ${w}`)),
        ]);
        const modernNova = args.nova === undefined || (novaMajor(args.nova.release) ?? NEWTON) >= NEWTON;
        this.commands = {
            checkPeer: p.nodes.map((n) => `virsh -c '${n.uri}' uri`),
            migrate: modernNova
                ? "openstack server migrate --live-migration --block-migration --host TARGET_HOST SERVER"
                : "nova live-migration --block-migrate SERVER TARGET_HOST",
            progress: "virsh domjobinfo DOMAIN   # on the source node",
        };
        this.registerOutputs({ nodes: this.nodes, warnings: this.warnings, commands: this.commands });
    }
}
