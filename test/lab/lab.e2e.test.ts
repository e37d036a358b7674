/**
 * The lab itself: hosts are isolated machines (filesystem, network, processes),
 * reachable over real SSH, and `down` leaves nothing behind.
 */
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import { downLab, Lab, labDescribe, LAB_ROOT, listLabs, snapshotTree, startLab, sweepStaleLabs } from "./lab";

/** Link names in this machine's own network namespace. */
const rootLinks = () => execFileSync("ip", ["-o", "link", "show"]).toString().split("\n").filter(Boolean).map((l) => l.split(": ")[1]).sort();
const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

labDescribe("lab hosts", () => {
    let lab: Lab;
    beforeAll(async () => {
        lab = await startLab({ hosts: ["h1", "h2", "h3"] });
    }, 60_000);
    afterAll(() => lab?.down());

    it("are separate machines: hostname, PID 1, own /etc/hosts naming every lab host, stock .bashrc", async () => {
        const r = await lab.host("h2").exec("hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; getent hosts h1 h3; cmp /root/.bashrc /etc/skel/.bashrc && echo stock");
        expect(r.code).toBe(0);
        const [hostname, init, h1, h3, stock] = r.stdout.trim().split("\n");
        expect(hostname).toBe("h2");
        expect(init).toContain("init.sh h2");
        expect(h1).toMatch(/^198\.18\.0\.10\s+h1$/);
        expect(h3).toMatch(/^198\.18\.0\.12\s+h3$/);
        expect(stock).toBe("stock");
    });

    it("reach each other over SSH with pinned host keys, and nothing outside the lab", async () => {
        const h1 = lab.host("h1");
        const r = await h1.ssh("hostname; ip -4 route; bash -c 'echo > /dev/tcp/h3/22' && echo h3-ssh-open; ip route get 1.1.1.1 2>&1 || true");
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split("\n");
        expect(lines[0]).toBe("h1");
        expect(lines.filter((l) => l.includes(" dev "))).toEqual(["198.18.0.0/15 dev eth0 proto kernel scope link src 198.18.0.10 "]);
        expect(r.stdout).toContain("h3-ssh-open");
        expect(r.stdout).toContain("Network is unreachable");
        expect(h1.hostKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
    });

    it("refuse an SSH login when the pinned host key is wrong", async () => {
        const h1 = lab.host("h1");
        const wrongKnownHosts = path.join(lab.dir, "wrong_known_hosts");
        fs.writeFileSync(wrongKnownHosts, `${h1.address} ${lab.host("h2").hostKey}\n`);
        const r = await lab.runOnSwitch(["ssh", "-F", "/dev/null", "-i", `${lab.dir}/id_ed25519`, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${wrongKnownHosts}`, `root@${h1.address}`, "true"]);
        expect(r.code).toBe(255);
        expect(r.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    });

    it("write /etc into their own layer: this machine's /etc never changes", async () => {
        const probe = `/etc/hostwright-lab-probe-${lab.prefix}`;
        const before = { hosts: sha("/etc/hosts"), passwd: sha("/etc/passwd"), motd: fs.existsSync("/etc/motd") };
        const r = await lab.host("h1").ssh(`echo probe > ${probe} && echo '192.0.2.1 probe' >> /etc/hosts && useradd hwprobe && rm -f /etc/motd && mkdir -p /etc/hostwright-probe.d && grep -c hwprobe /etc/passwd`);
        expect(r).toMatchObject({ code: 0, stdout: "1\n" });
        expect(fs.existsSync(probe)).toBe(false);
        expect(fs.existsSync("/etc/hostwright-probe.d")).toBe(false);
        expect({ hosts: sha("/etc/hosts"), passwd: sha("/etc/passwd"), motd: fs.existsSync("/etc/motd") }).toEqual(before);
        const upper = snapshotTree(lab.host("h1").upperDir);
        expect(Object.keys(upper)).toEqual(expect.arrayContaining([probe, "/etc/passwd", "/etc/hostwright-probe.d"].map((p) => p.slice(1))));
        // The other hosts share nothing of it.
        expect((await lab.host("h2").exec(`test -e ${probe} || echo absent; grep -c hwprobe /etc/passwd || true`)).stdout).toBe("absent\n0\n");
    });

    it("run commands as root in all their namespaces with input, environment and a timeout", async () => {
        const h3 = lab.host("h3");
        expect(await h3.exec("cat; echo \"$GREETING\"; id -u", { input: "from stdin\n", env: { GREETING: "hi" } })).toMatchObject({ code: 0, stdout: "from stdin\nhi\n0\n" });
        const t0 = Date.now();
        const slow = await h3.exec("sleep 30", { timeoutMs: 300 });
        expect(slow.code).toBe(137);
        expect(Date.now() - t0).toBeLessThan(5000);
        expect((await h3.exec("exit 7")).code).toBe(7);
    });
});

labDescribe("lab down", () => {
    it("removes every namespace, link, mount, process and directory, also of daemons in a host", async () => {
        const linksBefore = rootLinks();
        const [a, b] = await Promise.all([startLab({ hosts: ["h1", "h2"] }), startLab({ hosts: ["h1"] })]);
        expect(a.prefix).not.toBe(b.prefix);
        try {
            const h1 = a.host("h1");
            // A daemon started in the host, and one that entered only its network namespace from outside.
            expect((await h1.exec("setsid sleep 1000 >/dev/null 2>&1 </dev/null & echo started")).stdout).toBe("started\n");
            const outsider = execFileSync("bash", ["-c", `nsenter --net=/proc/${h1.initPid}/ns/net setsid sleep 1001 >/dev/null 2>&1 </dev/null & echo $!`]).toString().trim();
            const netns = a.hosts.map((h) => fs.readlinkSync(`/proc/${h.initPid}/ns/net`)).concat(`net:[${fs.statSync(a.switchNs).ino}]`);
            const inits = a.hosts.map((h) => h.initPid);
            expect(rootLinks()).toEqual(linksBefore);

            await a.down();

            expect(fs.existsSync(a.dir)).toBe(false);
            expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(a.prefix);
            const survivors = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
                try {
                    const alive = !/\) Z /.test(fs.readFileSync(`/proc/${p}/stat`, "utf8"));
                    return alive && (netns.includes(fs.readlinkSync(`/proc/${p}/ns/net`)) || fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(a.dir));
                } catch {
                    return false;
                }
            });
            expect(survivors).toEqual([]);
            for (const pid of [...inits, Number(outsider)]) expect(fs.existsSync(`/proc/${pid}/ns`) && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))).toBe(false);
            expect(rootLinks()).toEqual(linksBefore);
            // The other lab is untouched.
            expect((await b.host("h1").ssh("hostname")).stdout).toBe("h1\n");
        } finally {
            await a.down();
            await b.down();
        }
        expect(fs.existsSync(b.dir)).toBe(false);
        expect(rootLinks()).toEqual(linksBefore);
    }, 60_000);

    it("sweeps a lab whose owner died (a killed test run), and keeps persistent ones", async () => {
        const [dead, kept] = await Promise.all([startLab({ hosts: ["h1"] }), startLab({ hosts: ["h1"], persistent: true })]);
        try {
            const record = JSON.parse(fs.readFileSync(path.join(dead.dir, "lab.json"), "utf8"));
            record.owner = { pid: 999_999_999, start: "0" };
            fs.writeFileSync(path.join(dead.dir, "lab.json"), JSON.stringify(record));
            expect(listLabs().find((l) => l.prefix === dead.prefix)?.stale).toBe(true);
            expect(await sweepStaleLabs()).toContain(dead.prefix);
            expect(fs.existsSync(dead.dir)).toBe(false);
            expect(fs.existsSync(kept.dir)).toBe(true);
            expect(fs.readdirSync(LAB_ROOT)).toContain(kept.prefix);
        } finally {
            await downLab(dead.prefix);
            await kept.down();
        }
    }, 60_000);
});
