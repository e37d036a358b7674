/**
 * Certificates and keys parsed once per PEM text. A stack repeats the same
 * material (a CA on every node, a wildcard certificate on many proxies), and each
 * component is checked twice (by its stack section, then by its constructor):
 * parsing each distinct text once keeps validation linear in distinct material
 * (bench/README.md).
 */
import { createPrivateKey, KeyObject, X509Certificate } from "crypto";

const certificates = new Map<string, X509Certificate | Error>();
const privateKeys = new Map<string, KeyObject | Error>();
const signatures = new WeakMap<X509Certificate, WeakMap<X509Certificate, boolean>>();

function cached<T>(cache: Map<string, T | Error>, text: string, parse: (text: string) => T): T {
    let value = cache.get(text);
    if (value === undefined) {
        try {
            value = parse(text);
        } catch (e) {
            value = e instanceof Error ? e : new Error(String(e));
        }
        cache.set(text, value);
    }
    if (value instanceof Error) throw value;
    return value;
}

/** One PEM certificate, parsed (the same object for the same text). @throws its parse error */
export function parseCertificate(pem: string): X509Certificate {
    return cached(certificates, pem, (text) => new X509Certificate(text));
}

/** An unencrypted PEM private key. @throws its parse error (an encrypted key needs a passphrase) */
export function parsePrivateKey(pem: string): KeyObject {
    return cached(privateKeys, pem, (text) => createPrivateKey(text));
}

/** Whether `issuer` issued `cert`: names match (`checkIssued`) and the signature verifies. */
export function isIssuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
    let byIssuer = signatures.get(cert);
    if (!byIssuer) signatures.set(cert, (byIssuer = new WeakMap()));
    let result = byIssuer.get(issuer);
    if (result === undefined) {
        result = cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
        byIssuer.set(issuer, result);
    }
    return result;
}
