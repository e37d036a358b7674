import * as pulumi from "@pulumi/pulumi";
import { ResolverGuard } from "../../components/dns/component";
import type { ResolverGuardArgs } from "../../components/dns/args";
import type { Host } from "../../core/host";
import { ValidationError } from "../../core/errors";
import { recordProgram } from "../../tools/record";
import { withoutLibraries } from "../../core/library";

const host: Host = { name: "edge1", address: "192.0.2.10", privateKey: pulumi.secret("SSH-KEY"), hostKey: "ssh-ed25519 AAAA", init: "sysv" };
const args = (over: Partial<ResolverGuardArgs> = {}): ResolverGuardArgs => ({
    host,
    resolvConf: { nameservers: ["127.0.0.1"], search: ["example.org"] },
    cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"] }] },
    ...over,
});
const outputsOf = (g: ResolverGuard) => ({ host: g.host, files: g.files, answers: g.answers, glibc: g.glibc, networkManagerDropIn: g.networkManagerDropIn, checkCommands: g.checkCommands, warnings: g.warnings });

describe("ResolverGuard under Pulumi mocks", () => {
    it("declares the guard step, then the pins step, on the host", async () => {
        const rec = await recordProgram(() => outputsOf(new ResolverGuard("edge", args())), { preview: false });
        expect(rec.resources.find((r) => r.type === "hostwright:dns:ResolverGuard")?.name).toBe("edge");
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(["edge-resolv", "edge-pins"]);
        const [guard, pins] = withoutLibraries(rec.commands);
        expect(pins.dependsOn).toContain(guard.urn);
        expect(guard.inputs.create).toBe("/bin/bash -s");
        expect(guard.inputs.stdin).toContain("make_resolv_conf() { :; }");
        expect(guard.inputs.stdin).toContain("nameserver 127.0.0.1\n");
        expect(pins.inputs.stdin).toContain("server=/twitch.tv/208.78.70.18\n");
        expect(pins.inputs.stdin).toContain("service dnsmasq restart");
        expect(rec.outputs).toMatchObject({
            host: "edge1",
            files: ["/etc/resolv.conf", "/etc/dhcp/dhclient-enter-hooks.d/zz-hostwright-keep-resolv-conf", "/etc/dnsmasq.d/hostwright-edge.conf"],
            checkCommands: ["dig @127.0.0.1 twitch.tv SOA"],
        });
    });

    it("only the pins step without resolvConf; only the guard step without cache", async () => {
        const pinsOnly = await recordProgram(() => void new ResolverGuard("p", args({ resolvConf: undefined })));
        expect(withoutLibraries(pinsOnly.commands).map((c) => c.name)).toEqual(["p-pins"]);
        const guardOnly = await recordProgram(() => void new ResolverGuard("g", args({ cache: undefined, host: { ...host, os: "rhel" }, interfaces: ["eth0"] })));
        expect(withoutLibraries(guardOnly.commands).map((c) => c.name)).toEqual(["g-resolv"]);
        expect(withoutLibraries(guardOnly.commands)[0].inputs.stdin).toContain("hw_edit_source /etc/sysconfig/network-scripts/ifcfg-eth0");
        expect(withoutLibraries(guardOnly.commands)[0].inputs.stdin).not.toContain("dhclient-enter-hooks.d");
    });

    it("outputs: the probes' answers and the glibc warning from what the host printed", async () => {
        const stdout: Record<string, string> = {
            "edge-resolv": "HOSTWRIGHT_OUTPUT networkManagerDropIn=/etc/NetworkManager/conf.d/99-hostwright-dns-none.conf\nHOSTWRIGHT_OUTPUT glibc=2.12-1.132.el6_5.4 ",
            "edge-pins": "HOSTWRIGHT_OUTPUT answer.twitch.tv=ns1.p18.dynect.net. hostmaster.twitch.tv. 1 3600 600 604800 60 ",
        };
        const rec = await recordProgram(() => outputsOf(new ResolverGuard("edge", args())), { preview: false, commandState: (_t, name) => ({ stdout: stdout[name] ?? "", stderr: "" }) });
        expect(rec.outputs.answers).toEqual({ "twitch.tv": "ns1.p18.dynect.net. hostmaster.twitch.tv. 1 3600 600 604800 60" });
        expect(rec.outputs.glibc).toBe("2.12-1.132.el6_5.4");
        expect(rec.outputs.networkManagerDropIn).toBe("/etc/NetworkManager/conf.d/99-hostwright-dns-none.conf");
        expect(rec.outputs.warnings).toEqual([expect.stringMatching(/^glibc 2\.12-1\.132\.el6_5\.4 fails multithreaded getaddrinfo/)]);
    });

    it("refuses invalid args before declaring anything, naming every field", async () => {
        let error: unknown;
        const rec = recordProgram(() => {
            try {
                new ResolverGuard("bad", args({ resolvConf: { nameservers: ["dns.example.org"] }, cache: { kind: "unbound", domains: [{ domain: "a..b", servers: ["x"] }] } }));
            } catch (e) {
                error = e;
            }
        });
        expect((await rec).commands).toEqual([]);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues.map((i) => i.path)).toEqual(["resolvConf.nameservers[0]", "cache.domains[0].domain", "cache.domains[0].servers[0]"]);
        expect((error as Error).message).toMatch(/^3 problems in the args of ResolverGuard bad:/);
    });
});
