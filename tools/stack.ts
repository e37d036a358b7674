/**
 * Stack files without the Pulumi CLI:
 *   npm run stack -- init NAME     stacks/Pulumi.NAME.yaml with a fresh salt for the passphrase provider
 * The passphrase comes from PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE,
 * as for the CLI; `pulumi stack init NAME` later keeps the file's salt.
 */
import { existsSync, mkdirSync, writeFileSync } from "fs";
import { dirname, resolve } from "path";
import { stackFilePath } from "../core/config/stackYaml";
import { PassphraseCrypter, passphraseFromEnv } from "./passphrase";
import { newStackText } from "./stackEdit";

const USAGE = "usage: npm run stack -- init NAME [--project-dir DIR]   (passphrase in PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE)";

/** Creates the stack file; returns its path. @throws Error when it exists, the name is bad or no passphrase is set. */
export function initStack(name: string, projectDir: string, passphrase: string | undefined): string {
    // Pulumi's own rule for stack names, and a file name that stays in stacks/.
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name) || name.startsWith(".")) throw new Error(`stack names are 1-100 letters, digits, '-', '_', '.' (got ${JSON.stringify(name.slice(0, 40))})`);
    if (passphrase === undefined) throw new Error("set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the passphrase that will protect this stack's secrets");
    const path = stackFilePath(projectDir, name);
    if (existsSync(path)) throw new Error(`${path} exists already; nothing changed`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, newStackText(PassphraseCrypter.create(passphrase)), { flag: "wx" });
    return path;
}

function main(argv: string[]): void {
    const [command, name, ...rest] = argv;
    let projectDir = resolve(__dirname, "..");
    for (let i = 0; i < rest.length; i++) {
        if (rest[i] === "--project-dir") projectDir = resolve(rest[++i]);
        else throw new Error(`unknown argument ${rest[i]}; ${USAGE}`);
    }
    if (command !== "init" || !name) throw new Error(USAGE);
    const path = initStack(name, projectDir, passphraseFromEnv());
    console.log(`created ${path}\nnext: npm run secret -- set NAME --stack ${name} < FILE, then add the inventory and sections (see stacks/Pulumi.example.yaml)`);
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (e) {
        console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    }
}
