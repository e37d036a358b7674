/**
 * `npm run lab -- demo` as a lab test: the example stack on lab hosts, applied by
 * the harness, every component's demo check ok, destroy brings every host's files back.
 */
import { labDescribe } from "./lab";
import { runDemoReport } from "./demo";

labDescribe("npm run lab -- demo (the example stack end to end)", () => {
    it("applies the example, verifies every component per host, destroys and restores every host's files", async () => {
        const lines: string[] = [];
        const report = await runDemoReport("example", (line) => lines.push(line));
        const failed = report.findings.filter((f) => !f.ok);
        // the whole report when something is off
        expect({ failed, applyError: report.apply?.error, destroyError: report.destroy?.error }).toEqual({ failed: [], applyError: undefined, destroyError: undefined });
        expect(report.ok).toBe(true);

        const whats = (host: string) => report.findings.filter((f) => f.host === host).map((f) => f.what);
        expect(whats("proxy1")).toEqual(expect.arrayContaining([expect.stringMatching(/^front https:443 .* reaches the backend over TLS/), "front https:443 staples a good OCSP response"]));
        expect(whats("proxy2")).toEqual(expect.arrayContaining([expect.stringMatching(/^portal http:80 .* redirects$/), "portal api:8443 stapling not applicable (leaf without OCSP URI)"]));
        expect(whats("compute1")).toEqual(expect.arrayContaining([expect.stringMatching(/^web-capture: vm1 \(qvobee51cf7-fb\) mirrored to webcap0$/), expect.stringMatching(/^db-erspan: .* to erspan collector 192\.0\.2\.50$/), expect.stringMatching(/^cell1: opens compute2 over qemu\+tls:\/\//)]));
        expect(whats("compute2")).toEqual(expect.arrayContaining([expect.stringMatching(/^cell1: opens compute1 over qemu\+tls:\/\//)]));
        for (const h of ["lxd1", "lxd2"]) expect(whats(h)).toEqual(expect.arrayContaining(["lxd: lxc query lxd1:/1.0", "lxd: lxc query lxd2:/1.0"]));
        for (const h of ["proxy1", "proxy2", "compute1", "compute2", "lxd1", "lxd2"]) expect(whats(h)).toContain("files as before the apply");
        expect(lines.at(-2)).toMatch(/^demo ok: \d+\/\d+ findings ok/);
        console.log(lines.join("\n"));
    }, 120_000);
});
