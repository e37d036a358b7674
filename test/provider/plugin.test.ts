/**
 * The plugin as the Pulumi CLI starts it, minus the CLI: @pulumi/pulumi's Node.js
 * plugin runner (what the language host runs for a PulumiPlugin.yaml directory) over
 * provider/, from the directory of some other project (the language host runs a
 * resource plugin in the consuming program's directory), then GetPluginInfo and
 * GetSchema over gRPC, as the engine calls them for `pulumi package add`.
 */
import { ChildProcess, spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join, resolve } from "path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { HostwrightProvider } from "../../provider/provider";

const { ResourceProviderClient } = require("@pulumi/pulumi/proto/provider_grpc_pb");
const { GetSchemaRequest } = require("@pulumi/pulumi/proto/provider_pb");

const repo = resolve(__dirname, "..", "..");
let consumerDirectory: string;
let plugin: ChildProcess;
let client: { getSchema: Function; getPluginInfo: Function; close(): void };
let stderr = "";

/** Calls a unary gRPC method of the provider. */
const callProvider = <T>(method: "getSchema" | "getPluginInfo", request: unknown) =>
    new Promise<T>((ok, fail) => client[method].call(client, request, (err: Error | null, response: T) => (err ? fail(err) : ok(response))));

beforeAll(async () => {
    consumerDirectory = mkdtempSync(join(tmpdir(), "hostwright-consumer-"));
    plugin = spawn(process.execPath, [require.resolve("@pulumi/pulumi/cmd/run-plugin"), join(repo, "provider")], { cwd: consumerDirectory, stdio: ["ignore", "pipe", "pipe"] });
    plugin.stderr!.on("data", (chunk) => (stderr += chunk));
    // The plugin's first line on stdout is the port of its gRPC server.
    const port = await new Promise<string>((ok, fail) => {
        let stdout = "";
        plugin.stdout!.on("data", (chunk) => {
            stdout += chunk;
            if (stdout.includes("\n")) ok(stdout.split("\n")[0].trim());
        });
        plugin.on("exit", (code) => fail(new Error(`the plugin exited (${code}) before serving: ${stderr}`)));
    });
    client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 240_000);

afterAll(() => {
    client?.close();
    plugin?.kill();
    rmSync(consumerDirectory, { recursive: true, force: true });
});

describe("the provider plugin started by @pulumi/pulumi's plugin runner", () => {
    it("reports the package's version", async () => {
        const info = await callProvider<{ getVersion(): string }>("getPluginInfo", new Empty());
        expect(info.getVersion()).toBe(require("../../package.json").version);
    });

    it("serves over gRPC the schema the provider derives in process, secrets marked", async () => {
        const response = await callProvider<{ getSchema(): string }>("getSchema", new GetSchemaRequest());
        const served = JSON.parse(response.getSchema());
        expect(served).toEqual(JSON.parse(await new HostwrightProvider().getSchema()));
        expect(served.types["hostwright:index:Host"].properties.privateKey.secret).toBe(true);
        expect(stderr).toBe("");
    }, 120_000);
});
