/**
 * ResolverGuard against real programs on lab hosts, applied through the
 * `hostwright:dns` stack section with the lab harness (what the real program
 * declares, over real SSH): dhclient-script renewals, dnsmasq and unbound as the
 * host's cache, two test name servers (dnsmasq answering a test zone).
 */
import { mkdtempSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { declareStack } from "../../core/config/stack";
import { dnsSection } from "../../components/dns/section";
import { DHCLIENT_HOOK, NETWORK_MANAGER_DROP_IN } from "../../components/dns/render";
import { ResolverGuard } from "../../components/dns/component";
import { Harness, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, snapshotTree, startLab } from "../lab/lab";
import { clearQueryLog, waitForCache, dhcpBound, dhclientLease, startDhcpServer, digA, installDnsmasqService, installUnboundConfig, must, queriedNames, NMCLI_LOG, RESOLVCONF_HOOK, startNetworkManagerStandIn, startTestServer, stopNetworkManagerStandIn } from "./dns-lab";

const PINNED_ANSWER = "10.1.1.1";
const DEFAULT_ANSWER = "10.2.2.2";
/** What resolvconf leaves: /etc/resolv.conf a symlink into /run. */
const RESOLVCONF_TARGET = "/run/resolvconf/resolv.conf";
const ORIGINAL_RESOLV = "nameserver 198.18.0.99\n";

/**
 * Drops directories the overlay copied up (a file was made below them and removed
 * again) that the machine's own root has too, with the same mode and owner: the
 * merged view did not change there.
 */
function withoutCopiedUpDirs(after: Record<string, string>, before: Record<string, string>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(after).filter(([path, entry]) => {
            if (path in before || !entry.startsWith("dir ")) return true;
            const lower = statSync(`/${path}`, { throwIfNoEntry: false });
            return !(lower?.isDirectory() && entry === `dir ${(lower.mode & 0o7777).toString(8)} ${lower.uid}:${lower.gid}`);
        }),
    );
}

labDescribe("ResolverGuard on lab hosts (dhclient-script, dnsmasq, unbound)", () => {
    let lab: Lab;
    let client: LabHost;
    let pinnedServer: LabHost;
    let defaultServer: LabHost;
    let workDir: string;

    const guard = (kind: "dnsmasq" | "unbound") => ({
        name: "resolver",
        host: "client",
        resolvConf: { nameservers: ["127.0.0.1"], search: ["lab.test"], options: ["timeout:2", "attempts:2"] },
        cache: {
            kind,
            domains: [
                { domain: "pinned.example", servers: [pinnedServer.address], probe: { name: "www.pinned.example" } },
                // below a name unbound answers itself by default (RFC 6761 "test")
                { domain: "lab.test", servers: [pinnedServer.address], probe: { name: "www.lab.test" } },
            ],
        },
    });
    const program = (guards: unknown[]) => {
        const { config, secretKeys } = labStackConfig(lab, { dns: guards }, ["client"]);
        return () => declareStack({ values: config, secretKeys: new Set(secretKeys) }, [dnsSection]);
    };
    const resolvConf = () => must(client, "cat /etc/resolv.conf");
    const resolvLink = async () => (await client.exec("readlink /etc/resolv.conf")).stdout.trim();

    beforeAll(async () => {
        const t0 = Date.now();
        lab = await startLab({ hosts: ["client", "ns-pinned", "ns-default"] });
        [client, pinnedServer, defaultServer] = lab.hosts;
        const records = (ip: string) => ({ "www.pinned.example": ip, "www.lab.test": ip, "www.other.example": ip });
        await Promise.all([startTestServer(pinnedServer, records(PINNED_ANSWER)), startTestServer(defaultServer, records(DEFAULT_ANSWER)), startDhcpServer(defaultServer)]);
        // The client as resolvconf leaves it: /etc/resolv.conf is a symlink into /run.
        await client.exec(`mkdir -p /run/resolvconf && cat > ${RESOLVCONF_TARGET} && ln -sfn ..${RESOLVCONF_TARGET} /etc/resolv.conf`, { input: ORIGINAL_RESOLV });
        workDir = mkdtempSync(join(tmpdir(), "hw-dns-e2e-"));
        console.log(`dns e2e: lab and test name servers ready in ${Date.now() - t0} ms`);
    }, 60_000);

    afterAll(async () => {
        if (workDir) rmSync(workDir, { recursive: true, force: true });
        await lab?.down();
    });

    it("without the guard, a DHCP renewal rewrites resolv.conf (dhclient-script's own make_resolv_conf, resolvconf's, a real lease)", async () => {
        await dhcpBound(client);
        expect(await resolvConf()).toBe("domain dhcp.test\nsearch dhcp.test\nnameserver 203.0.113.53\nnameserver 203.0.113.54\n");
        await client.exec(`cat > ${RESOLVCONF_TARGET}`, { input: ORIGINAL_RESOLV });
        // From now on the client also has the resolvconf package's hook (a stand-in that rewrites resolv.conf).
        await client.exec("cat > /etc/dhcp/dhclient-enter-hooks.d/resolvconf", { input: RESOLVCONF_HOOK });
        await dhcpBound(client);
        expect(await resolvConf()).toBe("nameserver 203.0.113.53\nnameserver 203.0.113.54\n");
        await client.exec(`cat > ${RESOLVCONF_TARGET}`, { input: ORIGINAL_RESOLV });
        // and so does a real lease from the lab's DHCP server
        expect(await dhclientLease(client)).toMatch(/^198\.18\.1\./);
        expect(await resolvConf()).toBe("nameserver 203.0.113.77\n");
        await client.exec(`cat > ${RESOLVCONF_TARGET}`, { input: ORIGINAL_RESOLV });
        expect(await resolvLink()).toBe(`..${RESOLVCONF_TARGET}`);
    }, 60_000);

    it("a probe the pinned server does not answer fails the apply; the previous pin file and cache stay in service", async () => {
        await installDnsmasqService(client, defaultServer.address);
        await waitForCache(client, "www.pinned.example");
        const before = snapshotTree(client.upperDir);
        const harness = new Harness(lab, join(workDir, "dead.json"));
        const dead = { name: "resolver", host: "client", cache: { kind: "dnsmasq", domains: [{ domain: "pinned.example", servers: ["198.18.0.250"], probe: { name: "www.pinned.example" } }] } };
        const up = await harness.apply(program([dead]));
        expect(up.error).toMatch(/no answer for www\.pinned\.example A via 127\.0\.0\.1 \(pinned to 198\.18\.0\.250\)/);
        expect(up.error).toContain("the previous files were put back");
        await waitForCache(client, "www.pinned.example");
        expect(await digA(client, "www.pinned.example")).toBe(DEFAULT_ANSWER);
        // The failed create keeps its claim until the engine deletes the failed resource (core/README.md, ownership).
        expect((await harness.destroy()).error).toBeUndefined();
        expect(withoutCopiedUpDirs(snapshotTree(client.upperDir), before)).toEqual(before);
        await must(client, "service dnsmasq stop");
    }, 60_000);

    it("RHEL layout: PEERDNS=no edited into the ifcfg file in place and the NetworkManager drop-in (stand-in NetworkManager), both restored; a missing ifcfg file fails before anything changes", async () => {
        const ifcfg = "/etc/sysconfig/network-scripts/ifcfg-eth0";
        const original = "# written by anaconda\nDEVICE=eth0\nBOOTPROTO=dhcp\nPEERDNS=yes\nONBOOT=yes\n";
        await client.exec(`mkdir -p /etc/sysconfig/network-scripts && cat > ${ifcfg}`, { input: original });
        await startNetworkManagerStandIn(client);
        const before = snapshotTree(client.upperDir);
        const rhelHost = { ...client.inventory(), os: "rhel" as const };
        const harness = new Harness(lab, join(workDir, "rhel.json"));
        const guardOn = (interfaces: string[]) => () => {
            new ResolverGuard("legacy", { host: rhelHost, resolvConf: { nameservers: ["198.18.0.53"] }, interfaces });
        };

        const missing = await harness.apply(guardOn(["eth0", "eth1"]));
        expect(missing.error).toContain("/etc/sysconfig/network-scripts/ifcfg-eth1 does not exist");
        expect((await harness.destroy()).error).toBeUndefined();
        expect(withoutCopiedUpDirs(snapshotTree(client.upperDir), before)).toEqual(before);

        const up = await harness.apply(guardOn(["eth0"]));
        expect(up.error).toBeUndefined();
        expect(await must(client, `cat ${ifcfg}`)).toBe(original.replace("PEERDNS=yes", "PEERDNS=no"));
        expect(await resolvConf()).toMatch(/\nnameserver 198\.18\.0\.53\n$/);
        // no dhclient hook on RHEL (its dhclient-script honours PEERDNS)
        expect((await client.exec(`test -e ${DHCLIENT_HOOK}; echo $?`)).stdout.trim()).toBe("1");
        // NetworkManager is installed and runs: the drop-in, then a reload
        expect(await must(client, `cat ${NETWORK_MANAGER_DROP_IN}`)).toMatch(/\n\[main\]\ndns=none\n$/);
        expect(await must(client, `cat ${NMCLI_LOG}`)).toBe("general reload\n");
        expect((await harness.apply(guardOn(["eth0"]))).operations).toEqual([]);

        expect((await harness.destroy()).error).toBeUndefined();
        expect((await client.exec(`test -e ${NETWORK_MANAGER_DROP_IN}; echo $?`)).stdout.trim()).toBe("1");
        expect(await must(client, `cat ${NMCLI_LOG}`)).toBe("general reload\ngeneral reload\n");
        expect(await must(client, `cat ${ifcfg}`)).toBe(original);
        expect(await resolvLink()).toBe(`..${RESOLVCONF_TARGET}`);
        expect(withoutCopiedUpDirs(snapshotTree(client.upperDir), before)).toEqual(before);
        await stopNetworkManagerStandIn(client);
    }, 60_000);

    it("a bind-mounted resolv.conf (a container's) fails the apply clearly, before anything changes", async () => {
        const before = snapshotTree(client.upperDir);
        await must(client, "echo 'nameserver 198.18.0.1' > /tmp/mounted-resolv.conf && mount --bind /tmp/mounted-resolv.conf /etc/resolv.conf");
        try {
            const harness = new Harness(lab, join(workDir, "mounted.json"));
            const up = await harness.apply(program([{ name: "resolver", host: "client", resolvConf: { nameservers: ["127.0.0.1"] } }]));
            expect(up.error).toContain("/etc/resolv.conf is a mount point");
            expect((await harness.destroy()).error).toBeUndefined();
        } finally {
            await must(client, "umount /etc/resolv.conf");
        }
        expect(withoutCopiedUpDirs(snapshotTree(client.upperDir), before)).toEqual(before);
        expect(await resolvLink()).toBe(`..${RESOLVCONF_TARGET}`);
    });

    it.each(["dnsmasq", "unbound"] as const)(
        "with %s as the cache: resolv.conf kept through a DHCP renewal and a real lease, the pinned domain goes to the pinned server only; a second apply runs nothing; destroy restores every file",
        async (kind) => {
            if (kind === "dnsmasq") await installDnsmasqService(client, defaultServer.address);
            else {
                await installUnboundConfig(client, defaultServer.address);
                await must(client, "service unbound start >/dev/null 2>&1 </dev/null");
            }
            await waitForCache(client, "www.pinned.example");
            expect(await digA(client, "www.pinned.example")).toBe(DEFAULT_ANSWER);
            const before = snapshotTree(client.upperDir);
            const harness = new Harness(lab, join(workDir, `${kind}.json`));

            const t0 = Date.now();
            const up = await harness.apply(program([guard(kind)]));
            expect(up.error).toBeUndefined();
            console.log(`dns e2e (${kind}): first apply ${Date.now() - t0} ms, ${up.operations.length} operations`);
            const out = (up.outputs.dns as Record<string, Record<string, unknown>>).resolver;
            expect(out.answers).toEqual({ "pinned.example": PINNED_ANSWER, "lab.test": PINNED_ANSWER });
            expect(out.files).toEqual(expect.arrayContaining(["/etc/resolv.conf", DHCLIENT_HOOK]));
            expect(String(out.glibc)).toMatch(/^2\.\d+/);
            expect(out.warnings).toEqual([]);

            // resolv.conf: a real file with the declared content; the hook sorts after resolvconf's.
            const declared = await resolvConf();
            expect(declared).toMatch(/^# Managed by hostwright.*\nsearch lab.test\nnameserver 127.0.0.1\noptions timeout:2 attempts:2\n$/);
            expect(await resolvLink()).toBe("");
            const hooks = (await must(client, "run-parts --list /etc/dhcp/dhclient-enter-hooks.d")).trim().split("\n");
            expect(hooks.slice(-2)).toEqual(["/etc/dhcp/dhclient-enter-hooks.d/resolvconf", DHCLIENT_HOOK]);
            await dhcpBound(client);
            expect(await resolvConf()).toBe(declared);
            expect(await dhclientLease(client)).toMatch(/^198\.18\.1\./);
            expect(await resolvConf()).toBe(declared);

            // Pinned domain to the pinned server only; everything else to the default one.
            await must(client, `service ${kind} restart >/dev/null 2>&1 </dev/null`); // an empty cache
            await waitForCache(client, "www.other.example");
            await Promise.all([clearQueryLog(pinnedServer), clearQueryLog(defaultServer)]);
            expect(await digA(client, "www.pinned.example")).toBe(PINNED_ANSWER);
            expect(await digA(client, "www.lab.test")).toBe(PINNED_ANSWER);
            expect(await digA(client, "www.other.example")).toBe(DEFAULT_ANSWER);
            expect(await queriedNames(pinnedServer)).toEqual(expect.arrayContaining(["www.pinned.example", "www.lab.test"]));
            expect(await queriedNames(pinnedServer)).not.toContain("www.other.example");
            expect(await queriedNames(defaultServer)).toContain("www.other.example");
            expect(await queriedNames(defaultServer)).not.toContain("www.pinned.example");
            expect(await queriedNames(defaultServer)).not.toContain("www.lab.test");

            const again = await harness.apply(program([guard(kind)]));
            expect(again.error).toBeUndefined();
            expect(again.operations).toEqual([]);

            const down = await harness.destroy();
            expect(down.error).toBeUndefined();
            expect(await resolvLink()).toBe(`..${RESOLVCONF_TARGET}`);
            expect(await resolvConf()).toBe(ORIGINAL_RESOLV);
            // The cache was restarted with its original files: no pin any more.
            await waitForCache(client, "www.pinned.example");
            expect(await digA(client, "www.pinned.example")).toBe(DEFAULT_ANSWER);
            expect(withoutCopiedUpDirs(snapshotTree(client.upperDir), before)).toEqual(before);

            if (kind === "dnsmasq") await must(client, "service dnsmasq stop");
            else await must(client, "service unbound stop >/dev/null 2>&1");
        },
        60_000,
    );
});
