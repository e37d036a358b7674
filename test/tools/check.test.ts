/**
 * The drift check's pure parts and its command line: bad input is one clear line and
 * exit 1; a host's session script runs every step in check mode, fenced.
 */
import { execFileSync, spawnSync } from "child_process";
import { join } from "path";
import { renderStep } from "../../core/step";
import { checkCommands, exitCode, formatReport, hostScript, repairCommands, Session } from "../../tools/check";
import type { RecordedResource } from "../../tools/record";

const ROOT = join(__dirname, "..", "..");
function cli(args: string[], env: Record<string, string> = {}) {
    const { PULUMI_CONFIG_PASSPHRASE: _p, PULUMI_CONFIG_PASSPHRASE_FILE: _f, ...base } = process.env;
    const r = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "tools/check.ts"), ...args], { encoding: "utf8", env: { ...base, ...env }, timeout: 120_000 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("npm run check: bad input is one line and exit 1, before any host is contacted", () => {
    it.each([
        ["no stack", [], /^error: --stack NAME is required; usage: npm run check -- --stack NAME/],
        ["an unknown argument", ["--stack", "example", "--frobnicate"], /^error: unknown argument "--frobnicate"; usage: npm run check -- --stack NAME \[--state EXPORT\.json\]/],
        ["a bad --parallel", ["--stack", "example", "--parallel", "0"], /^error: --parallel takes a whole number of hosts, 1 or more$/],
        ["an unknown stack", ["--stack", "nosuch"], /^error: .*Pulumi\.nosuch\.yaml.*(create it|pulumi stack init)/],
        ["a wrong passphrase", ["--stack", "example"], /^error: .*(passphrase|decrypt)/i, { PULUMI_CONFIG_PASSPHRASE: "wrong" }],
        ["no passphrase", ["--stack", "example"], /^error: the check needs the stack's secrets \(no passphrase/],
        ["a --state file that is not there", ["--stack", "example", "--state", "/nonexistent/export.json"], /^error: ENOENT: no such file or directory, open '\/nonexistent\/export\.json'$/, { PULUMI_CONFIG_PASSPHRASE: "hostwright-example" }],
    ] as Array<[string, string[], RegExp, Record<string, string>?]>)("%s", (_label, args, message, env = {}) => {
        const r = cli(args as string[], env as Record<string, string>);
        expect(r.code).toBe(1);
        expect(r.out.trim().split("\n")).toHaveLength(1);
        expect(r.out.trim()).toMatch(message as RegExp);
    });
});

const step = (name: string, host: string, script: string): RecordedResource => ({
    urn: `urn:pulumi:s::p::command:remote:Command::${name}`,
    type: "command:remote:Command",
    name,
    inputs: { connection: { host, port: 22, user: "root", privateKey: "K", hostKey: "ssh-ed25519 X" }, create: "/bin/bash -s", stdin: script },
    secretInputs: [],
    dependsOn: [],
    deleteBeforeReplace: false,
});

describe("checkCommands", () => {
    const a = renderStep({ key: "a", description: "a", files: [{ path: "/etc/a", content: "HOSTWRIGHT_STEP_SCRIPT_0\n" }] }).create;
    const b = renderStep({ key: "b", description: "b" }).create;

    it("sends each host one script running every step in check mode, fenced so no script can end its fence", () => {
        const script = hostScript([step("a", "h1", a), step("b", "h1", b)], "check");
        expect(script.match(/^bash -s check <<'HOSTWRIGHT_STEP_SCRIPT_\d_*'/gm)).toEqual(["bash -s check <<'HOSTWRIGHT_STEP_SCRIPT_0_'", "bash -s check <<'HOSTWRIGHT_STEP_SCRIPT_1'"]);
        // the fenced scripts run as they are: bash parses the whole host script
        execFileSync("bash", ["-n"], { input: script });
    });

    it("reports per host and step, counts one session per host, and sets the exit status", async () => {
        const sessions: string[] = [];
        const session: Session = async (conn, _cmd, stdin) => {
            sessions.push(conn.host);
            if (conn.host === "down") return { code: 255, stdout: "", stderr: "ssh: connect to host down port 22: Connection timed out" };
            const status = conn.host === "h1" ? "ok" : "drifted";
            const body = stdin.includes("key a") || stdin.includes("step a") ? `HOSTWRIGHT_CHECK ${status}` : "HOSTWRIGHT_CHECK ok";
            const drift = status === "drifted" ? "HOSTWRIGHT_DRIFT /etc/a: content differs\n" : "";
            const count = (stdin.match(/^printf 'HOSTWRIGHT_STEP \d+\\n'$/gm) ?? []).length;
            return { code: 0, stdout: Array.from({ length: count }, (_, i) => `HOSTWRIGHT_STEP ${i}\n${i === 0 ? drift + body : "HOSTWRIGHT_CHECK ok"}\nHOSTWRIGHT_STEP_END ${i} 0`).join("\n"), stderr: "" };
        };
        const report = await checkCommands([step("a", "h1", a), step("b", "h1", b), step("a2", "h2", a), step("a3", "down", a)], { session, hostNames: { web1: "h1:22" } });
        expect(sessions.sort()).toEqual(["down", "h1", "h2"]);
        expect(report.hosts.map((h) => [h.host, h.status])).toEqual([["web1", "ok"], ["h2:22", "drifted"], ["down:22", "unreachable"]]);
        expect(report.hosts[1].steps[0].drift).toEqual(["/etc/a: content differs"]);
        expect(report.hosts[2].error).toBe("ssh: connect to host down port 22: Connection timed out");
        expect(exitCode(report)).toBe(1);
        expect(formatReport(report)).toContain("total: 3 host(s), 1 ok, 1 drifted, 1 unreachable, 0 with errors; 1 of 3 step(s) drifted or not applied");
        expect(report.replaceCommand).toBe("pulumi up --replace 'urn:pulumi:s::p::command:remote:Command::a2'");
    });
});

describe("repairCommands", () => {
    it("repairs a step after the drifted steps it depends on, on other hosts too, one session per host and wave", async () => {
        const a = renderStep({ key: "t", description: "trust" }).create;
        const trust = step("trust", "h2", a);
        const remotes = { ...step("remotes", "h1", a), dependsOn: [trust.urn] };
        const other = step("other", "h3", a);
        const order: string[] = [];
        const session: Session = async (conn, _cmd, stdin) => {
            const mode = /^bash -s (\w+) </m.exec(stdin)![1];
            order.push(`${mode}@${conn.host}`);
            const count = (stdin.match(/^printf 'HOSTWRIGHT_STEP \d+\\n'$/gm) ?? []).length;
            return { code: 0, stdout: Array.from({ length: count }, (_, i) => `HOSTWRIGHT_STEP ${i}\nHOSTWRIGHT_CHECK ok\nHOSTWRIGHT_STEP_END ${i} 0`).join("\n"), stderr: "" };
        };
        const drifted = (name: string) => ({ name, urn: `urn:pulumi:s::p::command:remote:Command::${name}`, status: "drifted" as const, drift: ["x"], diffs: [] });
        const report = {
            hosts: [
                { host: "h1", address: "h1:22", status: "drifted" as const, steps: [drifted("remotes")], sessions: 1, bytesSent: 0, durationMs: 0 },
                { host: "h2", address: "h2:22", status: "drifted" as const, steps: [drifted("trust")], sessions: 1, bytesSent: 0, durationMs: 0 },
                { host: "h3", address: "h3:22", status: "drifted" as const, steps: [drifted("other")], sessions: 1, bytesSent: 0, durationMs: 0 },
            ],
            notChecked: [],
            totals: { ok: 0, drifted: 3, unreachable: 0, error: 0, steps: 3, driftedSteps: 3 },
        };
        const after = await repairCommands([remotes, trust, other], report, { session });
        const updates = order.filter((o) => o.startsWith("update"));
        expect(updates.slice(0, 2).sort()).toEqual(["update@h2", "update@h3"]);
        expect(updates[2]).toBe("update@h1");
        expect(exitCode(after)).toBe(0);
        expect(after.repaired!.sort()).toEqual([other.urn, remotes.urn, trust.urn].sort());
    });
});
