import { createHash } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import {
    decidePreflight,
    factsFromProbe,
    HostFacts,
    loadedModules,
    MemberPlan,
    netlinkDiagStatus,
    parseConnect,
    parseCriuCheck,
    parseServerInfo,
    compareVersions,
    instanceFacts,
    parseInventory,
    versionRule,
} from "../../components/lxd/preflight";

// Recorded on this machine: `lxc query /1.0` of a Debian 12 LXD 5.0.2 daemon.
const QUERY = readFileSync(join(__dirname, "../../components/lxd/fixtures/lxc-query-1.0.json"), "utf8");
const CLIENT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBAQ==\n-----END CERTIFICATE-----\n";
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("parseServerInfo (lxc query /1.0)", () => {
    it("reads version, certificate and fingerprint of a real answer", () => {
        const info = parseServerInfo(QUERY);
        expect(info).toMatchObject({ ok: true, version: "5.0.2", httpsAddress: "10.77.0.1:8443" });
        if (!info.ok) throw new Error();
        expect(info.fingerprint).toMatch(/^[0-9a-f]{64}$/);
        expect(info.certificate).toContain("-----BEGIN CERTIFICATE-----");
    });
    it.each([
        ["a daemon that is down", "Error: Get \"http://unix.socket/1.0\": dial unix /var/lib/lxd/unix.socket: connect: no such file or directory", 1, /exit 1\): Error: Get/],
        ["lxc missing", "bash: lxc: command not found", 127, /exit 127\): bash: lxc: command not found/],
        ["no JSON", "To start your first container, try: lxc launch ubuntu:22.04", 0, /did not print JSON/],
        ["an untrusted answer", JSON.stringify({ auth: "untrusted", api_version: "1.0" }), 0, /not trusted/],
        ["a version that is no version", JSON.stringify({ auth: "trusted", environment: { server_version: "", certificate_fingerprint: "a".repeat(64), certificate: "-----BEGIN CERTIFICATE-----" } }), 0, /server_version/],
    ])("reports %s as an error", (_what, output, code, message) => {
        const info = parseServerInfo(output, code);
        expect(info.ok).toBe(false);
        if (!info.ok) expect(info.error).toMatch(message);
    });
    it("prefers the Error: line over lxc's first-run banner", () => {
        const info = parseServerInfo("If this is your first time running LXD on this machine, you should also run: lxd init\nError: not authorized", 1);
        expect(info.ok ? "" : info.error).toMatch(/Error: not authorized/);
    });
    it("reads an unset core.https_address as empty", () => {
        const doc = JSON.parse(QUERY);
        doc.config = {};
        expect(parseServerInfo(JSON.stringify(doc))).toMatchObject({ ok: true, httpsAddress: "" });
    });
    it("reports a probe that did not test a peer", () => {
        const v = decidePreflight([facts("h1", { connect: { h1: { state: "open" } } }), facts("h2")], plans, "stateless");
        expect(v.errors).toEqual(["h1: the probe did not test h2's API address https://198.18.0.11:8443"]);
    });
});

describe("netlink_diag", () => {
    const PROC_MODULES = "netlink_diag 16384 0 - Live 0x0000000000000000\nunix_diag 16384 0 - Live 0x0000000000000000\nvxlan 98304 0 - Live 0x0000000000000000\n";
    const LSMOD = "Module                  Size  Used by\nnetlink_diag           16384  0\nbridge                307200  0\n";
    it("reads module names from /proc/modules and lsmod", () => {
        expect([...loadedModules(PROC_MODULES)]).toEqual(["netlink_diag", "unix_diag", "vxlan"]);
        expect([...loadedModules(LSMOD)]).toEqual(["netlink_diag", "bridge"]);
    });
    it.each([
        ["built in (kernel config, no module support as on the build machines)", { modules: undefined, builtin: "CONFIG_NETLINK_DIAG=y", moduleFile: "", persistLines: "" }, { state: "builtin", persistent: true }],
        ["built in (modules.builtin)", { modules: "", builtin: "kernel/net/netlink/netlink_diag.ko", moduleFile: "", persistLines: "" }, { state: "builtin", persistent: true }],
        ["loaded, listed in modules-load.d", { modules: PROC_MODULES, builtin: "CONFIG_NETLINK_DIAG=m", moduleFile: "/lib/modules/6.1.0/kernel/net/netlink/netlink_diag.ko", persistLines: "/etc/modules-load.d/criu.conf:netlink_diag" }, { state: "loaded", persistent: true }],
        ["loaded (lsmod), not persistent", { modules: LSMOD, builtin: "", moduleFile: "x.ko", persistLines: "" }, { state: "loaded", persistent: false }],
        ["loadable only", { modules: "vxlan 1 0 - Live 0x0\n", builtin: "CONFIG_NETLINK_DIAG=m", moduleFile: "", persistLines: "" }, { state: "loadable", persistent: false }],
        ["missing (Ubuntu 16.04 without linux-image-extra)", { modules: "vxlan 1 0 - Live 0x0\n", builtin: "", moduleFile: "", persistLines: "" }, { state: "missing", persistent: false }],
        ["a commented line does not make it persistent", { modules: PROC_MODULES, builtin: "", moduleFile: "x", persistLines: "" }, { state: "loaded", persistent: false }],
    ])("%s", (_what, input, expected) => {
        expect(netlinkDiagStatus(input)).toEqual(expected);
    });
});

describe("parseCriuCheck", () => {
    it.each([
        ["Looks good.\n", 0, { state: "ok" }],
        ["criu: not found", 127, { state: "missing" }],
        [
            "Warn  (criu/kerndat.c:1103): CRIU was built without libnftables support\nError (criu/cr-check.c:1203): Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP\nError (criu/cr-check.c:1480): Diag module missing (-2)\n",
            1,
            { state: "failing", detail: "Error (criu/cr-check.c:1203): Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP" },
        ],
        ["", 1, { state: "failing", detail: "exit 1" }],
    ])("%j (exit %d)", (output, code, expected) => {
        expect(parseCriuCheck(output, code)).toEqual(expected);
    });
});

describe("parseConnect", () => {
    it.each([
        ["open", { state: "open" }],
        ["refused", { state: "refused" }],
        ["timeout", { state: "unreachable", detail: "no answer (timed out)" }],
        ["error bash: connect: No route to host", { state: "unreachable", detail: "bash: connect: No route to host" }],
        ["", { state: "unreachable", detail: "connection failed" }],
    ])("%j", (line, expected) => expect(parseConnect(line)).toEqual(expected));
});

describe("LXD's move rule per direction (only newer -> older fails)", () => {
    it.each([
        ["5.0.2", "5.0.2", 0],
        ["5.0.2", "5.0.10", -1],
        ["5.21.1", "5.0.3", 1],
        ["6.1", "6.1.0", 0],
        ["4.0.9", "5.0.2", -1],
    ])("compareVersions(%s, %s) = %d", (a, b, expected) => expect(compareVersions(a, b)).toBe(expected));
    it.each([
        ["equal versions", "5.0.2", "5.0.2", undefined],
        ["older to newer (lxd#8265)", "4.0.9", "5.0.2", undefined],
        ["a patch release newer on the target", "5.0.2", "5.0.3", undefined],
        ["newer to older", "5.0.3", "5.0.2", /h1 runs LXD 5\.0\.3, newer than h2 \(5\.0\.2\)/],
        ["5 to 4 (lxd#10391)", "5.0.2", "4.0.9", /#10391/],
    ])("%s", (_what, sv, tv, expected) => {
        const r = versionRule({ host: "h1", version: sv }, { host: "h2", version: tv });
        if (expected === undefined) expect(r).toBeUndefined();
        else expect(r).toMatch(expected);
    });
    it("names the seed's error, the issues and the documented workaround", () => {
        const r = versionRule({ host: "h1", version: "2.0.8" }, { host: "h2", version: "2.0.5" })!;
        expect(r).toContain('"Bad key: volatile.idmap.base", canonical/lxd#2683');
        expect(r).toContain("equal or older-to-newer is fine (#8265)");
        expect(r).toContain("upgrade h2 to 2.0.8 or newer");
        expect(r).toContain("lxc config unset INSTANCE volatile.KEY");
        expect(r).toContain("lxc copy (which resets volatile keys)");
    });
});

describe("instance inventory (lxc query /1.0/instances?recursion=1, /1.0/profiles, ...)", () => {
    const vm = {
        name: "v1", type: "virtual-machine", status: "Running", profiles: ["default", "vm-big"],
        expanded_config: { "migration.stateful": "true" },
        expanded_devices: { root: { type: "disk", path: "/", pool: "fast" }, data: { type: "disk", pool: "bulk", source: "vol1" }, eth0: { type: "nic", network: "lxdbr0" }, eth1: { type: "nic", nictype: "bridged", parent: "br-ext" }, gpu: { type: "gpu" } },
    };
    it.each([
        ["a running VM with two pools, a managed network and a host bridge", vm, { name: "v1", type: "virtual-machine", running: true, profiles: ["default", "vm-big"], pools: ["bulk", "fast"], networks: ["br-ext", "lxdbr0"], migrationStateful: true }],
        ["a stopped container without devices", { name: "c1", type: "container", status: "Stopped", profiles: ["default"] }, { name: "c1", type: "container", running: false, profiles: ["default"], pools: [], networks: [], migrationStateful: false }],
        ["a frozen container counts as running", { name: "c2", type: "container", status: "Frozen", profiles: [], expanded_config: { "migration.stateful": "false" } }, { name: "c2", type: "container", running: true, profiles: [], pools: [], networks: [], migrationStateful: false }],
    ])("%s", (_what, doc, expected) => expect(instanceFacts(doc)).toEqual(expected));
    it("reads the listings' names", () => {
        expect(
            parseInventory({ profiles: '["/1.0/profiles/default","/1.0/profiles/web%20x?project=p"]', pools: '["/1.0/storage-pools/default"]', networks: '["/1.0/networks/eth0","/1.0/networks/lxdbr0"]', instances: JSON.stringify([vm]) }),
        ).toMatchObject({ profiles: ["default", "web x"], pools: ["default"], networks: ["eth0", "lxdbr0"], instances: [{ name: "v1" }] });
    });
    it("turns a failed query into one error string naming LXD's message", () => {
        expect(parseInventory({ profiles: "[]", pools: "[]", networks: "[]", instances: "Error: Project not found" })).toMatch(/^cannot read the host's profiles, pools, networks and instances: Error: Project not found/);
    });
});

function facts(name: string, over: Partial<HostFacts> = {}, version = "5.0.2"): HostFacts {
    return {
        name,
        kernel: "6.1.0",
        server: { ok: true, version, fingerprint: "f".repeat(64), certificate: "-----BEGIN CERTIFICATE-----", httpsAddress: "", drivers: ["lxc"] },
        netlinkDiag: { state: "builtin", persistent: true },
        criu: { state: "missing" },
        clientCertificate: true,
        openssl: true,
        curl: true,
        connect: { h1: { state: "refused" }, h2: { state: "refused" } },
        inventory: { profiles: ["default"], pools: ["default"], networks: [], instances: [] },
        ...over,
    };
}
const plans: MemberPlan[] = ["h1", "h2"].map((n, i) => ({ name: n, listenAddress: `198.18.0.${10 + i}:8443`, url: `https://198.18.0.${10 + i}:8443` }));

describe("decidePreflight", () => {
    it("passes a healthy stateless group and reports stateful as not ready where CRIU is missing", () => {
        const v = decidePreflight([facts("h1"), facts("h2")], plans, "stateless");
        expect(v.errors).toEqual([]);
        expect(v.hosts.h1.stateless).toEqual({ ready: true, reasons: [] });
        expect(v.hosts.h1.stateful.ready).toBe(false);
        expect(v.hosts.h1.stateful.reasons).toEqual(["CRIU is not installed (stateful moves checkpoint the container with criu)"]);
        expect(v.warnings[0]).toMatch(/stateful \(live\) moves are not ready on h1, h2/);
    });
    it("lets differing versions pass, warning about the newer-to-older direction only", () => {
        const v = decidePreflight([facts("h1", {}, "5.0.2"), facts("h2", {}, "5.0.3")], plans, "stateless");
        expect(v.errors).toEqual([]);
        expect(v.warnings).toContain("moves h2 -> h1 will fail: LXD 5.0.3 -> 5.0.2 is newer to older; see the matrix output for the workaround");
        expect(v.warnings.join("\n")).not.toMatch(/h1 -> h2/);
        expect(v.hosts.h2.stateless.ready).toBe(true);
    });
    it("reports VM live migration per host from LXD's drivers", () => {
        const qemu = facts("h2", { server: { ok: true, version: "5.0.2", fingerprint: "e".repeat(64), certificate: "-----BEGIN CERTIFICATE-----", httpsAddress: "", drivers: ["lxc", "qemu"] } });
        const v = decidePreflight([facts("h1"), qemu], plans, "stateless");
        expect(v.hosts.h2.vmLive).toEqual({ ready: true, reasons: [] });
        expect(v.hosts.h1.vmLive.reasons).toEqual(["LXD reports no qemu driver (environment.driver: lxc): virtual machines cannot run here (KVM and QEMU needed)"]);
    });
    it("requires netlink_diag and a passing criu check in stateful mode only", () => {
        const broken = facts("h2", { netlinkDiag: { state: "missing", persistent: false }, criu: { state: "failing", detail: "Error (criu/cr-check.c:1480): Diag module missing (-2)" } });
        const ok = facts("h1", { criu: { state: "ok" } });
        expect(decidePreflight([ok, broken], plans, "stateless").errors).toEqual([]);
        const v = decidePreflight([ok, broken], plans, "stateful");
        expect(v.errors).toEqual([
            expect.stringMatching(/^h2: the netlink_diag kernel module is missing/),
            "h2: criu check fails: Error (criu/cr-check.c:1480): Diag module missing (-2)",
        ]);
        expect(v.hosts.h1.stateful.ready).toBe(true);
    });
    it("counts a loadable netlink_diag as ready in stateful mode (the component loads it and makes it persistent)", () => {
        const h = (n: string) => facts(n, { netlinkDiag: { state: "loadable", persistent: false }, criu: { state: "ok" } });
        expect(decidePreflight([h("h1"), h("h2")], plans, "stateful").hosts.h1.stateful.ready).toBe(true);
        expect(decidePreflight([h("h1"), h("h2")], plans, "stateless").hosts.h1.stateful.reasons).toEqual(["the netlink_diag kernel module is not loaded"]);
    });
    it("stops when a peer's API address is unreachable, or refused although LXD should listen there", () => {
        const h1 = facts("h1", { connect: { h1: { state: "open" }, h2: { state: "unreachable", detail: "No route to host" } } });
        const h2 = facts("h2", { server: { ok: true, version: "5.0.2", fingerprint: "e".repeat(64), certificate: "-----BEGIN CERTIFICATE-----", httpsAddress: "198.18.0.11:8443", drivers: ["lxc"] } });
        const v = decidePreflight([h1, h2], plans, "stateless");
        expect(v.errors).toEqual([
            "h1 cannot reach h2's LXD API address https://198.18.0.11:8443: No route to host",
            "h2: h2 refuses connections on https://198.18.0.11:8443 although its core.https_address is already 198.18.0.11:8443",
        ]);
        expect(v.hosts.h2.stateless.reasons).toEqual(["API address not reachable from h1, h2"]);
    });
    it("stops when LXD does not answer, a probe is missing, or a client certificate cannot be made", () => {
        const v = decidePreflight([facts("h1", { server: { ok: false, error: "lxc query /1.0 failed (exit 1): Error: connect: no such file" }, clientCertificate: false, openssl: false })], plans, "stateless");
        expect(v.errors).toEqual([
            "h1: LXD does not answer: lxc query /1.0 failed (exit 1): Error: connect: no such file",
            "h1: the client config directory has no client certificate and openssl is not installed to create one",
            "h2: the pre-flight probe reported nothing",
        ]);
    });
    it("certificate trust: stops when a host has no client certificate to trust, which tokens do without", () => {
        const identity = { certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", fingerprint: "a".repeat(64) };
        const group = [facts("h1", { identity }), facts("h2", { clientCertificate: false })];
        expect(decidePreflight(group, plans, "stateless", "certificate").errors).toEqual([
            "h2: the probe reported no client certificate to trust (none in the client config directory, and openssl could not make one)",
        ]);
        expect(decidePreflight(group, plans, "stateless", "token").errors).toEqual([]);
    });
});

describe("decidePreflight: what a host lacks for the mesh, named per host in one verdict", () => {
    it.each([
        ["no lxc client", { lxc: false }, /^h2: the lxc client is not installed \(Debian: apt install lxd; elsewhere the lxd snap, with lxdDir \/var\/snap\/lxd\/common\/lxd\)$/],
        ["no daemon behind lxdDir", { lxc: true, missingSocket: "/var/lib/lxd/unix.socket" }, /^h2: no LXD daemon runs: \/var\/lib\/lxd\/unix\.socket does not exist \(start LXD, or set lxdDir/],
        ["a daemon that does not answer", { lxc: true, server: { ok: false as const, error: "lxc query /1.0 failed (exit 1): Error: Get ...: EOF" } }, /^h2: LXD does not answer: lxc query \/1\.0 failed/],
    ])("%s", (_label, over, message) => {
        const v = decidePreflight([facts("h1", { lxc: false }), facts("h2", over)], plans, "stateless");
        // both hosts in one verdict: the serve steps refuse to run with all of it
        expect(v.errors).toEqual([expect.stringMatching(/^h1: the lxc client is not installed/), expect.stringMatching(message)]);
        expect(v.hosts.h2.stateless.ready).toBe(false);
    });
    it("reads the client and the socket from the probe", () => {
        expect(factsFromProbe("h1", { "probe.lxc": "no", "probe.socket": "/x/unix.socket" })).toMatchObject({ lxc: false, missingSocket: "/x/unix.socket" });
        expect(factsFromProbe("h1", { "probe.lxc": "yes", "probe.socket": "yes" })).toMatchObject({ lxc: true, missingSocket: undefined });
    });
});

describe("factsFromProbe", () => {
    it("decodes what the probe script printed", () => {
        const f = factsFromProbe("h1", {
            "probe.kernel": "6.18.44",
            "probe.server_rc": "0",
            "probe.server": b64(QUERY),
            "probe.modules": "absent",
            "probe.builtin": b64("CONFIG_NETLINK_DIAG=y"),
            "probe.module_file": "",
            "probe.persist": "",
            "probe.criu_rc": "127",
            "probe.criu": b64("criu: not found"),
            "probe.client_certificate": "no",
            "probe.client_pem": b64(CLIENT_PEM),
            "probe.client_candidate": "/var/lib/hostwright/steps/mesh-h1-probe-0123abcd.owned",
            "probe.openssl": "yes",
            "probe.curl": "yes",
            "probe.curl_version": "7.88.1",
            "probe.connect.h1": "refused",
            "probe.connect.h2": "error /dev/tcp/198.18.0.11/8443: Network is unreachable",
            "probe.profiles": b64('["/1.0/profiles/default"]'),
            "probe.pools": b64('["/1.0/storage-pools/default"]'),
            "probe.networks": b64("[]"),
            "probe.instances": b64(JSON.stringify([{ name: "c1", type: "container", status: "Stopped", profiles: ["default"], expanded_devices: { root: { type: "disk", pool: "default" } } }])),
        });
        expect(f).toMatchObject({
            name: "h1",
            server: { ok: true, version: "5.0.2" },
            netlinkDiag: { state: "builtin", persistent: true },
            criu: { state: "missing" },
            clientCertificate: false,
            // the certificate the probe made, and the fingerprint LXD will list it under
            identity: { certificate: CLIENT_PEM, fingerprint: createHash("sha256").update(Buffer.from("MIIBAQ==", "base64")).digest("hex"), candidate: "/var/lib/hostwright/steps/mesh-h1-probe-0123abcd.owned" },
            openssl: true,
            curl: true,
            connect: { h1: { state: "refused" }, h2: { state: "unreachable", detail: "/dev/tcp/198.18.0.11/8443: Network is unreachable" } },
            inventory: { profiles: ["default"], pools: ["default"], networks: [], instances: [{ name: "c1", pools: ["default"] }] },
        });
    });
    it("an existing client certificate is no candidate; a PEM that is no certificate is no identity", () => {
        expect(factsFromProbe("h1", { "probe.client_certificate": "yes", "probe.client_pem": b64(CLIENT_PEM) }).identity).toEqual({ certificate: CLIENT_PEM, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
        expect(factsFromProbe("h1", { "probe.client_pem": b64("garbage") }).identity).toBeUndefined();
        expect(factsFromProbe("h1", {}).curl).toBe(false);
        // a curl whose batches cannot say how each transfer ended (Debian 11: 7.74) is not used
        expect(factsFromProbe("h1", { "probe.curl": "yes", "probe.curl_version": "7.74.0" }).curl).toBe(false);
        expect(factsFromProbe("h1", { "probe.curl": "yes", "probe.curl_version": "7.75.0" }).curl).toBe(true);
        expect(factsFromProbe("h1", { "probe.curl": "yes" }).curl).toBe(false);
    });
    it("treats an empty report as a server that did not answer", () => {
        expect(factsFromProbe("h1", {}).server.ok).toBe(false);
        expect(factsFromProbe("h1", {}).inventory).toMatch(/^cannot read/);
    });
});
