/**
 * The engine end-to-end script (test/lab/engine.ts, run for real by
 * .github/workflows/engine.yml) with whichever engine this machine has: the Pulumi
 * CLI when `pulumi` is on PATH, else the apply harness standing in for it. No Pulumi
 * CLI or plugin can be downloaded on the build machines, so here it is the harness:
 * every stage except the CLI calls themselves (lab, lab stack file with encrypted
 * secrets, apply, demo checks, no changes on a second look, no drift on the hosts,
 * destroy, files back).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { labDescribe } from "./lab";
import { lxdInstall, pickEngine, runEngineE2e } from "./engine";

labDescribe("engine end to end (test/lab/engine.ts)", () => {
    it(`runs every stage with ENGINE=${pickEngine()} and every check passes`, async () => {
        const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "hostwright-engine-logs-"));
        const lines: string[] = [];
        try {
            const report = await runEngineE2e({ logDir, print: (l) => lines.push(l) });
            // the whole report when something is off
            expect({ failedStages: report.stages.filter((s) => !s.ok), failedFindings: report.findings.filter((f) => !f.ok) }).toEqual({ failedStages: [], failedFindings: [] });
            const expected = ["lab", "stack file", "up", "checks", ...(report.engine === "pulumi" ? ["state holds no secret in clear"] : []), "preview --expect-no-changes", "drift check", "destroy", "files back"];
            expect(report.stages.map((s) => s.stage)).toEqual(expected);
            expect(report.ok).toBe(true);
            const components = new Set(report.findings.map((f) => f.component));
            expect([...components].sort()).toEqual(["dns", "files", "h2o", "libvirt", ...(lxdInstall() === "package" ? ["lxd"] : []), "ovs"].sort());
            // the mirror the example finds through OpenStack is declared on a compute node and verified there
            expect(report.findings.map((f) => f.what)).toEqual(expect.arrayContaining([expect.stringMatching(/^db-erspan: .* to erspan collector 192\.0\.2\.50$/)]));
            const transcript = fs.readFileSync(path.join(report.logDir, "engine-e2e.log"), "utf8");
            expect(transcript).toMatch(/engine e2e \(\w+\) ok: \d+\/\d+ stages ok/);
            expect(fs.readdirSync(report.logDir).filter((f) => f.startsWith("sshd-")).length).toBeGreaterThan(0);
        } finally {
            console.log(lines.join("\n"));
            fs.rmSync(logDir, { recursive: true, force: true });
        }
    }, 240_000);
});
