/**
 * Building blocks of the stack-config schema, shared by the inventory and every
 * component section. zod was chosen because one declaration gives both the
 * TypeScript type and a validator that reports every problem at once with its path.
 */
import { isIP } from "net";
import { z } from "zod";
import { sshHostKeyProblem } from "./sshKey";
import { pathLengthProblem } from "./text";

/**
 * Schemas whose strings are text blocks (PEM): they may hold TAB and line breaks.
 * Every other string in the stack config is one line (see `textKindAt`).
 */
export const textBlocks = new WeakSet<z.ZodType>();

/** Inventory / resource names: DNS-label-like, used in resource names, remote names and file names. */
export const name = () =>
    z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'");

/** Schemas of fields that name a secret: a check reported there needs the secret's value. */
export const secretRefs = new WeakSet<z.ZodType>();

/** Name of an entry of the `hostwright:secrets` config map (set with `pulumi config set --secret --path 'hostwright:secrets.NAME'`). */
export const secretRef = () => {
    const schema = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "must name an entry of hostwright:secrets (letters, digits, '.', '_', '-')");
    secretRefs.add(schema);
    return schema;
};

export const port = () => z.number().int().min(1, "must be a TCP port 1-65535").max(65535, "must be a TCP port 1-65535");

/** IPv4, IPv6 or a DNS name. */
export const address = () =>
    z.string().refine((v) => isIP(v) !== 0 || /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(v), {
        message: "must be an IPv4 or IPv6 address or a DNS name",
    });

/** An IP address only (no names), e.g. a listen address. */
export const ipAddress = () => z.string().refine((v) => isIP(v) !== 0, { message: "must be an IPv4 or IPv6 address" });

/** An absolute path that can exist on a Linux host: no `..`, within PATH_MAX and NAME_MAX. */
export const absolutePath = () =>
    z
        .string()
        .regex(/^\/[^\0]*$/, "must be an absolute path")
        .refine((p) => !p.split("/").includes(".."), { message: "must not contain '..'" })
        .superRefine((p, ctx) => {
            const problem = pathLengthProblem(p);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
        });

/** A PEM block (or several) of the given label, e.g. "CERTIFICATE". */
export const pem = (label: string) => {
    const schema = z.string().refine((v) => v.includes(`-----BEGIN ${label}-----`), { message: `must be PEM text with a '-----BEGIN ${label}-----' block` });
    textBlocks.add(schema);
    return schema;
};

/** Free text of several lines (file contents): TAB and line breaks allowed, other control characters not. */
export const multilineText = () => {
    const schema = z.string();
    textBlocks.add(schema);
    return schema;
};

/** An OpenSSH public key line as in known_hosts / ssh-keyscan output, without the host name; the key data is decoded and checked. */
export const sshPublicKey = () =>
    z.string().superRefine((line, ctx) => {
        const problem = sshHostKeyProblem(line);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
    });

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
