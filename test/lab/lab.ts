/**
 * The lab: namespaced "hosts" on this machine, each with its own network
 * namespace (veth to a lab bridge), its own root filesystem (overlayfs over `/`,
 * entered with pivot_root), its own /proc, /run, /tmp, PID, IPC and UTS
 * namespaces, and a real sshd. See test/lab/README.md.
 *
 * Layout on the machine, all under one tmpfs per lab (so `down` is one unmount):
 *   /run/hostwright-lab/<prefix>/lab.json          owner, hosts, init pids
 *   /run/hostwright-lab/<prefix>/ns/switch         the switch network namespace (bridge br0)
 *   /run/hostwright-lab/<prefix>/id_ed25519        the client key (root on every host)
 *   /run/hostwright-lab/<prefix>/known_hosts       every host's pinned host key
 *   /run/hostwright-lab/<prefix>/hosts/<name>/{upper,work,root,run,init.log}
 */
import * as fs from "fs";
import * as path from "path";
import { createHash, randomBytes } from "crypto";
import { spawn } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import type { Host } from "../../core/host";
import { BASE_ENV, run, RunResult, runOk } from "./proc";
import { sshArgv } from "../../tools/ssh";

export { sshArgv };

/** Where every lab lives (a tmpfs per lab is mounted below it). */
export const LAB_ROOT = "/run/hostwright-lab";
/** Lab subnet (RFC 2544 benchmark range): the switch is .0.1, hosts from .0.10 on. */
export const LAB_SUBNET = "198.18.0.0/15";
const SWITCH_ADDRESS = "198.18.0.1";
const MAX_HOSTS = 240;
/** Inside a host: the lab's own sshd files (on the host's /run tmpfs, not in its upper layer). */
const HOST_RUN_DIR = "/run/hostwright-lab";

/** Result of a command on a lab host. */
export type ExecResult = RunResult;

/** One lab host: a namespaced machine with sshd, reachable from the lab switch. */
export interface LabHost {
    /** Inventory name, also the hostname, e.g. "h1". */
    name: string;
    /** Its IP address in {@link LAB_SUBNET}. */
    address: string;
    /** OpenSSH private key that logs in as root. */
    privateKey: string;
    /** The host's SSH public host key, "ssh-ed25519 AAAA...". */
    hostKey: string;
    /** Overlay upper layer on the machine: everything the host changed in its root filesystem. */
    upperDir: string;
    /** PID (on the machine) of the host's init, the process that holds its namespaces. */
    initPid: number;
    /** Runs `bash -c cmd` as root inside all of the host's namespaces (not over SSH). */
    exec(cmd: string, opts?: { input?: string; timeoutMs?: number; env?: Record<string, string> }): Promise<ExecResult>;
    /** Runs `cmd` over real SSH as root, host key pinned (`StrictHostKeyChecking=yes`). */
    ssh(cmd: string, opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
    /** The inventory entry components take (private key as a Pulumi secret, sysv init). */
    inventory(): Host;
}

/** A running lab. */
export interface Lab {
    /** Per-run prefix in every name the lab made. */
    prefix: string;
    /** The lab's directory on the machine. */
    dir: string;
    hosts: LabHost[];
    /** The host with that inventory name; throws when there is none. */
    host(name: string): LabHost;
    /** Path of the switch network namespace: `nsenter --net=PATH` reaches every host. */
    switchNs: string;
    /** `known_hosts` file holding every host's pinned key. */
    knownHosts: string;
    /** Runs argv inside the switch network namespace (for ssh, curl, ping towards hosts). */
    runOnSwitch(argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
    /** Stops every process and removes every namespace, link, mount and directory of this lab. */
    down(): Promise<void>;
}

/** What lab.json records, so that `down` works from another process or after a crash. */
export interface LabRecord {
    prefix: string;
    /** The process whose exit makes the lab stale (null: kept until `down`). */
    owner: { pid: number; start: string } | null;
    created: string;
    hosts: Array<{ name: string; address: string; initPid: number }>;
    /** /proc/PID/cgroup of the process that started the lab: the hosts start in these cgroups. */
    cgroups: string;
}

/** Checks what the lab needs on this machine; the reason names what is missing. */
export function labPrerequisites(): { ok: true } | { ok: false; reason: string } {
    if (process.platform !== "linux") return { ok: false, reason: "the lab needs Linux namespaces" };
    if (process.getuid?.() !== 0) return { ok: false, reason: "the lab needs root (namespaces, mounts, veth links)" };
    const missing = ["unshare", "nsenter", "ip", "ssh", "ssh-keygen", "setfattr", "mount", "umount"].filter((c) => !commandExists(c));
    if (!fs.existsSync("/usr/sbin/sshd")) missing.push("sshd");
    if (missing.length > 0) return { ok: false, reason: `missing programs: ${missing.join(", ")} (run: bash scripts/install-prereqs.sh)` };
    if (!fs.readFileSync("/proc/filesystems", "utf8").includes("\toverlay\n")) return { ok: false, reason: "the kernel has no overlay filesystem" };
    return { ok: true };
}

function commandExists(name: string): boolean {
    return BASE_ENV.PATH.split(":").some((dir) => fs.existsSync(path.join(dir, name)));
}

/**
 * A `describe` for lab suites. Without the prerequisites (or root) the suite fails
 * with the reason on CI (`CI=true`) and otherwise logs one line and runs nothing else.
 */
export function labDescribe(name: string, fn: () => void): void {
    const pre = labPrerequisites();
    if (pre.ok) {
        describe(name, fn);
        return;
    }
    const reason = pre.reason;
    describe(name, () => {
        if (process.env.CI === "true") {
            it("has the lab prerequisites (required on CI)", () => {
                throw new Error(`lab prerequisites missing on CI: ${reason}`);
            });
        } else {
            it(`is not run here: ${reason}`, () => {
                console.log(`lab suite "${name}" not run: ${reason}`);
                expect(pre.ok).toBe(false);
            });
        }
    });
}

/** Starts a lab with the given host names (all in parallel). Sweeps stale labs first. */
export async function startLab(opts: { hosts: string[]; prefix?: string; persistent?: boolean }): Promise<Lab> {
    const pre = labPrerequisites();
    if (!pre.ok) throw new Error(`cannot start the lab: ${pre.reason}`);
    checkHostNames(opts.hosts);
    await sweepStaleLabs();
    const prefix = opts.prefix ?? `hw${randomBytes(3).toString("hex")}`;
    if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix)) throw new Error(`lab prefix ${JSON.stringify(prefix)} must be 2-12 lower-case letters and digits`);
    const dir = path.join(LAB_ROOT, prefix);
    if (fs.existsSync(dir)) throw new Error(`a lab with prefix ${prefix} already exists (${dir})`);

    const record: LabRecord = { prefix, owner: opts.persistent ? null : { pid: process.pid, start: processStart(process.pid) ?? "" }, created: new Date().toISOString(), hosts: [], cgroups: fs.readFileSync("/proc/self/cgroup", "utf8") };
    try {
        await mountLabDir(dir);
        writeRecord(dir, record);
        const [clientKey] = await Promise.all([generateKey(path.join(dir, "id_ed25519"), `hostwright-lab-${prefix}`), makeSwitch(dir)]);
        const hosts = await Promise.all(opts.hosts.map((name, i) => startHost(dir, prefix, name, `198.18.0.${10 + i}`, i, clientKey, opts.hosts)));
        fs.writeFileSync(path.join(dir, "known_hosts"), hosts.map((h) => `${h.address} ${h.hostKey}\n`).join(""), { mode: 0o600 });
        record.hosts = hosts.map((h) => ({ name: h.name, address: h.address, initPid: h.initPid }));
        writeRecord(dir, record);
        return makeLab(dir, prefix, hosts);
    } catch (e) {
        await downLab(prefix).catch(() => undefined);
        throw e;
    }
}

/** Opens an already running lab (e.g. one started with `npm run lab -- up`). */
export function openLab(prefix: string): Lab {
    const dir = path.join(LAB_ROOT, prefix);
    const record = readRecord(dir);
    if (!record) throw new Error(`no lab ${prefix} (no ${dir}/lab.json)`);
    const clientKey = fs.readFileSync(path.join(dir, "id_ed25519"), "utf8");
    const hosts = record.hosts.map((h) => {
        const hostKey = fs.readFileSync(path.join(dir, "hosts", h.name, "run", "ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
        return makeHost(dir, h.name, h.address, h.initPid, clientKey, hostKey);
    });
    return makeLab(dir, prefix, hosts);
}

function checkHostNames(names: string[]): void {
    if (names.length === 0) throw new Error("a lab needs at least one host");
    if (names.length > MAX_HOSTS) throw new Error(`a lab holds at most ${MAX_HOSTS} hosts`);
    // The inventory's rule for host names (core/config/schema.ts), so any stack's hosts fit.
    for (const n of names) if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(n)) throw new Error(`lab host name ${JSON.stringify(n)} must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'`);
    if (new Set(names).size !== names.length) throw new Error("lab host names must be unique");
}

function makeLab(dir: string, prefix: string, hosts: LabHost[]): Lab {
    const switchNs = path.join(dir, "ns", "switch");
    return {
        prefix,
        dir,
        hosts,
        switchNs,
        knownHosts: path.join(dir, "known_hosts"),
        host(name: string): LabHost {
            const h = hosts.find((x) => x.name === name);
            if (!h) throw new Error(`lab ${prefix} has no host ${name} (hosts: ${hosts.map((x) => x.name).join(", ")})`);
            return h;
        },
        runOnSwitch: (argv, opts = {}) => run(["nsenter", `--net=${switchNs}`, "--", ...argv], opts),
        down: () => downLab(prefix),
    };
}

/** The lab directory is its own tmpfs: private propagation (for nsfs bind mounts) and outside the overlay's lower layer. */
async function mountLabDir(dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    await runOk(["mount", "-t", "tmpfs", "-o", "mode=0700", `hostwright-lab-${path.basename(dir)}`, dir]);
    await runOk(["mount", "--make-private", dir]);
    for (const d of ["ns", "hosts"]) fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
}

/** The switch: a network namespace holding the bridge every host's veth joins. */
async function makeSwitch(dir: string): Promise<void> {
    const ns = path.join(dir, "ns", "switch");
    fs.writeFileSync(ns, "");
    const script = `ip link set lo up && ip link add br0 type bridge && ip addr add ${SWITCH_ADDRESS}/15 dev br0 && ip link set br0 up`;
    await runOk(["unshare", `--net=${ns}`, "--", "/bin/sh", "-c", script]);
}

/** Generates an ed25519 key pair at `file` (+ `.pub`); returns the private key. */
async function generateKey(file: string, comment: string): Promise<string> {
    await runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
    return fs.readFileSync(file, "utf8");
}

async function startHost(dir: string, prefix: string, name: string, address: string, index: number, clientKey: string, allNames: string[]): Promise<LabHost> {
    const hostDir = path.join(dir, "hosts", name);
    const runDir = path.join(hostDir, "run");
    for (const d of ["upper", "work", "root", "run"]) fs.mkdirSync(path.join(hostDir, d), { recursive: true, mode: d === "upper" || d === "root" ? 0o755 : 0o700 });
    fs.chmodSync(path.join(hostDir, "upper"), 0o755);
    const keyFile = path.join(runDir, "ssh_host_ed25519_key");
    await generateKey(keyFile, `${name}@${prefix}`);
    const hostKey = fs.readFileSync(`${keyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    fs.writeFileSync(path.join(runDir, "authorized_keys"), fs.readFileSync(path.join(dir, "id_ed25519.pub")), { mode: 0o600 });
    fs.writeFileSync(path.join(runDir, "sshd_config"), SSHD_CONFIG);
    await seedUpper(path.join(hostDir, "upper"), name, allNames);
    fs.writeFileSync(path.join(hostDir, "init.sh"), INIT_SCRIPT);

    const { unsharePid, ready } = spawnInit(hostDir, name);
    await Promise.all([connectHost(dir, unsharePid, index, address), ready]);
    const initPid = childOf(unsharePid);
    return makeHost(dir, name, address, initPid, clientKey, hostKey);
}

/**
 * The host's own files, written into its upper layer before the overlay is mounted:
 * /etc/hosts naming every lab host, /etc/hostname, and an opaque /root holding only
 * Debian's stock dotfiles (this machine's .bashrc slows every SSH command down).
 */
async function seedUpper(upper: string, name: string, allNames: string[]): Promise<void> {
    mirrorDir(upper, "etc");
    const hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", ...allNames.map((n, i) => `198.18.0.${10 + i}\t${n}`)];
    fs.writeFileSync(path.join(upper, "etc", "hosts"), hosts.join("\n") + "\n");
    fs.writeFileSync(path.join(upper, "etc", "hostname"), `${name}\n`);
    const root = path.join(upper, "root");
    fs.mkdirSync(root, { mode: 0o700 });
    for (const f of [".bashrc", ".profile"]) fs.copyFileSync(path.join("/etc/skel", f), path.join(root, f));
    await runOk(["setfattr", "-n", "trusted.overlay.opaque", "-v", "y", root]);
}

/** Creates `rel` in the upper layer with the lower layer's mode and owner (so the merged directory looks unchanged). */
function mirrorDir(upper: string, rel: string): void {
    const st = fs.statSync(path.join("/", rel));
    const target = path.join(upper, rel);
    fs.mkdirSync(target, { recursive: true });
    fs.chmodSync(target, st.mode & 0o7777);
    fs.chownSync(target, st.uid, st.gid);
}

/**
 * Starts the host's init in new namespaces. It mounts the root, starts sshd and
 * prints READY; it outlives this process (a lab made by `up` stays running).
 */
function spawnInit(hostDir: string, name: string): { unsharePid: number; ready: Promise<void> } {
    const log = fs.openSync(path.join(hostDir, "init.log"), "a");
    const child = spawn("unshare", ["--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "--propagation", "private", "--", "/bin/bash", path.join(hostDir, "init.sh"), name, hostDir], {
        detached: true,
        stdio: ["ignore", "pipe", log],
        env: BASE_ENV,
    });
    fs.closeSync(log);
    const ready = new Promise<void>((resolve, reject) => {
        let seen = "";
        const timer = setTimeout(() => fail(new Error(`lab host ${name}: init not ready after 20 s (see ${hostDir}/init.log)`)), 20_000);
        const fail = (e: Error) => {
            clearTimeout(timer);
            reject(e);
        };
        child.stdout!.on("data", (b: Buffer) => {
            seen += b.toString();
            if (seen.includes("READY\n")) {
                clearTimeout(timer);
                child.stdout!.destroy();
                child.unref();
                resolve();
            }
        });
        child.on("exit", (code) => fail(new Error(`lab host ${name}: init exited ${code}: ${tail(path.join(hostDir, "init.log"))}`)));
    });
    if (child.pid === undefined) throw new Error(`lab host ${name}: cannot run unshare`);
    return { unsharePid: child.pid, ready };
}

/** veth pair: `v<index>` on the switch bridge, `eth0` with the address inside the host. */
async function connectHost(dir: string, unsharePid: number, index: number, address: string): Promise<void> {
    const sw = path.join(dir, "ns", "switch");
    const veth = `v${index}`;
    const hostNs = `/proc/${unsharePid}/ns/net`;
    await waitFor(() => fs.readlinkSync(hostNs) !== fs.readlinkSync("/proc/self/ns/net"), 5000, "host network namespace");
    await runOk(["nsenter", `--net=${sw}`, "--", "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", String(unsharePid)]);
    await runOk(["nsenter", `--net=${sw}`, "--", "ip", "link", "set", veth, "master", "br0", "up"]);
    const inHost = `ip link set lo up && ip addr add ${address}/15 dev eth0 && ip link set eth0 up`;
    await runOk(["nsenter", `--net=${hostNs}`, "--", "/bin/sh", "-c", inHost]);
}

function makeHost(dir: string, name: string, address: string, initPid: number, clientKey: string, hostKey: string): LabHost {
    const keyFile = path.join(dir, "id_ed25519");
    const knownHosts = path.join(dir, "known_hosts");
    const switchNs = path.join(dir, "ns", "switch");
    return {
        name,
        address,
        privateKey: clientKey,
        hostKey,
        upperDir: path.join(dir, "hosts", name, "upper"),
        initPid,
        exec(cmd, opts = {}) {
            const env = Object.entries({ ...BASE_ENV, ...(opts.env ?? {}) }).map(([k, v]) => `${k}=${v}`);
            return run(["nsenter", "-t", String(initPid), "-a", "--", "env", "-i", "-C", "/root", ...env, "/bin/bash", "-c", cmd], { input: opts.input, timeoutMs: opts.timeoutMs });
        },
        ssh(cmd, opts = {}) {
            return run(["nsenter", `--net=${switchNs}`, "--", ...sshArgv(keyFile, knownHosts, address), cmd], opts);
        },
        inventory(): Host {
            return { name, address, port: 22, user: "root", privateKey: pulumi.secret(clientKey), hostKey, os: "debian", init: "sysv" };
        },
    };
}


/**
 * A comparable picture of a directory tree (e.g. a host's upper layer): per path its
 * type, mode, owner and content hash (files), target (links) or device (overlay
 * whiteouts). Directory times are left out: they change whenever an entry does.
 */
export function snapshotTree(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (rel: string) => {
        const full = path.join(dir, rel);
        const st = fs.lstatSync(full);
        const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
        if (st.isDirectory()) {
            out[rel || "/"] = `dir ${meta}`;
            for (const name of fs.readdirSync(full).sort()) walk(path.join(rel, name));
        } else if (st.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(full)}`;
        else if (st.isFile()) out[rel] = `file ${meta} ${createHash("sha256").update(fs.readFileSync(full)).digest("hex").slice(0, 16)}`;
        else out[rel] = `special ${meta} ${st.rdev}`;
    };
    walk("");
    return out;
}

/** Stops and removes one lab completely. Safe to call twice, or on a half-made lab. */
export async function downLab(prefix: string): Promise<void> {
    const dir = path.join(LAB_ROOT, prefix);
    const namespaces = labNetNamespaces(dir);
    const pids = processesOf(dir, namespaces);
    const cgroups = labCgroups(pids, readRecord(dir)?.cgroups ?? fs.readFileSync("/proc/self/cgroup", "utf8"));
    for (const pid of pids) killPid(pid);
    await waitFor(() => pids.every((p) => !isRunning(p)), 10_000, `processes of lab ${prefix} to exit`).catch(() => undefined);
    removeCgroups(cgroups);
    await unmountTree(dir);
    if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Names (prefixes) of every lab on this machine. */
export function listLabs(): Array<{ prefix: string; record: LabRecord | undefined; stale: boolean }> {
    if (!fs.existsSync(LAB_ROOT)) return [];
    return fs.readdirSync(LAB_ROOT).map((prefix) => {
        const dir = path.join(LAB_ROOT, prefix);
        const record = readRecord(dir);
        return { prefix, record, stale: isStale(dir, record) };
    });
}

/** Removes every lab (`npm run lab -- down --all`). */
export async function downAllLabs(): Promise<string[]> {
    const prefixes = listLabs().map((l) => l.prefix);
    for (const p of prefixes) await downLab(p);
    return prefixes;
}

/** Removes labs whose owning process is gone (a killed test run), leaving live and persistent ones. */
export async function sweepStaleLabs(): Promise<string[]> {
    const stale = listLabs().filter((l) => l.stale).map((l) => l.prefix);
    // Another process may be sweeping the same lab right now: its failures are not ours.
    for (const p of stale) await downLab(p).catch(() => undefined);
    return stale;
}

function isStale(dir: string, record: LabRecord | undefined): boolean {
    if (!record) {
        // A lab being created writes lab.json right away; a directory without it for a minute is debris.
        try {
            return Date.now() - fs.statSync(dir).mtimeMs > 60_000;
        } catch {
            return false; // removed meanwhile
        }
    }
    if (!record.owner) return false;
    return processStart(record.owner.pid) !== record.owner.start;
}

/** Start time of a process (field 22 of /proc/PID/stat), to tell a live owner from a reused PID. */
function processStart(pid: number): string | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    } catch {
        return undefined;
    }
}

function writeRecord(dir: string, record: LabRecord): void {
    fs.writeFileSync(path.join(dir, "lab.json"), JSON.stringify(record, null, 2));
}

function readRecord(dir: string): LabRecord | undefined {
    try {
        return JSON.parse(fs.readFileSync(path.join(dir, "lab.json"), "utf8")) as LabRecord;
    } catch {
        return undefined;
    }
}

/** Network namespace ids ("net:[N]") of the lab's switch and hosts, from its files and init pids. */
function labNetNamespaces(dir: string): Set<string> {
    const ids = new Set<string>();
    const sw = path.join(dir, "ns", "switch");
    try {
        const st = fs.statSync(sw);
        if (st.size === 0 && st.dev !== fs.statSync(dir).dev) ids.add(`net:[${st.ino}]`);
    } catch {
        // no switch yet
    }
    for (const pid of initProcesses(dir)) {
        try {
            ids.add(fs.readlinkSync(`/proc/${pid}/ns/net`));
        } catch {
            // exited meanwhile
        }
    }
    return ids;
}

/** The lab's init processes (and their unshare parents): their command line names the lab directory. */
function initProcesses(dir: string): number[] {
    const marker = `${dir}/hosts/`;
    return allPids().filter((pid) => {
        try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
        } catch {
            return false;
        }
    });
}

/**
 * Every process of the lab: its inits, their descendants (also those in nested
 * namespaces, such as containers), and anything else living in one of its network namespaces.
 */
function processesOf(dir: string, namespaces: Set<string>): number[] {
    const pids = allPids();
    const lab = new Set(initProcesses(dir));
    const children = new Map<number, number[]>();
    for (const pid of pids) {
        const parent = parentOf(pid);
        if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
    }
    const queue = [...lab];
    while (queue.length > 0) {
        for (const c of children.get(queue.pop()!) ?? []) {
            if (lab.has(c)) continue;
            lab.add(c);
            queue.push(c);
        }
    }
    for (const pid of pids) {
        try {
            if (namespaces.has(fs.readlinkSync(`/proc/${pid}/ns/net`))) lab.add(pid);
        } catch {
            // exited meanwhile
        }
    }
    lab.delete(process.pid);
    return [...lab];
}

function allPids(): number[] {
    return fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);
}

/** True while the process exists and is not a zombie (its mounts and namespaces are released at exit, before reaping). */
function isRunning(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

function killPid(pid: number): void {
    try {
        process.kill(pid, "SIGKILL");
    } catch {
        // gone already
    }
}

/**
 * Cgroup directories (machine paths) that the lab's processes were moved into, such
 * as LXD's `lxc.payload.NAME` (the machine's cgroup hierarchies are shared with the
 * hosts): every cgroup a lab process is in that is neither the one the lab started
 * in nor above it. Containers killed with their host leave these behind.
 */
function labCgroups(pids: number[], baseline: string): string[] {
    const start = parseCgroups(baseline);
    const mounts = cgroupMounts();
    const found = new Set<string>();
    for (const pid of pids) {
        let own: Map<string, string>;
        try {
            own = parseCgroups(fs.readFileSync(`/proc/${pid}/cgroup`, "utf8"));
        } catch {
            continue;
        }
        for (const [controllers, cgPath] of own) {
            const base = start.get(controllers) ?? "/";
            const mount = mounts.get(controllers);
            if (!mount || cgPath === base || `${base}/`.startsWith(cgPath === "/" ? "/" : `${cgPath}/`)) continue;
            // Only the cgroup the process is in (and below): its parents may be anyone's.
            found.add(path.join(mount, cgPath));
        }
    }
    return [...found];
}

/** Removes the given cgroup directories and everything below them, deepest first; cgroups still in use stay. */
function removeCgroups(dirs: string[]): void {
    const all: string[] = [];
    const walk = (dir: string) => {
        try {
            for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
            all.push(dir);
        } catch {
            // gone already
        }
    };
    dirs.forEach(walk);
    for (const d of all.sort((a, b) => b.length - a.length)) {
        try {
            fs.rmdirSync(d);
        } catch {
            // busy (another process) or gone
        }
    }
}

/** `controllers -> path` from a /proc/PID/cgroup text ("" is the unified hierarchy). */
function parseCgroups(text: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const line of text.split("\n")) {
        const m = /^\d+:([^:]*):(.*)$/.exec(line);
        if (m) out.set(m[1], m[2] || "/");
    }
    return out;
}

/** Where each cgroup hierarchy of this machine is mounted, keyed like /proc/PID/cgroup. */
function cgroupMounts(): Map<string, string> {
    const out = new Map<string, string>();
    for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
        const [left, right] = line.split(" - ");
        if (!right) continue;
        const [fstype, , superOptions] = right.split(" ");
        const mountPoint = left.split(" ")[4];
        if (fstype === "cgroup2") out.set("", mountPoint);
        if (fstype === "cgroup") {
            const controllers = superOptions.split(",").filter((o) => o !== "rw" && o !== "ro" && !o.startsWith("release_agent") && o !== "clone_children" && o !== "xattr");
            out.set(controllers.join(","), mountPoint);
        }
    }
    return out;
}

/** Unmounts everything at or below `dir` (deepest first), lazily if still busy. */
async function unmountTree(dir: string): Promise<void> {
    const mounts = fs
        .readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4])
        .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
        .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
        const r = await run(["umount", m]);
        if (r.code !== 0) await run(["umount", "-l", m]);
    }
}

/** PID of the only child of `pid` (unshare --fork's child: the host's PID 1), found by parent PID. */
function childOf(pid: number): number {
    const children = allPids().filter((p) => parentOf(p) === pid);
    if (children.length !== 1) throw new Error(`expected one child of ${pid}, found ${children.length}`);
    return children[0];
}

function parentOf(pid: number): number | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
        return undefined;
    }
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
        try {
            if (check()) return;
        } catch {
            // not there yet
        }
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

function tail(file: string): string {
    try {
        return fs.readFileSync(file, "utf8").trim().split("\n").slice(-5).join(" | ");
    } catch {
        return "(no log)";
    }
}

/** sshd of every lab host: key-only root login, files on the host's /run, MaxStartups raised for parallel applies. */
const SSHD_CONFIG = `# hostwright lab sshd: key-only root login, host key generated per run
Port 22
ListenAddress 0.0.0.0
HostKey ${HOST_RUN_DIR}/ssh_host_ed25519_key
PidFile ${HOST_RUN_DIR}/sshd.pid
AuthorizedKeysFile ${HOST_RUN_DIR}/authorized_keys
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 100
AcceptEnv *
Subsystem sftp /usr/lib/openssh/sftp-server
`;

/**
 * PID 1 of a lab host (bash; args: NAME HOSTDIR). Runs in fresh mount, UTS, IPC,
 * PID and network namespaces: mounts the overlay root with its own /proc, /sys,
 * /run, /tmp and /dev/shm, switches to it with pivot_root (a chroot would let
 * setns-based tools such as LXD escape to the machine's root), starts sshd, says
 * READY, then only reaps orphans.
 */
const INIT_SCRIPT = `set -eu
name=$1 hostdir=$2
r=$hostdir/root
hostname "$name"
mount -t overlay hostwright-lab -o "lowerdir=/,upperdir=$hostdir/upper,workdir=$hostdir/work" "$r"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount --rbind /sys/fs/cgroup "$r/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 run "$r/run"
mount -t tmpfs -o mode=1777 tmp "$r/tmp"
mkdir -p "$r/run/sshd" "$r/run/lock" "$r${HOST_RUN_DIR}"
cp -a "$hostdir/run/." "$r${HOST_RUN_DIR}/"
cd "$r"
pivot_root . .
umount -l .
cd /
exec </dev/null
/usr/sbin/sshd -f ${HOST_RUN_DIR}/sshd_config -E ${HOST_RUN_DIR}/sshd.log
for _ in $(seq 500); do [ -s ${HOST_RUN_DIR}/sshd.pid ] && break; sleep 0.01; done
[ -s ${HOST_RUN_DIR}/sshd.pid ] || { echo "sshd did not start: $(cat ${HOST_RUN_DIR}/sshd.log)" >&2; exit 1; }
echo READY
exec >/dev/null 2>&1
trap '' HUP
while :; do sleep 3600 & wait $! || :; done
`;
