/**
 * The hostwright program: reads and validates the stack config
 * (stacks/Pulumi.<env>.yaml), then declares the components it asks for.
 * Nothing is declared when the config has errors: every problem is reported at once.
 */
import { declareStack, rawConfigFromRuntime } from "./core/config/stack";
import { sections } from "./components/registry";

/**
 * Pulumi records a stack trace for every promise it makes, during the program and
 * while it resolves outputs afterwards; with thousands of resources that capture
 * dominates evaluation (bench/README.md). The program runs with no frames; errors
 * still carry their messages. HOSTWRIGHT_STACK_TRACES=1 keeps traces, for debugging.
 */
function withoutStackTraces<T>(declare: () => T): T {
    if (process.env.HOSTWRIGHT_STACK_TRACES !== "1") Error.stackTraceLimit = 0;
    return declare();
}

// Pulumi calls an exported function and uses its result as the stack outputs;
// the offline preview and the lab harness call it the same way.
export = () => withoutStackTraces(() => declareStack(rawConfigFromRuntime(), sections));
