/**
 * The Pulumi half of the remote-step core: wires a rendered step to one
 * `@pulumi/command` `remote.Command` (one SSH session per create or delete).
 */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { connectionFor, Host, privilegePrefix } from "./host";
import { HostInput, lift, outputOf, resolveInputs } from "./inputs";
import { shortHash } from "./hash";
import { shq } from "./shell";
import { hostLibrary, resetLibraries } from "./library";
import { ManagedFile, renderStep, StepSpec, StepScripts, parseStepReport, StepReport } from "./step";

/** A {@link StepSpec} whose file contents may be Pulumi inputs (e.g. secrets). */
export interface StepInput extends Omit<StepSpec, "files" | "key"> {
    files?: Array<Omit<ManagedFile, "content"> & { content: pulumi.Input<string> }>;
}

export interface RemoteStepArgs {
    /**
     * The host; its fields but the name may be inputs (an instance's address). An
     * Output as a whole when even its name is known only after a look-up (e.g. the
     * compute node of an OpenStack VM); such a step is not chained after the other
     * steps of its host, so give it only work that needs no ordering with them.
     */
    host: HostInput | pulumi.Output<Host>;
    /** What to do. An Output when parts of the scripts come from look-ups. */
    step: StepInput | pulumi.Output<StepInput>;
    /** Steps (on any host) that must complete first. Steps on the same host are chained in declaration order anyway. */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
    /**
     * Delete the old step before creating its replacement. Off by default: the
     * ownership claims make create-before-delete safe for file steps; turn it on
     * only when two generations cannot coexist on the host.
     * @default false
     */
    deleteBeforeReplace?: boolean;
    /**
     * The step prints secrets with `hw_output` (e.g. a one-time token another
     * host's step consumes): its stdout and stderr are kept as secrets in the state
     * and not shown in the engine's log.
     * @default false
     */
    secretOutput?: boolean;
}

// Steps on one host run one after another, in declaration order: they share
// package managers, config files and service managers.
const lastStepOnHost = new Map<string, remote.Command>();

/** What addresses a step from outside: `pulumi up --replace URN`, `npm run check`, a person on the host. */
export interface StepAddress {
    /** The step's resource name. */
    name: string;
    /** The step's URN (for `pulumi up --replace`). */
    urn: string;
    /** The inventory host it runs on. */
    host: string;
    /** Its state directory on that host: /var/lib/hostwright/steps/KEY. */
    key: string;
}
const addresses = new WeakMap<remote.Command, { name: string; key: string; host: pulumi.Input<string> }>();

/** The addresses of steps declared by {@link remoteStep}, in their order: a component's `steps` output. */
export function stepAddresses(commands: remote.Command[]): pulumi.Output<StepAddress[]> {
    const declared = commands.map((command) => {
        const a = addresses.get(command);
        if (!a) throw new Error("stepAddresses: not a command declared by remoteStep()");
        return a;
    });
    const urns = commands.map((c) => c.urn);
    const hosts = declared.map((a) => a.host);
    const address = (u: string[], h: string[]) => declared.map(({ name, key }, i) => ({ name, urn: u[i], host: h[i], key }));
    if (!hosts.every((h): h is string => typeof h === "string")) return pulumi.all([pulumi.all(urns), pulumi.all(hosts)]).apply(([u, h]) => address(u, h));
    // One apply for one step: pulumi.all makes two more Outputs of every Output it is given.
    if (urns.length === 1) return urns[0].apply((urn) => address([urn], hosts));
    return pulumi.all(urns).apply((u) => address(u, hosts));
}

/** Forgets the per-host ordering; called before a program is evaluated again in the same process. */
export function resetStepOrdering(): void {
    lastStepOnHost.clear();
    resetLibraries();
}

/** Stable state-directory key for a step: readable prefix plus a hash of project, stack and name. */
export function stepKey(resourceName: string): string {
    const readable = resourceName.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
    return `${readable}-${shortHash(`${pulumi.getProject()}/${pulumi.getStack()}/${resourceName}`).slice(0, 8)}`;
}

/**
 * The command line that runs a create script delivered on standard input. Pulumi
 * runs `update` for a resource it already has (a retry after a failed create, an
 * input change that is not a replacement): the script then keeps the ownership claim
 * that resource may already hold instead of adding a second one (core/README.md).
 */
export function createCommandLine(host: Pick<Host, "user">, mode: "create" | "update" = "create"): string {
    return `${privilegePrefix(host)}/bin/bash -s${mode === "update" ? " update" : ""}`;
}

/** The command line that runs an undo script (no secrets: it restores what the host kept). */
export function deleteCommandLine(host: Pick<Host, "user">, script: string): string {
    return `${privilegePrefix(host)}/bin/bash -c ${shq(script)}`;
}

/**
 * Declares one step on one host. The create script (which may carry secret file
 * contents) travels on standard input, never on a command line; the trigger is the
 * script's content hash, so an unchanged step runs nothing and a changed one is replaced.
 */
export function remoteStep(name: string, args: RemoteStepArgs, opts: { parent: pulumi.Resource }): remote.Command {
    const key = stepKey(name);
    const rendered = renderInput(args.step, key);
    // Only the create script carries file contents: the undo script and the
    // generation (a hash) hold no secret, so a preview shows them.
    const undo: UndoScript | pulumi.Output<UndoScript> = pulumi.Output.isInstance(rendered) ? pulumi.unsecret(rendered.apply(undoOf)) : undoOf(rendered);
    const known = pulumi.Output.isInstance(args.host) ? undefined : args.host;
    const previous = known ? lastStepOnHost.get(known.name) : undefined;
    // The core library the scripts source: created before and deleted after every step on the host (core/library.ts).
    const library = hostLibrary(known?.name, name, opts.parent, (u) => (known ? knownHostCommands(known, u) : lateHostCommands(args.host as pulumi.Output<Host>, u)));
    const command = new remote.Command(
        name,
        {
            ...(known ? knownHostCommands(known, undo) : lateHostCommands(args.host as pulumi.Output<Host>, undo)),
            stdin: lift(rendered, (r) => r.create),
            // An Output of the list, not a list holding an Output: Pulumi labels each input with its
            // text, and for an Output inside a list it builds and throws an error to get one.
            triggers: lift(undo, (u) => [u.generation]),
            addPreviousOutputInEnv: false,
            ...(args.secretOutput ? { logging: "none" as const } : {}),
        },
        {
            parent: opts.parent,
            dependsOn: [library, ...(previous ? [previous] : []), ...(args.dependsOn ?? [])],
            deleteBeforeReplace: args.deleteBeforeReplace ?? false,
            ...(args.secretOutput ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}),
        },
    );
    if (known) lastStepOnHost.set(known.name, command);
    addresses.set(command, { name, key, host: known ? known.name : pulumi.unsecret((args.host as pulumi.Output<Host>).apply((h) => h.name)) });
    return command;
}

/**
 * Renders a step: at once when everything is plain (no Output at all), otherwise
 * once its file contents are known (secret when one of them is). Only the file
 * contents are lifted: making an Output of every field of the spec dominated
 * declaring thousands of steps (bench/README.md).
 */
function renderInput(step: StepInput | pulumi.Output<StepInput>, key: string): StepScripts | pulumi.Output<StepScripts> {
    // The step may hold Outputs of its own (a secret file content): rendered as a plain one once known.
    if (pulumi.Output.isInstance(step)) return step.apply((s) => pulumi.output(renderInput(s, key)));
    const files = step.files ?? [];
    const late = files.filter((f) => typeof f.content !== "string");
    if (late.length === 0) return renderStep({ ...step, key, files: files as ManagedFile[] });
    // The usual case, one late content (a key, a fingerprint): one apply, where pulumi.all makes four Outputs.
    const [only] = late;
    if (late.length === 1 && pulumi.Output.isInstance(only.content)) {
        return only.content.apply((content) => renderStep({ ...step, key, files: files.map((f) => (f === only ? { ...f, content } : (f as ManagedFile))) }));
    }
    return pulumi.all(files.map((f) => f.content)).apply((contents) => renderStep({ ...step, key, files: files.map((f, i) => ({ ...f, content: contents[i] })) }));
}

function undoOf(scripts: StepScripts): UndoScript {
    return { script: scripts.delete, generation: scripts.generation };
}

interface UndoScript {
    script: string;
    generation: string;
}

function knownHostCommands(host: HostInput, undo: pulumi.Input<UndoScript>) {
    // The command lines need only the SSH user, which may come from another resource.
    const login = resolveInputs<Pick<Host, "user">>({ user: host.user });
    if (pulumi.Output.isInstance(login)) {
        return {
            connection: connectionFor(host),
            create: login.apply((l) => createCommandLine(l)),
            update: login.apply((l) => createCommandLine(l, "update")),
            delete: pulumi.all([login, undo]).apply(([l, u]) => deleteCommandLine(l, u.script)),
        };
    }
    const deleteLine = pulumi.Output.isInstance(undo) ? undo.apply((u) => deleteCommandLine(login, u.script)) : deleteCommandLine(login, (undo as UndoScript).script);
    return { connection: connectionFor(host), create: createCommandLine(login), update: createCommandLine(login, "update"), delete: deleteLine };
}

function lateHostCommands(host: pulumi.Output<Host>, undo: UndoScript | pulumi.Output<UndoScript>) {
    // The command lines need only the SSH user, which is no secret (the host's key is).
    const clear = pulumi.unsecret(host.apply((h): Host => ({ ...h, privateKey: "" })));
    return {
        connection: host.apply((h) => connectionFor(h)),
        create: clear.apply((h) => createCommandLine(h)),
        update: clear.apply((h) => createCommandLine(h, "update")),
        // the Output returned is flattened: two or three Outputs where pulumi.all([clear, undo]) makes six
        delete: clear.apply((h) => outputOf(undo, (u) => deleteCommandLine(h, u.script))),
    };
}

/** The values and warnings a step reported (unknown during preview). */
export function stepReport(command: remote.Command): pulumi.Output<StepReport> {
    return command.stdout.apply((out) => parseStepReport(out));
}
