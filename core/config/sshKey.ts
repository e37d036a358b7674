/**
 * Pinned SSH host keys (`ssh-ed25519 AAAA...`, as ssh-keyscan prints them): the
 * base64 blob is decoded and its wire format checked (RFC 4253 6.6, RFC 5656 3.1,
 * RFC 8709 4, PROTOCOL.u2f), so a truncated or mistyped key is an error in the
 * config instead of a host that can never be reached.
 */

const LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/;

const CURVES: Record<string, { curve: string; pointBytes: number }> = {
    "ecdsa-sha2-nistp256": { curve: "nistp256", pointBytes: 65 },
    "ecdsa-sha2-nistp384": { curve: "nistp384", pointBytes: 97 },
    "ecdsa-sha2-nistp521": { curve: "nistp521", pointBytes: 133 },
};

/** The key types a pinned host key may have. */
export const HOST_KEY_TYPES = ["ssh-ed25519", "ssh-rsa", ...Object.keys(CURVES), "sk-ssh-ed25519@openssh.com"];

/** Reads the SSH wire format: uint32 length-prefixed strings. */
class Reader {
    private at = 0;
    constructor(private readonly blob: Buffer) {}
    field(): Buffer | undefined {
        if (this.at + 4 > this.blob.length) return undefined;
        const n = this.blob.readUInt32BE(this.at);
        if (this.at + 4 + n > this.blob.length) return undefined;
        const value = this.blob.subarray(this.at + 4, this.at + 4 + n);
        this.at += 4 + n;
        return value;
    }
    get rest(): number {
        return this.blob.length - this.at;
    }
}

/** Why `line` is not a well-formed SSH public host key, or undefined when it is. */
export function sshHostKeyProblem(line: string): string | undefined {
    const hint = "must be an SSH public host key such as 'ssh-ed25519 AAAA...' (ssh-keyscan -t ed25519 HOST)";
    const m = LINE.exec(line);
    if (!m) return hint;
    const [, type, b64] = m;
    if (!HOST_KEY_TYPES.includes(type)) return `key type ${JSON.stringify(type.slice(0, 40))} is not one of ${HOST_KEY_TYPES.join(", ")}`;
    if (b64.length % 4 !== 0) return `the key's base64 text is cut short (${b64.length} characters, not a multiple of 4); copy the whole line from ssh-keyscan`;
    const reader = new Reader(Buffer.from(b64, "base64"));
    const inner = reader.field()?.toString("latin1");
    if (inner === undefined) return "the key's base64 text is too short to hold a key; copy the whole line from ssh-keyscan";
    if (inner !== type) return `the key's data says it is ${JSON.stringify(inner.slice(0, 40))}, not ${type}; the type word and the key do not belong together`;
    const short = `the ${type} key is truncated or malformed; copy the whole line from ssh-keyscan`;
    switch (type) {
        case "ssh-ed25519": {
            const key = reader.field();
            if (key === undefined || reader.rest !== 0) return short;
            if (key.length !== 32) return `an ssh-ed25519 key is 32 bytes, this one is ${key.length}`;
            return undefined;
        }
        case "sk-ssh-ed25519@openssh.com": {
            const key = reader.field();
            const application = reader.field();
            if (key === undefined || application === undefined || reader.rest !== 0) return short;
            if (key.length !== 32) return `an sk-ssh-ed25519 key is 32 bytes, this one is ${key.length}`;
            return undefined;
        }
        case "ssh-rsa": {
            const e = reader.field();
            const n = reader.field();
            if (e === undefined || n === undefined || reader.rest !== 0) return short;
            const bits = modulusBits(n);
            if (bits < 1024) return `an ssh-rsa key of ${bits} bits: OpenSSH refuses RSA keys under 1024 bits`;
            return undefined;
        }
        default: {
            const { curve, pointBytes } = CURVES[type];
            const name = reader.field()?.toString("latin1");
            const point = reader.field();
            if (name === undefined || point === undefined || reader.rest !== 0) return short;
            if (name !== curve) return `the key's curve is ${JSON.stringify(name.slice(0, 40))}, not ${curve}`;
            if (point.length !== pointBytes || point[0] !== 0x04) return `an ${type} key is an uncompressed point of ${pointBytes} bytes, this one is ${point.length}`;
            return undefined;
        }
    }
}

/** Bits in an SSH mpint (big-endian, a leading zero byte keeps it positive). */
function modulusBits(mpint: Buffer): number {
    let i = 0;
    while (i < mpint.length && mpint[i] === 0) i++;
    if (i === mpint.length) return 0;
    return (mpint.length - i - 1) * 8 + (32 - Math.clz32(mpint[i]));
}
