import * as pulumi from "@pulumi/pulumi";
import type { remote } from "@pulumi/command";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepAddress, stepAddress, stepKey } from "../../core/remoteStep";
import { parseStepReport, STATE_ROOT, StepReport } from "../../core/step";
import { LxdRemoteMeshArgs, resolveMesh } from "./args";
import { checkMeshArgs } from "./checks";
import { decidePreflight, factsFromProbe, HostReadiness } from "./preflight";
import {
    InstanceMove,
    instanceMoves,
    linksFromReport,
    MatrixCell,
    migrationMatrix,
    moveCommand,
    renderBlockedRemotes,
    renderProbe,
    renderRemotes,
    renderServe,
    Source,
    TargetIdentity,
    tokensFromReport,
} from "./render";

/**
 * What a step printed. Unknown until the step has run (every step prints at least
 * its description), so a step that consumes it waits: in a preview, and in an
 * evaluation made before the step ran.
 */
function reportOf(command: remote.Command): pulumi.Output<StepReport> {
    return command.stdout.apply((out) => (out ? parseStepReport(out) : (pulumi.unknown as unknown as StepReport)));
}

/**
 * Every host of `members` gets every host, itself included, as an `lxc` remote
 * named by its inventory name, trusted by a token or by its client certificate,
 * with the server certificate pinned; the migration preconditions are checked
 * across the group before anything changes. See README.md.
 */
export class LxdRemoteMesh extends pulumi.ComponentResource {
    /** Per host: LXD version and whether stateless / stateful moves can work, with reasons. */
    readonly readiness: pulumi.Output<Record<string, HostReadiness>>;
    /** `matrix[source][target]`: the link was verified (from source, the remote as written and target answering `/1.0` trusted), the version rule, which moves are ready and why not. */
    readonly matrix: pulumi.Output<Record<string, Record<string, MatrixCell>>>;
    /** `instances[source][target][instance]`: what the target lacks for the instance, and whether a cold / live move works. */
    readonly instances: pulumi.Output<Record<string, Record<string, Record<string, InstanceMove>>>>;
    /** Problems that stopped the apply before any change (empty when the pre-flight passed). */
    readonly preflightErrors: pulumi.Output<string[]>;
    /** Ready-to-run move commands, by `source->target`. */
    readonly moveCommands: Record<string, string>;
    readonly warnings: pulumi.Output<string[]>;
    /** Every step of the mesh: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    constructor(name: string, args: LxdRemoteMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:lxd:RemoteMesh", name, {}, opts);
        const argWarnings = acceptArgs(checkMeshArgs(args), `LxdRemoteMesh ${name}`, this, (args.members ?? []).map((m) => m.host?.name));

        const mesh = resolveMesh(args);
        const members = mesh.members;
        const stepName = (host: string, what: string) => `${name}-${host}-${what}`;

        const probes = members.map((m) => remoteStep(stepName(m.name, "probe"), { host: m.host, step: renderProbe(mesh, m) }, { parent: this }));
        const facts = pulumi.all(probes.map(reportOf)).apply((reports) => reports.map((r, i) => factsFromProbe(members[i].name, r.values)));
        const verdict = facts.apply((f) => decidePreflight(f, members, mesh.migration, mesh.trust));

        const tokenMode = mesh.trust === "token";
        // What each target knows of the sources: in certificate mode their client
        // certificates, from the probes, so a target trusts them in the step that makes it
        // serve: the mesh takes three rounds (probe, serve, remotes) whatever its size.
        const sources = facts.apply((f) => f.map((x): Source => (x.identity ? { name: x.name, ...x.identity } : { name: x.name, fingerprint: x.clientFingerprint })));
        const serves = members.map((m) =>
            remoteStep(
                stepName(m.name, "serve"),
                {
                    host: m.host,
                    step: pulumi.all([verdict, sources, facts]).apply(([v, src, f]) =>
                        renderServe(mesh, m, v, src, { adopt: tokenMode ? undefined : `${STATE_ROOT}/${stepKey(stepName(m.name, "trust"))}.owned`, curl: f.find((x) => x.name === m.name)?.curl }),
                    ),
                    dependsOn: probes,
                    secretOutput: tokenMode,
                },
                { parent: this },
            ),
        );
        // tokens[target][source] (token mode: the remotes wait for the serve steps' output);
        // secret whatever the engine does with the stdout. Certificate mode: nothing to wait for.
        const tokens = tokenMode ? pulumi.secret(pulumi.all(serves.map(reportOf)).apply((reports) => reports.map((r) => tokensFromReport(r.values)))) : pulumi.output(members.map(() => ({}) as Record<string, string>));

        const remotes = members.map((s, si) =>
            remoteStep(
                stepName(s.name, "remotes"),
                {
                    host: s.host,
                    step: pulumi.all([facts, tokens, verdict]).apply(([f, tok, v]) =>
                        v.errors.length > 0 ? renderBlockedRemotes(s, v) : renderRemotes(
                            mesh,
                            s,
                            members.map((t, i): TargetIdentity => {
                                const server = f[i].server;
                                if (!server.ok) throw new Error(`LxdRemoteMesh ${name}: no server certificate for ${t.name}`);
                                return { name: t.name, url: t.url, certificate: server.certificate, fingerprint: server.fingerprint, token: tok[i][s.name] };
                            }),
                            { curl: f[si].curl },
                        ),
                    ),
                    dependsOn: serves,
                },
                { parent: this },
            ),
        );
        const remoteReports = pulumi.all(remotes.map(reportOf));

        this.readiness = verdict.apply((v) => v.hosts);
        this.preflightErrors = verdict.apply((v) => v.errors);
        this.matrix = pulumi.all([remoteReports, verdict]).apply(([reports, v]) =>
            migrationMatrix(
                members.map((m) => m.name),
                Object.fromEntries(reports.map((r, i) => [members[i].name, linksFromReport(r.values)])),
                v.hosts,
            ),
        );
        const moves = pulumi.all([facts, this.matrix]).apply(([f, matrix]) =>
            instanceMoves(
                members.map((m) => m.name),
                Object.fromEntries(f.map((x) => [x.name, x.inventory])),
                matrix,
                mesh.instances,
            ),
        );
        this.instances = moves.apply((m) => m.moves);
        this.warnings = pulumi.all([verdict, remoteReports, moves]).apply(([v, reports, m]) => [
            ...argWarnings,
            ...v.warnings,
            ...m.warnings,
            ...reports.flatMap((r, i) => r.warnings.map((w) => `${members[i].name}: ${w}`)),
        ]);
        this.moveCommands = {};
        for (const s of members) {
            for (const t of members) {
                if (s !== t) this.moveCommands[`${s.name}->${t.name}`] = moveCommand(mesh, s.name, t.name, mesh.migration === "stateless");
            }
        }
        this.steps = pulumi.all([...probes, ...serves, ...remotes].map(stepAddress));
        this.registerOutputs({ readiness: this.readiness, matrix: this.matrix, instances: this.instances, preflightErrors: this.preflightErrors, moveCommands: this.moveCommands, warnings: this.warnings, steps: this.steps });
    }
}
