import * as pulumi from "@pulumi/pulumi";
import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";

describe("recordProgram stack outputs", () => {
    it("shows an output that is unknown during a preview as unknown instead of waiting for it", async () => {
        const rec = await recordProgram(() => {
            const unknown = pulumi.output(pulumi.unknown) as unknown as pulumi.Output<string>;
            return { derived: unknown.apply((v) => `seen ${v}`), nested: { list: [unknown, pulumi.output("known")] } };
        });
        expect(rec.outputs).toEqual({ derived: UNKNOWN_PLACEHOLDER, nested: { list: [UNKNOWN_PLACEHOLDER, "known"] } });
    });
});
