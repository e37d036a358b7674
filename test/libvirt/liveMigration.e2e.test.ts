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
        try {
            const up = await h.apply(program, stack(group));
            expect(up.error).toMatch(/cell6-h1-libvirt.*activation failed \(exit 1\); the previous files were put back/s);
            expect(await nodeSnapshot(lab.host("h1"))).toEqual(originals.h1);
        } finally {
            // whatever happened, the next tests start from the nodes' own state
            expect((await h.destroy()).error).toBeUndefined();
        }
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

    describe("the migration data plane", () => {
        const capsUuid = async (h: string) => (await lab.host(h).exec("virsh -c qemu:///system capabilities | sed -n 's/.*<uuid>\\(.*\\)<\\/uuid>.*/\\1/p' | head -n 1")).stdout.trim();

        it("QEMU's migration ports from the args, a listener in them reached from every peer, names, CPUs and host UUIDs per pair", async () => {
            const h = harness();
            // migration addresses by name: each node resolves its peers' names (lab /etc/hosts)
            const group = tlsGroup({ name: "plane", migrationPortMin: 49400, migrationPortMax: 49410, nodes: HOSTS.map((n) => ({ ...tlsNode(n), migrationAddress: n })) });
            const up = await h.apply(program, stack(group));
            expect(up.error).toBeUndefined();
            const out = (up.outputs.libvirt as any).plane;
            for (const s of HOSTS) {
                for (const t of HOSTS.filter((x) => x !== s)) {
                    expect([`${s}->${t}`, out.pairs[`${s}->${t}`]]).toEqual([
                        `${s}->${t}`,
                        { control: "ok", dataPorts: expect.stringMatching(/^ok \(port 49(40\d|410)\)$/), cpu: "ok", name: `ok (${t} -> ${lab.host(t).address})` },
                    ]);
                }
            }
            // what QEMU's driver reads, and what each node serves
            for (const n of HOSTS) {
                const qemuConf = parseIni((await lab.host(n).exec("cat /etc/libvirt/qemu.conf")).stdout)[""];
                expect([n, qemuConf.migration_port_min, qemuConf.migration_port_max]).toEqual([n, "49400", "49410"]);
            }
            const uuids = out.nodes.map((x: any) => x.hostUuid);
            expect(await Promise.all(HOSTS.map(capsUuid))).toEqual(uuids);
            expect(new Set(uuids).size).toBe(3);
            expect(out.nodes[0].cpu.source).toBe("capabilities");
            // every lab host is this machine: the common features are all of them
            expect(out.cpuCommonFeatures).toEqual(expect.arrayContaining(["avx2", "sse4.2"]));
            // the listener is live: h1 reads h2's greeting on the reported port
            const greeting = await lab.host("h1").exec(`timeout 5 bash -c 'exec 3<>/dev/tcp/h2/${out.nodes[1].dataPort} && head -c 25 <&3'`);
            expect(greeting.stdout).toBe("hostwright migration port");
            expect((await h.destroy()).error).toBeUndefined();
            await expectRestored(); // qemu.conf gone again, no listener left
        }, 300_000);

        it("a node that cannot reach its peers' migration ports fails the deploy naming the pairs; control still works", async () => {
            const h1 = lab.host("h1");
            // h1 may reach h2 and h3, but not on 49400-49410 (the kernel refuses: EACCES)
            await h1.exec("ip rule add ipproto tcp dport 49400-49410 prohibit");
            try {
                const h = harness();
                const up = await h.apply(program, stack(tlsGroup({ name: "blocked", migrationPortMin: 49400, migrationPortMax: 49410 })));
                expect(up.failure?.resource).toBe("blocked-h1-peers");
                expect(up.failure?.stderr).toMatch(/node h1 cannot reach its peers the way a migration's data does; QEMU migration port 494\d\d on h2 \(198\.18\.0\.11\): .*Permission denied.*; QEMU migration port 494\d\d on h3 \(198\.18\.0\.12\)/s);
                expect(up.failure?.stdout).toContain("HOSTWRIGHT_OUTPUT peer.h2=ok");
                for (const other of ["blocked-h2-peers", "blocked-h3-peers"]) expect(up.operations.find((o) => o.resource === other)?.code ?? 0).toBe(0);
                expect((await h.destroy()).error).toBeUndefined();
            } finally {
                await h1.exec("ip rule del ipproto tcp dport 49400-49410 prohibit");
            }
            await expectRestored();
        }, 300_000);

        it("cloned nodes with one host UUID are refused naming both; hostUuid management fixes it and libvirt serves the new UUID", async () => {
            // h1 and h2 take libvirt's UUID from /etc/machine-id, which the lab hosts share: a cloned image
            for (const n of ["h1", "h2"]) await lab.host(n).exec(`printf 'host_uuid_source = "machine-id"\\n' >> /etc/libvirt/libvirtd.conf`);
            const h = harness();
            try {
                const group = tlsGroup({ name: "clones", nodes: [tlsNode("h1"), tlsNode("h2")] });
                const up = await h.apply(program, stack(group));
                const machineId = (await lab.host("h1").exec("cat /etc/machine-id")).stdout.trim().replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
                expect(up.failure?.resource).toMatch(/^clones-h[12]-peers$/);
                expect(up.failure?.stderr).toMatch(new RegExp(`duplicate host UUID in the migration group; nodes (h1 and h2|h2 and h1) have the same host UUID ${machineId} \\(cloned images\\?\\): a migration between them fails with 'Attempt to migrate guest to the same host'`));
                expect(await capsUuid("h2")).toBe(machineId);

                const fixed = "6c1f0e7a-3b59-4d0e-8a6f-0d2b9e51c7a4";
                const again = await h.apply(program, stack({ ...group, nodes: [tlsNode("h1"), { ...tlsNode("h2"), hostUuid: fixed }] }));
                expect(again.error).toBeUndefined();
                expect(await capsUuid("h2")).toBe(fixed);
                expect((again.outputs.libvirt as any).clones.nodes.map((x: any) => x.hostUuid)).toEqual([machineId, fixed]);
                expect((again.outputs.libvirt as any).clones.pairs["h1->h2"]).toMatchObject({ control: "ok", dataPorts: expect.stringMatching(/^ok/) });
            } finally {
                expect((await h.destroy()).error).toBeUndefined();
                for (const n of ["h1", "h2"]) await lab.host(n).exec("sed -i '/^host_uuid_source = \"machine-id\"$/d' /etc/libvirt/libvirtd.conf");
            }
            expect((await lab.host("h2").exec("grep -c '^host_uuid ' /etc/libvirt/libvirtd.conf || true")).stdout.trim()).toBe("0");
            await expectRestored();
        }, 300_000);

        it("a peer name that resolves elsewhere on one node is reported with where it leads", async () => {
            const h1 = lab.host("h1");
            // on h1 only, "h3" leads to h2's address (a stale /etc/hosts line ahead of the right one)
            await h1.exec("cp /etc/hosts /tmp/hosts.orig && { echo '198.18.0.11 h3'; cat /tmp/hosts.orig; } > /etc/hosts");
            const h = harness();
            try {
                const up = await h.apply(program, stack(tlsGroup({ name: "names", nodes: HOSTS.map((n) => ({ ...tlsNode(n), migrationAddress: n })) })));
                // h1 reaches h2 when it dials h3: h2's certificate does not cover h3, so the control check fails too
                expect(up.failure?.resource).toBe("names-h1-peers");
                // /etc/hosts gives both lines (multi on): the first one is h2's
                expect(up.failure?.stdout).toContain("HOSTWRIGHT_OUTPUT name.h3=elsewhere: h3 resolves to 198.18.0.11 198.18.0.12 here; 198.18.0.11 not an address of h3 (");
                expect(up.failure?.stdout).toContain("HOSTWRIGHT_OUTPUT name.h2=ok (h2 -> 198.18.0.11)");
                expect(up.failure?.stderr).toMatch(/node h1 cannot open its peers with the URI nova uses; qemu\+tls:\/\/h3\/system: /);
            } finally {
                expect((await h.destroy()).error).toBeUndefined();
                await h1.exec("cp /tmp/hosts.orig /etc/hosts && rm -f /tmp/hosts.orig");
            }
            await expectRestored();
        }, 300_000);

        it("nova's cpu_mode custom: every node runs kvm64, none runs Cascadelake-Server (virsh cpu-compare on each node); a warning per pair, not a failure", async () => {
            const h = harness();
            const group = (cpuModels: string[]) => tlsGroup({ name: "models", nova: { release: "2023.1", cpuMode: "custom", cpuModels }, nodes: [tlsNode("h1"), tlsNode("h2")] });
            try {
                const ok = await h.apply(program, stack(group(["kvm64"])));
                expect(ok.error).toBeUndefined();
                expect((ok.outputs.libvirt as any).models.pairs["h1->h2"].cpu).toBe("ok");
                const nova = parseIni((await lab.host("h2").exec("cat /etc/nova/nova.conf")).stdout).libvirt;
                expect([nova.cpu_mode, nova.cpu_models]).toEqual(["custom", "kvm64"]);

                const bad = await h.apply(program, stack(group(["kvm64", "Cascadelake-Server"])));
                expect(bad.error).toBeUndefined();
                const out = (bad.outputs.libvirt as any).models;
                expect(out.pairs["h1->h2"].cpu).toMatch(/^incompatible: h2 cannot run cpu_models Cascadelake-Server \(CPU described in the model is incompatible with host CPU/);
                expect(out.pairs["h2->h1"].cpu).toMatch(/^incompatible: h1 cannot run cpu_models Cascadelake-Server/);
                expect(out.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^h1: CPU towards h2: incompatible: h2 cannot run cpu_models Cascadelake-Server/)]));
            } finally {
                expect((await h.destroy()).error).toBeUndefined();
            }
            await expectRestored();
        }, 300_000);

        it("what the lab cannot show: CPUs differ nowhere here (every lab host is this machine) and no VM migrates (no QEMU installed)", async () => {
            const cpus = await Promise.all(HOSTS.map(async (n) => (await lab.host(n).exec("virsh -c qemu:///system capabilities | sed -n '/<host>/,/<\\/host>/p' | grep -E '<(vendor|model)>|<feature ' | md5sum")).stdout));
            expect(new Set(cpus).size).toBe(1);
            expect((await lab.host("h1").exec("command -v qemu-system-x86_64 qemu-kvm /usr/libexec/qemu-kvm || echo none")).stdout.trim()).toBe("none");
        });
    });
});
