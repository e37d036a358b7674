/**
 * The `hostwright:lxd` stack-config section: a list of LXD remote meshes, each over
 * inventory hosts. No secrets are configured here: trust tokens are made on the
 * hosts at apply time and travel only as Pulumi secrets.
 */
import { z } from "zod";
import type { Issue } from "../../core/errors";
import { absolutePath, address, name, port } from "../../core/config/schema";
import { duplicateNameIssues, hostRefIssues, StackContext, StackSection } from "../../core/config/sections";
import type { LxdRemoteMeshArgs } from "./args";
import { checkMeshArgs } from "./checks";
import { LxdRemoteMesh } from "./component";

const member = z.strictObject({
    /** Inventory host; its name becomes the remote name. */
    host: name(),
    apiAddress: address().optional(),
    apiPort: port().optional(),
    listenAddress: z.string().optional(),
});

const mesh = z.strictObject({
    /** Resource name of the mesh; unique in the section. */
    name: name(),
    hosts: z.array(member).min(1, "needs at least one host"),
    project: z.string().optional(),
    clientConfigDir: absolutePath().optional(),
    lxdDir: absolutePath().optional(),
    trust: z.enum(["token", "certificate"]).optional(),
    migration: z.enum(["stateless", "stateful"]).optional(),
    preflightRevision: z.number().int().min(0).optional(),
    connectTimeoutSeconds: z.number().int().min(1).max(120).optional(),
    instances: z.array(z.string()).optional(),
});

export const lxdSchema = z.array(mesh);
export type LxdSection = z.infer<typeof lxdSchema>;
type MeshConfig = LxdSection[number];

function argsOf(m: MeshConfig, ctx: StackContext): LxdRemoteMeshArgs {
    const { name: _name, hosts, ...rest } = m;
    return { ...rest, members: hosts.map(({ host, ...member }) => ({ ...member, host: ctx.hosts.get(host)! })) };
}

/** Component path -> config path: `members[1].host.address` -> `hosts[1].host`, `members[0].apiPort` -> `hosts[0].apiPort`. */
function configPath(path: string): string {
    return path.replace(/^members\[(\d+)\]\.host(\.[A-Za-z]+)?/, "hosts[$1].host").replace(/^members/, "hosts");
}

export const lxdSection: StackSection<MeshConfig> = {
    key: "lxd",
    title: "LXD remote meshes for container migration, with pre-flight checks",
    schema: lxdSchema,
    check(value, ctx) {
        const issues: Issue[] = duplicateNameIssues(value, "mesh");
        value.forEach((m, i) => {
            const refs = m.hosts.flatMap((h, j) => hostRefIssues(ctx, `[${i}].hosts[${j}].host`, h.host));
            issues.push(...refs);
            if (refs.length > 0) return;
            for (const issue of checkMeshArgs(argsOf(m, ctx))) issues.push({ ...issue, path: `[${i}].${configPath(issue.path)}` });
        });
        return issues;
    },
    declare(m, ctx) {
        const c = new LxdRemoteMesh(m.name, argsOf(m, ctx));
        return { readiness: c.readiness, matrix: c.matrix, preflightErrors: c.preflightErrors, instances: c.instances, moveCommands: c.moveCommands, warnings: c.warnings };
    },
};
