import * as yaml from "js-yaml";
import { declareStack, validateStack, RawConfig, ValidationError } from "../../core/config/stack";
import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { lxdSection } from "../../components/lxd/section";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const INVENTORY = {
    defaults: { privateKey: "ops-ssh" },
    hosts: [
        { name: "lxd1", address: "198.51.100.31", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbRAT5ssb7bYSnhhruRX0LYWDFHMxr5rTvnjbbMWDnB" },
        { name: "lxd2", address: "198.51.100.32", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINwZDh8QyFAlcsLsEi+GQpJ5s/aB0LPZtA0MGnZvSKzS" },
    ],
};
// The example section of the report, as a user writes it in Pulumi.<env>.yaml.
const EXAMPLE = `
- name: lxd
  hosts:
    - host: lxd1
    - host: lxd2
      apiAddress: 198.51.100.32
      apiPort: 8443
  trust: token
  migration: stateless
  clientConfigDir: /root/.config/lxc
  lxdDir: /var/lib/lxd
`;

function raw(section: unknown): RawConfig {
    return {
        values: { "hostwright:inventory": JSON.stringify(INVENTORY), "hostwright:secrets": JSON.stringify({ "ops-ssh": KEY }), "hostwright:lxd": JSON.stringify(section) },
        secretKeys: new Set(["hostwright:secrets"]),
    };
}
const problems = (section: unknown) => {
    try {
        validateStack(raw(section), [lxdSection]);
        return [];
    } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        return e.issues.filter((i) => i.severity !== "warning").map((i) => `${i.path}: ${i.message}`);
    }
};

describe("hostwright:lxd stack section", () => {
    it("accepts the example and declares probe/serve/remotes on both hosts (preview: outputs unknown)", async () => {
        const section = yaml.load(EXAMPLE);
        expect(problems(section)).toEqual([]);
        const r = raw(section);
        const rec = await recordProgram(() => declareStack(r, [lxdSection]));
        // the mesh's own steps (the core may declare steps of its own on the hosts)
        expect(rec.commands.map((c) => c.name).filter((n) => n.startsWith("lxd-"))).toEqual(["lxd-lxd1-probe", "lxd-lxd2-probe", "lxd-lxd1-serve", "lxd-lxd2-serve", "lxd-lxd1-remotes", "lxd-lxd2-remotes"]);
        expect(rec.commands[0].inputs.connection.host).toBe("198.51.100.31");
        const out = (rec.outputs as any).lxd.lxd;
        expect(out.matrix).toBe(UNKNOWN_PLACEHOLDER);
        expect(out.moveCommands["lxd1->lxd2"]).toBe("LXD_CONF=/root/.config/lxc lxc move lxd1:CONTAINER lxd2: --stateless");
    });

    it.each<[string, unknown, string[]]>([
        ["an unknown host", [{ name: "m", hosts: [{ host: "lxd1" }, { host: "lxd9" }] }], ['hostwright:lxd[0].hosts[1].host: host "lxd9" is not in hostwright:inventory (known hosts: lxd1, lxd2)']],
        ["a duplicate mesh", [{ name: "m", hosts: [{ host: "lxd1" }] }, { name: "m", hosts: [{ host: "lxd2" }] }], ['hostwright:lxd[1].name: duplicate mesh name "m" (also [0])']],
        ["a trust password", [{ name: "m", hosts: [{ host: "lxd1" }], trust: "password" }], ['hostwright:lxd[0].trust: must be one of "token", "certificate"']],
        ["an unknown key", [{ name: "m", hosts: [{ host: "lxd1" }], trustPassword: "x" }], [expect.stringMatching(/^hostwright:lxd\[0\]: unknown key "trustPassword"; valid keys: name, hosts, project/) as unknown as string]],
        ["component checks at config paths", [{ name: "m", hosts: [{ host: "lxd1" }, { host: "lxd2", apiAddress: "198.51.100.31" }], project: "a b" }], [
            "hostwright:lxd[0].hosts[1].apiAddress: 198.51.100.31:8443 is also the API address of lxd1; every host needs its own",
            "hostwright:lxd[0].project: \"a b\" must be an LXD project name: letters, digits, '_', '.', '-' (up to 63)",
        ]],
    ])("reports %s", (_what, section, expected) => {
        expect(problems(section)).toEqual(expected);
    });
});
