/**
 * Building blocks of the stack-config schema, shared by the inventory and every
 * component section. zod was chosen because one declaration gives both the
 * TypeScript type and a validator that reports every problem at once with its path.
 */
import { isIP } from "net";
import { z } from "zod";

/** Inventory / resource names: DNS-label-like, used in resource names, remote names and file names. */
export const name = () =>
    z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'");

/** Name of an entry of the `hostwright:secrets` config map (set with `pulumi config set --secret --path 'hostwright:secrets.NAME'`). */
export const secretRef = () => z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "must name an entry of hostwright:secrets (letters, digits, '.', '_', '-')");

export const port = () => z.number().int().min(1, "must be a TCP port 1-65535").max(65535, "must be a TCP port 1-65535");

/** IPv4, IPv6 or a DNS name. */
export const address = () =>
    z.string().refine((v) => isIP(v) !== 0 || /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(v), {
        message: "must be an IPv4 or IPv6 address or a DNS name",
    });

/** An IP address only (no names), e.g. a listen address. */
export const ipAddress = () => z.string().refine((v) => isIP(v) !== 0, { message: "must be an IPv4 or IPv6 address" });

export const absolutePath = () =>
    z.string().regex(/^\/[^\0]*$/, "must be an absolute path").refine((p) => !p.split("/").includes(".."), { message: "must not contain '..'" });

/** A PEM block (or several) of the given label, e.g. "CERTIFICATE". */
export const pem = (label: string) => z.string().refine((v) => v.includes(`-----BEGIN ${label}-----`), { message: `must be PEM text with a '-----BEGIN ${label}-----' block` });

/** An OpenSSH public key line as in known_hosts / ssh-keyscan output, without the host name. */
export const sshPublicKey = () =>
    z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/, "must be an SSH public host key such as 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 HOST)");

export const inventoryHost = z.strictObject({
    name: name(),
    address: address(),
    sshPort: port().optional(),
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name").optional(),
    privateKey: secretRef().optional(),
    hostKey: sshPublicKey(),
    os: z.enum(["debian", "rhel"]).optional(),
    init: z.enum(["systemd", "sysv"]).optional(),
    labels: z.record(z.string().regex(/^[A-Za-z0-9._/-]{1,63}$/, "label keys are 1-63 letters, digits, '.', '_', '/', '-'"), z.string()).optional(),
});

export const inventory = z.strictObject({
    /** Values every host gets unless it sets its own. */
    defaults: z
        .strictObject({
            sshPort: port().optional(),
            user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name").optional(),
            privateKey: secretRef().optional(),
            os: z.enum(["debian", "rhel"]).optional(),
            init: z.enum(["systemd", "sysv"]).optional(),
        })
        .optional(),
    hosts: z.array(inventoryHost).min(1, "the inventory needs at least one host"),
});

export type InventoryHost = z.infer<typeof inventoryHost>;
export type Inventory = z.infer<typeof inventory>;
