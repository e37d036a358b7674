/**
 * The stack-config sections the program knows, one per component. A component
 * joins the program by exporting a `StackSection` from its folder and listing it here.
 */
import type { StackSection } from "../core/config/sections";
import { ovsSection } from "./ovs/section";
import { lxdSection } from "./lxd/section";
import { libvirtSection } from "./libvirt/section";
import { h2oSection } from "./h2o/section";
import { dnsSection } from "./dns/section";

export const sections: StackSection[] = [lxdSection, ovsSection, libvirtSection, h2oSection, dnsSection];
