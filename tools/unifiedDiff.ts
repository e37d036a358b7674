/**
 * Line-based unified diff (Myers' O(ND) algorithm), for the plan diff of two
 * offline previews: `--- a/PATH` / `+++ b/PATH` and `@@` hunks with context lines.
 */

type Op = { kind: " " | "-" | "+"; line: string };

/** The shortest edit script from `a` to `b`, as kept/removed/added lines in order. */
export function diffLines(a: string[], b: string[]): Op[] {
    const n = a.length;
    const m = b.length;
    const max = n + m;
    const offset = max + 1;
    const v = new Int32Array(2 * max + 3);
    const trace: Int32Array[] = [];
    let found = false;
    for (let d = 0; d <= max && !found; d++) {
        trace.push(v.slice());
        for (let k = -d; k <= d; k += 2) {
            let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
            let y = x - k;
            while (x < n && y < m && a[x] === b[y]) {
                x++;
                y++;
            }
            v[offset + k] = x;
            if (x >= n && y >= m) {
                found = true;
                break;
            }
        }
    }
    // Walk the trace back from the end to recover the path.
    const ops: Op[] = [];
    let x = n;
    let y = m;
    for (let d = trace.length - 1; d > 0; d--) {
        const vd = trace[d];
        const k = x - y;
        const prevK = k === -d || (k !== d && vd[offset + k - 1] < vd[offset + k + 1]) ? k + 1 : k - 1;
        const prevX = vd[offset + prevK];
        const prevY = prevX - prevK;
        while (x > prevX && y > prevY) {
            ops.push({ kind: " ", line: a[--x] });
            y--;
        }
        if (x === prevX) ops.push({ kind: "+", line: b[--y] });
        else ops.push({ kind: "-", line: a[--x] });
    }
    while (x > 0 && y > 0) {
        ops.push({ kind: " ", line: a[--x] });
        y--;
    }
    return ops.reverse();
}

function splitLines(text: string): string[] {
    if (text === "") return [];
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    return lines;
}

/**
 * A unified diff of two texts with `context` lines around each change; empty when
 * they are equal. `undefined` stands for a file that does not exist on that side.
 */
export function unifiedDiff(path: string, before: string | undefined, after: string | undefined, context = 3): string {
    if (before === after) return "";
    const a = splitLines(before ?? "");
    const b = splitLines(after ?? "");
    const ops = diffLines(a, b);
    const hunks: string[] = [];
    let i = 0;
    // Line numbers (1-based) in a and b of ops[i].
    const aLine: number[] = [];
    const bLine: number[] = [];
    let ai = 1;
    let bi = 1;
    for (const op of ops) {
        aLine.push(ai);
        bLine.push(bi);
        if (op.kind !== "+") ai++;
        if (op.kind !== "-") bi++;
    }
    while (i < ops.length) {
        if (ops[i].kind === " ") {
            i++;
            continue;
        }
        const start = Math.max(0, i - context);
        let end = i;
        // Extend the hunk while the next change is within 2 * context unchanged lines.
        for (let j = i; j < ops.length; j++) {
            if (ops[j].kind !== " ") end = j;
            else if (j - end > 2 * context) break;
        }
        const stop = Math.min(ops.length, end + context + 1);
        const slice = ops.slice(start, stop);
        const aCount = slice.filter((o) => o.kind !== "+").length;
        const bCount = slice.filter((o) => o.kind !== "-").length;
        const aStart = aCount === 0 ? aLine[start] - 1 : aLine[start];
        const bStart = bCount === 0 ? bLine[start] - 1 : bLine[start];
        hunks.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`, ...slice.map((o) => `${o.kind}${o.line}`));
        i = stop;
    }
    return [`--- ${before === undefined ? "/dev/null" : `a${path}`}`, `+++ ${after === undefined ? "/dev/null" : `b${path}`}`, ...hunks].join("\n") + "\n";
}
