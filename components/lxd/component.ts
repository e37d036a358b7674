import * as pulumi from "@pulumi/pulumi";
import type { remote } from "@pulumi/command";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepAddress, stepAddress } from "../../core/remoteStep";
import { parseStepReport, StepReport } from "../../core/step";
import { LxdRemoteMeshArgs, resolveMesh } from "./args";
import { checkMeshArgs } from "./checks";
import { decidePreflight, factsFromProbe, HostReadiness } from "./preflight";
import {
    identityFromReport,
    InstanceMove,
    instanceMoves,
    linksFromReport,
    MatrixCell,
    migrationMatrix,
    moveCommand,
    renderProbe,
    renderRemotes,
    renderServe,
    renderTrust,
    SourceIdentity,
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
    /** `matrix[source][target]`: the link was verified (`lxc query target:/1.0` from source), the version rule, which moves are ready and why not. */
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
        const verdict = facts.apply((f) => decidePreflight(f, members, mesh.migration));

        const tokenMode = mesh.trust === "token";
        const serves = members.map((m) =>
            remoteStep(
                stepName(m.name, "serve"),
                {
                    host: m.host,
                    step: pulumi.all([verdict, facts]).apply(([v, f]) => renderServe(mesh, m, v, f.map((x) => ({ name: x.name, fingerprint: x.clientFingerprint })))),
                    dependsOn: probes,
                    secretOutput: tokenMode,
                },
                { parent: this },
            ),
        );
        const serveReports = pulumi.all(serves.map(reportOf));
        // tokens[target][source]; secret whatever the engine does with the stdout.
        const tokenLists = serveReports.apply((reports) => reports.map((r) => (tokenMode ? tokensFromReport(r.values) : {})));
        const tokens = tokenMode ? pulumi.secret(tokenLists) : tokenLists;

        // Certificate mode: one more step, each target trusting the sources' client certificates.
        const trusts = tokenMode
            ? []
            : members.map((t) => {
                  const identities = serveReports.apply((reports) =>
                      reports.map((r, i): SourceIdentity => {
                          const id = identityFromReport(members[i].name, r.values);
                          if (!id) throw new Error(`LxdRemoteMesh ${name}: the serve step on ${members[i].name} reported no client certificate`);
                          return id;
                      }),
                  );
                  return remoteStep(stepName(t.name, "trust"), { host: t.host, step: identities.apply((ids) => renderTrust(mesh, t, ids)), dependsOn: serves }, { parent: this });
              });
        const trustDone = tokenMode ? pulumi.output([]) : pulumi.all(trusts.map(reportOf));

        const remotes = members.map((s) =>
            remoteStep(
                stepName(s.name, "remotes"),
                {
                    host: s.host,
                    step: pulumi.all([facts, tokens, trustDone]).apply(([f, tok]) =>
                        renderRemotes(
                            mesh,
                            s,
                            members.map((t, i): TargetIdentity => {
                                const server = f[i].server;
                                if (!server.ok) throw new Error(`LxdRemoteMesh ${name}: no server certificate for ${t.name}`);
                                return { name: t.name, url: t.url, certificate: server.certificate, fingerprint: server.fingerprint, token: tok[i][s.name] };
                            }),
                        ),
                    ),
                    dependsOn: [...serves, ...trusts],
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
        this.steps = pulumi.all([...probes, ...serves, ...trusts, ...remotes].map(stepAddress));
        this.registerOutputs({ readiness: this.readiness, matrix: this.matrix, instances: this.instances, preflightErrors: this.preflightErrors, moveCommands: this.moveCommands, warnings: this.warnings, steps: this.steps });
    }
}
