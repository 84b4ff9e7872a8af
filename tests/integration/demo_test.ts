/**
 * README command one, end to end: `ferry demo` exports the sample image; the files are the same bytes every run,
 * `docker load` names them `sample/app:1.0-<arch>` (no random port), and `docker run` of the host's file prints
 * its platform. The arm64 and armv7 programs inside the files run under qemu.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { run } from "../helpers/tools.ts";

let engine: TestDocker;
let work: string;
beforeAll(async () => {
  engine = await startDocker();
  work = await mkdtemp(join(tmpdir(), "ferry-demo-test-"));
}, 60_000);
afterAll(async () => {
  await engine?.stop();
  await rm(work, { recursive: true, force: true });
}, 60_000);

const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

describe("ferry demo", () => {
  test("exports reproducible files that docker loads under a stable name and runs", async () => {
    const first = await runCli(["demo", "-o", join(work, "a")], { timeoutMs: 90_000 });
    expect(first.code).toBe(0);
    const second = await runCli(["demo", "-o", join(work, "b")], { timeoutMs: 90_000 });
    expect(second.code).toBe(0);
    for (const label of ["amd64", "arm64", "armv7"]) {
      expect(await sha256(join(work, "b", `image-${label}.tar.gz`))).toBe(await sha256(join(work, "a", `image-${label}.tar.gz`)));
    }
    // The lines the demo prints are the ones that work.
    const load = first.stdout.match(/^\s+(docker load -i \S+)$/m)?.[1];
    const runLine = first.stdout.match(/^\s+(docker run --rm \S+)/m)?.[1];
    expect(load).toBe(`docker load -i ${join(work, "a", "image-amd64.tar.gz")}`);
    expect(runLine).toBe("docker run --rm sample/app:1.0-amd64");
    const loaded = await engine.docker(load!.split(" ").slice(1));
    expect(loaded.stdout).toContain("Loaded image: sample/app:1.0-amd64");
    const ran = await engine.docker(["run", "--rm", "--network", "none", "sample/app:1.0-amd64"]);
    expect(ran.stdout).toBe("hello from linux/amd64\n");
  }, 240_000);

  test("Deno writes the same bytes as Bun", async () => {
    const deno = join(import.meta.dir, "../../node_modules/.bin/deno");
    const cli = join(import.meta.dir, "../../cli.ts");
    const ran = await run(deno, ["run", "-A", cli, "demo", "-o", join(work, "deno")], { timeoutMs: 120_000 });
    expect(ran.code).toBe(0);
    for (const label of ["amd64", "arm64", "armv7"]) {
      expect(await sha256(join(work, "deno", `image-${label}.tar.gz`))).toBe(await sha256(join(work, "a", `image-${label}.tar.gz`)));
    }
  }, 180_000);

  test("the arm64 and armv7 files carry programs that print their platform (under qemu)", async () => {
    const dir = join(work, "a");
    for (const [label, qemu, platform] of [["arm64", "qemu-aarch64", "linux/arm64/v8"], ["armv7", "qemu-arm", "linux/arm/v7"]]) {
      const out = join(work, `x-${label}`);
      await run("mkdir", ["-p", out]);
      await run("tar", ["-xzf", join(dir, `image-${label}.tar.gz`), "-C", out]);
      const [item] = JSON.parse(await readFile(join(out, "manifest.json"), "utf8"));
      const layer = item.Layers.at(-1);
      await run("tar", ["-xzf", join(out, layer), "-C", out, "hello"]);
      const ran = await run(qemu, [join(out, "hello")]);
      expect(ran.stdout).toBe(`hello from ${platform}\n`);
    }
  }, 60_000);
});
