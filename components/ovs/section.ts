/**
 * The `hostwright:ovs` stack-config section: a list of port mirrors, each either on
 * an inventory host (host + ports) or found through OpenStack (openstack: instanceId
 * / portId / network; the node is looked for among all inventory hosts). The same
 * checks as the component run here, with config paths.
 */
import { z } from "zod";
import type { Issue } from "../../core/errors";
import { ipAddress, name } from "../../core/config/schema";
import { duplicateNameIssues, hostRefIssues, placeholderHost, StackContext, StackSection } from "../../core/config/sections";
import type { OvsPortMirrorArgs } from "./args";
import { checkMirrorArgs } from "./checks";
import { OvsPortMirror } from "./component";

const mirror = z.strictObject({
    /** Resource name of the mirror; unique in the section. */
    name: name(),
    /** Inventory host holding the ports (explicit source). */
    host: name().optional(),
    ports: z.array(z.string()).optional(),
    openstack: z
        .strictObject({
            instanceId: z.string().optional(),
            portId: z.string().optional(),
            network: z.string().optional(),
        })
        .optional(),
    bridge: z.string().optional(),
    direction: z.enum(["both", "ingress", "egress"]).optional(),
    wholeBridge: z.boolean().optional(),
    vlans: z.array(z.number()).optional(),
    capture: z
        .strictObject({
            kind: z.enum(["auto", "dummy", "internal", "tap", "veth"]).optional(),
            name: z.string().optional(),
            mtu: z.number().optional(),
        })
        .optional(),
    collector: z
        .strictObject({
            protocol: z.enum(["gre", "erspan"]),
            address: ipAddress(),
            key: z.number().optional(),
            erspanVersion: z.union([z.literal(1), z.literal(2)]).optional(),
            erspanIndex: z.number().optional(),
            erspanHardwareId: z.number().optional(),
            portName: z.string().optional(),
        })
        .optional(),
    mirrorName: z.string().optional(),
    durationSeconds: z.number().optional(),
    captureRevision: z.number().optional(),
    allowOverlappingMirrors: z.boolean().optional(),
    pcap: z
        .strictObject({
            path: z.string().optional(),
            fileMegabytes: z.number().optional(),
            files: z.number().optional(),
        })
        .optional(),
});

export const ovsSchema = z.array(mirror);
export type OvsSection = z.infer<typeof ovsSchema>;
type MirrorConfig = OvsSection[number];

/** Component args from one config entry. */
function argsOf(m: MirrorConfig, ctx: StackContext): OvsPortMirrorArgs {
    const { name: _name, host, openstack, ...rest } = m;
    return {
        ...rest,
        ...(host !== undefined ? { host: ctx.hosts.get(host) ?? placeholderHost(host) } : {}),
        ...(openstack ? { openstack: { ...openstack, candidates: [...ctx.hosts.values()] } } : {}),
    };
}

export const ovsSection: StackSection<MirrorConfig> = {
    key: "ovs",
    title: "Open vSwitch port mirrors (explicit, or found through OpenStack)",
    schema: ovsSchema,
    check(value, ctx) {
        const issues: Issue[] = duplicateNameIssues(value, "mirror");
        const captures = new Map<string, number>();
        value.forEach((m, i) => {
            if (m.host !== undefined) issues.push(...hostRefIssues(ctx, `[${i}].host`, m.host));
            for (const issue of checkMirrorArgs(argsOf(m, ctx))) issues.push({ ...issue, path: `[${i}].${issue.path}` });
            // Two explicit mirrors on one node cannot share a capture interface or a tunnel port name.
            if (m.host !== undefined && (m.capture?.name ?? m.collector?.portName)) {
                const where = `${m.host}/${m.capture?.name ?? m.collector?.portName}`;
                if (captures.has(where)) issues.push({ path: `[${i}].${m.capture?.name ? "capture.name" : "collector.portName"}`, message: `mirror [${captures.get(where)}] already uses this name on host ${m.host}` });
                captures.set(where, i);
            }
        });
        return issues;
    },
    declare(m, ctx) {
        const mirror = new OvsPortMirror(m.name, argsOf(m, ctx));
        return {
            node: mirror.node,
            bridge: mirror.bridge,
            ports: mirror.ports,
            captureInterface: mirror.captureInterface,
            captureKind: mirror.captureKind,
            tcpdump: mirror.tcpdump,
            captureCommand: mirror.captureCommand,
            fetchCommand: mirror.fetchCommand,
            status: mirror.status,
            expiresAt: mirror.expiresAt,
            lifetime: mirror.lifetime,
            mirrorId: mirror.mirrorId,
            warnings: mirror.warnings,
        };
    },
};
