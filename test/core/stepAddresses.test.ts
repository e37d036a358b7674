/** What a component's `steps` output says about each step, under Pulumi's mocks. */
import * as pulumi from "@pulumi/pulumi";
import { recordProgram } from "../../tools/record";
import { remoteStep, stepAddresses, stepKey } from "../../core/remoteStep";
import type { Host } from "../../core/host";
import { isLibraryScript } from "../../core/library";

const host = (name: string): Host => ({ name, address: `${name}.lab`, privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" });

describe("stepAddresses", () => {
    it("names each step, its URN, its inventory host (also one found by a look-up) and its state key; the key is the one on the host", async () => {
        let expectedKeys: string[] = [];
        const rec = await recordProgram(() => {
            const a = remoteStep("web-proxy", { host: host("proxy1"), step: { description: "a" } }, { parent: undefined as any });
            const b = remoteStep("cap-mirror", { host: pulumi.output(host("compute7")), step: { description: "b" } }, { parent: undefined as any });
            expectedKeys = [stepKey("web-proxy"), stepKey("cap-mirror")];
            return { steps: stepAddresses([a, b]) };
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

    it("gives the same addresses for one step, for steps on inventory hosts only, and for none", async () => {
        const rec = await recordProgram(() => {
            const one = remoteStep("dns-resolv", { host: host("web1"), step: { description: "one" } }, { parent: undefined as any });
            const two = remoteStep("dns-pins", { host: host("web2"), step: { description: "two" } }, { parent: undefined as any });
            return { single: stepAddresses([one]), both: stepAddresses([two, one]), none: stepAddresses([]) };
        });
        const urn = (name: string) => rec.commands.find((c) => c.name === name)!.urn;
        const single = { name: "dns-resolv", urn: urn("dns-resolv"), host: "web1", key: stepKey("dns-resolv") };
        expect(rec.outputs.single).toEqual([single]);
        expect(rec.outputs.both).toEqual([{ name: "dns-pins", urn: urn("dns-pins"), host: "web2", key: stepKey("dns-pins") }, single]);
        expect(rec.outputs.none).toEqual([]);
    });
});
