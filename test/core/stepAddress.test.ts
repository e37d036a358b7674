/** What a component's `steps` output says about each step, under Pulumi's mocks. */
import * as pulumi from "@pulumi/pulumi";
import { recordProgram } from "../../tools/record";
import { remoteStep, stepAddress, stepKey } from "../../core/remoteStep";
import type { Host } from "../../core/host";
import { isLibraryScript } from "../../core/library";

const host = (name: string): Host => ({ name, address: `${name}.lab`, privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" });

describe("stepAddress", () => {
    it("names each step, its URN, its inventory host (also one found by a look-up) and its state key; the key is the one on the host", async () => {
        let expectedKeys: string[] = [];
        const rec = await recordProgram(() => {
            const a = remoteStep("web-proxy", { host: host("proxy1"), step: { description: "a" } }, { parent: undefined as any });
            const b = remoteStep("cap-mirror", { host: pulumi.output(host("compute7")), step: { description: "b" } }, { parent: undefined as any });
            expectedKeys = [stepKey("web-proxy"), stepKey("cap-mirror")];
            return { steps: pulumi.all([a, b].map(stepAddress)) };
        });
        const steps = rec.outputs.steps as Array<Record<string, string>>;
        expect(steps.map((s) => [s.name, s.host, s.key])).toEqual([
            ["web-proxy", "proxy1", expectedKeys[0]],
            ["cap-mirror", "compute7", expectedKeys[1]],
        ]);
        // each host's library step first (the known host's, then the late step's own)
        expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-proxy1", "web-proxy", "cap-mirror-hostwright-lib", "cap-mirror"]);
        const commands = rec.commands.filter((c) => !isLibraryScript(c.inputs.stdin));
        expect(steps.map((s) => s.urn)).toEqual(commands.map((c) => c.urn));
        expect(commands[0].inputs.stdin).toContain(`HW_KEY=${expectedKeys[0]}`);
    });
});
