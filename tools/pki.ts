/**
 * A small test PKI on top of the `openssl` command line: root CAs, intermediates,
 * leaf certificates (SANs, OCSP URI, serverAuth/clientAuth, any validity window),
 * revocation, and the `index.txt` that `openssl ocsp` answers from.
 *
 * Every CA is an `openssl ca` directory (config, `index.txt`, `serial`), so the
 * index is always what `openssl ocsp -index` expects and revocation is the real
 * `openssl ca -revoke`. Programs are run with argument vectors (no shell), so
 * names may hold any character.
 *
 * ```ts
 * const pki = new Pki(mkdtempSync("/tmp/pki-"));
 * const root = pki.rootCa({ commonName: "Test Root" });
 * const inter = pki.intermediateCa(root, { commonName: "Test Intermediate" });
 * const leaf = pki.leaf(inter, { commonName: "www.example.test", dnsNames: ["www.example.test"], ocspUrl: "http://127.0.0.1:8888" });
 * pki.revoke(inter, leaf);
 * spawn("openssl", pki.ocspResponderArgs(inter, { port: 8888 }));
 * ```
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import { mkdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";

/** Key algorithm of a generated key. EC P-256 is the default: fast to generate. */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072";

/** A certificate with its private key, as PEM text and as files in the PKI directory. */
export interface IssuedCert {
    /** File-name stem inside the PKI directory (unique per Pki). */
    id: string;
    certPath: string;
    keyPath: string;
    certPem: string;
    keyPem: string;
    /** Serial number, upper-case hex, as in `index.txt`. */
    serial: string;
}

/** A CA that can issue: its certificate plus its `openssl ca` directory. */
export interface CertificateAuthority extends IssuedCert {
    /** The `openssl ca` directory: `ca.cnf`, `index.txt`, `serial`, `newcerts/`. */
    dir: string;
    /** `openssl ca` configuration file. */
    configPath: string;
    /** The CA database that `openssl ocsp -index` reads. */
    indexPath: string;
    /** The issuing chain above this CA, nearest first (empty for a root). */
    parents: CertificateAuthority[];
}

/** Validity window. Defaults: starts one hour ago, lasts `days`. */
export interface Validity {
    /** @default 365 (roots 3650) */
    days?: number;
    /** Start of validity. @default one hour before now */
    notBefore?: Date;
    /** End of validity; overrides `days`. Set it in the past for an expired certificate. */
    notAfter?: Date;
}

export interface CaOptions extends Validity {
    commonName: string;
    /** Organization (O=). @default none */
    organization?: string;
    /** @default "ec-p256" */
    keyType?: KeyType;
    /** basicConstraints pathlen. @default none for roots, 0 for intermediates */
    pathLength?: number;
    /** OCSP URI written into the CA certificate's authorityInfoAccess (for checking an intermediate). @default none */
    ocspUrl?: string;
}

export interface LeafOptions extends Validity {
    commonName: string;
    /** subjectAltName DNS entries. @default [commonName] when it looks like a host name, else [] */
    dnsNames?: string[];
    /** subjectAltName IP entries. @default [] */
    ipAddresses?: string[];
    /** OCSP responder URI (authorityInfoAccess `OCSP;URI:`). @default none: the leaf has no OCSP URI */
    ocspUrl?: string;
    /** CA Issuers URI (authorityInfoAccess `caIssuers;URI:`). @default none */
    caIssuersUrl?: string;
    /** extendedKeyUsage. @default ["serverAuth"] */
    usages?: Array<"serverAuth" | "clientAuth" | "OCSPSigning">;
    /** @default "ec-p256" */
    keyType?: KeyType;
    /** Issue the leaf as a CA certificate (basicConstraints CA:TRUE), to test a CA in leaf position. @default false */
    isCa?: boolean;
    /** Add the TLS Feature extension with status_request (OCSP Must-Staple, RFC 7633). @default false */
    mustStaple?: boolean;
}

/** Options of {@link Pki.ocspResponderArgs}. */
export interface ResponderOptions {
    /** TCP port; `openssl ocsp` (3.x) binds it on every address, so run it inside a network namespace. */
    port: number;
    /** Certificate that signs the responses: the CA itself or a delegated OCSP signer it issued. @default the CA */
    signer?: IssuedCert;
    /** Exit after this many requests. @default unlimited */
    requests?: number;
}

/** Revocation reasons that `openssl ca -crl_reason` accepts. */
export type RevocationReason = "unspecified" | "keyCompromise" | "CACompromise" | "affiliationChanged" | "superseded" | "cessationOfOperation" | "certificateHold";

export class Pki {
    private counter = 0;

    /** @param dir an empty directory that will hold every key, certificate and CA database */
    constructor(readonly dir: string) {
        mkdirSync(dir, { recursive: true });
    }

    /** A self-signed root CA. */
    rootCa(options: CaOptions): CertificateAuthority {
        const id = this.nextId(options.commonName);
        const ca = this.caDirectory(id);
        const keyPath = this.generateKey(id, options.keyType);
        const csr = join(this.dir, `${id}.csr`);
        openssl("req", "-new", "-key", keyPath, "-subj", subject(options.commonName, options.organization), "-out", csr);
        const ext = this.extensionFile(id, caExtensions(options.pathLength, options.ocspUrl));
        const certPath = join(this.dir, `${id}.pem`);
        openssl("ca", "-batch", "-selfsign", "-config", ca.configPath, "-keyfile", keyPath, "-in", csr, "-out", certPath, "-notext", "-preserveDN", "-extfile", ext, "-extensions", "ext", ...validityArgs({ days: 3650, ...options }));
        return { ...ca, ...this.issued(id, certPath, keyPath), parents: [] };
    }

    /** An intermediate CA issued by `issuer` (a root or another intermediate). */
    intermediateCa(issuer: CertificateAuthority, options: CaOptions): CertificateAuthority {
        const id = this.nextId(options.commonName);
        const ca = this.caDirectory(id);
        const issued = this.issue(issuer, id, options.commonName, options.organization, options.keyType, caExtensions(options.pathLength ?? 0, options.ocspUrl), options);
        return { ...ca, ...issued, parents: [issuer, ...issuer.parents] };
    }

    /** An end-entity certificate issued by `issuer`. */
    leaf(issuer: CertificateAuthority, options: LeafOptions): IssuedCert {
        const id = this.nextId(options.commonName);
        const looksLikeHost = /^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(options.commonName);
        const dns = options.dnsNames ?? (looksLikeHost ? [options.commonName] : []);
        const san = [...dns.map((d) => `DNS:${d}`), ...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`)];
        const aia = [...(options.ocspUrl ? [`OCSP;URI:${options.ocspUrl}`] : []), ...(options.caIssuersUrl ? [`caIssuers;URI:${options.caIssuersUrl}`] : [])];
        const usages = options.usages ?? ["serverAuth"];
        const lines = options.isCa
            ? ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, digitalSignature, keyCertSign, cRLSign"]
            : ["basicConstraints = critical, CA:FALSE", `keyUsage = critical, digitalSignature${usages.includes("OCSPSigning") ? "" : ", keyEncipherment"}`];
        lines.push("subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid");
        if (usages.length > 0) lines.push(`extendedKeyUsage = ${usages.join(", ")}`);
        if (san.length > 0) lines.push(`subjectAltName = ${san.join(", ")}`);
        if (aia.length > 0) lines.push(`authorityInfoAccess = ${aia.join(", ")}`);
        if (options.mustStaple) lines.push("tlsfeature = status_request");
        return this.issue(issuer, id, options.commonName, undefined, options.keyType, lines, options);
    }

    /** A delegated OCSP signing certificate (extendedKeyUsage OCSPSigning, with id-pkix-ocsp-nocheck). */
    ocspSigner(issuer: CertificateAuthority, commonName = `${issuer.id} OCSP signer`): IssuedCert {
        const id = this.nextId(commonName);
        const lines = ["basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature", "extendedKeyUsage = OCSPSigning", "noCheck = ignored", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"];
        return this.issue(issuer, id, commonName, undefined, "ec-p256", lines, {});
    }

    /** Marks `cert` revoked in `issuer`'s `index.txt` (what `openssl ocsp` answers from). */
    revoke(issuer: CertificateAuthority, cert: IssuedCert, reason: RevocationReason = "keyCompromise"): void {
        openssl("ca", "-batch", "-config", issuer.configPath, "-cert", issuer.certPath, "-keyfile", issuer.keyPath, "-revoke", cert.certPath, "-crl_reason", reason);
    }

    /**
     * Arguments for `openssl` that run an OCSP responder answering for certificates
     * issued by `ca` from its `index.txt` (`spawn("openssl", args)`). It logs to stderr
     * and serves until killed (or `requests` requests).
     */
    ocspResponderArgs(ca: CertificateAuthority, options: ResponderOptions): string[] {
        const signer = options.signer ?? ca;
        return [
            "ocsp",
            "-index", ca.indexPath,
            "-port", String(options.port),
            "-CA", ca.certPath,
            "-rsigner", signer.certPath,
            "-rkey", signer.keyPath,
            "-ignore_err",
            // A nextUpdate, so clients (and h2o) accept the response as current.
            "-nmin", "60",
            ...(options.requests ? ["-nrequest", String(options.requests)] : []),
        ];
    }

    /** PEM text of the chain `leaf, issuer, ..., root` (trust order), optionally without the root. */
    chainPem(cert: IssuedCert, issuer: CertificateAuthority, options: { includeRoot?: boolean } = {}): string {
        const cas = [issuer, ...issuer.parents].filter((c) => options.includeRoot || c.parents.length > 0);
        return [cert, ...cas].map((c) => c.certPem.trim() + "\n").join("");
    }

    /** Writes `content` to a file in the PKI directory and returns its path. */
    writeFile(name: string, content: string): string {
        const path = join(this.dir, name.replace(/[^A-Za-z0-9._-]/g, "_"));
        writeFileSync(path, content);
        return path;
    }

    private issue(issuer: CertificateAuthority, id: string, commonName: string, organization: string | undefined, keyType: KeyType | undefined, extensions: string[], validity: Validity): IssuedCert {
        const keyPath = this.generateKey(id, keyType);
        const csr = join(this.dir, `${id}.csr`);
        openssl("req", "-new", "-key", keyPath, "-subj", subject(commonName, organization), "-out", csr);
        const certPath = join(this.dir, `${id}.pem`);
        const ext = this.extensionFile(id, extensions);
        openssl("ca", "-batch", "-config", issuer.configPath, "-cert", issuer.certPath, "-keyfile", issuer.keyPath, "-in", csr, "-out", certPath, "-notext", "-preserveDN", "-extfile", ext, "-extensions", "ext", ...validityArgs(validity));
        return this.issued(id, certPath, keyPath);
    }

    private issued(id: string, certPath: string, keyPath: string): IssuedCert {
        const certPem = readFileSync(certPath, "utf8");
        const serial = openssl("x509", "-in", certPath, "-noout", "-serial").trim().replace(/^serial=/, "");
        return { id, certPath, keyPath, certPem, keyPem: readFileSync(keyPath, "utf8"), serial };
    }

    private nextId(commonName: string): string {
        this.counter += 1;
        return `${String(this.counter).padStart(2, "0")}-${commonName.replace(/[^A-Za-z0-9.-]/g, "_").slice(0, 40)}`;
    }

    private generateKey(id: string, keyType: KeyType = "ec-p256"): string {
        const keyPath = join(this.dir, `${id}.key`);
        const algorithm = keyType.startsWith("rsa")
            ? ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${keyType.slice(4)}`]
            : ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${keyType === "ec-p384" ? "P-384" : "P-256"}`];
        openssl("genpkey", ...algorithm, "-out", keyPath);
        return keyPath;
    }

    private extensionFile(id: string, lines: string[]): string {
        const path = join(this.dir, `${id}.ext.cnf`);
        writeFileSync(path, `[ ext ]\n${lines.join("\n")}\n`);
        return path;
    }

    private caDirectory(id: string): Pick<CertificateAuthority, "dir" | "configPath" | "indexPath"> {
        const dir = join(this.dir, `${id}.ca`);
        mkdirSync(join(dir, "newcerts"), { recursive: true });
        const indexPath = join(dir, "index.txt");
        writeFileSync(indexPath, "");
        writeFileSync(join(dir, "index.txt.attr"), "unique_subject = no\n");
        // Random serials: certificates of different CAs in one PKI never share one.
        writeFileSync(join(dir, "serial"), `${randomSerial()}\n`);
        const configPath = join(dir, "ca.cnf");
        writeFileSync(
            configPath,
            [
                "[ ca ]",
                "default_ca = ca_default",
                "[ ca_default ]",
                `database = ${indexPath}`,
                `new_certs_dir = ${join(dir, "newcerts")}`,
                `serial = ${join(dir, "serial")}`,
                "default_md = sha256",
                "default_days = 365",
                "policy = policy_any",
                "unique_subject = no",
                "copy_extensions = none",
                "[ policy_any ]",
                "commonName = supplied",
                "organizationName = optional",
                "",
            ].join("\n"),
        );
        return { dir, configPath, indexPath };
    }
}

function caExtensions(pathLength: number | undefined, ocspUrl: string | undefined): string[] {
    return [
        `basicConstraints = critical, CA:TRUE${pathLength === undefined ? "" : `, pathlen:${pathLength}`}`,
        "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        ...(ocspUrl ? [`authorityInfoAccess = OCSP;URI:${ocspUrl}`] : []),
    ];
}

/** `/CN=.../O=...` with `/`, `+`, `=` and `\` escaped as `openssl -subj` expects. */
function subject(commonName: string, organization?: string): string {
    const esc = (v: string) => v.replace(/[\\/+=]/g, (c) => `\\${c}`);
    return `${organization ? `/O=${esc(organization)}` : ""}/CN=${esc(commonName)}`;
}

function validityArgs(v: Validity): string[] {
    const notBefore = v.notBefore ?? new Date(Date.now() - 3600_000);
    const notAfter = v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? 365) * 86400_000);
    return ["-startdate", asn1Time(notBefore), "-enddate", asn1Time(notAfter)];
}

/** GeneralizedTime `YYYYMMDDHHMMSSZ`, which `openssl ca` accepts for any year. */
function asn1Time(d: Date): string {
    return d.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

function randomSerial(): string {
    // An even number of hex digits, leading digit non-zero (openssl reads it as an ASN.1 INTEGER).
    return `1${randomBytes(8).toString("hex").slice(1)}`.toUpperCase();
}

function openssl(...args: string[]): string {
    try {
        return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e: any) {
        throw new Error(`openssl ${args.join(" ")} failed: ${String(e.stderr ?? e.message).trim()}`);
    }
}
