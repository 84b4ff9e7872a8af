/**
 * scripts/smoke.sh, which release.yml runs on every binary on its own OS, passes here for the linux-x64 binary,
 * with its docker step against a private Docker engine: version, demo export, inspect by absolute path, docker
 * load + run, and copy to docker-daemon:.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { COMPILE_FLAGS } from "../../scripts/compile_flags.ts";
import { run } from "../helpers/tools.ts";
import { VERSION } from "../../lib/version.ts";

const root = join(import.meta.dir, "../..");
let engine: TestDocker;
let dir: string;
let bin: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-smoke-"));
  bin = process.env.FERRY_BIN ?? join(dir, "ferry");
  if (!process.env.FERRY_BIN) {
    await run(process.execPath, ["build", ...COMPILE_FLAGS, "cli.ts", "--outfile", bin], { cwd: root, timeoutMs: 120_000 });
  }
  engine = await startDocker();
}, 180_000);
afterAll(async () => {
  await engine?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

test("smoke.sh BINARY VERSION docker passes for the compiled binary", async () => {
  const { stdout } = await run("sh", [join(root, "scripts/smoke.sh"), bin, VERSION, "docker"], {
    env: { DOCKER_HOST: engine.host },
    timeoutMs: 240_000,
  });
  for (const line of ["ok: ferry", "ok: demo exported", "ok: inspect oci-archive:/", "ok: docker load + run: hello from linux/amd64", "ok: copy to docker-daemon:smoke/app:amd64", "smoke: all checks passed"]) {
    expect(stdout).toContain(line);
  }
}, 300_000);

test("smoke.sh fails when the binary reports another version", async () => {
  const result = await run("sh", [join(root, "scripts/smoke.sh"), bin, "9.9.9"], { allowFailure: true });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`smoke: FAILED: ${bin} --version printed 'ferry ${VERSION}', expected 'ferry 9.9.9'`);
}, 60_000);
