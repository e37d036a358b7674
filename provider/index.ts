/**
 * The plugin's entry point. `pulumi package add` runs this directory (PulumiPlugin.yaml:
 * Node.js runtime) through @pulumi/pulumi's plugin runner, which loads `main` of
 * ./package.json with the engine's address as the arguments.
 */
import { serve } from "./provider";

serve(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
