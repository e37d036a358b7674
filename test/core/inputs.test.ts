import * as pulumi from "@pulumi/pulumi";
import { resolveInputs, SECRET_FIELDS } from "../../core/inputs";

describe("resolveInputs", () => {
    const host = () => Object.freeze({ name: "a", address: "198.51.100.1", hostKey: "k", privateKey: pulumi.secret("key"), labels: Object.freeze({ role: "x" }) });

    it("returns plain args as they are, however often their frozen hosts were walked before", () => {
        const h = host();
        for (let i = 0; i < 3; i++) {
            const args = { hosts: [h, h], port: 22 };
            expect(resolveInputs(args)).toBe(args);
        }
    });

    it("remembers a frozen host as plain only for the secret fields it was walked with", () => {
        const h = host();
        expect(pulumi.Output.isInstance(resolveInputs({ host: h }, SECRET_FIELDS))).toBe(false);
        expect(pulumi.Output.isInstance(resolveInputs({ host: h }, new Set<string>()))).toBe(true);
    });

    it("finds an Output in a frozen object every time", () => {
        const late = Object.freeze({ address: pulumi.output("198.51.100.2"), labels: Object.freeze({}) });
        for (let i = 0; i < 2; i++) expect(pulumi.Output.isInstance(resolveInputs({ hosts: [late] }))).toBe(true);
    });

    it("walks an unfrozen object again: it may have changed", () => {
        const h = { name: "a", address: "198.51.100.1" as pulumi.Input<string> };
        expect(pulumi.Output.isInstance(resolveInputs({ host: h }))).toBe(false);
        h.address = pulumi.output("198.51.100.3");
        expect(pulumi.Output.isInstance(resolveInputs({ host: h }))).toBe(true);
    });
});
