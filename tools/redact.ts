/**
 * Finds a secret in preview text whatever encoding a component wrote it in: as is,
 * backslash-escaped (GKeyFile `\s`/`\t`/`\\`, C, JSON), `\uXXXX`/`\xHH`/octal,
 * percent-encoded, inside a single-quoted shell word (`'\''`), with CRLF or
 * indented line breaks, or as base64/hex of the whole value. Each special
 * character may take any of its encodings independently, so a mix (a JSON string
 * inside a shell word) is found too.
 */

export const REDACTED = "[secret redacted by hostwright preview]";

/** Lines of a multi-line secret redacted on their own (a key re-wrapped or indented) are at least this long. */
const MIN_LINE = 16;

function escapeRegExp(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** A regular expression for every way one character of a secret may be written. */
function characterPattern(ch: string): string {
    if (/^[A-Za-z0-9]$/.test(ch)) return ch;
    const code = ch.codePointAt(0)!;
    const bytes = [...Buffer.from(ch, "utf8")];
    const hex = (b: number) => b.toString(16).padStart(2, "0");
    const forms = new Set<string>([
        escapeRegExp(ch),
        // One or more backslashes before the character (escaped once, or escaped again inside another string).
        `\\\\{1,4}${escapeRegExp(ch)}`,
        // \uXXXX (JSON, JavaScript) and \u{X}, in either case; surrogate pairs for astral characters.
        ...(code > 0xffff
            ? [`\\\\{1,2}u${ch.charCodeAt(0).toString(16)}\\\\{1,2}u${ch.charCodeAt(1).toString(16)}`]
            : [`\\\\{1,2}u${code.toString(16).padStart(4, "0")}`]),
        `\\\\{1,2}u\\{0*${code.toString(16)}\\}`,
        // UTF-8 bytes as \xHH, octal \NNN, %HH.
        bytes.map((b) => `\\\\{1,2}x${hex(b)}`).join(""),
        bytes.map((b) => `\\\\{1,2}${b.toString(8).padStart(3, "0")}`).join(""),
        bytes.map((b) => `%${hex(b)}`).join(""),
    ]);
    if (ch === "'") forms.add(`'\\\\''`).add(`'"'"'`);
    if (ch === "\t") forms.add("\\\\{1,4}t");
    if (ch === "\n") forms.add("\\r?\\n[ \\t]*").add("\\\\{1,4}n").add("\\\\{1,4}r\\\\{1,4}n");
    if (ch === "\r") forms.add("\\\\{1,4}r");
    if (ch === " ") forms.add("\\\\{1,4}s").add("\\+");
    if (ch === "&") forms.add("&amp;");
    if (ch === "<") forms.add("&lt;");
    if (ch === ">") forms.add("&gt;");
    if (ch === '"') forms.add("&quot;");
    // Case-insensitive hex digits in %HH and \xHH forms.
    return `(?:${[...forms].map((f) => f.replace(/(%|x)([0-9a-f]{2})/g, (_m, p: string, h: string) => `${p}[${h[0]}${h[0].toUpperCase()}][${h[1]}${h[1].toUpperCase()}]`)).join("|")})`;
}

/** A secret with more characters to escape than this is matched in its common encodings only (a regular expression per character would overflow the stack). */
const MAX_PATTERN_SPECIALS = 1000;

/** The usual whole-text encodings of a secret, for secrets too large for a per-character pattern. */
function literalForms(text: string): string[] {
    const json = JSON.stringify(text).slice(1, -1);
    const c = text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\t/g, "\\t").replace(/\r/g, "\\r").replace(/\n/g, "\\n");
    return [...new Set([text, text.replace(/\n/g, "\r\n"), json, c, text.replace(/'/g, "'\\''"), json.replace(/'/g, "'\\''"), encodeURIComponent(text)])];
}

/**
 * What finds one secret: a regular expression (every encoding, see the module
 * comment), or for a secret with very many characters to escape, its usual
 * encodings as plain strings (a pattern that large overflows the regex compiler).
 */
export function secretMatchers(secret: string): Array<RegExp | string> {
    // Leading and trailing white space (a key file's last newline) may be left out where the secret is written.
    const [, lead, core, trail] = /^(\s*)([\s\S]*?)(\s*)$/.exec(secret)!;
    const text = core || secret;
    const optional = (ws: string) => [...ws].map((ch) => `${characterPattern(ch)}?`).join("");
    const huge = (text.match(/[^A-Za-z0-9]/g)?.length ?? 0) > MAX_PATTERN_SPECIALS;
    const variants = huge ? [] : [optional(lead) + [...text].map(characterPattern).join("") + optional(trail)];
    const lines = text.split(/\r?\n/).map((l) => l.trim());
    if (lines.length > 1) {
        // PEM armour lines are public and shared by every key; the body lines are not.
        for (const line of lines) if (line.length >= MIN_LINE && !/^-----(BEGIN|END) /.test(line)) variants.push([...line].map(characterPattern).join(""));
    }
    const whole = Buffer.from(text, "utf8");
    const literals = [whole.toString("base64"), whole.toString("base64url"), whole.toString("hex")].filter((e) => e.length >= MIN_LINE);
    if (huge) literals.push(...literalForms(secret), ...literalForms(text));
    // Longest first, so a whole secret is replaced before one of its lines.
    literals.sort((a, b) => b.length - a.length);
    variants.sort((a, b) => b.length - a.length);
    return [...literals, ...(variants.length > 0 ? [new RegExp(variants.join("|"), "g")] : [])];
}

/** Replaces every secret, in every encoding, wherever it appears inside `value` (strings, arrays, objects). */
export function redact<T>(value: T, secrets: string[]): T {
    const matchers = [...new Set(secrets)]
        .filter((s) => s.length > 0)
        .sort((a, b) => b.length - a.length)
        .flatMap(secretMatchers);
    const scrub = (v: unknown): unknown => {
        if (typeof v === "string") return matchers.reduce((text: string, m) => (typeof m === "string" ? text.split(m).join(REDACTED) : text.replace(m, REDACTED)), v);
        if (Array.isArray(v)) return v.map(scrub);
        if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x)]));
        return v;
    };
    return scrub(value) as T;
}
