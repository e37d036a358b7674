import * as pulumi from "@pulumi/pulumi";
import { acceptArgs, ValidationError } from "../../core/errors";
import { lift, liftOutput, outputOf, resolveInputs, SECRET_FIELDS } from "../../core/inputs";
import { remoteStep, StepAddress, stepAddresses, StepInput, stepReport } from "../../core/remoteStep";
import type { LiveMigrationArgs, LiveMigrationInputs } from "./args";
import { isOpaqueSecret } from "../../core/opaque";
import { checkLiveMigration, checkNodeKey, KeyField, KeyText } from "./checks";
import { novaMajor, NEWTON } from "./nova";
import { configurationFingerprint, plan, RenderedStep, renderNodeStep, renderPeerCheck } from "./render";
import { commonCpuFeatures, factsFromReport, renderDataPlane } from "./dataplane";

/** Private-key fields (the hosts' SSH keys too): passed through as given, not awaited with the other inputs; TLS keys are checked once known. */
const KEY_FIELDS: ReadonlySet<string> = new Set([...SECRET_FIELDS, "serverKey", "clientKey"]);

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

/** Ready-to-run commands of a group. */
export interface MigrationCommands {
    /** Per node: opens it with the URI nova uses. */
    checkPeer: string[];
    /** Starts a live block migration (nova's command for the configured release). */
    migrate: string;
    /** Follows a migration's progress. */
    progress: string;
}

function stepInput(r: RenderedStep): StepInput {
    // a key given as an output is already a secret (secretKey)
    return { ...r, files: r.files.map(({ secret, ...f }) => ({ ...f, content: secret && typeof f.content === "string" ? pulumi.secret(f.content) : f.content })) };
}

/** Options of the checks, for the stack section. */
export interface CheckOptions {
    /**
     * The clear text of keys given as outputs: such a key is checked with the rest, before
     * anything is declared, and used as it is, so it must be a secret already (the stack
     * section's `hostwright:secrets` entries are). Where it returns undefined (an offline
     * preview that cannot decrypt the key) the key is checked once known.
     * @default none: keys given as outputs are made secrets and checked once known
     */
    keyText?: KeyText;
}

/**
 * The args with every key given as an output whose text is not known replaced by a secret
 * checked against its certificate once known; `known` gets the clear text of the others.
 */
function withSecretKeys(name: string, args: LiveMigrationArgs, keyText: KeyText | undefined, known: Map<unknown, string>): LiveMigrationArgs {
    if (args.nodes.every((n) => !n.tls || (typeof n.tls.serverKey === "string" && typeof n.tls.clientKey === "string"))) return args;
    const secretKey = (i: number, field: KeyField, key: pulumi.Input<string>): pulumi.Input<string> => {
        if (typeof key === "string") return key;
        const text = keyText?.(i, field);
        if (text !== undefined) {
            known.set(key, text);
            return key;
        }
        return pulumi.secret(
            pulumi.output(key).apply((k) => {
                // a secret this run cannot read (core/opaque.ts): declared as it is, not checked
                if (isOpaqueSecret(k)) return k;
                const issues = checkNodeKey(args, i, field, k);
                if (issues.length > 0) throw new ValidationError(issues, `LibvirtLiveMigration ${name}`);
                return k;
            }),
        );
    };
    return { ...args, nodes: args.nodes.map((n, i) => (n.tls ? { ...n, tls: { ...n.tls, serverKey: secretKey(i, "serverKey", n.tls.serverKey), clientKey: secretKey(i, "clientKey", n.tls.clientKey) } } : n)) };
}

/** The secret fingerprint of the rendered steps: at once when every content is text or `known`, else once the keys are known. */
function fingerprintOf(rendered: RenderedStep[], known: Map<unknown, string>): pulumi.Output<string> {
    const withContents = (contents: string[]) => {
        let at = 0;
        return configurationFingerprint(rendered.map((r) => ({ ...r, files: r.files.map((f) => ({ ...f, content: contents[at++] })) })));
    };
    const contents = rendered.flatMap((r) => r.files.map((f) => (typeof f.content === "string" ? f.content : known.get(f.content))));
    if (contents.every((c): c is string => c !== undefined)) return pulumi.secret(withContents(contents));
    return pulumi.secret(pulumi.all(rendered.flatMap((r) => r.files.map((f) => f.content))).apply(withContents));
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
    /** Ready-to-run commands: check a peer, start a migration, follow its progress (known once the addresses and the nova release are). */
    readonly commands: pulumi.Output<MigrationCommands>;
    /** Every step of the group: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    /**
     * @param args plain values or inputs from other resources ({@link LiveMigrationInputs}):
     *   plain, they are checked before anything is declared; with outputs, the steps are
     *   declared at once and the same checks run once the values are known. Keys given as
     *   outputs stay secrets and are checked against their certificates once known.
     */
    constructor(name: string, args: LiveMigrationInputs, opts?: pulumi.ComponentResourceOptions, checkOptions: CheckOptions = {}) {
        super("hostwright:libvirt:LiveMigration", name, {}, opts);
        // Checked and rendered at once for plain args; once known when some come from other
        // resources. Keys are never awaited here: they stay secrets, checked once known.
        const accepted = lift(resolveInputs<LiveMigrationArgs>(args as Parameters<typeof resolveInputs<LiveMigrationArgs>>[0], KEY_FIELDS), (plain) => {
            const warnings = acceptArgs(checkLiveMigration(plain, undefined, checkOptions.keyText), `LibvirtLiveMigration ${name}`, this, (plain.nodes ?? []).map((n) => n.host?.name));
            const known = new Map<unknown, string>();
            const keyed = withSecretKeys(name, plain, checkOptions.keyText, known);
            const rendered = plain.nodes.map((_, i) => renderNodeStep(keyed, i));
            return { plain, warnings, rendered, known };
        });
        // Step names and count come from what stays plain: the nodes' host names, verifyPeers.
        const hosts = args.nodes.map((n) => n.host.name);
        const configured = args.nodes.map((node, i) => remoteStep(`${name}-${hosts[i]}-libvirt`, { host: node.host, step: lift(accepted, (a) => stepInput(a.rendered[i])) }, { parent: this }));
        // The check runs again whenever any node's configuration changes; the fingerprint covers
        // secrets, so it travels as a secret file rather than in the clear script.
        const fingerprint = pulumi.Output.isInstance(accepted) ? accepted.apply((a) => fingerprintOf(a.rendered, a.known)) : fingerprintOf(accepted.rendered, accepted.known);
        const safeName = name.replace(/[^A-Za-z0-9._-]/g, "_");
        const verify = args.verifyPeers ?? true;
        // Facts and a listener in QEMU's port range on every node, again whenever the check runs again.
        const dataPlanes = verify
            ? args.nodes.map((node, i) => {
                  const step = lift(accepted, (a): StepInput => ({ ...stepInput(renderDataPlane(a.plain, i)), files: [{ path: `/var/lib/hostwright/libvirt/dataplane-${safeName}`, content: fingerprint, mode: "0600" }] }));
                  return remoteStep(`${name}-${hosts[i]}-dataplane`, { host: node.host, step, dependsOn: configured }, { parent: this });
              })
            : [];
        const facts = pulumi.all(dataPlanes.map(stepReport)).apply((rs) => rs.map((r, i) => factsFromReport(hosts[i], r.values)));
        // Combined once for every node: pulumi.all makes two more Outputs of every Output it is given.
        const checkInputs = pulumi.all([facts, fingerprint]);
        const checked = verify
            ? args.nodes.map((node, i) => {
                  // secret as a whole: the fingerprint covers the keys
                  // (an Output returned by apply is flattened: the late args' step)
                  const step = checkInputs.apply(
                      ([f, fp]) =>
                          lift(accepted, (a): StepInput => ({
                              ...stepInput(renderPeerCheck(a.plain, i, f)),
                              files: [{ path: `/var/lib/hostwright/libvirt/peer-check-${safeName}`, content: fp, mode: "0600" }],
                          })) as StepInput,
                  );
                  return remoteStep(`${name}-${hosts[i]}-peers`, { host: node.host, step, dependsOn: [...configured, ...dataPlanes] }, { parent: this });
              })
            : [];
        // What the outputs need, without the keys (which would make every output a secret);
        // plain for plain args, so no pulumi.all has to make Outputs of it.
        const summary = lift(accepted, ({ plain, warnings }) => {
            const uris = plan(plain).nodes.map((n) => n.uri);
            const modernNova = plain.nova === undefined || (novaMajor(plain.nova.release) ?? NEWTON) >= NEWTON;
            const commands: MigrationCommands = {
                checkPeer: uris.map((uri) => `virsh -c '${uri}' uri`),
                migrate: modernNova ? "openstack server migrate --live-migration --block-migration --host TARGET_HOST SERVER" : "nova live-migration --block-migrate SERVER TARGET_HOST",
                progress: "virsh domjobinfo DOMAIN   # on the source node",
            };
            return { uris, warnings, commands };
        });

        const reports = pulumi.all(configured.map(stepReport));
        const checkReports = pulumi.all(checked.map(stepReport));
        this.nodes = liftOutput(summary, (s) =>
            pulumi.all([reports, checkReports, facts]).apply(([rs, cs, fs]) =>
                rs.map((r, i) => ({
                    host: hosts[i],
                    uri: s.uris[i],
                    daemon: r.values.daemon ?? "",
                    libvirtVersion: r.values.libvirt ?? "",
                    qemu: r.values.qemu ?? "",
                    peers: Object.fromEntries(Object.entries(cs[i]?.values ?? {}).filter(([k]) => k.startsWith("peer.")).map(([k, v]) => [k.slice(5), v])),
                    hostUuid: fs[i]?.hostUuid ?? "",
                    cpu: { source: fs[i]?.cpu.source ?? "", vendor: fs[i]?.cpu.vendor ?? "", model: fs[i]?.cpu.model ?? "" },
                    dataPort: fs[i]?.dataPort ?? "",
                })),
            ),
        );
        this.cpuCommonFeatures = facts.apply(commonCpuFeatures);
        this.pairs = checkReports.apply((cs) => {
            const pairs: Record<string, LiveMigrationPair> = {};
            cs.forEach((c, i) =>
                hosts.forEach((peer, j) => {
                    if (i === j) return;
                    const v = (key: string) => c.values[`${key}.${peer}`] ?? "not checked";
                    pairs[`${hosts[i]}->${peer}`] = { control: v("peer"), dataPorts: v("data"), cpu: v("cpu"), name: v("name") };
                }),
            );
            return pairs;
        });
        this.warnings = liftOutput(summary, (s) =>
            pulumi.all([reports, checkReports]).apply(([rs, cs]) => [
                ...s.warnings,
                ...rs.flatMap((r, i) => r.warnings.map((w) => `${hosts[i]}: ${w}`)),
                ...cs.flatMap((c, i) => c.warnings.map((w) => `${hosts[i]}: ${w}`)),
            ]),
        );
        this.commands = outputOf(summary, (s) => s.commands);
        this.steps = stepAddresses([...configured, ...dataPlanes, ...checked]);
        this.registerOutputs({ nodes: this.nodes, pairs: this.pairs, cpuCommonFeatures: this.cpuCommonFeatures, warnings: this.warnings, commands: this.commands, steps: this.steps });
    }
}
