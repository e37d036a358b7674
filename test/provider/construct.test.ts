/**
 * The provider's `construct` entry, as the Node.js provider server calls it for a
 * Python, Go, .NET or YAML program: inputs decoded from the wire (a secret as the
 * engine sends it, an output value) by the server's own decoder, then
 * `HostwrightProvider.construct(name, token, inputs, options)` under Pulumi's mocks,
 * then the state encoded for the response and the RPCs waited for, as the server does.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { serializeResourceProperties, specialOutputValueSig, specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { ValidationError } from "../../core/errors";
import { LOOKUP } from "../../components/ovs/openstack";
import { HostwrightProvider } from "../../provider/provider";

// What the server calls around construct, not in @pulumi/pulumi's declarations: its decoder of the inputs, and the wait for outstanding RPCs.
const { deserializeInputs } = require("@pulumi/pulumi/provider/server") as {
    deserializeInputs(inputs: Struct, dependencies: Map<string, unknown>): Promise<pulumi.Inputs>;
};
const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };

const registered: Array<{ type: string; name: string; inputs: Record<string, unknown> }> = [];
/** Answers the invokes (data sources) of the test at hand. */
let invoke: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>;
beforeAll(() => {
    pulumi.runtime.setMocks({
        newResource: (args) => {
            registered.push({ type: args.type, name: args.name, inputs: args.inputs });
            return { id: `${args.name}-id`, state: {} };
        },
        call: (args) => invoke(args),
    }, "consumer", "dev", false);
});
beforeEach(() => {
    registered.length = 0;
    invoke = () => ({});
});

/** A value as the engine sends a secret to a provider that accepts output values. */
const secretOnTheWire = (value: string) => ({ [specialSigKey]: specialOutputValueSig, value, secret: true });
const host = (name: string, address: string) => ({ name, address, privateKey: secretOnTheWire(`KEY-${name}`), hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey", os: "debian", init: "systemd" });

const resolve = <T>(output: pulumi.Output<T>) => new Promise<T>((r) => output.apply(r));
const provider = new HostwrightProvider();

/** Constructs as the server does; returns the URN and state of the response, and the URNs of the component's direct children. */
async function construct(name: string, type: string, wireInputs: Record<string, unknown>, opts: pulumi.ComponentResourceOptions = {}) {
    const inputs = await deserializeInputs(Struct.fromJavaScript(wireInputs as never), new Map());
    const children: pulumi.Resource[] = [];
    let component: pulumi.Resource | undefined;
    const result = await provider.construct(name, type, inputs, {
        ...opts,
        transformations: [(args) => {
            if (!component) component = args.resource; // the first call is for the component itself
            else if (args.opts.parent === component) children.push(args.resource);
            return undefined;
        }],
    });
    const urn = await resolve(result.urn as pulumi.Output<string>);
    const [state] = await serializeResourceProperties(`construct(${type}, ${name})`, result.state);
    await waitForRPCs();
    return { urn, state, childUrns: await Promise.all(children.map((c) => resolve(c.urn))) };
}

// [component, the library component it declares, wire inputs]: the smallest valid args of each, with enum values as the SDKs send them.
const cases: Array<[string, string, Record<string, unknown>]> = [
    ["H2oReverseProxy", "hostwright:h2o:ReverseProxy", {
        host: host("proxy1", "198.51.100.10"),
        h2oVersion: "2.2",
        listeners: [{ name: "http", port: 80 }],
        virtualHosts: [{ name: "*", paths: [{ path: "/", redirectTo: "https://www.example.com/", redirectStatus: 308 }] }],
    }],
    ["OvsPortMirror", "hostwright:ovs:PortMirror", { host: host("compute1", "198.51.100.20"), ports: ["qvo0123456789a"], direction: "ingress", capture: { kind: "dummy" } }],
    ["LibvirtLiveMigration", "hostwright:libvirt:LiveMigration", { nodes: [{ host: host("compute1", "198.51.100.20") }, { host: host("compute2", "198.51.100.21") }], transport: "ssh" }],
    ["LxdRemoteMesh", "hostwright:lxd:RemoteMesh", { members: [{ host: host("lxd1", "198.51.100.30") }, { host: host("lxd2", "198.51.100.31") }], trust: "certificate", migration: "stateless" }],
    ["ResolverGuard", "hostwright:dns:ResolverGuard", { host: host("edge1", "192.0.2.10"), cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"], probe: { name: "twitch.tv", type: "SOA" } }] } }],
];

describe("HostwrightProvider.construct under Pulumi's mocks", () => {
    it.each(cases)("constructs %s under the package's token, the library's %s as its child, and returns every schema output", async (component, libraryToken, wireInputs) => {
        const result = await construct("c1", `hostwright:index:${component}`, wireInputs);
        expect(result.urn).toBe(`urn:pulumi:dev::consumer::hostwright:index:${component}::c1`);
        expect(result.childUrns).toEqual([`urn:pulumi:dev::consumer::hostwright:index:${component}$${libraryToken}::c1`]);
        const schema = JSON.parse(await provider.getSchema());
        expect(Object.keys(result.state).sort()).toEqual(Object.keys(schema.resources[`hostwright:index:${component}`].properties).sort());
        expect(registered.map((r) => r.type)).toEqual(expect.arrayContaining([`hostwright:index:${component}`, libraryToken, "command:remote:Command"]));
    });

    it("passes the values through: ResolverGuard's outputs, and the SSH key only inside the commands' secret connection", async () => {
        const [, , wireInputs] = cases.find(([c]) => c === "ResolverGuard")!;
        const result = await construct("edge", "hostwright:index:ResolverGuard", wireInputs);
        expect(result.state.host).toBe("edge1");
        expect(result.state.checkCommands).toEqual(["dig @127.0.0.1 twitch.tv SOA"]);
        const commands = registered.filter((r) => r.type === "command:remote:Command");
        expect(commands.length).toBeGreaterThan(0);
        for (const command of commands) {
            // The whole connection is registered as a secret (what the library's connectionFor makes of a secret key).
            expect(command.inputs.connection).toEqual({ [specialSigKey]: specialSecretSig, value: expect.objectContaining({ host: "192.0.2.10", privateKey: "KEY-edge1" }) });
            expect(JSON.stringify({ ...command.inputs, connection: undefined })).not.toContain("KEY-edge1");
        }
    });

    it("takes a value another resource of the caller's program produces (an output value with its dependency): an H2oReverseProxy's host address from a VM", async () => {
        const vm = "urn:pulumi:dev::consumer::openstack:compute/instance:Instance::proxy1";
        const address = { [specialSigKey]: specialOutputValueSig, value: "198.51.100.99", dependencies: [vm] };
        const [, , wireInputs] = cases.find(([c]) => c === "H2oReverseProxy")!;
        const result = await construct("late", "hostwright:index:H2oReverseProxy", { ...wireInputs, host: { ...host("proxy1", ""), address } });
        expect(result.state.configPath).toBe("/etc/h2o/h2o.conf");
        const [command] = registered.filter((r) => r.type === "command:remote:Command");
        expect(command.inputs.connection).toEqual({ [specialSigKey]: specialSecretSig, value: expect.objectContaining({ host: "198.51.100.99" }) });
        expect(command.inputs.stdin).toContain("h2o -t -c");
    });

    it("looks a VM up with the openstack provider given in the component's providers option (the args have no provider field)", async () => {
        const instanceId = "9e319540-9a67-4563-9aad-132c64faa1b1";
        const portId = "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a";
        const providers: Array<string | undefined> = [];
        invoke = (args) => {
            providers.push(args.provider);
            if (args.token === LOOKUP.instance) return { id: instanceId, networks: [{ uuid: "11111111-aaaa-4bbb-8ccc-000000000001", name: "private", port: portId }] };
            if (args.token === LOOKUP.port) return { id: portId, bindings: [{ hostId: "compute1", vifType: "ovs", vnicType: "normal", profile: "", vifDetails: { ovs_hybrid_plug: "true" } }] };
            if (args.token === LOOKUP.hypervisor) return { hostname: args.inputs.hostname, hostIp: "198.51.100.20" };
            throw new Error(`unexpected look-up ${args.token}`);
        };
        const admin = new openstack.Provider("admin", {});
        const result = await construct("vm", "hostwright:index:OvsPortMirror", { openstack: { instanceId, candidates: [host("compute1", "198.51.100.20")] } }, { providers: [admin] });
        expect(result.state.node).toBe("compute1");
        expect(result.state.ports).toEqual(["qvobee51cf7-fb"]);
        expect(providers.length).toBeGreaterThan(0);
        expect(providers.every((p) => p?.startsWith("urn:pulumi:dev::consumer::pulumi:providers:openstack::admin::"))).toBe(true);
    });

    it("refuses invalid args with the library's own error, every problem at once", async () => {
        const bad = { host: host("edge1", "192.0.2.10"), resolvConf: { nameservers: ["dns.example.org"] }, cache: { kind: "unbound", domains: [{ domain: "a..b", servers: ["x"] }] } };
        const attempt = construct("bad", "hostwright:index:ResolverGuard", bad);
        await expect(attempt).rejects.toBeInstanceOf(ValidationError);
        await expect(attempt).rejects.toThrow(/^3 problems in the args of ResolverGuard bad:/);
    });

    it("constructs only the package's tokens: a library token is refused", async () => {
        const [, , wireInputs] = cases.find(([c]) => c === "ResolverGuard")!;
        await expect(construct("edge", "hostwright:dns:ResolverGuard", wireInputs)).rejects.toThrow("Invalid module 'dns' in resource type 'hostwright:dns:ResolverGuard', expected 'index' or empty string");
    });
});
