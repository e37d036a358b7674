import { spawnSync } from "child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ManagedFile, renderStep } from "../../core/step";
import type { LiveMigrationArgs } from "../../components/libvirt/args";
import { editIni, parseIni } from "../../components/libvirt/ini";
import { novaEdits, novaMajor } from "../../components/libvirt/nova";
import { clientAuthConf, libvirtFunctions, libvirtUri, PATHS, RenderedStep, renderNodeStep, renderPeerCheck } from "../../components/libvirt/render";
import { iniEditorFunction } from "../../components/libvirt/ini";
import { groupPki, testHost, tlsArgs } from "./fixtures";

/** A step rendered from plain args: every file content is text. */
const asSpec = (step: RenderedStep) => ({ ...step, files: step.files as ManagedFile[] });

const g = groupPki([
    { name: "a", names: ["a.example.test"] },
    { name: "b", names: ["b.example.test"] },
]);

let scratch: string;
beforeEach(() => (scratch = mkdtempSync(join(tmpdir(), "hw-libvirt-render-"))));
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs bash with fake programs (name -> script body) first on PATH. */
function bash(script: string, fakes: Record<string, string> = {}, input = ""): { status: number; out: string; err: string } {
    const bin = join(scratch, "bin");
    mkdirSync(bin, { recursive: true });
    for (const [name, body] of Object.entries(fakes)) {
        writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
    }
    const helpers = `hw_log() { printf 'log: %s\\n' "$*"; }; hw_warn() { printf 'HOSTWRIGHT_WARNING %s\\n' "$*"; }; hw_output() { printf 'HOSTWRIGHT_OUTPUT %s=%s\\n' "$1" "$2"; }; hw_fail() { printf 'ERROR: %s\\n' "$*" >&2; exit 1; }`;
    const r = spawnSync("bash", ["--norc", "-c", `set -eu\n${helpers}\n${script}`], { input, encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin` } });
    return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const NOVA_CONF = `[DEFAULT]
# the seed's era put the flags here
block_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC
transport_url = rabbit://nova:pw@ctl

[libvirt]
virt_type = kvm
live_migration_uri = qemu+tcp://%s/system
`;

describe("nova options by release", () => {
    it.each<[string, number | undefined]>([["liberty", 12], ["Mitaka", 13], ["newton", 14], ["2023.1", 27], ["antelope", 27], ["27.1.0", 27], ["grizzly", 7], ["2042.1", undefined], ["banana", undefined], ["3", undefined]])("%s is nova %s", (release, major) => {
        expect(novaMajor(release)).toBe(major);
    });

    // release, transport, expected options after editing NOVA_CONF: section -> key -> value (undefined: absent)
    it.each<[string, "tls" | "tcp", Record<string, Record<string, string | undefined>>]>([
        ["grizzly", "tcp", {
            DEFAULT: { live_migration_flag: "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE", block_migration_flag: "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE,VIR_MIGRATE_NON_SHARED_INC", live_migration_uri: "qemu+tcp://%s/system" },
            libvirt: { live_migration_uri: undefined, live_migration_scheme: undefined },
        }],
        ["liberty", "tls", {
            DEFAULT: { block_migration_flag: undefined, live_migration_flag: undefined },
            libvirt: { live_migration_uri: "qemu+tls://%s/system", block_migration_flag: "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE,VIR_MIGRATE_NON_SHARED_INC", live_migration_tunnelled: undefined, live_migration_bandwidth: "0" },
        }],
        ["newton", "tls", {
            DEFAULT: { block_migration_flag: undefined },
            libvirt: { live_migration_uri: undefined, live_migration_flag: undefined, live_migration_scheme: "tls", live_migration_inbound_addr: "a.example.test", live_migration_tunnelled: "false", live_migration_with_native_tls: undefined, live_migration_permit_post_copy: "false" },
        }],
        ["2024.1", "tcp", {
            libvirt: { live_migration_scheme: "tcp", live_migration_with_native_tls: undefined, live_migration_tunnelled: "false", virt_type: "kvm" },
        }],
    ])("%s over %s", (release, transport, expected) => {
        const out = editIni(NOVA_CONF, novaEdits({ release }, { transport, migrationAddress: "a.example.test" }));
        const parsed = parseIni(out);
        for (const [section, keys] of Object.entries(expected)) for (const [key, value] of Object.entries(keys)) expect([section, key, parsed[section]?.[key]]).toEqual([section, key, value]);
        expect(parsed.DEFAULT.transport_url).toBe("rabbit://nova:pw@ctl");
        expect(out).toContain("# the seed's era put the flags here");
    });

    it("modern options: every declared value, native TLS, a custom port through live_migration_uri", () => {
        const edits = novaEdits(
            { release: "2024.2", permitAutoConverge: true, permitPostCopy: true, bandwidthMiBps: 500, maxDowntimeMs: 300, completionTimeoutSeconds: 600, nativeTls: true },
            { transport: "tls", migrationAddress: "10.0.0.1", customPort: 16515 },
        );
        expect(parseIni(editIni(NOVA_CONF, edits)).libvirt).toEqual({
            virt_type: "kvm",
            live_migration_uri: "qemu+tls://%s:16515/system",
            live_migration_scheme: "tls",
            live_migration_inbound_addr: "10.0.0.1",
            live_migration_tunnelled: "false",
            live_migration_permit_auto_converge: "true",
            live_migration_permit_post_copy: "true",
            live_migration_bandwidth: "500",
            live_migration_downtime: "300",
            live_migration_completion_timeout: "600",
            live_migration_with_native_tls: "true",
        });
    });
});

describe("nova's cpu_mode", () => {
    const libvirtOf = (nova: Parameters<typeof novaEdits>[0], conf = NOVA_CONF) => parseIni(editIni(conf, novaEdits(nova, { transport: "tls", migrationAddress: "a" }))).libvirt;
    it.each<[string, Parameters<typeof novaEdits>[0], Record<string, string | undefined>]>([
        ["unset: nova.conf's own setting stays", { release: "2024.1" }, { cpu_mode: "host-passthrough", cpu_model: "kvm64" }],
        ["custom models on stein and later: cpu_models, cpu_model removed", { release: "2024.1", cpuMode: "custom", cpuModels: ["Skylake-Server-IBRS", "kvm64"] }, { cpu_mode: "custom", cpu_models: "Skylake-Server-IBRS,kvm64", cpu_model: undefined }],
        ["one custom model before stein: cpu_model", { release: "rocky", cpuMode: "custom", cpuModels: ["kvm64"] }, { cpu_mode: "custom", cpu_model: "kvm64", cpu_models: undefined }],
        ["host-model: the models go", { release: "2024.1", cpuMode: "host-model" }, { cpu_mode: "host-model", cpu_model: undefined, cpu_models: undefined }],
    ])("%s", (_what, nova, expected) => {
        const conf = NOVA_CONF.replace("virt_type = kvm\n", "virt_type = kvm\ncpu_mode = host-passthrough\ncpu_model = kvm64\n");
        const libvirt = libvirtOf(nova, conf);
        for (const [key, value] of Object.entries(expected)) expect([key, libvirt[key]]).toEqual([key, value]);
    });
});

describe("renderNodeStep", () => {
    it("TLS: installs the material at libvirt's paths, keys secret and 0600, edits the daemon config per detected daemon", () => {
        const step = renderNodeStep(tlsArgs(g, { nova: { release: "2023.1" } }), 0);
        expect(step.files.map((f) => [f.path, f.mode ?? "0644", !!f.secret])).toEqual([
            [PATHS.caCert, "0644", false],
            [PATHS.serverCert, "0644", false],
            [PATHS.serverKey, "0600", true],
            [PATHS.clientCert, "0644", false],
            [PATHS.clientKey, "0600", true],
        ]);
        expect(step.edits.map((e) => e.path)).toEqual([PATHS.libvirtdConf, PATHS.virtproxydConf, "/etc/default/libvirtd", PATHS.novaConf]);
        const stock = "# libvirtd.conf\n#listen_tls = 0\nlog_level = 3\n";
        const conf = bash(`${iniEditorFunction()}\nHW_LIBVIRT_DAEMON=libvirtd\n( ${step.edits[0].filter}\n)`, {}, stock);
        expect(conf.status).toBe(0);
        expect(parseIni(conf.out)[""]).toEqual({
            log_level: "3", listen_tls: "1", listen_tcp: "0", tls_port: '"16514"', auth_tls: '"none"',
            key_file: `"${PATHS.serverKey}"`, cert_file: `"${PATHS.serverCert}"`, ca_file: `"${PATHS.caCert}"`,
        });
        // the daemon that is not in use keeps its file as it is
        expect(bash(`${iniEditorFunction()}\nHW_LIBVIRT_DAEMON=virtproxyd\n( ${step.edits[0].filter}\n)`, {}, stock).out).toBe(stock);
    });

    it.each<[string, string, string]>([
        ["legacy adds --listen", "legacy libvirtd", 'LIBVIRTD_ARGS="--listen"\n'],
        ["socket activation removes --listen (fatal there)", "socket libvirtd", 'LIBVIRTD_ARGS=""\n'],
        ["modular daemons leave the file alone", "socket virtproxyd", 'LIBVIRTD_ARGS="--listen"\n'],
    ])("daemon arguments file: %s", (_name, mode, expected) => {
        const [m, d] = mode.split(" ");
        const step = renderNodeStep(tlsArgs(g), 0);
        const sysconfig = step.edits.find((e) => e.path === "/etc/default/libvirtd")!;
        const input = m === "legacy" ? "" : 'LIBVIRTD_ARGS="--listen"\n';
        expect(bash(`${iniEditorFunction()}\nHW_LIBVIRT_MODE=${m}; HW_LIBVIRT_DAEMON=${d}\n( ${sysconfig.filter}\n)`, {}, input).out).toBe(expected);
    });

    it("RHEL reads /etc/sysconfig/libvirtd and restarts openstack-nova-compute", () => {
        const args = tlsArgs(g, { nova: { release: "liberty" } });
        args.nodes[0] = { ...args.nodes[0], host: testHost("a", { os: "rhel", init: "systemd" }) };
        const step = renderNodeStep(args, 0);
        expect(step.edits.map((e) => e.path)).toContain("/etc/sysconfig/libvirtd");
        expect(step.activate).toContain("systemctl restart openstack-nova-compute");
        expect(step.activate).toContain("systemctl restart libvirtd");
    });

    it("a listen address binds libvirtd.conf and, under socket activation, a socket drop-in", () => {
        const args = tlsArgs(g);
        args.nodes[0] = { ...args.nodes[0], listenAddress: "192.0.2.7" };
        const step = renderNodeStep(args, 0);
        const dropIn = step.edits.find((e) => e.path === "/etc/systemd/system/libvirtd-tls.socket.d/hostwright-listen.conf")!;
        expect(bash(`HW_LIBVIRT_MODE=socket; HW_LIBVIRT_DAEMON=libvirtd\n( ${dropIn.filter}\n)`).out).toBe("# hostwright: libvirt live migration listens on 192.0.2.7:16514 only\n[Socket]\nListenStream=\nListenStream=192.0.2.7:16514\n");
        expect(bash(`HW_LIBVIRT_MODE=legacy; HW_LIBVIRT_DAEMON=libvirtd\n( ${dropIn.filter}\n)`).out).toBe("");
        const conf = bash(`${iniEditorFunction()}\nHW_LIBVIRT_DAEMON=libvirtd\n( ${step.edits[0].filter}\n)`);
        expect(parseIni(conf.out)[""].listen_addr).toBe('"192.0.2.7"');
    });

    it("TCP + SASL: sasl config, password only inside files, client auth.conf for the peers", () => {
        const password = `pa'ss $(reboot) \`id\` "x"\\`;
        const args: LiveMigrationArgs = { nodes: [{ host: testHost("a") }, { host: testHost("b") }, { host: testHost("c") }], transport: "tcp", sasl: { password, username: "migrator" } };
        const step = renderNodeStep(args, 1);
        expect(step.files.find((f) => f.path === PATHS.saslConf)!.content).toBe(`# hostwright: SASL for libvirt live migration\nmech_list: digest-md5\nsasldb_path: ${PATHS.saslDb}\n`);
        expect(step.files.find((f) => f.path === PATHS.saslPassword)).toMatchObject({ content: password, mode: "0600", secret: true });
        const auth = step.files.find((f) => f.path === PATHS.clientAuth)!;
        expect(auth).toMatchObject({ mode: "0640", secret: true });
        expect(auth.content).toContain("[auth-libvirt-a.example.test]\ncredentials=hostwright-migration");
        expect(auth.content).toContain("[auth-libvirt-c.example.test]");
        expect(auth.content).not.toContain("auth-libvirt-b.example.test");
        expect(auth.content).toContain(`password=pa'ss $(reboot) \`id\` "x"\\\\\n`);
        const scripts = renderStep({ key: "k", ...asSpec(step) });
        // outside the here-documents the password never appears
        const outsideHeredocs = scripts.create.replace(/<<'(HOSTWRIGHT_EOF_[0-9a-f]+_*)'\n[\s\S]*?\n\1/g, "");
        expect(outsideHeredocs).not.toContain("reboot");
        expect(scripts.delete).not.toContain("reboot");
        expect(step.activate).toContain(`saslpasswd2 -p -a libvirt -f ${PATHS.saslDb} -c migrator < ${PATHS.saslPassword}`);
    });

    it("GKeyFile escaping of the client credentials", () => {
        expect(clientAuthConf("u", " lead\\tab\t", [])).toContain("password=\\slead\\\\tab\\t\n");
    });

    it("transport ssh touches no libvirt file and restarts nothing", () => {
        const step = renderNodeStep({ nodes: [{ host: testHost("a") }, { host: testHost("b") }], transport: "ssh", nova: { release: "zed" } }, 0);
        expect(step.files).toEqual([]);
        expect(step.edits.map((e) => e.path)).toEqual([PATHS.novaConf]);
        expect(step.activate).not.toContain("restart libvirtd");
        expect(step.reactivate).toBeUndefined();
    });

    it("the rendered step is a valid core step for every transport", () => {
        for (const args of [tlsArgs(g, { nova: { release: "epoxy", nativeTls: true } }), { nodes: [{ host: testHost("a") }, { host: testHost("b") }], transport: "tcp" as const, auth: "none" as const, allowUnauthenticatedTcp: true }]) {
            const scripts = renderStep({ key: "k", ...asSpec(renderNodeStep(args, 0)) });
            expect(spawnSync("bash", ["-n"], { input: scripts.create }).status).toBe(0);
            expect(spawnSync("bash", ["-n"], { input: scripts.delete }).status).toBe(0);
        }
    });
});

describe("host-side detection and reports (run with fake programs)", () => {
    const systemctl = (units: string[], enabled: string[]) =>
        `case "$1" in cat) for u in ${units.join(" ")}; do [ "$u" = "$2" ] && exit 0; done; exit 1;; is-enabled) [ "$2" = --quiet ] && shift; for u in ${enabled.join(" ")}; do [ "$u" = "$2" ] && exit 0; done; exit 1;; is-active) exit 1;; esac`;
    it.each<[string, string | undefined, Record<string, string>, string]>([
        ["no systemd: legacy libvirtd", undefined, {}, "libvirtd legacy"],
        ["systemd without socket units (libvirt < 5.6): legacy", "sd", { systemctl: systemctl(["libvirtd.service"], ["libvirtd.service"]) }, "libvirtd legacy"],
        ["libvirt >= 5.6: socket activation", "sd", { systemctl: systemctl(["libvirtd.service", "libvirtd-tls.socket"], ["libvirtd.service"]) }, "libvirtd socket"],
        ["modular daemons in use: virtproxyd sockets", "sd", { systemctl: systemctl(["libvirtd.service", "libvirtd-tls.socket", "virtproxyd-tls.socket"], ["virtqemud.socket"]) }, "virtproxyd socket"],
    ])("%s", (_name, systemdDir, fakes, expected) => {
        const dir = systemdDir ? join(scratch, systemdDir) : join(scratch, "absent");
        if (systemdDir) mkdirSync(dir);
        const r = bash(`${libvirtFunctions()}\nhw_libvirt_detect ${dir}\necho "$HW_LIBVIRT_DAEMON $HW_LIBVIRT_MODE $HW_LIBVIRT_VERSION"`, { libvirtd: 'echo "libvirtd (libvirt) 9.0.0"', virtproxyd: 'echo "virtproxyd (libvirt) 9.0.0"', ...fakes });
        expect(r.out.trim()).toBe(`${expected} 9.0.0`);
    });

    it.each<[string, string, string | undefined, string]>([
        ["CentOS qemu-kvm 1.5.3 cannot block-migrate", "QEMU emulator version 1.5.3 (qemu-kvm-1.5.3-105.el7)", 'case "$2" in qemu-kvm) exit 0;; *) exit 1;; esac', "install qemu-kvm-ev"],
        ["qemu-kvm-ev is fine", "QEMU emulator version 2.12.0 (qemu-kvm-ev-2.12.0-44.1.el7)", 'case "$2" in qemu-kvm|qemu-kvm-ev) exit 0;; *) exit 1;; esac', ""],
        ["Debian's QEMU is fine", "QEMU emulator version 7.2.11 (Debian 1:7.2+dfsg-7+deb12u7)", undefined, ""],
        ["QEMU older than NBD", "QEMU emulator version 1.1.2", undefined, "older than 1.3"],
    ])("%s", (_name, version, rpm, warning) => {
        const qemu = join(scratch, "qemu-kvm");
        writeFileSync(qemu, `#!/bin/sh\necho '${version}'\n`);
        chmodSync(qemu, 0o755);
        const r = bash(`${libvirtFunctions()}\nhw_qemu_report /nonexistent ${qemu}`, rpm ? { rpm } : {});
        expect(r.out).toContain(`HOSTWRIGHT_OUTPUT qemu=${qemu} ${version.split(" ")[3]}`);
        if (warning) expect(r.out).toContain(warning);
        else expect(r.out).not.toContain("HOSTWRIGHT_WARNING");
    });

    it("socket activation: enables the TLS socket around a stopped service; destroy disables only what it enabled", () => {
        const state = join(scratch, "state");
        mkdirSync(state);
        writeFileSync(join(state, "enabled"), "libvirtd.socket\nlibvirtd-ro.socket\nlibvirtd-admin.socket\n");
        writeFileSync(join(state, "active"), "libvirtd.service\n");
        const systemctl = `echo "$*" >> ${state}/calls
case "$1" in
  is-enabled) grep -qx "$3" ${state}/enabled ;;
  is-active) grep -qx "$3" ${state}/active ;;
  enable) shift; for u; do echo "$u" >> ${state}/enabled; done ;;
  disable) shift 2; for u; do grep -vx "$u" ${state}/enabled > ${state}/e; mv ${state}/e ${state}/enabled; done ;;
esac`;
        const step = renderNodeStep(tlsArgs(g), 0);
        const env = `${libvirtFunctions()}\nHW_STATE=${state}; HW_LIBVIRT_MODE=socket; HW_LIBVIRT_DAEMON=libvirtd; HW_LIBVIRT_UNITS="libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket"\nhw_changed() { false; }\n`;
        const up = bash(`${env}${step.activate}`, { systemctl, pidof: "exit 1" });
        expect(up).toEqual({ status: 0, out: expect.anything(), err: "" });
        const calls = () => require("fs").readFileSync(join(state, "calls"), "utf8").split("\n").filter((l: string) => !/^is-/.test(l) && l);
        expect(calls()).toEqual([
            "daemon-reload",
            "stop libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd-tls.socket",
            "enable libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd-tls.socket",
            "start libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket libvirtd-tls.socket",
            "start libvirtd.service",
        ]);
        expect(require("fs").readFileSync(join(state, "libvirt-service-state"), "utf8")).toBe(
            "daemon=libvirtd\nmode=socket\nrunning=0\nservice_active=1\nenabled libvirtd.socket\nenabled libvirtd-ro.socket\nenabled libvirtd-admin.socket\ndisabled libvirtd-tls.socket\n",
        );
        // applied again with nothing changed: nothing is stopped or restarted
        writeFileSync(join(state, "calls"), "");
        bash(`${env}${step.activate}`, { systemctl, pidof: "exit 1" });
        expect(calls()).toEqual(["daemon-reload"]);
        writeFileSync(join(state, "calls"), "");
        const down = bash(`HW_STATE=${state}\n${step.undo}\n${step.afterRestore}`, { systemctl, pidof: "exit 1", libvirtd: "echo 'libvirtd (libvirt) 9.0.0'" });
        expect(down.status).toBe(0);
        expect(calls()).toEqual(["disable --now libvirtd-tls.socket", "daemon-reload", "restart libvirtd.service"]);
    });

    it("no QEMU at all is a warning", () => {
        expect(bash(`${libvirtFunctions()}\nhw_qemu_report /nonexistent`).out).toContain("HOSTWRIGHT_WARNING no QEMU binary found");
    });

    it("the peer check names the node and each peer it cannot open, with the error", () => {
        const args: LiveMigrationArgs = { nodes: ["a", "b", "c"].map((n) => ({ host: testHost(n) })), transport: "tcp", sasl: { password: "long enough" } };
        const check = renderPeerCheck(args, 0);
        const virsh = `case "$2" in *b.example.test*) echo "qemu+tcp://b.example.test/system";; *) echo "error: authentication failed: wrong password" >&2; exit 1;; esac`;
        const r = bash(`${check.activate.replace("sleep 2", ":")}`, { virsh, timeout: 'shift; exec "$@"' });
        expect(r.status).toBe(1);
        expect(r.out).toContain("HOSTWRIGHT_OUTPUT peer.b=ok");
        expect(r.out).toContain("HOSTWRIGHT_OUTPUT peer.c=failed: error: authentication failed: wrong password");
        expect(r.err).toContain("ERROR: node a cannot open its peers with the URI nova uses; qemu+tcp://c.example.test/system: error: authentication failed: wrong password");
    });

    it("the peer check opens every peer at once and reports them in peer order, each failure in the one error", () => {
        const nodes = ["a", "b", "c", "d", "e"];
        const args: LiveMigrationArgs = { nodes: nodes.map((n) => ({ host: testHost(n) })), transport: "tcp", sasl: { password: "long enough" } };
        const check = renderPeerCheck(args, 0);
        // Each peer's "virsh uri" waits until all four have started: checked one after
        // another, the first would give up and every peer would fail.
        const started = join(scratch, "started");
        mkdirSync(started);
        const virsh = `case "$3" in
  uri) peer=\${2#qemu+tcp://}; peer=\${peer%%.*}; : > ${started}/$peer
       i=0; while [ "$(ls ${started} | wc -l)" -lt 4 ]; do i=$((i + 1)); [ $i -lt 100 ] || { echo "error: $peer alone" >&2; exit 1; }; sleep 0.05; done
       case $peer in d) echo "error: refused by d" >&2; exit 1;; esac
       echo "$2";;
  *) printf '<host><uuid>%s</uuid></host>' "$2";;
esac`;
        const r = bash(check.activate.replace("sleep 2", ":"), { virsh, timeout: 'shift; exec "$@"' });
        expect(r.status).toBe(1);
        const peerLines = r.out.split("\n").filter((l) => l.startsWith("HOSTWRIGHT_OUTPUT peer."));
        expect(peerLines).toEqual(["HOSTWRIGHT_OUTPUT peer.b=ok", "HOSTWRIGHT_OUTPUT peer.c=ok", "HOSTWRIGHT_OUTPUT peer.d=failed: error: refused by d", "HOSTWRIGHT_OUTPUT peer.e=ok"]);
        expect(r.err).toContain("ERROR: node a cannot open its peers with the URI nova uses; qemu+tcp://d.example.test/system: error: refused by d");
        expect(r.err).not.toContain("alone");
    });

    it("the peer check compares the host UUID each peer serves with its own and refuses a duplicate naming both nodes", () => {
        const args: LiveMigrationArgs = { nodes: ["a", "b", "c"].map((n) => ({ host: testHost(n) })), transport: "tcp", sasl: { password: "long enough" } };
        const check = renderPeerCheck(args, 0);
        // a and c were cloned: both serve one UUID; b has its own
        const virsh = `case "$2 $3" in
  *b.example.test*capabilities) printf '<capabilities>\\n<host>\\n<uuid>2be258c5-e2e5-4e64-8731-cb5fe78b9fc0</uuid>\\n</host>\\n</capabilities>\\n';;
  *capabilities) printf '<capabilities>\\n<host>\\n<uuid>0be258c5-e2e5-4e64-8731-cb5fe78b9fc0</uuid>\\n</host>\\n</capabilities>\\n';;
  *) echo "$2";;
esac`;
        const r = bash(check.activate, { virsh, timeout: 'shift; exec "$@"' });
        expect(r.status).toBe(1);
        expect(r.out).toContain("HOSTWRIGHT_OUTPUT uuid.b=2be258c5-e2e5-4e64-8731-cb5fe78b9fc0");
        expect(r.out).toContain("HOSTWRIGHT_OUTPUT uuid.c=same as a: 0be258c5-e2e5-4e64-8731-cb5fe78b9fc0");
        expect(r.err).toContain("ERROR: duplicate host UUID in the migration group; nodes a and c have the same host UUID 0be258c5-e2e5-4e64-8731-cb5fe78b9fc0 (cloned images?): a migration between them fails with 'Attempt to migrate guest to the same host'; set hostUuid on one of them");
    });

    it.each<[string, "tls" | "tcp" | "ssh", number | undefined, string]>([
        ["tls", "tls", undefined, "qemu+tls://h/system"],
        ["tls on another port", "tls", 16600, "qemu+tls://h:16600/system"],
        ["tcp default port", "tcp", 16509, "qemu+tcp://h/system"],
        ["ssh, as nova's live_migration_scheme builds it", "ssh", undefined, "qemu+ssh://h/system"],
    ])("URI: %s", (_name, transport, port, uri) => {
        expect(libvirtUri(transport, "h", port)).toBe(uri);
        expect(libvirtUri("tls", "2001:db8::1")).toBe("qemu+tls://[2001:db8::1]/system");
    });
});
