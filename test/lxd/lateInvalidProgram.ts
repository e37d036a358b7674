/**
 * A program for test/lxd/inputs.test.ts, run on its own with tsx: an LxdRemoteMesh whose
 * h2 API address, known only once its Output resolves, is no address. The check's error
 * rejects the Outputs built on it and ends the program, as `pulumi up` ends.
 */
import * as pulumi from "@pulumi/pulumi";
import { LxdRemoteMesh } from "../../components/lxd/component";
import { host } from "./meshFixture";

pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "hostwright", "inputs", false);
new LxdRemoteMesh("mesh", { members: [{ host: host("h1", 0) }, { host: host("h2", 1), apiAddress: pulumi.output("bad_address") }] });
