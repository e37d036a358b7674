import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepAddress, stepAddress, stepKey, stepReport } from "../../core/remoteStep";
import type { OvsPortMirrorArgs } from "./args";
import { checkMirrorArgs } from "./checks";
import { resolveOpenStackSource } from "./openstack";
import { fetchCommand, planMirror, planPcap, renderMirrorStep, rotatingCaptureCommand, tcpdumpCommand } from "./render";

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

    constructor(name: string, args: OvsPortMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:ovs:PortMirror", name, {}, opts);
        const argWarnings = acceptArgs(checkMirrorArgs(args), `args of OvsPortMirror ${name}`, this, [args.host?.name ?? ""]);

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
        const pcap = planPcap(args, shape);
        this.captureCommand = pulumi.output(rotatingCaptureCommand(shape, pcap));
        this.fetchCommand = shape.output.type === "collector" ? pulumi.output("") : source.apply((s) => {
                      // the login only: the Host also holds the private key, which would make the command a secret
                      const h = args.host ?? os!.candidates.find((c) => c.name === s.node)!;
                      return fetchCommand({ address: h.address, port: h.port, user: h.user }, pcap);
                  });
        this.status = report.apply((r) => r.values.status ?? "");
        this.expiresAt = report.apply((r) => r.values.expiresAt ?? "");
        this.lifetime = pulumi.output(
            args.durationSeconds === undefined
                ? "until destroy"
                : `${args.durationSeconds} s from the apply that creates it: then a job on the node removes the mirror, its output port and links, without Pulumi; ` +
                      `later runs of the step report "expired" and do not make it again (raise captureRevision for a new capture)`,
        );
        this.mirrorId = report.apply((r) => r.values.mirror ?? "");
        this.warnings = report.apply((r) => [...argWarnings, ...r.warnings]);
        this.steps = pulumi.all([stepAddress(command)]);
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
