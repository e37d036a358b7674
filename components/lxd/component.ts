import * as pulumi from "@pulumi/pulumi";
import type { remote } from "@pulumi/command";
import { acceptArgs } from "../../core/errors";
import { remoteStep, StepAddress, stepAddresses, stepKey } from "../../core/remoteStep";
import { parseStepReport, STATE_ROOT, StepReport } from "../../core/step";
import { lift, liftOutput, outputOf, resolveInputs } from "../../core/inputs";
import { DEFAULTS, LxdRemoteMeshArgs, LxdRemoteMeshInputs, ResolvedMesh, resolveMesh } from "./args";
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

/** The args once checked: the warnings they raised and the mesh with every default applied. */
interface Accepted {
    warnings: string[];
    mesh: ResolvedMesh;
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
    /** Ready-to-run move commands, by `source->target` (an Output: the client directory and the migration mode may come from other resources). */
    readonly moveCommands: pulumi.Output<Record<string, string>>;
    readonly warnings: pulumi.Output<string[]>;
    /** Every step of the mesh: name, URN, host and state key (for `npm run check` and `pulumi up --replace`). */
    readonly steps: pulumi.Output<StepAddress[]>;

    /**
     * @param args plain values, or values from other resources (`pulumi.Input`s: a member's
     *   address, its API address and port, the instance names...). Plain args are checked
     *   before anything is declared; late ones once known, and then the whole mesh (every
     *   member's URL reaches the other members' scripts) is computed at once.
     */
    constructor(name: string, args: LxdRemoteMeshInputs, opts?: pulumi.ComponentResourceOptions) {
        super("hostwright:lxd:RemoteMesh", name, {}, opts);
        // Checked and resolved at once for plain args; once known when some come from other resources.
        const accepted = lift(resolveInputs<LxdRemoteMeshArgs>(args), (plain): Accepted => ({
            warnings: acceptArgs(checkMeshArgs(plain), `LxdRemoteMesh ${name}`, this, (plain.members ?? []).map((m) => m.host?.name)),
            mesh: resolveMesh(plain),
        }));
        // `f` of steps' output and the accepted args: one apply when the args are plain (as
        // before); nested applies when they are known only later (pulumi.all would unwrap the
        // hosts' key Outputs and make everything secret).
        const withArgs = <T, U>(value: pulumi.Output<T>, f: (v: T, a: Accepted) => U): pulumi.Output<U> => liftOutput(accepted, (a) => value.apply((v) => f(v, a)));
        const withMesh = <T, U>(value: pulumi.Output<T>, f: (v: T, mesh: ResolvedMesh) => U): pulumi.Output<U> => withArgs(value, (v, a) => f(v, a.mesh));

        // What stays plain decides what is declared: the members' names and hosts (their fields may be inputs) and the trust method.
        const members = (args.members ?? []).map((m) => ({ name: m.host.name, host: m.host }));
        const names = members.map((m) => m.name);
        const tokenMode = (args.trust ?? DEFAULTS.trust) === "token";
        const stepName = (host: string, what: string) => `${name}-${host}-${what}`;

        const probes = members.map((m, i) => remoteStep(stepName(m.name, "probe"), { host: m.host, step: lift(accepted, (a) => renderProbe(a.mesh, a.mesh.members[i])) }, { parent: this }));
        const facts = pulumi.all(probes.map(reportOf)).apply((reports) => reports.map((r, i) => factsFromProbe(names[i], r.values)));
        const verdict = withMesh(facts, (f, mesh) => decidePreflight(f, mesh.members, mesh.migration, mesh.trust));

        // What each target knows of the sources: in certificate mode their client
        // certificates, from the probes, so a target trusts them in the step that makes it
        // serve: the mesh takes three rounds (probe, serve, remotes) whatever its size.
        const sources = facts.apply((f) => f.map((x): Source => (x.identity ? { name: x.name, ...x.identity } : { name: x.name, fingerprint: x.clientFingerprint })));
        // Combined once for every member: pulumi.all makes two more Outputs of every Output it is given.
        const serveInputs = pulumi.all([verdict, sources, facts]);
        const serves = members.map((m, i) =>
            remoteStep(
                stepName(m.name, "serve"),
                {
                    host: m.host,
                    step: withMesh(serveInputs, ([v, src, f], mesh) =>
                        renderServe(mesh, mesh.members[i], v, src, { adopt: tokenMode ? undefined : `${STATE_ROOT}/${stepKey(stepName(m.name, "trust"))}.owned`, curl: f.find((x) => x.name === m.name)?.curl }),
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

        const remotesInputs = pulumi.all([facts, tokens, verdict]);
        const remotes = members.map((s, si) =>
            remoteStep(
                stepName(s.name, "remotes"),
                {
                    host: s.host,
                    step: withMesh(remotesInputs, ([f, tok, v], mesh) =>
                        v.errors.length > 0 ? renderBlockedRemotes(mesh.members[si], v) : renderRemotes(
                            mesh,
                            mesh.members[si],
                            mesh.members.map((t, i): TargetIdentity => {
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
                names,
                Object.fromEntries(reports.map((r, i) => [names[i], linksFromReport(r.values)])),
                v.hosts,
            ),
        );
        const moves = withMesh(pulumi.all([facts, this.matrix]), ([f, matrix], mesh) =>
            instanceMoves(
                names,
                Object.fromEntries(f.map((x) => [x.name, x.inventory])),
                matrix,
                mesh.instances,
            ),
        );
        this.instances = moves.apply((m) => m.moves);
        this.warnings = withArgs(pulumi.all([verdict, remoteReports, moves]), ([v, reports, m], a) => [
            ...a.warnings,
            ...v.warnings,
            ...m.warnings,
            ...reports.flatMap((r, i) => r.warnings.map((w) => `${names[i]}: ${w}`)),
        ]);
        this.moveCommands = outputOf(accepted, ({ mesh }) => {
            const commands: Record<string, string> = {};
            for (const s of names) {
                for (const t of names) {
                    if (s !== t) commands[`${s}->${t}`] = moveCommand(mesh, s, t, mesh.migration === "stateless");
                }
            }
            return commands;
        });
        this.steps = stepAddresses([...probes, ...serves, ...remotes]);
        this.registerOutputs({ readiness: this.readiness, matrix: this.matrix, instances: this.instances, preflightErrors: this.preflightErrors, moveCommands: this.moveCommands, warnings: this.warnings, steps: this.steps });
    }
}
