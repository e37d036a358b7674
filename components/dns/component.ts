import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { serviceCommand } from "../../core/host";
import { remoteStep, StepAddress, stepAddress, stepReport } from "../../core/remoteStep";
import { sh } from "../../core/shell";
import type { ResolverGuardArgs } from "./args";
import { checkResolverArgs } from "./checks";
import { glibcEaiAgainWarning, planCache, renderGuardStep, renderPinsStep } from "./render";

/**
 * Resolver hygiene on one host: `/etc/resolv.conf` keeps the declared settings
 * (DHCP still sets addresses and routes), and chosen domains are resolved through
 * chosen servers by the host's cache (dnsmasq, unbound or djbdns dnscache).
 * Destroy puts every file back as it was (a resolv.conf symlink too).
 */
export class ResolverGuard extends pulumi.ComponentResource {
    /** Inventory name of the host. */
    readonly host: pulumi.Output<string>;
    /** The files the guard installs or edits on the host (resolv.conf, hook, ifcfg files, pin files; the NetworkManager drop-in is `networkManagerDropIn`). */
    readonly files: pulumi.Output<string[]>;
    /** Pinned domain -> what its probe got from the cache at the last apply (`dig +short`). */
    readonly answers: pulumi.Output<Record<string, string>>;
    /** The host's glibc package version(s) as the last apply saw them. */
    readonly glibc: pulumi.Output<string>;
    /** The `dns=none` drop-in written where NetworkManager is installed ("" where it is not). */
    readonly networkManagerDropIn: pulumi.Output<string>;
    /** Ready to run on the host: one `dig` per pinned domain's probe. */
    readonly checkCommands: pulumi.Output<string[]>;
    readonly warnings: pulumi.Output<string[]>;
    /** The guard's steps: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: ResolverGuardArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:dns:ResolverGuard", name, {}, opts);
        const argWarnings = acceptArgs(checkResolverArgs(args), `args of ResolverGuard ${name}`, this, [args.host?.name]);

        const host = args.host;
        const os = host.os ?? "debian";
        const files: string[] = [];
        const commands: ReturnType<typeof remoteStep>[] = [];
        if (args.resolvConf) {
            const step = renderGuardStep(name, os, args.resolvConf, os === "rhel" ? (args.interfaces ?? []) : []);
            files.push(...(step.files ?? []).map((f) => f.path), ...(step.edits ?? []).map((e) => e.path));
            commands.push(remoteStep(`${name}-resolv`, { host, step }, { parent: this }));
        }
        const plan = args.cache ? planCache(name, args.cache) : undefined;
        if (plan) {
            const step = renderPinsStep(name, plan, (service, action) => serviceCommand(host, service, action));
            files.push(...(step.files ?? []).map((f) => f.path));
            commands.push(remoteStep(`${name}-pins`, { host, step }, { parent: this }));
        }
        const reports = commands.map(stepReport);
        this.steps = pulumi.all(commands.map(stepAddress));
        const report = pulumi.all(reports).apply((rs) => ({
            values: Object.assign({}, ...rs.map((r) => r.values)) as Record<string, string>,
            warnings: rs.flatMap((r) => r.warnings),
        }));

        this.host = pulumi.output(host.name);
        this.files = pulumi.output(files);
        this.answers = report.apply((r) => Object.fromEntries(Object.entries(r.values).filter(([k]) => k.startsWith("answer.")).map(([k, v]) => [k.slice("answer.".length), v.trim()])));
        this.glibc = report.apply((r) => (r.values.glibc ?? "").trim());
        this.networkManagerDropIn = report.apply((r) => r.values.networkManagerDropIn ?? "");
        this.checkCommands = pulumi.output(plan && plan.verify ? plan.pins.map((p) => sh`dig ${`@${plan.address}`} ${p.probe.name} ${p.probe.type}`) : []);
        this.warnings = report.apply((r) => {
            const glibc = glibcEaiAgainWarning(r.values.glibc);
            if (glibc) pulumi.log.warn(glibc, this);
            return [...argWarnings, ...r.warnings, ...(glibc ? [glibc] : [])];
        });
        this.registerOutputs({
            host: this.host,
            files: this.files,
            answers: this.answers,
            glibc: this.glibc,
            networkManagerDropIn: this.networkManagerDropIn,
            checkCommands: this.checkCommands,
            warnings: this.warnings,
            steps: this.steps,
        });
    }
}
