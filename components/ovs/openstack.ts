/**
 * From a Nova instance (or a Neutron port) to the node and the OVS port to mirror,
 * with `@pulumi/openstack` 3.15 look-ups:
 *   instance -> its port (compute.getInstanceV2 networks[].port)
 *   port -> binding host (networking.getPort bindings[0].hostId; admin only)
 *   binding host -> inventory host with that name, else the hypervisor's host_ip
 *                   (compute.getHypervisorV2) -> inventory host with that address
 *   port id -> OVS port `qvo` + its first 11 characters (Neutron's hybrid plug;
 *              `tap` + 11 without it, `vhu` + 11 for vhost-user).
 * The decisions are pure functions; `traceOpenStackPort` chains the look-ups
 * (given as promises, so tests pass their own) and `resolveOpenStackSource` wires
 * it to the provider.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as openstack from "@pulumi/openstack";
import type { Host } from "../../core/host";
import type { OvsOpenStackSourceArgs } from "./args";

export const LOOKUP = {
    instance: "openstack:compute/getInstanceV2:getInstanceV2",
    port: "openstack:networking/getPort:getPort",
    hypervisor: "openstack:compute/getHypervisorV2:getHypervisorV2",
} as const;

/** The VM's port could not be traced to a node and an OVS port; the message says why and what to do. */
export class OpenStackResolutionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "OpenStackResolutionError";
    }
}

/** Neutron's OVS hybrid plug names the VM's port on br-int `qvo` + the first 11 characters of the port id. */
export function qvoPortName(portId: string): string {
    return `qvo${portId.slice(0, 11)}`;
}

/**
 * The VM's port on br-int, as Nova plugs it (os-vif): `qvo...` with the hybrid plug
 * (`vif_details.ovs_hybrid_plug` true: the iptables firewall, the write-up's setup),
 * `tap...` without it (native openvswitch firewall, OVN), `vhu...` for vhost-user.
 * A port bound another way is not on Open vSwitch.
 */
export function ovsPortNameOf(portId: string, binding: PortBinding): string {
    const suffix = portId.slice(0, 11);
    if (binding.vifType === "vhostuser") return `vhu${suffix}`;
    if (binding.vifType !== "ovs") throw new OpenStackResolutionError(`port ${portId} is bound with vif_type ${binding.vifType}, not to Open vSwitch: there is no OVS port to mirror`);
    return String(binding.vifDetails?.ovs_hybrid_plug).toLowerCase() === "true" ? qvoPortName(portId) : `tap${suffix}`;
}

type InstanceNetwork = Pick<openstack.types.output.compute.GetInstanceV2Network, "uuid" | "name" | "port">;

/** The instance's port to mirror: the one given, the one on `network`, or its only one. */
export function selectInstancePort(instanceId: string, networks: InstanceNetwork[] | undefined, selector: { portId?: string; network?: string }): string {
    const ports = (networks ?? []).filter((n) => n.port);
    const listing = ports.map((n) => `${n.name || n.uuid} (port ${n.port})`).join(", ");
    if (ports.length === 0) throw new OpenStackResolutionError(`instance ${instanceId} has no Neutron port (is it an instance of this cloud and region, and does it have a network?)`);
    if (selector.portId) {
        const hit = ports.find((n) => n.port === selector.portId);
        if (!hit) throw new OpenStackResolutionError(`port ${selector.portId} is not a port of instance ${instanceId}; its ports: ${listing}`);
        return hit.port;
    }
    if (selector.network) {
        const hits = ports.filter((n) => n.name === selector.network || n.uuid === selector.network);
        if (hits.length === 0) throw new OpenStackResolutionError(`instance ${instanceId} has no port on network ${selector.network}; its ports: ${listing}`);
        if (hits.length > 1) throw new OpenStackResolutionError(`instance ${instanceId} has ${hits.length} ports on network ${selector.network}: ${hits.map((n) => n.port).join(", ")}; select one with openstack.portId`);
        return hits[0].port;
    }
    if (ports.length > 1) throw new OpenStackResolutionError(`instance ${instanceId} has ${ports.length} ports: ${listing}; select one with openstack.network or openstack.portId`);
    return ports[0].port;
}

type PortBinding = Pick<openstack.types.output.networking.GetPortBinding, "hostId" | "vifType"> & Partial<Pick<openstack.types.output.networking.GetPortBinding, "vifDetails">>;

/** The node a port is bound to. Neutron shows `binding:host_id` to admins only. */
export function bindingHostOf(portId: string, bindings: PortBinding[] | undefined): string {
    const binding = (bindings ?? [])[0];
    if (binding?.hostId) return binding.hostId;
    // Without admin rights the binding attributes are all absent; an unbound port says so in vif_type.
    if (!binding || !binding.vifType) {
        throw new OpenStackResolutionError(
            `port ${portId} shows no binding: Neutron shows binding:host_id to admins only; run with admin credentials for the openstack provider (OS_USERNAME/OS_PROJECT_NAME of an admin, or an openstack:* stack config)`,
        );
    }
    throw new OpenStackResolutionError(`port ${portId} is not bound to any node (binding:vif_type ${binding.vifType}); is the instance running?`);
}

/** The inventory host named like the binding host (or like its first DNS label). */
export function hostByName(bindingHost: string, candidates: Host[]): Host | undefined {
    const short = bindingHost.split(".")[0];
    return candidates.find((h) => h.name === bindingHost) ?? candidates.find((h) => h.name === short);
}

/** The inventory host reached at the hypervisor's IP, or a clear error. */
export function hostByAddress(bindingHost: string, hostIp: string | undefined, candidates: Host[]): Host {
    const hit = hostIp ? candidates.find((h) => h.address === hostIp) : undefined;
    if (hit) return hit;
    const names = candidates.map((h) => `${h.name} (${h.address})`).slice(0, 20).join(", ");
    throw new OpenStackResolutionError(
        `the port's node ${bindingHost}${hostIp ? ` (hypervisor IP ${hostIp})` : ""} is not in the inventory: no host is named ${bindingHost.split(".")[0]} or has address ${hostIp ?? bindingHost}; known hosts: ${names}`,
    );
}

/** Where the mirror goes, once OpenStack has answered. */
export interface ResolvedSource {
    /** Inventory name of the node (a name, so that the key of its Host stays out of the result). */
    node: string;
    portId: string;
    /** The VM's OVS port on br-int (`qvo...`; `tap...` without the hybrid plug; `vhu...`). */
    portName: string;
    /** Neutron's binding:host_id. */
    bindingHost: string;
}

/** The three look-ups, as promises (answers may lack fields when nobody answered them). */
export interface OpenStackLookups {
    instance(id: string): Promise<Partial<openstack.compute.GetInstanceV2Result>>;
    port(portId: string): Promise<Partial<openstack.networking.GetPortResult>>;
    hypervisor(hostname: string): Promise<Partial<openstack.compute.GetHypervisorV2Result>>;
}

/** A look-up nobody answered: the offline preview answers every look-up with `{}`. */
class Unanswered extends Error {}

function answered<T>(what: string, value: T | undefined, dryRun: boolean): T {
    if (value !== undefined) return value;
    if (dryRun) throw new Unanswered(what);
    throw new OpenStackResolutionError(`the OpenStack look-up of ${what} returned nothing`);
}

/**
 * Instance -> port -> binding host -> inventory host, and the OVS port name.
 * Resolves to `undefined` when, during a preview, a look-up went unanswered;
 * rejects with an {@link OpenStackResolutionError} that says what to fix.
 */
export async function traceOpenStackPort(source: OvsOpenStackSourceArgs, lookups: OpenStackLookups, dryRun: boolean): Promise<ResolvedSource | undefined> {
    try {
        let portId = source.portId!;
        if (source.instanceId) {
            const instance = await lookups.instance(source.instanceId);
            portId = selectInstancePort(source.instanceId, answered(`instance ${source.instanceId}`, instance.networks, dryRun), source);
        }
        const port = await lookups.port(portId);
        const bindings = answered(`port ${portId}`, port.bindings, dryRun);
        const bindingHost = bindingHostOf(portId, bindings);
        let host = hostByName(bindingHost, source.candidates);
        if (!host) {
            const hypervisor = await lookups.hypervisor(bindingHost);
            host = hostByAddress(bindingHost, answered(`hypervisor ${bindingHost}`, hypervisor.hostIp, dryRun), source.candidates);
        }
        return { node: host.name, portId, portName: ovsPortNameOf(portId, bindings[0]), bindingHost };
    } catch (e) {
        if (e instanceof Unanswered) return undefined;
        throw e;
    }
}

/** The look-ups through the `openstack` provider (`@pulumi/openstack` data sources). */
export function providerLookups(opts: { parent: pulumi.Resource; provider?: pulumi.ProviderResource }): OpenStackLookups {
    const invokeOpts: pulumi.InvokeOptions = { parent: opts.parent, ...(opts.provider ? { provider: opts.provider } : {}) };
    return {
        instance: (id) => pulumi.runtime.invoke(LOOKUP.instance, { id }, invokeOpts),
        port: (portId) => pulumi.runtime.invoke(LOOKUP.port, { portId }, invokeOpts),
        hypervisor: (hostname) => pulumi.runtime.invoke(LOOKUP.hypervisor, { hostname }, invokeOpts),
    };
}

/** An Output the engine has not resolved (the SDK has no public constructor for one). */
function unknownOutput<T>(): pulumi.Output<T> {
    const OutputImpl = pulumi.Output as unknown as new (...a: unknown[]) => pulumi.Output<T>;
    return new OutputImpl(new Set(), Promise.resolve(undefined), Promise.resolve(false), Promise.resolve(false), Promise.resolve(new Set()));
}

/** The resolved source as an Output: unknown while a preview's look-ups are unanswered; a failure fails the deployment. */
export function resolveOpenStackSource(source: OvsOpenStackSourceArgs, opts: { parent: pulumi.Resource }): pulumi.Output<ResolvedSource> {
    const traced = traceOpenStackPort(source, providerLookups({ parent: opts.parent, provider: source.provider }), pulumi.runtime.isDryRun());
    return pulumi.output(traced).apply((r): ResolvedSource | pulumi.Output<ResolvedSource> => r ?? unknownOutput<ResolvedSource>()) as pulumi.Output<ResolvedSource>;
}
