import { execFileSync, spawnSync } from "child_process";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
    compareRpmVersions,
    DHCLIENT_HOOK,
    glibcEaiAgainWarning,
    glibcHasEaiAgainBug,
    peerdnsFilterFunction,
    planCache,
    renderDhclientHook,
    renderDnscachePins,
    renderDnsmasqPins,
    renderGuardStep,
    renderPinsStep,
    renderResolvConf,
    renderUnboundPins,
} from "../../components/dns/render";
import type { CacheArgs } from "../../components/dns/args";
import { renderStep, stagedFilesOf, StepSpec } from "../../core/step";

const service = (name: string, action: string) => `service ${name} ${action}`;
let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "hw-dns-render-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("resolv.conf and the dhclient enter hook", () => {
    it("renders search, name servers and options in resolv.conf(5) order", () => {
        expect(renderResolvConf("edge", { nameservers: ["127.0.0.1", "2001:db8::53"], search: ["Example.ORG."], options: ["timeout:2", "rotate"] })).toBe(
            "# Managed by hostwright (ResolverGuard edge): DHCP does not rewrite this file.\nsearch example.org\nnameserver 127.0.0.1\nnameserver 2001:db8::53\noptions timeout:2 rotate\n",
        );
        expect(renderResolvConf("a\nb", { nameservers: ["192.0.2.1"] })).toBe("# Managed by hostwright (ResolverGuard a b): DHCP does not rewrite this file.\nnameserver 192.0.2.1\n");
    });

    it("the hook is listed by run-parts, after the resolvconf package's hook and the others", () => {
        const hooks = join(dir, "dhclient-enter-hooks.d");
        mkdirSync(hooks);
        const name = DHCLIENT_HOOK.slice(DHCLIENT_HOOK.lastIndexOf("/") + 1);
        for (const n of ["resolvconf", "debug", "ntp", "zz-dotted.sh", name]) writeFileSync(join(hooks, n), "");
        const listed = execFileSync("run-parts", ["--list", hooks], { encoding: "utf8" }).trim().split("\n");
        // run-parts skips the dotted name: the reason the hook has no dot.
        expect(listed.map((p) => p.slice(hooks.length + 1))).toEqual(["debug", "ntp", "resolvconf", name]);
    });

    it("sourced like dhclient-script does, it replaces make_resolv_conf and does not end the script", () => {
        const hook = join(dir, "hook");
        writeFileSync(hook, renderDhclientHook("edge"));
        const script = `make_resolv_conf() { echo rewritten; }\n. ${hook}\nmake_resolv_conf\necho still running`;
        expect(execFileSync("sh", ["-c", script], { encoding: "utf8" })).toBe("still running\n");
        expect(renderDhclientHook("edge")).not.toMatch(/\bexit\b/);
    });
});

// The filter runs under the host's awk: gawk on RHEL, mawk on Debian, busybox on small images.
const AWKS = ["mawk", "gawk", "busybox"].filter((bin) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0);

describe.each(AWKS)("PEERDNS=no in ifcfg files (the host-side filter, %s)", (awk) => {
    let bin: string;
    beforeAll(() => {
        bin = mkdtempSync(join(tmpdir(), "hw-dns-awk-"));
        symlinkSync(execFileSync("sh", ["-c", `command -v ${awk}`], { encoding: "utf8" }).trim(), join(bin, "awk"));
    });
    afterAll(() => rmSync(bin, { recursive: true, force: true }));
    const filter = (input: string) => execFileSync("bash", ["-c", `${peerdnsFilterFunction()}\nhwd_peerdns_no`], { input, encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });

    it("runs under this awk", () => {
        expect(execFileSync("sh", ["-c", "command -v awk"], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } }).trim()).toBe(join(bin, "awk"));
    });

    it.each<[string, string, string]>([
        ["appends it when missing", 'DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n', 'DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\nPEERDNS=no\n'],
        ["rewrites yes in place", 'DEVICE=eth0\nPEERDNS=yes\nONBOOT=yes\n', 'DEVICE=eth0\nPEERDNS=no\nONBOOT=yes\n'],
        ["keeps one assignment of several", 'PEERDNS=yes\n# a comment\nexport PEERDNS="yes"\nDNS1=192.0.2.1\n', 'PEERDNS=no\n# a comment\nDNS1=192.0.2.1\n'],
        ["leaves a quoted no byte for byte (even without a final newline)", "DEVICE=eth0\nPEERDNS='no'", "DEVICE=eth0\nPEERDNS='no'"],
        ["leaves comments that mention it", "# PEERDNS=yes was here\nPEERDNS=no\n", "# PEERDNS=yes was here\nPEERDNS=no\n"],
        ["writes a file that did not exist (empty input)", "", "PEERDNS=no\n"],
    ])("%s", (_what, input, expected) => {
        const once = filter(input);
        expect(once).toBe(expected);
        expect(filter(once)).toBe(once);
    });
});

describe("per-domain servers", () => {
    const cache = (kind: CacheArgs["kind"], over: Partial<CacheArgs> = {}): CacheArgs => ({
        kind,
        domains: [
            { domain: "Twitch.TV.", servers: ["208.78.70.18", "204.13.250.18"] },
            { domain: "corp.test", servers: ["192.0.2.53"], probe: { name: "intranet.corp.test" } },
            { domain: "10.in-addr.arpa", servers: ["192.0.2.53"], probe: { name: "1.0.0.10.in-addr.arpa", type: "PTR" } },
        ],
        ...over,
    });

    it("applies the defaults: file per kind, probe SOA at the apex or A for a named probe", () => {
        expect(planCache("edge", cache("dnsmasq"))).toEqual({
            kind: "dnsmasq",
            configFile: "/etc/dnsmasq.d/hostwright-edge.conf",
            service: "dnsmasq",
            directory: "/etc/dnscache",
            address: "127.0.0.1",
            verify: true,
            pins: [
                { domain: "twitch.tv", servers: ["208.78.70.18", "204.13.250.18"], probe: { name: "twitch.tv", type: "SOA" } },
                { domain: "corp.test", servers: ["192.0.2.53"], probe: { name: "intranet.corp.test", type: "A" } },
                { domain: "10.in-addr.arpa", servers: ["192.0.2.53"], probe: { name: "1.0.0.10.in-addr.arpa", type: "PTR" } },
            ],
        });
        expect(planCache("a b/c", cache("unbound")).configFile).toBe("/etc/unbound/unbound.conf.d/hostwright-a_b_c.conf");
    });

    it("dnsmasq: server=/domain/ip lines, accepted by dnsmasq --test", () => {
        const text = renderDnsmasqPins("edge", planCache("edge", cache("dnsmasq")));
        expect(text.split("\n").slice(1)).toEqual(["server=/twitch.tv/208.78.70.18", "server=/twitch.tv/204.13.250.18", "server=/corp.test/192.0.2.53", "server=/10.in-addr.arpa/192.0.2.53", ""]);
        const file = join(dir, "pins.conf");
        writeFileSync(file, text);
        expect(execFileSync("dnsmasq", ["--test", `--conf-file=${file}`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })).toBe("");
    });

    it("unbound: a forward-zone per domain, local zones opened for names unbound answers itself; accepted by unbound-checkconf", () => {
        const text = renderUnboundPins("edge", planCache("edge", cache("unbound")));
        expect(text).toContain('server:\n    local-zone: "corp.test." transparent\n    local-zone: "10.in-addr.arpa." transparent\n');
        expect(text).not.toContain('local-zone: "twitch.tv."');
        expect(text).toContain('forward-zone:\n    name: "twitch.tv."\n    forward-addr: 208.78.70.18\n    forward-addr: 204.13.250.18\n');
        const file = join(dir, "unbound-pins.conf");
        writeFileSync(file, text);
        expect(execFileSync("unbound-checkconf", [file], { encoding: "utf8" })).toContain("no errors");
    });

    it("dnscache: root/servers/<domain>, one address a line (the seed's layout)", () => {
        expect(renderDnscachePins(planCache("edge", cache("dnscache", { directory: "/service/dnscache", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18", "204.13.250.18"] }] })))).toEqual([
            { path: "/service/dnscache/root/servers/twitch.tv", content: "208.78.70.18\n204.13.250.18\n" },
        ]);
    });

    it.each<[CacheArgs["kind"], string, string]>([
        ["dnsmasq", "service dnsmasq restart", "dnsmasq --test --conf-file="],
        ["unbound", "unbound-control reload", "unbound-checkconf \"$(hw_staged"],
        ["dnscache", "svc -t /etc/dnscache", ""],
    ])("%s: validated before the switch, reloaded only when a file changed, every probe asked", (kind, reload, validate) => {
        const step = renderPinsStep("edge", planCache("edge", cache(kind, kind === "dnscache" ? { domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"] }] } : {})), service);
        expect(step.validate ?? "").toContain(validate);
        expect(step.activate).toMatch(/\nif \[ "\$HW_CHANGED" -gt 0 \]; then\n/);
        expect(step.activate).toContain(reload);
        // nothing changed but the cache does not serve the pins (stopped, restarted by hand): restarted too
        const restart = step.activate!.split(`  if [ -n "$hwd_problem" ]; then\n    hw_log "$hwd_problem: restarting the cache"\n`)[1] ?? "";
        expect(restart.split("\n")[0]).toContain(reload);
        expect(step.afterRestore).toContain(reload);
        expect(step.activate).toContain("hwd_probe @127.0.0.1 twitch.tv SOA");
        expect(step.activate).toContain("hw_output answer.twitch.tv");
        // the drift check looks once, as the activation does before deciding on a restart
        expect(step.verify).toContain(`hwd_pin_check ${kind} @127.0.0.1 twitch.tv SOA 208.78.70.18`);
        expect(step.activate).toContain(`[ -n "$hwd_problem" ] || hwd_pin_check ${kind} @127.0.0.1 twitch.tv SOA 208.78.70.18`);
        expect(step.preflight).toContain("command -v dig");
    });

    it("verify: false asks nothing and needs no dig", () => {
        const step = renderPinsStep("edge", planCache("edge", cache("dnsmasq", { verify: false })), service);
        expect(step.activate).not.toContain("dig");
        expect(step.preflight).not.toContain("dig");
        expect(step.verify).toBe("");
    });
});

describe("the pins step's drift check, run by bash against a stand-in dig", () => {
    const answer = (name: string, type: string, ...data: string[]) =>
        `;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: qr rd ra; QUERY: 1, ANSWER: ${data.length}, AUTHORITY: 0, ADDITIONAL: 1\n\n;; ANSWER SECTION:\n${data.map((d) => `${name}.\t300\tIN\t${type}\t${d}\n`).join("")}\n;; Query time: 0 msec\n`;
    /** Runs the verify fragment; `answers`: server -> dig output (a server without one refuses). */
    function verify(answers: Record<string, string>, pin = { domain: "pinned.example", servers: ["192.0.2.1", "192.0.2.2"], probe: { name: "www.pinned.example" } }): string[] {
        const stubs = mkdtempSync(join(dir, "dig-"));
        for (const [server, out] of Object.entries(answers)) writeFileSync(join(stubs, `answer-${server}`), out);
        writeFileSync(
            join(stubs, "dig"),
            `#!/bin/bash\nfor a; do case $a in @*) s=\${a#@} ;; esac; done\nif [ -f "${stubs}/answer-$s" ]; then cat "${stubs}/answer-$s"; else echo ";; communications error to $s#53: connection refused"; echo ";; no servers could be reached"; exit 9; fi\n`,
            { mode: 0o755 },
        );
        const step = renderPinsStep("edge", planCache("edge", { kind: "dnsmasq", domains: [pin] }), service);
        const out = execFileSync("bash", ["-c", `set -eu\nhw_drift() { printf 'DRIFT %s\\n' "$*"; }\n${step.verify}`], { encoding: "utf8", env: { ...process.env, PATH: `${stubs}:${process.env.PATH}` } });
        return out.split("\n").filter((l) => l.startsWith("DRIFT ")).map((l) => l.slice(6));
    }
    const pinnedA = answer("www.pinned.example", "A", "10.1.1.1", "10.1.1.2");

    it("the cache answers what a pinned server answers (records in any order): no drift", () => {
        expect(verify({ "127.0.0.1": answer("www.pinned.example", "A", "10.1.1.2", "10.1.1.1"), "192.0.2.1": pinnedA })).toEqual([]);
    });
    it("the first pinned server silent, the second answers the same: no drift", () => {
        expect(verify({ "127.0.0.1": pinnedA, "192.0.2.2": pinnedA })).toEqual([]);
    });
    it("no pinned server answers the check: nothing to compare, no drift", () => {
        expect(verify({ "127.0.0.1": pinnedA })).toEqual([]);
    });
    it("the cache answers from elsewhere: drift naming both answers", () => {
        expect(verify({ "127.0.0.1": answer("www.pinned.example", "A", "10.2.2.2"), "192.0.2.1": pinnedA })).toEqual([
            "the dnsmasq cache at 127.0.0.1 answers www.pinned.example A with 'A 10.2.2.2', the pinned servers (192.0.2.1, 192.0.2.2) with 'A 10.1.1.1 A 10.1.1.2': it does not serve the pins (restarted with another configuration?)",
        ]);
    });
    it.each<[string, string | undefined, string]>([
        ["refuses", undefined, "communications error to 127.0.0.1#53: connection refused"],
        ["fails", answer("x", "A").replace("NOERROR", "SERVFAIL"), "status: SERVFAIL"],
        ["has no record", answer("x", "A"), "no records (NOERROR)"],
    ])("a cache that %s: drift saying so", (_what, cache, why) => {
        expect(verify(cache === undefined ? { "192.0.2.1": pinnedA } : { "127.0.0.1": cache, "192.0.2.1": pinnedA })).toEqual([`the dnsmasq cache at 127.0.0.1 does not answer www.pinned.example A: ${why}`]);
    });
    it("SOA: the names are compared, not the serial (a zone updated within the TTL is not drift)", () => {
        const soa = (serial: number) => answer("twitch.tv", "SOA", `ns1.p18.dynect.net. hostmaster.twitch.tv. ${serial} 3600 600 604800 1800`);
        const pin = { domain: "twitch.tv", servers: ["192.0.2.1"], probe: { name: "twitch.tv", type: "SOA" as const } };
        expect(verify({ "127.0.0.1": soa(41), "192.0.2.1": soa(42) }, pin)).toEqual([]);
        expect(verify({ "127.0.0.1": answer("twitch.tv", "SOA", "ns.other.example. root.other.example. 1 1 1 1 1"), "192.0.2.1": soa(42) }, pin)).toEqual([
            "the dnsmasq cache at 127.0.0.1 answers twitch.tv SOA with 'ns.other.example. root.other.example.', the pinned servers (192.0.2.1) with 'ns1.p18.dynect.net. hostmaster.twitch.tv.': it does not serve the pins (restarted with another configuration?)",
        ]);
    });
});

describe("the guard step", () => {
    const rc = { nameservers: ["127.0.0.1"] };
    it("Debian: resolv.conf and the hook, no ifcfg edits", () => {
        const step = renderGuardStep("edge", "debian", rc, []);
        expect(step.files!.map((f) => f.path)).toEqual(["/etc/resolv.conf", DHCLIENT_HOOK]);
        expect(step.edits).toEqual([]);
        expect(step.activate).toContain("dns=none");
        expect(step.undo).toContain("rm -f /etc/NetworkManager/conf.d/99-hostwright-dns-none.conf");
    });
    it("RHEL: resolv.conf and PEERDNS=no in the declared interfaces' ifcfg files, which must exist", () => {
        const step = renderGuardStep("edge", "rhel", rc, ["eth0", "bond0.100"]);
        expect(step.files!.map((f) => f.path)).toEqual(["/etc/resolv.conf"]);
        expect(step.edits).toEqual([
            { path: "/etc/sysconfig/network-scripts/ifcfg-eth0", filter: "hwd_peerdns_no" },
            { path: "/etc/sysconfig/network-scripts/ifcfg-bond0.100", filter: "hwd_peerdns_no" },
        ]);
        expect(step.preflight).toContain("hwd_peerdns_no() {");
        expect(step.preflight).toContain("[ -f /etc/sysconfig/network-scripts/ifcfg-eth0 ] || hw_fail");
    });
});

describe("hostile values", () => {
    it("a component name with quotes, $() and a newline stays text: the scripts parse, the name reaches only file contents", () => {
        const name = "x'$(touch /tmp/pwned)\"`id`\nnameserver 6.6.6.6";
        const guard = renderStep({ ...renderGuardStep(name, "rhel", { nameservers: ["127.0.0.1"] }, ["eth0"]), key: "guard" } as StepSpec);
        const pins = renderStep({ ...renderPinsStep(name, planCache(name, { kind: "unbound", domains: [{ domain: "a.example", servers: ["192.0.2.1"] }] }), service), key: "pins" } as StepSpec);
        for (const script of [guard.create, guard.delete, pins.create, pins.delete]) execFileSync("bash", ["-n"], { input: script });
        const resolv = stagedFilesOf(guard.create).find((f) => f.path === "/etc/resolv.conf")!;
        // the newline is folded: the name cannot add a resolv.conf line
        expect(resolv.content.split("\n").filter((l) => l.startsWith("nameserver"))).toEqual(["nameserver 127.0.0.1"]);
        expect(stagedFilesOf(pins.create)[0].path).toBe("/etc/unbound/unbound.conf.d/hostwright-x___touch__tmp_pwned___id__nameserver_6.6.6.6.conf");
    });
});

describe("rpm version comparison (rpmvercmp)", () => {
    it.each<[string, string, number]>([
        ["1.149.el6_6.9", "1.149.el6_6.9", 0],
        ["1.149.el6_6.5", "1.149.el6_6.9", -1],
        ["1.149.el6_6.10", "1.149.el6_6.9", 1],
        ["1.149.el6", "1.149.el6_6.9", -1],
        ["1.132.el6_5.4", "1.149.el6_6.9", -1],
        ["1.166.el6_7.7", "1.149.el6_6.9", 1],
        ["1.0010", "1.9", 1],
        ["1.05", "1.5", 0],
        ["1.a", "1.1", -1],
        ["1.0~rc1", "1.0", -1],
        ["1.0", "1.0~rc1", 1],
        ["2.0", "2.0.1", -1],
        ["2_0", "2.0", 0],
    ])("%s vs %s -> %i", (a, b, expected) => {
        expect(compareRpmVersions(a, b)).toBe(expected);
        expect(compareRpmVersions(b, a)).toBe(0 - expected);
    });
});

describe("glibc multithreaded getaddrinfo EAI_AGAIN (CentOS 6 before 2.12-1.149.el6_6.9)", () => {
    it.each<[string, boolean]>([
        ["2.12-1.107.el6", true],
        ["2.12-1.132.el6_5.4", true],
        ["2.12-1.149.el6_6.5", true],
        ["2.12-1.149.el6_6.9", false],
        ["2.12-1.149.el6_6.11", false],
        ["2.12-1.166.el6_7.7", false],
        ["2.12-1.212.el6", false],
        ["2.17-317.el7", false],
        ["2.36-9+deb12u4", false],
        ["2.12-1.47.fc13", false],
        ["", false],
    ])("%s -> %s", (version, affected) => {
        expect(glibcHasEaiAgainBug(version)).toBe(affected);
    });

    it("warns for the versions a host reported (several arches), not for others", () => {
        expect(glibcEaiAgainWarning("2.12-1.132.el6_5.4 ")).toMatch(/^glibc 2\.12-1\.132\.el6_5\.4 fails multithreaded getaddrinfo\(3\).*2\.12-1\.149\.el6_6\.9 or later/);
        expect(glibcEaiAgainWarning("2.36-9+deb12u4")).toBeUndefined();
        expect(glibcEaiAgainWarning(undefined)).toBeUndefined();
    });
});
