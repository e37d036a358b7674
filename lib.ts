/**
 * hostwright as a library: `import { H2oReverseProxy, ... } from "hostwright"`.
 * Each component works alone, given `Host`s (inventory entries) and its args.
 * The stack-config machinery (zod schemas, sections) stays internal: it is the
 * program's, and its types would pull zod's declarations into every consumer.
 */
export * from "./core/host";
export type { Inputs, HostInput } from "./core/inputs";
export { ValidationError } from "./core/errors";
export type { Issue } from "./core/errors";
export { shq, sh } from "./core/shell";
export { remoteStep, stepReport } from "./core/remoteStep";
export type { RemoteStepArgs, StepInput } from "./core/remoteStep";
export { renderStep, parseStepReport } from "./core/step";
export type { ManagedFile, StepSpec } from "./core/step";
// Components and the types of their arguments:
export { LxdRemoteMesh } from "./components/lxd/component";
export type { LxdRemoteMeshArgs, LxdRemoteMeshInputs, LxdMeshMember, TrustMethod, MigrationMode } from "./components/lxd/args";
export type { MatrixCell, InstanceMove } from "./components/lxd/render";
export { OvsPortMirror } from "./components/ovs/component";
export type * from "./components/ovs/args";
export { LibvirtLiveMigration } from "./components/libvirt/component";
export type { LiveMigrationNodeStatus, LiveMigrationPair } from "./components/libvirt/component";
export type * from "./components/libvirt/args";
export { H2oReverseProxy } from "./components/h2o/component";
export type * from "./components/h2o/args";
export { ResolverGuard } from "./components/dns/component";
export type * from "./components/dns/args";
