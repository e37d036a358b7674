/**
 * hostwright as a library: `import { H2oReverseProxy, ... } from "hostwright"`.
 * Each component works alone, given `Host`s (inventory entries) and its args.
 */
export * from "./core/host";
export { ValidationError } from "./core/errors";
export type { Issue } from "./core/errors";
export { shq, sh } from "./core/shell";
export { remoteStep, stepReport } from "./core/remoteStep";
export type { RemoteStepArgs, StepInput } from "./core/remoteStep";
export { renderStep, parseStepReport } from "./core/step";
export type { ManagedFile, StepSpec } from "./core/step";
export { validateStack, declareStack } from "./core/config/stack";
export type { RawConfig } from "./core/config/stack";
export type { StackSection, StackContext } from "./core/config/sections";
// Components (one line each):
export { LxdRemoteMesh } from "./components/lxd/component";
export { OvsPortMirror } from "./components/ovs/component";
export { LibvirtLiveMigration } from "./components/libvirt/component";
export { H2oReverseProxy } from "./components/h2o/component";
export { ResolverGuard } from "./components/dns/component";
