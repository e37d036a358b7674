/**
 * The `hostwright:libvirt` stack-config section: a list of live-migration groups,
 * each a set of inventory hosts. Certificates are PEM text (public); private keys
 * and the SASL password are names of `hostwright:secrets` entries. The component's
 * own checks run here, on the clear secrets, before anything is declared; the keys
 * reach the component as secrets, so a secret this run cannot read (offline preview
 * without the passphrase) leaves only its key check not run.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { Issue } from "../../core/errors";
import { address, ipAddress, name, pem, port, secretRef, absolutePath } from "../../core/config/schema";
import { duplicateNameIssues, hostRefIssues, secretRefIssues, StackContext, StackSection } from "../../core/config/sections";
import { OPAQUE_SECRET } from "../../core/opaque";
import type { LiveMigrationArgs } from "./args";
import { checkLiveMigration, KeyField } from "./checks";
import { LibvirtLiveMigration } from "./component";

const node = z.strictObject({
    /** Inventory host. */
    host: name(),
    migrationAddress: address().optional(),
    listenAddress: ipAddress().optional(),
    hostUuid: z.string().optional(),
    tls: z
        .strictObject({
            serverCertificate: pem("CERTIFICATE"),
            /** Secret name of the server key. */
            serverKey: secretRef(),
            clientCertificate: pem("CERTIFICATE"),
            /** Secret name of the client key. */
            clientKey: secretRef(),
        })
        .optional(),
});

const group = z.strictObject({
    /** Resource name of the group; unique in the section. */
    name: name(),
    nodes: z.array(node).min(2, "needs at least two nodes: live migration is between nodes"),
    transport: z.enum(["tls", "tcp", "ssh"]).optional(),
    auth: z.enum(["none", "sasl"]).optional(),
    allowUnauthenticatedTcp: z.boolean().optional(),
    tls: z.strictObject({ caCertificate: pem("CERTIFICATE"), allowedClientDns: z.array(z.string()).optional() }).optional(),
    sasl: z
        .strictObject({
            username: z.string().optional(),
            /** Secret name of the password. */
            password: secretRef(),
            mechanism: z.enum(["digest-md5", "scram-sha-256"]).optional(),
            clientGroup: z.string().optional(),
        })
        .optional(),
    tcpPort: port().optional(),
    tlsPort: port().optional(),
    migrationPortMin: port().optional(),
    migrationPortMax: port().optional(),
    nova: z
        .strictObject({
            release: z.string(),
            configPath: absolutePath().optional(),
            service: z.string().optional(),
            restart: z.boolean().optional(),
            permitAutoConverge: z.boolean().optional(),
            permitPostCopy: z.boolean().optional(),
            bandwidthMiBps: z.number().int().min(0).optional(),
            maxDowntimeMs: z.number().int().min(0).optional(),
            completionTimeoutSeconds: z.number().int().min(0).optional(),
            nativeTls: z.boolean().optional(),
            qemuGroup: z.string().optional(),
            cpuMode: z.enum(["host-model", "host-passthrough", "custom", "none"]).optional(),
            cpuModels: z.array(z.string()).optional(),
        })
        .optional(),
    restartLibvirt: z.boolean().optional(),
    verifyPeers: z.boolean().optional(),
});

export const libvirtSchema = z.array(group);
export type LibvirtSection = z.infer<typeof libvirtSchema>;
type GroupConfig = LibvirtSection[number];

/** Where the group's config refers to a secret: args path -> secret name. */
function secretRefsOf(g: GroupConfig): Array<[string, string]> {
    const refs: Array<[string, string]> = [];
    g.nodes.forEach((n, i) => {
        if (n.tls) refs.push([`nodes[${i}].tls.serverKey`, n.tls.serverKey], [`nodes[${i}].tls.clientKey`, n.tls.clientKey]);
    });
    if (g.sasl) refs.push(["sasl.password", g.sasl.password]);
    return refs;
}

/**
 * Component args from one group; private keys through `keyOf` (their clear text for the
 * checks, the secrets themselves for the component, which checks them once known), the
 * SASL password in clear (the component makes it a Pulumi secret): for the checks "" when
 * this run cannot read it (the check is then listed as not run), for the component its
 * placeholder (core/opaque.ts), so the group is still declared.
 */
function argsOf(g: GroupConfig, ctx: StackContext, keyOf: (ref: string) => pulumi.Input<string>, forChecks: boolean): LiveMigrationArgs {
    const secret = (ref: string) => ctx.secretValue(ref) ?? (forChecks ? "" : OPAQUE_SECRET(`hostwright:secrets.${ref}`));
    const { name: _name, nodes, sasl, ...rest } = g;
    return {
        ...rest,
        nodes: nodes.map((n) => ({
            ...n,
            host: ctx.hosts.get(n.host)!,
            tls: n.tls && { ...n.tls, serverKey: keyOf(n.tls.serverKey), clientKey: keyOf(n.tls.clientKey) },
        })),
        sasl: sasl && { ...sasl, password: secret(sasl.password) },
    };
}

export const libvirtSection: StackSection<GroupConfig> = {
    key: "libvirt",
    title: "libvirt / nova live migration between compute nodes",
    schema: libvirtSchema,
    check(value, ctx) {
        const issues: Issue[] = duplicateNameIssues(value, "group");
        const hostGroup = new Map<string, string>();
        value.forEach((g, i) => {
            let hostsKnown = true;
            g.nodes.forEach((n, j) => {
                const missing = hostRefIssues(ctx, `[${i}].nodes[${j}].host`, n.host);
                issues.push(...missing);
                hostsKnown &&= missing.length === 0;
                const other = hostGroup.get(n.host);
                // Both groups would edit the same libvirtd.conf and nova.conf.
                if (other !== undefined && other !== g.name) issues.push({ path: `[${i}].nodes[${j}].host`, message: `host ${n.host} is already in group ${other}; a host can be in one migration group` });
                hostGroup.set(n.host, g.name);
            });
            const refs = secretRefsOf(g);
            const missingSecret = new Set<string>();
            for (const [path, ref] of refs) {
                const missing = secretRefIssues(ctx, `[${i}].${path}`, ref);
                if (missing.length > 0) missingSecret.add(path);
                issues.push(...missing);
            }
            if (!hostsKnown) return;
            for (const issue of checkLiveMigration(argsOf(g, ctx, (ref) => ctx.secretValue(ref) ?? "", true))) {
                if (missingSecret.has(issue.path)) continue; // reported once, above
                issues.push({ ...issue, path: `[${i}].${issue.path}` });
            }
        });
        return issues;
    },
    declare(g, ctx) {
        // Keys as secrets: an offline preview that cannot decrypt them still declares the steps.
        // Their clear text, where known, is checked with the rest before anything is declared.
        const keyText = (i: number, field: KeyField) => ctx.secretValue(g.nodes[i].tls?.[field] ?? "");
        const group = new LibvirtLiveMigration(g.name, argsOf(g, ctx, (ref) => ctx.secret(ref), false), undefined, { keyText });
        return { nodes: group.nodes, pairs: group.pairs, cpuCommonFeatures: group.cpuCommonFeatures, warnings: group.warnings, commands: group.commands };
    },
};
