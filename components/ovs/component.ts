import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { remoteStep, stepKey, stepReport } from "../../core/remoteStep";
import type { OvsPortMirrorArgs } from "./args";
import { checkMirrorArgs } from "./checks";
import { resolveOpenStackSource } from "./openstack";
import { planMirror, renderMirrorStep, tcpdumpCommand } from "./render";

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
    /** `created`, `updated` or `unchanged` at the last apply. */
    readonly status: pulumi.Output<string>;
    /** The Mirror row's id on the node: `ovs-vsctl list Mirror ID` shows its packet counters. */
    readonly mirrorId: pulumi.Output<string>;
    readonly warnings: pulumi.Output<string[]>;

    constructor(name: string, args: OvsPortMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:ovs:PortMirror", name, {}, opts);
        const argWarnings = acceptArgs(checkMirrorArgs(args), `args of OvsPortMirror ${name}`, this);

        const stepName = `${name}-mirror`;
        const key = stepKey(stepName);
        const os = args.openstack;
        const source = os
            ? resolveOpenStackSource(os, { parent: this }).apply((r) => ({ node: r.node, ports: [r.portName] }))
            : pulumi.output({ node: args.host!.name, ports: args.ports ?? [] });
        const host = args.host ?? source.apply((s) => os!.candidates.find((h) => h.name === s.node)!);
        const plan = source.apply((s) => planMirror(args, name, key, s.ports));
        // Everything but the source ports is known before any look-up.
        const shape = planMirror(args, name, key, args.ports ?? []);
        const step = pulumi.all([source, plan]).apply(([s, p]) => renderMirrorStep(p, s.node));
        const command = remoteStep(stepName, { host, step }, { parent: this });
        const report = stepReport(command);

        this.node = source.apply((s) => s.node);
        this.bridge = pulumi.output(shape.bridge);
        this.ports = plan.apply((p) => p.ports);
        this.captureInterface = pulumi.output(shape.output.type === "capture" ? shape.output.name : "");
        this.captureKind = report.apply((r) => r.values.captureKind ?? "");
        this.tcpdump = pulumi.output(tcpdumpCommand(shape, `/tmp/${shape.output.type === "capture" ? shape.output.name : shape.mirrorName}.pcap`));
        this.status = report.apply((r) => r.values.status ?? "");
        this.mirrorId = report.apply((r) => r.values.mirror ?? "");
        this.warnings = report.apply((r) => [...argWarnings, ...r.warnings]);
        this.registerOutputs({
            node: this.node,
            bridge: this.bridge,
            ports: this.ports,
            captureInterface: this.captureInterface,
            captureKind: this.captureKind,
            tcpdump: this.tcpdump,
            status: this.status,
            mirrorId: this.mirrorId,
            warnings: this.warnings,
        });
    }
}
