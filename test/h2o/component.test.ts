import * as pulumi from "@pulumi/pulumi";
import { assertKeyMatches, H2oReverseProxy } from "../../components/h2o/component";
import type { H2oReverseProxyArgs } from "../../components/h2o/args";
import type { Host } from "../../core/host";
import { ValidationError } from "../../core/errors";
import { recordProgram } from "../../tools/record";
import { makeTestPki, TestPki } from "./pkiFixture";
import { withoutLibraries } from "../../core/library";

const host: Host = { name: "web1", address: "192.0.2.10", privateKey: pulumi.secret("SSH-KEY"), hostKey: "ssh-ed25519 AAAA", init: "sysv" };
let p: TestPki;
beforeAll(() => {
    p = makeTestPki();
});
afterAll(() => p.cleanup());

function args(over: Partial<H2oReverseProxyArgs> = {}): H2oReverseProxyArgs {
    return {
        host,
        listeners: [
            { name: "http", port: 80 },
            { name: "https", port: 443, tls: { certificateChain: p.inter.certPem + p.leaf.certPem, privateKey: pulumi.secret(p.leaf.keyPem), ocsp: { rootCertificate: p.root.certPem } } },
            { name: "plain", port: 8443, tls: { certificateChain: p.plain.certPem + p.inter.certPem, privateKey: p.plain.keyPem } },
        ],
        virtualHosts: [
            { name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] },
        ],
        ...over,
    };
}

const keyBody = (pem: string) => pem.split("\n")[1];

describe("H2oReverseProxy under Pulumi mocks", () => {
    it("declares one step on the host (root CA included), with the keys only in secret stdin", async () => {
        const rec = await recordProgram(() => {
            const proxy = new H2oReverseProxy("front", args());
            return { stapling: proxy.stapling, chainOrder: proxy.chainOrder, configPath: proxy.configPath, checkCommands: proxy.checkCommands, warnings: proxy.warnings, restartDowntimeMs: proxy.restartDowntimeMs, steps: proxy.steps };
        }, { preview: false });
        expect(rec.resources.find((r) => r.type === "hostwright:h2o:ReverseProxy")?.name).toBe("front");
        // One step: a refused apply puts the trust directory back with everything else.
        expect(rec.commands.map((c) => c.name)).toEqual(["hostwright-lib-web1", "front-proxy"]);
        const [proxy] = withoutLibraries(rec.commands);
        // what addresses it: for npm run check and pulumi up --replace
        expect(rec.outputs.steps).toEqual([{ name: "front-proxy", urn: proxy.urn, host: args().host.name, key: expect.stringMatching(/^front-proxy-[0-9a-f]{8}$/) }]);
        expect(proxy.parentUrn).toContain("hostwright:h2o:ReverseProxy");
        expect(proxy.secretInputs).toContain("stdin");
        for (const key of [p.leaf.keyPem, p.plain.keyPem]) {
            expect(proxy.inputs.stdin).toContain(keyBody(key));
            // Never on a command line, never in the (plain) delete script.
            expect(proxy.inputs.create).not.toContain(keyBody(key));
            expect(proxy.inputs.delete).not.toContain(keyBody(key));
        }
        expect(proxy.inputs.create).toBe("/bin/bash -s");
        expect(proxy.inputs.stdin).toMatch(/^hw_stage [0-9a-f]{16} \/etc\/ssl\/certs\/hostwright-[0-9a-f]{16}\.pem 0644 /m);
        expect(proxy.inputs.stdin).toContain(p.root.certPem.split("\n")[1]);
        expect(proxy.inputs.stdin).toContain("h2o -t -c");
        expect(proxy.inputs.stdin).toContain("service h2o reload");
        expect(rec.outputs.configPath).toBe("/etc/h2o/h2o.conf");
        expect(rec.outputs.chainOrder).toEqual({
            https: ["CN=www.example.test (given as #2)", "CN=Hostwright Test Intermediate (given as #1)"],
            plain: ["CN=plain.example.test (given as #1)", "CN=Hostwright Test Intermediate (given as #2)"],
        });
        // Known before apply: no OCSP URI. The https status comes from the host (nothing ran under mocks).
        expect(rec.outputs.stapling).toEqual({ https: "not checked", plain: "not applicable" });
        // Measured on the host only when a changed listener set restarts h2o.
        expect(rec.outputs.restartDowntimeMs).toBe(0);
        expect((rec.outputs.checkCommands as Record<string, string>).https).toBe("openssl s_client -connect 192.0.2.10:443 -servername www.example.test -status </dev/null 2>/dev/null | grep -E 'OCSP response:|OCSP Response Status|Cert Status'");
    });

    it("systemd hosts reload and restart with systemctl", async () => {
        const a = args({ host: { ...host, init: "systemd" } });
        a.listeners = a.listeners.filter((l) => l.name !== "https");
        const rec = await recordProgram(() => void new H2oReverseProxy("solo", a));
        expect(withoutLibraries(rec.commands).map((c) => c.name)).toEqual(["solo-proxy"]);
        expect(rec.commands[1].inputs.stdin).toContain("systemctl reload h2o");
        expect(rec.commands[1].inputs.stdin).toContain("hw_h2o_svc 120 systemctl restart h2o");
    });

    it("throws one ValidationError with every problem before declaring anything", async () => {
        const bad = args();
        bad.listeners[1].tls!.certificateChain = p.expired.certPem + p.inter.certPem;
        bad.virtualHosts.push({ name: "x.test", listeners: ["nope"], paths: [{ path: "nope" }] });
        let caught: unknown;
        const rec = recordProgram(() => {
            try {
                new H2oReverseProxy("bad", bad);
            } catch (e) {
                caught = e;
            }
        });
        await rec;
        expect(caught).toBeInstanceOf(ValidationError);
        const paths = (caught as ValidationError).issues.map((i) => i.path);
        expect(paths).toEqual(expect.arrayContaining(["listeners[1].tls.certificateChain", "virtualHosts[1].listeners[0]", "virtualHosts[1].paths[0].path", "virtualHosts[1].paths[0]"]));
        expect((await rec).commands).toEqual([]);
    });

    it("a key known only later (a Pulumi output) is checked against its leaf when known, without printing it", () => {
        const identity = { certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: pulumi.secret(p.plain.keyPem) };
        expect(() => assertKeyMatches("late", identity, p.plain.keyPem)).toThrow(/privateKey: does not match the public key of the leaf CN=www\.example\.test/);
        try {
            assertKeyMatches("late", identity, p.plain.keyPem);
        } catch (e) {
            expect(String((e as Error).message)).not.toContain(keyBody(p.plain.keyPem));
        }
        expect(assertKeyMatches("late", identity, p.leaf.keyPem)).toBe(p.leaf.keyPem);
    });

    it("expiry warnings are outputs", async () => {
        const a = args();
        a.listeners[2].tls = { certificateChain: p.soon.certPem + p.inter.certPem, privateKey: p.soon.keyPem };
        const rec = await recordProgram(() => ({ warnings: new H2oReverseProxy("warn", a).warnings }), { preview: false });
        expect(rec.outputs.warnings).toEqual([expect.stringMatching(/^listeners\[2\]\.tls\.certificateChain: CN=soon\.example\.test expires on/)]);
    });
});
