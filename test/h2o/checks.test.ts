import type { H2oReverseProxyArgs } from "../../components/h2o/args";
import { checkH2oArgs, settingsOf } from "../../components/h2o/checks";
import type { Host } from "../../core/host";
import { makeTestPki, TestPki } from "./pkiFixture";

const host: Host = { name: "web1", address: "192.0.2.10", privateKey: "unused", hostKey: "ssh-ed25519 AAAA" };
let p: TestPki;
beforeAll(() => {
    p = makeTestPki();
});
afterAll(() => p.cleanup());

function base(): H2oReverseProxyArgs {
    return {
        host,
        listeners: [{ name: "http", port: 80 }, { name: "https", port: 443, tls: { certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem } }],
        virtualHosts: [{ name: "*", paths: [{ path: "/", proxyTo: "http://10.0.0.5:9080" }] }],
    };
}

type Case = [string, (a: H2oReverseProxyArgs) => void, Array<[string, RegExp]>];
const cases: Case[] = [
    ["the seed's setup is valid", () => {}, []],
    ["no listeners, no hosts", (a) => ((a.listeners = []), (a.virtualHosts = [])), [["listeners", /at least one listener/], ["virtualHosts", /at least one virtual host/]]],
    ["bad listener name, port, address", (a) => (a.listeners[0] = { name: "Bad_Name", port: 0, address: "localhost" }), [["listeners[0].name", /lowercase/], ["listeners[0].port", /TCP port/], ["listeners[0].address", /IPv4 or IPv6/]]],
    ["two listeners on one port", (a) => a.listeners.push({ name: "again", address: "127.0.0.1", port: 80 }), [["listeners[2].port", /listener http already binds port 80/]]],
    ["same port on different addresses is fine", (a) => ((a.listeners[0].address = "127.0.0.1"), a.listeners.push({ name: "other", address: "127.0.0.2", port: 80 })), []],
    ["duplicate listener names", (a) => a.listeners.push({ name: "http", port: 8080 }), [["listeners[2].name", /duplicate listener name/]]],
    ["path without proxyTo or redirectTo, and with both", (a) => (a.virtualHosts[0].paths = [{ path: "/a" }, { path: "/b", proxyTo: "http://x", redirectTo: "https://y/" }]), [["virtualHosts[0].paths[0]", /exactly one/], ["virtualHosts[0].paths[1]", /exactly one/]]],
    ["bad URLs and paths", (a) => (a.virtualHosts[0].paths = [{ path: "a", proxyTo: "ftp://x" }, { path: "/r", redirectTo: "javascript:alert(1)" }, { path: "/s p", proxyTo: "http://h/\"" }]), [["virtualHosts[0].paths[0].path", /start with '\/'/], ["virtualHosts[0].paths[0].proxyTo", /http:\/\/ or https:\/\//], ["virtualHosts[0].paths[1].redirectTo", /http/], ["virtualHosts[0].paths[2].path", /visible ASCII/], ["virtualHosts[0].paths[2].proxyTo", /http/]]],
    ["header injection", (a) => (a.virtualHosts[0].paths[0].setRequestHeaders = { "X-A\r\nEvil": "v", "X-B": "line\nbreak" }), [["virtualHosts[0].paths[0].setRequestHeaders.X-A\r\nEvil", /header name/], ["virtualHosts[0].paths[0].setRequestHeaders.X-B", /control characters/]]],
    ["catch-all limited to listeners; two catch-alls", (a) => ((a.virtualHosts[0].listeners = ["http"]), a.virtualHosts.push({ name: "*", paths: [{ path: "/", proxyTo: "http://x" }] })), [["virtualHosts[1].name", /only one catch-all/], ["virtualHosts[0].listeners", /catch-all answers on every listener/]]],
    ["host on an unknown listener; name twice on one listener", (a) => a.virtualHosts.push({ name: "www.example.test", listeners: ["nope"], paths: [{ path: "/", proxyTo: "http://x" }] }, { name: "www.example.test", paths: [{ path: "/", proxyTo: "http://x" }] }, { name: "WWW.example.test", listeners: ["https"], paths: [{ path: "/", proxyTo: "http://x" }] }), [["virtualHosts[1].listeners[0]", /no listener named "nope"/], ["virtualHosts[3].name", /already defined by virtualHosts\[2\]/]]],
    ["a name the certificate does not cover", (a) => a.virtualHosts.push({ name: "other.test", paths: [{ path: "/", proxyTo: "http://x" }] }), [["listeners[1].tls.certificateChain", /does not cover "other.test"/]]],
    ["redirect with proxy settings", (a) => (a.virtualHosts[0].paths = [{ path: "/", redirectTo: "https://x/", preserveHost: true }]), [["virtualHosts[0].paths[0]", /only apply with 'proxyTo'/]]],
    ["hostile global paths, user and service", (a) => Object.assign(a, { pidFile: "/run/h2o.pid; rm -rf /", accessLog: "relative.log", configPath: "/etc/../etc/h2o.conf", user: "root;id", serviceName: "h2o; reboot", maxConnections: 0 }), [["pidFile", /absolute path/], ["accessLog", /absolute path/], ["configPath", /absolute path/], ["user", /POSIX user/], ["serviceName", /service name/], ["maxConnections", /whole number/]]],
    ["extra identities need h2o 2.3+", (a) => (a.listeners[1].tls!.extraIdentities = [{ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem }]), [["listeners[1].tls.extraIdentities", /h2o 2\.2 has no 'identity'/]]],
    ["extra identity with a wrong key is located", (a) => ((a.h2oVersion = "current"), (a.listeners[1].tls!.extraIdentities = [{ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.plain.keyPem }])), [["listeners[1].tls.extraIdentities[0].privateKey", /does not match/]]],
    ["trust-store verification without a root", (a) => (a.listeners[1].tls!.ocsp = { verification: "trust-store" }), [["listeners[1].tls.ocsp.rootCertificate", /is required with verification "trust-store"/]]],
    ["bad OCSP numbers", (a) => (a.listeners[1].tls!.ocsp = { updateInterval: -1, maxFailures: 0, stapleWaitSeconds: 0 }), [["listeners[1].tls.ocsp.updateInterval", /whole number/], ["listeners[1].tls.ocsp.maxFailures", /1 or more/], ["listeners[1].tls.ocsp.stapleWaitSeconds", /1 to 600/]]],
    ["cipher list with shell characters", (a) => (a.listeners[1].tls!.cipherSuite = "HIGH;$(id)"), [["listeners[1].tls.cipherSuite", /OpenSSL cipher list/]]],
    ["an unrelated CA given instead of the leaf's issuer: the missing issuer is named", (a) => (a.listeners[1].tls = { certificateChain: p.plain.certPem + p.otherInter.certPem, privateKey: p.plain.keyPem }), [["listeners[1].tls.certificateChain", /^the issuer of CN=plain\.example\.test, CN=Hostwright Test Intermediate, is not in the bundle \(#2 CN=Other Intermediate did not issue it\)/]]],
    ["chain errors are located under the listener", (a) => (a.listeners[1].tls = { certificateChain: p.expired.certPem + p.inter.certPem, privateKey: p.leaf.keyPem }), [["listeners[1].tls.certificateChain", /expired/], ["listeners[1].tls.privateKey", /does not match/]]],
];

describe.each(cases)("checkH2oArgs: %s", (_name, mutate, expected) => {
    it("reports exactly these errors, with args paths", () => {
        const a = base();
        mutate(a);
        const errors = checkH2oArgs(a).issues.filter((i) => i.severity !== "warning");
        expect(errors.map((e) => e.path).sort()).toEqual(expected.map(([path]) => path).sort());
        for (const [path, re] of expected) expect(errors.find((e) => e.path === path)!.message).toMatch(re);
    });
});

describe("checkH2oArgs decisions", () => {
    it.each([
        ["leaf with OCSP URI", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem }), "applicable", "h2o-default"],
        ["leaf with OCSP URI and a root", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem, ocsp: { rootCertificate: p.root.certPem } }), "applicable", "trust-store"],
        ["leaf without OCSP URI", () => ({ certificateChain: p.plain.certPem + p.inter.certPem, privateKey: p.plain.keyPem }), "not applicable", "h2o-default"],
        ["updateInterval 0", () => ({ certificateChain: p.leaf.certPem + p.inter.certPem, privateKey: p.leaf.keyPem, ocsp: { updateInterval: 0 } }), "disabled", "h2o-default"],
    ])("stapling for %s", (_n, tls, stapling, verification) => {
        const a = base();
        a.listeners[1].tls = tls() as any;
        const r = checkH2oArgs(a);
        expect(r.issues.filter((i) => i.severity !== "warning")).toEqual([]);
        expect(r.tls.get("https")!.stapling).toBe(stapling);
        expect(r.tls.get("https")!.verification).toBe(verification);
    });

    it("defaults depend on the OS family", () => {
        expect(settingsOf({ ...base(), host: { ...host, os: "debian" } })).toMatchObject({ user: "www-data", trustDirectory: "/etc/ssl/certs", configPath: "/etc/h2o/h2o.conf", pidFile: "/run/h2o.pid", h2oVersion: "2.2" });
        expect(settingsOf({ ...base(), host: { ...host, os: "rhel" } })).toMatchObject({ user: "nobody", trustDirectory: "/etc/pki/tls/certs" });
    });

    it("a key given as a Pulumi output is not checked here (no clear text); privateKeyText supplies it", () => {
        const a = base();
        a.listeners[1].tls!.privateKey = { notAString: true } as any;
        expect(checkH2oArgs(a).issues).toEqual([]);
        const withText = checkH2oArgs(a, { privateKeyText: () => p.plain.keyPem });
        expect(withText.issues.map((i) => i.path)).toEqual(["listeners[1].tls.privateKey"]);
    });
});
