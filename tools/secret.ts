/**
 * `hostwright:secrets` without the Pulumi CLI (passphrase secrets provider):
 *   npm run secret -- set NAME --stack ENV < FILE    what `pulumi config set --secret --path 'hostwright:secrets.NAME' < FILE` writes
 *   npm run secret -- rm NAME --stack ENV
 *   npm run secret -- ls --stack ENV                 names, and any entry left in clear
 * The passphrase comes from PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE.
 */
import { readFileSync, renameSync, writeFileSync } from "fs";
import { resolve } from "path";
import { readStackYaml, stackFilePath } from "../core/config/stackYaml";
import { passphraseFromEnv } from "./passphrase";
import { listSecrets, removeSecret, setSecret, valueFromStdin } from "./stackEdit";
import { HOW_TO_CREATE } from "./stackFile";

const USAGE = "usage: npm run secret -- set NAME --stack ENV < FILE | rm NAME --stack ENV | ls --stack ENV   [--project-dir DIR]";

/** Replaces the file in one rename, so an interrupted write never leaves half a stack file. */
function replaceFile(path: string, text: string): void {
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, text, { mode: 0o644 });
    renameSync(temporary, path);
}

function main(argv: string[]): void {
    const positional: string[] = [];
    let stack: string | undefined;
    let projectDir = resolve(__dirname, "..");
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack" || argv[i] === "-s") stack = argv[++i];
        else if (argv[i] === "--project-dir") projectDir = resolve(argv[++i]);
        else if (argv[i].startsWith("-")) throw new Error(`unknown argument ${argv[i]}; ${USAGE}`);
        else positional.push(argv[i]);
    }
    const [command, name] = positional;
    if (!stack || !command) throw new Error(USAGE);
    const path = stackFilePath(projectDir, stack);
    readStackYaml(path, HOW_TO_CREATE);
    const text = readFileSync(path, "utf8");
    if (command === "ls" && positional.length === 1) {
        for (const s of listSecrets(text, path)) console.log(s.encrypted ? s.name : `${s.name}  (in clear: remove it and set it again with npm run secret -- set)`);
    } else if (command === "set" && name && positional.length === 2) {
        const passphrase = passphraseFromEnv();
        if (passphrase === undefined) throw new Error("set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase");
        if (process.stdin.isTTY) throw new Error(`give the value on standard input: npm run secret -- set ${name} --stack ${stack} < FILE`);
        replaceFile(path, setSecret(text, path, name, valueFromStdin(readFileSync(0, "utf8")), passphrase));
        console.log(`set hostwright:secrets.${name} in ${path}`);
    } else if (command === "rm" && name && positional.length === 2) {
        replaceFile(path, removeSecret(text, path, name));
        console.log(`removed hostwright:secrets.${name} from ${path}`);
    } else throw new Error(USAGE);
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (e) {
        console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    }
}
