/**
 * The library step: installs the core library (the transaction's shell functions,
 * core/step.ts `CORE_LIBRARY`) once per host as `LIB_ROOT/core-HASH.sh`, so that no
 * step script carries it. `remoteStep()` declares it before the first step on each
 * host and makes every step depend on it: Pulumi creates it first and deletes it last.
 *
 * Versions are content-addressed and kept: an undo stored in Pulumi's state sources the
 * library it was rendered with, however old. The library directory goes only when the
 * last library resource is deleted and no step has state left (core/README.md).
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { CORE_LIBRARY, CORE_LIBRARY_HASH, coreLibraryPath, HOST_LOCK, LIB_ROOT, LIBRARY_STEP_MARKER, RUN_DIR, STATE_ROOT } from "./step";
import { lift } from "./inputs";

export interface LibraryScripts {
    hash: string;
    path: string;
    /** `bash -s [update|check]`: claims, then installs the library (temp file + rename) unless it is there. */
    create: string;
    /** `bash -c`: drops one claim; removes every library version when no claim and no step state is left. */
    delete: string;
}

/** The host lock, taken as the steps take it; `holder` (a shell word) goes into the holder file. */
function hostLock(holder: string): string {
    return `${HOST_LOCK}
printf '%s (pid %s) since %s\\n' ${holder} "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > ${RUN_DIR}/holder`;
}

function head(mode: "create" | "undo"): string {
    return `#!/bin/bash
${LIBRARY_STEP_MARKER} (core/library.ts): ${coreLibraryPath()}
set -eu
umask 022
export LC_ALL=C
HW_MODE=${mode === "create" ? "${1:-create}" : "undo"}
HW_LIB=${coreLibraryPath()}
HW_CLAIMS=${LIB_ROOT}/claims
hw_log() { printf 'hostwright[library]: %s\\n' "$*" 2>/dev/null || true; }
hw_fail() { printf 'hostwright[library]: ERROR: %s\\n' "$*" >&2; exit 1; }`;
}

/** A create script (a recorded command's stdin) is the library step's. */
export function isLibraryScript(script: unknown): boolean {
    return typeof script === "string" && script.startsWith(`#!/bin/bash\n${LIBRARY_STEP_MARKER}`);
}

/** Recorded commands without the library steps: the component's own steps (for tests and tools that look at those). */
export function withoutLibraries<T extends { inputs: Record<string, any> }>(commands: T[]): T[] {
    return commands.filter((c) => !isLibraryScript(c.inputs.stdin));
}

let renderedLibraryScripts: Readonly<LibraryScripts> | undefined;

/** The library step's scripts: the same for every host, made once (16 kB per host of garbage otherwise). */
export function libraryScripts(): Readonly<LibraryScripts> {
    return (renderedLibraryScripts ??= Object.freeze(renderLibraryScripts()));
}

function renderLibraryScripts(): LibraryScripts {
    let end = "HOSTWRIGHT_LIBRARY_EOF";
    while (CORE_LIBRARY.split("\n").includes(end)) end += "_";
    const create = `${head("create")}
hw_text() {
cat <<'${end}'
${CORE_LIBRARY.replace(/\n$/, "")}
${end}
}
if [ "$HW_MODE" = check ]; then
  if hw_text | cmp -s -- - "$HW_LIB"; then echo "HOSTWRIGHT_CHECK ok"
  elif [ -e "$HW_LIB" ]; then echo "HOSTWRIGHT_DRIFT $HW_LIB: content differs"; echo "HOSTWRIGHT_CHECK drifted"
  else echo "HOSTWRIGHT_CHECK not-applied"; fi
  exit 0
fi
${hostLock(`"$HW_MODE of the core library ${CORE_LIBRARY_HASH}"`)}
mkdir -p -- "\${HW_LIB%/*}"
# one claim per library resource, whatever the outcome; an update keeps the one it holds
if [ "$HW_MODE" != update ] || ! grep -qxF ${CORE_LIBRARY_HASH} "$HW_CLAIMS" 2>/dev/null; then
  { cat -- "$HW_CLAIMS" 2>/dev/null || true; echo ${CORE_LIBRARY_HASH}; } > "$HW_CLAIMS.new" && mv -f -- "$HW_CLAIMS.new" "$HW_CLAIMS" \\
    || hw_fail "could not write $HW_CLAIMS (disk full?)"
fi
if hw_text | cmp -s -- - "$HW_LIB"; then
  hw_log "core library ${CORE_LIBRARY_HASH} is installed ($HW_LIB)"
else
  # atomic: a step never sources a half-written library
  hw_text > "$HW_LIB.new.$$" || { rm -f -- "$HW_LIB.new.$$"; hw_fail "could not write $HW_LIB.new.$$ (disk full?)"; }
  sync -f -- "$HW_LIB.new.$$" 2>/dev/null || sync
  mv -f -- "$HW_LIB.new.$$" "$HW_LIB"
  hw_log "installed the core library $HW_LIB"
fi
`;
    const del = `${head("undo")}
[ -d "\${HW_LIB%/*}" ] || exit 0
${hostLock(`"undo of the core library ${CORE_LIBRARY_HASH}"`)}
if [ -f "$HW_CLAIMS" ]; then
  awk '!dropped && $0 == "${CORE_LIBRARY_HASH}" { dropped = 1; next } { print }' "$HW_CLAIMS" > "$HW_CLAIMS.new" && mv -f -- "$HW_CLAIMS.new" "$HW_CLAIMS"
fi
if [ -s "$HW_CLAIMS" ]; then hw_log "core libraries kept: $(wc -l < "$HW_CLAIMS") other library step(s) on this host"; exit 0; fi
hw_steps=$(cd ${STATE_ROOT} 2>/dev/null && ls -A) || true
if [ -n "$hw_steps" ]; then hw_log "core libraries kept: steps still have state on this host ($(printf '%s' "$hw_steps" | tr '\\n' ' '))"; exit 0; fi
rm -rf -- "\${HW_LIB%/*}"
rmdir -- "\${HW_LIB%/*/*}" 2>/dev/null || true
hw_log "removed the core libraries (no step left on this host)"
`;
    return { hash: CORE_LIBRARY_HASH, path: coreLibraryPath(), create, delete: del };
}

// One library step per inventory host (steps whose host is only known after a
// look-up get their own: claims keep the shared directory until the last is gone).
const libraryOnHost = new Map<string, remote.Command>();

/** Forgets the declared library steps (with the step ordering, before a program is evaluated again). */
export function resetLibraries(): void {
    libraryOnHost.clear();
}

/** The command lines and connection of a step whose undo is `undo.script` (remoteStep's, for its host). */
export type StepCommands = (undo: { script: string; generation: string }) => Pick<remote.CommandArgs, "connection" | "create" | "update" | "delete">;

/**
 * The library step the steps on a host depend on: declared with the first step on an
 * inventory host `hostName` (parented to that step's component), or for the step
 * `stepName` when its host is an Output. `commands` gives it the step's connection and
 * command lines.
 */
export function hostLibrary(hostName: string | undefined, stepName: string, parent: pulumi.Resource, commands: StepCommands): remote.Command {
    const existing = hostName === undefined ? undefined : libraryOnHost.get(hostName);
    if (existing) return existing;
    const scripts = libraryScripts();
    const lines = commands({ script: scripts.delete, generation: scripts.hash });
    const command = new remote.Command(
        hostName === undefined ? `${stepName}-hostwright-lib` : `hostwright-lib-${hostName}`,
        { ...lines, stdin: scripts.create, triggers: lift(endpointOf(lines.connection!), (endpoint) => [scripts.hash, endpoint]), addPreviousOutputInEnv: false },
        { parent },
    );
    if (hostName !== undefined) libraryOnHost.set(hostName, command);
    return command;
}

/**
 * `host:port` of a library step's connection, in its triggers: another endpoint is another
 * machine (a late host's VM moved by Nova), so the library step is replaced with the steps,
 * created there and deleted from the old one. Plain for an inventory host; otherwise an
 * Output, not secret (the connection is, for its key).
 */
function endpointOf(connection: pulumi.Input<types.input.remote.ConnectionArgs>): string | pulumi.Output<string> {
    const plain = connection as types.input.remote.ConnectionArgs;
    if (!pulumi.Output.isInstance(connection) && typeof plain.host === "string" && (plain.port === undefined || typeof plain.port === "number")) return `${plain.host}:${plain.port ?? 22}`;
    return pulumi.unsecret(pulumi.output(connection).apply((c) => `${c.host}:${c.port ?? 22}`));
}
