/**
 * The pure half of the remote-step core: turns "on a host, install these files
 * and run these scripts; to undo, run that" into two bash scripts that run as a
 * journalled transaction, with the transaction's functions in the core library
 * (`CORE_LIBRARY`, installed once per host by core/library.ts). core/README.md describes the states, the
 * journal, the host lock, ownership claims and what recovery does.
 *
 * On the host every step keeps its own state directory:
 *   /var/lib/hostwright/steps/<key>/claims           one line per Pulumi resource of the step (its generation)
 *   /var/lib/hostwright/steps/<key>/generation       the generation in service (committed last)
 *   /var/lib/hostwright/steps/<key>/files/<h>.path   an installed path ...
 *   /var/lib/hostwright/steps/<key>/files/<h>.orig   ... its original, backed up once
 *   /var/lib/hostwright/steps/<key>/files/<h>.absent ... or a note that it did not exist
 *   /var/lib/hostwright/steps/<key>/txn/             the open transaction (journal, rollback data)
 */
import { contentHash, pathHash, shortHash } from "./hash";
import { heredocInto, raw, sh, shq } from "./shell";

export const STATE_ROOT = "/var/lib/hostwright/steps";
/** Copies of operators' hand edits that an apply overwrote; kept after destroy. */
export const KEPT_ROOT = "/var/lib/hostwright/kept";
/** The core library, one file per version (`core-HASH.sh`), installed by each host's library step (core/library.ts). */
export const LIB_ROOT = "/var/lib/hostwright/lib";
/** Volatile per-host files: the host lock and its holder, notes of interrupted runs, fault-injection points. */
export const RUN_DIR = "/run/hostwright";
/** How long a step waits for another hostwright run on the same host (`HW_LOCK_WAIT` on the host overrides). */
export const LOCK_WAIT_SECONDS = 600;

/** A file the step owns on the host. */
export interface ManagedFile {
    /** Absolute path on the host. */
    path: string;
    /** Full text content (no NUL bytes). */
    content: string;
    /** Octal permission bits. @default "0644" */
    mode?: string;
    /** @default "root" */
    owner?: string;
    /** @default "root" */
    group?: string;
}

/**
 * A file the step edits in place: its new content is computed on the host, at
 * apply time, from the content the file has then, so that what the step does not
 * own (other keys, comments, order) survives. Backed up, switched and restored
 * exactly like a {@link ManagedFile}.
 */
export interface EditedFile {
    /** Absolute path on the host. */
    path: string;
    /**
     * Trusted shell command: reads the current content on stdin (nothing when the
     * file does not exist) and writes the new content on stdout; a non-zero exit
     * refuses the edit and nothing is switched. It must be idempotent (editing its
     * own output changes nothing), so that an unchanged file stays byte-identical.
     * Empty output for a file that does not exist leaves it absent.
     */
    filter: string;
    /** Octal permission bits of a file the edit creates; an existing file keeps its own. @default "0644" */
    mode?: string;
    /** Owner of a file the edit creates. @default "root" */
    owner?: string;
    /** Group of a file the edit creates. @default "root" */
    group?: string;
}

/**
 * A shell function `name` for {@link EditedFile.filter}: filters stdin to stdout
 * with an awk program, byte for byte when nothing changes. The program exits 10
 * for "unchanged" and the original bytes are replayed (awk's own output would add
 * a final newline or lose CRs). With `argEnv`, the function's first argument
 * reaches awk as that environment variable.
 */
export function awkEditFilter(name: string, program: string, argEnv?: string): string {
    for (const id of [name, argEnv ?? "x"]) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) throw new Error(`${JSON.stringify(id)} is not a shell identifier`);
    return `${name}() {
  hw_filter_in=$(mktemp) || return 1
  cat > "$hw_filter_in"
  hw_filter_rc=0
  ${argEnv ? `${argEnv}=$1 ` : ""}awk ${shq(program)} "$hw_filter_in" || hw_filter_rc=$?
  [ "$hw_filter_rc" -ne 10 ] || cat -- "$hw_filter_in"
  rm -f -- "$hw_filter_in"
  [ "$hw_filter_rc" -eq 0 ] || [ "$hw_filter_rc" -eq 10 ]
}`;
}

/**
 * What one step does. Every script fragment runs under `set -eu` inside bash
 * with these helpers defined: `hw_log MSG`, `hw_warn MSG` (a warning output),
 * `hw_output KEY VALUE` (a value output), `hw_fail MSG` (exit 1 with a message),
 * `hw_staged PATH` (prints where PATH is staged before the switch).
 * `$HW_CHANGED` holds the number of files the switch changed; `hw_changed PATH`
 * (in `activate`) tells whether one of them is PATH.
 */
export interface StepSpec {
    /** Stable key of the step on its host; names the state directory. Letters, digits, `._-`. */
    key: string;
    /** One line saying what the step does, printed first. */
    description: string;
    /** Files installed atomically (staged, validated, renamed), each backed up once. */
    files?: ManagedFile[];
    /** Files edited in place on the host (after `preflight`, which may define the filters' helpers). */
    edits?: EditedFile[];
    /**
     * Shell functions every fragment of the step may call (preflight, validate,
     * activate, reactivate, undo, afterRestore, verify): defined once at the top of
     * both scripts instead of repeated in each fragment. Definitions, and assignments
     * of constants they use; nothing that changes the host (they run before the lock).
     */
    helpers?: string;
    /** Preconditions, before anything is staged. Fail with `hw_fail`. */
    preflight?: string;
    /** Validation of the staged files (use `hw_staged PATH`); on failure nothing is switched. */
    validate?: string;
    /**
     * Runs after the switch on every create/update (test `$HW_CHANGED` to skip
     * reloads). If it fails, the switched files are put back, `reactivate` runs, and the step fails.
     */
    activate?: string;
    /** Brings the previous configuration back into service after a rollback (e.g. reload). */
    reactivate?: string;
    /** First part of the undo, before files are restored (remove runtime objects). Must be idempotent. */
    undo?: string;
    /** After files are restored on undo (e.g. reload the service with the original files). */
    afterRestore?: string;
    /**
     * Read-only check of what the step keeps running (a service serving, a runtime
     * object as declared), run by `npm run check` after the file comparisons: reports
     * each difference with `hw_drift MSG`. Must change nothing on the host.
     */
    verify?: string;
}

/** The rendered scripts and the generation (content hash) that identifies them. */
export interface StepScripts {
    generation: string;
    create: string;
    delete: string;
}

/**
 * Stands for the run's id in a staged path; `hw_put_staged` replaces it on the host.
 * Staged names are unique per run, so two runs never share (or delete) each other's.
 */
export const RUN_TOKEN = "@HW_RUN@";

/**
 * Where a managed file is staged before the switch: same directory, so the rename is
 * atomic. Holds {@link RUN_TOKEN}: write text that names staged paths through
 * `hw_put_staged DEST BYTES` (create scripts), which puts in this run's id.
 */
export function stagedPath(path: string): string {
    const slash = path.lastIndexOf("/");
    return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.hostwright-${RUN_TOKEN}`;
}

/** Checks a step spec's shape; returns problems (empty when fine). */
export function stepSpecProblems(spec: StepSpec): string[] {
    const problems: string[] = [];
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$/.test(spec.key)) problems.push(`step key ${JSON.stringify(spec.key)} must be 1-120 characters of letters, digits, '.', '_', '-'`);
    const seen = new Set<string>();
    for (const f of [...(spec.files ?? []), ...(spec.edits ?? []).map((e) => ({ ...e, content: "" }))]) {
        if (!/^\/[^\0-\x1f\x7f]*[^/]$/.test(f.path) || f.path.split("/").includes("..")) problems.push(`file path ${JSON.stringify(f.path)} must be absolute, without '..' or control characters, not a directory`);
        if (seen.has(f.path)) problems.push(`file ${f.path} is declared twice`);
        seen.add(f.path);
        if (f.mode !== undefined && !/^0?[0-7]{3,4}$/.test(f.mode)) problems.push(`file ${f.path}: mode ${JSON.stringify(f.mode)} must be octal like "0644"`);
        for (const [what, name] of [["owner", f.owner], ["group", f.group]] as const) {
            if (name !== undefined && !/^[a-z_][a-z0-9_-]*\$?$/i.test(name)) problems.push(`file ${f.path}: ${what} ${JSON.stringify(name)} is not a valid user/group name`);
        }
        if (f.content.includes("\0")) problems.push(`file ${f.path}: content holds a NUL byte; only text files are supported`);
    }
    for (const e of spec.edits ?? []) if (!e.filter.trim()) problems.push(`edited file ${e.path}: the filter is empty`);
    return problems;
}

/** Renders the create and delete scripts of a step. Pure and deterministic. */
export function renderStep(spec: StepSpec): StepScripts {
    const problems = stepSpecProblems(spec);
    if (problems.length > 0) throw new Error(`invalid step ${spec.key}: ${problems.join("; ")}`);
    const files = [...(spec.files ?? [])].sort((a, b) => a.path.localeCompare(b.path));
    const edits = [...(spec.edits ?? [])].sort((a, b) => a.path.localeCompare(b.path));
    const generation = contentHash(
        "hostwright-step-v1",
        spec.key,
        spec.description,
        JSON.stringify(files.map((f) => [f.path, f.mode ?? "0644", f.owner ?? "root", f.group ?? "root", contentHash(f.content)])),
        JSON.stringify(edits.map((e) => [e.path, e.mode ?? "0644", e.owner ?? "root", e.group ?? "root", e.filter])),
        spec.helpers ?? "",
        spec.preflight ?? "",
        spec.validate ?? "",
        spec.activate ?? "",
        spec.reactivate ?? "",
        spec.undo ?? "",
        spec.afterRestore ?? "",
    ).slice(0, 32);

    const stage = files
        .map((f) => heredocInto(sh`hw_stage ${pathHash(f.path)} ${f.path} ${f.mode ?? "0644"} ${f.owner ?? "root"} ${f.group ?? "root"}`, f.content, shortHash(f.path + f.content)))
        .join("\n");
    const stageEdits = edits
        .map((e) => `${sh`hw_edit_source ${e.path}`}\n( ${e.filter}\n) < "$hw_src" > "$hw_new" || ${sh`hw_fail ${`editing ${e.path} failed; the files in service were not touched`}`}\n${sh`hw_edit_staged ${e.path} ${e.mode ?? "0644"} ${e.owner ?? "root"} ${e.group ?? "root"}`}`)
        .join("\n");
    const declared = [...files, ...edits].map((f) => sh`${pathHash(f.path)} ${f.path}`).join(" \\\n  ");

    // Every script sources the host's core library (the transaction's functions,
    // installed once per host by core/library.ts) and carries only what is its own:
    // the step's identity, its helpers and fragments, and its files.
    const create = lines(
        preamble(spec.key, generation, spec.description, "create", definedFragments(spec, ["validate", "activate", "reactivate", "verify"])),
        helperFunction(spec.helpers),
        fragment("hw_validate", spec.validate),
        fragment("hw_activate", spec.activate),
        fragment("hw_reactivate", spec.reactivate),
        fragment("hw_verify", spec.verify),
        "hw_main() {",
        `hw_start ${shq(spec.description)}`,
        spec.preflight,
        "hw_txn_open",
        stage,
        stageEdits,
        declared ? `hw_install ${declared}` : "hw_install",
        "}",
        "hw_main </dev/null",
        "exit 0",
    );
    const del = lines(
        preamble(spec.key, generation, spec.description, "undo", definedFragments(spec, ["undo", "afterRestore"])),
        helperFunction(spec.helpers),
        fragment("hw_undo", spec.undo),
        fragment("hw_after_restore", spec.afterRestore),
        `hw_remove ${shq(`undo: ${spec.description}`)} </dev/null`,
        "exit 0",
    );
    return { generation, create, delete: del };
}

/** Script parts, one or more lines each; absent and empty parts leave no line. */
function lines(...parts: Array<string | undefined>): string {
    return `${parts.filter((p) => p).join("\n")}\n`;
}

/** A fragment's function on the host is `hw_` and this name. */
const FRAGMENT_FUNCTIONS = { validate: "validate", activate: "activate", reactivate: "reactivate", verify: "verify", undo: "undo", afterRestore: "after_restore" } as const;

/**
 * `HW_FRAGMENTS`: the functions among `names` the step defines (a body that is not
 * blank); `hw_phase` runs no other (a subshell for the library's no-op costs a fork).
 */
function definedFragments(spec: StepSpec, names: Array<keyof typeof FRAGMENT_FUNCTIONS>): string[] {
    return names.filter((name) => spec[name]?.trim()).map((name) => FRAGMENT_FUNCTIONS[name]);
}

/**
 * A fragment as the function the core calls (the library defines each as a no-op,
 * so a step without the fragment defines nothing). `:` keeps a body of comments valid.
 */
function fragment(name: string, body: string | undefined): string | undefined {
    return body?.trim() ? `${name}() {\n:\n${body}\n}` : undefined;
}

/**
 * The step's helpers, run once at the top of the script; wrapped in `hw_helpers` so
 * that recover.sh (which keeps functions, not variables) runs them again and a
 * constant they set is there for a dead run's rollback too.
 */
function helperFunction(helpers: string | undefined): string | undefined {
    return helpers?.trim() ? `hw_helpers() {\n:\n${helpers}\n}\nhw_helpers` : undefined;
}

/**
 * The head of both scripts: the step's identity, then the core library of this
 * build, sourced from the host (a script never runs without it: it fails naming the file).
 * `HW_MODE` of a create: "update" when Pulumi re-runs the create of a resource it already
 * has (a retry, a change that is not a replacement: it keeps the claim it may hold);
 * "check" compares the host with the step and changes nothing (npm run check).
 */
function preamble(key: string, generation: string, description: string, mode: "create" | "undo", fragments: string[]): string {
    return `#!/bin/bash
# hostwright step ${key}: ${description.replace(/[\r\n]/g, " ")}
set -eEu
umask 022
export LC_ALL=C
HW_KEY=${shq(key)}
HW_GEN=${shq(generation)}
HW_MODE=${mode === "create" ? "${1:-create}" : "undo"}
HW_FRAGMENTS=${shq(fragments.join(" "))}
${libraryLoader(CORE_LIBRARY_HASH)}`;
}

/** The second line of the library step's create script (core/library.ts): checkScript() leaves that script as it is. */
export const LIBRARY_STEP_MARKER = "# hostwright core library step";

/** Where the core library of a given hash is installed on a host. */
export function coreLibraryPath(hash: string = CORE_LIBRARY_HASH): string {
    return `${LIB_ROOT}/core-${hash}.sh`;
}

/** The lines of a script that source the core library `hash` (what checkScript() replaces with the library itself). */
function libraryLoader(hash: string): string {
    return `HW_LIB=${coreLibraryPath(hash)}
[ -r "$HW_LIB" ] || { printf 'hostwright[%s]: ERROR: the core library %s is missing on this host (installed by the library step that runs before every other step on the host)\\n' "$HW_KEY" "$HW_LIB" >&2; exit 1; }
. "$HW_LIB"`;
}

/**
 * Takes the host lock on descriptor 9 (shared with the library step's scripts): at
 * once, or after saying who holds it, waiting at most `HW_LOCK_WAIT` seconds; then it
 * fails naming the holder, having changed nothing. Needs `hw_log` and `hw_fail`; the
 * caller writes the holder file once it has the lock.
 */
export const HOST_LOCK = `command -v flock >/dev/null 2>&1 || hw_fail "flock (util-linux) is not installed on this host"
[ -d ${RUN_DIR} ] || mkdir -p ${RUN_DIR}
exec 9>>${RUN_DIR}/lock
if ! flock -n 9; then
  hw_log "waiting for the host lock: $(cat ${RUN_DIR}/holder 2>/dev/null || echo unknown holder)"
  flock -w "\${HW_LOCK_WAIT:-${LOCK_WAIT_SECONDS}}" 9 \\
    || hw_fail "another hostwright run still holds this host's lock after \${HW_LOCK_WAIT:-${LOCK_WAIT_SECONDS}} s: $(cat ${RUN_DIR}/holder 2>/dev/null || echo unknown holder); nothing was changed"
fi`;

/**
 * Functions of both the create and the undo (in the library: every function of the
 * transaction). The library's top level sets the step's paths and the run's id from
 * `HW_KEY`, which the script set before sourcing it.
 */
const COMMON_HELPERS = `HW_STATE="${STATE_ROOT}/$HW_KEY"
HW_TXN="$HW_STATE/txn"
# The core forks as little as it can: a step runs 10-20 of these functions, and on a
# busy host every process (fork, exec) costs about a millisecond of CPU; so paths are
# split with parameter expansion, files read with read, and the time formatted by printf.
# The run's id, 12 hex digits: bash 5.1's SRANDOM, or /dev/urandom on an older bash.
if [ -n "\${SRANDOM:-}" ]; then printf -v HW_RUN '%08x%04x' "$SRANDOM" "$((SRANDOM & 0xffff))"; else HW_RUN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \\n'); fi
hw_utc_now() { TZ=UTC printf -v HW_NOW '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
hw_dir_of() {
  # hw_dir_of VAR PATH: VAR=the directory of the absolute PATH (dirname without a process)
  printf -v "$1" '%s' "\${2%/*}"
  [ -n "\${!1}" ] || printf -v "$1" /
}
hw_read() {
  # hw_read VAR FILE: VAR=the first line of FILE (empty when FILE is missing), without cat
  printf -v "$1" ''
  [ -e "$2" ] || return 0
  IFS= read -r "$1" < "$2" || true
}
# A report line that cannot be written means the client is gone (SIGPIPE is not
# always delivered: an ignored SIGPIPE cannot be trapped): hw_interrupted handles it.
hw_log() { printf 'hostwright[%s]: %s\\n' "$HW_KEY" "$*" 2>/dev/null || hw_interrupted PIPE; }
hw_warn() { printf 'HOSTWRIGHT_WARNING %s\\n' "$*" 2>/dev/null || hw_interrupted PIPE; }
hw_output() { printf 'HOSTWRIGHT_OUTPUT %s=%s\\n' "$1" "\${2//$'\\n'/ }" 2>/dev/null || hw_interrupted PIPE; }
hw_fail() { printf 'hostwright[%s]: ERROR: %s\\n' "$HW_KEY" "$*" >&2; exit 1; }
hw_on_error() {
  # names the step and the command for a failure no hw_fail explains (a full disk, ...)
  [ -n "\${HW_PHASE:-}" ] || printf 'hostwright[%s]: ERROR: command failed (exit %s): %s\\n' "$HW_KEY" "$1" "$2" >&2
}
trap 'hw_on_error $? "$BASH_COMMAND"' ERR
hw_begin() {
  # the host lock (one hostwright run at a time on this host), then recovery of
  # every transaction a dead run left open
  ${HOST_LOCK.replace(/\n/g, "\n  ")}
  [ -d ${STATE_ROOT} ] || mkdir -p ${STATE_ROOT}
  hw_utc_now
  printf '%s of step %s (pid %s, run %s) since %s\\n' "$HW_MODE" "$HW_KEY" "$$" "$HW_RUN" "$HW_NOW" > ${RUN_DIR}/holder
  for hw_note in ${RUN_DIR}/notes/*; do
    [ -f "$hw_note" ] || continue
    sed "s/^/hostwright[$HW_KEY]: earlier interrupted run: /" "$hw_note"
    rm -f -- "$hw_note"
  done
  for hw_dead in ${STATE_ROOT}/*/txn; do
    [ -d "$hw_dead" ] || continue
    if [ ! -f "$hw_dead/recover.sh" ]; then rm -rf -- "$hw_dead"; continue; fi
    hw_dead_key=\${hw_dead%/txn}
    hw_read hw_dead_state "$hw_dead/state"
    hw_log "recovering the transaction of step \${hw_dead_key##*/} left open by a run that died (\${hw_dead_state:-no journal})"
    ( trap - ERR; bash "$hw_dead/recover.sh" ) 9>&- || hw_fail "could not recover $hw_dead (see above); nothing was changed"
  done
}
hw_claims_migrate() {
  # state written before claims existed: its generation is the one claim
  if [ ! -f "$HW_STATE/claims" ] && [ -f "$HW_STATE/generation" ]; then cp -- "$HW_STATE/generation" "$HW_STATE/claims"; fi
}
hw_remove_created_dirs() {
  # directories the step created, deepest first, only when empty
  if [ -f "$HW_STATE/dirs" ]; then
    sort -r -u -- "$HW_STATE/dirs" | while IFS= read -r hw_dir; do rmdir -- "$hw_dir" 2>/dev/null || true; done
    rm -f -- "$HW_STATE/dirs"
  fi
}
hw_forget_state() {
  # the directories the step created, the step's state, and the state root when no
  # other step has any
  hw_remove_created_dirs
  rm -rf -- "$HW_STATE"
  rmdir -- ${shq(STATE_ROOT)} ${shq(STATE_ROOT.slice(0, STATE_ROOT.lastIndexOf("/")))} 2>/dev/null || true
}
hw_put_back() {
  # hw_put_back SAVED-PREFIX PATH: restore PATH from SAVED.orig, or remove it if SAVED.absent
  if [ -e "$1.orig" ] || [ -L "$1.orig" ]; then
    if [ -e "$2.hostwright-restore" ] || [ -L "$2.hostwright-restore" ]; then rm -rf -- "$2.hostwright-restore"; fi
    cp -a -- "$1.orig" "$2.hostwright-restore" || hw_fail "could not restore $2 from $1.orig"
    mv -fT -- "$2.hostwright-restore" "$2"
  elif [ -e "$1.absent" ]; then
    rm -f -- "$2"
  fi
}`;

/**
 * The core's shell helpers as the library and check scripts carry them: without
 * comment-only lines (they are for readers of this file; the library step's script is
 * stored in state and check scripts are sent on every check). Only for the core's own text: a component's fragment may hold
 * a here-document, whose lines must stay as they are.
 */
function compact(text: string): string {
    return text
        .split("\n")
        .filter((line) => !/^\s*#/.test(line))
        .join("\n");
}

/** Helpers of the undo. */
const UNDO_HELPERS = `
hw_claimed_by_others() {
  # drops this generation's claim; true (and nothing is undone) while another create still claims the step
  hw_claims_migrate
  [ -f "$HW_STATE/claims" ] || return 1
  hw_others=
  hw_dropped=
  while IFS= read -r hw_line || [ -n "$hw_line" ]; do
    [ -n "$hw_line" ] || continue
    if [ -z "$hw_dropped" ] && [ "$hw_line" = "$HW_GEN" ]; then hw_dropped=1; else hw_others="$hw_others$hw_line"$'\\n'; fi
  done < "$HW_STATE/claims"
  [ -n "$hw_others" ] || return 1
  printf '%s' "$hw_others" > "$HW_STATE/claims.new"
  mv -f -- "$HW_STATE/claims.new" "$HW_STATE/claims"
  hw_last=\${hw_others%$'\\n'}
  hw_log "still claimed by a later create (generation \${hw_last##*$'\\n'}); leaving its files and services in place"
}
hw_restore_all() {
  for hw_rec_path in "$HW_STATE"/files/*.path; do
    [ -e "$hw_rec_path" ] || continue
    hw_read hw_p "$hw_rec_path"
    hw_put_back "\${hw_rec_path%.path}" "$hw_p"
    rm -rf -- "\${hw_rec_path%.path}".*
    HW_CHANGED=$((HW_CHANGED + 1))
    hw_log "restored $hw_p"
  done
}
hw_remove() {
  # hw_remove DESCRIPTION: the undo: drops this generation's claim; the last claim
  # runs the step's undo, restores every original, runs its afterRestore, forgets the state
  hw_log "$1"
  hw_begin
  if hw_claimed_by_others; then exit 0; fi
  hw_undo 9>&-
  HW_CHANGED=0
  hw_restore_all
  hw_after_restore 9>&-
  hw_forget_state
  hw_log "undone ($HW_CHANGED file(s) restored)"
}`;

/** Helpers of the create: the transaction (journal, staging, switch, rollback, commit). */
const CREATE_HELPERS = `
hw_staged_as() {
  # hw_staged_as VAR PATH: VAR=where PATH is staged in this run (stagedPath())
  printf -v "$1" '%s/.%s.hostwright-%s' "\${2%/*}" "\${2##*/}" "$HW_RUN"
}
hw_staged() { hw_staged_as hw_staged_out "$1"; printf '%s' "$hw_staged_out"; }
hw_put_staged() {
  # hw_put_staged DEST BYTES < text: writes text naming staged paths (stagedPath()) with this run's id
  head -c "$2" | sed "s/${RUN_TOKEN}/$HW_RUN/g" > "$1"
}
hw_fault_point() {
  # fault injection for the lab's fault matrix: pause while ${RUN_DIR}/pause names this point
  [ -e ${RUN_DIR}/pause ] || return 0
  case "$(cat ${RUN_DIR}/pause 2>/dev/null)" in "$HW_KEY $1"|"* $1") ;; *) return 0 ;; esac
  printf '%s %s\\n' "$$" "$1" > ${RUN_DIR}/paused
  for hw_i in $(seq 1 600); do [ -e ${RUN_DIR}/pause ] || break; sleep 0.2; done
  rm -f ${RUN_DIR}/paused
}
hw_phase() {
  # hw_phase NAME: runs hw_NAME in a subshell under set -e; its exit status in $hw_rc.
  # Call it as a plain command, never in a condition (if, ||, &&, !): bash ignores
  # set -e in everything a condition runs, the subshell's own set -e included.
  # Its output goes to a file that tail streams to the client: when the client is
  # gone only tail dies, and the phase (a reload, an ovsdb change) is never cut in
  # half; the run then rolls back as a whole. Error lines go to stderr as well.
  # tail looks for the phase's end every 10 ms (at 0.1 s, two phases were most of an
  # empty step's time). A fragment the step does not define is not run at all.
  hw_rc=0
  case " $HW_FRAGMENTS " in *" $1 "*) ;; *) return 0 ;; esac
  HW_PHASE=$1
  hw_out="$HW_TXN/$1.out"
  : > "$hw_out"
  set +e
  ( set -e; "hw_$1" ) 9>&- </dev/null >"$hw_out" 2>&1 &
  hw_phase_pid=$!
  tail -s 0.01 -n +1 -f --pid="$hw_phase_pid" -- "$hw_out" 2>/dev/null
  wait "$hw_phase_pid"
  hw_rc=$?
  hw_phase_pid=
  set -e
  HW_PHASE=
  [ "$hw_rc" -eq 0 ] || grep -a ': ERROR: ' "$hw_out" | tail -n 5 >&2 || true
}
hw_journal() {
  # hw_journal STATE: the transaction's state, on disk before the step goes on. Flushed
  # where losing it would change the rollback: staging (a lost journal reads as staging)
  # and activating (rolled back exactly like switching) are not.
  hw_utc_now
  printf '%s %s %s\\n' "$1" "$HW_RUN" "$HW_NOW" > "$HW_TXN/state.new" \\
    && mv -f -- "$HW_TXN/state.new" "$HW_TXN/state" \\
    || hw_fail "could not write the journal $HW_TXN/state (disk full?)"
  case $1 in staging|activating) ;; *) hw_sync "$HW_TXN" ;; esac
}
hw_sync() {
  # hw_sync PATH...: flushes the filesystems PATHs are on (sync -f, coreutils 8.24), not
  # every filesystem of a busy host; older coreutils: a global sync
  sync -f -- "$@" 2>/dev/null || sync
}
hw_txn_open() {
  # the recovery script holds this run's functions and variables, not its file contents
  if [ -e "$HW_TXN" ]; then rm -rf -- "$HW_TXN"; fi
  mkdir -p "$HW_STATE/files" "$HW_TXN/prev" "$HW_TXN/installed" "$HW_TXN/records" || hw_fail "could not create the state directory $HW_STATE"
  hw_functions=" $(compgen -A function) "
  hw_functions=\${hw_functions//$'\\n'/ }
  { printf 'set -eu\n'
    declare -p HW_KEY HW_GEN HW_STATE HW_TXN HW_RUN HW_MODE HW_FRAGMENTS
    declare -f \${hw_functions/ hw_main / }
    printf '%s\\n' hw_helpers 'hw_txn_rollback "rolled back the interrupted run $HW_RUN"'
  } > "$HW_TXN/recover.sh.new" && mv -f -- "$HW_TXN/recover.sh.new" "$HW_TXN/recover.sh" \\
    || hw_fail "could not write $HW_TXN/recover.sh (disk full?)"
  trap 'hw_interrupted HUP' HUP
  trap 'hw_interrupted INT' INT
  trap 'hw_interrupted TERM' TERM
  trap 'hw_interrupted PIPE' PIPE
  trap 'hw_txn_rollback "rolled back: the step failed before it committed"' EXIT
  hw_journal staging
}
hw_interrupted() {
  # the session dropped (PIPE on the next write, or HUP) or the run was stopped.
  # An undo finishes (it is idempotent) without a report; a create rolls back now,
  # and the next run on this host prints the note.
  if [ "$HW_MODE" = undo ]; then exec >/dev/null 2>&1; return 0; fi
  trap '' HUP INT TERM PIPE
  [ -z "\${HW_INTERRUPTED:-}" ] || return 0
  HW_INTERRUPTED=1
  # a phase still running (a signal ends the wait for it) finishes before the rollback
  [ -z "\${hw_phase_pid:-}" ] || wait "$hw_phase_pid" 2>/dev/null || true
  mkdir -p ${RUN_DIR}/notes
  exec >>"${RUN_DIR}/notes/$HW_KEY" 2>&1
  hw_read hw_txn_state "$HW_TXN/state"
  hw_txn_state=\${hw_txn_state%% *}
  printf 'step %s, run %s (pid %s): SIG%s in state %s\\n' "$HW_KEY" "$HW_RUN" "$$" "$1" "\${hw_txn_state:-none}"
  hw_txn_rollback "rolled back after SIG$1"
  exit 1
}
hw_mkdir() {
  # hw_mkdir DIR: mkdir -p, noting each directory it creates so that undo removes it
  # again (when empty)
  [ ! -d "$1" ] || return 0
  hw_dir=$1
  while [ ! -d "$hw_dir" ]; do
    printf '%s\\n' "$hw_dir" >> "$HW_STATE/dirs"
    hw_dir_of hw_dir "$hw_dir"
  done
  mkdir -p -- "$1"
}
hw_disk_note() { hw_dir_of hw_disk_dir "$1"; df -Pk -- "$hw_disk_dir" 2>/dev/null | awk 'NR == 2 { printf " (%s KiB free on %s)", $4, $6 }'; }
hw_stage_file() {
  # hw_stage_file PATH: the staged name of PATH for this run, noted for clean-up
  hw_dir_of hw_stage_dir "$1"
  hw_mkdir "$hw_stage_dir"
  hw_staged_as hw_new "$1"
  printf '%s\\n' "$hw_new" >> "$HW_TXN/staged"
  if [ -e "$hw_new" ] || [ -L "$hw_new" ]; then rm -f -- "$hw_new"; fi
}
hw_owner_exists() {
  # hw_owner_exists USER GROUP PATH: fails unless both exist; root always does, others
  # are looked up once per run
  case " \${hw_owners_seen:-} " in *" $1:$2 "*) return 0 ;; esac
  [ "$1" = root ] || id -u "$1" >/dev/null 2>&1 || hw_fail "user $1 (owner of $3) does not exist"
  [ "$2" = root ] || getent group "$2" >/dev/null 2>&1 || hw_fail "group $2 (of $3) does not exist"
  hw_owners_seen="\${hw_owners_seen:-} $1:$2"
}
hw_stage() {
  # hw_stage HASH PATH MODE OWNER GROUP BYTES < content
  hw_owner_exists "$4" "$5" "$2"
  hw_stage_file "$2"
  umask 077
  if ! hw_err=$(head -c "$6" 2>&1 > "$hw_new"); then
    umask 022
    hw_fail "could not write $2 (staged as $hw_new): \${hw_err:-write failed}$(hw_disk_note "$2"); the files in service were not touched"
  fi
  umask 022
  # a script cut short in its here-document stages a short file: never switched
  hw_size=$(stat -c %s -- "$hw_new")
  [ "$hw_size" = "$6" ] || hw_fail "could not write $2 (staged as $hw_new): short write ($hw_size of $6 bytes)$(hw_disk_note "$2"); the files in service were not touched"
  chown "$4:$5" -- "$hw_new"
  chmod "$3" -- "$hw_new"
}
hw_edit_source() {
  # hw_edit_source PATH: the edit filter reads $hw_src and writes $hw_new
  hw_stage_file "$1"
  umask 077
  : > "$hw_new"
  umask 022
  if [ -f "$1" ]; then hw_src=$1; else hw_src=/dev/null; fi
}
hw_edit_staged() {
  # hw_edit_staged PATH MODE OWNER GROUP: an existing file keeps its mode and owner;
  # nothing staged (so nothing switched) when the file is absent and the edit is empty
  hw_staged_as hw_new "$1"
  if [ -f "$1" ]; then
    chown --reference="$1" -- "$hw_new"
    chmod --reference="$1" -- "$hw_new"
  elif [ -s "$hw_new" ]; then
    hw_owner_exists "$3" "$4" "$1"
    chown "$3:$4" -- "$hw_new"
    chmod "$2" -- "$hw_new"
  else
    rm -f -- "$hw_new"
  fi
}
hw_same() {
  # the live file equals the staged one in content, mode and ownership
  [ -f "$1" ] && [ ! -L "$1" ] && cmp -s -- "$1" "$2" || return 1
  hw_meta=$(stat -c '%a %U %G' -- "$1" "$2")
  [ "\${hw_meta%$'\\n'*}" = "\${hw_meta#*$'\\n'}" ]
}
hw_save() {
  # hw_save PREFIX PATH: copy PATH to PREFIX.orig, or note PREFIX.absent
  if [ -e "$2" ] || [ -L "$2" ]; then
    cp -a -- "$2" "$1.orig" || hw_fail "could not back up $2 to $1.orig$(hw_disk_note "$1")"
  else
    : > "$1.absent"
  fi
  printf '%s' "$2" > "$1.path"
}
hw_keep_hand_edit() {
  # hw_keep_hand_edit RECORD PATH STAGED: PATH differs from what hostwright installed
  # last: someone edited it on the host. Keep their version before it is replaced.
  [ -f "$1.installed" ] && [ -f "$2" ] || return 0
  hw_live_sum=$(sha256sum < "$2")
  hw_read hw_installed_sum "$1.installed"
  [ "\${hw_live_sum%% *}" != "$hw_installed_sum" ] || return 0
  TZ=UTC printf -v hw_stamp '%(%Y%m%dT%H%M%SZ)T' -1
  hw_kept="${KEPT_ROOT}/$HW_KEY/\${2##*/}.$hw_stamp.$HW_RUN"
  mkdir -p -- "${KEPT_ROOT}/$HW_KEY"
  cp -a -- "$2" "$hw_kept" || hw_fail "could not keep the hand edit of $2 in $hw_kept$(hw_disk_note "$hw_kept"); nothing was replaced"
  hw_lines=$(diff -- "$2" "$3" | grep -c '^[<>]' || true)
  hw_log "kept the hand edit of $2 in $hw_kept ($hw_lines line(s) differ from the new content)"
  hw_warn "$2 had been edited on the host since hostwright installed it; the edit is kept in $hw_kept ($hw_lines line(s) differ)"
}
hw_changed() {
  # hw_changed PATH: true when this run's switch changed PATH (for restarting only what needs it)
  for hw_changed_rec in "$HW_TXN"/prev/*.path; do
    [ -e "$hw_changed_rec" ] || continue
    hw_read hw_changed_path "$hw_changed_rec"
    [ "$hw_changed_path" != "$1" ] || return 0
  done
  return 1
}
hw_switch_all() {
  # hw_switch_all HASH PATH ...: first every backup (the original once, the live file
  # for rollback), on disk; then the renames; files the step no longer declares are
  # restored. Rollback undoes exactly what the journal lists.
  HW_CHANGED=0
  hw_renames=
  hw_declared=
  while [ $# -gt 0 ]; do
    hw_rec="$HW_STATE/files/$1"
    hw_staged_as hw_new "$2"
    hw_declared="$hw_declared $1"
    if [ -e "$hw_new" ]; then
      if [ ! -e "$hw_rec.path" ]; then hw_save "$hw_rec" "$2"; printf '%s\\n' "$1" >> "$HW_TXN/new-records"; fi
      hw_sum=$(sha256sum < "$hw_new")
      printf '%s\\n' "\${hw_sum%% *}" > "$HW_TXN/installed/$1.installed"
      if hw_same "$2" "$hw_new"; then
        rm -f -- "$hw_new"
      else
        hw_keep_hand_edit "$hw_rec" "$2" "$hw_new"
        hw_save "$HW_TXN/prev/$1" "$2"
        hw_renames="$hw_renames $1"
      fi
    fi
    shift 2
  done
  hw_gone=
  for hw_rec_path in "$HW_STATE"/files/*.path; do
    [ -e "$hw_rec_path" ] || continue
    hw_h=\${hw_rec_path##*/}
    hw_h=\${hw_h%.path}
    case " $hw_declared " in *" $hw_h "*) continue ;; esac
    hw_read hw_p "$hw_rec_path"
    hw_save "$HW_TXN/prev/$hw_h" "$hw_p"
    hw_gone="$hw_gone $hw_h"
  done
  hw_journal switching
  # the filesystems to flush before the journal moves on: the state's and each switched file's
  set -- "$HW_STATE"
  for hw_h in $hw_renames; do
    hw_read hw_p "$HW_TXN/prev/$hw_h.path"
    hw_staged_as hw_new "$hw_p"
    mv -fT -- "$hw_new" "$hw_p"
    hw_dir_of hw_p_dir "$hw_p"
    set -- "$@" "$hw_p_dir"
    HW_CHANGED=$((HW_CHANGED + 1))
    hw_log "installed $hw_p"
  done
  for hw_h in $hw_gone; do
    hw_read hw_p "$HW_STATE/files/$hw_h.path"
    hw_put_back "$HW_STATE/files/$hw_h" "$hw_p"
    mv -- "$HW_STATE/files/$hw_h".* "$HW_TXN/records/"
    hw_dir_of hw_p_dir "$hw_p"
    set -- "$@" "$hw_p_dir"
    HW_CHANGED=$((HW_CHANGED + 1))
    hw_log "restored $hw_p"
  done
  [ -z "$hw_renames$hw_gone" ] || hw_sync "$@"
}
hw_txn_rollback() {
  # hw_txn_rollback MESSAGE: undoes the open transaction from its journal, whatever
  # state it reached; the same code runs in-process and from recover.sh
  trap - EXIT
  [ -d "$HW_TXN" ] || return 0
  hw_read hw_txn_state "$HW_TXN/state"
  hw_txn_state=\${hw_txn_state%% *}
  hw_txn_state=\${hw_txn_state:-staging}
  if [ "$hw_txn_state" = committed ]; then hw_txn_finish; hw_log "completed the commit of run $HW_RUN"; return 0; fi
  for hw_prev_path in "$HW_TXN"/prev/*.path; do
    [ -e "$hw_prev_path" ] || continue
    hw_read hw_p "$hw_prev_path"
    hw_put_back "\${hw_prev_path%.path}" "$hw_p"
    hw_log "rolled back $hw_p"
  done
  for hw_f in "$HW_TXN"/records/*; do
    [ ! -e "$hw_f" ] || mv -- "$HW_TXN"/records/* "$HW_STATE/files/"
    break
  done
  if [ -f "$HW_TXN/new-records" ]; then
    while IFS= read -r hw_h; do rm -f -- "$HW_STATE/files/$hw_h".*; done < "$HW_TXN/new-records"
  fi
  if [ -f "$HW_TXN/staged" ]; then
    while IFS= read -r hw_f; do rm -f -- "$hw_f"; done < "$HW_TXN/staged"
  fi
  case "$hw_txn_state" in
    switching|activating)
      hw_phase reactivate
      [ "$hw_rc" -eq 0 ] || hw_log "reactivating the previous configuration failed (exit $hw_rc)" ;;
  esac
  rm -rf -- "$HW_TXN"
  [ -f "$HW_STATE/generation" ] || hw_remove_created_dirs
  hw_log "$1"
}
hw_claim() {
  # One claim per Pulumi resource of this step, whatever its create's outcome: a
  # failed or interrupted create is kept by Pulumi too (with an init error) and is
  # deleted or retried later. An update is a resource that exists: it keeps its claim.
  hw_claims_migrate
  [ -d "$HW_STATE" ] || mkdir -p "$HW_STATE"
  hw_claims=
  if [ -f "$HW_STATE/claims" ]; then
    while IFS= read -r hw_line || [ -n "$hw_line" ]; do
      [ -n "$hw_line" ] || continue
      if [ "$HW_MODE" = update ] && [ "$hw_line" = "$HW_GEN" ]; then return 0; fi
      hw_claims="$hw_claims$hw_line"$'\\n'
    done < "$HW_STATE/claims"
  fi
  printf '%s%s\\n' "$hw_claims" "$HW_GEN" > "$HW_STATE/claims.new" \
    && mv -f -- "$HW_STATE/claims.new" "$HW_STATE/claims" \
    || hw_fail "could not write $HW_STATE/claims (disk full?)"
  # flushed with the switching journal (the same filesystem), before anything in service changes
}
hw_commit() {
  # the generation now in service, journalled as "committed" so that a run dying
  # here still completes it
  printf '%s\\n' "$HW_GEN" > "$HW_TXN/generation.new"
  hw_journal committed
  hw_fault_point committed
  hw_txn_finish
}
hw_txn_finish() {
  trap - EXIT HUP INT TERM PIPE
  [ ! -e "$HW_TXN/generation.new" ] || mv -f -- "$HW_TXN/generation.new" "$HW_STATE/generation"
  for hw_f in "$HW_TXN"/installed/*.installed; do
    [ ! -e "$hw_f" ] || mv -f -t "$HW_STATE/files" -- "$HW_TXN"/installed/*.installed
    break
  done
  rm -rf -- "$HW_TXN"
}
hw_start() {
  # hw_start DESCRIPTION: a create's beginning: the host lock, recovery of dead runs, its claim
  [ "$HW_MODE" != check ] || [ -n "\${HW_CHECK:-}" ] || hw_fail "check mode needs the check helpers: run checkScript(create) from core/step.ts with bash -s check, not the create script alone"
  hw_log "$1"
  hw_begin
  hw_claim
  hw_fault_point locked
}
hw_install() {
  # hw_install HASH PATH ...: after staging: validation, the switch, the activation
  # (rolled back when it fails), the commit
  hw_fault_point staged
  hw_phase validate
  [ "$hw_rc" -eq 0 ] || hw_fail "validation failed (exit $hw_rc); the files in service were not touched"
  hw_fault_point validated
  hw_switch_all "$@"
  hw_fault_point switched
  hw_journal activating
  hw_phase activate
  if [ "$hw_rc" -ne 0 ]; then
    hw_activation_rc=$hw_rc
    hw_activation_changed=$HW_CHANGED
    hw_txn_rollback "activation failed (exit $hw_activation_rc)"
    if [ "$hw_activation_changed" -gt 0 ]; then hw_fail "activation failed (exit $hw_activation_rc); the previous files were put back"; fi
    hw_fail "activation failed (exit $hw_activation_rc)"
  fi
  hw_fault_point activated
  hw_log "activated; committing"
  hw_commit
  hw_log "done ($HW_CHANGED file(s) changed)"
}`;

/** A step's fragments, as the library defines them for a step that has none (the script redefines the ones it has). */
const NO_FRAGMENTS = ["hw_helpers", "hw_validate", "hw_activate", "hw_reactivate", "hw_verify", "hw_undo", "hw_after_restore"].map((f) => `${f}() { :; }`).join("\n");

/**
 * The core library: every function of the transaction, for the create, the undo and
 * (with {@link CHECK_HELPERS}) check mode. Installed once per host as
 * `LIB_ROOT/core-HASH.sh` by the library step (core/library.ts); every script sources
 * the library of the hash it was rendered with. Comment lines are dropped (they are for
 * readers of this file).
 */
export const CORE_LIBRARY = `# hostwright core library (core/step.ts): sourced by every step script of this host\n${compact(`${COMMON_HELPERS}\n${NO_FRAGMENTS}${CREATE_HELPERS}${UNDO_HELPERS}`)}\n`;
/** The content hash that names the library file; a new core is a new file next to the old one. */
export const CORE_LIBRARY_HASH = shortHash(CORE_LIBRARY);

/**
 * Check mode: the create's own hw_main, with every helper that would change the
 * host replaced by one that compares (see {@link checkScript}). Reports
 * `HOSTWRIGHT_DRIFT` lines, `HOSTWRIGHT_LIVE PATH BASE64` (a drifted file's live
 * content, when it is world-readable and small, for the caller's diff) and one
 * `HOSTWRIGHT_CHECK STATUS`.
 */
const CHECK_HELPERS = compact(`
HW_CHECK=1
HW_DRIFT=0
hw_drift() { HW_DRIFT=1; printf 'HOSTWRIGHT_DRIFT %s\\n' "$*"; }
hw_fail() { printf 'HOSTWRIGHT_CHECK error %s\\n' "$*"; exit 1; }
hw_begin() {
  if [ -e ${RUN_DIR}/lock ] && ! flock -n ${RUN_DIR}/lock true 2>/dev/null; then
    printf 'HOSTWRIGHT_NOTE a hostwright run holds the host lock (%s): what it is changing may show as drift\\n' "$(cat ${RUN_DIR}/holder 2>/dev/null)"
  fi
  if [ -d "$HW_TXN" ]; then hw_drift "a run that died left its transaction open ($(cat "$HW_TXN/state" 2>/dev/null)); the next apply or repair rolls it back"; fi
  if [ ! -f "$HW_STATE/generation" ]; then printf 'HOSTWRIGHT_CHECK not-applied\\n'; exit 0; fi
  hw_read hw_applied "$HW_STATE/generation"
  [ "$hw_applied" = "$HW_GEN" ] || hw_drift "the host holds generation $hw_applied of this step, the stack declares $HW_GEN (an apply is pending)"
}
hw_fault_point() { :; }
hw_claim() { :; }
hw_txn_open() { :; }
hw_journal() { :; }
hw_txn_rollback() { :; }
hw_switch_all() { :; }
hw_stage() {
  # hw_stage HASH PATH MODE OWNER GROUP BYTES < declared content
  hw_want=$(head -c "$6" | sha256sum)
  if [ -L "$2" ] || { [ -e "$2" ] && [ ! -f "$2" ]; }; then hw_drift "$2: not a regular file"; return 0; fi
  if [ ! -e "$2" ]; then hw_drift "$2: missing"; return 0; fi
  hw_live=$(sha256sum < "$2")
  if [ "$hw_live" != "$hw_want" ]; then
    hw_drift "$2: content differs"
    # the live content for a diff, unless the file is private (keys) or large
    if [ $((8#$3 & 4)) -ne 0 ] && [ "$(stat -c %s -- "$2")" -le 262144 ]; then
      printf 'HOSTWRIGHT_LIVE %s %s\\n' "$(printf '%s' "$2" | base64 -w0)" "$(base64 -w0 < "$2")"
    fi
  fi
  hw_is=$(stat -c '%a %U %G' -- "$2")
  hw_want_meta="$(printf '%o' $((8#$3))) $4 $5"
  [ "$hw_is" = "$hw_want_meta" ] || hw_drift "$2: mode and owner are $hw_is, declared $hw_want_meta"
}
hw_edit_source() {
  hw_new=$(mktemp)
  if [ -f "$1" ]; then hw_src=$1; else hw_src=/dev/null; fi
}
hw_edit_staged() {
  # what the edit would change is what drifted: the managed settings
  if ! cmp -s -- "$hw_src" "$hw_new"; then
    hw_drift "$1: managed settings differ"
    diff -u -- "$hw_src" "$hw_new" | tail -n +3 | head -n 60 | sed 's/^/HOSTWRIGHT_DIFF /'
  fi
  rm -f -- "$hw_new"
}
hw_phase() {
  # the verify fragment runs in a subshell: its drift lines are seen here
  hw_rc=0
  [ "$1" = activate ] || return 0
  case " $HW_FRAGMENTS " in *" verify "*) ;; *) return 0 ;; esac
  HW_PHASE=verify
  set +e
  hw_verify_out=$( ( set -e; hw_verify ) 9>&- </dev/null 2>&1 )
  hw_rc=$?
  set -e
  HW_PHASE=
  [ -z "$hw_verify_out" ] || printf '%s\\n' "$hw_verify_out"
  case "$hw_verify_out" in *HOSTWRIGHT_DRIFT*) HW_DRIFT=1 ;; esac
  [ "$hw_rc" -eq 0 ] || hw_fail "the step's verification failed (exit $hw_rc)"
}
hw_commit() {
  if [ "$HW_DRIFT" = 0 ]; then printf 'HOSTWRIGHT_CHECK ok\\n'; else printf 'HOSTWRIGHT_CHECK drifted\\n'; fi
  exit 0
}
`);

/**
 * A create script in check mode (run it with `bash -s check`): the check helpers go
 * in just before `hw_main` runs, so the check runs the create's own code and the
 * create scripts do not carry them.
 */
export function checkScript(create: string): string {
    // The library step's script compares the host's library itself.
    if (create.startsWith(`#!/bin/bash\n${LIBRARY_STEP_MARKER}`)) return create;
    const run = create.lastIndexOf("\nhw_main </dev/null\n");
    if (run < 0) throw new Error("not a hostwright create script (no hw_main call)");
    // A check changes nothing, so it cannot install the library: it carries the one its
    // script names (a script from another build still sources the host's copy).
    const withLibrary = create.replace(libraryLoader(CORE_LIBRARY_HASH), () => CORE_LIBRARY);
    const at = run + withLibrary.length - create.length;
    return `${withLibrary.slice(0, at)}\n${CHECK_HELPERS}${withLibrary.slice(at)}`;
}

/** Values a step printed with `hw_output` and warnings from `hw_warn`. */
export interface StepReport {
    values: Record<string, string>;
    warnings: string[];
}

/** Parses the `HOSTWRIGHT_OUTPUT` / `HOSTWRIGHT_WARNING` lines of a step's stdout. */
export function parseStepReport(stdout: string | undefined): StepReport {
    const report: StepReport = { values: {}, warnings: [] };
    for (const line of (stdout ?? "").split("\n")) {
        const out = /^HOSTWRIGHT_OUTPUT ([A-Za-z0-9_.-]+)=(.*)$/.exec(line);
        if (out) report.values[out[1]] = out[2];
        const warn = /^HOSTWRIGHT_WARNING (.*)$/.exec(line);
        if (warn) report.warnings.push(warn[1]);
    }
    return report;
}

/** For callers that interpolate literal helper calls: marks a shell fragment as trusted. */
export { raw };

/** A file as a rendered create script will install it (read back from the script itself). */
export interface StagedFile {
    path: string;
    mode: string;
    owner: string;
    group: string;
    content: string;
}

/**
 * Reads back the files a create script installs, from its `hw_stage` here-documents.
 * The offline preview uses it so that it shows exactly what the host would receive.
 */
export function stagedFilesOf(script: string): StagedFile[] {
    const files: StagedFile[] = [];
    const word = String.raw`('(?:[^']|'\\'')*'|[A-Za-z0-9_@%+=:,./-]+)`;
    const stageLine = new RegExp(String.raw`^hw_stage [0-9a-f]{16} ${word} ${word} ${word} ${word} (\d+) <<'(HOSTWRIGHT_EOF_[0-9a-f]+_*)'$`, "gm");
    const bytes = Buffer.from(script, "utf8");
    for (const m of script.matchAll(stageLine)) {
        const start = Buffer.byteLength(script.slice(0, m.index! + m[0].length + 1), "utf8");
        files.push({
            path: unquote(m[1]),
            mode: unquote(m[2]),
            owner: unquote(m[3]),
            group: unquote(m[4]),
            content: bytes.subarray(start, start + Number(m[5])).toString("utf8"),
        });
    }
    return files;
}

/** The paths a create script edits in place on the host (their content is computed there). */
export function editedPathsOf(script: string): string[] {
    return [...script.matchAll(/^hw_edit_source ('(?:[^']|'\\'')*'|[A-Za-z0-9_@%+=:,./-]+)$/gm)].map((m) => unquote(m[1]));
}

/** Inverse of `shq` for the words it produces. */
function unquote(word: string): string {
    return word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word;
}
