/**
 * The trust directory's hash links (`relinkFunction`), run with the real bash and openssl
 * in a scratch directory: links follow the hostwright-*.pem roots present, whatever
 * happened before, and other CAs' links are never touched.
 */
import { execFileSync } from "child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { relinkFunction } from "../../components/h2o/render";
import { makeTestPki, TestPki } from "./pkiFixture";

let p: TestPki;
let scratch: string;
beforeAll(() => {
    p = makeTestPki();
    scratch = mkdtempSync(join(tmpdir(), "hw-h2o-trust-"));
});
afterAll(() => {
    p.cleanup();
    rmSync(scratch, { recursive: true, force: true });
});

const hashOf = (pem: string) => execFileSync("openssl", ["x509", "-noout", "-hash"], { input: pem, encoding: "utf8" }).trim();

/** Runs the relink function in `dir` the way the step does (bash, set -eu, hw_log/hw_warn defined). */
function relink(dir: string): string {
    const script = `set -eu\nhw_log() { printf 'log: %s\\n' "$*"; }\nhw_warn() { printf 'warn: %s\\n' "$*"; }\n${relinkFunction(dir)}\nhw_h2o_relink\n`;
    return execFileSync("bash", ["-c", script], { encoding: "utf8" });
}

/** Every entry of the directory: `name -> target` for links, `name` for files. */
function listing(dir: string): string[] {
    return readdirSync(dir)
        .sort()
        .map((name) => (lstatSync(join(dir, name)).isSymbolicLink() ? `${name} -> ${readlinkSync(join(dir, name))}` : name));
}

type Scene = { dir: string; rootHash: string; otherHash: string };
type Case = [string, (s: Scene) => void, (s: Scene) => string[]];

const cases: Case[] = [
    ["a root without a link gets <hash>.0", (s) => writeFileSync(join(s.dir, "hostwright-a.pem"), p.root.certPem), (s) => [`${s.rootHash}.0 -> hostwright-a.pem`, "hostwright-a.pem"]],
    [
        "a link to a removed root is removed (no dangling link)",
        (s) => symlinkSync("hostwright-gone.pem", join(s.dir, `${s.rootHash}.0`)),
        () => [],
    ],
    [
        "an absolute link to a removed root is removed too",
        (s) => symlinkSync(join(s.dir, "hostwright-gone.pem"), join(s.dir, `${s.rootHash}.0`)),
        () => [],
    ],
    [
        "another CA's link with the same hash is kept; the root takes .1",
        (s) => {
            writeFileSync(join(s.dir, "system-ca.pem"), p.root.certPem);
            symlinkSync("system-ca.pem", join(s.dir, `${s.rootHash}.0`));
            writeFileSync(join(s.dir, "hostwright-a.pem"), p.root.certPem);
        },
        (s) => [`${s.rootHash}.0 -> system-ca.pem`, `${s.rootHash}.1 -> hostwright-a.pem`, "hostwright-a.pem", "system-ca.pem"],
    ],
    [
        "a removed link below another CA's: that link moves down (OpenSSL stops at the first missing .N)",
        (s) => {
            writeFileSync(join(s.dir, "system-ca.pem"), p.root.certPem);
            symlinkSync("hostwright-gone.pem", join(s.dir, `${s.rootHash}.0`));
            symlinkSync("system-ca.pem", join(s.dir, `${s.rootHash}.1`));
        },
        (s) => [`${s.rootHash}.0 -> system-ca.pem`, "system-ca.pem"],
    ],
    [
        "two removed links around another CA's: no gap left",
        (s) => {
            writeFileSync(join(s.dir, "system-ca.pem"), p.root.certPem);
            symlinkSync("hostwright-gone.pem", join(s.dir, `${s.rootHash}.0`));
            symlinkSync("system-ca.pem", join(s.dir, `${s.rootHash}.1`));
            symlinkSync("hostwright-gone-too.pem", join(s.dir, `${s.rootHash}.2`));
        },
        (s) => [`${s.rootHash}.0 -> system-ca.pem`, "system-ca.pem"],
    ],
    [
        "a dangling link to a hostwright root under another name is removed too",
        (s) => symlinkSync("hostwright-gone.pem", join(s.dir, "odd-name.pem")),
        () => [],
    ],
    [
        "a dangling link that is not hostwright's is left alone",
        (s) => symlinkSync("someone-else.pem", join(s.dir, `${s.otherHash}.0`)),
        (s) => [`${s.otherHash}.0 -> someone-else.pem`],
    ],
    [
        "root changed under the same hash: the old link goes, the new root gets .0",
        (s) => {
            symlinkSync("hostwright-old.pem", join(s.dir, `${s.rootHash}.0`));
            writeFileSync(join(s.dir, "hostwright-new.pem"), p.root.certPem);
        },
        (s) => [`${s.rootHash}.0 -> hostwright-new.pem`, "hostwright-new.pem"],
    ],
    [
        "an existing link (e.g. made by openssl rehash) is reused, not doubled",
        (s) => {
            writeFileSync(join(s.dir, "hostwright-a.pem"), p.root.certPem);
            symlinkSync("hostwright-a.pem", join(s.dir, `${s.rootHash}.0`));
        },
        (s) => [`${s.rootHash}.0 -> hostwright-a.pem`, "hostwright-a.pem"],
    ],
];

describe.each(cases)("relink: %s", (name, setup, expected) => {
    it("leaves exactly the expected entries, and a second run changes nothing", () => {
        const dir = mkdtempSync(join(scratch, "certs-"));
        const scene = { dir, rootHash: hashOf(p.root.certPem), otherHash: hashOf(p.otherRoot.certPem) };
        setup(scene);
        relink(dir);
        expect(listing(dir)).toEqual(expected(scene));
        const again = relink(dir);
        expect(again).toBe("");
        expect(listing(dir)).toEqual(expected(scene));
    });
});

describe("relink round trip", () => {
    it("root A -> root B (same subject hash) -> A again gives byte-identical links", () => {
        const dir = mkdtempSync(join(scratch, "roundtrip-"));
        writeFileSync(join(dir, "hostwright-a.pem"), p.root.certPem);
        relink(dir);
        const before = listing(dir);
        // What the switch and the rollback do to the files; the links follow.
        unlinkSync(join(dir, "hostwright-a.pem"));
        writeFileSync(join(dir, "hostwright-b.pem"), p.root.certPem);
        expect(relink(dir)).toMatch(/removed hash link .*\n.*linked/);
        unlinkSync(join(dir, "hostwright-b.pem"));
        writeFileSync(join(dir, "hostwright-a.pem"), p.root.certPem);
        relink(dir);
        expect(listing(dir)).toEqual(before);
    });

    it("a missing trust directory is no error", () => {
        expect(relink(join(scratch, "absent"))).toBe("");
        expect(existsSync(join(scratch, "absent"))).toBe(false);
    });
});

describe("what the drift check asks (hw_h2o_link_of, hw_h2o_dangling), read-only", () => {
    /** `hw_h2o_link_of CA` in `dir`: "found LINK", or "missing N NEXT" (N its exit status, NEXT where a relink would put it). */
    function linkOf(dir: string, ca: string): string {
        const script = `set -eu\n${relinkFunction(dir)}\nif hw_h2o_link_of "$1"; then echo "found $hw_link_at"; else echo "missing $? \${hw_link_at:-}"; fi`;
        return execFileSync("bash", ["-c", script, "link-of", join(dir, ca)], { encoding: "utf8" }).trim();
    }
    const dangling = (dir: string, link: string) => execFileSync("bash", ["-c", `${relinkFunction(dir)}\nhw_h2o_dangling "$1" && echo yes || echo no`, "dangling", join(dir, link)], { encoding: "utf8" }).trim();

    it("finds the link OpenSSL finds; not one behind a gap (OpenSSL stops at the first missing .N); changes nothing", () => {
        const dir = mkdtempSync(join(scratch, "ask-"));
        const hash = hashOf(p.root.certPem);
        writeFileSync(join(dir, "hostwright-a.pem"), p.root.certPem);
        expect(linkOf(dir, "hostwright-a.pem")).toBe(`missing 1 ${dir}/${hash}.0`);
        symlinkSync("hostwright-a.pem", join(dir, `${hash}.1`));
        // .1 exists but .0 does not: OpenSSL never reaches it, a relink would put it at .0
        expect(linkOf(dir, "hostwright-a.pem")).toBe(`missing 1 ${dir}/${hash}.0`);
        writeFileSync(join(dir, "system-ca.pem"), p.root.certPem);
        symlinkSync("system-ca.pem", join(dir, `${hash}.0`));
        expect(linkOf(dir, "hostwright-a.pem")).toBe(`found ${dir}/${hash}.1`);
        writeFileSync(join(dir, "hostwright-junk.pem"), "not a certificate\n");
        expect(linkOf(dir, "hostwright-junk.pem")).toMatch(/^missing 2/);
        expect(listing(dir)).toEqual([`${hash}.0 -> system-ca.pem`, `${hash}.1 -> hostwright-a.pem`, "hostwright-a.pem", "hostwright-junk.pem", "system-ca.pem"]);
    });

    it("a dangling link is one to a missing hostwright-*.pem only", () => {
        const dir = mkdtempSync(join(scratch, "dangling-"));
        symlinkSync("hostwright-gone.pem", join(dir, "aaaa.0"));
        symlinkSync("other-gone.pem", join(dir, "bbbb.0"));
        writeFileSync(join(dir, "hostwright-here.pem"), p.root.certPem);
        symlinkSync("hostwright-here.pem", join(dir, "cccc.0"));
        expect(["aaaa.0", "bbbb.0", "cccc.0", "hostwright-here.pem"].map((l) => dangling(dir, l))).toEqual(["yes", "no", "no", "no"]);
    });
});
