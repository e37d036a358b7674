import { createHash } from "crypto";

/** Hex SHA-256 of the given parts, each length-prefixed so that ("ab","c") != ("a","bc"). */
export function contentHash(...parts: string[]): string {
    const h = createHash("sha256");
    for (const p of parts) {
        h.update(String(Buffer.byteLength(p, "utf8")));
        h.update(":");
        h.update(p);
    }
    return h.digest("hex");
}

/** A short, stable identifier for a path or a name (16 hex characters). */
export function shortHash(text: string): string {
    return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

const pathHashes = new Map<string, string>();

/**
 * {@link shortHash} of a file path, remembered: a stack declares the same paths on
 * every host, and each step names each of its files twice.
 */
export function pathHash(path: string): string {
    let hash = pathHashes.get(path);
    if (hash === undefined) pathHashes.set(path, (hash = shortHash(path)));
    return hash;
}
