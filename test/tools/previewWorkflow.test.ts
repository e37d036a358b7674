/**
 * `.github/workflows/preview.yml` run here as GitHub runs it on a pull request from a
 * fork: its plan step's own shell script (bash -eo pipefail, the step's env, no
 * secrets: an unset secret is an empty string), in a scratch repository whose base
 * branch is `origin/main` and whose head changes one backend URL; then its comment
 * step's own script against a recording stand-in for GitHub's REST client (the only
 * thing here that is not the real one). Proves what the workflow promises without a
 * GitHub runner: a green job on a fork, a plan that names the change, one comment per
 * stack that a later push updates instead of repeating.
 */
import { execFileSync, spawnSync } from "child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import * as yaml from "js-yaml";
import { tmpdir } from "os";
import { dirname, join } from "path";

const ROOT = join(__dirname, "..", "..");
const workflow = yaml.load(readFileSync(join(ROOT, ".github/workflows/preview.yml"), "utf8")) as { jobs: { preview: { steps: Array<{ name?: string; run?: string; if?: string; with?: { script?: string } }> } } };
const steps = workflow.jobs.preview.steps;
const planStep = steps.find((s) => s.name === "Offline preview and plan against the base branch")!;
const commentStep = steps.find((s) => s.name === "Comment the plan on the pull request")!;

const OLD_URL = "http://198.51.100.40:9080";
const NEW_URL = "http://198.51.100.44:9080";
let repo: string;
let scratch: string;

beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "hostwright-workflow-"));
    repo = join(scratch, "repo");
    // The project as it is checked out (tracked files, working-tree versions), as a repository of its own.
    for (const file of execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean)) {
        mkdirSync(dirname(join(repo, file)), { recursive: true });
        copyFileSync(join(ROOT, file), join(repo, file));
    }
    // A second stack with no secret of its own on a fork: the example's file under another name.
    copyFileSync(join(repo, "stacks/Pulumi.example.yaml"), join(repo, "stacks/Pulumi.staging.yaml"));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=ci", "-c", "user.email=ci@example.test", ...args], { cwd: repo, encoding: "utf8" });
    git("init", "-q", "-b", "pr");
    git("add", "-A");
    git("commit", "-qm", "base");
    git("update-ref", "refs/remotes/origin/main", "HEAD");
    for (const stack of ["example", "staging"]) {
        const file = join(repo, `stacks/Pulumi.${stack}.yaml`);
        writeFileSync(file, readFileSync(file, "utf8").replace(OLD_URL, NEW_URL));
    }
    git("commit", "-qam", "move the portal backend");
    // What `npm ci` leaves: installed, not tracked.
    symlinkSync(join(ROOT, "node_modules"), join(repo, "node_modules"), "dir");
}, 120_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The plan step's script as the runner runs it (`bash --noprofile --norc -eo pipefail`), with the step's env on a fork. */
function runPlanStep(stack: string) {
    const summary = join(scratch, `summary-${stack}.md`);
    writeFileSync(summary, "");
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, STACK: stack, BASE: "origin/main", PASSPHRASE_SECRET: "", GITHUB_STEP_SUMMARY: summary };
    const script = join(scratch, `plan-${stack}.sh`);
    writeFileSync(script, planStep.run!);
    const run = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], { cwd: repo, env, encoding: "utf8" });
    return { ...run, plan: readFileSync(join(repo, `plan-${stack}.md`), "utf8"), summary: readFileSync(summary, "utf8") };
}

describe("preview.yml on a pull request from a fork (no secrets)", () => {
    it("the example stack: a green step whose plan marks the changed proxy step and diffs the URL, in the comment body and the job summary", () => {
        const run = runPlanStep("example");
        expect(run.status === 0 ? "exit 0" : `exit ${run.status}: ${run.stderr.slice(-1500)}`).toBe("exit 0");
        expect(run.plan.startsWith("<!-- hostwright-plan:example -->\n")).toBe(true);
        expect(run.plan).toMatch(new RegExp(`^-.*${OLD_URL.replace(/[.]/g, "\\.")}`, "m"));
        expect(run.plan).toMatch(new RegExp(`^\\+.*${NEW_URL.replace(/[.]/g, "\\.")}`, "m"));
        expect(run.plan).toMatch(/replace/);
        expect(run.summary).toBe(run.plan);
        expect(run.stdout).not.toContain("::notice::");
    }, 240_000);

    it("another stack without its passphrase secret: a notice, not a failure, and a plan with its secrets opaque", () => {
        const run = runPlanStep("staging");
        expect(run.status === 0 ? "exit 0" : `exit ${run.status}: ${run.stderr.slice(-1500)}`).toBe("exit 0");
        expect(run.stdout).toContain("::notice::no PULUMI_CONFIG_PASSPHRASE secret here (a fork?): the secrets of staging are previewed as opaque");
        expect(run.stderr).toMatch(/secret\(s\) not decrypted/);
        expect(run.plan.startsWith("<!-- hostwright-plan:staging -->\n")).toBe(true);
        expect(run.plan).toMatch(new RegExp(`^\\+.*${NEW_URL.replace(/[.]/g, "\\.")}`, "m"));
        expect(run.summary).toBe(run.plan);
    }, 240_000);

    it("the comment step runs only where the token may comment, and keeps one comment per stack: created, then updated", () => {
        expect(commentStep.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
        const body = readFileSync(join(repo, "plan-example.md"), "utf8");
        const calls = runCommentScript([]);
        expect(calls).toEqual([{ call: "createComment", args: { owner: "acme", repo: "infra", issue_number: 7, body } }]);
        const again = runCommentScript([{ id: 11, body: "an unrelated comment" }, { id: 12, body: "<!-- hostwright-plan:example -->\nan older plan" }]);
        expect(again).toEqual([{ call: "updateComment", args: { owner: "acme", repo: "infra", comment_id: 12, body } }]);
    });
});

/** Runs the github-script step's script as actions/github-script does (an async function of require, github, context), with GitHub's client recorded. */
function runCommentScript(existing: Array<{ id: number; body: string }>): unknown[] {
    const harness = `
const calls = [];
const record = (call) => async (args) => { calls.push({ call, args }); return { data: {} }; };
const github = {
    paginate: async (fn, args) => { calls.push({ call: "listComments", args }); return ${JSON.stringify(existing)}; },
    rest: { issues: { listComments: () => undefined, createComment: record("createComment"), updateComment: record("updateComment") } },
};
const context = { repo: { owner: "acme", repo: "infra" }, issue: { number: 7 } };
const script = new (Object.getPrototypeOf(async function () {}).constructor)("require", "github", "context", ${JSON.stringify(commentStep.with!.script!)});
script(require, github, context).then(() => console.log(JSON.stringify(calls.filter((c) => c.call !== "listComments"))));
`;
    const out = execFileSync(process.execPath, ["-e", harness], { cwd: repo, env: { ...process.env, STACK: "example" }, encoding: "utf8" });
    return JSON.parse(out);
}
