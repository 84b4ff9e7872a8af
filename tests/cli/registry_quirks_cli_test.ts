/**
 * Registries that answer in ways docker-registry does not: a manifest HEAD refused with 405 (the client
 * falls back to GET), served by the fault proxy in front of the real registry.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

let registry: TestRegistry;
let noHead: FaultyProxy;
let tmp: string;
let rootDigest: string;

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), "ferry-quirks-"));
  rootDigest = (await pushSampleImage(`${registry.host}/sample/app:1.0`)).root.digest;
  noHead = await startFaultyProxy(registry.host, [
    { kind: "status", status: 405, times: 10_000, method: "HEAD", path: /\/manifests\// },
  ]);
}, 60_000);

afterAll(async () => {
  await noHead?.stop();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe("a registry that answers manifest HEAD with 405", () => {
  test("inspect, copy out of it and into it (twice: the second finds everything there) fall back to GET", async () => {
    const inspected = await runCli(["inspect", `${noHead.host}/sample/app:1.0`]);
    expect(inspected.stderr).toBe("");
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(rootDigest);
    const out = await runCli(["copy", `${noHead.host}/sample/app:1.0`, `oci:${join(tmp, "layout")}:1.0`]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    for (const expected of [/ 0 already present/, / 0 copied/]) {
      const into = await runCli(["copy", `${registry.host}/sample/app:1.0`, `${noHead.host}/other/app:1.0`]);
      expect(into.stderr).toBe("");
      expect(into.code).toBe(0);
      expect(into.stdout).toMatch(expected);
    }
    expect(noHead.requests.some((r) => r.method === "GET" && r.path.includes("/manifests/"))).toBe(true);
  }, 60_000);
});

describe("--authfile", () => {
  test("a file that does not exist is an error naming it (exit 8), not anonymous access", async () => {
    const missing = join(tmp, "no-such-auth.json");
    for (const args of [["inspect"], ["copy", "--dest-creds", "u:p"]]) {
      const dst = args[0] === "copy" ? [`oci:${join(tmp, "never")}`] : [];
      const result = await runCli([...args, "--authfile", missing, `${registry.host}/sample/app:1.0`, ...dst]);
      expect(result.code).toBe(8);
      expect(result.stderr.trimEnd()).toBe(`ferry: Cannot read credentials from ${missing} (--authfile): no such file`);
    }
  }, 60_000);
});
