/**
 * `npm run lab -- demo`: the hook the example stack is wired into (see README).
 */

/** Brings up lab hosts, applies the example stack with the harness, prints what was verified, tears down. */
export async function runDemo(): Promise<void> {
    throw new Error("demo: not wired yet");
}
