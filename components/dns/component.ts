import * as pulumi from "@pulumi/pulumi";
import { acceptArgs } from "../../core/errors";
import { serviceCommand } from "../../core/host";
import { remoteStep, StepAddress, stepAddresses, stepReport } from "../../core/remoteStep";
import { sh } from "../../core/shell";
import { lift, outputOf, resolveInputs } from "../../core/inputs";
import type { ResolverGuardArgs, ResolverGuardInputs } from "./args";
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

    constructor(name: string, args: ResolverGuardInputs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:dns:ResolverGuard", name, {}, opts);
        // Checked and rendered at once for plain args; once known when some come from other resources.
        const accepted = lift(resolveInputs<ResolverGuardArgs>(args), (plain) => {
            const warnings = acceptArgs(checkResolverArgs(plain), `args of ResolverGuard ${name}`, this, [plain.host?.name]);
            const os = plain.host.os ?? "debian";
            const guard = plain.resolvConf ? renderGuardStep(name, os, plain.resolvConf, os === "rhel" ? (plain.interfaces ?? []) : []) : undefined;
            const plan = plain.cache ? planCache(name, plain.cache) : undefined;
            const pins = plan ? renderPinsStep(name, plan, (service, action) => serviceCommand(plain.host, service, action)) : undefined;
            return {
                warnings,
                guard,
                pins,
                files: [...(guard?.files ?? []).map((f) => f.path), ...(guard?.edits ?? []).map((e) => e.path), ...(pins?.files ?? []).map((f) => f.path)],
                checkCommands: plan && plan.verify ? plan.pins.map((p) => sh`dig ${`@${plan.address}`} ${p.probe.name} ${p.probe.type}`) : [],
            };
        });

        // Which steps exist depends only on what stays plain: whether resolvConf and cache are given.
        const host = args.host;
        const commands: ReturnType<typeof remoteStep>[] = [];
        if (args.resolvConf) commands.push(remoteStep(`${name}-resolv`, { host, step: lift(accepted, (a) => a.guard!) }, { parent: this }));
        if (args.cache) commands.push(remoteStep(`${name}-pins`, { host, step: lift(accepted, (a) => a.pins!) }, { parent: this }));
        const reports = commands.map(stepReport);
        this.steps = stepAddresses(commands);
        const report = pulumi.all(reports).apply((rs) => ({
            values: Object.assign({}, ...rs.map((r) => r.values)) as Record<string, string>,
            warnings: rs.flatMap((r) => r.warnings),
        }));

        this.host = pulumi.output(host.name);
        this.files = outputOf(accepted, (a) => a.files);
        this.answers = report.apply((r) => Object.fromEntries(Object.entries(r.values).filter(([k]) => k.startsWith("answer.")).map(([k, v]) => [k.slice("answer.".length), v.trim()])));
        this.glibc = report.apply((r) => (r.values.glibc ?? "").trim());
        this.networkManagerDropIn = report.apply((r) => r.values.networkManagerDropIn ?? "");
        this.checkCommands = outputOf(accepted, (a) => a.checkCommands);
        // The args' warnings join the host's: at once for plain args, once known otherwise.
        this.warnings = report.apply((r) => {
            const glibc = glibcEaiAgainWarning(r.values.glibc);
            if (glibc) pulumi.log.warn(glibc, this);
            return outputOf(accepted, (a) => [...a.warnings, ...r.warnings, ...(glibc ? [glibc] : [])]);
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
