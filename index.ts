/**
 * The hostwright program: reads and validates the stack config
 * (stacks/Pulumi.<env>.yaml), then declares the components it asks for.
 * Nothing is declared when the config has errors: every problem is reported at once.
 */
import { declareStack, rawConfigFromRuntime } from "./core/config/stack";
import { sections } from "./components/registry";

// Thousands of resources: stack-trace capture per resource dominates evaluation time.
Error.stackTraceLimit = 10;

export = declareStack(rawConfigFromRuntime(), sections);
