/**
 * LibvirtLiveMigration against real libvirtd 9 on lab hosts, applied by the
 * harness from what the real program declares (config -> declareStack).
 */
import { declareStack, rawConfigFromRuntime } from "../../core/config/stack";
import { sections } from "../../components/registry";
import { parseIni } from "../../components/libvirt/ini";
import { Lab, labDescribe, startLab } from "../lab/lab";
import { ApplyResult, Harness, labStackConfig } from "../lab/harness";
import { GroupPki, groupPki } from "./fixtures";
import { nodeSnapshot, novaActions, prepareComputeNode, STOCK_NOVA_CONF, stopLibvirt } from "./labLibvirt";

const HOSTS = ["h1", "h2", "h3"];
const program = () => declareStack(rawConfigFromRuntime(), sections);
const summary = (r: ApplyResult) => r.operations.map((o) => `${o.op}:${o.resource}=${o.code}`);

labDescribe("LibvirtLiveMigration with real libvirtd", () => {
    let lab: Lab;
    let pki: GroupPki;
    let originals: Record<string, Record<string, string | null>>;
    let runs = 0;

    /** Stack config: the lab inventory, the group's secrets, and the libvirt section. */
    function stack(group: Record<string, unknown>, extraSecrets: Record<string, string> = {}) {
        const { config, secretKeys } = labStackConfig(lab, { libvirt: [group] });
        const secrets = JSON.parse(config["hostwright:secrets"]);
        for (const h of HOSTS) Object.assign(secrets, { [`${h}-server-key`]: pki.tls[h].serverKey, [`${h}-client-key`]: pki.tls[h].clientKey });
        config["hostwright:secrets"] = JSON.stringify({ ...secrets, ...extraSecrets });
        return { config, secretKeys };
    }
    const tlsNode = (h: string) => ({
        host: h,
        tls: { serverCertificate: pki.tls[h].serverCertificate, serverKey: `${h}-server-key`, clientCertificate: pki.tls[h].clientCertificate, clientKey: `${h}-client-key` },
    });
    const tlsGroup = (extra: Record<string, unknown> = {}) => ({ name: "cell1", transport: "tls", tls: { caCertificate: pki.root.certPem }, nova: { release: "2023.1" }, nodes: HOSTS.map(tlsNode), ...extra });
    const harness = () => new Harness(lab, `${lab.dir}/libvirt-state-${++runs}.json`);

    async function expectRestored(hosts = HOSTS) {
        for (const h of hosts) expect([h, await nodeSnapshot(lab.host(h))]).toEqual([h, originals[h]]);
    }

    beforeAll(async () => {
        lab = await startLab({ hosts: HOSTS });
        pki = groupPki(lab.hosts.map((h) => ({ name: h.name, names: [h.name, h.address] })), `${lab.dir}/pki`);
        await Promise.all(lab.hosts.map(prepareComputeNode));
        originals = {};
        for (const h of lab.hosts) originals[h.name] = await nodeSnapshot(h);
    }, 120_000);
    afterAll(async () => {
        if (lab) await Promise.all(lab.hosts.map(stopLibvirt));
        await lab?.down();
    });

    it("bad TLS material is refused before any host is touched", async () => {
        const logins = async () => (await Promise.all(lab.hosts.map((h) => h.exec("grep -c 'Accepted publickey' /run/hostwright-lab/sshd.log || true")))).map((r) => r.stdout.trim());
        const before = await logins();
        const bad = tlsGroup({ nodes: [tlsNode("h1"), { ...tlsNode("h2"), tls: { ...tlsNode("h2").tls, serverKey: "h3-server-key" } }, tlsNode("h3")] });
        const { config, secretKeys } = stack(bad);
        const attempt = harness().apply(program, { config, secretKeys });
        await expect(attempt).rejects.toThrow(/hostwright:libvirt\[0\]\.nodes\[1\]\.tls\.serverKey: \(host h2\) does not match the server certificate/);
        expect(await logins()).toEqual(before);
        await expectRestored();
    });

    it("TLS: every node opens every peer over qemu+tls, a client without a certificate is refused, nova.conf holds the declared options; destroy restores everything", async () => {
        const h = harness();
        const { config, secretKeys } = stack(tlsGroup());
        const started = Date.now();
        const up = await h.apply(program, { config, secretKeys });
        expect(up.error).toBeUndefined();
        const applyMs = Date.now() - started;
        const out = (up.outputs.libvirt as any).cell1;
        expect(out.nodes.map((n: any) => [n.host, n.daemon, n.libvirtVersion, n.peers])).toEqual([
            ["h1", "libvirtd legacy", "9.0.0", { h2: "ok", h3: "ok" }],
            ["h2", "libvirtd legacy", "9.0.0", { h1: "ok", h3: "ok" }],
            ["h3", "libvirtd legacy", "9.0.0", { h1: "ok", h2: "ok" }],
        ]);
        expect(out.warnings).toEqual(HOSTS.map((n) => `${n}: no QEMU binary found: install qemu-kvm (RHEL) or qemu-system-x86 (Debian) before migrating`));

        // each host lists its peers over TLS, with the URI nova uses (peer address)
        for (const from of lab.hosts) {
            for (const to of lab.hosts.filter((x) => x !== from)) {
                const r = await from.ssh(`virsh -c qemu+tls://${to.address}/system list --all && virsh -c qemu+tls://${to.name}/system hostname`);
                expect([from.name, to.name, r.code, r.stdout.trim().split("\n").pop()]).toEqual([from.name, to.name, 0, to.name]);
            }
        }
        // no client certificate: the peer refuses the handshake
        const noCert = await lab.host("h1").exec(`mkdir -p /tmp/nocert && cp /etc/pki/CA/cacert.pem /tmp/nocert/cacert.pem && virsh -c 'qemu+tls://${lab.host("h2").address}/system?pkipath=/tmp/nocert' uri`);
        expect(noCert.code).not.toBe(0);
        expect(noCert.stderr).toMatch(/Unable to read TLS confirmation/); // the server closed the handshake
        // a certificate from another CA: refused by the server
        const rogue = groupPki([{ name: "h1", names: ["h1"] }], `${lab.dir}/rogue-pki`);
        await lab.host("h1").exec("mkdir -p /tmp/rogue", {});
        for (const [file, content] of [["cacert.pem", pki.root.certPem], ["clientcert.pem", rogue.tls.h1.clientCertificate], ["clientkey.pem", rogue.tls.h1.clientKey]]) {
            await lab.host("h1").exec(`cat > /tmp/rogue/${file}`, { input: content });
        }
        const rogueConnect = await lab.host("h1").exec(`virsh -c 'qemu+tls://${lab.host("h2").address}/system?pkipath=/tmp/rogue' uri`);
        expect(rogueConnect.code).not.toBe(0);

        // nova.conf: exactly the declared [libvirt] options, everything else as it was
        const nova = (await lab.host("h2").exec("cat /etc/nova/nova.conf")).stdout;
        const parsed = parseIni(nova);
        expect(parsed.libvirt).toEqual({
            virt_type: "qemu",
            live_migration_scheme: "tls",
            live_migration_inbound_addr: lab.host("h2").address,
            live_migration_tunnelled: "false",
            live_migration_permit_auto_converge: "false",
            live_migration_permit_post_copy: "false",
            live_migration_bandwidth: "0",
        });
        expect(parsed.DEFAULT.block_migration_flag).toBeUndefined();
        expect(parsed.api_database).toEqual({ connection: "mysql+pymysql://nova:db-s3cret@controller/nova_api" });
        for (const line of STOCK_NOVA_CONF.split("\n").filter((l) => l.startsWith("#"))) expect(nova).toContain(line);
        expect((await lab.host("h2").exec("stat -c '%a %U:%G' /etc/nova/nova.conf")).stdout.trim()).toBe("640 root:nova");
        const novaMd5 = (await lab.host("h1").exec("md5sum < /etc/nova/nova.conf | cut -c1-12")).stdout.trim();
        expect(await novaActions(lab.host("h1"))).toEqual([`restart ${novaMd5}`]);

        // re-apply unchanged: nothing runs
        const again = await h.apply(program, { config, secretKeys });
        expect(summary(again)).toEqual([]);
        // a changed step runs its edits again over the edited files: byte-identical, same inode
        const stat = "stat -c '%i' /etc/nova/nova.conf /etc/libvirt/libvirtd.conf /etc/default/libvirtd; md5sum /etc/nova/nova.conf /etc/libvirt/libvirtd.conf /etc/default/libvirtd";
        const before = (await lab.host("h1").exec(stat)).stdout;
        const changed = stack(tlsGroup({ restartLibvirt: false }));
        const rerun = await h.apply(program, changed);
        expect(rerun.error).toBeUndefined();
        expect(rerun.operations.filter((o) => o.resource === "cell1-h1-libvirt").map((o) => o.stdout)).toEqual(expect.arrayContaining([expect.stringContaining("done (0 file(s) changed)")]));
        expect((await lab.host("h1").exec(stat)).stdout).toBe(before);
        expect(await novaActions(lab.host("h1"))).toEqual([`restart ${novaMd5}`]); // unchanged nova.conf: no restart

        const down = await h.destroy();
        expect(down.error).toBeUndefined();
        await expectRestored();
        // nova-compute restarted on the restored file
        expect((await novaActions(lab.host("h1"))).pop()).toBe(`restart ${originals.h1["/etc/nova/nova.conf"]!.split("\n")[1]}`);
        console.log(`libvirt TLS e2e: apply of 3 nodes + peer checks ${applyMs} ms`);
    }, 300_000);

    it("TLS with leaf certificates of an intermediate CA that is in the CA file", async () => {
        const inter = pki.pki.intermediateCa(pki.root, { commonName: "Migration Intermediate" });
        const material: Record<string, string> = {};
        const nodes = ["h1", "h2"].map((name) => {
            const address = lab.host(name).address;
            const server = pki.pki.leaf(inter, { commonName: name, dnsNames: [name], ipAddresses: [address], usages: ["serverAuth"] });
            const client = pki.pki.leaf(inter, { commonName: `${name} client via intermediate`, dnsNames: [], usages: ["clientAuth"] });
            material[`${name}-i-server`] = server.keyPem;
            material[`${name}-i-client`] = client.keyPem;
            return { host: name, tls: { serverCertificate: server.certPem, serverKey: `${name}-i-server`, clientCertificate: client.certPem, clientKey: `${name}-i-client` } };
        });
        const h = harness();
        const up = await h.apply(program, stack(tlsGroup({ name: "cell8", nodes, tls: { caCertificate: pki.root.certPem + inter.certPem } }), material));
        expect(up.error).toBeUndefined();
        expect((up.outputs.libvirt as any).cell8.nodes.map((n: any) => n.peers)).toEqual([{ h2: "ok" }, { h1: "ok" }]);
        expect((await h.destroy()).error).toBeUndefined();
        await expectRestored();
    }, 300_000);

    it("TCP with SASL DIGEST-MD5: the right password connects, a wrong one is refused", async () => {
        const h = harness();
        // the seed's era: liberty reads the migration flags (from [libvirt]; the seed's [DEFAULT] copy is removed)
        const group = { name: "cell2", transport: "tcp", auth: "sasl", sasl: { username: "migration", password: "sasl-pw" }, nova: { release: "liberty" }, nodes: [{ host: "h1" }, { host: "h2" }] };
        const password = "s3cret 'with' $(quotes)";
        const up = await h.apply(program, stack(group, { "sasl-pw": password }));
        expect(up.error).toBeUndefined();
        const out = (up.outputs.libvirt as any).cell2;
        expect(out.nodes.map((n: any) => n.peers)).toEqual([{ h2: "ok" }, { h1: "ok" }]);
        expect(out.warnings).toContain("sasl.mechanism: DIGEST-MD5 over plain TCP authenticates, but the migration control channel and the guest data are not encrypted; prefer transport tls on untrusted networks");
        const h2 = lab.host("h2").address;
        const right = await lab.host("h1").exec(`virsh -c qemu+tcp://${h2}/system hostname`);
        expect([right.code, right.stdout.trim()]).toEqual([0, "h2"]);
        const wrongAuth = `[credentials-x]\nauthname=migration\npassword=wrong password\n[auth-libvirt-${h2}]\ncredentials=x\n`;
        await lab.host("h1").exec("cat > /tmp/wrong-auth.conf", { input: wrongAuth });
        const wrong = await lab.host("h1").exec(`LIBVIRT_AUTH_FILE=/tmp/wrong-auth.conf virsh -c qemu+tcp://${h2}/system hostname`);
        expect(wrong.code).not.toBe(0);
        expect(wrong.stderr).toMatch(/authentication failed/i);
        const flags = parseIni((await lab.host("h1").exec("cat /etc/nova/nova.conf")).stdout);
        expect(flags.DEFAULT.block_migration_flag).toBeUndefined();
        expect(flags.libvirt).toEqual({
            virt_type: "qemu",
            live_migration_uri: "qemu+tcp://%s/system",
            live_migration_flag: "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE",
            block_migration_flag: "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE,VIR_MIGRATE_NON_SHARED_INC",
            live_migration_bandwidth: "0",
        });
        const none = await lab.host("h3").exec(`virsh -c qemu+tcp://${h2}/system hostname`);
        expect(none.code).not.toBe(0);
        expect((await h.destroy()).error).toBeUndefined();
        await expectRestored();
    }, 300_000);

    it("TLS with SASL (SCRAM-SHA-256) and an allowed client DN list: members connect, another certificate of the same CA is refused", async () => {
        const h = harness();
        const group = tlsGroup({
            name: "cell5",
            auth: "sasl",
            sasl: { password: "scram-pw" },
            tls: { caCertificate: pki.root.certPem, allowedClientDns: ["CN=h1 migration client", "CN=h2 migration client"] },
            nodes: [tlsNode("h1"), tlsNode("h2")],
        });
        const up = await h.apply(program, stack(group, { "scram-pw": "a long SCRAM password" }));
        expect(up.error).toBeUndefined();
        expect((up.outputs.libvirt as any).cell5.nodes.map((n: any) => n.peers)).toEqual([{ h2: "ok" }, { h1: "ok" }]);
        expect((await lab.host("h2").exec("grep mech_list /etc/sasl2/libvirt.conf")).stdout.trim()).toBe("mech_list: scram-sha-256");
        // h3's client certificate is signed by the same CA but its DN is not in the list
        const h1 = lab.host("h1");
        await h1.exec("mkdir -p /tmp/h3pki && cp /etc/pki/CA/cacert.pem /tmp/h3pki/");
        await h1.exec("cat > /tmp/h3pki/clientcert.pem", { input: pki.tls.h3.clientCertificate });
        await h1.exec("cat > /tmp/h3pki/clientkey.pem", { input: pki.tls.h3.clientKey });
        const h2 = lab.host("h2").address;
        const member = await h1.exec(`virsh -c qemu+tls://${h2}/system hostname`);
        expect([member.code, member.stdout.trim()]).toEqual([0, "h2"]);
        const outsider = await h1.exec(`virsh -c 'qemu+tls://${h2}/system?pkipath=/tmp/h3pki' hostname`);
        expect(outsider.code).not.toBe(0);
        expect(outsider.stderr).toContain("Unable to read TLS confirmation");
        expect((await lab.host("h2").exec("cat /var/log/libvirt/libvirtd.log")).stdout).toContain("Client's Distinguished Name is not on the list of allowed clients");
        expect((await h.destroy()).error).toBeUndefined();
        await expectRestored();
    }, 300_000);

    it("SSH: nothing listens; the check uses root's SSH keys, and a node without them is named", async () => {
        const h1 = lab.host("h1");
        const h2 = lab.host("h2");
        const group = { name: "cell7", transport: "ssh", nova: { release: "2024.2" }, nodes: [{ host: "h1" }, { host: "h2" }] };
        // h2 -> h1 has no key yet: named with ssh's error
        const h = harness();
        const first = await h.apply(program, stack(group));
        expect(first.error).toMatch(/node h[12] cannot open its peers with the URI nova uses; qemu\+ssh:\/\/198\.18\.0\.1[01]\/system: .*(Host key verification failed|Permission denied)/s);
        // keys and known hosts both ways (what nova's SSH setup does), then the check passes
        for (const [from, to] of [[h1, h2], [h2, h1]]) {
            const pub = await from.exec(`mkdir -p /root/.ssh && { [ -e /root/.ssh/id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519; } && ssh-keyscan -t ed25519 ${to.address} 2>/dev/null > /root/.ssh/known_hosts && cat /root/.ssh/id_ed25519.pub`);
            await to.exec("cat >> /run/hostwright-lab/authorized_keys", { input: pub.stdout });
        }
        const second = await h.apply(program, stack(group));
        expect(second.error).toBeUndefined();
        expect((second.outputs.libvirt as any).cell7.nodes.map((n: any) => [n.uri, n.peers])).toEqual([
            [`qemu+ssh://${h1.address}/system`, { h2: "ok" }],
            [`qemu+ssh://${h2.address}/system`, { h1: "ok" }],
        ]);
        expect(parseIni((await h1.exec("cat /etc/nova/nova.conf")).stdout).libvirt.live_migration_scheme).toBe("ssh");
        expect((await nodeSnapshot(h1)).listening).toBe("");
        expect((await h.destroy()).error).toBeUndefined();
        for (const host of [h1, h2]) await host.exec("rm -rf /root/.ssh && sed -i '/root@h[12]$/d' /run/hostwright-lab/authorized_keys");
        await expectRestored();
    }, 300_000);

    it("unauthenticated TCP is refused without the opt-in, applied with it and a warning naming the risk", async () => {
        const group = { name: "cell3", transport: "tcp", auth: "none", nodes: [{ host: "h2" }, { host: "h3" }] };
        await expect(harness().apply(program, stack(group))).rejects.toThrow(/hostwright:libvirt\[0\]\.auth: transport tcp with auth "none" lets anyone/);
        // h3's libvirtd was stopped before: apply starts it, destroy stops it again
        await lab.host("h3").exec("service libvirtd stop");
        const h = harness();
        const up = await h.apply(program, stack({ ...group, allowUnauthenticatedTcp: true }));
        expect(up.error).toBeUndefined();
        const out = (up.outputs.libvirt as any).cell3;
        expect(out.warnings[0]).toMatch(/^allowUnauthenticatedTcp: .*as root on every node/);
        const anyone = await lab.host("h1").exec(`virsh -c qemu+tcp://${lab.host("h3").address}/system hostname`);
        expect([anyone.code, anyone.stdout.trim()]).toEqual([0, "h3"]);
        expect((await h.destroy()).error).toBeUndefined();
        expect((await nodeSnapshot(lab.host("h3"))).libvirtd).toBe("stopped");
        await lab.host("h3").exec("service libvirtd start");
        await expectRestored();
    }, 300_000);

    it("libvirtd refusing the new configuration: the previous files come back and libvirtd runs on them", async () => {
        const h = harness();
        // an address h1 does not have: libvirtd --listen cannot bind it and exits
        const group = tlsGroup({ name: "cell6", nodes: [{ ...tlsNode("h1"), listenAddress: "192.0.2.99" }, tlsNode("h2")] });
        const up = await h.apply(program, stack(group));
        expect(up.error).toMatch(/cell6-h1-libvirt.*activation failed \(exit 1\); the previous files were put back/s);
        expect(await nodeSnapshot(lab.host("h1"))).toEqual(originals.h1);
        expect((await h.destroy()).error).toBeUndefined();
        await expectRestored();
    }, 300_000);

    it("a node that cannot open a peer is named with the error", async () => {
        const h = harness();
        // h2 listens on loopback only: its peers cannot reach it, h2 itself reaches h1
        const group = tlsGroup({ name: "cell4", nodes: [tlsNode("h1"), { ...tlsNode("h2"), listenAddress: "127.0.0.1" }] });
        const up = await h.apply(program, stack(group));
        expect(up.error).toMatch(/cell4-h1-peers.*node h1 cannot open its peers with the URI nova uses; qemu\+tls:\/\/198\.18\.0\.11\/system: .*(Connection refused|unable to connect)/s);
        expect(up.operations.find((o) => o.resource === "cell4-h2-peers")?.code ?? 0).toBe(0);
        expect((await h.destroy()).error).toBeUndefined();
        await expectRestored();
    }, 300_000);
});
