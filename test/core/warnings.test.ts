/** A component's warnings, as `pulumi up` logs them: under the component, naming its hosts. */
import * as pulumi from "@pulumi/pulumi";
import { OvsPortMirror } from "../../components/ovs/component";
import { hostsPrefix } from "../../core/errors";
import { recordProgram } from "../../tools/record";

describe("logged warnings", () => {
    it.each([
        [[], ""],
        [["proxy1"], "(host proxy1) "],
        [["h1", "h2", "h1", ""], "(hosts h1, h2) "],
    ])("hostsPrefix(%j) is %j", (hosts, prefix) => expect(hostsPrefix(hosts as string[])).toBe(prefix));

    it("name the host and stay attached to their component; the component's warnings output keeps the plain text", async () => {
        const rec = await recordProgram(() => {
            const m = new OvsPortMirror("web", { host: { name: "compute1", address: "10.0.0.1", privateKey: pulumi.secret("K"), hostKey: "ssh-ed25519 AAAA" }, ports: ["qvobee51cf7-fb"], vlans: [100] });
            return { warnings: m.warnings };
        }, { preview: false, printWarnings: false });
        const mirror = rec.resources.find((r) => r.type === "hostwright:ovs:PortMirror")!;
        const logged = rec.warnings.filter((w) => w.urn === mirror.urn).map((w) => w.message);
        expect(logged).toEqual([expect.stringMatching(/^\(host compute1\) vlans: .*node-local tags/)]);
        expect((rec.outputs.warnings as string[]).filter((w) => w.startsWith("vlans:"))).toHaveLength(1);
    });
});
