import { recordProgram, UNKNOWN_PLACEHOLDER } from "../../tools/record";
import { ValidationError } from "../../core/errors";
import { LxdRemoteMesh } from "../../components/lxd/component";
import type { LxdRemoteMeshArgs } from "../../components/lxd/args";
import { args, meshSteps, NAMES, state, TOKEN } from "./meshFixture";

const program = (a: LxdRemoteMeshArgs = args()) => () => {
    const mesh = new LxdRemoteMesh("mesh", a);
    return { readiness: mesh.readiness, matrix: mesh.matrix, instances: mesh.instances, errors: mesh.preflightErrors, moves: mesh.moveCommands, warnings: mesh.warnings };
};

describe("LxdRemoteMesh under Pulumi mocks", () => {
    it("token trust: declares probe, serve and remotes per host, ordered across hosts, with later steps waiting for earlier output", async () => {
        const rec = await recordProgram(program(args({ trust: "token" })));
        expect(meshSteps(rec)).toEqual(["probe", "serve", "remotes"].flatMap((s) => NAMES.map((n) => `mesh-${n}-${s}`)));
        const byName = new Map(rec.commands.map((c) => [c.name, c]));
        const urns = (step: string) => NAMES.map((n) => byName.get(`mesh-${n}-${step}`)!.urn);
        expect(byName.get("mesh-h2-serve")!.dependsOn).toEqual(expect.arrayContaining(urns("probe")));
        expect(byName.get("mesh-h2-remotes")!.dependsOn).toEqual(expect.arrayContaining(urns("serve")));
        expect(byName.get("mesh-h1-probe")!.inputs.stdin).toContain("LXD_CONF=/root/.config/lxc");
        for (const step of ["serve", "remotes"]) expect(byName.get(`mesh-h1-${step}`)!.inputs.stdin ?? UNKNOWN_PLACEHOLDER).toBe(UNKNOWN_PLACEHOLDER);
        expect(byName.get("mesh-h1-serve")!.inputs.logging).toBe("none");
        expect(rec.outputs.moves).toMatchObject({ "h1->h2": "LXD_CONF=/root/.config/lxc lxc move h1:CONTAINER h2: --stateless" });
    });

    it("lets differing LXD versions apply and marks only the newer-to-older directions in the matrix, with the workaround", async () => {
        const rec = await recordProgram(program(), { preview: false, commandState: state("remotes", { h2: "5.0.3" }) });
        for (const n of NAMES) expect(rec.commands.find((c) => c.name === `mesh-${n}-serve`)!.inputs.stdin).not.toContain("hw_fail 'the LXD mesh");
        expect(rec.outputs.errors).toEqual([]);
        const matrix = rec.outputs.matrix as any;
        expect(matrix.h1.h2).toMatchObject({ connected: true, versionOk: true, stateless: true });
        expect(matrix.h2.h1).toMatchObject({ connected: true, versionOk: false, stateless: false, stateful: false, vmLive: false });
        expect(matrix.h2.h3.reasons[0]).toMatch(/^h2 runs LXD 5\.0\.3, newer than h3 \(5\.0\.2\).*Bad key: volatile\.idmap\.base.*Workaround: upgrade h3 to 5\.0\.3 or newer/);
        expect(rec.outputs.warnings).toEqual(expect.arrayContaining(["moves h2 -> h1 will fail: LXD 5.0.3 -> 5.0.2 is newer to older; see the matrix output for the workaround"]));
    });

    it("reports per instance what each target lacks", async () => {
        const rec = await recordProgram(program(args({ instances: ["web", "ghost"] })), { preview: false, commandState: state("remotes") });
        const instances = rec.outputs.instances as any;
        expect(instances.h1.h2.web).toMatchObject({ type: "container", running: false, missing: ["profile web", "storage pool fast"], ready: false, live: false });
        expect(instances.h1.h2.web.reasons[0]).toBe("h2 has no profile web, storage pool fast (create them on h2 first, same name)");
        expect(instances.h2.h1).toEqual({});
        expect(rec.outputs.warnings).toEqual(expect.arrayContaining(["web cannot move h1 -> h3: h3 has no profile web, storage pool fast", "instances[1]: ghost is on no host of the mesh (project's instances listed by each probe)"]));
    });

    it("token trust: carries each token only to its source, as a secret, and reports the verified matrix", async () => {
        const rec = await recordProgram(program(args({ trust: "token" })), { preview: false, commandState: state("remotes", {}, "token") });
        const remotes = rec.commands.find((c) => c.name === "mesh-h2-remotes")!;
        expect(remotes.secretInputs).toContain("stdin");
        for (const t of NAMES) expect(remotes.inputs.stdin).toContain(TOKEN(t, "h2"));
        expect(remotes.inputs.stdin).not.toContain(TOKEN("h1", "h3"));
        // the undo script is a command line: never a token in it
        for (const c of rec.commands) expect(String(c.inputs.delete)).not.toMatch(/eyJ/);
        expect(rec.commands.find((c) => c.name === "mesh-h1-serve")!.inputs.stdin).not.toContain("hw_fail 'the LXD mesh");
        const matrix = rec.outputs.matrix as any;
        expect(matrix.h1.h2).toMatchObject({ connected: true, versionOk: true, stateless: true, stateful: false, vmLive: false });
        expect(matrix.h1.h2.reasons).toEqual([
            "stateful: h1: CRIU is not installed (stateful moves checkpoint the container with criu)",
            "stateful: h2: CRIU is not installed (stateful moves checkpoint the container with criu)",
            "vmLive: h1: LXD reports no qemu driver (environment.driver: lxc): virtual machines cannot run here (KVM and QEMU needed)",
            "vmLive: h2: LXD reports no qemu driver (environment.driver: lxc): virtual machines cannot run here (KVM and QEMU needed)",
        ]);
        expect(matrix.h3.h3.connected).toBe(true);
        expect((rec.outputs.readiness as any).h1.stateful.reasons).toEqual(["CRIU is not installed (stateful moves checkpoint the container with criu)"]);
        expect(rec.outputs.warnings).toEqual([expect.stringMatching(/stateful \(live\) moves are not ready on h1, h2, h3/), "web cannot move h1 -> h2: h2 has no profile web, storage pool fast", "web cannot move h1 -> h3: h3 has no profile web, storage pool fast"]);
    });

    it("certificate trust (the default): three steps per host, the serve step trusts the certificates the probes reported, nothing secret, no token", async () => {
        const rec = await recordProgram(program(), { preview: false, commandState: state("remotes") });
        expect(meshSteps(rec)).toEqual(["probe", "serve", "remotes"].flatMap((s) => NAMES.map((n) => `mesh-${n}-${s}`)));
        const serve = rec.commands.find((c) => c.name === "mesh-h1-serve")!;
        expect(serve.inputs.logging).toBeUndefined();
        expect(serve.inputs.stdin).toContain("hw_trust_add h2 hostwright-h2");
        // the host's own certificate, made by its probe, is the one it installs
        expect(serve.inputs.stdin).toContain("/var/lib/hostwright/steps/mesh-h1-probe.owned/client.crt");
        const remotes = rec.commands.find((c) => c.name === "mesh-h1-remotes")!;
        expect(remotes.inputs.stdin).not.toContain("eyJ");
        expect(remotes.inputs.stdin).toContain('hw_queue -g -k --max-time 10 --pinnedpubkey "sha256//$3"');
        expect((rec.outputs.matrix as any).h1.h3.connected).toBe(true);
    });

    it("certificate trust: the remotes wait only for the serve steps, not for their output (the mesh takes two rounds after the probes' one)", async () => {
        const rec = await recordProgram(program(), { preview: true, commandState: state("probe") });
        const byName = new Map(rec.commands.map((c) => [c.name, c]));
        expect(byName.get("mesh-h1-remotes")!.inputs.stdin).not.toBe(UNKNOWN_PLACEHOLDER);
        expect(byName.get("mesh-h1-remotes")!.dependsOn).toEqual(expect.arrayContaining(NAMES.map((n) => byName.get(`mesh-${n}-serve`)!.urn)));
    });

    it("a failed pre-flight: every serve and remotes step stops with every problem", async () => {
        const rec = await recordProgram(program(), { preview: true, commandState: (type, name) => (/-probe$/.test(name) && name !== "mesh-h2-probe" ? state("probe")(type, name) : /-probe$/.test(name) ? { stdout: "hostwright[x]: probe\n", stderr: "" } : undefined) });
        for (const c of rec.commands.filter((x) => /^mesh-.*-(serve|remotes)$/.test(x.name))) expect(`${c.name}: ${c.inputs.stdin}`).toMatch(/the LXD mesh pre-flight failed, nothing was changed:\n- h2: /);
    });

    it("throws one ValidationError before declaring anything", async () => {
        const bad = args({ project: "x y" });
        bad.members[1].host = { ...bad.members[1].host, name: "local" };
        const err = await recordProgram(program(bad)).catch((e) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect(err.message).toMatch(/2 problems in the LxdRemoteMesh mesh:\n  - members\[1\]\.host\.name: "local" is a remote name lxc reserves.*\n  - project:/);
    });
});
