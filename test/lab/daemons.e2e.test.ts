/**
 * The daemons the components need run inside lab hosts (README "Daemons inside a
 * host"), and `down` removes what they leave on the machine (LXD's cgroups).
 */
import * as fs from "fs";
import { Lab, labDescribe, startLab } from "./lab";

/** Builds a busybox LXD image in the host's /tmp from the machine's busybox-static. */
const BUSYBOX_IMAGE = `set -e
d=$(mktemp -d); mkdir -p "$d/rootfs/bin" "$d/rootfs/sbin" "$d/rootfs/etc" "$d/rootfs/proc" "$d/rootfs/sys" "$d/rootfs/dev" "$d/rootfs/tmp" "$d/rootfs/root"
cp /bin/busybox "$d/rootfs/bin/busybox"
ln -s busybox "$d/rootfs/bin/sh"
printf '#!/bin/sh\\nexec /bin/busybox sleep 2147483647\\n' > "$d/rootfs/sbin/init"; chmod 755 "$d/rootfs/sbin/init"
printf 'architecture: x86_64\\ncreation_date: 1700000000\\nproperties:\\n  description: lab busybox\\n' > "$d/metadata.yaml"
tar -C "$d" -czf /tmp/busybox.tar.gz metadata.yaml rootfs
rm -rf "$d"`;

const LXD_ENV = { LXD_DIR: "/var/lib/lxd-lab", LXD_CONF: "/root/.config/lxc" };

/** Cgroup directories named after a container, anywhere in the machine's hierarchies. */
function containerCgroups(name: string): string[] {
    const found: string[] = [];
    const walk = (dir: string, depth: number) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            if (!e.isDirectory()) continue;
            if (e.name.endsWith(`.${name}`) || e.name.includes(`.${name}-`)) found.push(`${dir}/${e.name}`);
            else if (depth < 3) walk(`${dir}/${e.name}`, depth + 1);
        }
    };
    walk("/sys/fs/cgroup", 0);
    return found;
}

labDescribe("daemons in lab hosts", () => {
    let lab: Lab;
    beforeAll(async () => {
        lab = await startLab({ hosts: ["h1"] });
    }, 60_000);
    afterAll(() => lab?.down());

    it("userspace Open vSwitch: ovsdb-server + ovs-vswitchd, a netdev bridge with a tap port", async () => {
        const r = await lab.host("h1").exec(
            `set -e
mkdir -p /run/openvswitch /var/log/openvswitch
ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server --remote=punix:/run/openvswitch/db.sock --pidfile --detach --log-file
ovs-vsctl --no-wait init
ovs-vswitchd --pidfile --detach --log-file
ovs-vsctl add-br br-lab -- set bridge br-lab datapath_type=netdev
ip tuntap add mode tap tap-lab && ip link set tap-lab up
ovs-vsctl add-port br-lab tap-lab
ovs-vsctl list-ports br-lab`,
            { timeoutMs: 30_000 },
        );
        expect(r).toMatchObject({ code: 0, stdout: "tap-lab\n" });
    }, 60_000);

    it("LXD 5.0.2 in all the host's namespaces: starts a busybox container; down removes its cgroups from the machine", async () => {
        const name = `c${lab.prefix}`;
        const h1 = lab.host("h1");
        expect((await h1.exec(BUSYBOX_IMAGE)).code).toBe(0);
        const r = await h1.exec(
            `set -e
mkdir -p "$LXD_DIR"
nohup lxd --group root --logfile /var/log/lxd-lab.log >/dev/null 2>&1 </dev/null &
lxd waitready --timeout 60
lxd init --auto
lxc image import /tmp/busybox.tar.gz --alias busybox >/dev/null
lxc init busybox ${name} >/dev/null
lxc start ${name}
lxc query /1.0 | grep -o '"server_version": "[^"]*"'
lxc list --format csv -c ns`,
            { env: LXD_ENV, timeoutMs: 120_000 },
        );
        expect(r.stderr).not.toMatch(/Error/);
        expect(r.stdout).toContain('"server_version": "5.0.2"');
        expect(r.stdout).toContain(`${name},RUNNING`);
        // The daemon is inside the host: the machine's own LXD directory is untouched.
        expect(fs.existsSync(LXD_ENV.LXD_DIR)).toBe(false);
        expect(containerCgroups(name).length).toBeGreaterThan(0);

        await lab.down();
        expect(containerCgroups(name)).toEqual([]);
    }, 180_000);
});
