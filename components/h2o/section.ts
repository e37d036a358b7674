/**
 * The `hostwright:h2o` stack-config section: a list of proxies, each on an inventory
 * host. Private keys are names of `hostwright:secrets` entries; certificates are PEM
 * text (public). The same checks as the component run here, with the clear keys.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { Issue } from "../../core/errors";
import { absolutePath, ipAddress, name, pem, port, secretRef } from "../../core/config/schema";
import { duplicateNameIssues, hostRefIssues, secretRefIssues, StackContext, StackSection } from "../../core/config/sections";
import type { Host } from "../../core/host";
import type { H2oReverseProxyArgs, TlsIdentityArgs } from "./args";
import { checkH2oArgs } from "./checks";
import { H2oReverseProxy } from "./component";

const identity = () => z.strictObject({ certificateChain: pem("CERTIFICATE"), privateKey: secretRef() });

const path = z.strictObject({
    path: z.string(),
    proxyTo: z.string().optional(),
    preserveHost: z.boolean().optional(),
    timeoutIoMs: z.number().optional(),
    keepaliveTimeoutMs: z.number().optional(),
    setRequestHeaders: z.record(z.string(), z.string()).optional(),
    redirectTo: z.string().optional(),
    redirectStatus: z.union([z.literal(301), z.literal(302), z.literal(307), z.literal(308)]).optional(),
});

const proxy = z.strictObject({
    /** Resource name of the proxy; unique in the section. */
    name: name(),
    /** Inventory host it runs on. */
    host: name(),
    h2oVersion: z.enum(["2.2", "current"]).optional(),
    user: z.string().optional(),
    maxConnections: z.number().optional(),
    numThreads: z.number().optional(),
    numOcspUpdaters: z.number().optional(),
    accessLog: absolutePath().optional(),
    errorLog: absolutePath().optional(),
    pidFile: absolutePath().optional(),
    configPath: absolutePath().optional(),
    tlsDirectory: absolutePath().optional(),
    serviceName: z.string().optional(),
    trustDirectory: absolutePath().optional(),
    expiryWarningDays: z.number().optional(),
    ocspCacheDirectory: absolutePath().optional(),
    listeners: z
        .array(
            z.strictObject({
                name: z.string(),
                address: ipAddress().optional(),
                port: port(),
                tls: identity()
                    .extend({
                        extraIdentities: z.array(identity()).optional(),
                        minimumVersion: z.enum(["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]).optional(),
                        cipherSuite: z.string().optional(),
                        preferServerCiphers: z.boolean().optional(),
                        ocsp: z
                            .strictObject({
                                updateInterval: z.number().optional(),
                                maxFailures: z.number().optional(),
                                verification: z.enum(["trust-store", "ca-file", "h2o-default"]).optional(),
                                rootCertificate: pem("CERTIFICATE").optional(),
                                issuerCertificate: pem("CERTIFICATE").optional(),
                                stapleWaitSeconds: z.number().optional(),
                                requireGoodStaple: z.boolean().optional(),
                                responderUrl: z.string().optional(),
                                proxy: z.string().optional(),
                                stapleAgeWarningSeconds: z.number().optional(),
                            })
                            .optional(),
                    })
                    .optional(),
            }),
        )
        .min(1, "needs at least one listener"),
    virtualHosts: z
        .array(
            z.strictObject({
                name: z.string(),
                listeners: z.array(z.string()).optional(),
                paths: z.array(path).min(1, "needs at least one path"),
                accessLog: absolutePath().optional(),
            }),
        )
        .min(1, "needs at least one virtual host"),
});

export const h2oSchema = z.array(proxy);
export type H2oSection = z.infer<typeof h2oSchema>;
type ProxyConfig = H2oSection[number];

/** Component args from one config entry; private keys through `keyOf` (a secret or its clear text). */
function argsOf(p: ProxyConfig, host: Host, keyOf: (ref: string) => pulumi.Input<string>): H2oReverseProxyArgs {
    const { name: _name, host: _host, ...rest } = p;
    return {
        ...rest,
        host,
        listeners: p.listeners.map((l) => ({
            ...l,
            tls: l.tls && {
                ...l.tls,
                privateKey: keyOf(l.tls.privateKey),
                extraIdentities: l.tls.extraIdentities?.map((e) => ({ ...e, privateKey: keyOf(e.privateKey) })),
            },
        })),
    };
}

/** The config's secret name of an identity, found by position (args keep no names). */
function secretNameAt(p: ProxyConfig, listenerIndex: number, identityIndex: number): string | undefined {
    const tls = p.listeners[listenerIndex]?.tls;
    return identityIndex === 0 ? tls?.privateKey : tls?.extraIdentities?.[identityIndex - 1]?.privateKey;
}

function checkOptionsFor(p: ProxyConfig, ctx: StackContext) {
    return { privateKeyText: (_identity: TlsIdentityArgs, l: number, i: number) => ctx.secretValue(secretNameAt(p, l, i) ?? "") };
}

export const h2oSection: StackSection<ProxyConfig> = {
    key: "h2o",
    title: "h2o reverse proxies with TLS and OCSP stapling",
    schema: h2oSchema,
    check(value, ctx) {
        const issues: Issue[] = duplicateNameIssues(value, "proxy");
        const configs = new Map<string, number>();
        value.forEach((p, i) => {
            issues.push(...hostRefIssues(ctx, `[${i}].host`, p.host));
            const where = `${p.host}:${p.configPath ?? "/etc/h2o/h2o.conf"}`;
            if (configs.has(where)) issues.push({ path: `[${i}].host`, message: `proxy [${configs.get(where)}] already manages ${where}; one h2o config per host (use another configPath and serviceName for a second h2o)` });
            configs.set(where, i);
            p.listeners.forEach((l, j) => {
                if (!l.tls) return;
                issues.push(...secretRefIssues(ctx, `[${i}].listeners[${j}].tls.privateKey`, l.tls.privateKey));
                l.tls.extraIdentities?.forEach((e, k) => issues.push(...secretRefIssues(ctx, `[${i}].listeners[${j}].tls.extraIdentities[${k}].privateKey`, e.privateKey)));
            });
            const host = ctx.hosts.get(p.host);
            if (!host) return;
            const checked = checkH2oArgs(argsOf(p, host, (ref) => ref), checkOptionsFor(p, ctx));
            for (const issue of checked.issues) {
                // A missing secret is reported once, above.
                if (issue.path.endsWith("privateKey") && !ctx.secretNames.has(secretAt(p, issue.path) ?? "")) continue;
                issues.push({ ...issue, path: `[${i}].${issue.path}` });
            }
        });
        return issues;
    },
    declare(p, ctx) {
        const proxy = new H2oReverseProxy(p.name, argsOf(p, ctx.hosts.get(p.host)!, (ref) => ctx.secret(ref)), undefined, checkOptionsFor(p, ctx));
        return { configPath: proxy.configPath, stapling: proxy.stapling, staples: proxy.staples, chainOrder: proxy.chainOrder, warnings: proxy.warnings, checkCommands: proxy.checkCommands, restartDowntimeMs: proxy.restartDowntimeMs };
    },
};

/** The secret name referred to at an args path like `listeners[0].tls.extraIdentities[1].privateKey`. */
function secretAt(p: ProxyConfig, path: string): string | undefined {
    const m = /^listeners\[(\d+)\]\.tls\.(?:extraIdentities\[(\d+)\]\.)?privateKey$/.exec(path);
    if (!m) return undefined;
    return secretNameAt(p, Number(m[1]), m[2] === undefined ? 0 : Number(m[2]) + 1);
}
