/**
 * Component arguments as Pulumi inputs: what lets a host's address come from an
 * `openstack.compute.Instance` or a certificate from `@pulumi/tls` in the same program.
 *
 * The checks and renders stay pure functions of plain arguments. A component takes
 * `Inputs<Args>` and calls {@link resolveInputs}: with plain values (the stack
 * program, most programs) it gets the same object back at once and declares exactly
 * as before; with an Output anywhere it gets one Output of the plain arguments, and
 * checks and renders inside it. The shape of what is declared (step names, one step
 * per host) depends only on what stays plain: host names and the arrays of hosts.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "./host";

type Scalar = string | number | boolean;

/**
 * `T` with every value a user could take from another resource as a `pulumi.Input`:
 * scalars, lists of scalars (as a whole or per item), and every field of a host but
 * its name. Arrays of objects stay arrays (their length decides what is declared), and
 * so do records' keys; their items' fields are inputs.
 */
export type Inputs<T> = [NonNullable<T>] extends [Scalar]
    ? // a union of scalars (boolean, an enum) as one input: an Output<boolean> or Output<"tls" | "tcp">
      pulumi.Input<NonNullable<T>> | Extract<T, null | undefined>
    : DeepInputs<T>;

type DeepInputs<T> = T extends pulumi.OutputInstance<unknown> | Promise<unknown>
    ? T
    : T extends Scalar
      ? pulumi.Input<T>
      : T extends Host
        ? HostInput
        : T extends ReadonlyArray<infer E>
          ? [E] extends [Scalar]
              ? pulumi.Input<pulumi.Input<E>[]>
              : Inputs<E>[]
          : T extends object
            ? { [K in keyof T]: Inputs<T[K]> }
            : T;

/**
 * A {@link Host} whose fields may come from other resources (an instance's address, a
 * key from a secrets manager). Its `name` stays plain: it names the steps declared on it.
 */
export type HostInput = { [K in keyof Host]: K extends "name" ? string : Inputs<Host[K]> };

/**
 * Fields whose value is passed through as given, Output or not, without being awaited:
 * secret keys, which components hand on as secret file contents (and check against
 * their certificates once known) so the rest of a step stays readable in a preview.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(["privateKey"]);

/** The plain arguments at once when nothing in them is an Output or a promise; otherwise one Output of them. */
export function resolveInputs<T>(args: Inputs<T> | T, secretFields: ReadonlySet<string> = SECRET_FIELDS): T | pulumi.Output<T> {
    const late: Array<{ path: Array<string | number>; value: unknown }> = [];
    collectLate(args, [], secretFields, settledFor(secretFields), late);
    if (late.length === 0) return args as T;
    return pulumi.all(late.map((l) => l.value)).apply((values) => {
        let resolved: unknown = args;
        late.forEach((l, i) => (resolved = replaceAt(resolved, l.path, values[i])));
        return resolved as T;
    });
}

/** `f(value)` at once for a plain value, inside `apply` for an Output. */
export function lift<T, U>(value: T | pulumi.Output<T>, f: (plain: T) => U): U | pulumi.Output<U> {
    return pulumi.Output.isInstance(value) ? (value.apply(f) as pulumi.Output<U>) : f(value as T);
}

/**
 * The Output `f` makes of a value that may be an Output: `f`'s very Output for a plain
 * value (nothing wrapped around it), flattened inside `apply` otherwise. Combining the
 * accepted args with a step's Output this way, rather than with `pulumi.all`, leaves the
 * key Outputs inside the args un-awaited (`pulumi.all` would make the result secret).
 */
export function liftOutput<T, U>(value: T | pulumi.Output<T>, f: (plain: T) => pulumi.Output<U>): pulumi.Output<U> {
    return pulumi.Output.isInstance(value) ? value.apply(f) : f(value as T);
}

/** An Output of `f(value)`, whether `value` is plain or an Output. */
export function outputOf<T, U>(value: T | pulumi.Output<T>, f: (plain: T) => U): pulumi.Output<U> {
    return (pulumi.Output.isInstance(value) ? value.apply(f) : pulumi.output(f(value as T))) as pulumi.Output<U>;
}

/**
 * Frozen objects found to hold nothing late (outside the secret fields they were walked
 * with), per set of secret fields: nothing in them can change, so they are not walked
 * again. The stack's hosts are frozen, and every OpenStack mirror takes all of them as
 * candidates: walking them each time made declaring a stack quadratic in its hosts.
 */
const settledPlain = new WeakMap<ReadonlySet<string>, WeakSet<object>>();

function settledFor(secretFields: ReadonlySet<string>): WeakSet<object> {
    let settled = settledPlain.get(secretFields);
    if (!settled) settledPlain.set(secretFields, (settled = new WeakSet()));
    return settled;
}

/**
 * Adds the Outputs and promises under `value` to `into`, with their paths (`path` is
 * where `value` is, restored on return). Returns whether `value` is plain and frozen
 * all the way down, i.e. its verdict cannot change.
 */
function collectLate(value: unknown, path: Array<string | number>, secretFields: ReadonlySet<string>, settled: WeakSet<object>, into: Array<{ path: Array<string | number>; value: unknown }>): boolean {
    if (value === null || typeof value !== "object") return true;
    if (pulumi.Output.isInstance(value) || isPromise(value)) {
        into.push({ path: [...path], value });
        return false;
    }
    if (settled.has(value)) return true;
    // Other classes' instances are passed as they are, whatever they hold.
    if (!Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return true;
    let unchanging = Object.isFrozen(value);
    const visit = (key: string | number, v: unknown) => {
        path.push(key);
        unchanging = collectLate(v, path, secretFields, settled, into) && unchanging;
        path.pop();
    };
    if (Array.isArray(value)) value.forEach((v, i) => visit(i, v));
    else for (const [k, v] of Object.entries(value)) if (!secretFields.has(k)) visit(k, v);
    if (unchanging) settled.add(value);
    return unchanging;
}

function isPromise(value: object): boolean {
    return typeof (value as { then?: unknown }).then === "function";
}

/** A copy of `root` with `value` at `path`; only the containers on the path are copied. */
function replaceAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
    if (path.length === 0) return value;
    const [head, ...rest] = path;
    const container = root as Record<string | number, unknown>;
    const copy = (Array.isArray(root) ? [...root] : { ...container }) as Record<string | number, unknown>;
    copy[head] = replaceAt(container[head], rest, value);
    return copy;
}
