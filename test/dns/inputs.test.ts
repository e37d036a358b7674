/**
 * ResolverGuard fed by other resources (issue 18): the host's address and a name
 * server's address from `openstack.compute.Instance`s (the real class under Pulumi's
 * mocks), and other values as Outputs. Late arguments must declare exactly what plain
 * ones do, leave the steps unknown during a preview, and fail with the same message.
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import { ResolverGuard } from "../../components/dns/component";
import type { ResolverGuardArgs, ResolverGuardInputs } from "../../components/dns/args";
import type { Host } from "../../core/host";
import { spawnSync } from "child_process";
import { join } from "path";
import { recordProgram, RecordOptions, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { withoutLibraries } from "../../core/library";

const ROOT = join(__dirname, "../..");
const HOST_ADDRESS = "192.0.2.10";
const RESOLVER_ADDRESS = "192.0.2.53";
const host: Host = { name: "edge1", address: HOST_ADDRESS, privateKey: pulumi.secret("SSH-KEY"), hostKey: "ssh-ed25519 AAAA", init: "sysv" };

/** The host's VM and the resolver VM: their addresses are known after they are created. */
function vms() {
    const edge = new openstack.compute.Instance("edge1-vm", { flavorName: "m1.small", imageName: "debian-12" });
    const resolver = new openstack.compute.Instance("resolver-vm", { flavorName: "m1.small", imageName: "debian-12" });
    return { edge: edge.accessIpV4, resolver: resolver.accessIpV4 };
}

/**
 * Two estates, each plain and late: a Debian host with dnsmasq (four name servers: a
 * warning), and a RHEL host with unbound whose os, interfaces, cache kind, pinned
 * domain and config file are inputs too.
 */
const estates: Array<{ title: string; plain: () => ResolverGuardArgs; late: () => ResolverGuardInputs; files: string[]; argWarnings: string[] }> = [
    {
        title: "Debian, dnsmasq",
        plain: () => ({
            host,
            resolvConf: { nameservers: ["127.0.0.1", RESOLVER_ADDRESS, "192.0.2.54", "192.0.2.55"], search: ["example.org"], options: ["timeout:2"] },
            cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: [RESOLVER_ADDRESS] }] },
        }),
        late: () => {
            const vm = vms();
            return {
                host: { ...host, address: vm.edge },
                resolvConf: { nameservers: ["127.0.0.1", vm.resolver, "192.0.2.54", "192.0.2.55"], search: pulumi.output(["example.org"]), options: [pulumi.output("timeout:2")] },
                cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: [vm.resolver] }] },
            };
        },
        files: ["/etc/resolv.conf", "/etc/dhcp/dhclient-enter-hooks.d/zz-hostwright-keep-resolv-conf", "/etc/dnsmasq.d/hostwright-edge.conf"],
        argWarnings: ["resolvConf.nameservers: glibc uses only the first 3 name servers; the others are ignored"],
    },
    {
        title: "RHEL, unbound, interfaces",
        plain: () => ({
            host: { ...host, os: "rhel" },
            resolvConf: { nameservers: ["127.0.0.1", RESOLVER_ADDRESS] },
            interfaces: ["eth0", "eth1"],
            cache: { kind: "unbound", domains: [{ domain: "example.net", servers: [RESOLVER_ADDRESS], probe: { name: "www.example.net", type: "A" } }], configFile: "/etc/unbound/unbound.conf.d/pins.conf", address: "127.0.0.1" },
        }),
        late: () => {
            const vm = vms();
            return {
                host: { ...host, address: vm.edge, os: pulumi.output("rhel" as const) },
                resolvConf: { nameservers: [pulumi.output("127.0.0.1"), vm.resolver] },
                interfaces: ["eth0", pulumi.output("eth1")],
                cache: {
                    kind: pulumi.output("unbound" as const),
                    domains: [{ domain: pulumi.output("example.net"), servers: [vm.resolver], probe: { name: "www.example.net", type: pulumi.output("A" as const) } }],
                    configFile: pulumi.output("/etc/unbound/unbound.conf.d/pins.conf"),
                    address: vm.resolver.apply(() => "127.0.0.1"),
                },
            };
        },
        files: ["/etc/resolv.conf", "/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/sysconfig/network-scripts/ifcfg-eth1", "/etc/unbound/unbound.conf.d/pins.conf"],
        argWarnings: [],
    },
];

/** What the VMs report after a real apply; nothing during a preview. */
function providers(known = true): RecordOptions["resourceState"] {
    return (type, name) => {
        if (!known || type !== "openstack:compute/instance:Instance") return undefined;
        return { accessIpV4: name === "edge1-vm" ? HOST_ADDRESS : RESOLVER_ADDRESS };
    };
}

/** What the steps printed at the last apply: an old glibc (a warning) and a probe's answer. */
const commandState: RecordOptions["commandState"] = (_type, name) => ({
    stdout: name.endsWith("-resolv") ? "HOSTWRIGHT_OUTPUT glibc=2.12-1.132.el6_5.4 " : "HOSTWRIGHT_OUTPUT answer.twitch.tv=ns1.p18.dynect.net. ",
    stderr: "",
});

const outputsOf = (g: ResolverGuard) => ({ host: g.host, files: g.files, answers: g.answers, glibc: g.glibc, networkManagerDropIn: g.networkManagerDropIn, checkCommands: g.checkCommands, warnings: g.warnings, steps: g.steps });

describe.each(estates)("ResolverGuard with inputs from other resources ($title)", ({ plain: plainArgs, late: lateArgs, files, argWarnings }) => {
    it("declares the very steps plain arguments declare, once the VMs are known", async () => {
        const plain = await recordProgram(() => outputsOf(new ResolverGuard("edge", plainArgs())), { preview: false, printWarnings: false, commandState });
        const late = await recordProgram(() => outputsOf(new ResolverGuard("edge", lateArgs())), { preview: false, printWarnings: false, commandState, resourceState: providers() });
        // The host's library step (core/library.ts) first, compared too.
        expect(late.commands.map((c) => c.name)).toEqual(["hostwright-lib-edge1", "edge-resolv", "edge-pins"]);
        late.commands.forEach((b, i) => {
            const a = plain.commands[i];
            expect(b.name).toBe(a.name);
            expect(b.inputs.connection.host).toBe(HOST_ADDRESS);
            for (const input of ["stdin", "create", "update", "delete", "triggers"]) expect(b.inputs[input]).toEqual(a.inputs[input]);
            expect(b.secretInputs).toEqual(a.secretInputs);
        });
        const [guard, pins] = withoutLibraries(late.commands);
        expect(guard.inputs.stdin).toContain(`nameserver ${RESOLVER_ADDRESS}\n`);
        // Still one after the other on the host: its name stays plain.
        expect(pins.dependsOn).toContain(guard.urn);
        expect(late.outputs).toEqual(plain.outputs);
        expect(late.outputs.files).toEqual(files);
        // The args' warnings, logged on the component once the values are known, as for plain values.
        expect(late.outputs.warnings).toEqual([...argWarnings, expect.stringMatching(/^glibc 2\.12-1\.132\.el6_5\.4 fails/)]);
        expect(late.warnings.map((w) => w.message)).toEqual(plain.warnings.map((w) => w.message));
    });

    it("during a preview with the VMs not created yet, declares both steps with unknown content and throws nothing", async () => {
        const rec = await recordProgram(() => outputsOf(new ResolverGuard("edge", lateArgs())), { preview: true, printWarnings: false, resourceState: providers(false) });
        expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-edge1", "edge-resolv", "edge-pins"]);
        const steps = withoutLibraries(rec.commands);
        expect(steps.map((c) => c.name)).toEqual(["edge-resolv", "edge-pins"]);
        for (const step of steps) {
            expect(step.inputs.stdin).toBe(UNKNOWN_PLACEHOLDER);
            expect(step.inputs.connection?.host).not.toBe(HOST_ADDRESS);
        }
        expect(steps[1].dependsOn).toContain(steps[0].urn);
        expect(rec.outputs.files).toBe(UNKNOWN_PLACEHOLDER);
        expect(rec.outputs.checkCommands).toBe(UNKNOWN_PLACEHOLDER);
        expect(rec.outputs.host).toBe("edge1");
        // The steps' addresses are known: npm run check and pulumi up --replace can name them.
        expect(rec.outputs.steps).toEqual([expect.objectContaining({ name: "edge-resolv", host: "edge1" }), expect.objectContaining({ name: "edge-pins", host: "edge1" })]);
    });
});

describe("ResolverGuard with a bad value known only at apply time", () => {
    it("fails with the message the plain value gets", async () => {
        const bad: ResolverGuardArgs = { host, resolvConf: { nameservers: ["127.0.0.1", "dns.example.org"] }, cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"] }] } };
        const plainError = await recordProgram(() => void new ResolverGuard("bad", bad), { preview: false, printWarnings: false }).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(plainError?.message).toBe('1 problem in the args of ResolverGuard bad:\n  - resolvConf.nameservers[1]: "dns.example.org" is not an IPv4 or IPv6 address (resolv.conf takes no names)');
        // Late, the error rejects every Output built on the value (the steps' inputs, the
        // component's outputs): the program ends as `pulumi up` ends it, so it runs on its own.
        const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(__dirname, "lateInvalidProgram.ts")], { encoding: "utf8", cwd: ROOT });
        expect(run.status).not.toBe(0);
        expect(run.stderr).toContain(plainError!.message);
        expect(run.stderr).not.toContain("error serializing property");
    }, 60_000);
});
