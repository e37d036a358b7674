import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepAddress, stepAddresses, stepKey, stepReport } from "../../core/remoteStep";
import { lift, liftOutput, outputOf, resolveInputs } from "../../core/inputs";
import type { Host } from "../../core/host";
import type { OvsPortMirrorArgs, OvsPortMirrorInputs } from "./args";
import { checkMirrorArgs } from "./checks";
import { resolveOpenStackSource } from "./openstack";
import { fetchCommand, MirrorPlan, PcapPlan, planMirror, planPcap, renderMirrorStep, rotatingCaptureCommand, tcpdumpCommand } from "./render";

/** The args once known: checked, with the plan of everything but the source ports. */
interface Accepted {
    plain: OvsPortMirrorArgs;
    warnings: string[];
    shape: MirrorPlan;
    pcap: PcapPlan;
}

/**
 * An Open vSwitch port mirror on one node: the mirrored packets go to a local
 * capture interface (tcpdump) or to a remote GRE/ERSPAN collector. The source is
 * explicit (host + ports) or a Nova instance / Neutron port found through OpenStack.
 * Apply appends the mirror (other mirrors stay); destroy removes exactly its own objects.
 */
export class OvsPortMirror extends pulumi.ComponentResource {
    /** Inventory name of the node the mirror is on. */
    readonly node: pulumi.Output<string>;
    readonly bridge: pulumi.Output<string>;
    /** The mirrored OVS ports (empty with wholeBridge). */
    readonly ports: pulumi.Output<string[]>;
    /** The interface tcpdump listens on ("" for a remote collector). */
    readonly captureInterface: pulumi.Output<string>;
    /** What the capture interface turned out to be on the node (`dummy`, `internal`, ...; `collector`). */
    readonly captureKind: pulumi.Output<string>;
    /** Ready to run on the node (for a collector: on the collector). */
    readonly tcpdump: pulumi.Output<string>;
    /** Capture to pcap files with rotation limits (`tcpdump -C -W`), ready to run on the node (for a collector: on the collector). */
    readonly captureCommand: pulumi.Output<string>;
    /** Copies those files from the node to the current directory over SSH ("" for a collector, which is not an inventory host). */
    readonly fetchCommand: pulumi.Output<string>;
    /** `created`, `updated`, `unchanged`, or `expired` (the capture's `durationSeconds` ran out; not made again) at the last run of the step. */
    readonly status: pulumi.Output<string>;
    /** When the node removes the capture by itself (UTC, ISO 8601); "" without `durationSeconds`. */
    readonly expiresAt: pulumi.Output<string>;
    /** How long the capture lives and what ends it, in words. */
    readonly lifetime: pulumi.Output<string>;
    /** The Mirror row's id on the node: `ovs-vsctl list Mirror ID` shows its packet counters. */
    readonly mirrorId: pulumi.Output<string>;
    readonly warnings: pulumi.Output<string[]>;
    /** The mirror's step: name, URN, node and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: OvsPortMirrorInputs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:ovs:PortMirror", name, {}, opts);
        const stepName = `${name}-mirror`;
        const key = stepKey(stepName);
        // Checked and planned at once for plain args; once known when some come from other resources.
        const accepted = lift(resolveInputs<OvsPortMirrorArgs>(args), (plain) => {
            const warnings = acceptArgs(checkMirrorArgs(plain), `args of OvsPortMirror ${name}`, this, [plain.host?.name ?? ""]);
            // Everything but the source ports is known before any look-up.
            const shape = planMirror(plain, name, key, plain.ports ?? []);
            return { plain, warnings, shape, pcap: planPcap(plain, shape) };
        });

        const source = liftOutput(accepted, ({ plain }) =>
            plain.openstack
                ? resolveOpenStackSource(plain.openstack, { parent: this }).apply((r) => ({ node: r.node, ports: [r.portName] }))
                : pulumi.output({ node: plain.host!.name, ports: plain.ports ?? [] }),
        );
        // The node of an OpenStack source is one of the candidates (their addresses resolved).
        const nodeHost = ({ plain }: Accepted, node: string): Host => plain.host ?? plain.openstack!.candidates.find((h) => h.name === node)!;
        const host = args.host ?? liftOutput(accepted, (a) => source.apply((s) => nodeHost(a, s.node)));
        const planned = liftOutput(accepted, ({ plain }) => source.apply((s) => ({ node: s.node, plan: planMirror(plain, name, key, s.ports) })));
        const step = planned.apply(({ node, plan }) => renderMirrorStep(plan, node));
        const command = remoteStep(stepName, { host, step }, { parent: this });
        const report = stepReport(command);

        this.node = source.apply((s) => s.node);
        this.bridge = outputOf(accepted, ({ shape }) => shape.bridge);
        this.ports = planned.apply(({ plan }) => plan.ports);
        this.captureInterface = outputOf(accepted, ({ shape }) => (shape.output.type === "capture" ? shape.output.name : ""));
        this.captureKind = report.apply((r) => r.values.captureKind ?? "");
        this.tcpdump = outputOf(accepted, ({ shape }) => tcpdumpCommand(shape, `/tmp/${shape.output.type === "capture" ? shape.output.name : shape.mirrorName}.pcap`));
        this.captureCommand = outputOf(accepted, ({ shape, pcap }) => rotatingCaptureCommand(shape, pcap));
        this.fetchCommand = liftOutput(accepted, (a) =>
            a.shape.output.type === "collector"
                ? pulumi.output("")
                : source.apply((s) => {
                      // the login only: the Host also holds the private key, which would make the command a secret
                      const h = nodeHost(a, s.node);
                      return fetchCommand({ address: h.address, port: h.port, user: h.user }, a.pcap);
                  }),
        );
        this.status = report.apply((r) => r.values.status ?? "");
        this.expiresAt = report.apply((r) => r.values.expiresAt ?? "");
        this.lifetime = outputOf(accepted, ({ plain }) =>
            plain.durationSeconds === undefined
                ? "until destroy"
                : `${plain.durationSeconds} s from the apply that creates it: then a job on the node removes the mirror, its output port and links, without Pulumi; ` +
                  `later runs of the step report "expired" and do not make it again (raise captureRevision for a new capture)`,
        );
        this.mirrorId = report.apply((r) => r.values.mirror ?? "");
        this.warnings = liftOutput(accepted, (a) => report.apply((r) => [...a.warnings, ...r.warnings]));
        this.steps = stepAddresses([command]);
        this.registerOutputs({
            steps: this.steps,
            node: this.node,
            bridge: this.bridge,
            ports: this.ports,
            captureInterface: this.captureInterface,
            captureKind: this.captureKind,
            tcpdump: this.tcpdump,
            captureCommand: this.captureCommand,
            fetchCommand: this.fetchCommand,
            status: this.status,
            expiresAt: this.expiresAt,
            lifetime: this.lifetime,
            mirrorId: this.mirrorId,
            warnings: this.warnings,
        });
    }
}
