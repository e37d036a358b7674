/**
 * The stack-config sections the program knows, one per component. A component
 * joins the program by exporting a `StackSection` from its folder and listing it here.
 */
import type { StackSection } from "../core/config/sections";

export const sections: StackSection[] = [];
