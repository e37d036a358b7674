import { remote } from "@pulumi/command";
import { z } from "zod";
import { StackSection } from "../../core/config/sections";
import { declareStack, RawConfig } from "../../core/config/stack";
import { name } from "../../core/config/schema";
import { ValidationError } from "../../core/errors";
import { recordProgram } from "../../tools/record";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTestsOnly000000000000000000000000";

/** In order: `declare <entry>` when the section declares an entry, `register <resource>` when the (mock) engine receives a resource. */
let events: string[] = [];

const noteSection: StackSection<{ name: string; host: string }> = {
    key: "note",
    title: "one command per entry",
    schema: z.array(z.strictObject({ name: name(), host: name() })),
    check: () => [],
    declare(entry, ctx) {
        events.push(`declare ${entry.name}`);
        const host = ctx.hosts.get(entry.host)!;
        const c = new remote.Command(`${entry.name}-note`, { connection: { host: host.address, privateKey: host.privateKey }, create: "true" });
        return { host: entry.host, id: c.id };
    },
};

function raw(entries: unknown): RawConfig {
    const config = {
        "hostwright:inventory": { defaults: { privateKey: "ops-ssh", user: "root" }, hosts: [{ name: "proxy1", address: "198.51.100.10", hostKey: HOSTKEY, os: "debian", init: "systemd" }] },
        "hostwright:secrets": { "ops-ssh": KEY },
        "hostwright:note": entries,
    };
    return { values: Object.fromEntries(Object.entries(config).map(([k, v]) => [k, JSON.stringify(v)])), secretKeys: new Set(["hostwright:secrets"]) };
}

describe("declareStack", () => {
    beforeEach(() => (events = []));

    it("lets Pulumi register each entry's resources before declaring the next entry", async () => {
        const entries = [{ name: "a", host: "proxy1" }, { name: "b", host: "proxy1" }, { name: "c", host: "proxy1" }];
        // The mock answers a registration when the engine would: note when that happens.
        const commandState = (_type: string, resourceName: string) => void events.push(`register ${resourceName}`);
        const recording = await recordProgram(() => declareStack(raw(entries), [noteSection]), { preview: false, commandState });
        expect(events).toEqual(["declare a", "register a-note", "declare b", "register b-note", "declare c", "register c-note"]);
        expect(recording.outputs).toMatchObject({ hosts: { proxy1: "198.51.100.10:22" }, note: { a: { host: "proxy1", id: "a-note-id" }, c: { id: "c-note-id" } } });
    });

    it("rejects a config error before declaring anything", async () => {
        const attempt = recordProgram(() => declareStack(raw([{ name: "a", host: "proxy1" }, { name: "Bad", host: "proxy1" }]), [noteSection]));
        await expect(attempt).rejects.toThrow(ValidationError);
        await expect(attempt).rejects.toThrow(/hostwright:note\[1\]\.name/);
        expect(events).toEqual([]);
    });
});
