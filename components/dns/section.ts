/**
 * The `hostwright:dns` stack-config section: a list of resolver guards, one per
 * inventory host at most. The same checks as the component run here, with config paths.
 */
import { z } from "zod";
import type { Issue } from "../../core/errors";
import { name } from "../../core/config/schema";
import { duplicateNameIssues, hostRefIssues, placeholderHost, StackContext, StackSection } from "../../core/config/sections";
import type { ResolverGuardArgs } from "./args";
import { checkResolverArgs, PROBE_TYPES } from "./checks";
import { ResolverGuard } from "./component";

const guard = z.strictObject({
    /** Resource name of the guard; unique in the section. */
    name: name(),
    /** Inventory host. */
    host: name(),
    resolvConf: z
        .strictObject({
            nameservers: z.array(z.string()),
            search: z.array(z.string()).optional(),
            options: z.array(z.string()).optional(),
        })
        .optional(),
    interfaces: z.array(z.string()).optional(),
    cache: z
        .strictObject({
            kind: z.enum(["dnsmasq", "unbound", "dnscache"]),
            domains: z.array(
                z.strictObject({
                    domain: z.string(),
                    servers: z.array(z.string()),
                    probe: z.strictObject({ name: z.string(), type: z.enum(PROBE_TYPES as [string, ...string[]]).optional() }).optional(),
                }),
            ),
            configFile: z.string().optional(),
            service: z.string().optional(),
            directory: z.string().optional(),
            address: z.string().optional(),
            verify: z.boolean().optional(),
        })
        .optional(),
});

export const dnsSchema = z.array(guard);
export type DnsSection = z.infer<typeof dnsSchema>;
type GuardConfig = DnsSection[number];

/** Component args from one config entry. */
function argsOf(g: GuardConfig, ctx: StackContext): ResolverGuardArgs {
    const { name: _name, host, ...rest } = g;
    return { ...(rest as Omit<ResolverGuardArgs, "host">), host: ctx.hosts.get(host) ?? placeholderHost(host) };
}

export const dnsSection: StackSection<GuardConfig> = {
    key: "dns",
    title: "Resolver guards (resolv.conf kept against DHCP, per-domain name servers in the local cache)",
    schema: dnsSchema,
    check(value, ctx) {
        const issues: Issue[] = duplicateNameIssues(value, "guard");
        const hosts = new Map<string, number>();
        value.forEach((g, i) => {
            issues.push(...hostRefIssues(ctx, `[${i}].host`, g.host));
            // One host has one resolv.conf, one hook and one cache.
            if (hosts.has(g.host)) issues.push({ path: `[${i}].host`, message: `host ${g.host} already has a guard ([${hosts.get(g.host)}]); declare one per host` });
            hosts.set(g.host, i);
            for (const issue of checkResolverArgs(argsOf(g, ctx))) issues.push({ ...issue, path: `[${i}].${issue.path}` });
        });
        return issues;
    },
    declare(g, ctx) {
        const guard = new ResolverGuard(g.name, argsOf(g, ctx));
        return {
            host: guard.host,
            files: guard.files,
            answers: guard.answers,
            glibc: guard.glibc,
            networkManagerDropIn: guard.networkManagerDropIn,
            checkCommands: guard.checkCommands,
            warnings: guard.warnings,
        };
    },
};
