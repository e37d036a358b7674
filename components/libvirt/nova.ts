/**
 * Which nova.conf options make live migration work, by nova release. Pure.
 *
 * Up to mitaka nova reads the migration flags; the default flags contain
 * VIR_MIGRATE_TUNNELLED, which breaks QEMU's NBD block copy (the seed's fix:
 * flags without it). Before havana they live in [DEFAULT]; from havana in
 * [libvirt] (havana still read [DEFAULT] as a deprecated group, liberty no longer
 * does, so the seed's `crudini --set ... DEFAULT block_migration_flag` is a no-op
 * there). From newton the flags are gone and `[libvirt] live_migration_*` options
 * say the same thing.
 */
import type { IniEdit } from "./ini";
import type { MigrationTransport, NovaMigrationOptions } from "./args";

/** Release names in order; a release's nova major version is its index + 5 (essex = 2012.1 = 5 ... liberty = 12). */
const RELEASES = [
    "essex", "folsom", "grizzly", "havana", "icehouse", "juno", "kilo", "liberty", "mitaka", "newton", "ocata", "pike", "queens", "rocky",
    "stein", "train", "ussuri", "victoria", "wallaby", "xena", "yoga", "zed", "antelope", "bobcat", "caracal", "dalmatian", "epoxy", "flamingo", "gazpacho",
];
const YEAR_RELEASES: Record<string, string> = { "2023.1": "antelope", "2023.2": "bobcat", "2024.1": "caracal", "2024.2": "dalmatian", "2025.1": "epoxy", "2025.2": "flamingo", "2026.1": "gazpacho" };
const FIRST_MAJOR = 5;

export const HAVANA = 8;
export const NEWTON = 14;
export const STEIN = 19;

/** nova major version of a release name, year release or major version; undefined when unknown. */
export function novaMajor(release: string): number | undefined {
    const r = release.trim().toLowerCase();
    const byName = RELEASES.indexOf(YEAR_RELEASES[r] ?? r);
    if (byName >= 0) return byName + FIRST_MAJOR;
    const m = /^(\d+)(\.\d+){0,2}$/.exec(r);
    if (m && !YEAR_RELEASES[r] && Number(m[1]) >= FIRST_MAJOR && Number(m[1]) < FIRST_MAJOR + RELEASES.length) return Number(m[1]);
    return undefined;
}

export function releaseNames(): string {
    return `${RELEASES.join(", ")}, ${Object.keys(YEAR_RELEASES).join(", ")} or a major version ${FIRST_MAJOR}-${FIRST_MAJOR + RELEASES.length - 1}`;
}

/** Options of `NovaMigrationOptions` that only newton and later understand. */
export const NEWTON_OPTIONS = ["permitAutoConverge", "permitPostCopy", "maxDowntimeMs", "completionTimeoutSeconds", "cpuMode", "cpuModels"] as const;

const LEGACY_FLAGS = ["live_migration_flag", "block_migration_flag"];
const MODERN_KEYS = [
    "live_migration_scheme", "live_migration_inbound_addr", "live_migration_tunnelled", "live_migration_with_native_tls", "live_migration_permit_auto_converge",
    "live_migration_permit_post_copy", "live_migration_downtime", "live_migration_completion_timeout",
];

export interface NovaTarget {
    transport: MigrationTransport;
    /** This node's address as its peers dial it. */
    migrationAddress: string;
    /** The libvirt port peers dial, when it is not the transport's default. */
    customPort?: number;
}

/** The nova.conf edits for one node; the options of the other era are removed. */
export function novaEdits(nova: NovaMigrationOptions, target: NovaTarget): IniEdit[] {
    const major = novaMajor(nova.release);
    if (major === undefined) throw new Error(`unknown nova release ${nova.release}`);
    const set = (key: string, value: string): IniEdit => ({ op: "set", section: "libvirt", key, value });
    const unset = (section: string, key: string): IniEdit => ({ op: "unset", section, key });
    const uri = `qemu+${target.transport}://%s${target.customPort ? `:${target.customPort}` : ""}/system`;
    const bandwidth = String(nova.bandwidthMiBps ?? 0);

    if (major < NEWTON) {
        const section = major < HAVANA ? "DEFAULT" : "libvirt";
        const other = section === "DEFAULT" ? "libvirt" : "DEFAULT";
        const live = "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE";
        return [
            ...LEGACY_FLAGS.map((k) => unset(other, k)),
            unset(other, "live_migration_uri"),
            ...MODERN_KEYS.map((k) => unset("libvirt", k)),
            { op: "set", section, key: "live_migration_uri", value: uri },
            { op: "set", section, key: "live_migration_flag", value: live },
            { op: "set", section, key: "block_migration_flag", value: `${live},VIR_MIGRATE_NON_SHARED_INC` },
            { op: "set", section, key: "live_migration_bandwidth", value: bandwidth },
        ];
    }
    const edits: IniEdit[] = [
        ...LEGACY_FLAGS.flatMap((k) => [unset("DEFAULT", k), unset("libvirt", k)]),
        unset("DEFAULT", "live_migration_uri"),
        // live_migration_uri overrides the scheme; kept only for a non-default port, which the scheme cannot express
        target.customPort ? set("live_migration_uri", uri) : unset("libvirt", "live_migration_uri"),
        set("live_migration_scheme", target.transport),
        set("live_migration_inbound_addr", target.migrationAddress),
        set("live_migration_tunnelled", "false"),
        set("live_migration_permit_auto_converge", String(nova.permitAutoConverge ?? false)),
        set("live_migration_permit_post_copy", String(nova.permitPostCopy ?? false)),
        set("live_migration_bandwidth", bandwidth),
        nova.maxDowntimeMs === undefined ? unset("libvirt", "live_migration_downtime") : set("live_migration_downtime", String(nova.maxDowntimeMs)),
        nova.completionTimeoutSeconds === undefined ? unset("libvirt", "live_migration_completion_timeout") : set("live_migration_completion_timeout", String(nova.completionTimeoutSeconds)),
    ];
    if (major >= STEIN) edits.push(nova.nativeTls ? set("live_migration_with_native_tls", "true") : unset("libvirt", "live_migration_with_native_tls"));
    if (nova.cpuMode !== undefined) {
        // one of cpu_model (before stein) and cpu_models, and only with custom
        const models = nova.cpuMode === "custom" ? (nova.cpuModels ?? []) : [];
        edits.push(set("cpu_mode", nova.cpuMode));
        if (models.length > 0 && major >= STEIN) edits.push(set("cpu_models", models.join(",")), unset("libvirt", "cpu_model"));
        else if (models.length > 0) edits.push(set("cpu_model", models[0]), unset("libvirt", "cpu_models"));
        else edits.push(unset("libvirt", "cpu_model"), unset("libvirt", "cpu_models"));
    }
    return edits;
}
