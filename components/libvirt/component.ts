import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepAddress, stepAddress, StepInput, stepReport } from "../../core/remoteStep";
import type { LiveMigrationArgs } from "./args";
import { checkLiveMigration } from "./checks";
import { novaMajor, NEWTON } from "./nova";
import { configurationFingerprint, plan, RenderedStep, renderNodeStep, renderPeerCheck } from "./render";
import { commonCpuFeatures, factsFromReport, renderDataPlane } from "./dataplane";

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
    /** libvirt's host UUID (`virsh capabilities`; "" when verifyPeers is off). */
    hostUuid: string;
    /** Host CPU as the node reported it (`virsh capabilities`, else /proc/cpuinfo). */
    cpu: { source: string; vendor: string; model: string };
    /** Port of QEMU's migration range that the check listened on, or why none. */
    dataPort: number | string;
}

/** One ordered pair's checks, each `ok` or why not. */
export interface LiveMigrationPair {
    /** libvirt control connection with the URI nova uses (`virsh -c URI uri`). */
    control: string;
    /** A TCP connection to the target's listener in QEMU's migration port range. */
    dataPorts: string;
    /** Guests using the source's host CPU can run on the target (features compared). */
    cpu: string;
    /** The target's migration address as the source resolves it, against the target's own addresses. */
    name: string;
}

function stepInput(r: RenderedStep): StepInput {
    return { ...r, files: r.files.map(({ secret, ...f }) => ({ ...f, content: secret ? pulumi.secret(f.content) : f.content })) };
}

/**
 * Configures a group of compute nodes so that `nova live-migration` (also with
 * `--block-migrate`, without shared storage) works between every pair: libvirt
 * listening over TLS/TCP with certificates or SASL, nova's migration options, then
 * a check from every node to every peer: the URI nova uses, QEMU's migration ports,
 * names, CPUs, and the group's host UUIDs.
 */
export class LibvirtLiveMigration extends pulumi.ComponentResource {
    /** Per node: daemon mode found, versions, URI, peer-check results. */
    readonly nodes: pulumi.Output<LiveMigrationNodeStatus[]>;
    /** Per ordered pair `SOURCE->TARGET`: control, data ports, CPU, name; each `ok` or why not. Empty when verifyPeers is off. */
    readonly pairs: pulumi.Output<Record<string, LiveMigrationPair>>;
    /**
     * CPU features every node has (from the data-plane facts): what a common
     * `cpu_mode=custom` model may use; `virsh hypervisor-cpu-baseline` on the nodes'
     * capabilities names that model. Empty when verifyPeers is off.
     */
    readonly cpuCommonFeatures: pulumi.Output<string[]>;
    /** Warnings from validation and from the hosts (e.g. QEMU without block migration). */
    readonly warnings: pulumi.Output<string[]>;
    /** Ready-to-run commands: check a peer, start a migration, follow its progress. */
    readonly commands: { checkPeer: string[]; migrate: string; progress: string };
    /** Every step of the group: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: LiveMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:libvirt:LiveMigration", name, {}, opts);
        const validationWarnings = acceptArgs(checkLiveMigration(args), `LibvirtLiveMigration ${name}`, this, (args.nodes ?? []).map((n) => n.host?.name));

        const p = plan(args);
        const rendered = args.nodes.map((_, i) => renderNodeStep(args, i));
        const configured = rendered.map((r, i) => remoteStep(`${name}-${args.nodes[i].host.name}-libvirt`, { host: args.nodes[i].host, step: stepInput(r) }, { parent: this }));
        // The check runs again whenever any node's configuration changes; the fingerprint covers
        // secrets, so it travels as a secret file rather than in the clear script.
        const fingerprint = pulumi.secret(configurationFingerprint(rendered));
        const safeName = name.replace(/[^A-Za-z0-9._-]/g, "_");
        const verify = args.verifyPeers ?? true;
        // Facts and a listener in QEMU's port range on every node, again whenever the check runs again.
        const dataPlanes = verify
            ? args.nodes.map((node, i) => {
                  const step: StepInput = { ...stepInput(renderDataPlane(args, i)), files: [{ path: `/var/lib/hostwright/libvirt/dataplane-${safeName}`, content: fingerprint, mode: "0600" }] };
                  return remoteStep(`${name}-${node.host.name}-dataplane`, { host: node.host, step, dependsOn: configured }, { parent: this });
              })
            : [];
        const facts = pulumi.all(dataPlanes.map(stepReport)).apply((rs) => rs.map((r, i) => factsFromReport(args.nodes[i].host.name, r.values)));
        const checked = verify
            ? args.nodes.map((node, i) => {
                  // secret as a whole: the fingerprint covers the keys
                  const step = pulumi.all([facts, fingerprint]).apply(([f, fp]): StepInput => ({
                      ...stepInput(renderPeerCheck(args, i, f)),
                      files: [{ path: `/var/lib/hostwright/libvirt/peer-check-${safeName}`, content: fp, mode: "0600" }],
                  }));
                  return remoteStep(`${name}-${node.host.name}-peers`, { host: node.host, step, dependsOn: [...configured, ...dataPlanes] }, { parent: this });
              })
            : [];

        const reports = pulumi.all(configured.map(stepReport));
        const checkReports = pulumi.all(checked.map(stepReport));
        this.nodes = pulumi.all([reports, checkReports, facts]).apply(([rs, cs, fs]) =>
            rs.map((r, i) => ({
                host: args.nodes[i].host.name,
                uri: p.nodes[i].uri,
                daemon: r.values.daemon ?? "",
                libvirtVersion: r.values.libvirt ?? "",
                qemu: r.values.qemu ?? "",
                peers: Object.fromEntries(Object.entries(cs[i]?.values ?? {}).filter(([k]) => k.startsWith("peer.")).map(([k, v]) => [k.slice(5), v])),
                hostUuid: fs[i]?.hostUuid ?? "",
                cpu: { source: fs[i]?.cpu.source ?? "", vendor: fs[i]?.cpu.vendor ?? "", model: fs[i]?.cpu.model ?? "" },
                dataPort: fs[i]?.dataPort ?? "",
            })),
        );
        this.cpuCommonFeatures = facts.apply(commonCpuFeatures);
        this.pairs = checkReports.apply((cs) => {
            const pairs: Record<string, LiveMigrationPair> = {};
            cs.forEach((c, i) =>
                args.nodes.forEach((peer, j) => {
                    if (i === j) return;
                    const v = (key: string) => c.values[`${key}.${peer.host.name}`] ?? "not checked";
                    pairs[`${args.nodes[i].host.name}->${peer.host.name}`] = { control: v("peer"), dataPorts: v("data"), cpu: v("cpu"), name: v("name") };
                }),
            );
            return pairs;
        });
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
        this.steps = pulumi.all([...configured, ...dataPlanes, ...checked].map(stepAddress));
        this.registerOutputs({ nodes: this.nodes, pairs: this.pairs, cpuCommonFeatures: this.cpuCommonFeatures, warnings: this.warnings, commands: this.commands, steps: this.steps });
    }
}
