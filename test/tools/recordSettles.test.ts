import * as pulumi from "@pulumi/pulumi";
import { recordProgram } from "../../tools/record";
import { remoteStep, stepReport } from "../../core/remoteStep";

const host = { name: "h1", address: "h1.lab", privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" };

// A component whose registered outputs come from a command's stdout: in an apply
// (not a preview) they resolve after the stack's own outputs.
class Reporting extends pulumi.ComponentResource {
    readonly status: pulumi.Output<string>;
    constructor(name: string) {
        super("hostwright:test:Reporting", name, {}, {});
        const command = remoteStep(`${name}-step`, { host, step: { description: "report" } }, { parent: this });
        this.status = stepReport(command).apply((r) => r.values.status ?? "none");
        this.registerOutputs({ status: this.status });
    }
}

describe("recordProgram", () => {
    it("returns only once every registration of the program has reached its mocks (applies in a row)", async () => {
        for (const n of [1, 2, 3]) {
            const rec = await recordProgram(() => ({ status: new Reporting(`r${n}`).status }), { preview: false });
            expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-h1", `r${n}-step`]);
        }
    });
});
