import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import { LxdRemoteMeshArgs, resolveMesh } from "../../components/lxd/args";
import { checkMeshArgs, parseListenAddress } from "../../components/lxd/checks";

const host = (name: string, address = `198.18.0.${name.length + 9}`): Host => ({ name, address, privateKey: pulumi.secret("k"), hostKey: "ssh-ed25519 AAAA" });
const two = (): LxdRemoteMeshArgs => ({ members: [{ host: host("h1", "198.18.0.10") }, { host: host("h2", "198.18.0.11") }] });
const errors = (args: LxdRemoteMeshArgs) => checkMeshArgs(args).filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);

describe("checkMeshArgs", () => {
    it("accepts two hosts with defaults", () => {
        expect(checkMeshArgs(two())).toEqual([]);
    });

    it.each<[string, (a: LxdRemoteMeshArgs) => void, RegExp]>([
        ["no members", (a) => (a.members = []), /^members: needs at least one host/],
        ["a reserved remote name", (a) => (a.members[0].host = host("local")), /^members\[0\]\.host\.name: "local" is a remote name lxc reserves/],
        ["a name with a colon (lxc splits remote:instance there)", (a) => (a.members[0].host = host("h1:x")), /^members\[0\]\.host\.name: "h1:x" cannot be a remote name/],
        ["a hostile name", (a) => (a.members[0].host = host("h1'; rm -rf / #")), /^members\[0\]\.host\.name: .* cannot be a remote name/],
        ["a host listed twice", (a) => a.members.push({ host: host("h1", "198.18.0.12") }), /^members\[2\]\.host\.name: host "h1" is listed twice \(also members\[0\]\)/],
        ["an API address that is no address", (a) => (a.members[1].apiAddress = "10.0.0.1 && reboot"), /^members\[1\]\.apiAddress: .* must be an IPv4 or IPv6 address or a DNS name/],
        ["a wildcard API address", (a) => (a.members[1].apiAddress = "0.0.0.0"), /^members\[1\]\.apiAddress: 0\.0\.0\.0 is a wildcard/],
        ["two hosts on one API endpoint", (a) => (a.members[1].apiAddress = "198.18.0.10"), /^members\[1\]\.apiAddress: 198\.18\.0\.10:8443 is also the API address of h1/],
        ["a port out of range", (a) => (a.members[0].apiPort = 70000), /^members\[0\]\.apiPort: 70000 must be a TCP port/],
        ["a listen address without port", (a) => (a.members[0].listenAddress = "198.18.0.10"), /^members\[0\]\.listenAddress: .* must be ADDRESS:PORT/],
        ["a listen port other than the API port", (a) => (a.members[0].listenAddress = "[::]:9443"), /^members\[0\]\.listenAddress: listens on port 9443 but apiPort is 8443/],
        ["a hostile project", (a) => (a.project = "default --force"), /^project: .* must be an LXD project name/],
        ["a relative client config directory", (a) => (a.clientConfigDir = "root/.config/lxc"), /^clientConfigDir: .* must be an absolute path/],
        ["a client config directory with '..'", (a) => (a.clientConfigDir = "/root/../etc"), /^clientConfigDir: .* without '\.\.'/],
        ["an LXD directory with a line break", (a) => (a.lxdDir = "/var/lib/lxd\n/etc"), /^lxdDir: .* line breaks/],
        ["trust by password", (a) => ((a as any).trust = "password"), /^trust: must be "token" or "certificate" \(trust passwords were removed upstream\)/],
        ["an unknown migration mode", (a) => ((a as any).migration = "live"), /^migration: must be "stateless" or "stateful"/],
        ["a negative preflight revision", (a) => (a.preflightRevision = -1), /^preflightRevision: must be a whole number >= 0/],
        ["a zero connect timeout", (a) => (a.connectTimeoutSeconds = 0), /^connectTimeoutSeconds: must be a whole number of seconds, 1-120/],
        ["a hostile instance name", (a) => (a.instances = ["c1", "c1; rm -rf /"]), /^instances\[1\]: "c1; rm -rf \/" is not an LXD instance name/],
        ["an instance listed twice", (a) => (a.instances = ["web", "web"]), /^instances\[1\]: web is listed twice \(also instances\[0\]\)/],
    ])("reports %s", (_what, change, expected) => {
        const args = two();
        change(args);
        expect(errors(args)).toEqual([expect.stringMatching(expected)]);
    });

    it("reports every problem at once", () => {
        const args = two();
        args.project = "a b";
        args.lxdDir = "x";
        args.members[0].apiPort = 0;
        expect(errors(args).map((e) => e.split(":")[0])).toEqual(["members[0].apiPort", "project", "lxdDir"]);
    });

    it("warns about a mesh of one host and a listen address peers do not use", () => {
        const one: LxdRemoteMeshArgs = { members: [{ host: host("h1", "198.18.0.10"), listenAddress: "10.1.1.1:8443" }] };
        const issues = checkMeshArgs(one);
        expect(issues.every((i) => i.severity === "warning")).toBe(true);
        expect(issues.map((i) => i.path)).toEqual(["members", "members[0].listenAddress"]);
    });

    it("accepts IPv6 and wildcard listen addresses", () => {
        const args: LxdRemoteMeshArgs = { members: [{ host: host("h1", "fd00::10") }, { host: host("h2", "fd00::11"), listenAddress: "[::]:8443" }, { host: host("h3", "198.18.0.12"), listenAddress: ":8443" }] };
        expect(checkMeshArgs(args)).toEqual([]);
    });
});

describe("parseListenAddress", () => {
    it.each([
        ["10.0.0.1:8443", { address: "10.0.0.1", port: 8443 }],
        ["[fd00::1]:8443", { address: "fd00::1", port: 8443 }],
        [":8443", { address: "", port: 8443 }],
        ["lxd1.example.org:443", { address: "lxd1.example.org", port: 443 }],
        ["fd00::1:8443", undefined],
        ["10.0.0.1:0", undefined],
        ["[10.0.0.1]:8443", undefined],
        ["10.0.0.1:8443 ", undefined],
    ])("%j", (value, expected) => expect(parseListenAddress(value)).toEqual(expected));
});

describe("resolveMesh", () => {
    it("fills the defaults and brackets IPv6 in URLs and listen addresses", () => {
        const mesh = resolveMesh({ members: [{ host: host("h1", "fd00::10") }, { host: host("h2", "198.18.0.11"), apiAddress: "lxd2.lab", apiPort: 9443 }] });
        expect(mesh.members.map((m) => [m.url, m.listenAddress])).toEqual([
            ["https://[fd00::10]:8443", "[fd00::10]:8443"],
            ["https://lxd2.lab:9443", "lxd2.lab:9443"],
        ]);
        expect(mesh).toMatchObject({ project: "default", clientConfigDir: "/root/.config/lxc", lxdDir: "/var/lib/lxd", trust: "certificate", migration: "stateless", preflightRevision: 1, connectTimeoutSeconds: 5 });
    });
});
