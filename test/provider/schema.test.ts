/**
 * The package schema exactly as `pulumi package add` gets it (GetSchema): Pulumi's own
 * analyzer run over the provider's classes, plus the secret marks. Compared with the
 * library's TypeScript declarations, so a field added to a component's args or outputs
 * and missing from the schema fails here.
 */
import { join, resolve } from "path";
import ts from "typescript";
import { HostwrightProvider, SECRET_PROPERTIES } from "../../provider/provider";

interface Property { type?: string; $ref?: string; description?: string; plain?: boolean; secret?: boolean; items?: Property; additionalProperties?: Property }
interface Schema {
    name: string;
    version: string;
    description: string;
    resources: Record<string, { description?: string; inputProperties: Record<string, Property>; requiredInputs: string[]; properties: Record<string, Property> }>;
    types: Record<string, { type: string; properties?: Record<string, Property>; enum?: Array<{ name: string; value: string | number }> }>;
}

const repo = resolve(__dirname, "..", "..");
const token = (name: string) => `hostwright:index:${name}`;
let schema: Schema;

/** The library's own declarations, read with the TypeScript compiler from lib.ts. */
let library: { fields(typeName: string): string[]; classOutputs(className: string): string[] };

beforeAll(async () => {
    schema = JSON.parse(await new HostwrightProvider().getSchema());
    const program = ts.createProgram([join(repo, "lib.ts")], { strict: true, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Bundler, types: [] });
    const checker = program.getTypeChecker();
    const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(join(repo, "lib.ts"))!)!);
    const declared = (name: string) => {
        const symbol = exported.find((s) => s.name === name);
        if (!symbol) throw new Error(`lib.ts does not export ${name}`);
        return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    };
    library = {
        fields: (typeName) => checker.getDeclaredTypeOfSymbol(declared(typeName)).getProperties().map((p) => p.name).sort(),
        // Properties declared by the class itself (not ComponentResource's urn, ...).
        classOutputs: (className) => {
            const symbol = declared(className);
            return checker.getDeclaredTypeOfSymbol(symbol).getProperties()
                .filter((p) => p.declarations?.some((d) => d.parent === symbol.valueDeclaration))
                .map((p) => p.name).sort();
        },
    };
    libraryExports = new Set(exported.map((s) => s.name));
}, 120_000);
let libraryExports: Set<string>;

// [component, the library's args type]
const components: Array<[string, string]> = [
    ["H2oReverseProxy", "H2oReverseProxyArgs"],
    ["OvsPortMirror", "OvsPortMirrorArgs"],
    ["LibvirtLiveMigration", "LiveMigrationArgs"],
    ["LxdRemoteMesh", "LxdRemoteMeshArgs"],
    ["ResolverGuard", "ResolverGuardArgs"],
];

describe("the package schema from Pulumi's component analyzer", () => {
    it("is the hostwright package at this version, with exactly the five components", () => {
        expect(schema.name).toBe("hostwright");
        expect(schema.version).toBe(require("../../package.json").version);
        expect(schema.description).toMatch(/^Host-level plumbing/);
        expect(Object.keys(schema.resources).sort()).toEqual(components.map(([c]) => token(c)).sort());
    });

    it.each(components)("%s takes every field of the library's %s and has every output of the library's class", (component, argsType) => {
        const resource = schema.resources[token(component)];
        expect(resource.description).toBeTruthy();
        expect(Object.keys(resource.inputProperties).sort()).toEqual(library.fields(argsType));
        expect(Object.keys(resource.properties).sort()).toEqual(library.classOutputs(component));
    });

    it("requires what the library requires", () => {
        const required = Object.fromEntries(components.map(([c]) => [c, schema.resources[token(c)].requiredInputs]));
        expect(required).toEqual({
            H2oReverseProxy: ["host", "listeners", "virtualHosts"],
            OvsPortMirror: [],
            LibvirtLiveMigration: ["nodes"],
            LxdRemoteMesh: ["members"],
            ResolverGuard: ["host"],
        });
    });

    it("gives each object type that the library exports under the same name the library's fields (the OpenStack provider reference excepted)", () => {
        const objectTypes = Object.entries(schema.types).filter(([name, t]) => t.properties && libraryExports.has(name.slice(token("").length)));
        expect(objectTypes.map(([name]) => name.slice(token("").length)).sort()).toEqual([
            "CacheArgs", "Host", "InstanceMove", "ListenerArgs", "LiveMigrationNode", "LiveMigrationNodeStatus", "LiveMigrationPair", "LxdMeshMember", "MatrixCell",
            "NodeTls", "NovaMigrationOptions", "OcspArgs", "OvsCaptureArgs", "OvsCollectorArgs", "OvsOpenStackSourceArgs", "OvsPcapArgs",
            "PathArgs", "PinnedDomainArgs", "ProbeArgs", "ResolvConfArgs", "SaslCredentials", "TlsArgs", "TlsIdentityArgs", "VirtualHostArgs",
        ]);
        for (const [name, type] of objectTypes) {
            const typeName = name.slice(token("").length);
            const expected = library.fields(typeName).filter((f) => !(typeName === "OvsOpenStackSourceArgs" && f === "provider"));
            expect([typeName, Object.keys(type.properties!).sort()]).toEqual([typeName, expected]);
        }
    });

    it("describes every input, output and type field from its JSDoc, except the library fields that have none", () => {
        const undocumented: string[] = [];
        for (const [name, resource] of Object.entries(schema.resources)) {
            for (const [field, p] of [...Object.entries(resource.inputProperties), ...Object.entries(resource.properties)]) if (!p.description) undocumented.push(`${name}.${field}`);
        }
        for (const [name, type] of Object.entries(schema.types)) {
            for (const [field, p] of Object.entries(type.properties ?? {})) if (!p.description) undocumented.push(`${name}.${field}`);
        }
        expect(undocumented.sort()).toEqual(["hostwright:index:HostReadiness.serverVersion", "hostwright:index:InstanceMove.running", "hostwright:index:Readiness.ready"]);
        expect(schema.types[token("Host")].properties!.address.description).toBe("IP address or DNS name that SSH (and peers) use to reach the host.");
        expect(schema.resources[token("ResolverGuard")].properties.answers.description).toMatch(/^Pinned domain -> what its probe got/);
    });

    it("marks the private keys and the SASL password as secrets, and nothing else", () => {
        const secrets = Object.entries(schema.types).flatMap(([name, t]) => Object.entries(t.properties ?? {}).filter(([, p]) => p.secret).map(([f]) => `${name.slice(token("").length)}.${f}`));
        expect(secrets.sort()).toEqual(Object.entries(SECRET_PROPERTIES).flatMap(([t, fs]) => fs.map((f) => `${t}.${f}`)).sort());
        expect(secrets).toEqual(expect.arrayContaining(["Host.privateKey", "TlsIdentityArgs.privateKey", "TlsArgs.privateKey", "NodeTls.serverKey", "NodeTls.clientKey", "SaslCredentials.password"]));
        // An Input<string> in the library: other languages may pass an Output (a secret from their config).
        expect(schema.types[token("Host")].properties!.privateKey.plain).toBeUndefined();
    });

    // [type.field, enum type, its values]: every union of the library's args and outputs, as a schema enum.
    const enums: Array<[string, string, Array<string | number>]> = [
        ["Host.os", "OsFamily", ["debian", "rhel"]],
        ["Host.init", "InitSystem", ["systemd", "sysv"]],
        ["TlsArgs.minimumVersion", "TlsVersion", ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]],
        ["OcspArgs.verification", "OcspVerification", ["trust-store", "ca-file", "h2o-default"]],
        ["PathArgs.redirectStatus", "RedirectStatus", [301, 302, 307, 308]],
        ["OvsCaptureArgs.kind", "CaptureKind", ["auto", "dummy", "internal", "tap", "veth"]],
        ["OvsCollectorArgs.protocol", "CollectorProtocol", ["gre", "erspan"]],
        ["OvsCollectorArgs.erspanVersion", "ErspanVersion", [1, 2]],
        ["SaslCredentials.mechanism", "SaslMechanism", ["digest-md5", "scram-sha-256"]],
        ["NovaMigrationOptions.cpuMode", "CpuMode", ["host-model", "host-passthrough", "custom", "none"]],
        ["ProbeArgs.type", "ProbeType", ["A", "AAAA", "SOA", "NS", "MX", "TXT", "CNAME", "SRV", "PTR"]],
        ["CacheArgs.kind", "CacheKind", ["dnsmasq", "unbound", "dnscache"]],
        ["InstanceMove.type", "InstanceType", ["container", "virtual-machine"]],
    ];
    it.each(enums)("%s is the enum %s", (field, enumType, values) => {
        const [typeName, property] = field.split(".");
        expect(schema.types[token(typeName)].properties![property].$ref).toBe(`#/types/${token(enumType)}`);
        expect(schema.types[token(enumType)].enum!.map((e) => e.value).sort()).toEqual([...values].sort());
    });

    // [component, input or output, enum type]: unions directly on a component.
    const componentEnums: Array<[string, string, string]> = [
        ["H2oReverseProxy", "h2oVersion", "H2oVersion"],
        ["OvsPortMirror", "direction", "MirrorDirection"],
        ["LibvirtLiveMigration", "transport", "MigrationTransport"],
        ["LibvirtLiveMigration", "auth", "MigrationAuth"],
        ["LxdRemoteMesh", "trust", "TrustMethod"],
        ["LxdRemoteMesh", "migration", "MigrationMode"],
    ];
    it.each(componentEnums)("%s.%s is the enum %s", (component, input, enumType) => {
        expect(schema.resources[token(component)].inputProperties[input].$ref).toBe(`#/types/${token(enumType)}`);
    });

    it("gives h2o's stapling output per listener as the StaplingStatus enum", () => {
        expect(schema.resources[token("H2oReverseProxy")].properties.stapling.additionalProperties!.$ref).toBe(`#/types/${token("StaplingStatus")}`);
    });
});
