/**
 * `hostwright:h2o:ReverseProxy`: h2o in front of existing backends, with TLS chains
 * put in trust order and OCSP stapling that works or says why not. Only wiring:
 * checks.ts validates, render.ts renders, core/remoteStep runs it on the host.
 */
import * as pulumi from "@pulumi/pulumi";
import { acceptArgs, ValidationError } from "../../core/errors";
import { remoteStep, StepAddress, stepAddresses, stepReport } from "../../core/remoteStep";
import type { StepReport } from "../../core/step";
import { lift, liftOutput, outputOf, resolveInputs } from "../../core/inputs";
import { isOpaqueSecret } from "../../core/opaque";
import type { H2oReverseProxyArgs, H2oReverseProxyInputs, TlsIdentityArgs } from "./args";
import { checkChain } from "./certs";
import { checkH2oArgs, CheckOptions, StaplingStatus } from "./checks";
import { renderH2o } from "./render";

/**
 * Where the staple a listener served after the apply came from: `fresh` (the responder
 * answered), `cached` (the component's fetcher served the last good response it kept, the
 * responder giving no verified answer), `none` (the fetcher had nothing to serve), `h2o`
 * (`verification: "h2o-default"`: h2o's own fetcher, which keeps no record).
 */
export type StapleSource = "fresh" | "cached" | "none" | "h2o";

/** The staple of one TLS listener as a client saw it after the apply. */
export interface StapleReport {
    /** The response's thisUpdate as OpenSSL prints it (`Nov 26 10:02:17 2026 GMT`); "" without a staple. */
    thisUpdate: string;
    /** The response's nextUpdate; "" without a staple or when the response has none. */
    nextUpdate: string;
    source: StapleSource;
}

/** What the outputs need of the accepted args: no keys (which would make every output a secret). */
interface Summary {
    configPath: string;
    warnings: string[];
    listeners: Array<{ name: string; order: string[] }>;
    staticStapling: Record<string, StaplingStatus>;
    checkCommands: Record<string, string>;
}

export class H2oReverseProxy extends pulumi.ComponentResource {
    /** Where h2o.conf is installed. */
    readonly configPath: pulumi.Output<string>;
    /**
     * OCSP stapling status per TLS listener: "good", "unknown", "no staple" (measured
     * on the host after the switch), "not applicable" (the leaf names no OCSP
     * responder), "disabled" (`updateInterval: 0`). A revoked staple fails the apply.
     */
    readonly stapling: pulumi.Output<Record<string, StaplingStatus>>;
    /**
     * Per TLS listener with stapling applicable: the staple's thisUpdate, nextUpdate and
     * source (fresh from the responder, or cached: the last good response, served while the
     * responder is down until its nextUpdate), measured on the host after the switch.
     */
    readonly staples: pulumi.Output<Record<string, StapleReport>>;
    /** Per TLS listener: the chain as installed, leaf first, with each certificate's position in the given bundle. */
    readonly chainOrder: pulumi.Output<Record<string, string[]>>;
    /** Certificate warnings (expiry) and what the host reported (OCSP fetch failures, missing staples). */
    readonly warnings: pulumi.Output<string[]>;
    /** Per TLS listener: a command that shows what h2o staples (`openssl s_client -status`). */
    readonly checkCommands: pulumi.Output<Record<string, string>>;
    /**
     * Milliseconds without service caused by the step's last run: when the listener set of a
     * running h2o changed (a reload cannot bind a new port, so h2o was restarted), or h2o ran
     * with another configuration file (started by hand), the time from the restart until every
     * listener served again; 0 after a graceful reload (the sockets stay open) or a first start.
     */
    readonly restartDowntimeMs: pulumi.Output<number>;
    /** The proxy's step: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    /**
     * @param checkOptions for the stack section: the clear text of secret keys, so the key
     *   match is checked before anything is declared. Otherwise a key given as a Pulumi
     *   output is checked when its value is known.
     */
    constructor(name: string, args: H2oReverseProxyInputs, opts?: pulumi.ComponentResourceOptions, checkOptions?: CheckOptions) {
        super("hostwright:h2o:ReverseProxy", name, {}, opts);
        // Checked and rendered at once for plain args; once known when some come from other resources.
        const accepted = lift(resolveInputs<H2oReverseProxyArgs>(args), (plain) => {
            const checked = checkH2oArgs(plain, checkOptions);
            const warnings = acceptArgs(checked.issues, `h2o reverse proxy ${name}`, this, [plain.host?.name]);
            return { checked, warnings, rendered: renderH2o(name, plain, checked, (identity) => secretKeyContent(name, identity)) };
        });
        // One step: a refused apply puts back the trust directory's roots with the rest of the files.
        const proxy = remoteStep(`${name}-proxy`, { host: args.host, step: lift(accepted, (a) => a.rendered.proxyStep) }, { parent: this });
        const report = stepReport(proxy);
        // Plain for plain args, so each output is one Output (pulumi.all makes two more of every Output it is given).
        const summary = lift(accepted, ({ checked, warnings, rendered }): Summary => ({
            configPath: checked.settings.configPath,
            warnings,
            listeners: rendered.listeners.map((v) => ({ name: v.name, order: v.order })),
            staticStapling: rendered.staticStapling,
            checkCommands: rendered.checkCommands,
        }));
        const withReport = <T>(f: (s: Summary, r: StepReport) => T) => liftOutput(summary, (s) => report.apply((r) => f(s, r)));

        this.configPath = outputOf(summary, (s) => s.configPath);
        this.stapling = withReport((s, r) => {
            const measured: Record<string, StaplingStatus> = {};
            for (const v of s.listeners) measured[v.name] = s.staticStapling[v.name] ?? ((r.values[`stapling.${v.name}`] as StaplingStatus | undefined) ?? "not checked");
            return measured;
        });
        this.staples = withReport((s, r) => {
            const staples: Record<string, StapleReport> = {};
            for (const v of s.listeners) {
                const source = r.values[`stapleSource.${v.name}`] as StapleSource | undefined;
                if (source === undefined) continue;
                staples[v.name] = { thisUpdate: String(r.values[`stapleThisUpdate.${v.name}`] ?? ""), nextUpdate: String(r.values[`stapleNextUpdate.${v.name}`] ?? ""), source };
            }
            return staples;
        });
        this.chainOrder = outputOf(summary, (s) => Object.fromEntries(s.listeners.map((v) => [v.name, v.order])));
        this.warnings = withReport((s, r) => {
            for (const w of r.warnings) pulumi.log.warn(`${args.host.name}: ${w}`, this);
            return [...s.warnings, ...r.warnings];
        });
        this.checkCommands = outputOf(summary, (s) => s.checkCommands);
        this.restartDowntimeMs = report.apply((r) => Number(r.values.downtimeMs ?? 0));
        this.steps = stepAddresses([proxy]);
        this.registerOutputs({ configPath: this.configPath, stapling: this.stapling, staples: this.staples, chainOrder: this.chainOrder, warnings: this.warnings, checkCommands: this.checkCommands, restartDowntimeMs: this.restartDowntimeMs, steps: this.steps });
    }
}

/** The key as a secret file content; a key known only later is checked against its leaf then. */
function secretKeyContent(name: string, identity: TlsIdentityArgs): pulumi.Output<string> {
    if (typeof identity.privateKey === "string") return pulumi.secret(identity.privateKey);
    return pulumi.secret(pulumi.output(identity.privateKey).apply((key) => assertKeyMatches(name, identity, key)));
}

/**
 * Returns `key` when it belongs to the identity's leaf (or is a secret this run cannot
 * read, see core/opaque.ts); throws a ValidationError (without the key) otherwise.
 */
export function assertKeyMatches(name: string, identity: TlsIdentityArgs, key: string): string {
    if (isOpaqueSecret(key)) return key;
    const keyIssues = checkChain({ certificateChain: identity.certificateChain, privateKey: key }).issues.filter((i) => i.path === "privateKey");
    if (keyIssues.length > 0) throw new ValidationError(keyIssues, `h2o reverse proxy ${name}`);
    return key;
}
