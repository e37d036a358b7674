/**
 * A program for test/dns/inputs.test.ts, run on its own with tsx: a ResolverGuard whose
 * second name server, known only once its Output resolves, is a name. The check's
 * error rejects the Outputs built on it and ends the program, as `pulumi up` ends.
 */
import * as pulumi from "@pulumi/pulumi";
import { ResolverGuard } from "../../components/dns/component";

pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "hostwright", "inputs", false);
new ResolverGuard("bad", {
    host: { name: "edge1", address: "192.0.2.10", privateKey: pulumi.secret("SSH-KEY"), hostKey: "ssh-ed25519 AAAA", init: "sysv" },
    resolvConf: { nameservers: ["127.0.0.1", pulumi.output("dns.example.org")] },
    cache: { kind: "dnsmasq", domains: [{ domain: "twitch.tv", servers: ["208.78.70.18"] }] },
});
