/**
 * Checks on the raw text of the stack config that hold for every field, whatever
 * its component: encoding, control characters, size. Pure functions.
 */

/** Longest part of a value an error message quotes. */
export const QUOTE_LIMIT = 200;

/**
 * A value quoted for an error message: JSON-quoted, cut after {@link QUOTE_LIMIT}
 * characters with the full length added, so a 20 MiB value cannot flood stderr.
 */
export function quote(value: string): string {
    if (value.length <= QUOTE_LIMIT) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, QUOTE_LIMIT))}... (${value.length} characters)`;
}

/**
 * Cuts every JSON-quoted string longer than {@link QUOTE_LIMIT} inside a message
 * (components quote values with JSON.stringify), and the message itself at 4 KiB:
 * the safety net for messages this module did not write.
 */
export function capQuotedValues(message: string): string {
    // A scan, not a regular expression: a backtracking match over a string of megabytes overflows the stack.
    let capped = "";
    let at = 0;
    while (at < message.length) {
        const open = message.indexOf('"', at);
        if (open < 0) break;
        let close = open + 1;
        while (close < message.length && message[close] !== '"') close += message[close] === "\\" ? 2 : 1;
        if (close >= message.length) break;
        const literal = message.slice(open, close + 1);
        let text: string | undefined;
        if (literal.length > QUOTE_LIMIT + 2) {
            try {
                text = JSON.parse(literal) as string;
            } catch {
                text = undefined;
            }
        }
        capped += message.slice(at, open) + (text === undefined ? literal : quote(text));
        at = close + 1;
    }
    capped += message.slice(at);
    return capped.length <= 4096 ? capped : `${capped.slice(0, 4096)}... (message of ${capped.length} characters cut)`;
}

/** What may appear in a field: one line (names, paths, URLs, addresses) or a text block (PEM). */
export type TextKind = "line" | "block" | "secret";

const NAMES: Record<number, string> = { 0: "NUL", 9: "TAB", 10: "LF (newline)", 13: "CR (carriage return)", 27: "ESC", 127: "DEL" };

function forbidden(code: number, kind: TextKind): boolean {
    if (code === 0xfffd) return true; // what a decoder leaves of bytes that were not UTF-8
    if (code === 0) return true; // no file written through a here-document, URL or argument can hold it
    if (kind === "secret") return false;
    if (kind === "block" && (code === 9 || code === 10 || code === 13)) return false;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}

/**
 * The first character a field of this kind must not hold, described with its
 * position, or undefined. NUL and U+FFFD (a decoding error) are refused in every
 * field; control characters in every field but a text block's TAB/LF/CR.
 */
export function controlCharacterProblem(text: string, kind: TextKind): string | undefined {
    for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x20 && code < 0x7f) continue;
        if (!forbidden(code, kind)) continue;
        const where = `at character ${i + 1}`;
        if (code === 0xfffd) return `holds U+FFFD (a replacement character: the stack file had bytes that are not UTF-8?) ${where}`;
        const hex = code.toString(16).toUpperCase().padStart(4, "0");
        const label = NAMES[code] ? ` (${NAMES[code]})` : "";
        if (code === 0) return `holds a NUL byte ${where}; it would cut the value short in a file, URL or shell word`;
        return `holds the control character U+${hex}${label} ${where}; ${kind === "line" ? "this field is one line of printable text" : "a text block may hold only printable text, TAB and line breaks"}`;
    }
    return undefined;
}

/**
 * Where a byte sequence stops being UTF-8: byte offset, line and column (1-based),
 * or undefined when it is valid UTF-8.
 */
export function invalidUtf8(bytes: Uint8Array): { offset: number; line: number; column: number } | undefined {
    let i = 0;
    let line = 1;
    let lineStart = 0;
    while (i < bytes.length) {
        const b = bytes[i];
        let need = 0;
        let min = 0;
        if (b < 0x80) {
            if (b === 0x0a) {
                line++;
                lineStart = i + 1;
            }
            i++;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
            min = 0x80;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            min = 0x800;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            min = 0x10000;
        } else {
            return { offset: i, line, column: i - lineStart + 1 };
        }
        let code = b & (0x3f >> need);
        for (let k = 1; k <= need; k++) {
            const c = bytes[i + k];
            if (c === undefined || (c & 0xc0) !== 0x80) return { offset: i, line, column: i - lineStart + 1 };
            code = (code << 6) | (c & 0x3f);
        }
        // Overlong forms, UTF-16 surrogates and code points above U+10FFFF are not UTF-8.
        if (code < min || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return { offset: i, line, column: i - lineStart + 1 };
        i += need + 1;
    }
    return undefined;
}

/** Largest path a host accepts (PATH_MAX 4096, with its terminating NUL). */
export const PATH_MAX_BYTES = 4095;
/** Largest file-name component (NAME_MAX). */
export const NAME_MAX_BYTES = 255;

/** Why an absolute path cannot exist on a Linux host (length limits), or undefined. */
export function pathLengthProblem(path: string): string | undefined {
    const bytes = Buffer.byteLength(path, "utf8");
    if (bytes > PATH_MAX_BYTES) return `is ${bytes} bytes long; a path has at most ${PATH_MAX_BYTES} (PATH_MAX)`;
    const long = path.split("/").find((c) => Buffer.byteLength(c, "utf8") > NAME_MAX_BYTES);
    if (long !== undefined) return `has a component of ${Buffer.byteLength(long, "utf8")} bytes (${quote(long.slice(0, 40))}...); a file name has at most ${NAME_MAX_BYTES} (NAME_MAX)`;
    return undefined;
}

/** Most values (strings, list items, map entries) one stack config may expand to. */
export const MAX_EXPANDED_NODES = 1_000_000;
/** Most characters of text one stack config may expand to. */
export const MAX_EXPANDED_CHARS = 64 * 1024 * 1024;

/**
 * Walks a parsed document counting every value as often as it is reached (a YAML
 * alias counts once per use) and stops as soon as a bound is passed: an alias bomb
 * (9 levels of 9 aliases: 387 million values) is refused in microseconds instead of
 * exhausting memory when serialized. Returns the problem, or undefined.
 */
export function expansionProblem(doc: unknown, maxNodes = MAX_EXPANDED_NODES, maxChars = MAX_EXPANDED_CHARS): string | undefined {
    let nodes = 0;
    let chars = 0;
    const stack: unknown[] = [doc];
    while (stack.length > 0) {
        const v = stack.pop();
        if (++nodes > maxNodes) return `expands to more than ${maxNodes.toLocaleString("en-US")} values (YAML aliases repeating a large part of the file?)`;
        if (typeof v === "string") chars += v.length;
        else if (Array.isArray(v)) for (const x of v) stack.push(x);
        else if (v && typeof v === "object") {
            for (const [k, x] of Object.entries(v)) {
                chars += k.length;
                stack.push(x);
            }
        }
        if (chars > maxChars) return `expands to more than ${maxChars / 1024 / 1024} MiB of text (YAML aliases repeating a large part of the file?)`;
    }
    return undefined;
}
