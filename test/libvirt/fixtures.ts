/** Test PKI and args for the libvirt tests (unit and lab). */
import * as pulumi from "@pulumi/pulumi";
import { mkdtempSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { isIP } from "net";
import type { Host } from "../../core/host";
import type { LiveMigrationArgs, NodeTls } from "../../components/libvirt/args";
import { CertificateAuthority, Pki } from "../../tools/pki";

/** A node's TLS material with its keys as PEM text. */
export type PemNodeTls = NodeTls & { serverKey: string; clientKey: string };

export interface GroupPki {
    pki: Pki;
    root: CertificateAuthority;
    /** Material per node name. */
    tls: Record<string, PemNodeTls>;
}

/** A root CA and, per node, a server certificate for its names and a client certificate. */
export function groupPki(nodes: Array<{ name: string; names: string[] }>, dir = mkdtempSync(join(tmpdir(), "hw-libvirt-pki-"))): GroupPki {
    const pki = new Pki(dir);
    const root = pki.rootCa({ commonName: "Migration Test CA" });
    const tls: Record<string, PemNodeTls> = {};
    for (const n of nodes) {
        const server = pki.leaf(root, {
            commonName: n.name,
            dnsNames: n.names.filter((x) => isIP(x) === 0),
            ipAddresses: n.names.filter((x) => isIP(x) !== 0),
            usages: ["serverAuth"],
        });
        const client = pki.leaf(root, { commonName: `${n.name} migration client`, dnsNames: [], usages: ["clientAuth"] });
        tls[n.name] = { serverCertificate: server.certPem, serverKey: server.keyPem, clientCertificate: client.certPem, clientKey: client.keyPem };
    }
    return { pki, root, tls };
}

export function testHost(name: string, extra: Partial<Host> = {}): Host {
    return { name, address: `${name}.example.test`, privateKey: pulumi.secret(`KEY-${name}`), hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", ...extra };
}

/** TLS args for hosts a and b (migration addresses = their DNS names). */
export function tlsArgs(g: GroupPki, extra: Partial<LiveMigrationArgs> = {}): LiveMigrationArgs {
    return {
        nodes: ["a", "b"].map((n) => ({ host: testHost(n), tls: g.tls[n] })),
        tls: { caCertificate: g.root.certPem },
        ...extra,
    };
}
