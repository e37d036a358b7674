import { execFileSync } from "child_process";
import { X509Certificate } from "crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import type { LiveMigrationArgs } from "../../components/libvirt/args";
import { checkLiveMigration, dnPatternMatches, keyUsageOf, libvirtDn } from "../../components/libvirt/checks";
import { groupPki, testHost, tlsArgs } from "./fixtures";

// One PKI for the whole table (openssl runs once per certificate).
const g = groupPki([
    { name: "a", names: ["a.example.test"] },
    { name: "b", names: ["b.example.test", "10.0.0.2"] },
]);
const other = groupPki([{ name: "a", names: ["a.example.test"] }]);
const inter = g.pki.intermediateCa(g.root, { commonName: "Migration Intermediate" });
const viaInter = g.pki.leaf(inter, { commonName: "a.example.test", usages: ["serverAuth"] });
const day = 86400_000;
const expired = g.pki.leaf(g.root, { commonName: "a.example.test", notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
const future = g.pki.leaf(g.root, { commonName: "a.example.test", notBefore: new Date(Date.now() + 10 * day), days: 30 });
const expiring = g.pki.leaf(g.root, { commonName: "a.example.test", days: 10 });
const clientOnly = g.pki.leaf(g.root, { commonName: "a.example.test", usages: ["clientAuth"] });
const noEncipherment = g.pki.leaf(g.root, { commonName: "a.example.test", usages: ["OCSPSigning"] });

/** A server leaf for a.example.test from g's root with the given key type and keyUsage line (tools/pki always makes keyUsage critical). */
function leafWithKeyUsage(keyType: "ec" | "rsa", keyUsage: string): { certPem: string; keyPem: string } {
    const dir = mkdtempSync(join(tmpdir(), "hw-libvirt-ku-"));
    try {
        const run = (...argv: string[]) => execFileSync("openssl", argv, { cwd: dir, stdio: "pipe" });
        run("genpkey", "-algorithm", keyType === "ec" ? "EC" : "RSA", "-pkeyopt", keyType === "ec" ? "ec_paramgen_curve:P-256" : "rsa_keygen_bits:2048", "-out", "key.pem");
        run("req", "-new", "-key", "key.pem", "-subj", "/CN=a.example.test", "-out", "req.csr");
        writeFileSync(join(dir, "ext"), `basicConstraints = critical, CA:FALSE\nkeyUsage = ${keyUsage}\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:a.example.test\n`);
        run("x509", "-req", "-in", "req.csr", "-CA", g.root.certPath, "-CAkey", g.root.keyPath, "-set_serial", "0x7e57", "-days", "60", "-extfile", "ext", "-out", "cert.pem");
        return { certPem: readFileSync(join(dir, "cert.pem"), "utf8"), keyPem: readFileSync(join(dir, "key.pem"), "utf8") };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}
const ecSignOnly = leafWithKeyUsage("ec", "digitalSignature");
const rsaSignOnlyCritical = leafWithKeyUsage("rsa", "critical, digitalSignature");
const rsaSignOnly = leafWithKeyUsage("rsa", "digitalSignature");

type Mutate = (a: LiveMigrationArgs) => LiveMigrationArgs;
const nodeA = (a: LiveMigrationArgs, tls: Partial<NonNullable<LiveMigrationArgs["nodes"][0]["tls"]>>): LiveMigrationArgs => ({
    ...a,
    nodes: [{ ...a.nodes[0], tls: { ...a.nodes[0].tls!, ...tls } }, ...a.nodes.slice(1)],
});
const tcp = (extra: Partial<LiveMigrationArgs> = {}): Mutate => (a) => ({ ...a, transport: "tcp", tls: undefined, nodes: a.nodes.map((n) => ({ ...n, tls: undefined })), ...extra });
const sasl = { password: "correct horse battery" };
const nova = (n: NonNullable<LiveMigrationArgs["nova"]>): Mutate => (a) => ({ ...a, nova: n });

// name, change to valid TLS args, expected [path, message fragment, severity] (empty: no issue at all)
const table: Array<[string, Mutate, Array<[string, string, "error" | "warning"]>]> = [
    ["valid TLS group", (a) => a, []],
    ["an IP address in the SAN covers an IP migration address", (a) => ({ ...a, nodes: [a.nodes[0], { ...a.nodes[1], migrationAddress: "10.0.0.2" }] }), []],
    ["one node", (a) => ({ ...a, nodes: a.nodes.slice(0, 1) }), [["nodes", "at least two nodes", "error"]]],
    ["the same host twice", (a) => ({ ...a, nodes: [a.nodes[0], { ...a.nodes[1], host: a.nodes[0].host, migrationAddress: "10.0.0.2" }] }), [["nodes[1].host", "already nodes[0]", "error"]]],
    ["hostile migration address", (a) => ({ ...a, nodes: [{ ...a.nodes[0], migrationAddress: "$(reboot)" }, a.nodes[1]] }), [["nodes[0].migrationAddress", "IP address or a DNS name", "error"]]],
    ["listen address that is a name", (a) => ({ ...a, nodes: [{ ...a.nodes[0], listenAddress: "a.example.test" }, a.nodes[1]] }), [["nodes[0].listenAddress", "must be an IP address", "error"]]],
    ["tcp without auth and without the opt-in", tcp({ auth: "none" }), [["auth", "as root", "error"]]],
    ["tcp without auth with the opt-in: a warning naming the risk", tcp({ auth: "none", allowUnauthenticatedTcp: true }), [["allowUnauthenticatedTcp", "as root", "warning"]]],
    ["tcp defaults to sasl, which needs credentials", tcp(), [["sasl", "is required with auth sasl", "error"]]],
    ["tcp with sasl digest-md5: warned that nothing is encrypted", tcp({ sasl }), [["sasl.mechanism", "not encrypted", "warning"]]],
    ["short SASL password", tcp({ sasl: { password: "short" } }), [["sasl.password", "at least 8", "error"], ["sasl.mechanism", "not encrypted", "warning"]]],
    ["SASL password with a line break", tcp({ sasl: { password: "line one\nline two" } }), [["sasl.password", "line breaks", "error"], ["sasl.mechanism", "not encrypted", "warning"]]],
    ["hostile SASL user name", tcp({ sasl: { ...sasl, username: "nova'; rm -rf /" } }), [["sasl.username", "letters, digits", "error"], ["sasl.mechanism", "not encrypted", "warning"]]],
    ["scram over plain tcp", tcp({ sasl: { ...sasl, mechanism: "scram-sha-256" } }), [["sasl.mechanism", "needs transport tls", "error"]]],
    ["ssh with sasl", (a) => ({ ...tcp()(a), transport: "ssh", auth: "sasl", sasl }), [["auth", "not to transport ssh", "error"]]],
    ["sasl credentials with auth none", (a) => ({ ...a, sasl }), [["sasl", "only used with auth sasl", "error"]]],
    ["TLS material with transport tcp", (a) => ({ ...a, transport: "tcp", sasl }), [["nodes[0].tls", "only used with transport tls", "error"], ["nodes[1].tls", "only used with transport tls", "error"], ["tls", "only used with transport tls", "error"], ["sasl.mechanism", "not encrypted", "warning"]]],
    ["no CA", (a) => ({ ...a, tls: undefined }), [["tls.caCertificate", "is required", "error"]]],
    ["a node without TLS material", (a) => ({ ...a, nodes: [a.nodes[0], { ...a.nodes[1], tls: undefined }] }), [["nodes[1].tls", "is required with transport tls", "error"]]],
    ["the other node's server key", (a) => nodeA(a, { serverKey: g.tls.b.serverKey }), [["nodes[0].tls.serverKey", "does not match the server certificate", "error"]]],
    ["a key that is not a PEM key", (a) => nodeA(a, { clientKey: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n-----END ENCRYPTED PRIVATE KEY-----" }), [["nodes[0].tls.clientKey", "unencrypted PEM private key", "error"]]],
    ["not PEM at all", (a) => nodeA(a, { serverCertificate: "hello" }), [["nodes[0].tls.serverCertificate", "must be PEM text", "error"]]],
    ["expired server certificate", (a) => nodeA(a, { serverCertificate: expired.certPem, serverKey: expired.keyPem }), [["nodes[0].tls.serverCertificate", "expired on", "error"]]],
    ["server certificate not valid yet", (a) => nodeA(a, { serverCertificate: future.certPem, serverKey: future.keyPem }), [["nodes[0].tls.serverCertificate", "not valid before", "error"]]],
    ["server certificate expiring soon", (a) => nodeA(a, { serverCertificate: expiring.certPem, serverKey: expiring.keyPem }), [["nodes[0].tls.serverCertificate", "less than 30 days", "warning"]]],
    ["server certificate not covering the dialed name", (a) => ({ ...a, nodes: [{ ...a.nodes[0], migrationAddress: "10.9.9.9" }, a.nodes[1]] }), [["nodes[0].tls.serverCertificate", "does not cover 10.9.9.9", "error"]]],
    ["certificates of another CA", (a) => nodeA(a, other.tls.a), [["nodes[0].tls.serverCertificate", "not signed by a certificate of tls.caCertificate", "error"], ["nodes[0].tls.clientCertificate", "not signed by a certificate of tls.caCertificate", "error"]]],
    ["a leaf of an intermediate that is in the CA file", (a) => ({ ...nodeA(a, { serverCertificate: viaInter.certPem, serverKey: viaInter.keyPem }), tls: { caCertificate: g.root.certPem + inter.certPem } }), []],
    ["a leaf of an intermediate that is not in the CA file", (a) => nodeA(a, { serverCertificate: viaInter.certPem, serverKey: viaInter.keyPem }), [["nodes[0].tls.serverCertificate", "an intermediate CA belongs there", "error"]]],
    ["the intermediate after the leaf (libvirt does not use it)", (a) => ({ ...nodeA(a, { serverCertificate: viaInter.certPem + inter.certPem, serverKey: viaInter.keyPem }), tls: { caCertificate: g.root.certPem + inter.certPem } }), [["nodes[0].tls.serverCertificate", "give only the leaf here", "error"]]],
    ["the CA certificate first in the server file", (a) => nodeA(a, { serverCertificate: g.root.certPem + g.tls.a.serverCertificate }), [["nodes[0].tls.serverCertificate", "give the server certificate itself here", "error"]]],
    ["a server certificate for clients only", (a) => nodeA(a, { serverCertificate: clientOnly.certPem, serverKey: clientOnly.keyPem }), [["nodes[0].tls.serverCertificate", "lacks serverAuth", "error"]]],
    ["a client certificate for servers only", (a) => nodeA(a, { clientCertificate: g.tls.a.serverCertificate, clientKey: g.tls.a.serverKey }), [["nodes[0].tls.clientCertificate", "lacks clientAuth", "error"]]],
    ["EC key, critical keyUsage without keyEncipherment: refused, and why it is needed anyway", (a) => nodeA(a, { serverCertificate: noEncipherment.certPem, serverKey: noEncipherment.keyPem }), [["nodes[0].tls.serverCertificate", '(host a) its critical keyUsage lacks keyEncipherment; libvirt refuses such a server certificate ("usage does not permit key encipherment"); keyEncipherment has no use for this EC key', "error"], ["nodes[0].tls.serverCertificate", "lacks serverAuth", "error"]]],
    ["EC key, non-critical keyUsage without keyEncipherment: libvirt logs it, harmless", (a) => nodeA(a, { serverCertificate: ecSignOnly.certPem, serverKey: ecSignOnly.keyPem }), [["nodes[0].tls.serverCertificate", 'libvirt accepts the server certificate but logs "usage does not permit key encipherment" at every start; harmless for this EC key', "warning"]]],
    ["RSA key, critical keyUsage without keyEncipherment: refused", (a) => nodeA(a, { serverCertificate: rsaSignOnlyCritical.certPem, serverKey: rsaSignOnlyCritical.keyPem }), [["nodes[0].tls.serverCertificate", "its critical keyUsage lacks keyEncipherment; libvirt refuses such a server certificate (\"usage does not permit key encipherment\"); reissue it with both", "error"]]],
    ["RSA key, non-critical keyUsage without keyEncipherment: logged, no RSA key transport", (a) => nodeA(a, { serverCertificate: rsaSignOnly.certPem, serverKey: rsaSignOnly.keyPem }), [["nodes[0].tls.serverCertificate", "not with RSA key transport", "warning"]]],
    ["allowed DNs that cover every node's client certificate", (a) => ({ ...a, tls: { ...a.tls!, allowedClientDns: ["CN=? migration client"] } }), []],
    ["allowed DNs that leave out node b: refused before anything is pushed", (a) => ({ ...a, tls: { ...a.tls!, allowedClientDns: ["CN=a migration client", "CN=c*"] } }), [["tls.allowedClientDns", 'matches no pattern for the client certificate of b (DN "CN=b migration client"): its peers would refuse its connections', "error"]]],
    ["allowed DNs that match no client certificate of the group", (a) => ({ ...a, tls: { ...a.tls!, allowedClientDns: ["CN=nova,O=Example"] } }), [["tls.allowedClientDns", "client certificate of a", "error"], ["tls.allowedClientDns", "client certificate of b", "error"]]],
    ["an empty allowed DN list", (a) => ({ ...a, tls: { ...a.tls!, allowedClientDns: [] } }), [["tls.allowedClientDns", "is empty: libvirt would refuse every client", "error"]]],
    ["a leaf given as the CA", (a) => ({ ...a, tls: { caCertificate: g.tls.a.serverCertificate } }), [["tls.caCertificate", "is not a CA certificate", "error"], ["nodes[0].tls.serverCertificate", "not signed", "error"], ["nodes[0].tls.clientCertificate", "not signed", "error"], ["nodes[1].tls.serverCertificate", "not signed", "error"], ["nodes[1].tls.clientCertificate", "not signed", "error"]]],
    ["an allowed DN with a quote", (a) => ({ ...a, tls: { ...a.tls!, allowedClientDns: ['CN=a"'] } }), [["tls.allowedClientDns[0]", "without quotes", "error"]]],
    ["equal ports", (a) => ({ ...a, tcpPort: 16514 }), [["tlsPort", "must differ", "error"]]],
    ["port out of range", (a) => ({ ...a, tlsPort: 70000 }), [["tlsPort", "1-65535", "error"]]],
    ["unknown nova release", nova({ release: "banana" }), [["nova.release", "unknown nova release", "error"]]],
    ["newton options on liberty", nova({ release: "liberty", permitPostCopy: true }), [["nova.permitPostCopy", "needs nova newton", "error"]]],
    ["liberty over TLS with an IP migration address: nova dials host names", (a) => ({ ...a, nova: { release: "liberty" }, nodes: [a.nodes[0], { ...a.nodes[1], migrationAddress: "10.0.0.2" }] }), [["nodes[1].migrationAddress", "dials the compute service's host name", "warning"]]],
    ["native TLS on queens", nova({ release: "queens", nativeTls: true }), [["nova.nativeTls", "needs nova stein", "error"]]],
    ["native TLS over tcp", (a) => ({ ...tcp({ sasl })(a), nova: { release: "2024.1", nativeTls: true } }), [["nova.nativeTls", "needs transport tls", "error"], ["sasl.mechanism", "not encrypted", "warning"]]],
    ["hostile nova service and path", nova({ release: "zed", service: "nova;reboot", configPath: "/etc/../nova.conf" }), [["nova.configPath", "absolute file path", "error"], ["nova.service", "service name", "error"]]],
    ["negative bandwidth", nova({ release: "zed", bandwidthMiBps: -1 }), [["nova.bandwidthMiBps", "whole number", "error"]]],
    ["custom CPU models on zed", nova({ release: "zed", cpuMode: "custom", cpuModels: ["Skylake-Server-IBRS", "Cascadelake-Server"] }), []],
    ["custom without models", nova({ release: "zed", cpuMode: "custom" }), [["nova.cpuModels", 'needs at least one CPU model with cpuMode "custom"', "error"]]],
    ["models without custom", nova({ release: "zed", cpuMode: "host-model", cpuModels: ["EPYC"] }), [["nova.cpuModels", 'is only used with cpuMode "custom"', "error"]]],
    ["two models before stein", nova({ release: "rocky", cpuMode: "custom", cpuModels: ["a", "b"] }), [["nova.cpuModels", "takes one model (cpu_model)", "error"]]],
    ["a hostile model name", nova({ release: "zed", cpuMode: "custom", cpuModels: ["EPYC</model><x>"] }), [["nova.cpuModels[0]", "must be a libvirt CPU model name", "error"]]],
    ["cpu_mode on liberty", nova({ release: "liberty", cpuMode: "host-model" }), [["nova.cpuMode", "needs nova newton", "error"]]],
];

describe("checkLiveMigration", () => {
    it.each(table)("%s", (_name, mutate, expected) => {
        const issues = checkLiveMigration(mutate(tlsArgs(g)));
        for (const [path, fragment, severity] of expected) {
            expect(issues).toContainEqual(expect.objectContaining({ path, severity, message: expect.stringContaining(fragment) }));
        }
        expect(issues).toHaveLength(expected.length);
    });

    it("reports every problem at once", () => {
        const issues = checkLiveMigration({ nodes: [{ host: testHost("a") }], transport: "tcp", auth: "none", tcpPort: 0, nova: { release: "x" } });
        expect(issues.map((i) => i.path).sort()).toEqual(["auth", "nodes", "nova.release", "tcpPort"]);
    });

    it("names the host in every problem of a node", () => {
        const issues = checkLiveMigration(nodeA(tlsArgs(g), { serverKey: g.tls.b.serverKey }));
        expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual(["nodes[0].tls.serverKey: (host a) does not match the server certificate (CN=a)"]);
    });

    it.each([
        ["CN=a migration client", "CN=a migration client", true],
        ["CN=* migration client", "CN=a migration client", true],
        ["CN=? migration client", "CN=ab migration client", false],
        ["CN=a.example.test", "CN=aXexample.test", false],
        ["*,O=Example", "CN=nova,O=Example", true],
        ["CN=nova", "CN=nova,O=Example", false],
    ])("DN pattern %j against %j: %s", (pattern, dn, expected) => expect(dnPatternMatches(pattern, dn)).toBe(expected));

    it("writes the DN as libvirt (gnutls, RFC 4514) does: last RDN first, special characters escaped", () => {
        const ca = g.pki.rootCa({ commonName: "Ops CA", organization: "Example, Inc" });
        expect(libvirtDn(new X509Certificate(ca.certPem))).toBe("CN=Ops CA,O=Example\\, Inc");
        expect(libvirtDn(new X509Certificate(g.tls.a.clientCertificate))).toBe("CN=a migration client");
    });

    it("reads keyUsage from the DER", () => {
        expect(keyUsageOf(new X509Certificate(g.tls.a.serverCertificate))).toEqual({ critical: true, digitalSignature: true, keyEncipherment: true });
        expect(keyUsageOf(new X509Certificate(noEncipherment.certPem))).toEqual({ critical: true, digitalSignature: true, keyEncipherment: false });
        expect(keyUsageOf(new X509Certificate(ecSignOnly.certPem))).toEqual({ critical: false, digitalSignature: true, keyEncipherment: false });
        expect(keyUsageOf(new X509Certificate(rsaSignOnlyCritical.certPem))).toEqual({ critical: true, digitalSignature: true, keyEncipherment: false });
        const withoutKeyUsage = execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", "/CN=no key usage", "-days", "1"], { stdio: "pipe" });
        expect(keyUsageOf(new X509Certificate(withoutKeyUsage))).toBeUndefined();
    });
});
