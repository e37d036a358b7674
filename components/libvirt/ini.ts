/**
 * A line editor for the three config formats live migration touches:
 * INI with sections (`nova.conf`), `key = value` without sections (`libvirtd.conf`,
 * read as the top section ""), and shell variables (`/etc/default/libvirtd`).
 *
 * The edit runs ON THE HOST, at apply time, because it must start from the file
 * the host has then (nova.conf is also written by the deployment tool and holds
 * its passwords: reading it back into Pulumi state would leak them). The host has
 * no Node, so the editor that runs there is the POSIX awk program below
 * ({@link INI_EDITOR_AWK}); {@link editIni} is the same algorithm in TypeScript:
 * the specification that the tests hold the awk program to, byte for byte, and
 * the reader the lab tests use.
 *
 * Rules (both implementations):
 * - A line is a section header `[name]`, a key line `key = value` / `key: value`
 *   (or `VAR=value`), a continuation (indented, right after a key line), a comment
 *   (`#`, `;`), blank, or other; everything but the edited keys is kept verbatim.
 * - `set` keeps the first occurrence when its value (trimmed) is already right,
 *   otherwise rewrites it as `key = value`; later duplicates in the section go.
 *   A missing key goes after the last key of the section's first occurrence (or
 *   after its last non-blank line); a missing section is appended at the end.
 * - `unset` removes every occurrence (with continuations).
 * - `addWord` / `removeWord` edit a word list in a shell assignment of any of the
 *   given variables; an unparseable value (`$`, backslash, backtick, unclosed
 *   quote, trailing code) is refused rather than guessed. `addWord` with no
 *   assignment appends `FIRSTVAR="word"`.
 * - When nothing changes the output is the input, byte for byte.
 * - A file without a final newline keeps it missing: its last line stays as it was
 *   (a key appended after it gives it a newline, and the new last line has none).
 */
import { sh } from "../../core/shell";
import { awkEditFilter } from "../../core/step";

export type IniEdit =
    | { op: "set"; section: string; key: string; value: string }
    | { op: "unset"; section: string; key: string }
    | { op: "addWord" | "removeWord"; variables: string[]; word: string };

/** Raised by {@link editIni} for a value it will not guess about (exit 2 in awk). */
export class IniEditRefused extends Error {}

const SECTION = /^[A-Za-z0-9_.-]*$/;
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const WORD = /^[^\s"'\\$`#;|&<>()]+$/;

/** Problems with edits themselves (names and values the editor cannot carry). Empty when fine. */
export function iniEditProblems(edits: IniEdit[]): string[] {
    const problems: string[] = [];
    for (const e of edits) {
        if (e.op === "set" || e.op === "unset") {
            if (!SECTION.test(e.section)) problems.push(`section ${JSON.stringify(e.section)} must be letters, digits, '_', '.', '-'`);
            if (!KEY.test(e.key)) problems.push(`key ${JSON.stringify(e.key)} must be letters, digits, '_', '.', '-' (not starting with a digit)`);
            if (e.op === "set" && (/[\r\n\0]/.test(e.value) || e.value !== e.value.trim())) {
                problems.push(`value of ${e.key} must be one line without surrounding whitespace`);
            }
        } else {
            if (e.variables.length === 0 || !e.variables.every((v) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(v))) problems.push(`variables ${JSON.stringify(e.variables)} must be shell variable names`);
            if (!WORD.test(e.word)) problems.push(`word ${JSON.stringify(e.word)} must be one shell word without quotes or special characters`);
        }
    }
    return problems;
}

type LineType = "header" | "key" | "continuation" | "comment" | "blank" | "other";
interface Line {
    type: LineType;
    section: string;
    key: string;
}

function trim(s: string): string {
    return s.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
}

function classify(lines: string[]): Line[] {
    let section = "";
    let afterKey = false;
    return lines.map((text) => {
        const t = trim(text);
        let line: Line;
        if (t === "") line = { type: "blank", section, key: "" };
        else if (/^[#;]/.test(t)) line = { type: "comment", section, key: "" };
        else if (/^[ \t]/.test(text) && afterKey) line = { type: "continuation", section, key: "" };
        else if (t.startsWith("[") && t.endsWith("]")) {
            section = trim(t.slice(1, -1));
            line = { type: "header", section, key: "" };
        } else {
            const at = text.search(/[=:]/);
            const key = at < 0 ? "" : trim(text.slice(0, at)).replace(/^export[ \t]+/, "");
            line = key !== "" && !key.startsWith("[") ? { type: "key", section, key } : { type: "other", section, key: "" };
        }
        afterKey = line.type === "key" || line.type === "continuation";
        return line;
    });
}

function valueOf(text: string): string {
    return trim(text.slice(text.search(/[=:]/) + 1));
}

/** Index after which a new key of `section` goes, or -1 when the section does not exist. */
function insertionPoint(lines: string[], section: string): number {
    const types = classify(lines);
    let start = -1;
    if (section === "") start = 0;
    else {
        const header = types.findIndex((l) => l.type === "header" && l.section === section);
        if (header < 0) return -1;
        start = header + 1;
    }
    let end = types.findIndex((l, i) => i >= start && l.type === "header");
    if (end < 0) end = lines.length;
    let lastKey = -1;
    let lastNonBlank = section === "" ? 0 : start;
    for (let i = start; i < end; i++) {
        if (types[i].type === "key" || types[i].type === "continuation") lastKey = i + 1;
        if (types[i].type !== "blank") lastNonBlank = i + 1;
    }
    return lastKey >= 0 ? lastKey : lastNonBlank;
}

function insert(lines: string[], section: string, text: string): string[] {
    const at = insertionPoint(lines, section);
    if (at >= 0) return [...lines.slice(0, at), text, ...lines.slice(at)];
    const out = [...lines];
    if (out.length > 0 && trim(out[out.length - 1]) !== "") out.push("");
    out.push(`[${section}]`, text);
    return out;
}

function setOrUnset(lines: string[], e: Extract<IniEdit, { op: "set" | "unset" }>): string[] {
    const types = classify(lines);
    const out: string[] = [];
    let found = false;
    let dropping = false;
    lines.forEach((text, i) => {
        const t = types[i];
        if (t.type === "continuation") {
            if (!dropping) out.push(text);
            return;
        }
        dropping = false;
        if (t.type === "key" && t.section === e.section && t.key === e.key) {
            dropping = true;
            if (e.op === "unset" || found) return;
            found = true;
            const hasContinuation = types[i + 1]?.type === "continuation";
            if (valueOf(text) === e.value && !hasContinuation) {
                dropping = false;
                out.push(text);
            } else out.push(`${e.key} = ${e.value}`);
            return;
        }
        out.push(text);
    });
    return e.op === "set" && !found ? insert(out, e.section, `${e.key} = ${e.value}`) : out;
}

/** Splits a shell assignment's value into quote, words and trailing text; refuses what it cannot read safely. */
function shellValue(rest: string, variable: string): { quote: string; words: string[]; tail: string } {
    let quote = '"';
    let inner: string;
    let tail: string;
    if (rest.startsWith('"') || rest.startsWith("'")) {
        quote = rest[0];
        const closing = rest.indexOf(quote, 1);
        if (closing < 0) throw new IniEditRefused(`${variable}: unclosed quote`);
        inner = rest.slice(1, closing);
        tail = rest.slice(closing + 1);
        if (quote === '"' && /[\\$`]/.test(inner)) throw new IniEditRefused(`${variable}: the value uses shell expansion; edit it by hand`);
    } else {
        const m = /^[^ \t"'\\$`;#|&<>()]*/.exec(rest)!;
        inner = m[0];
        tail = rest.slice(inner.length);
    }
    if (!/^([ \t]+#.*)?[ \t]*$/.test(tail)) throw new IniEditRefused(`${variable}: unexpected text after the value; edit it by hand`);
    return { quote, words: inner.split(/[ \t]+/).filter((w) => w !== ""), tail };
}

function editWord(lines: string[], e: Extract<IniEdit, { op: "addWord" | "removeWord" }>): string[] {
    const types = classify(lines);
    let found = false;
    const out = lines.map((text, i) => {
        const t = types[i];
        if (t.type !== "key" || t.section !== "" || !e.variables.includes(t.key)) return text;
        found = true;
        const eq = text.indexOf("=");
        if (eq < 0) throw new IniEditRefused(`${t.key}: not an assignment`);
        const { quote, words, tail } = shellValue(text.slice(eq + 1), t.key);
        const has = words.includes(e.word);
        if (e.op === "addWord" ? has : !has) return text;
        const next = e.op === "addWord" ? [...words, e.word] : words.filter((w) => w !== e.word);
        return `${text.slice(0, eq + 1)}${quote}${next.join(" ")}${quote}${tail}`;
    });
    return e.op === "addWord" && !found ? insert(out, "", `${e.variables[0]}="${e.word}"`) : out;
}

/**
 * Applies the edits in order; returns `text` itself when nothing changes.
 * @throws IniEditRefused for a shell value it will not guess about
 */
export function editIni(text: string, edits: IniEdit[]): string {
    const problems = iniEditProblems(edits);
    if (problems.length > 0) throw new Error(`invalid INI edits: ${problems.join("; ")}`);
    const original = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    let lines = original;
    for (const e of edits) lines = e.op === "set" || e.op === "unset" ? setOrUnset(lines, e) : editWord(lines, e);
    const same = lines.length === original.length && lines.every((l, i) => l === original[i]);
    if (same) return text;
    const noFinalNewline = text !== "" && !text.endsWith("\n");
    return lines.map((l, i) => (noFinalNewline && i === lines.length - 1 ? l : `${l}\n`)).join("");
}

/** Reads an INI / `key = value` file: section ("" before any header) -> key -> last value (trimmed; continuations joined by "\n"). */
export function parseIni(text: string): Record<string, Record<string, string>> {
    const lines = text.replace(/\n$/, "").split("\n");
    const result: Record<string, Record<string, string>> = { "": {} };
    let last: { section: string; key: string } | undefined;
    classify(lines).forEach((t, i) => {
        if (t.type === "header") result[t.section] ??= {};
        if (t.type === "key") {
            result[t.section] ??= {};
            result[t.section][t.key] = valueOf(lines[i]);
            last = t;
        }
        if (t.type === "continuation" && last) result[last.section][last.key] += `\n${trim(lines[i])}`;
    });
    return result;
}

/** The edits as the awk program reads them: four lines per edit (op, section or variables, key, value). */
export function encodeEdits(edits: IniEdit[]): string {
    const problems = iniEditProblems(edits);
    if (problems.length > 0) throw new Error(`invalid INI edits: ${problems.join("; ")}`);
    return edits
        .map((e) => (e.op === "set" || e.op === "unset" ? [e.op, e.section, e.key, e.op === "set" ? e.value : ""] : [e.op, e.variables.join(" "), "", e.word]).join("\n"))
        .join("\n");
}

/**
 * The host-side editor: POSIX awk (mawk, gawk, busybox). Reads the file named by
 * its argument and the edits from $HW_INI_EDITS; prints the new file and exits 0,
 * prints nothing and exits 10 when nothing changes, exits 2 when it refuses.
 */
export const INI_EDITOR_AWK = String.raw`
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function classify(   i, sec, afterKey, t, k) {
  sec = ""; afterKey = 0
  for (i = 1; i <= n; i++) {
    t = trim(L[i]); S[i] = sec; K[i] = ""
    if (t == "") T[i] = "b"
    else if (t ~ /^[#;]/) T[i] = "c"
    else if (L[i] ~ /^[ \t]/ && afterKey) T[i] = "t"
    else if (substr(t, 1, 1) == "[" && substr(t, length(t), 1) == "]") { sec = trim(substr(t, 2, length(t) - 2)); S[i] = sec; T[i] = "h" }
    else if (match(L[i], /[=:]/)) {
      k = trim(substr(L[i], 1, RSTART - 1)); sub(/^export[ \t]+/, "", k)
      if (k != "" && substr(k, 1, 1) != "[") { T[i] = "k"; K[i] = k } else T[i] = "o"
    } else T[i] = "o"
    afterKey = (T[i] == "k" || T[i] == "t")
  }
}
function valueOf(s) { match(s, /[=:]/); return trim(substr(s, RSTART + 1)) }
function insertionPoint(sec,   i, start, end, lastKey, lastNonBlank) {
  classify()
  if (sec == "") start = 1
  else {
    start = 0
    for (i = 1; i <= n; i++) if (T[i] == "h" && S[i] == sec) { start = i + 1; break }
    if (!start) return -1
  }
  end = n + 1
  for (i = start; i <= n; i++) if (T[i] == "h") { end = i; break }
  lastKey = -1; lastNonBlank = (sec == "") ? 0 : start - 1
  for (i = start; i < end; i++) {
    if (T[i] == "k" || T[i] == "t") lastKey = i
    if (T[i] != "b") lastNonBlank = i
  }
  return lastKey >= 0 ? lastKey : lastNonBlank
}
function insert(sec, text,   at, i) {
  at = insertionPoint(sec)
  if (at >= 0) {
    for (i = n; i > at; i--) L[i + 1] = L[i]
    L[at + 1] = text; n++
    return
  }
  if (n > 0 && trim(L[n]) != "") L[++n] = ""
  L[++n] = "[" sec "]"; L[++n] = text
}
function setOrUnset(op, sec, key, val,   i, m, found, dropping) {
  classify(); m = 0; found = 0; dropping = 0
  for (i = 1; i <= n; i++) {
    if (T[i] == "t") { if (!dropping) N[++m] = L[i]; continue }
    dropping = 0
    if (T[i] == "k" && S[i] == sec && K[i] == key) {
      dropping = 1
      if (op == "unset" || found) continue
      found = 1
      if (valueOf(L[i]) == val && !(i < n && T[i + 1] == "t")) { dropping = 0; N[++m] = L[i] }
      else N[++m] = key " = " val
      continue
    }
    N[++m] = L[i]
  }
  for (i = 1; i <= m; i++) L[i] = N[i]
  n = m
  if (op == "set" && !found) insert(sec, key " = " val)
}
function refuse(msg) { print "hostwright ini editor: " msg > "/dev/stderr"; refused = 1; exit 2 }
function editWord(op, vars, word,   i, j, nv, V, isVar, found, eq, rest, q, cq, inner, tail, nw, W, has, out) {
  classify(); found = 0
  nv = split(vars, V, " ")
  for (i = 1; i <= n; i++) {
    if (T[i] != "k" || S[i] != "") continue
    isVar = 0
    for (j = 1; j <= nv; j++) if (K[i] == V[j]) isVar = 1
    if (!isVar) continue
    found = 1
    eq = index(L[i], "=")
    if (!eq) refuse(K[i] ": not an assignment")
    rest = substr(L[i], eq + 1); q = "\""
    if (substr(rest, 1, 1) == "\"" || substr(rest, 1, 1) == "\047") {
      q = substr(rest, 1, 1)
      cq = index(substr(rest, 2), q)
      if (!cq) refuse(K[i] ": unclosed quote")
      inner = substr(rest, 2, cq - 1); tail = substr(rest, cq + 2)
      if (q == "\"" && inner ~ /[\\$` + "`" + String.raw`]/) refuse(K[i] ": the value uses shell expansion; edit it by hand")
    } else {
      match(rest, /^[^ \t"\047\\$` + "`" + String.raw`;#|&<>()]*/)
      inner = substr(rest, 1, RLENGTH); tail = substr(rest, RLENGTH + 1)
    }
    if (tail !~ /^([ \t]+#.*)?[ \t]*$/) refuse(K[i] ": unexpected text after the value; edit it by hand")
    nw = split(inner, W, " ")
    has = 0
    for (j = 1; j <= nw; j++) if (W[j] == word) has = 1
    if (op == "addWord" ? has : !has) continue
    out = ""
    for (j = 1; j <= nw; j++) if (op == "addWord" || W[j] != word) out = out (out == "" ? "" : " ") W[j]
    if (op == "addWord") out = out (out == "" ? "" : " ") word
    L[i] = substr(L[i], 1, eq) q out q tail
  }
  if (op == "addWord" && !found) { split(vars, V, " "); insert("", V[1] "=\"" word "\"") }
}
{ L[++n] = $0; O[n] = $0 }
END {
  if (refused) exit 2
  orig = n
  ne = split(ENVIRON["HW_INI_EDITS"], E, "\n")
  for (e = 1; e + 3 <= ne; e += 4) {
    if (E[e] == "set" || E[e] == "unset") setOrUnset(E[e], E[e + 1], E[e + 2], E[e + 3])
    else editWord(E[e], E[e + 1], E[e + 3])
    if (refused) exit 2
  }
  same = (n == orig)
  for (i = 1; same && i <= n; i++) if (L[i] != O[i]) same = 0
  if (same) exit 10
  for (i = 1; i < n; i++) print L[i]
  if (n > 0) { if (ENVIRON["HW_INI_NO_EOL"] == "1") printf "%s", L[n]; else print L[n] }
}
`;

/**
 * Shell function `hw_ini_edit EDITS`: a filter (stdin -> stdout) for
 * `StepSpec.edits`. Unchanged input comes out byte for byte (the original is
 * replayed, so a missing final newline or CRLF endings survive a no-op); an edited
 * file without a final newline stays without one (awk cannot see it: the function
 * tells it through HW_INI_NO_EOL).
 */
export function iniEditorFunction(): string {
    return `${awkEditFilter("hw_ini_awk", INI_EDITOR_AWK, "HW_INI_EDITS")}
hw_ini_edit() {
  hw_ini_in=$(mktemp) || return 1
  cat > "$hw_ini_in"
  if [ -s "$hw_ini_in" ] && [ -n "$(tail -c 1 "$hw_ini_in")" ]; then HW_INI_NO_EOL=1; else HW_INI_NO_EOL=0; fi
  export HW_INI_NO_EOL
  hw_ini_rc=0
  hw_ini_awk "$1" < "$hw_ini_in" || hw_ini_rc=$?
  rm -f -- "$hw_ini_in"
  return "$hw_ini_rc"
}`;
}

/** The filter command for one file's edits (use with {@link iniEditorFunction} defined first). */
export function iniEditFilter(edits: IniEdit[]): string {
    return sh`hw_ini_edit ${encodeEdits(edits)}`;
}
