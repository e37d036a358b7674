/**
 * The drift check of a ResolverGuard (tools/check.ts running the steps' `verify` in check
 * mode) against real programs: the real dhclient-script, dnsmasq as the host's cache, two
 * test name servers. Each kind of drift is planted on the lab host as a package or an
 * operator would; the check must name it with the exact line and exit 2, the repair must
 * fix it (asserted by what the host resolves), and a second check must be clean.
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { dnsSection } from "../../components/dns/section";
import { ResolverGuard } from "../../components/dns/component";
import { DHCLIENT_HOOK, NETWORK_MANAGER_DROP_IN } from "../../components/dns/render";
import { declareStack } from "../../core/config/stack";
import { sh } from "../../core/shell";
import { checkCommands, CheckOptions, CheckReport, exitCode, repairCommands, StepCheck } from "../../tools/check";
import type { RecordedResource } from "../../tools/record";
import { Harness, labCheckSession, labStackConfig } from "../lab/harness";
import { Lab, LabHost, labDescribe, startLab } from "../lab/lab";
import { dhcpBound, installDnsmasqService, must, NMCLI_LOG, RESOLVCONF_HOOK, startNetworkManagerStandIn, startTestServer, stopNetworkManagerStandIn, waitForCache } from "./dns-lab";

const PINNED_ANSWER = "10.1.1.1";
const DEFAULT_ANSWER = "10.2.2.2";
const HOOKS = "/etc/dhcp/dhclient-enter-hooks.d";
/** A later hook a package might bring: it defines make_resolv_conf again. */
const VENDOR_HOOK = `${HOOKS}/zzz-vendor`;

labDescribe("ResolverGuard drift check and repair (lab: client, ns-pinned, ns-default)", () => {
    let lab: Lab;
    let client: LabHost;
    let pinnedServer: LabHost;
    let harness: Harness;
    let checkOpts: CheckOptions;
    let program: () => unknown;
    let declared: string;
    let workDir: string;

    /** The commands as `prog` declares them, with the real outputs of the steps `h` ran. */
    const commands = (h = harness, prog = program): Promise<RecordedResource[]> => h.declared(prog as () => void);
    const check = async (): Promise<CheckReport> => checkCommands(await commands(), checkOpts);
    const step = (report: CheckReport, name: string, host = "client"): StepCheck => report.hosts.find((h) => h.host === host)!.steps.find((s) => s.name === name)!;
    const driftOf = (report: CheckReport) => ({ resolv: step(report, "resolver-resolv").drift, pins: step(report, "resolver-pins").drift });
    const resolvConf = () => must(client, "cat /etc/resolv.conf");
    const pinsNotServed = (name: string, cached: string) =>
        `the dnsmasq cache at 127.0.0.1 answers ${name} A with '${cached}', the pinned servers (${pinnedServer.address}) with 'A ${PINNED_ANSWER}': it does not serve the pins (restarted with another configuration?)`;

    /** What the host resolves: through /etc/resolv.conf (a real file, as declared) and the cache, the pinned server's answers. */
    async function expectResolvedAsDeclared(): Promise<void> {
        expect((await client.exec("readlink /etc/resolv.conf")).stdout).toBe("");
        expect(await resolvConf()).toBe(declared);
        await waitForCache(client, "www.pinned.example");
        for (const name of ["www.pinned.example", "www.lab.test"]) expect((await must(client, sh`getent ahostsv4 ${name} | head -n 1`)).split(/\s+/)[0]).toBe(PINNED_ANSWER);
        expect((await must(client, "getent ahostsv4 www.other.example | head -n 1")).split(/\s+/)[0]).toBe(DEFAULT_ANSWER);
    }

    /** The check names exactly `expected` and exits 2; the repair fixes it; a second check is clean. */
    async function checkRepairCheck(expected: { resolv: string[]; pins: string[] }, afterRepair: () => Promise<void> = async () => undefined): Promise<void> {
        const drifted = await check();
        expect(driftOf(drifted)).toEqual(expected);
        expect(exitCode(drifted)).toBe(2);
        const repaired = await repairCommands(await commands(), drifted, checkOpts);
        expect(exitCode(repaired)).toBe(0);
        await expectResolvedAsDeclared();
        await afterRepair();
        const again = await check();
        expect(driftOf(again)).toEqual({ resolv: [], pins: [] });
        expect(exitCode(again)).toBe(0);
    }

    beforeAll(async () => {
        lab = await startLab({ hosts: ["client", "ns-pinned", "ns-default"] });
        const defaultServer = lab.host("ns-default");
        [client, pinnedServer] = lab.hosts;
        const records = (ip: string) => ({ "www.pinned.example": ip, "www.lab.test": ip, "www.other.example": ip });
        await Promise.all([startTestServer(pinnedServer, records(PINNED_ANSWER)), startTestServer(defaultServer, records(DEFAULT_ANSWER))]);
        // The client as resolvconf leaves it (resolv.conf a symlink into /run, its enter hook), with dnsmasq as its cache.
        await client.exec("mkdir -p /run/resolvconf && echo 'nameserver 198.18.0.99' > /run/resolvconf/resolv.conf && ln -sfn ../run/resolvconf/resolv.conf /etc/resolv.conf");
        await client.exec(sh`cat > ${`${HOOKS}/resolvconf`}`, { input: RESOLVCONF_HOOK });
        await installDnsmasqService(client, defaultServer.address);
        await waitForCache(client, "www.pinned.example");

        const guard = {
            name: "resolver",
            host: "client",
            resolvConf: { nameservers: ["127.0.0.1"], search: ["lab.test"] },
            cache: {
                kind: "dnsmasq",
                domains: [
                    { domain: "pinned.example", servers: [pinnedServer.address], probe: { name: "www.pinned.example" } },
                    { domain: "lab.test", servers: [pinnedServer.address], probe: { name: "www.lab.test" } },
                ],
            },
        };
        const { config, secretKeys } = labStackConfig(lab, { dns: [guard] }, ["client"]);
        program = () => declareStack({ values: config, secretKeys: new Set(secretKeys) }, [dnsSection]);
        workDir = mkdtempSync(join(tmpdir(), "hw-dns-drift-"));
        harness = new Harness(lab, join(workDir, "state.json"));
        checkOpts = { session: labCheckSession(lab), hostNames: { client: `${client.address}:22`, "ns-pinned": `${pinnedServer.address}:22` } };
        const up = await harness.apply(program as () => void);
        if (!up.ok) throw new Error(up.error);
        declared = await resolvConf();
    }, 120_000);

    afterAll(async () => {
        await lab?.down();
        if (workDir) rmSync(workDir, { recursive: true, force: true });
    }, 60_000);

    it("after the apply: ok (exit 0), both steps verified in one session, within the estate's budget", async () => {
        const report = await check();
        expect(driftOf(report)).toEqual({ resolv: [], pins: [] });
        expect(step(report, "resolver-resolv").status).toBe("ok");
        expect(step(report, "resolver-pins").status).toBe("ok");
        expect(exitCode(report)).toBe(0);
        expect(report.hosts[0].sessions).toBe(1);
        console.log(`dns drift e2e: check of client in ${report.hosts[0].durationMs} ms`);
        expect(report.hosts[0].durationMs).toBeLessThan(5_000); // the whole estate's budget; bench/ measures it
        await expectResolvedAsDeclared();
    }, 60_000);

    it("resolv.conf turned back into a symlink (a package enabling systemd-resolved)", async () => {
        await must(client, "mkdir -p /run/systemd/resolve && echo 'nameserver 127.0.0.53' > /run/systemd/resolve/stub-resolv.conf && ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf");
        await checkRepairCheck({
            resolv: [
                "/etc/resolv.conf: not a regular file",
                "/etc/resolv.conf is a symlink to ../run/systemd/resolve/stub-resolv.conf, not the declared file: whatever writes there (resolvconf, systemd-resolved, NetworkManager) decides the resolver",
            ],
            pins: [],
        });
    }, 120_000);

    it("the dhclient hook removed; after the repair a DHCP renewal leaves resolv.conf alone again", async () => {
        await must(client, sh`rm ${DHCLIENT_HOOK}`);
        await checkRepairCheck({ resolv: [`${DHCLIENT_HOOK}: missing`], pins: [] }, async () => {
            await dhcpBound(client);
            expect(await resolvConf()).toBe(declared);
        });
    }, 120_000);

    it("a later hook that defines make_resolv_conf again: named, and true (a renewal rewrites resolv.conf); once it is gone the repair puts the file back", async () => {
        await client.exec(sh`cat > ${VENDOR_HOOK}`, { input: RESOLVCONF_HOOK });
        const shadowed = await check();
        expect(driftOf(shadowed)).toEqual({ resolv: [`hook(s) ${VENDOR_HOOK} run after ${DHCLIENT_HOOK} and define make_resolv_conf again: DHCP rewrites /etc/resolv.conf`], pins: [] });
        expect(exitCode(shadowed)).toBe(2);
        await dhcpBound(client);
        expect(await resolvConf()).toBe("nameserver 203.0.113.53\nnameserver 203.0.113.54\n");
        await must(client, sh`rm ${VENDOR_HOOK}`);
        await checkRepairCheck({ resolv: ["/etc/resolv.conf: content differs"], pins: [] });
    }, 120_000);

    it("dnsmasq stopped: each pin unanswered; the repair restarts it", async () => {
        await must(client, "service dnsmasq stop");
        const refused = (name: string) => `the dnsmasq cache at 127.0.0.1 does not answer ${name} A: communications error to 127.0.0.1#53: connection refused`;
        await checkRepairCheck({ resolv: [], pins: [refused("www.pinned.example"), refused("www.lab.test")] });
    }, 120_000);

    it("dnsmasq restarted by hand without its conf.d (no pins): answers from the default server; the repair restarts it with the pins", async () => {
        await must(client, "service dnsmasq stop && dnsmasq -x /run/dnsmasq/dnsmasq.pid --conf-file=/etc/dnsmasq.conf");
        await waitForCache(client, "www.pinned.example");
        await checkRepairCheck({ resolv: [], pins: [pinsNotServed("www.pinned.example", `A ${DEFAULT_ANSWER}`), pinsNotServed("www.lab.test", `A ${DEFAULT_ANSWER}`)] });
    }, 120_000);

    it("NetworkManager's dns=none drop-in changed (stand-in NetworkManager; a guard whose name is hostile shell text): named; the repair writes it back", async () => {
        const name = `nm'$(touch /tmp/pwned)"\`id\``;
        await startNetworkManagerStandIn(pinnedServer);
        const nmHarness = new Harness(lab, join(workDir, "nm.json"));
        const nmProgram = () => {
            new ResolverGuard(name, { host: pinnedServer.inventory(), resolvConf: { nameservers: ["198.18.0.53"] } });
        };
        try {
            const up = await nmHarness.apply(nmProgram);
            if (!up.ok) throw new Error(up.error);
            const dropIn = await must(pinnedServer, sh`cat ${NETWORK_MANAGER_DROP_IN}`);
            expect(dropIn).toContain(name);
            await must(pinnedServer, sh`sed -i 's/^dns=none$/dns=default/' ${NETWORK_MANAGER_DROP_IN} && : > ${NMCLI_LOG}`);
            const checkNm = async () => checkCommands(await commands(nmHarness, nmProgram), checkOpts);
            const drifted = await checkNm();
            // The guard's step drifted; nothing else did (the host's library step, core/library.ts, is checked too).
            expect(drifted.hosts.map((h) => [h.host, h.steps.flatMap((st) => st.drift)])).toEqual([["ns-pinned", [`${NETWORK_MANAGER_DROP_IN} is missing or changed: NetworkManager may rewrite /etc/resolv.conf (declared: [main] dns=none)`]]]);
            expect(step(drifted, `${name}-resolv`, "ns-pinned").drift).toHaveLength(1);
            expect(exitCode(drifted)).toBe(2);

            const repaired = await repairCommands(await commands(nmHarness, nmProgram), drifted, checkOpts);
            expect(exitCode(repaired)).toBe(0);
            // what NetworkManager reads again, and it was told to reload
            expect(await must(pinnedServer, sh`cat ${NETWORK_MANAGER_DROP_IN}`)).toBe(dropIn);
            expect(await must(pinnedServer, sh`cat ${NMCLI_LOG}`)).toBe("general reload\n");
            expect(exitCode(await checkNm())).toBe(0);
            for (const host of [pinnedServer, client]) expect((await host.exec("test -e /tmp/pwned")).code).toBe(1);
            expect((await nmHarness.destroy()).error).toBeUndefined();
        } finally {
            await stopNetworkManagerStandIn(pinnedServer);
        }
    }, 120_000);

    it("RHEL layout: PEERDNS turned back on in the ifcfg file: the managed setting named with its diff; the repair edits it back in place", async () => {
        const rhel = lab.host("ns-default");
        const ifcfg = "/etc/sysconfig/network-scripts/ifcfg-eth0";
        await rhel.exec(sh`mkdir -p /etc/sysconfig/network-scripts && cat > ${ifcfg}`, { input: "DEVICE=eth0\nBOOTPROTO=dhcp\nPEERDNS=yes\nONBOOT=yes\n" });
        const rhelHarness = new Harness(lab, join(workDir, "rhel.json"));
        const rhelProgram = () => {
            new ResolverGuard("legacy", { host: { ...rhel.inventory(), os: "rhel" }, resolvConf: { nameservers: ["198.18.0.53"] }, interfaces: ["eth0"] });
        };
        const rhelOpts = { ...checkOpts, hostNames: { "ns-default": `${rhel.address}:22` } };
        const checkRhel = async () => checkCommands(await commands(rhelHarness, rhelProgram), rhelOpts);
        const up = await rhelHarness.apply(rhelProgram);
        if (!up.ok) throw new Error(up.error);
        expect(exitCode(await checkRhel())).toBe(0);

        await must(rhel, sh`sed -i 's/^PEERDNS=no$/PEERDNS=yes/' ${ifcfg}`);
        const drifted = await checkRhel();
        const guardStep = step(drifted, "legacy-resolv", "ns-default");
        expect(guardStep.drift).toEqual([`${ifcfg}: managed settings differ`]);
        expect(guardStep.diffs.join("\n")).toMatch(/^-PEERDNS=yes\n\+PEERDNS=no$/m);
        expect(exitCode(drifted)).toBe(2);

        expect(exitCode(await repairCommands(await commands(rhelHarness, rhelProgram), drifted, rhelOpts))).toBe(0);
        expect(await must(rhel, sh`cat ${ifcfg}`)).toBe("DEVICE=eth0\nBOOTPROTO=dhcp\nPEERDNS=no\nONBOOT=yes\n");
        expect(exitCode(await checkRhel())).toBe(0);
        expect((await rhelHarness.destroy()).error).toBeUndefined();
        expect(await must(rhel, sh`cat ${ifcfg}`)).toBe("DEVICE=eth0\nBOOTPROTO=dhcp\nPEERDNS=yes\nONBOOT=yes\n");
    }, 120_000);
});
