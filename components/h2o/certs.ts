/**
 * Certificate checks made before anything is pushed, with Node's own X.509 support
 * (`crypto.X509Certificate`): trust order, signatures, key match, validity, names,
 * OCSP responder. `openssl verify -untrusted` accepts a reversed bundle (it checks the
 * first certificate only), so the chain is checked pair by pair here.
 */
import type { X509Certificate } from "crypto";
import { certificateExtension, derOnly, isIssuedBy, keyMatchesCertificate, parseCertificate, sequenceItems } from "../../core/x509";
import { isIP } from "net";
import type { Issue } from "../../core/errors";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const ANY_EKU = "2.5.29.37.0";
const DAY_MS = 86_400_000;

/** What the checks learnt about one certificate bundle. */
export interface ChainReport {
    /** Problems; paths are relative to the identity (`certificateChain`, `privateKey`, `ocsp.rootCertificate`). */
    issues: Issue[];
    /** The bundle in trust order, leaf first, as PEM (only when the order could be established). */
    orderedPem?: string;
    /** Subjects in the order used, e.g. `["CN=www.example.com (given as #2)", "CN=Example CA (given as #1)"]`. */
    order: string[];
    /** True when the bundle was not given leaf-first. */
    reordered: boolean;
    /** SHA-256 fingerprint of the leaf, as openssl prints it (`AB:CD:...`). */
    leafFingerprint?: string;
    /** The leaf's first DNS name (else its first IP address), for SNI in checks. */
    leafName?: string;
    /** The OCSP responder URI of the leaf; undefined means stapling is not applicable. */
    ocspUri?: string;
    /** The leaf carries the TLS Feature extension with status_request (OCSP Must-Staple, RFC 7633). */
    mustStaple?: boolean;
    /** PEM of the certificate that issued the leaf (next in the chain, or the root). */
    issuerPem?: string;
    /** PEM of the CA certificates above the leaf, ending with the root when known. */
    caBundlePem?: string;
    /**
     * PEM of the issuer and every other certificate above the leaf in the bundle: the
     * untrusted certificates an OCSP response is verified with (`-verify_other`). With
     * only the issuer, a chain with two intermediates does not verify up to its root.
     */
    untrustedPem?: string;
    /** Earliest expiry in the chain (ISO 8601). */
    notAfter?: string;
}

export interface ChainInput {
    certificateChain: string;
    /** Clear-text private key; omitted when it is not known yet (a Pulumi output). */
    privateKey?: string;
    /** Root CA PEM, when configured. */
    rootCertificate?: string;
    /** Explicit issuer PEM, when configured. */
    issuerCertificate?: string;
    /** Host names / IP addresses the leaf must cover. */
    names?: string[];
    /** @default 30 */
    expiryWarningDays?: number;
    /** @default now */
    now?: Date;
}

/** The PEM certificate blocks of a text, in order. */
export function splitPemCertificates(text: string): string[] {
    return (text.match(PEM_CERT) ?? []).map((b) => `${b.trim()}\n`);
}

/** One line naming a certificate: its subject on one line. */
export function describeCert(cert: X509Certificate): string {
    return distinguishedName(cert.subject);
}

/** A distinguished name as Node prints it (one attribute per line), on one line. */
function distinguishedName(name: string): string {
    return name.split("\n").join(", ");
}

function parseOne(pem: string): X509Certificate | undefined {
    try {
        return parseCertificate(pem);
    } catch {
        return undefined;
    }
}

const selfSigned = (c: X509Certificate) => isIssuedBy(c, c);

/** The OCSP responder URI in a certificate's authorityInfoAccess, if any. */
export function ocspUriOf(cert: X509Certificate): string | undefined {
    for (const line of (cert.infoAccess ?? "").split("\n")) {
        const m = /^OCSP - URI:(.*)$/.exec(line.trim());
        if (!m) continue;
        let uri = m[1];
        // Node quotes values holding unusual characters as JSON strings.
        if (uri.startsWith('"')) {
            try {
                uri = JSON.parse(uri);
            } catch {
                /* keep as is */
            }
        }
        return uri;
    }
    return undefined;
}

/** The TLS Feature extension's OID, 1.3.6.1.5.5.7.1.24 (RFC 7633), as DER contents. */
const TLS_FEATURE_OID = "2b06010505070118";
/** TLS Feature value `status_request` (5), the extension's meaning of "Must-Staple". */
const STATUS_REQUEST = 5;

/**
 * Whether the certificate requires a stapled OCSP response (TLS Feature with
 * status_request): Node exposes no TLS Feature, so the extension, a SEQUENCE of
 * INTEGERs, is read from the DER. A malformed one reads as "not required" (parsing
 * already succeeded in Node).
 */
export function requiresStapling(cert: X509Certificate): boolean {
    const feature = certificateExtension(cert, TLS_FEATURE_OID);
    const features = feature ? sequenceItems(derOnly(feature.value, 0x30)) : undefined;
    return (features ?? []).some((f) => f.tag === 0x02 && f.body.length === 1 && f.body[0] === STATUS_REQUEST);
}

/**
 * Checks one certificate bundle (and its key, root and names) and puts it in trust
 * order. Pure apart from reading the clock when `now` is not given.
 */
export function checkChain(input: ChainInput): ChainReport {
    const issues: Issue[] = [];
    const error = (path: string, message: string) => issues.push({ path, message, severity: "error" });
    const warn = (path: string, message: string) => issues.push({ path, message, severity: "warning" });
    const report: ChainReport = { issues, order: [], reordered: false };
    const now = input.now ?? new Date();
    const windowDays = input.expiryWarningDays ?? 30;

    const blocks = splitPemCertificates(input.certificateChain);
    if (blocks.length === 0) {
        error("certificateChain", "holds no '-----BEGIN CERTIFICATE-----' block");
        return report;
    }
    const parsed: Array<{ cert: X509Certificate; pem: string; given: number }> = [];
    const seen = new Set<string>();
    blocks.forEach((pem, i) => {
        const cert = parseOne(pem);
        if (!cert) error("certificateChain", `certificate #${i + 1} of the bundle cannot be parsed as X.509`);
        else if (seen.has(cert.fingerprint256)) warn("certificateChain", `certificate #${i + 1} (${describeCert(cert)}) appears twice; the copy is dropped`);
        else {
            seen.add(cert.fingerprint256);
            parsed.push({ cert, pem, given: i + 1 });
        }
    });
    if (parsed.length === 0) return report;

    // The leaf is the certificate that issued none of the others.
    // (`a.checkIssued(b)` is true when a was issued by b.)
    const issuedOther = (c: X509Certificate) => parsed.some((o) => o.cert !== c && o.cert.checkIssued(c));
    // A root that issued nothing here is a gap above the leaf, not a second leaf.
    let candidates = parsed.filter((p) => !issuedOther(p.cert));
    const notRoots = candidates.filter((p) => !selfSigned(p.cert));
    if (notRoots.length > 0) candidates = notRoots;
    // A CA that issued nothing here belongs to another chain: the leaf is the one end-entity certificate.
    const endEntities = candidates.filter((p) => !p.cert.ca);
    if (candidates.length > 1 && endEntities.length === 1) candidates = endEntities;
    if (candidates.length !== 1) {
        const names = (candidates.length ? candidates : parsed).map((p) => `#${p.given} ${describeCert(p.cert)}`).join("; ");
        error("certificateChain", candidates.length === 0 ? `no leaf certificate: every certificate issued another one (${names})` : `the bundle holds ${candidates.length} unrelated chains (possible leaves: ${names}); give one server certificate with its intermediates`);
        return report;
    }

    // Walk up from the leaf: each next certificate must have issued the current one.
    const ordered = [candidates[0]];
    const used = new Set([candidates[0]]);
    for (;;) {
        const current = ordered[ordered.length - 1];
        if (selfSigned(current.cert)) break;
        const next = parsed.find((p) => !used.has(p) && current.cert.checkIssued(p.cert));
        if (!next) break;
        if (!isIssuedBy(current.cert, next.cert)) {
            error("certificateChain", `the signature of ${describeCert(current.cert)} does not verify with the key of its issuer ${describeCert(next.cert)} (broken or forged certificate)`);
        }
        ordered.push(next);
        used.add(next);
    }
    const top = ordered[ordered.length - 1].cert;
    const unconnected = parsed.filter((p) => !used.has(p));
    if (unconnected.length > 0 && ordered.length === 1 && !selfSigned(top)) {
        // Nothing given issued the leaf: what is missing is its issuer, not a second chain.
        const others = unconnected.map((p) => `#${p.given} ${describeCert(p.cert)}`).join("; ");
        error("certificateChain", `the issuer of ${describeCert(top)}, ${distinguishedName(top.issuer)}, is not in the bundle (${others} did not issue it); add ${distinguishedName(top.issuer)} after the leaf`);
    } else {
        for (const p of unconnected) {
            const gap = selfSigned(top) ? "" : `; the chain stops at ${describeCert(top)}, whose issuer (${distinguishedName(top.issuer)}) is missing from the bundle`;
            error("certificateChain", `certificate #${p.given} (${describeCert(p.cert)}) is not connected to the leaf ${describeCert(ordered[0].cert)}${gap}`);
        }
    }
    report.order = ordered.map((p) => `${describeCert(p.cert)} (given as #${p.given})`);
    report.reordered = ordered.some((p, i) => p.given !== i + 1);
    report.orderedPem = ordered.map((p) => p.pem).join("");

    const leaf = ordered[0].cert;
    report.leafFingerprint = leaf.fingerprint256;
    report.ocspUri = ocspUriOf(leaf);
    report.mustStaple = requiresStapling(leaf);
    const sans = (leaf.subjectAltName ?? "").split(", ").filter(Boolean);
    report.leafName = (sans.find((s) => s.startsWith("DNS:")) ?? sans.find((s) => s.startsWith("IP Address:")))?.replace(/^(DNS|IP Address):/, "");

    if (leaf.ca) error("certificateChain", `the leaf position holds a CA certificate (${describeCert(leaf)}); the server certificate must come first and must not be a CA`);
    const eku = leaf.keyUsage;
    if (eku && eku.length > 0 && !eku.includes(SERVER_AUTH) && !eku.includes(ANY_EKU)) {
        error("certificateChain", `the leaf ${describeCert(leaf)} is not valid for TLS servers (extendedKeyUsage lacks serverAuth)`);
    }

    // The root: it must have issued the top of the chain, unless the chain already ends at a root.
    let root: X509Certificate | undefined;
    if (input.rootCertificate !== undefined) {
        const rootBlocks = splitPemCertificates(input.rootCertificate);
        root = rootBlocks.length === 1 ? parseOne(rootBlocks[0]) : undefined;
        if (!root) error("ocsp.rootCertificate", "must hold exactly one PEM certificate");
        else if (!selfSigned(root)) error("ocsp.rootCertificate", `${describeCert(root)} is not a self-signed root CA`);
        else if (selfSigned(top)) {
            if (top.fingerprint256 !== root.fingerprint256) error("ocsp.rootCertificate", `the bundle ends at another root (${describeCert(top)})`);
        } else if (!top.checkIssued(root)) {
            error("certificateChain", `missing intermediate: ${describeCert(top)} was issued by ${distinguishedName(top.issuer)}, which is neither in the bundle nor the configured root ${describeCert(root)}`);
        } else if (!isIssuedBy(top, root)) {
            error("certificateChain", `the signature of ${describeCert(top)} does not verify with the key of the root ${describeCert(root)}`);
        }
    }

    // Validity of every certificate involved.
    const all = [...ordered.map((p) => p.cert), ...(root ? [root] : [])];
    let earliest: Date | undefined;
    for (const c of all) {
        const path = c === root && !ordered.some((p) => p.cert === c) ? "ocsp.rootCertificate" : "certificateChain";
        const from = new Date(c.validFrom);
        const to = new Date(c.validTo);
        if (!earliest || to < earliest) earliest = to;
        if (to.getTime() <= now.getTime()) error(path, `${describeCert(c)} expired on ${to.toISOString()}`);
        else if (from.getTime() > now.getTime()) error(path, `${describeCert(c)} is not valid before ${from.toISOString()}`);
        else if (to.getTime() - now.getTime() < windowDays * DAY_MS) {
            warn(path, `${describeCert(c)} expires on ${to.toISOString()} (within ${Math.ceil((to.getTime() - now.getTime()) / DAY_MS)} days)`);
        }
    }
    report.notAfter = earliest?.toISOString();

    // Names the leaf must cover.
    for (const name of input.names ?? []) {
        if (name === "*") continue;
        const covered = isIP(name) ? leaf.checkIP(name) !== undefined : leaf.checkHost(name) !== undefined;
        if (!covered) error("certificateChain", `the leaf ${describeCert(leaf)} does not cover ${JSON.stringify(name)} (subjectAltName: ${leaf.subjectAltName ?? "none"})`);
    }

    // The private key must belong to the leaf.
    if (input.privateKey !== undefined) {
        let keyOk: boolean | undefined;
        try {
            keyOk = keyMatchesCertificate(leaf, input.privateKey);
        } catch {
            error("privateKey", "cannot be read as a PEM private key (encrypted keys are not supported: h2o cannot ask for a passphrase)");
        }
        if (keyOk === false) error("privateKey", `does not match the public key of the leaf ${describeCert(leaf)}`);
    }

    // The issuer used for OCSP requests.
    let issuer: X509Certificate | undefined = ordered[1]?.cert ?? (root && leaf.checkIssued(root) ? root : undefined);
    let issuerPem = ordered[1]?.pem ?? (issuer ? input.rootCertificate : undefined);
    if (input.issuerCertificate !== undefined) {
        const explicit = splitPemCertificates(input.issuerCertificate);
        const cert = explicit.length === 1 ? parseOne(explicit[0]) : undefined;
        if (!cert) error("ocsp.issuerCertificate", "must hold exactly one PEM certificate");
        else if (!isIssuedBy(leaf, cert)) error("ocsp.issuerCertificate", `${describeCert(cert)} did not issue the leaf ${describeCert(leaf)}`);
        else {
            issuer = cert;
            issuerPem = explicit[0];
        }
    }
    report.issuerPem = issuer ? issuerPem : undefined;
    const untrusted = new Map(ordered.slice(1).map((p) => [p.cert.fingerprint256, p.pem]));
    if (issuer && !untrusted.has(issuer.fingerprint256)) untrusted.set(issuer.fingerprint256, splitPemCertificates(issuerPem!)[0]);
    report.untrustedPem = [...untrusted.values()].join("") || undefined;
    const caPems = ordered.slice(1).map((p) => p.pem);
    if (input.rootCertificate !== undefined && root && !ordered.some((p) => p.cert.fingerprint256 === root!.fingerprint256)) caPems.push(splitPemCertificates(input.rootCertificate)[0]);
    report.caBundlePem = caPems.join("") || undefined;
    if (report.ocspUri !== undefined) {
        if (!/^https?:\/\/[^\s'"\\]+$/.test(report.ocspUri)) {
            error("certificateChain", `the leaf's OCSP URI ${JSON.stringify(report.ocspUri)} is not a plain http(s) URL`);
        }
        if (!issuer) {
            error("certificateChain", `the leaf names an OCSP responder but its issuer is not in the bundle: h2o takes the issuer from the SECOND certificate of the file, so stapling would be silently off; add the intermediate (or set ocsp.issuerCertificate)`);
        }
    }
    return report;
}
