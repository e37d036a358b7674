/**
 * LXD on lab hosts: start and stop a real LXD 5.0.2 daemon inside a host (its own
 * namespaces and overlay root, so `/var/lib/lxd` is the host's, never the machine's),
 * give it a dir storage pool, and import a busybox image built locally from the
 * `busybox-static` binary (no downloads).
 */
import type { ExecResult, LabHost } from "../lab/lab";

/** The daemon's directory and the client configuration the tests use on every host. */
export const LXD_DIR = "/var/lib/lxd";
export const LXD_CONF = "/root/.config/lxc";
const ENV = `export LXD_DIR=${LXD_DIR} LXD_CONF=${LXD_CONF}`;

/** Runs a shell command on the host with LXD_DIR/LXD_CONF set; throws with its output when it fails. */
export async function lxdExec(host: LabHost, cmd: string, timeoutMs = 120_000): Promise<string> {
    const r: ExecResult = await host.exec(`${ENV}\n${cmd}`, { timeoutMs });
    if (r.code !== 0) throw new Error(`${host.name}: ${cmd.split("\n")[0]} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
}

/** Starts LXD on the host (logs in /var/log/lxd.log), waits for it, and gives it a dir pool on the default profile. */
export async function startLxd(host: LabHost): Promise<void> {
    await lxdExec(
        host,
        `mkdir -p ${LXD_DIR} /var/log
nohup lxd --group root --logfile /var/log/lxd.log >/dev/null 2>&1 </dev/null &
lxd waitready --timeout 60
lxc storage create default dir >/dev/null
lxc profile device add default root disk path=/ pool=default >/dev/null`,
    );
}

/** Stops LXD on the host (instances are killed). */
export async function stopLxd(host: LabHost): Promise<void> {
    await host.exec(`${ENV}\ntimeout 60 lxd shutdown --force >/dev/null 2>&1 || true`, { timeoutMs: 90_000 });
}

/**
 * Builds a unified image tarball (metadata.yaml + rootfs) from the static busybox
 * binary and imports it with the alias `busybox`. The container's init just sleeps,
 * so a started container stays RUNNING.
 */
export async function importBusyboxImage(host: LabHost): Promise<void> {
    await lxdExec(
        host,
        `d=$(mktemp -d)
mkdir -p "$d/rootfs/bin" "$d/rootfs/sbin" "$d/rootfs/etc" "$d/rootfs/proc" "$d/rootfs/sys" "$d/rootfs/dev" "$d/rootfs/tmp" "$d/rootfs/root"
cp /bin/busybox "$d/rootfs/bin/busybox"
for a in sh sleep ls cat echo ps mount hostname; do ln -s busybox "$d/rootfs/bin/$a"; done
printf '#!/bin/sh\\nexec /bin/sleep 2147483647\\n' > "$d/rootfs/sbin/init"
chmod 755 "$d/rootfs/sbin/init"
printf 'architecture: x86_64\\ncreation_date: 1700000000\\nproperties:\\n  description: busybox (hostwright lab)\\n  os: busybox\\n' > "$d/metadata.yaml"
tar -C "$d" -czf "$d/busybox.tar.gz" metadata.yaml rootfs
lxc image import "$d/busybox.tar.gz" --alias busybox >/dev/null
rm -rf "$d"`,
    );
}

/** What destroy must leave as it was: the client's remotes and the daemon's trust store and API address. */
export async function lxdSnapshot(host: LabHost): Promise<{ remotes: string; trust: string; tokens: string; httpsAddress: string }> {
    const [remotes, trust, tokens, httpsAddress] = await Promise.all([
        lxdExec(host, "lxc remote list --format csv"),
        lxdExec(host, "lxc config trust list --format csv"),
        lxdExec(host, "lxc config trust list-tokens --format csv"),
        lxdExec(host, "lxc config get core.https_address"),
    ]);
    return { remotes, trust, tokens, httpsAddress: httpsAddress.trim() };
}
