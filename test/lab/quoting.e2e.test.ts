/**
 * The foundation's hostile-string quoting, for real: values quoted by core/shell.ts
 * go through OpenSSH to bash on a lab host and come back byte for byte, and file
 * contents survive a real step (here-document on the create script's stdin).
 */
import * as fc from "fast-check";
import * as pulumi from "@pulumi/pulumi";
import { heredocInto, sh, shq, UnquotableValueError } from "../../core/shell";
import { remoteStep } from "../../core/remoteStep";
import type { Host } from "../../core/host";
import { Lab, labDescribe, startLab } from "./lab";
import { Harness } from "./harness";

const HOSTILE: Array<[string, string]> = [
    ["single quotes", "it's 'quoted' ''"],
    ["double quotes", '"$HOME" "\\"'],
    ["command substitution", "$(touch /tmp/pwned-subst)"],
    ["backticks", "`touch /tmp/pwned-backtick`"],
    ["variables and arithmetic", "$PATH ${HOME} $((1+1)) $1 $@ $$"],
    ["newlines", "line one\nline two\n\nline four\n"],
    ["carriage return and tab", "a\rb\tc"],
    ["glob and brace", "* ? [a-z] {a,b} ~root"],
    ["operators", "a; touch /tmp/pwned-semi && b || c | d & e > /tmp/pwned-redir < f"],
    ["comment and history", "# not a comment !! !$ !-1"],
    ["unicode", "grüße 日本語 🚀 \u200b \u202e rtl"],
    ["backslashes", "\\\\ \\n \\' \\"],
    ["leading dash", "-rf --help"],
    ["empty", ""],
    ["here-document delimiter", "x\nHOSTWRIGHT_EOF_seed\nEOF\n'EOF'"],
];

/** Strings of any Unicode text except NUL (which no shell word can carry) and lone surrogates (not UTF-8). */
const anyText = fc.string({ unit: "binary", maxLength: 60 }).filter((s) => !s.includes("\0") && Buffer.from(s, "utf8").toString("utf8") === s);

labDescribe("hostile strings through real SSH", () => {
    let lab: Lab;
    let host: Host;
    beforeAll(async () => {
        lab = await startLab({ hosts: ["h1"] });
        host = lab.host("h1").inventory();
    }, 60_000);
    afterAll(() => lab?.down());

    /** Prints each value NUL-terminated, through one SSH command; returns what came back. */
    const roundTrip = async (values: string[]): Promise<string[]> => {
        const script = values.map((v) => sh`printf '%s\\0' ${v}`).join("\n");
        const r = await lab.host("h1").ssh(script);
        expect(r).toMatchObject({ code: 0, stderr: "" });
        return r.stdout.split("\0").slice(0, -1);
    };

    it.each(HOSTILE)("%s come back unchanged and run nothing", async (_what, value) => {
        expect(await roundTrip([value])).toEqual([value]);
        expect((await lab.host("h1").exec("ls /tmp | grep -c pwned || true")).stdout).toBe("0\n");
    });

    it("arbitrary Unicode text comes back unchanged (fast-check, 300 values)", async () => {
        const batches = fc.sample(fc.array(anyText, { minLength: 30, maxLength: 30 }), { numRuns: 10, seed: 3 });
        for (const values of batches) expect(await roundTrip(values)).toEqual(values);
        expect((await lab.host("h1").exec("ls /tmp | grep -c pwned || true")).stdout).toBe("0\n");
    }, 60_000);

    it("shq refuses a NUL byte instead of truncating", () => {
        expect(() => shq("a\0b")).toThrow(UnquotableValueError);
        expect(() => sh`echo ${"x\0"}`).toThrow(UnquotableValueError);
        expect(() => heredocInto("cat", "a\0", "s")).toThrow(UnquotableValueError);
    });

    it("file contents and descriptions survive a real step applied by the harness", async () => {
        const files = HOSTILE.filter(([, v]) => v !== "").map(([, v], i) => ({ path: `/etc/hw-hostile/${i}.txt`, content: v }));
        const program = () => {
            class Hostile extends pulumi.ComponentResource {
                constructor() {
                    super("hostwright:test:Hostile", "hostile", {}, {});
                    remoteStep("hostile-files", { host, step: { description: HOSTILE.map(([, v]) => v).join(" | "), files: files.map((f) => ({ ...f, content: pulumi.secret(f.content) })) } }, { parent: this });
                    this.registerOutputs({});
                }
            }
            new Hostile();
        };
        const harness = new Harness(lab, `${lab.dir}/hostile-state.json`);
        const r = await harness.apply(program);
        expect(r.error).toBeUndefined();
        for (const f of files) expect((await lab.host("h1").exec(sh`cat ${f.path}`)).stdout).toBe(f.content);
        expect((await lab.host("h1").exec("ls /tmp | grep -c pwned || true")).stdout).toBe("0\n");
        expect((await harness.destroy()).ok).toBe(true);
        expect((await lab.host("h1").exec("ls /etc/hw-hostile 2>/dev/null | wc -l")).stdout).toBe("0\n");
    }, 60_000);
});
