/**
 * What an h2o proxy needs around it on lab hosts, and how a client sees it: an HTTP
 * backend that echoes what it received, a real `openssl ocsp` responder, and the
 * client-side checks (curl through the proxy, `openssl s_client -status`), all run
 * from the lab switch (outside the proxy host). Used by the lab demo (test/lab/demo.ts).
 */
import { sh } from "../../core/shell";
import type { CertificateAuthority } from "../../tools/pki";
import type { Lab, LabHost } from "../lab/lab";

/** What {@link echoBackendScript} answers: the request as the backend received it. */
export interface BackendEcho {
    host: string;
    path: string;
    /** Request headers, names lower-case. */
    headers: Record<string, string>;
}

/** A Python backend that answers every GET on each port with a JSON {@link BackendEcho}. */
export function echoBackendScript(ports: number[]): string {
    return `
import http.server, json, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (json.dumps({"host": self.headers.get("Host"), "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\\n").encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
servers = [http.server.ThreadingHTTPServer(("0.0.0.0", p), H) for p in ${JSON.stringify(ports)}]
for s in servers[1:]: threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
`;
}

async function must(host: LabHost, cmd: string, input?: string): Promise<string> {
    const r = await host.exec(cmd, { input, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${host.name}: ${cmd.split("\n")[0]} -> exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
}

/** Starts the echo backend on `host`, listening on every port; resolves once each answers. */
export async function startEchoBackend(lab: Lab, host: LabHost, ports: number[]): Promise<void> {
    await must(host, "cat > /root/echo-backend.py", echoBackendScript(ports));
    await must(host, "setsid python3 /root/echo-backend.py >/root/echo-backend.log 2>&1 </dev/null &");
    for (const port of ports) {
        const up = await lab.runOnSwitch(["curl", "-sS", "--retry", "30", "--retry-connrefused", "--retry-delay", "0", "--max-time", "10", `http://${host.address}:${port}/ready`], { timeoutMs: 30_000 });
        if (up.code !== 0) throw new Error(`echo backend on ${host.name}:${port} did not start: ${up.stderr} ${(await host.exec("cat /root/echo-backend.log")).stdout}`);
    }
}

/**
 * Runs an `openssl ocsp` responder on `host` answering for the certificates `ca`
 * issued (from its index.txt), signed by the CA itself, on `port` (every address).
 */
export async function startOcspResponder(host: LabHost, ca: CertificateAuthority, port: number, dir = "/srv/ocsp"): Promise<void> {
    const fs = await import("fs");
    await must(host, sh`mkdir -p ${dir}`);
    const files: Array<[string, string]> = [
        ["index.txt", fs.readFileSync(ca.indexPath, "utf8")],
        ["index.txt.attr", "unique_subject = no\n"],
        ["ca.pem", ca.certPem],
        ["ca.key", ca.keyPem],
    ];
    for (const [file, content] of files) await must(host, sh`umask 077; cat > ${`${dir}/${file}`}`, content);
    await must(host, sh`cd ${dir} && setsid openssl ocsp -index index.txt -port ${String(port)} -CA ca.pem -rsigner ca.pem -rkey ca.key -ignore_err -nmin 60 >${`${dir}/log`} 2>&1 </dev/null &
for i in $(seq 50); do ss -Hltn ${`sport = :${port}`} | grep -q . && exit 0; sleep 0.1; done; echo "responder did not listen" >&2; exit 1`);
}

/** `curl` from the lab switch, `name:port` resolved to `address`. Output: body, or `CODE LOCATION` with `redirect`. */
export async function curlVia(lab: Lab, address: string, url: string, opts: { caFile?: string; certStatus?: boolean; redirect?: boolean } = {}): Promise<{ code: number; out: string }> {
    const u = new URL(url);
    const port = u.port || (u.protocol === "https:" ? "443" : "80");
    const argv = ["curl", "-sS", "--max-time", "10", "--resolve", `${u.hostname}:${port}:${address}`];
    if (opts.caFile) argv.push("--cacert", opts.caFile);
    if (opts.certStatus) argv.push("--cert-status");
    if (opts.redirect) argv.push("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}");
    const r = await lab.runOnSwitch([...argv, url], { timeoutMs: 20_000 });
    return { code: r.code, out: r.code === 0 ? r.stdout : `${r.stdout}${r.stderr}`.trim() };
}

/** What `openssl s_client -status` prints about the staple: "Cert Status: good", "no response sent", ... */
export async function stapleSeen(lab: Lab, address: string, port: number, serverName: string): Promise<string> {
    const r = await lab.runOnSwitch(["bash", "-c", sh`openssl s_client -connect ${`${address}:${port}`} -servername ${serverName} -status </dev/null 2>&1`], { timeoutMs: 20_000 });
    const status = /Cert Status: \S+/.exec(r.stdout)?.[0];
    if (status) return status;
    if (r.stdout.includes("OCSP response: no response sent")) return "no response sent";
    return `no staple information (${r.stdout.trim().split("\n").slice(-2).join(" | ")})`;
}
