import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { OvsPortMirror } from "../../components/ovs/component";
import type { OvsOpenStackSourceArgs } from "../../components/ovs/args";
import { withoutLibraries } from "../../core/library";
import {
    bindingHostOf,
    hostByAddress,
    hostByName,
    LOOKUP,
    OpenStackResolutionError,
    ovsPortNameOf,
    providerLookups,
    qvoPortName,
    selectInstancePort,
    traceOpenStackPort,
} from "../../components/ovs/openstack";

const host = (name: string, address: string): Host => ({ name, address, privateKey: pulumi.secret(`KEY-${name}`), hostKey: "ssh-ed25519 AAAA" });
const inventory = [host("compute-1", "192.168.122.210"), host("compute-opt", "192.168.122.215"), host("ctl", "192.168.122.220")];

const INSTANCE = "9e319540-9a67-4563-9aad-132c64faa1b1";
const PORT_A = "bee51cf7-fb2a-4c1e-9d3b-6f0f6f1d2e3a";
const PORT_B = "0c0ffee0-1234-4c1e-9d3b-6f0f6f1d2e3a";
/** What Neutron's ML2/OVS driver with the iptables hybrid firewall reports: the VM is on br-int as qvo... */
const HYBRID = { ovs_hybrid_plug: "true", port_filter: "true" };
const private1 = { uuid: "11111111-aaaa-4bbb-8ccc-000000000001", name: "private", port: PORT_A };
const public1 = { uuid: "22222222-aaaa-4bbb-8ccc-000000000002", name: "public", port: PORT_B };

describe("pure resolution steps", () => {
    it("names the VM's OVS port qvo + the first 11 characters of the port id (the write-up's qvobee51cf7-fb)", () => {
        expect(qvoPortName(PORT_A)).toBe("qvobee51cf7-fb");
        expect(qvoPortName(PORT_A).length).toBeLessThanOrEqual(15);
    });

    it.each<[string, Parameters<typeof ovsPortNameOf>[1], string | RegExp]>([
        ["the hybrid plug (iptables firewall, the write-up's setup)", { hostId: "c", vifType: "ovs", vifDetails: { ovs_hybrid_plug: true, port_filter: true } }, "qvobee51cf7-fb"],
        ["the hybrid plug, as the provider's JSON strings", { hostId: "c", vifType: "ovs", vifDetails: { ovs_hybrid_plug: "true" } }, "qvobee51cf7-fb"],
        ["no hybrid plug (native openvswitch firewall)", { hostId: "c", vifType: "ovs", vifDetails: { ovs_hybrid_plug: false } }, "tapbee51cf7-fb"],
        ["OVN (no hybrid-plug detail)", { hostId: "c", vifType: "ovs", vifDetails: { port_filter: true } }, "tapbee51cf7-fb"],
        ["vhost-user (OVS-DPDK)", { hostId: "c", vifType: "vhostuser", vifDetails: {} }, "vhubee51cf7-fb"],
        ["a Linux bridge port", { hostId: "c", vifType: "bridge", vifDetails: {} }, /bound with vif_type bridge, not to Open vSwitch/],
        ["a failed binding on a node", { hostId: "c", vifType: "binding_failed" }, /vif_type binding_failed/],
    ])("the OVS port for %s", (_t, binding, expected) => {
        if (typeof expected === "string") expect(ovsPortNameOf(PORT_A, binding)).toBe(expected);
        else expect(() => ovsPortNameOf(PORT_A, binding)).toThrow(expected);
    });

    it.each<[string, Array<typeof private1>, { portId?: string; network?: string }, string]>([
        ["the only port", [private1], {}, PORT_A],
        ["the port on a network given by name", [private1, public1], { network: "public" }, PORT_B],
        ["the port on a network given by id", [private1, public1], { network: private1.uuid }, PORT_A],
        ["the port given by id", [private1, public1], { portId: PORT_B }, PORT_B],
    ])("selects %s", (_t, networks, selector, expected) => {
        expect(selectInstancePort(INSTANCE, networks, selector)).toBe(expected);
    });

    it.each<[string, Array<typeof private1> | undefined, { portId?: string; network?: string }, RegExp]>([
        ["several ports and no selector", [private1, public1], {}, /has 2 ports: private \(port bee5.*\), public \(port 0c0f.*\); select one with openstack.network or openstack.portId/],
        ["no port", [], {}, /has no Neutron port/],
        ["no networks at all", undefined, {}, /has no Neutron port/],
        ["a network it is not on", [private1], { network: "dmz" }, /has no port on network dmz; its ports: private/],
        ["a port that is not its own", [private1], { portId: PORT_B }, /port 0c0ffee0-.* is not a port of instance/],
        ["two ports on the selected network", [private1, { ...public1, name: "private" }], { network: "private" }, /has 2 ports on network private: .*select one with openstack.portId/],
    ])("fails clearly for %s", (_t, networks, selector, message) => {
        expect(() => selectInstancePort(INSTANCE, networks, selector)).toThrow(message);
    });

    it.each<[string, Parameters<typeof bindingHostOf>[1], RegExp | string]>([
        ["a bound port", [{ hostId: "compute-opt.test.local", vifType: "ovs" }], "compute-opt.test.local"],
        ["no admin rights (binding attributes hidden)", [{ hostId: "", vifType: "" }], /shows no binding: Neutron shows binding:host_id to admins only/],
        ["no binding list at all", [], /admins only/],
        ["an unbound port", [{ hostId: "", vifType: "unbound" }], /is not bound to any node \(binding:vif_type unbound\)/],
        ["a failed binding", [{ hostId: "", vifType: "binding_failed" }], /binding_failed/],
    ])("binding host: %s", (_t, bindings, expected) => {
        if (typeof expected === "string") expect(bindingHostOf(PORT_A, bindings)).toBe(expected);
        else expect(() => bindingHostOf(PORT_A, bindings)).toThrow(expected);
    });

    it.each<[string, string, string | undefined]>([
        ["the same name", "compute-1", "compute-1"],
        ["the first DNS label of a FQDN", "compute-opt.test.local", "compute-opt"],
        ["no such host", "compute-9.test.local", undefined],
    ])("inventory host by %s", (_t, bindingHost, expected) => {
        expect(hostByName(bindingHost, inventory)?.name).toBe(expected);
    });

    it("finds a host by the hypervisor's IP, or says which hosts it knows", () => {
        expect(hostByAddress("nova-7", "192.168.122.220", inventory).name).toBe("ctl");
        expect(() => hostByAddress("nova-7", "10.9.9.9", inventory)).toThrow(/node nova-7 \(hypervisor IP 10.9.9.9\) is not in the inventory.*known hosts: compute-1 \(192.168.122.210\)/);
    });
});

/** Answers the look-ups like an OpenStack cloud would, and records what was asked. */
function cloud(over: { networks?: unknown; bindings?: unknown; hostIp?: string } = {}) {
    const asked: Array<[string, Record<string, any>]> = [];
    const invoke = (token: string, args: Record<string, any>): Record<string, any> => {
        asked.push([token, args]);
        if (token === LOOKUP.instance) return { id: args.id, networks: "networks" in over ? over.networks : [private1] };
        if (token === LOOKUP.port) return { id: args.portId, bindings: "bindings" in over ? over.bindings : [{ hostId: "compute-opt.test.local", vifType: "ovs", vnicType: "normal", profile: "", vifDetails: HYBRID }] };
        if (token === LOOKUP.hypervisor) return { hostname: args.hostname, hostIp: over.hostIp ?? "192.168.122.215" };
        throw new Error(`unexpected look-up ${token}`);
    };
    return { asked, invoke };
}

const openstackSource = (more: Partial<OvsOpenStackSourceArgs> = {}): OvsOpenStackSourceArgs => ({ instanceId: INSTANCE, candidates: inventory, ...more });

describe("OvsPortMirror found through OpenStack (Pulumi mocks)", () => {
    it("instance -> port -> binding host -> inventory host; mirrors qvo<port id> there", async () => {
        const { asked, invoke } = cloud();
        const rec = await recordProgram(
            () => {
                const m = new OvsPortMirror("web", { openstack: openstackSource() });
                return { node: m.node, ports: m.ports, tcpdump: m.tcpdump };
            },
            { invoke, preview: false },
        );
        expect(asked).toEqual([
            [LOOKUP.instance, expect.objectContaining({ id: INSTANCE })],
            [LOOKUP.port, expect.objectContaining({ portId: PORT_A })],
        ]);
        expect(rec.outputs).toMatchObject({ node: "compute-opt", ports: ["qvobee51cf7-fb"], tcpdump: expect.stringMatching(/^tcpdump -ni hwm[0-9a-f]{8} -w /) });
        const [command] = withoutLibraries(rec.commands);
        expect(command.inputs.connection.host).toBe("192.168.122.215");
        expect(command.secretInputs).toContain("connection");
        expect(command.inputs.stdin).toContain("hwo_vsctl port-to-br");
        expect(command.inputs.stdin).toContain("-- --id=@s0 get Port qvobee51cf7-fb");
        expect(command.inputs.create).toBe("/bin/bash -s");
    });

    it("falls back to the hypervisor's host IP when no inventory host has the binding host's name", async () => {
        const { asked, invoke } = cloud({ bindings: [{ hostId: "nova-7.cloud", vifType: "ovs", vifDetails: HYBRID }], hostIp: "192.168.122.210" });
        const rec = await recordProgram(() => ({ node: new OvsPortMirror("web", { openstack: openstackSource({ instanceId: undefined, portId: PORT_B }) }).node }), { invoke, preview: false });
        expect(asked.map(([t]) => t)).toEqual([LOOKUP.port, LOOKUP.hypervisor]);
        expect(asked[1][1]).toMatchObject({ hostname: "nova-7.cloud" });
        expect(rec.outputs.node).toBe("compute-1");
        expect(withoutLibraries(rec.commands)[0].inputs.stdin).toContain("get Port qvo0c0ffee0-12");
    });

    it("mirrors the tap device when the binding has no hybrid plug", async () => {
        const { invoke } = cloud({ bindings: [{ hostId: "compute-1", vifType: "ovs", vifDetails: { ovs_hybrid_plug: "false" } }] });
        const rec = await recordProgram(() => ({ ports: new OvsPortMirror("web", { openstack: openstackSource() }).ports }), { invoke, preview: false });
        expect(rec.outputs.ports).toEqual(["tapbee51cf7-fb"]);
        expect(withoutLibraries(rec.commands)[0].inputs.connection.host).toBe("192.168.122.210");
    });

    it("selects the port on the given network", async () => {
        const { invoke } = cloud({ networks: [private1, public1] });
        const rec = await recordProgram(() => ({ ports: new OvsPortMirror("web", { openstack: openstackSource({ network: "public" }) }).ports }), { invoke, preview: false });
        expect(rec.outputs.ports).toEqual(["qvo0c0ffee0-12"]);
    });

    it("shows unanswered look-ups (the offline preview answers {}) as known after apply", async () => {
        const rec = await recordProgram(
            () => {
                const m = new OvsPortMirror("web", { openstack: openstackSource() });
                return { node: m.node, tcpdump: m.tcpdump, bridge: m.bridge };
            },
            { invoke: () => ({}), preview: true },
        );
        // what does not depend on the look-ups is shown
        expect(rec.outputs).toEqual({ node: UNKNOWN_PLACEHOLDER, tcpdump: expect.stringMatching(/^tcpdump -ni hwm[0-9a-f]{8} -w /), bridge: "br-int" });
        const [command] = withoutLibraries(rec.commands);
        for (const input of ["connection", "stdin", "create", "delete"]) expect(command.inputs[input]).toBe(UNKNOWN_PLACEHOLDER);
    });

    // The provider's look-ups against the mocks, with the failures a cloud gives.
    it.each<[string, Parameters<typeof cloud>[0], Partial<OvsOpenStackSourceArgs>, RegExp]>([
        ["a VM with several ports and no selector", { networks: [private1, public1] }, {}, /has 2 ports.*select one with openstack.network or openstack.portId/],
        ["credentials that are not admin", { bindings: [{ hostId: "", vifType: "", vnicType: "normal" }] }, {}, /binding:host_id to admins only/],
        ["an unbound port", { bindings: [{ hostId: "", vifType: "unbound" }] }, {}, /is not bound to any node/],
        ["a node that is not in the inventory", { bindings: [{ hostId: "nova-7.cloud", vifType: "ovs" }], hostIp: "10.9.9.9" }, {}, /node nova-7.cloud \(hypervisor IP 10.9.9.9\) is not in the inventory/],
        ["an instance without ports", { networks: [] }, {}, /has no Neutron port/],
    ])("fails clearly for %s", async (_t, over, more, message) => {
        const { invoke } = cloud(over);
        let failure: unknown;
        await recordProgram(
            async () => {
                const component = new pulumi.ComponentResource("hostwright:test:Probe", "probe");
                await traceOpenStackPort(openstackSource(more), providerLookups({ parent: component }), false).catch((e) => (failure = e));
            },
            { invoke, preview: false },
        );
        expect(failure).toBeInstanceOf(OpenStackResolutionError);
        expect(String((failure as Error).message)).toMatch(message);
    });

    it("a look-up that answers nothing outside a preview is an error, not an unknown", async () => {
        await expect(traceOpenStackPort(openstackSource(), { instance: async () => ({}), port: async () => ({}), hypervisor: async () => ({}) }, false)).rejects.toThrow(
            `the OpenStack look-up of instance ${INSTANCE} returned nothing`,
        );
        await expect(traceOpenStackPort(openstackSource(), { instance: async () => ({}), port: async () => ({}), hypervisor: async () => ({}) }, true)).resolves.toBeUndefined();
    });
});
