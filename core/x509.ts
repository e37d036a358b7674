/**
 * Certificates and keys parsed once per PEM text. A stack repeats the same
 * material (a CA on every node, a wildcard certificate on many proxies), and each
 * component is checked twice (by its stack section, then by its constructor):
 * parsing each distinct text once keeps validation linear in distinct material
 * (bench/README.md). Also the one DER reader for what Node does not expose (a
 * certificate's extensions, EC points): strict, definite lengths only.
 */
import { createECDH, createPrivateKey, KeyObject, X509Certificate } from "crypto";

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
function parsePrivateKey(pem: string): KeyObject {
    return cached(privateKeys, pem, (text) => createPrivateKey(text));
}

/**
 * Whether an unencrypted PEM private key belongs to `cert` (what `checkPrivateKey`
 * answers). An EC key in one PKCS#8 or SEC1 block is checked by computing its public
 * point from the private scalar: ~40 us, where Node 20's OpenSSL 3 takes ~550 us to
 * load the key, the larger part of validating a stack of per-node keys (bench/README.md).
 * A key whose embedded public point is not its scalar's does not match. Every other
 * key, or a certificate without a named-curve EC key, is left to OpenSSL.
 * @throws the key's parse error (an encrypted key needs a passphrase)
 */
export function keyMatchesCertificate(cert: X509Certificate, keyPem: string): boolean {
    const ec = cached(ecPoints, keyPem, ecPointOf);
    const own = ec === OTHER_KEY ? undefined : certificatePoint(cert);
    if (ec === OTHER_KEY || !own) return cert.checkPrivateKey(parsePrivateKey(keyPem));
    return ec !== MISMATCHED_KEY && own.curve === ec.curve && own.point.equals(ec.point);
}

interface EcPoint {
    /** Node's name of the curve. */
    curve: string;
    /** The uncompressed public point (0x04 || x || y). */
    point: Buffer;
}
const OTHER_KEY = "other";
const MISMATCHED_KEY = "mismatched";
const ecPoints = new Map<string, EcPoint | typeof OTHER_KEY | typeof MISMATCHED_KEY | Error>();
const certificatePoints = new WeakMap<X509Certificate, EcPoint | undefined>();

/** Named-curve OIDs (DER contents, hex) to Node's curve names. */
const CURVES: Record<string, string> = { "2a8648ce3d030107": "prime256v1", "2b81040022": "secp384r1", "2b81040023": "secp521r1" };
const EC_PUBLIC_KEY_OID = "2a8648ce3d0201";
const ONE_PEM_BLOCK = /^\s*-----BEGIN (PRIVATE KEY|EC PRIVATE KEY)-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END \1-----\s*$/;

/** The public point of an EC key in one unencrypted PKCS#8 or SEC1 block; OTHER_KEY for anything else. */
function ecPointOf(pem: string): EcPoint | typeof OTHER_KEY | typeof MISMATCHED_KEY {
    const block = ONE_PEM_BLOCK.exec(pem);
    if (!block) return OTHER_KEY;
    const der = Buffer.from(block[2].replace(/\s/g, ""), "base64");
    let found: { curve: string; scalar: Buffer; embedded?: Buffer } | undefined;
    if (block[1] === "PRIVATE KEY") {
        // PrivateKeyInfo: version, AlgorithmIdentifier { ecPublicKey, namedCurve }, OCTET STRING { ECPrivateKey }
        const info = sequence(der);
        const algorithm = sequenceItems(info?.[1]);
        if (!info || info.length !== 3 || !isInteger(info[0], 0) || !algorithm || algorithm.length !== 2 || info[2].tag !== 0x04) return OTHER_KEY;
        if (algorithm[0].tag !== 0x06 || algorithm[0].body.toString("hex") !== EC_PUBLIC_KEY_OID || algorithm[1].tag !== 0x06) return OTHER_KEY;
        const curve = CURVES[algorithm[1].body.toString("hex")];
        const key = curve ? ecPrivateKey(info[2].body) : undefined;
        if (!key || (key.curve !== undefined && key.curve !== curve)) return OTHER_KEY;
        found = { ...key, curve: curve! };
    } else {
        const key = ecPrivateKey(der);
        if (!key?.curve) return OTHER_KEY;
        found = { ...key, curve: key.curve };
    }
    const ecdh = createECDH(found.curve);
    try {
        ecdh.setPrivateKey(found.scalar);
    } catch {
        return OTHER_KEY; // a scalar out of range: OpenSSL's loader says what is wrong
    }
    const point = ecdh.getPublicKey();
    const embedded = found.embedded;
    if (embedded && !embedded.equals(embedded[0] === 4 ? point : ecdh.getPublicKey(null, "compressed"))) return MISMATCHED_KEY;
    return { curve: found.curve, point };
}

/** ECPrivateKey: version 1, OCTET STRING scalar, [0] namedCurve OPTIONAL, [1] BIT STRING public point OPTIONAL. */
function ecPrivateKey(der: Buffer): { scalar: Buffer; curve?: string; embedded?: Buffer } | undefined {
    const fields = sequence(der);
    if (!fields || fields.length < 2 || fields.length > 4 || !isInteger(fields[0], 1) || fields[1].tag !== 0x04 || fields[1].body.length === 0) return undefined;
    const result: { scalar: Buffer; curve?: string; embedded?: Buffer } = { scalar: fields[1].body };
    let lastTag = 0;
    for (const field of fields.slice(2)) {
        if (field.tag <= lastTag) return undefined;
        lastTag = field.tag;
        if (field.tag === 0xa0) {
            const curve = CURVES[derOnly(field.body, 0x06)?.body.toString("hex") ?? ""];
            if (!curve) return undefined;
            result.curve = curve;
        } else if (field.tag === 0xa1) {
            const point = derOnly(field.body, 0x03);
            if (point?.body[0] !== 0) return undefined;
            result.embedded = point.body.subarray(1);
        } else return undefined;
    }
    return result;
}

/** One DER element: its tag byte and its contents. */
export interface DerElement {
    tag: number;
    body: Buffer;
}

/** The DER elements that fill `der` exactly (definite lengths only), or undefined. */
function derElements(der: Buffer): DerElement[] | undefined {
    const items: DerElement[] = [];
    let at = 0;
    while (at < der.length) {
        const tag = der[at];
        let length = der[at + 1];
        let start = at + 2;
        if (length === undefined || (tag & 0x1f) === 0x1f) return undefined;
        if (length & 0x80) {
            const octets = length & 0x7f;
            if (octets === 0 || octets > 3 || start + octets > der.length) return undefined;
            length = 0;
            for (let i = 0; i < octets; i++) length = length * 256 + der[start + i];
            start += octets;
        }
        if (start + length > der.length) return undefined;
        items.push({ tag, body: der.subarray(start, start + length) });
        at = start + length;
    }
    return items;
}

/** The one element `der` consists of, when it has `tag`; undefined otherwise. */
export function derOnly(der: Buffer, tag: number): DerElement | undefined {
    const [only, ...rest] = derElements(der) ?? [];
    return only?.tag === tag && rest.length === 0 ? only : undefined;
}

/** The elements inside `element` when it is a SEQUENCE; undefined otherwise. */
export function sequenceItems(element: DerElement | undefined): DerElement[] | undefined {
    return element?.tag === 0x30 ? derElements(element.body) : undefined;
}

/** The elements of the one SEQUENCE that `der` is, or undefined. */
function sequence(der: Buffer): DerElement[] | undefined {
    return sequenceItems(derOnly(der, 0x30));
}

function isInteger(field: DerElement, value: number): boolean {
    return field.tag === 0x02 && field.body.length === 1 && field.body[0] === value;
}

/**
 * The certificate's EC public point (named curves only), read from its DER: its
 * `publicKey` object and a JWK export take longer than computing the key's point.
 */
function certificatePoint(cert: X509Certificate): EcPoint | undefined {
    if (certificatePoints.has(cert)) return certificatePoints.get(cert);
    // tbsCertificate: [0] version OPTIONAL, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
    const fields = tbsFields(cert);
    const spki = fields?.[fields[0]?.tag === 0xa0 ? 6 : 5];
    const [algorithm, key] = sequenceItems(spki) ?? [];
    const [kind, parameters] = sequenceItems(algorithm) ?? [];
    let point: EcPoint | undefined;
    const curve = kind?.tag === 0x06 && kind.body.toString("hex") === EC_PUBLIC_KEY_OID && parameters?.tag === 0x06 ? CURVES[parameters.body.toString("hex")] : undefined;
    // A compressed point (rare) is left to OpenSSL rather than decompressed here.
    if (curve && key?.tag === 0x03 && key.body[0] === 0 && key.body[1] === 4) point = { curve, point: key.body.subarray(1) };
    certificatePoints.set(cert, point);
    return point;
}

/** The fields of a certificate's tbsCertificate (version, serial, ..., subjectPublicKeyInfo, [3] extensions), or undefined. */
function tbsFields(cert: X509Certificate): DerElement[] | undefined {
    return sequenceItems(sequence(cert.raw)?.[0]);
}

/**
 * One extension of a certificate, read from its DER (Node exposes only some of them):
 * whether it is critical, and its value (the contents of its OCTET STRING). Undefined
 * when the certificate has no such extension or its structure is not what DER allows.
 * @param oid the extension's OID as DER contents in hex, e.g. "551d0f" for keyUsage
 */
export function certificateExtension(cert: X509Certificate, oid: string): { critical: boolean; value: Buffer } | undefined {
    const extensions = tbsFields(cert)?.find((f) => f.tag === 0xa3);
    const list = extensions ? sequence(extensions.body) : undefined;
    for (const extension of list ?? []) {
        const fields = sequenceItems(extension);
        if (!fields || fields[0]?.tag !== 0x06 || fields[0].body.toString("hex") !== oid) continue;
        const critical = fields.length === 3 && fields[1].tag === 0x01 && fields[1].body[0] !== 0;
        const value = fields[fields.length - 1];
        return value.tag === 0x04 && fields.length <= 3 ? { critical, value: value.body } : undefined;
    }
    return undefined;
}

const publicKeys = new WeakMap<X509Certificate, KeyObject>();

/** A CA's public key, made once: `publicKey` makes a new key object at every call, and a CA signs many certificates. */
function publicKeyOf(cert: X509Certificate): KeyObject {
    let key = publicKeys.get(cert);
    if (!key) publicKeys.set(cert, (key = cert.publicKey));
    return key;
}

/** Whether `issuer` issued `cert`: names match (`checkIssued`) and the signature verifies. */
export function isIssuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
    let byIssuer = signatures.get(cert);
    if (!byIssuer) signatures.set(cert, (byIssuer = new WeakMap()));
    let result = byIssuer.get(issuer);
    if (result === undefined) {
        result = cert.checkIssued(issuer) && cert.verify(publicKeyOf(issuer));
        byIssuer.set(issuer, result);
    }
    return result;
}
