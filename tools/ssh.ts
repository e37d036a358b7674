/**
 * OpenSSH client argv up to the remote command, for the drift check (tools/check.ts)
 * and the lab's harness: no user config, key-only, the host key pinned by a
 * known_hosts file, never prompts. One connection per call.
 */
export function sshArgv(keyFile: string, knownHosts: string, address: string, port = 22, user = "root"): string[] {
    return [
        "ssh",
        "-F", "/dev/null",
        "-i", keyFile,
        "-p", String(port),
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${knownHosts}`,
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        // What the provider's Go SSH client negotiates; also skips the slower sntrup761 hybrid.
        "-o", "KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org",
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR",
        "-l", user,
        address,
        "--",
    ];
}
