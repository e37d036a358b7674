/**
 * Generates stacks/Pulumi.example.yaml: a small, complete estate that exercises
 * every component, with throw-away SSH keys and certificates made here (never
 * hand-pasted), secrets encrypted like `pulumi config set --secret` does with the
 * passphrase provider and the passphrase "hostwright-example".
 *   npm run gen:example
 */
import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { join, resolve } from "path";
import type { RawConfig } from "../core/config/stack";
import { PassphraseCrypter } from "../tools/passphrase";
import { Pki } from "../tools/pki";

export const EXAMPLE_PASSPHRASE = "hostwright-example";

interface Material {
    pki: Pki;
    dir: string;
    /** name -> clear text; written encrypted into hostwright:secrets */
    secrets: Record<string, string>;
}

type Role = "proxy" | "compute" | "lxd";

/** One copy of the example estate: two proxies, two compute nodes, two LXD hosts. */
const ESTATE: Array<{ name: string; role: Role; os?: "rhel"; init?: "sysv" }> = [
    { name: "proxy1", role: "proxy" },
    { name: "proxy2", role: "proxy", init: "sysv" },
    { name: "compute1", role: "compute", os: "rhel" },
    { name: "compute2", role: "compute", os: "rhel" },
    { name: "lxd1", role: "lxd" },
    { name: "lxd2", role: "lxd" },
];

interface EstateHost {
    name: string;
    address: string;
    role: Role;
    os?: "rhel";
    init?: "sysv";
}

/**
 * The hosts of `copies` copies of the estate. The first copy is the example
 * (198.51.100.0/24, TEST-NET-2); further copies (the benchmark's) are numbered and
 * take addresses from 198.18.0.0/15.
 */
function estateHosts(copies: number): EstateHost[] {
    const hosts: EstateHost[] = [];
    for (let copy = 0; copy < copies; copy++) {
        ESTATE.forEach((h, i) => {
            const index = copy * ESTATE.length + i;
            const address = copy === 0 ? `198.51.100.${[11, 12, 21, 22, 31, 32][i]}` : `198.18.${Math.floor(index / 250)}.${(index % 250) + 2}`;
            hosts.push({ ...h, name: copy === 0 ? h.name : `${h.name}-${copy}`, address });
        });
    }
    return hosts;
}

function sshKeyPair(dir: string, name: string): { privateKey: string; publicKey: string } {
    const path = join(dir, name);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `hostwright-example-${name}`, "-f", path]);
    return { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ") };
}

function inventory(hosts: EstateHost[], material: Material, hostKeyOf: (name: string) => string): unknown {
    material.secrets["ops-ssh"] = sshKeyPair(material.dir, "operator").privateKey;
    return {
        defaults: { user: "root", privateKey: "ops-ssh", os: "debian", init: "systemd" },
        hosts: hosts.map((h) => ({
            name: h.name,
            address: h.address,
            hostKey: hostKeyOf(h.name),
            ...(h.os ? { os: h.os } : {}),
            ...(h.init ? { init: h.init } : {}),
            labels: { role: h.role },
        })),
    };
}

/** Pairs of hosts of one role, in order (each copy of the estate has one pair per role). */
function pairs(hosts: EstateHost[], role: Role): EstateHost[][] {
    const of = hosts.filter((h) => h.role === role);
    return Array.from({ length: of.length / 2 }, (_, i) => of.slice(2 * i, 2 * i + 2));
}

/**
 * The two proxies of the seed: `front` (catch-all in front of the Apache backend,
 * plain and TLS, stapling verified through the host trust store) and `portal`
 * (named hosts, HTTP to HTTPS redirect, an API listener whose certificate has no
 * OCSP URI, so its stapling is "not applicable"). Copies reuse the certificates.
 */
function h2oSection(hosts: EstateHost[], material: Material): unknown {
    const root = material.pki.rootCa({ commonName: "Example Web Root CA" });
    const intermediate = material.pki.intermediateCa(root, { commonName: "Example Web Issuing CA" });
    const issue = (name: string, ocsp: boolean) => {
        const cert = material.pki.leaf(intermediate, { commonName: name, dnsNames: [name], ...(ocsp ? { ocspUrl: "http://ocsp.example.com/" } : {}) });
        material.secrets[`${name.replace(/\./g, "-")}-key`] = cert.keyPem;
        return cert;
    };
    const www = material.pki.chainPem(issue("www.example.com", true), intermediate);
    // Given intermediate first, as bundles often are: the component puts it in trust order.
    const portal = intermediate.certPem + issue("portal.example.com", true).certPem;
    const api = material.pki.chainPem(issue("api.example.com", false), intermediate);
    return pairs(hosts, "proxy").flatMap(([first, second], i) => {
        const suffix = i === 0 ? "" : `-${i}`;
        return [
            {
                name: `front${suffix}`,
                host: first.name,
                user: "www-data",
                maxConnections: 1024,
                numThreads: 4,
                listeners: [
                    { name: "http", port: 80 },
                    {
                        name: "https",
                        port: 443,
                        tls: {
                            certificateChain: www,
                            privateKey: "www-example-com-key",
                            cipherSuite: "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5",
                            ocsp: { verification: "trust-store", rootCertificate: root.certPem, updateInterval: 3600 },
                        },
                    },
                ],
                virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://198.51.100.40:9080", preserveHost: true }] }],
            },
            {
                name: `portal${suffix}`,
                host: second.name,
                listeners: [
                    { name: "http", port: 80 },
                    { name: "https", port: 443, tls: { certificateChain: portal, privateKey: "portal-example-com-key", minimumVersion: "TLSv1.2", ocsp: { verification: "ca-file", rootCertificate: root.certPem, requireGoodStaple: true } } },
                    { name: "api", port: 8443, tls: { certificateChain: api, privateKey: "api-example-com-key" } },
                ],
                virtualHosts: [
                    { name: "portal.example.com", listeners: ["http"], paths: [{ path: "/", redirectTo: "https://portal.example.com/", redirectStatus: 301 }] },
                    { name: "portal.example.com", listeners: ["https"], paths: [{ path: "/", proxyTo: "http://198.51.100.41:8080", setRequestHeaders: { "X-Forwarded-Proto": "https" }, timeoutIoMs: 60000 }] },
                    { name: "api.example.com", listeners: ["api"], paths: [{ path: "/v1/", proxyTo: "http://198.51.100.42:9000/" }] },
                ],
            },
        ];
    });
}

/** libvirt over TLS for each pair of compute nodes, each node with its own certificates. */
function libvirtSection(hosts: EstateHost[], material: Material): unknown {
    const ca = material.pki.rootCa({ commonName: "Example Compute CA" });
    const nodeTls = (h: EstateHost) => {
        const server = material.pki.leaf(ca, { commonName: h.name, ipAddresses: [h.address], dnsNames: [h.name], usages: ["serverAuth"] });
        const client = material.pki.leaf(ca, { commonName: `${h.name} client`, usages: ["clientAuth"] });
        material.secrets[`${h.name}-libvirt-server-key`] = server.keyPem;
        material.secrets[`${h.name}-libvirt-client-key`] = client.keyPem;
        return { serverCertificate: server.certPem, serverKey: `${h.name}-libvirt-server-key`, clientCertificate: client.certPem, clientKey: `${h.name}-libvirt-client-key` };
    };
    return pairs(hosts, "compute").map((pair, i) => ({
        name: i === 0 ? "cell1" : `cell1-${i}`,
        transport: "tls",
        tls: { caCertificate: ca.certPem },
        nodes: pair.map((h) => ({ host: h.name, migrationAddress: h.address, tls: nodeTls(h) })),
        nova: { release: "2024.1", permitAutoConverge: true, maxDowntimeMs: 500 },
    }));
}

/**
 * Two mirrors per pair of compute nodes, as in the seed: a VM port given by name,
 * captured on a local interface; and a VM found from the OpenStack API, mirrored
 * to a remote ERSPAN collector (its node is known only after the look-ups).
 */
function ovsSection(hosts: EstateHost[]): unknown {
    return pairs(hosts, "compute").flatMap(([first], i) => {
        const suffix = i === 0 ? "" : `-${i}`;
        return [
            { name: `web-capture${suffix}`, host: first.name, ports: ["qvobee51cf7-fb"], direction: "ingress", capture: { kind: "veth", name: "webcap0" } },
            {
                name: `db-erspan${suffix}`,
                openstack: { instanceId: "9e319540-9a67-4563-9aad-132c64faa1b1", network: "private" },
                collector: { protocol: "erspan", address: "192.0.2.50", erspanVersion: 2, key: 7 },
            },
        ];
    });
}

/** An LXD remote mesh per pair of LXD hosts, trust by tokens, stateless moves. */
function lxdSection(hosts: EstateHost[]): unknown {
    return pairs(hosts, "lxd").map((pair, i) => ({
        name: i === 0 ? "lxd" : `lxd-${i}`,
        hosts: pair.map((h) => ({ host: h.name })),
        trust: "token",
        migration: "stateless",
    }));
}

/**
 * The seed's resolver fix on the LXD hosts: resolv.conf kept as declared, whatever
 * their DHCP client is told (the per-domain cache pins are in components/dns/README.md).
 */
function dnsSection(hosts: EstateHost[]): unknown {
    return hosts
        .filter((h) => h.role === "lxd")
        .map((h) => ({ name: `${h.name}-resolver`, host: h.name, resolvConf: { nameservers: ["198.51.100.53", "198.51.100.54"], search: ["example.com"], options: ["timeout:2", "attempts:2"] } }));
}

/** The plain config (secrets in clear) of `copies` copies of the estate. */
function estateConfig(copies: number, material: Material, hostKeyOf: (name: string) => string): { config: Record<string, unknown>; secrets: Record<string, string> } {
    const hosts = estateHosts(copies);
    const config: Record<string, unknown> = {
        "hostwright:inventory": inventory(hosts, material, hostKeyOf),
        "hostwright:h2o": h2oSection(hosts, material),
        "hostwright:ovs": ovsSection(hosts),
        "hostwright:libvirt": libvirtSection(hosts, material),
        "hostwright:lxd": lxdSection(hosts),
        "hostwright:dns": dnsSection(hosts),
    };
    return { config, secrets: material.secrets };
}

function withMaterial<T>(use: (material: Material) => T): T {
    const dir = mkdtempSync(join(tmpdir(), "hostwright-example-"));
    try {
        return use({ pki: new Pki(join(dir, "pki")), dir, secrets: {} });
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

export function generateExample(outPath: string): void {
    withMaterial((material) => {
        const { config, secrets } = estateConfig(1, material, (name) => sshKeyPair(material.dir, `host-${name}`).publicKey);
        const crypter = PassphraseCrypter.create(EXAMPLE_PASSPHRASE);
        config["hostwright:secrets"] = Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, { secure: crypter.encrypt(v) }]));
        const header = [
            "# Example estate for hostwright: two h2o proxies, two compute nodes, two LXD hosts",
            "# (whose resolv.conf is kept against DHCP).",
            "# Generated by `npm run gen:example` (scripts/gen-example.ts): throw-away keys and",
            `# certificates; secrets encrypted with the passphrase "${EXAMPLE_PASSPHRASE}".`,
            "# Addresses are from 198.51.100.0/24 (TEST-NET-2): nothing real is reachable.",
            "",
        ].join("\n");
        writeFileSync(outPath, header + yaml.dump({ encryptionsalt: crypter.encryptionSalt, config }, { lineWidth: -1, noRefs: true }));
    });
}

/**
 * The example estate repeated to `hosts` hosts (a multiple of 6 is exact), as the
 * engine hands config to the program: for the benchmark. One SSH host key serves
 * every host (nothing connects).
 */
export function exampleEstate(hosts: number): RawConfig {
    return withMaterial((material) => {
        const hostKey = sshKeyPair(material.dir, "host").publicKey;
        const { config, secrets } = estateConfig(Math.ceil(hosts / ESTATE.length), material, () => hostKey);
        config["hostwright:secrets"] = secrets;
        const values = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, JSON.stringify(v)]));
        return { values, secretKeys: new Set(["hostwright:secrets"]) };
    });
}

if (require.main === module) {
    const out = resolve(__dirname, "..", "stacks", "Pulumi.example.yaml");
    generateExample(out);
    console.log(`written ${out}`);
}
