import { execFileSync, spawnSync } from "child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import fc from "fast-check";
import { editIni, encodeEdits, IniEdit, IniEditRefused, iniEditFilter, iniEditorFunction, iniEditProblems, parseIni } from "../../components/libvirt/ini";

// The awk implementations a host may have: mawk (Debian), busybox (both lab
// prerequisites, so required) and gawk (RHEL's awk; tested when it is on PATH).
// Each runs through a directory whose `awk` is that implementation.
const onPath = (bin: string) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
const AWKS: Array<[string, string]> = [["mawk", "mawk"], ["busybox", "busybox awk"], ...(onPath("gawk") ? [["gawk", "gawk"] as [string, string]] : [])];
const awkDirs = new Map<string, string>();
beforeAll(() => {
    for (const [name, command] of AWKS) {
        if (!onPath(command.split(" ")[0])) throw new Error(`${name} is a lab prerequisite and is missing`);
        const dir = mkdtempSync(join(tmpdir(), `hw-awk-${name}-`));
        writeFileSync(join(dir, "awk"), `#!/bin/sh\nexec ${command} "$@"\n`);
        chmodSync(join(dir, "awk"), 0o755);
        awkDirs.set(name, dir);
    }
});
afterAll(() => awkDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs the host-side filter exactly as a step does: `( hw_ini_edit EDITS ) < file`. */
function onHost(awk: string, input: string, edits: IniEdit[]): { status: number; out: string; err: string } {
    const r = spawnSync("bash", ["--norc", "-c", `set -eu\n${iniEditorFunction()}\n${iniEditFilter(edits)}`], {
        input,
        env: { PATH: `${awkDirs.get(awk)}:${process.env.PATH}` },
        encoding: "utf8",
    });
    return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const NOVA = `# nova.conf written by the deployment tool
[DEFAULT]
# transport with a password
transport_url = rabbit://nova:s3cret@ctl:5672/
debug=false

[libvirt]
#
# Options of the libvirt driver
#
virt_type = kvm
#live_migration_scheme = <None>
live_migration_tunnelled=true

[database]
connection = mysql+pymysql://nova:pw@ctl/nova
`;

const LIBVIRTD = `# Master libvirt daemon configuration file
#
#listen_tls = 0
#listen_tcp = 1
#auth_tcp = "sasl"
tls_allowed_dn_list = ["C=GB,O=Example,CN=a",
                       "C=GB,O=Example,CN=b" ]
log_level = 3
`;

const set = (section: string, key: string, value: string): IniEdit => ({ op: "set", section, key, value });
const unset = (section: string, key: string): IniEdit => ({ op: "unset", section, key });
const addWord = (word: string, ...variables: string[]): IniEdit => ({ op: "addWord", variables: variables.length ? variables : ["LIBVIRTD_ARGS", "libvirtd_opts"], word });
const removeWord = (word: string): IniEdit => ({ op: "removeWord", variables: ["LIBVIRTD_ARGS", "libvirtd_opts"], word });

// name, input, edits, expected output
const cases: Array<[string, string, IniEdit[], string]> = [
    ["a value already right is kept as written", NOVA, [set("DEFAULT", "debug", "false")], NOVA],
    ["a wrong value is rewritten in place", NOVA, [set("libvirt", "live_migration_tunnelled", "false")], NOVA.replace("live_migration_tunnelled=true", "live_migration_tunnelled = false")],
    ["a new key goes after the section's last key", NOVA, [set("libvirt", "live_migration_scheme", "tls")], NOVA.replace("live_migration_tunnelled=true\n", "live_migration_tunnelled=true\nlive_migration_scheme = tls\n")],
    ["a missing section is appended after a blank line (the file had no final newline: neither has the result)", "[DEFAULT]\ndebug = true", [set("libvirt", "live_migration_inbound_addr", "10.0.0.1")], "[DEFAULT]\ndebug = true\n\n[libvirt]\nlive_migration_inbound_addr = 10.0.0.1"],
    ["keys of a new section keep the edit order", "", [set("libvirt", "b", "2"), set("libvirt", "a", "1")], "[libvirt]\nb = 2\na = 1\n"],
    ["unset removes every occurrence with its continuation lines", "[a]\nk = 1\n  more\nx = 2\nk = 3\n", [unset("a", "k")], "[a]\nx = 2\n"],
    ["duplicates after the first are removed by set", "[a]\nk = 1\n[b]\nk = 9\n[a]\nk = 2\n", [set("a", "k", "1")], "[a]\nk = 1\n[b]\nk = 9\n[a]\n"],
    ["the same key in another section is not touched", "[a]\nk = 1\n[b]\nk = 1\n", [set("b", "k", "2")], "[a]\nk = 1\n[b]\nk = 2\n"],
    ["a commented-out key stays a comment", "[libvirt]\n#live_migration_scheme = ssh\n", [set("libvirt", "live_migration_scheme", "tls")], "[libvirt]\n#live_migration_scheme = ssh\nlive_migration_scheme = tls\n"],
    ["a section with only a header gets the key right after it", "[libvirt]\n\n[x]\n", [set("libvirt", "k", "v")], "[libvirt]\nk = v\n\n[x]\n"],
    ["a value with continuation lines is replaced whole", LIBVIRTD, [set("", "tls_allowed_dn_list", '["CN=c"]')], LIBVIRTD.replace(/tls_allowed_dn_list[^\]]*\]\n/, 'tls_allowed_dn_list = ["CN=c"]\n')],
    ["top-level keys go after the last top-level key", LIBVIRTD, [set("", "listen_tls", "1")], `${LIBVIRTD}listen_tls = 1\n`],
    ["top-level keys in an all-comment file go after the last comment", "# a\n#b = 1\n\n", [set("", "listen_tcp", "1")], "# a\n#b = 1\nlisten_tcp = 1\n\n"],
    ["top-level keys before the first header", "[s]\nk = 1\n", [set("", "g", "1")], "g = 1\n[s]\nk = 1\n"],
    ["'key: value' is read as a key line", "[a]\nk: 1\n", [set("a", "k", "1")], "[a]\nk: 1\n"],
    ["values holding '=' and ':' compare whole", NOVA, [set("DEFAULT", "transport_url", "rabbit://nova:s3cret@ctl:5672/")], NOVA],
    ["hostile value is written literally", "", [set("DEFAULT", "k", `$(rm -rf /) 'x' "y" \\n \`id\``)], `[DEFAULT]\nk = $(rm -rf /) 'x' "y" \\n \`id\`\n`],
    ["a file without a final newline is untouched by a no-op", "[a]\nk = 1", [set("a", "k", "1")], "[a]\nk = 1"],
    ["an edit elsewhere leaves an unrelated last line without its newline", "[a]\nk = 1\n[b]\nlast = x", [set("a", "k", "2")], "[a]\nk = 2\n[b]\nlast = x"],
    ["a key appended after a last line without newline: the new last line has none", "[a]\nk = 1", [set("a", "j", "2")], "[a]\nk = 1\nj = 2"],
    ["a section appended to a file without final newline", "x = 1", [set("b", "k", "v")], "x = 1\n\n[b]\nk = v"],
    ["the edited last line itself keeps the missing newline", "[a]\nk = 1", [set("a", "k", "2")], "[a]\nk = 2"],
    ["CRLF file untouched by a no-op", "[a]\r\nk = 1\r\n", [unset("a", "absent")], "[a]\r\nk = 1\r\n"],
    ["an empty file gets the key", "", [set("", "listen_tcp", "1")], "listen_tcp = 1\n"],
    ["unset of a missing key changes nothing", NOVA, [unset("libvirt", "live_migration_flag")], NOVA],
    ["several edits in one pass", NOVA, [unset("libvirt", "live_migration_tunnelled"), set("libvirt", "live_migration_scheme", "tls"), set("libvirt", "live_migration_with_native_tls", "true")],
        NOVA.replace("live_migration_tunnelled=true\n", "").replace("virt_type = kvm\n", "virt_type = kvm\nlive_migration_scheme = tls\nlive_migration_with_native_tls = true\n")],
    // shell variables
    ["--listen is added to LIBVIRTD_ARGS", '# comment\nLIBVIRTD_ARGS="--timeout 120"\n', [addWord("--listen")], '# comment\nLIBVIRTD_ARGS="--timeout 120 --listen"\n'],
    ["--listen already there: unchanged", "LIBVIRTD_ARGS='--listen'\n", [addWord("--listen")], "LIBVIRTD_ARGS='--listen'\n"],
    ["RHEL's commented template gets an assignment after it", '# Listen for TCP/IP connections\n#LIBVIRTD_ARGS="--listen"\n', [addWord("--listen")], '# Listen for TCP/IP connections\n#LIBVIRTD_ARGS="--listen"\nLIBVIRTD_ARGS="--listen"\n'],
    ["old Debian libvirtd_opts is edited where it is", 'libvirtd_opts="-d"\n', [addWord("--listen")], 'libvirtd_opts="-d --listen"\n'],
    ["an empty bare value", "LIBVIRTD_ARGS=\n", [addWord("--listen")], 'LIBVIRTD_ARGS="--listen"\n'],
    ["export and a trailing comment survive", 'export LIBVIRTD_ARGS="" # opts\n', [addWord("--listen")], 'export LIBVIRTD_ARGS="--listen" # opts\n'],
    ["--listen is removed (socket activation)", 'LIBVIRTD_ARGS="--listen --timeout 120"\n', [removeWord("--listen")], 'LIBVIRTD_ARGS="--timeout 120"\n'],
    ["removing an absent word changes nothing", "LIBVIRTD_ARGS=\"--timeout  120\"\n", [removeWord("--listen")], "LIBVIRTD_ARGS=\"--timeout  120\"\n"],
    ["a similar variable name is not touched", 'MY_LIBVIRTD_ARGS="x"\n', [addWord("--listen")], 'MY_LIBVIRTD_ARGS="x"\nLIBVIRTD_ARGS="--listen"\n'],
];

// name, input, edits: the editor must refuse (nothing guessed)
const refusals: Array<[string, string, IniEdit[]]> = [
    ["shell expansion in the value", 'LIBVIRTD_ARGS="$EXTRA --timeout 1"\n', [addWord("--listen")]],
    ["backtick in the value", 'LIBVIRTD_ARGS="`cat /x`"\n', [removeWord("--listen")]],
    ["unclosed quote", 'LIBVIRTD_ARGS="--timeout 1\n', [addWord("--listen")]],
    ["code after the value", 'LIBVIRTD_ARGS="" ; rm -rf /\n', [addWord("--listen")]],
    ["a colon assignment", "LIBVIRTD_ARGS: x\n", [addWord("--listen")]],
];

describe("editIni (the specification)", () => {
    it.each(cases)("%s", (_name, input, edits, expected) => {
        const out = editIni(input, edits);
        expect(out).toBe(expected);
        expect(editIni(out, edits)).toBe(out); // idempotent: a re-run is byte-identical
    });
    it.each(refusals)("refuses: %s", (_name, input, edits) => {
        expect(() => editIni(input, edits)).toThrow(IniEditRefused);
    });
});

describe.each(AWKS.map(([name]) => name))("the host-side editor with %s", (awk) => {
    it.each(cases)("%s", (_name, input, edits, expected) => {
        const first = onHost(awk, input, edits);
        expect(first).toEqual({ status: 0, out: expected, err: "" });
        expect(onHost(awk, first.out, edits).out).toBe(first.out);
    });
    it.each(refusals)("refuses: %s", (_name, input, edits) => {
        const r = onHost(awk, input, edits);
        expect(r.status).not.toBe(0);
        expect(r.err).toContain("hostwright ini editor:");
        expect(r.out).toBe("");
    });
    it("agrees with editIni on generated files and edits", () => {
        const lineArb = fc.oneof(
            fc.constantFrom("", "  ", "# c", "; c", "[a]", "[b]", " [a] ", "k = 1", "k=2", "j = 1", "  cont", "\tcont", "x", "=y", "LIBVIRTD_ARGS=\"--listen\"", "libvirtd_opts=", "k: 3", "[]"),
            fc.stringMatching(/^[ a-z=:#;[\]\t-]{0,12}$/),
        );
        const editArb = fc.oneof(
            fc.record({ op: fc.constant("set" as const), section: fc.constantFrom("", "a", "b", "c"), key: fc.constantFrom("k", "j", "z"), value: fc.constantFrom("1", "2", "a b", "x=y:z", "") }),
            fc.record({ op: fc.constant("unset" as const), section: fc.constantFrom("", "a", "b"), key: fc.constantFrom("k", "j") }),
            fc.record({ op: fc.constantFrom("addWord" as const, "removeWord" as const), variables: fc.constant(["LIBVIRTD_ARGS", "libvirtd_opts"]), word: fc.constantFrom("--listen", "-d") }),
        );
        fc.assert(
            fc.property(fc.array(lineArb, { maxLength: 12 }), fc.boolean(), fc.array(editArb, { minLength: 1, maxLength: 4 }), (lines, finalNewline, edits) => {
                const input = lines.join("\n") + (finalNewline && lines.length ? "\n" : "");
                let expected: string | undefined;
                try {
                    expected = editIni(input, edits as IniEdit[]);
                } catch (e) {
                    if (!(e instanceof IniEditRefused)) throw e;
                }
                const r = onHost(awk, input, edits as IniEdit[]);
                if (expected === undefined) expect(r.status).toBe(2);
                else expect({ status: r.status, out: r.out }).toEqual({ status: 0, out: expected });
            }),
            { numRuns: 150 },
        );
    });
});

describe("parseIni, edit validation, encoding", () => {
    it("reads sections, top-level keys and continuations", () => {
        expect(parseIni(NOVA).libvirt).toEqual({ virt_type: "kvm", live_migration_tunnelled: "true" });
        expect(parseIni(LIBVIRTD)[""]).toEqual({ tls_allowed_dn_list: '["C=GB,O=Example,CN=a",\n"C=GB,O=Example,CN=b" ]', log_level: "3" });
    });
    it.each<[IniEdit, string]>([
        [set("lib virt", "k", "v"), "section"],
        [set("a", "k]", "v"), "key"],
        [set("a", "1k", "v"), "key"],
        [set("a", "k", "two\nlines"), "one line"],
        [set("a", "k", " padded"), "one line"],
        [{ op: "addWord", variables: ["A;B"], word: "x" }, "variable names"],
        [{ op: "addWord", variables: ["A"], word: "$(id)" }, "one shell word"],
        [{ op: "removeWord", variables: [], word: "x" }, "variable names"],
    ])("rejects %j", (edit, message) => {
        expect(iniEditProblems([edit]).join()).toContain(message);
        expect(() => encodeEdits([edit])).toThrow(message);
    });
    it("the filter command quotes its edits as one shell word", () => {
        const filter = iniEditFilter([set("DEFAULT", "k", "it's $(id)")]);
        expect(filter).toBe(`hw_ini_edit 'set\nDEFAULT\nk\nit'\\''s $(id)'`);
        expect(execFileSync("bash", ["--norc", "-c", `hw_ini_edit() { printf %s "$1"; }; ${filter}`], { encoding: "utf8" })).toBe("set\nDEFAULT\nk\nit's $(id)");
    });
    it("a no-op keeps the very same file on disk (cmp)", () => {
        const dir = mkdtempSync(join(tmpdir(), "hw-ini-"));
        try {
            writeFileSync(join(dir, "nova.conf"), NOVA);
            execFileSync("bash", ["--norc", "-c", `set -eu\n${iniEditorFunction()}\n${iniEditFilter([set("DEFAULT", "debug", "false")])} < nova.conf > out`], { cwd: dir });
            expect(readFileSync(join(dir, "out"), "utf8")).toBe(NOVA);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
