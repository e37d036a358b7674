/**
 * Runs a Pulumi program under Pulumi's own mocks and records what it would send
 * to the engine: every resource with its inputs (secrets marked), its parent and
 * its dependencies. The offline preview and the lab harness both start from this
 * recording, so neither has a second code path for what the program declares.
 */
import * as pulumi from "@pulumi/pulumi";
import { resetStepOrdering } from "../core/remoteStep";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Placeholder for a value that is only known after apply (e.g. an OpenStack look-up). */
export const UNKNOWN_PLACEHOLDER = "<known after apply>";

export interface RecordedResource {
    urn: string;
    type: string;
    name: string;
    parentUrn?: string;
    /** Inputs as the provider would receive them, secrets in clear (see `secretInputs`). */
    inputs: Record<string, any>;
    /** Names of the top-level inputs that hold a secret anywhere inside. */
    secretInputs: string[];
    /** URNs of explicit dependencies, components expanded to the resources inside them. */
    dependsOn: string[];
    deleteBeforeReplace: boolean;
}

/** A warning the program logged (`pulumi.log.warn`), with the resource it was attached to. */
export interface RecordedWarning {
    message: string;
    /** URN of the resource the warning names (a component), when it names one. */
    urn?: string;
}

export interface Recording {
    resources: RecordedResource[];
    /** Warnings, in the order they were logged; the engine would show each under its resource. */
    warnings: RecordedWarning[];
    /** The program's stack outputs, resolved (unknowns as {@link UNKNOWN_PLACEHOLDER}). */
    outputs: Record<string, unknown>;
    /** Every `remote.Command`, in an order that respects dependencies (stable for equal inputs). */
    commands: RecordedResource[];
}

export interface RecordOptions {
    project?: string;
    stack?: string;
    /** Config as `pulumi up` passes it: fully-qualified keys (`hostwright:inventory`) to JSON/string values. */
    config?: Record<string, string>;
    /** Config keys that are secrets. */
    secretKeys?: string[];
    /** The project directory the program sees as `pulumi.runtime.getRootDirectory()` (where Pulumi.yaml is). */
    rootDirectory?: string;
    /** Print warnings as they are logged (they are in {@link Recording.warnings} either way). @default true */
    printWarnings?: boolean;
    /** Preview mode: outputs of look-ups may be unknown. @default true */
    preview?: boolean;
    /** Answers invokes (data-source look-ups such as `openstack:compute/getInstanceV2:getInstanceV2`). */
    invoke?: (token: string, args: Record<string, any>) => Record<string, any>;
    /**
     * What a command resource reported after a real run (the lab harness's state):
     * the mock then returns it as the resource's `stdout`/`stderr`, so stack outputs
     * computed from them are the real ones. Unanswered commands report nothing.
     */
    commandState?: (type: string, name: string) => { stdout: string; stderr: string } | undefined;
    /**
     * What another provider's resource reports (an `openstack.compute.Instance`'s address,
     * a `@pulumi/tls` certificate's PEM), merged over its inputs. Outputs it does not
     * report are unknown in a preview, as the engine leaves them.
     */
    resourceState?: (type: string, name: string, inputs: Record<string, any>) => Record<string, any> | undefined;
}

/** Unwraps mock-serialized values; reports whether any secret was inside. */
function unwrap(value: any): { value: any; secret: boolean } {
    if (value === UNKNOWN || pulumi.isUnknown(value)) return { value: UNKNOWN_PLACEHOLDER, secret: false };
    if (Array.isArray(value)) {
        let secret = false;
        const items = value.map((v) => {
            const u = unwrap(v);
            secret ||= u.secret;
            return u.value;
        });
        return { value: items, secret };
    }
    if (value && typeof value === "object") {
        if (value[SECRET_SIG] === "1b47061264138c4ac30d75fd1eb44270") return { value: unwrap(value.value).value, secret: true };
        let secret = false;
        const out: Record<string, any> = {};
        for (const [k, v] of Object.entries(value)) {
            const u = unwrap(v);
            secret ||= u.secret;
            out[k] = u.value;
        }
        return { value: out, secret };
    }
    return { value, secret: false };
}

/** Output internals: whether the value is known, and its value as a promise that also rejects on errors. */
interface OutputInternals<T> {
    isKnown: Promise<boolean>;
    promise(): Promise<T>;
}

/** The value of an output; rejects when the output failed (an `apply` threw), where `apply` would wait forever. */
function settle<T>(output: pulumi.Output<T>): Promise<T> {
    return (output as unknown as OutputInternals<T>).promise();
}

function urnOf(res: pulumi.Resource): Promise<string> {
    return settle(res.urn);
}

/**
 * Evaluates `program` under mocks and returns what it declared.
 * Errors thrown by the program (e.g. config validation) are re-thrown unchanged.
 */
export async function recordProgram(program: () => Promise<Record<string, unknown> | void> | Record<string, unknown> | void, options: RecordOptions = {}): Promise<Recording> {
    const project = options.project ?? "hostwright";
    const stack = options.stack ?? "preview";
    const byUrn = new Map<string, RecordedResource>();
    const mockInputs = new Map<string, { inputs: Record<string, any>; secretInputs: string[] }>();
    const declared: Array<{ res: pulumi.Resource; type: string; name: string; parent?: pulumi.Resource; dependsOn: pulumi.Resource[]; deleteBeforeReplace: boolean }> = [];

    resetStepOrdering();
    pulumi.runtime.setMocks(
        {
            newResource(args) {
                const inputs: Record<string, any> = {};
                const secretInputs: string[] = [];
                for (const [k, v] of Object.entries(args.inputs ?? {})) {
                    const u = unwrap(v);
                    inputs[k] = u.value;
                    if (u.secret) secretInputs.push(k);
                }
                mockInputs.set(`${args.type}::${args.name}`, { inputs, secretInputs });
                // Commands report nothing during a preview (stdout stays unknown) unless a real run is known.
                if (args.type.startsWith("command:")) return { id: `${args.name}-id`, state: options.commandState?.(args.type, args.name) ?? {} };
                return { id: `${args.name}-id`, state: { ...args.inputs, ...options.resourceState?.(args.type, args.name, args.inputs) } };
            },
            call(args) {
                if (!options.invoke) throw new Error(`no answer for look-up ${args.token} in this recording`);
                return options.invoke(args.token, args.inputs);
            },
        },
        project,
        stack,
        options.preview ?? true,
    );
    pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);
    // The mocks leave the runtime's root directory at a placeholder; the engine sets it to the project directory.
    (require("@pulumi/pulumi/runtime/state") as { getStore(): { settings: { options: { rootDirectory?: string } } } }).getStore().settings.options.rootDirectory = options.rootDirectory ?? "";

    let outputs: Record<string, unknown> = {};
    let failure: { error: unknown } | undefined;
    // A failed `apply` in a resource's inputs fails its registration as an unhandled
    // rejection (the engine would end the program with it) and its URN never resolves:
    // every wait below races that failure.
    let registrationFailed!: (error: unknown) => void;
    const registration = new Promise<never>((_, reject) => (registrationFailed = reject));
    registration.catch(() => undefined);
    const settled = <T>(p: Promise<T>): Promise<T> => Promise.race([p, registration]);
    // Without an engine, pulumi.log prints "warning: [runtime] ..." and drops the resource; keep both.
    const log = pulumi.log as { warn: typeof pulumi.log.warn };
    const printWarning = log.warn;
    const warned: Array<{ message: string; resource?: pulumi.Resource }> = [];
    log.warn = (message: string, resource?: pulumi.Resource) => {
        warned.push({ message, resource });
        return options.printWarnings === false ? Promise.resolve() : printWarning(message, resource);
    };
    process.on("unhandledRejection", registrationFailed);
    try {
        return await record();
    } finally {
        process.off("unhandledRejection", registrationFailed);
        log.warn = printWarning;
    }

    async function record(): Promise<Recording> {
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((t) => {
            if (t.resource) {
                const deps = t.opts.dependsOn;
                const list = deps === undefined ? [] : Array.isArray(deps) ? deps : [deps];
                declared.push({
                    res: t.resource,
                    type: t.type,
                    name: t.name,
                    parent: t.opts.parent,
                    dependsOn: list.filter((d): d is pulumi.Resource => pulumi.Resource.isInstance(d)),
                    deleteBeforeReplace: (t.opts as pulumi.CustomResourceOptions).deleteBeforeReplace ?? false,
                });
            }
            return undefined;
        });
        // An error thrown here would escape the stack resource's initialisation as an
        // unhandled rejection; keep it and re-throw it to the caller instead.
        try {
            const result = await program();
            outputs = (result ?? {}) as Record<string, unknown>;
        } catch (e) {
            failure = { error: e };
        }
        return undefined;
    });
    // The stack's outputs may resolve before every registration has (a component
    // registers its outputs last): let those calls finish against this recording's mocks.
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    if (failure) throw failure.error;

    for (const d of declared) {
        const urn = await settled(urnOf(d.res));
        const recorded = mockInputs.get(`${d.type}::${d.name}`) ?? { inputs: {}, secretInputs: [] };
        byUrn.set(urn, {
            urn,
            type: d.type,
            name: d.name,
            parentUrn: d.parent ? await settled(urnOf(d.parent)) : undefined,
            inputs: recorded.inputs,
            secretInputs: recorded.secretInputs,
            dependsOn: await settled(Promise.all(d.dependsOn.map(urnOf))),
            deleteBeforeReplace: d.deleteBeforeReplace,
        });
    }
    const resources = [...byUrn.values()];
    // A dependency on a component means a dependency on everything inside it.
    const children = new Map<string, string[]>();
    for (const r of resources) if (r.parentUrn) children.set(r.parentUrn, [...(children.get(r.parentUrn) ?? []), r.urn]);
    const expand = (urn: string, seen = new Set<string>()): string[] => {
        if (seen.has(urn)) return [];
        seen.add(urn);
        const kids = children.get(urn);
        if (!kids) return [urn];
        return kids.flatMap((k) => expand(k, seen));
    };
    for (const r of resources) r.dependsOn = [...new Set(r.dependsOn.flatMap((u) => expand(u)))];

    const warnings = await Promise.all(warned.map(async (w) => ({ message: w.message, ...(w.resource ? { urn: await settled(urnOf(w.resource)) } : {}) })));
    return { resources, warnings, outputs: unwrap(await settled(resolveAll(outputs))).value, commands: orderCommands(resources.filter((r) => r.type === "command:remote:Command")) };
    }
}

async function resolveAll(value: unknown): Promise<unknown> {
    if (pulumi.Output.isInstance(value)) {
        // An unknown output never runs its apply callbacks during a preview: waiting would hang.
        const output = value as unknown as OutputInternals<unknown>;
        if (!(await output.isKnown)) return UNKNOWN_PLACEHOLDER;
        return (await resolveAll(await output.promise())) ?? UNKNOWN_PLACEHOLDER;
    }
    if (Array.isArray(value)) return Promise.all(value.map(resolveAll));
    if (value && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) out[k] = await resolveAll(v);
        return out;
    }
    return value;
}

/** Topological order (dependencies first), ties broken by declaration order. */
export function orderCommands(commands: RecordedResource[]): RecordedResource[] {
    const known = new Set(commands.map((c) => c.urn));
    const done = new Set<string>();
    const ordered: RecordedResource[] = [];
    let progress = true;
    while (ordered.length < commands.length && progress) {
        progress = false;
        for (const c of commands) {
            if (done.has(c.urn)) continue;
            if (c.dependsOn.every((d) => !known.has(d) || done.has(d))) {
                done.add(c.urn);
                ordered.push(c);
                progress = true;
            }
        }
    }
    if (ordered.length < commands.length) throw new Error("dependency cycle between remote commands");
    return ordered;
}
