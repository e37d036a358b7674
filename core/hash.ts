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
