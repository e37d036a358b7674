/**
 * A secret a run cannot read: the offline preview without the passphrase, or with a
 * secrets provider only the Pulumi CLI can use. It is passed on as this placeholder,
 * `[opaque secret hostwright:secrets.NAME]` (a Pulumi secret, redacted in the preview),
 * so everything around it is still rendered and written; a check that needs the value
 * skips it (the stack validation lists it as not run).
 */
export const OPAQUE_SECRET = (path: string) => `[opaque secret ${path}]`;

/** Whether `value` is an {@link OPAQUE_SECRET} placeholder. */
export function isOpaqueSecret(value: string): boolean {
    return /^\[opaque secret [^\]]+\]$/.test(value);
}
