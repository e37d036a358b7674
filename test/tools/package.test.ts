/**
 * hostwright as another program's dependency: the package `npm pack` makes (what an
 * install from a git URL gets, `prepare` included) is installed into a scratch
 * project, the README's "own program" example type-checks against its declarations,
 * and a component declared through `require("hostwright")` registers under mocks.
 */
import { execFileSync } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join, resolve } from "path";

const repo = resolve(__dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
let scratch: string;
let consumer: string;
let packed: string[];

beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "hostwright-package-"));
    const [report] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", scratch], { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
    packed = report.files.map((f: { path: string }) => f.path);
    consumer = join(scratch, "consumer");
    const installed = join(consumer, "node_modules", "hostwright");
    mkdirSync(installed, { recursive: true });
    execFileSync("tar", ["-xzf", join(scratch, report.filename), "-C", installed, "--strip-components=1"]);
    // The package's dependencies (and Node's types for the example), as npm would have installed them.
    for (const dep of [...Object.keys(pkg.dependencies), "@types/node"]) {
        mkdirSync(join(consumer, "node_modules", dep, ".."), { recursive: true });
        symlinkSync(join(repo, "node_modules", dep), join(consumer, "node_modules", dep));
    }
}, 240_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The TypeScript block of a README section. */
function readmeExample(heading: string): string {
    const readme = readFileSync(join(repo, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf(`## ${heading}\n`));
    const m = /```ts\n([\s\S]*?)```/.exec(section);
    if (!m) throw new Error(`no ts block under "## ${heading}" in README.md`);
    return m[1];
}

describe("the npm package", () => {
    it("holds the built library and its declarations, not the tests or the lab", () => {
        expect(packed).toEqual(expect.arrayContaining(["package.json", "README.md", "dist/lib.js", "dist/lib.d.ts", "dist/components/h2o/component.d.ts"]));
        expect(packed.filter((p) => !p.startsWith("dist/") && !["package.json", "README.md"].includes(p))).toEqual([]);
        expect(packed.filter((p) => /(^|\/)(test|fixtures|tools|bench)\//.test(p))).toEqual([]);
    });

    // [template, compiler options]: Pulumi's classic TypeScript template (commonjs, node10
    // resolution, no esModuleInterop, no skipLibCheck; this TypeScript 6 needs
    // ignoreDeprecations for node10, the template's TypeScript 5 does not) and the current one.
    const templates: Array<[string, Record<string, unknown>]> = [
        ["the classic Pulumi template", { strict: true, outDir: "bin", target: "es2016", module: "commonjs", moduleResolution: "node", ignoreDeprecations: "6.0", sourceMap: true, experimentalDecorators: true, pretty: false, noFallthroughCasesInSwitch: true, noImplicitReturns: true, forceConsistentCasingInFileNames: true }],
        ["the current template (nodenext)", { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", types: ["node"], noEmit: true, skipLibCheck: false }],
    ];
    it.each(templates)("type-checks the README's own-program example against the installed declarations under %s", (template, compilerOptions) => {
        writeFileSync(join(consumer, "index.ts"), readmeExample("Using a component in your own program"));
        // Every argument type a program needs is importable from the package root.
        writeFileSync(join(consumer, "types.ts"), [
            'import type { H2oReverseProxyArgs, OvsPortMirrorArgs, LiveMigrationArgs, LxdRemoteMeshArgs, ResolverGuardArgs, Host } from "hostwright";',
            'import type { H2oReverseProxyInputs, OvsPortMirrorInputs, LiveMigrationInputs, LxdRemoteMeshInputs, ResolverGuardInputs, HostInput, Inputs } from "hostwright";',
            "export type All = [H2oReverseProxyArgs, OvsPortMirrorArgs, LiveMigrationArgs, LxdRemoteMeshArgs, ResolverGuardArgs, Host];",
            "export type AllInputs = [H2oReverseProxyInputs, OvsPortMirrorInputs, LiveMigrationInputs, LxdRemoteMeshInputs, ResolverGuardInputs, HostInput, Inputs<Host>];",
            "",
        ].join("\n"));
        const config = join(consumer, `tsconfig.${template.replace(/\W+/g, "-")}.json`);
        writeFileSync(config, JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true }, files: ["index.ts", "types.ts"] }));
        const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
        let output = "";
        try {
            execFileSync(process.execPath, [tsc, "-p", config], { cwd: consumer, encoding: "utf8" });
        } catch (e) {
            output = String((e as { stdout?: string }).stdout ?? e);
        }
        expect(output).toBe("");
    }, 120_000);

    // What broke the classic template (63 errors from zod/v4/locales under TypeScript 5): zod's declarations reached the consumer.
    it("keeps zod and the stack-config types out of a consumer's compilation", () => {
        const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
        const files = execFileSync(process.execPath, [tsc, "-p", join(consumer, "tsconfig.the-classic-Pulumi-template.json"), "--listFilesOnly"], { cwd: consumer, encoding: "utf8" }).split("\n");
        expect(files.filter((f) => /node_modules\/zod\/|\/dist\/core\/config\//.test(f))).toEqual([]);
        expect(files.some((f) => f.endsWith("node_modules/hostwright/dist/lib.d.ts"))).toBe(true);
    }, 60_000);

    it("declares a component from require(\"hostwright\") in a program of its own", () => {
        writeFileSync(join(consumer, "run.js"), `
const pulumi = require("@pulumi/pulumi");
const registered = [];
pulumi.runtime.setMocks({
    newResource: (args) => { registered.push(args.type); return { id: args.name + "-id", state: {} }; },
    call: () => ({}),
}, "consumer", "dev", false);
const { ResolverGuard } = require("hostwright");
const host = { name: "edge1", address: "192.0.2.10", privateKey: pulumi.secret("KEY"), hostKey: "ssh-ed25519 AAAA" };
const guard = new ResolverGuard("edge", { host, resolvConf: { nameservers: ["127.0.0.1"] } });
guard.urn.apply((urn) => setImmediate(() => console.log(JSON.stringify({ urn, registered }))));
`);
        const out = JSON.parse(execFileSync(process.execPath, ["run.js"], { cwd: consumer, encoding: "utf8" }));
        expect(out.urn).toBe("urn:pulumi:dev::consumer::hostwright:dns:ResolverGuard::edge");
        expect(out.registered).toEqual(expect.arrayContaining(["hostwright:dns:ResolverGuard", "command:remote:Command"]));
    }, 60_000);

    it("keeps its internals private: only the package root is exported", () => {
        const attempt = () => execFileSync(process.execPath, ["-e", 'require("hostwright/dist/core/shell")'], { cwd: consumer, encoding: "utf8", stdio: "pipe" });
        expect(attempt).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
    });
});
