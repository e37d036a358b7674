/**
 * The pure half of the remote-step core: turns "on a host, install these files
 * and run these scripts; to undo, run that" into two self-contained bash scripts.
 *
 * On the host every step keeps its own state directory:
 *   /var/lib/hostwright/steps/<key>/generation       the generation that owns the files now
 *   /var/lib/hostwright/steps/<key>/files/<h>.path   an installed path ...
 *   /var/lib/hostwright/steps/<key>/files/<h>.orig   ... its original, backed up once
 *   /var/lib/hostwright/steps/<key>/files/<h>.absent ... or a note that it did not exist
 *
 * Replace semantics: Pulumi creates a replacement before deleting the old
 * resource (unless deleteBeforeReplace). Both share the step key, so the new
 * create finds the original backups and keeps them, and writes its own
 * generation; the old delete then sees a generation that is not its own and
 * leaves everything in place.
 */
import { contentHash, shortHash } from "./hash";
import { heredocInto, raw, sh, shq } from "./shell";

export const STATE_ROOT = "/var/lib/hostwright/steps";

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
        if (!/^\/[^\0]*[^/]$/.test(f.path) || f.path.split("/").includes("..")) problems.push(`file path ${JSON.stringify(f.path)} must be absolute, without '..', not a directory`);
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
        spec.preflight ?? "",
        spec.validate ?? "",
        spec.activate ?? "",
        spec.reactivate ?? "",
        spec.undo ?? "",
        spec.afterRestore ?? "",
    ).slice(0, 32);
    

    const stage = files
        .map((f) => heredocInto(sh`hw_stage ${shortHash(f.path)} ${f.path} ${f.mode ?? "0644"} ${f.owner ?? "root"} ${f.group ?? "root"}`, f.content, shortHash(f.path + f.content)))
        .join("\n");
    const stageEdits = edits
        .map((e) => `${sh`hw_edit_source ${e.path}`}\n( ${e.filter}\n) < "$hw_src" > "$hw_new" || ${sh`hw_fail ${`editing ${e.path} failed; the files in service were not touched`}`}\n${sh`hw_edit_staged ${e.path} ${e.mode ?? "0644"} ${e.owner ?? "root"} ${e.group ?? "root"}`}`)
        .join("\n");
    const switches = [...files, ...edits].map((f) => sh`hw_switch ${shortHash(f.path)} ${f.path}`).join("\n");
    const declared = [...files, ...edits].map((f) => shortHash(f.path));

    const create = `${preamble(spec.key, generation, spec.description, "create")}
hw_validate() {
:
${spec.validate ?? ""}
}
hw_activate() {
:
${spec.activate ?? ""}
}
hw_reactivate() {
:
${spec.reactivate ?? ""}
}
hw_main() {
hw_log ${shq(spec.description)}
${spec.preflight ?? ""}
mkdir -p "$HW_STATE/files"
rm -rf "$HW_STATE/prev"
mkdir -p "$HW_STATE/prev"
trap hw_abort_staging EXIT
${stage}
${stageEdits}
set +e
( set -e; hw_validate )
hw_rc=$?
set -e
[ "$hw_rc" -eq 0 ] || hw_fail "validation failed (exit $hw_rc); the files in service were not touched"
HW_CHANGED=0
${switches}
hw_reconcile ${declared.join(" ")}
trap - EXIT
set +e
( set -e; hw_activate )
hw_rc=$?
set -e
if [ "$hw_rc" -ne 0 ]; then
  hw_rollback
  set +e
  ( set -e; hw_reactivate )
  set -e
  if [ "$HW_CHANGED" -gt 0 ]; then hw_fail "activation failed (exit $hw_rc); the previous files were put back"; fi
  hw_fail "activation failed (exit $hw_rc)"
fi
rm -rf "$HW_STATE/prev"
printf '%s\\n' "$HW_GEN" > "$HW_STATE/generation"
hw_log "done ($HW_CHANGED file(s) changed)"
}
hw_main </dev/null
exit 0
`;

    const del = `${preamble(spec.key, generation, spec.description, "undo")}
hw_main() {
hw_log ${shq(`undo: ${spec.description}`)}
if [ -f "$HW_STATE/generation" ] && [ "$(cat "$HW_STATE/generation")" != "$HW_GEN" ]; then
  hw_log "superseded by generation $(cat "$HW_STATE/generation"); leaving its files in place"
  exit 0
fi
:
${spec.undo ?? ""}
HW_CHANGED=0
hw_reconcile
${spec.afterRestore ?? ""}
hw_forget_state
hw_log "undone ($HW_CHANGED file(s) restored)"
}
hw_main </dev/null
exit 0
`;
    return { generation, create, delete: del };
}

/** Helpers shared by both scripts. Kept as one literal so the scripts stay self-contained. */
function preamble(key: string, generation: string, description: string, helpers: "create" | "undo"): string {
    // The undo script carries only the helpers it needs: scripts are stored per
    // resource in state, so their size counts (bench/README.md).
    return `#!/bin/bash
# hostwright step ${key}: ${description.replace(/[\r\n]/g, " ")}
set -eu
umask 022
export LC_ALL=C
HW_KEY=${shq(key)}
HW_GEN=${shq(generation)}
HW_STATE=${shq(`${STATE_ROOT}/${key}`)}
HW_RUN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \\n')
hw_log() { printf 'hostwright[%s]: %s\\n' "$HW_KEY" "$*"; }
hw_warn() { printf 'HOSTWRIGHT_WARNING %s\\n' "$*"; }
hw_output() { printf 'HOSTWRIGHT_OUTPUT %s=%s\\n' "$1" "$(printf '%s' "$2" | tr '\\n' ' ')"; }
hw_fail() { printf 'hostwright[%s]: ERROR: %s\\n' "$HW_KEY" "$*" >&2; exit 1; }
hw_forget_state() {
  # directories the step created (deepest first, only when empty), the step's state,
  # and the state root when no other step has any
  if [ -f "$HW_STATE/dirs" ]; then
    sort -r -u -- "$HW_STATE/dirs" | while IFS= read -r hw_dir; do rmdir -- "$hw_dir" 2>/dev/null || true; done
  fi
  rm -rf -- "$HW_STATE"
  rmdir -- ${shq(STATE_ROOT)} ${shq(STATE_ROOT.slice(0, STATE_ROOT.lastIndexOf("/")))} 2>/dev/null || true
}
hw_changed() {
  # hw_changed PATH: true when this run's switch changed PATH (for restarting only what needs it)
  [ -e "$HW_STATE/prev/$(printf '%s' "$1" | sha256sum | cut -c1-16).path" ]
}
hw_put_back() {
  # hw_put_back SAVED-PREFIX PATH: restore PATH from SAVED.orig, or remove it if SAVED.absent
  if [ -e "$1.orig" ] || [ -L "$1.orig" ]; then
    rm -rf -- "$2.hostwright-restore"
    cp -a -- "$1.orig" "$2.hostwright-restore"
    mv -fT -- "$2.hostwright-restore" "$2"
  elif [ -e "$1.absent" ]; then
    rm -f -- "$2"
  fi
}
hw_save() {
  # hw_save PREFIX PATH: copy PATH to PREFIX.orig, or note PREFIX.absent
  if [ -e "$2" ] || [ -L "$2" ]; then cp -a -- "$2" "$1.orig"; else : > "$1.absent"; fi
}
hw_reconcile() {
  # restore every recorded file whose hash is not among the arguments
  for hw_rec_path in "$HW_STATE"/files/*.path; do
    [ -e "$hw_rec_path" ] || continue
    hw_h=$(basename -- "$hw_rec_path" .path)
    case " $* " in *" $hw_h "*) continue ;; esac
    hw_p=$(cat -- "$hw_rec_path")
    if [ -d "$HW_STATE/prev" ]; then
      # during create: keep what is needed to roll this back
      hw_save "$HW_STATE/prev/$hw_h" "$hw_p"
      printf '%s' "$hw_p" > "$HW_STATE/prev/$hw_h.path"
      hw_put_back "$HW_STATE/files/$hw_h" "$hw_p"
      mkdir -p "$HW_STATE/prev/records"
      mv -- "$HW_STATE/files/$hw_h".* "$HW_STATE/prev/records/"
    else
      hw_put_back "$HW_STATE/files/$hw_h" "$hw_p"
      rm -rf -- "$HW_STATE/files/$hw_h".*
    fi
    HW_CHANGED=$((HW_CHANGED + 1))
    hw_log "restored $hw_p"
  done
}${helpers === "create" ? CREATE_HELPERS : ""}`;
}

/** Helpers only the create script uses: staging, switching, rollback. */
const CREATE_HELPERS = `
hw_staged() { printf '%s/.%s.hostwright-%s' "$(dirname -- "$1")" "$(basename -- "$1")" "$HW_RUN"; }
hw_put_staged() {
  # hw_put_staged DEST BYTES < text: writes text naming staged paths (stagedPath()) with this run's id
  head -c "$2" | sed "s/${RUN_TOKEN}/$HW_RUN/g" > "$1"
}
hw_abort_staging() {
  for f in $HW_STAGED_LIST; do rm -f -- "$f"; done
  [ -f "$HW_STATE/generation" ] || hw_forget_state
}
hw_mkdir() {
  # hw_mkdir DIR: mkdir -p, noting each directory it creates so that undo removes it
  # again (when empty); a path with a newline is created but not noted
  hw_dir=$1
  while [ ! -d "$hw_dir" ]; do
    case "$hw_dir" in *"
"*) ;; *) printf '%s\n' "$hw_dir" >> "$HW_STATE/dirs" ;; esac
    hw_dir=$(dirname -- "$hw_dir")
  done
  mkdir -p -- "$1"
}
HW_STAGED_LIST=""
hw_stage() {
  # hw_stage HASH PATH MODE OWNER GROUP BYTES < content
  id -u "$4" >/dev/null 2>&1 || hw_fail "user $4 (owner of $2) does not exist"
  getent group "$5" >/dev/null 2>&1 || hw_fail "group $5 (of $2) does not exist"
  hw_mkdir "$(dirname -- "$2")"
  hw_new=$(hw_staged "$2")
  HW_STAGED_LIST="$HW_STAGED_LIST $hw_new"
  rm -f -- "$hw_new"
  ( umask 077; head -c "$6" > "$hw_new" )
  chown "$4:$5" -- "$hw_new"
  chmod "$3" -- "$hw_new"
}
hw_edit_source() {
  # hw_edit_source PATH: the edit filter reads $hw_src and writes $hw_new
  hw_mkdir "$(dirname -- "$1")"
  hw_new=$(hw_staged "$1")
  HW_STAGED_LIST="$HW_STAGED_LIST $hw_new"
  rm -f -- "$hw_new"
  ( umask 077; : > "$hw_new" )
  if [ -f "$1" ]; then hw_src=$1; else hw_src=/dev/null; fi
}
hw_edit_staged() {
  # hw_edit_staged PATH MODE OWNER GROUP: an existing file keeps its mode and owner;
  # nothing staged (so nothing switched) when the file is absent and the edit is empty
  hw_new=$(hw_staged "$1")
  if [ -f "$1" ]; then
    chown "$(stat -c '%u:%g' -- "$1")" -- "$hw_new"
    chmod "$(stat -c '%a' -- "$1")" -- "$hw_new"
  elif [ -s "$hw_new" ]; then
    id -u "$3" >/dev/null 2>&1 || hw_fail "user $3 (owner of $1) does not exist"
    getent group "$4" >/dev/null 2>&1 || hw_fail "group $4 (of $1) does not exist"
    chown "$3:$4" -- "$hw_new"
    chmod "$2" -- "$hw_new"
  else
    rm -f -- "$hw_new"
  fi
}
hw_same() {
  # the live file equals the staged one in content, mode and ownership
  [ -f "$1" ] && [ ! -L "$1" ] && cmp -s -- "$1" "$2" \\
    && [ "$(stat -c '%a %U %G' -- "$1")" = "$(stat -c '%a %U %G' -- "$2")" ]
}
hw_switch() {
  # hw_switch HASH PATH: back up the original once, keep the current for rollback, rename
  hw_rec="$HW_STATE/files/$1"
  hw_new=$(hw_staged "$2")
  [ -e "$hw_new" ] || return 0
  if [ ! -e "$hw_rec.path" ]; then
    hw_save "$hw_rec" "$2"
    printf '%s' "$2" > "$hw_rec.path"
  fi
  if hw_same "$2" "$hw_new"; then
    rm -f -- "$hw_new"
    return 0
  fi
  hw_save "$HW_STATE/prev/$1" "$2"
  printf '%s' "$2" > "$HW_STATE/prev/$1.path"
  mv -fT -- "$hw_new" "$2"
  HW_CHANGED=$((HW_CHANGED + 1))
  hw_log "installed $2"
}
hw_rollback() {
  for hw_prev_path in "$HW_STATE"/prev/*.path; do
    [ -e "$hw_prev_path" ] || continue
    hw_h=$(basename -- "$hw_prev_path" .path)
    hw_put_back "$HW_STATE/prev/$hw_h" "$(cat -- "$hw_prev_path")"
    hw_log "rolled back $(cat -- "$hw_prev_path")"
  done
  if [ -d "$HW_STATE/prev/records" ]; then mv -- "$HW_STATE/prev/records"/* "$HW_STATE/files/" 2>/dev/null || true; fi
  [ -f "$HW_STATE/generation" ] || hw_forget_state
}`;


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
