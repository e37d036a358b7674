/**
 * The one place where values become shell words. Every value that reaches a
 * remote shell goes through {@link shq} (or the {@link sh} template, which calls it).
 */

/** Thrown when a value cannot be carried by a shell word (a NUL byte). */
export class UnquotableValueError extends Error {}

/**
 * Quotes a value as one POSIX shell word: single quotes, with each embedded
 * single quote written as `'\''`. Nothing inside is expanded by any POSIX
 * shell (no `$`, backtick, glob, history or newline effects).
 * @throws UnquotableValueError for a NUL byte, which no shell argument can hold.
 */
export function shq(value: string | number): string {
    const text = String(value);
    if (text.includes("\0")) {
        throw new UnquotableValueError(`a NUL byte cannot be passed to a shell (value starts ${JSON.stringify(text.slice(0, 20))})`);
    }
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
    return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A fragment that is already shell syntax (made by {@link sh} or {@link raw}); not quoted again. */
export class ShellFragment {
    constructor(readonly text: string) {}
    toString(): string {
        return this.text;
    }
}

/** Marks trusted, literal shell syntax written in this code base (never user input). */
export function raw(text: string): ShellFragment {
    return new ShellFragment(text);
}

export type ShellValue = string | number | ShellFragment | ReadonlyArray<string | number | ShellFragment>;

/**
 * Tagged template: literal parts are shell syntax, every interpolated value is
 * quoted with {@link shq}; arrays become several quoted words.
 * `sh\`rm -f ${path}\`` is safe for any `path`.
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): string {
    let out = strings[0];
    values.forEach((value, i) => {
        out += quoteValue(value) + strings[i + 1];
    });
    return out;
}

function quoteValue(value: ShellValue): string {
    if (value instanceof ShellFragment) return value.text;
    if (Array.isArray(value)) return value.map((v) => quoteValue(v)).join(" ");
    return shq(value as string | number);
}

/**
 * Feeds `content` to `command` through a here-document, in the current shell (no
 * pipeline, so the command may set variables). The command gets the content's byte
 * count as its last argument and must read exactly that many bytes (`head -c`),
 * which drops the newline the here-document adds. The delimiter is derived from
 * the content so the content can never end it early.
 */
export function heredocInto(command: string, content: string, delimiterSeed: string): string {
    if (content.includes("\0")) throw new UnquotableValueError("file content with a NUL byte cannot be written through a here-document");
    let delimiter = `HOSTWRIGHT_EOF_${delimiterSeed}`;
    // Only a content that holds the delimiter somewhere is split into lines to check.
    while (content.includes(delimiter) && content.split("\n").includes(delimiter)) delimiter += "_";
    const bytes = Buffer.byteLength(content, "utf8");
    return `${command} ${bytes} <<'${delimiter}'\n${content}\n${delimiter}`;
}

/** At most this many peer calls (queries, connects, trust-store calls) at once in one step. */
export const PARALLEL = 16;

/**
 * Runs each command in the background, at most {@link PARALLEL} at once, and waits
 * for all: in batches, because bash 4.2 (CentOS 7) has no `wait -n`. The commands
 * must not fail (they write their results to files the step reads afterwards).
 */
export function inParallel(commands: string[]): string {
    const lines: string[] = [];
    commands.forEach((c, i) => {
        lines.push(`${c} &`);
        if ((i + 1) % PARALLEL === 0) lines.push("wait");
    });
    lines.push("wait");
    return lines.join("\n");
}
