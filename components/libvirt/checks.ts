/**
 * Pure validation of {@link LiveMigrationArgs}: every problem at once, located by
 * its args path, before anything is declared. TLS material is checked with Node's
 * X509Certificate the way libvirt (gnutls) will check it on the host.
 */
import type { X509Certificate } from "crypto";
import { certificateExtension, derOnly, isIssuedBy, keyMatchesCertificate, parseCertificate } from "../../core/x509";
import { isIP } from "net";
import type { Issue } from "../../core/errors";
import type { LiveMigrationArgs, NodeTls } from "./args";
import { NEWTON, NEWTON_OPTIONS, novaMajor, releaseNames, STEIN } from "./nova";
import { migrationPorts } from "./dataplane";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const EXPIRY_WARNING_DAYS = 30;
const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The address peers dial for a node. */
export function migrationAddressOf(node: { migrationAddress?: string; host: { address: string } }): string {
    return node.migrationAddress ?? node.host.address;
}

/**
 * The DN libvirt compares with `tls_allowed_dn_list`: gnutls' RFC 4514 string, last
 * RDN first (`CN=client,O=Example,C=GB`), special characters escaped (`\,`).
 */
export function libvirtDn(cert: X509Certificate): string {
    // Node prints one RDN per line, values already escaped the RFC 4514 way (OpenSSL's printer)
    return cert.subject
        .split("\n")
        .filter((rdn) => rdn !== "")
        .reverse()
        .join(",");
}

/** libvirt matches DNs with shell-style globs (`*`, `?`; g_pattern_match_simple). */
export function dnPatternMatches(pattern: string, dn: string): boolean {
    const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp(`^${re}$`, "s").test(dn);
}

/** Splits PEM text into its certificate blocks. */
export function pemCertificates(text: string): string[] {
    return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

interface Found {
    issues: Issue[];
    error(path: string, message: string): void;
    warn(path: string, message: string): void;
}

function collector(): Found {
    const issues: Issue[] = [];
    return { issues, error: (path, message) => issues.push({ path, message, severity: "error" }), warn: (path, message) => issues.push({ path, message, severity: "warning" }) };
}

function parseCertificates(text: string, path: string, out: Found): X509Certificate[] | undefined {
    const blocks = pemCertificates(text);
    if (blocks.length === 0) {
        out.error(path, "must be PEM text with at least one '-----BEGIN CERTIFICATE-----' block");
        return undefined;
    }
    const certs: X509Certificate[] = [];
    for (const [i, block] of blocks.entries()) {
        try {
            certs.push(parseCertificate(block));
        } catch (e) {
            out.error(path, `certificate ${i + 1} cannot be parsed: ${(e as Error).message}`);
            return undefined;
        }
    }
    return certs;
}

function checkValidity(cert: X509Certificate, what: string, path: string, now: Date, out: Found): void {
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    if (from > now) out.error(path, `${what} is not valid before ${from.toISOString()}`);
    else if (to < now) out.error(path, `${what} expired on ${to.toISOString()}`);
    else if (to.getTime() - now.getTime() < EXPIRY_WARNING_DAYS * 86400_000) out.warn(path, `${what} expires on ${to.toISOString()}, in less than ${EXPIRY_WARNING_DAYS} days`);
}

/**
 * The keyUsage extension (2.5.29.15) read from the DER: Node does not expose it.
 * Returns undefined when the certificate has none.
 */
export function keyUsageOf(cert: X509Certificate): { critical: boolean; digitalSignature: boolean; keyEncipherment: boolean } | undefined {
    const extension = certificateExtension(cert, "551d0f");
    // BIT STRING { unused bits, the first byte of flags (digitalSignature is bit 0), ... }
    const bits = extension && derOnly(extension.value, 0x03);
    if (!bits) return undefined;
    const flags = bits.body[1] ?? 0;
    return { critical: extension.critical, digitalSignature: (flags & 0x80) !== 0, keyEncipherment: (flags & 0x20) !== 0 };
}

/**
 * libvirt (virnettlscontext.c) wants digitalSignature and keyEncipherment in a leaf's
 * keyUsage, whatever the key type: missing from a critical keyUsage, it refuses the
 * certificate ("usage does not permit key encipherment"); from a non-critical one, it
 * logs that line as a warning and goes on. For an EC or EdDSA key keyEncipherment has
 * no use (TLS signs with it; the key exchange is ECDHE), so CAs often leave it out.
 */
function checkKeyUsage(leaf: X509Certificate, kind: "server" | "client", path: string, out: Found): void {
    const keyUsage = keyUsageOf(leaf);
    if (!keyUsage) return;
    const missing = [keyUsage.digitalSignature ? "" : "digitalSignature", keyUsage.keyEncipherment ? "" : "keyEncipherment"].filter(Boolean);
    if (missing.length === 0) return;
    const keyType = leaf.publicKey.asymmetricKeyType ?? "unknown";
    const rsa = keyType === "rsa" || keyType === "rsa-pss";
    const onlyEncipherment = missing.length === 1 && missing[0] === "keyEncipherment";
    const logged = missing.map((m) => `"usage does not permit ${m === "digitalSignature" ? "digital signature" : "key encipherment"}"`).join(" and ");
    if (keyUsage.critical) {
        const advice = !rsa && onlyEncipherment
            ? `; keyEncipherment has no use for this ${keyType.toUpperCase()} key, but libvirt requires it in a critical keyUsage: reissue it with keyUsage not critical, or with keyEncipherment`
            : "; reissue it with both";
        out.error(path, `its critical keyUsage lacks ${missing.join(" and ")}; libvirt refuses such a ${kind} certificate (${logged})${advice}`);
    } else {
        const effect = rsa
            ? onlyEncipherment
                ? "; TLS still works through ECDHE key exchange, not with RSA key transport"
                : ""
            : onlyEncipherment
              ? `; harmless for this ${keyType.toUpperCase()} key (it only signs)`
              : "";
        out.warn(path, `its keyUsage lacks ${missing.join(" and ")}: libvirt accepts the ${kind} certificate but logs ${logged} at every start${effect}`);
    }
}

/**
 * libvirt validates each certificate against the CA file alone (its own at
 * startup: "Our own certificate ... failed validation against cacert.pem", found in
 * the lab), so the issuer must be in `tls.caCertificate`, intermediates included.
 */
function issuerProblem(leaf: X509Certificate, cas: X509Certificate[]): string | undefined {
    if (cas.some((c) => isIssuedBy(leaf, c))) return undefined;
    return `is not signed by a certificate of tls.caCertificate (issuer: ${leaf.issuer.replace(/\n/g, ", ")}); libvirt checks certificates against that file only, so an intermediate CA belongs there`;
}

function checkLeafKey(leaf: X509Certificate, keyPem: string, kind: "server" | "client", path: string, out: Found): void {
    try {
        if (!keyMatchesCertificate(leaf, keyPem)) out.error(path, `does not match the ${kind} certificate (${leaf.subject.replace(/\n/g, ", ")})`);
    } catch {
        out.error(path, "is not an unencrypted PEM private key (libvirt cannot use an encrypted key)");
    }
}

/** The certificate whose key checkLeaf compares, when it gets that far (every block parsed, a leaf first). */
function keyedLeaf(pem: string): X509Certificate | undefined {
    const leaf = parseCertificates(pem, "", collector())?.[0];
    return leaf && !leaf.ca ? leaf : undefined;
}

/**
 * The key check of node `index`'s `serverKey` or `clientKey` alone, for a key known
 * only after the other arguments were checked: the issues {@link checkLiveMigration}
 * reports for that key when given the same value plainly.
 */
export function checkNodeKey(args: LiveMigrationArgs, index: number, field: KeyField, keyPem: string): Issue[] {
    const tls = args.nodes[index].tls!;
    const kind = field === "serverKey" ? "server" : "client";
    const leaf = keyedLeaf(kind === "server" ? tls.serverCertificate : tls.clientCertificate);
    const out = collector();
    if (leaf) checkLeafKey(leaf, keyPem, kind, `nodes[${index}].tls.${field}`, out);
    return withHostNames(args.nodes, out.issues);
}

function checkLeaf(
    pem: string,
    keyPem: string | undefined,
    kind: "server" | "client",
    at: { cert: string; key: string },
    cas: X509Certificate[] | undefined,
    dialed: string | undefined,
    now: Date,
    out: Found,
): void {
    const certs = parseCertificates(pem, at.cert, out);
    if (!certs) return;
    const [leaf, ...rest] = certs;
    if (leaf.ca) {
        out.error(at.cert, `starts with a CA certificate (${leaf.subject.replace(/\n/g, ", ")}); give the ${kind} certificate itself here, CA certificates go into tls.caCertificate`);
        return;
    }
    checkValidity(leaf, `the ${kind} certificate`, at.cert, now, out);
    if (rest.length > 0) {
        out.error(at.cert, `holds ${certs.length} certificates; libvirt validates the ${kind} certificate against tls.caCertificate alone, so give only the leaf here and put intermediate CA certificates into tls.caCertificate`);
    }
    checkKeyUsage(leaf, kind, at.cert, out);
    const usage = kind === "server" ? SERVER_AUTH : CLIENT_AUTH;
    if (leaf.keyUsage && leaf.keyUsage.length > 0 && !leaf.keyUsage.includes(usage)) {
        out.error(at.cert, `extended key usage lacks ${kind}Auth (${usage}); libvirt rejects it for the ${kind} side`);
    }
    if (dialed !== undefined) {
        const covered = isIP(dialed) ? leaf.checkIP(dialed) : leaf.checkHost(dialed, { wildcards: true });
        if (!covered) out.error(at.cert, `does not cover ${dialed}, the address its peers dial (subjectAltName: ${leaf.subjectAltName ?? "none"})`);
    }
    // A key whose text is not known here is checked once known (checkNodeKey).
    if (keyPem !== undefined) checkLeafKey(leaf, keyPem, kind, at.key, out);
    if (cas) {
        const problem = issuerProblem(leaf, cas);
        if (problem) out.error(at.cert, `the ${kind} certificate ${problem}`);
    }
}

/** Which private key of a node: its server's or its client's. */
export type KeyField = "serverKey" | "clientKey";

/**
 * The clear text of node `index`'s key when the args hold it as a Pulumi output (the
 * stack section's secrets), so that it is checked with the rest; undefined: not known.
 */
export type KeyText = (index: number, field: KeyField) => string | undefined;

function checkNodeTls(tls: NodeTls, index: number, cas: X509Certificate[] | undefined, dialed: string | undefined, now: Date, out: Found, keyText?: KeyText): void {
    const base = `nodes[${index}].tls`;
    const key = (field: KeyField) => (typeof tls[field] === "string" ? tls[field] : keyText?.(index, field));
    checkLeaf(tls.serverCertificate, key("serverKey"), "server", { cert: `${base}.serverCertificate`, key: `${base}.serverKey` }, cas, dialed, now, out);
    checkLeaf(tls.clientCertificate, key("clientKey"), "client", { cert: `${base}.clientCertificate`, key: `${base}.clientKey` }, cas, undefined, now, out);
}

function checkNova(args: LiveMigrationArgs, transport: string, out: Found): void {
    const nova = args.nova;
    if (!nova) return;
    const major = novaMajor(nova.release);
    if (major === undefined) {
        out.error("nova.release", `unknown nova release ${JSON.stringify(nova.release)}; use one of ${releaseNames()}`);
        return;
    }
    if (major < NEWTON) {
        for (const option of NEWTON_OPTIONS) {
            if (nova[option] !== undefined) out.error(`nova.${option}`, `needs nova newton (14) or later; ${nova.release} has only the migration flags`);
        }
        // Before live_migration_inbound_addr, nova puts the target's compute host name into the URI.
        if (transport === "tls") {
            (args.nodes ?? []).forEach((node, i) => {
                if (isIP(migrationAddressOf(node)) !== 0) {
                    out.warn(`nodes[${i}].migrationAddress`, `nova ${nova.release} dials the compute service's host name, not ${migrationAddressOf(node)}: set migrationAddress to that name and cover it in the server certificate`);
                }
            });
        }
    }
    if (nova.nativeTls) {
        if (transport !== "tls") out.error("nova.nativeTls", "needs transport tls (QEMU uses the same certificates)");
        if (major < STEIN) out.error("nova.nativeTls", `needs nova stein (19) or later, not ${nova.release}`);
    }
    if (nova.configPath !== undefined && (!/^\/[^\0\n]*[^/]$/.test(nova.configPath) || nova.configPath.split("/").includes(".."))) out.error("nova.configPath", "must be an absolute file path without '..'");
    if (nova.service !== undefined && !/^[A-Za-z0-9@._-]+$/.test(nova.service)) out.error("nova.service", "must be a service name (letters, digits, '@', '.', '_', '-')");
    if (nova.qemuGroup !== undefined && !/^[a-z_][a-z0-9_-]*$/i.test(nova.qemuGroup)) out.error("nova.qemuGroup", "must be a group name");
    if (nova.cpuMode !== undefined && !["host-model", "host-passthrough", "custom", "none"].includes(nova.cpuMode)) out.error("nova.cpuMode", 'must be "host-model", "host-passthrough", "custom" or "none"');
    if (nova.cpuModels !== undefined && nova.cpuMode !== "custom") out.error("nova.cpuModels", 'is only used with cpuMode "custom"');
    if (nova.cpuMode === "custom") {
        const models = nova.cpuModels ?? [];
        if (models.length === 0) out.error("nova.cpuModels", 'needs at least one CPU model with cpuMode "custom" (e.g. Skylake-Server-IBRS; virsh cpu-models x86_64)');
        else if (major < STEIN && models.length > 1) out.error("nova.cpuModels", `nova ${nova.release} takes one model (cpu_model); lists need stein (19) or later`);
        models.forEach((m, i) => {
            if (!/^[A-Za-z0-9_.-]{1,64}$/.test(m)) out.error(`nova.cpuModels[${i}]`, `${JSON.stringify(m)} must be a libvirt CPU model name (letters, digits, '_', '.', '-')`);
        });
    }
    for (const key of ["bandwidthMiBps", "maxDowntimeMs", "completionTimeoutSeconds"] as const) {
        const v = nova[key];
        if (v !== undefined && (!Number.isInteger(v) || v < 0)) out.error(`nova.${key}`, "must be a whole number >= 0");
    }
}

/** QEMU's migration port range: ports, in order, apart from libvirt's own port. */
function checkMigrationPorts(args: LiveMigrationArgs, transport: string, out: Found): void {
    const { min, max } = migrationPorts(args);
    let valid = true;
    for (const key of ["migrationPortMin", "migrationPortMax"] as const) {
        const v = args[key];
        if (v !== undefined && (!Number.isInteger(v) || v < 1024 || v > 65535)) {
            out.error(key, `${JSON.stringify(v)} must be a TCP port 1024-65535`);
            valid = false;
        }
    }
    if (!valid) return;
    if (min > max) out.error("migrationPortMax", `${max} is below migrationPortMin ${min}`);
    const libvirtPort = transport === "tcp" ? (args.tcpPort ?? 16509) : transport === "tls" ? (args.tlsPort ?? 16514) : undefined;
    if (libvirtPort !== undefined && libvirtPort >= min && libvirtPort <= max) out.error("migrationPortMin", `the range ${min}-${max} holds libvirt's own port ${libvirtPort}; QEMU would take it`);
}

/**
 * Every problem in the args; warnings carry `severity: "warning"`. `now` is injectable for
 * tests. A key given as a Pulumi output is checked here only when `keyText` knows its clear
 * text; otherwise {@link checkNodeKey} checks it once known.
 */
export function checkLiveMigration(args: LiveMigrationArgs, now: Date = new Date(), keyText?: KeyText): Issue[] {
    const out = collector();
    const transport = args.transport ?? "tls";
    const auth = args.auth ?? (transport === "tcp" ? "sasl" : "none");

    if (!["tls", "tcp", "ssh"].includes(transport)) out.error("transport", `must be "tls", "tcp" or "ssh", not ${JSON.stringify(transport)}`);
    if (!["none", "sasl"].includes(auth)) out.error("auth", `must be "none" or "sasl", not ${JSON.stringify(auth)}`);

    if (!Array.isArray(args.nodes) || args.nodes.length < 2) out.error("nodes", "needs at least two nodes: live migration is between nodes");
    const nodes = Array.isArray(args.nodes) ? args.nodes : [];
    const hostSeen = new Map<string, number>();
    const addressSeen = new Map<string, number>();
    const uuidSeen = new Map<string, number>();
    nodes.forEach((node, i) => {
        const at = `nodes[${i}]`;
        if (hostSeen.has(node.host.name)) out.error(`${at}.host`, `host ${node.host.name} is already nodes[${hostSeen.get(node.host.name)}]`);
        hostSeen.set(node.host.name, i);
        const dialed = migrationAddressOf(node);
        if (isIP(dialed) === 0 && !DNS_NAME.test(dialed)) out.error(`${at}.migrationAddress`, `${JSON.stringify(dialed)} must be an IP address or a DNS name`);
        else if (addressSeen.has(dialed)) out.error(`${at}.migrationAddress`, `${dialed} is also the migration address of nodes[${addressSeen.get(dialed)}]`);
        addressSeen.set(dialed, i);
        if (node.listenAddress !== undefined && isIP(node.listenAddress) === 0) out.error(`${at}.listenAddress`, `${JSON.stringify(node.listenAddress)} must be an IP address`);
        if (node.listenAddress !== undefined && transport === "ssh") out.error(`${at}.listenAddress`, "has no effect with transport ssh (libvirt does not listen on the network)");
        if (node.tls && transport !== "tls") out.error(`${at}.tls`, `TLS material is only used with transport tls, not ${transport}`);
        if (!node.tls && transport === "tls") out.error(`${at}.tls`, "is required with transport tls: serverCertificate, serverKey, clientCertificate, clientKey");
        if (node.hostUuid !== undefined) {
            const uuid = node.hostUuid.toLowerCase();
            if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uuid)) out.error(`${at}.hostUuid`, `${JSON.stringify(node.hostUuid)} must be a UUID like 8e2b8ac2-6f5a-4a4c-9d38-2f0f2b3c9a11 (uuidgen)`);
            else if (/^(.)\1*$/.test(uuid.replace(/-/g, ""))) out.error(`${at}.hostUuid`, `${uuid} repeats one digit; libvirt rejects such a host UUID`);
            else if (uuidSeen.has(uuid)) out.error(`${at}.hostUuid`, `${uuid} is also the hostUuid of nodes[${uuidSeen.get(uuid)}] (${nodes[uuidSeen.get(uuid)!].host.name}); migrations between them would fail with "Attempt to migrate guest to the same host"`);
            uuidSeen.set(uuid, i);
        }
    });

    if (transport === "tcp" && auth === "none") {
        if (args.allowUnauthenticatedTcp) {
            out.warn("allowUnauthenticatedTcp", "libvirt will accept unauthenticated, unencrypted TCP connections: anyone who reaches the port can start, read and destroy VMs as root on every node; use transport tls or auth sasl outside an isolated network");
        } else {
            out.error("auth", 'transport tcp with auth "none" lets anyone who reaches port 16509 control every VM as root; use auth "sasl", transport "tls", or set allowUnauthenticatedTcp: true to accept that risk');
        }
    } else if (args.allowUnauthenticatedTcp) {
        out.warn("allowUnauthenticatedTcp", `has no effect with transport ${transport} and auth ${auth}`);
    }
    if (transport === "tcp" && auth === "sasl" && args.sasl && (args.sasl.mechanism ?? "digest-md5") === "digest-md5") {
        out.warn("sasl.mechanism", "DIGEST-MD5 over plain TCP authenticates, but the migration control channel and the guest data are not encrypted; prefer transport tls on untrusted networks");
    }

    if (transport === "ssh" && auth === "sasl") out.error("auth", "SASL applies to libvirt's TCP/TLS socket, not to transport ssh");
    if (auth === "sasl") {
        const sasl = args.sasl;
        if (!sasl) out.error("sasl", "is required with auth sasl: { username, password }");
        else {
            if (sasl.username !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(sasl.username)) out.error("sasl.username", "must be 1-64 letters, digits, '.', '_', '-'");
            if (typeof sasl.password !== "string" || sasl.password.length < 8) out.error("sasl.password", "must be at least 8 characters");
            else if (/[\0\r\n]/.test(sasl.password)) out.error("sasl.password", "must not contain line breaks or NUL bytes");
            if (sasl.mechanism === "scram-sha-256" && transport !== "tls") out.error("sasl.mechanism", "scram-sha-256 needs transport tls (libvirt refuses it on an unencrypted channel); use digest-md5 over tcp");
            if (sasl.mechanism !== undefined && !["digest-md5", "scram-sha-256"].includes(sasl.mechanism)) out.error("sasl.mechanism", 'must be "digest-md5" or "scram-sha-256"');
            if (sasl.clientGroup !== undefined && !/^[a-z_][a-z0-9_-]*$/i.test(sasl.clientGroup)) out.error("sasl.clientGroup", "must be a group name");
        }
    } else if (args.sasl) out.error("sasl", `is only used with auth sasl, not ${auth}`);

    if (transport === "tls") {
        if (!args.tls?.caCertificate) out.error("tls.caCertificate", "is required with transport tls");
        const cas = args.tls?.caCertificate ? parseCertificates(args.tls.caCertificate, "tls.caCertificate", out) : undefined;
        cas?.forEach((ca, i) => {
            if (!ca.ca) out.error("tls.caCertificate", `certificate ${i + 1} (${ca.subject.replace(/\n/g, ", ")}) is not a CA certificate`);
            checkValidity(ca, `CA certificate ${i + 1}`, "tls.caCertificate", now, out);
        });
        const badPattern = (dn: string) => !dn || /["\\\n\r\0]/.test(dn);
        (args.tls?.allowedClientDns ?? []).forEach((dn, i) => {
            if (badPattern(dn)) out.error(`tls.allowedClientDns[${i}]`, "must be a non-empty DN pattern without quotes, backslashes or line breaks");
        });
        nodes.forEach((node, i) => {
            const dialed = migrationAddressOf(node);
            // An invalid address is reported once, above.
            if (node.tls) checkNodeTls(node.tls, i, cas, isIP(dialed) !== 0 || DNS_NAME.test(dialed) ? dialed : undefined, now, out, keyText);
        });
        // Every node's client certificate must pass its peers' tls_allowed_dn_list, or they refuse it.
        const patterns = args.tls?.allowedClientDns;
        if (patterns && patterns.length > 0 && !patterns.some(badPattern)) {
            nodes.forEach((node) => {
                const [client] = node.tls ? pemCertificates(node.tls.clientCertificate) : [];
                if (!client) return;
                let dn: string;
                try {
                    dn = libvirtDn(parseCertificate(client));
                } catch {
                    return; // reported with the certificate
                }
                if (!patterns.some((p) => dnPatternMatches(p, dn))) {
                    out.error("tls.allowedClientDns", `matches no pattern for the client certificate of ${node.host.name} (DN ${JSON.stringify(dn)}): its peers would refuse its connections; add that DN (patterns may use * and ?) or leave allowedClientDns out`);
                }
            });
        } else if (patterns && patterns.length === 0) {
            out.error("tls.allowedClientDns", "is empty: libvirt would refuse every client; leave it out to allow any certificate the CA signed");
        }
    } else if (args.tls) out.error("tls", `is only used with transport tls, not ${transport}`);

    for (const key of ["tcpPort", "tlsPort"] as const) {
        const v = args[key];
        if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535)) out.error(key, "must be a TCP port 1-65535");
    }
    if ((args.tcpPort ?? 16509) === (args.tlsPort ?? 16514)) out.error("tlsPort", "must differ from tcpPort");
    checkMigrationPorts(args, transport, out);
    checkNova(args, transport, out);
    return withHostNames(nodes, out.issues);
}

/** A node's problem names its host as well as its path. */
function withHostNames(nodes: LiveMigrationArgs["nodes"], issues: Issue[]): Issue[] {
    return issues.map((issue) => {
        const m = /^nodes\[(\d+)\]/.exec(issue.path);
        const host = m ? nodes[Number(m[1])]?.host?.name : undefined;
        return host ? { ...issue, message: `(host ${host}) ${issue.message}` } : issue;
    });
}
