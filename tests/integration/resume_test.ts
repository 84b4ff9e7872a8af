/**
 * Resume after a crash (#20): a real ferry process exports or copies an image with a 64 MiB base layer through the
 * fault proxy (paced, so it can be stopped midway), is SIGKILLed once the proxy has served a share of the bytes,
 * and runs again with the same arguments: it finishes, the result verifies (skopeo reads it), the state beside
 * the output is gone, and the rerun read fewer bytes from the source than a full transfer (counted at the proxy).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect } from "../helpers/tools.ts";

setDefaultTimeout(180_000);
const root = join(import.meta.dir, "..", "..");
const work = mkdtempSync(join(tmpdir(), "ferry-resume-it-"));
let registry: TestRegistry;
let proxy: FaultyProxy;
let n = 0;
const fresh = () => join(work, String(n++));
const children = new Set<ChildProcess>();

beforeAll(async () => {
  registry = await startRegistry();
  await pushSampleImage(`${registry.host}/src/app:1.0`, {
    platforms: ["linux/amd64", "linux/arm64/v8"],
    baseLayerSize: 64 * 1024 * 1024,
    layerSize: 64 * 1024,
  });
  // ~64 MiB a second per body: a full transfer takes about a second, so the kill lands midway.
  proxy = await startFaultyProxy(registry.host, [{ kind: "throttle", bytesPerSecond: 64 * 1024 * 1024 }]);
}, 60_000);
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await proxy?.stop();
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Starts `ferry ARGS...` (source, or FERRY_BIN) without waiting for it. */
function start(args: string[]): ChildProcess {
  const bin = process.env.FERRY_BIN;
  const [cmd, argv] = bin ? [bin, args] : [process.execPath, [join(root, "cli.ts"), ...args]];
  const child = spawn(cmd, argv, { env: { ...process.env, FERRY_PROGRESS: "none" }, stdio: "ignore" });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Runs `args` once whole: the bytes the proxy served for it. */
async function fullRun(args: string[]): Promise<number> {
  const before = proxy.blobBytes!;
  const r = await runCli(args, { timeoutMs: 120_000 });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return proxy.blobBytes! - before;
}

/**
 * Starts `args`, SIGKILLs ferry by pid once the proxy served `fraction` of `full`, runs `args` again: the bytes
 * served to the killed run and to the rerun.
 */
async function killAndRerun(args: string[], full: number, fraction: number): Promise<{ killedAt: number; rerun: number }> {
  const before = proxy.blobBytes!;
  const child = start(args);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  while (!done && proxy.blobBytes! - before < full * fraction) await new Promise((r) => setTimeout(r, 2));
  expect(done).toBe(false); // it was still running: the kill is mid-transfer
  process.kill(child.pid!, "SIGKILL");
  await exited;
  const killedAt = proxy.blobBytes! - before;
  const again = proxy.blobBytes!;
  const r = await runCli(args, { timeoutMs: 120_000 });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return { killedAt, rerun: proxy.blobBytes! - again };
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

describe("kill -9 midway, then the same command again", () => {
  test("ferry export (docker files): several kill points; the rerun fetches only what is missing", async () => {
    const full = await fullRun(["export", "-o", fresh(), `${proxy.host}/src/app:1.0`]);
    expect(full).toBeGreaterThan(64 * 1024 * 1024);
    for (const fraction of [0.3, 0.5, 0.75]) {
      const out = fresh();
      const args = ["export", "-o", out, `${proxy.host}/src/app:1.0`];
      const { killedAt, rerun } = await killAndRerun(args, full, fraction);
      console.log(
        `export: killed at ${MiB(killedAt)} of ${MiB(full)} (${Math.round((killedAt / full) * 100)} %), ` +
          `rerun read ${MiB(rerun)} (${Math.round((rerun / full) * 100)} %)`,
      );
      // What was journaled is not read again; bytes in flight at the kill (stream buffers, and Range parts fetched
      // ahead over the throttled connections) are. The later the kill, the more a rerun saves.
      // What was journaled is not read again; bytes in flight at the kill (stream buffers) are.
      expect(rerun).toBeLessThan(full * (1 - fraction) + full * 0.15);
      if (fraction >= 0.5) expect(rerun).toBeLessThan(full * 0.65);
      const names = readdirSync(out).sort();
      expect(names).toEqual(["image-amd64.tar.gz", "image-arm64.tar.gz"]); // no .ferry-resume, no .part left
      for (const name of names) {
        const tar = join(out, name.replace(/\.gz$/, ""));
        expect((await run("sh", ["-c", `gzip -dc '${join(out, name)}' > '${tar}'`])).code).toBe(0);
        const info = await skopeoInspect(`docker-archive:${tar}`);
        expect(info.Layers.length).toBe(2);
        const copied = await run("skopeo", ["copy", `docker-archive:${tar}`, `oci:${tar}.oci:x`]); // digests checked
        expect(copied.stderr).not.toContain("FATA");
        expect(copied.code).toBe(0);
      }
    }
  });

  test("ferry copy REG oci:DIR: the blob cut midway continues with Range", async () => {
    const full = await fullRun(["copy", `${proxy.host}/src/app:1.0`, `oci:${fresh()}:1.0`]);
    const out = fresh();
    const args = ["copy", `${proxy.host}/src/app:1.0`, `oci:${out}:1.0`];
    const { killedAt, rerun } = await killAndRerun(args, full, 0.5);
    console.log(
      `copy: killed at ${MiB(killedAt)} of ${MiB(full)}, rerun read ${MiB(rerun)} (${
        Math.round((rerun / full) * 100)
      } %)`,
    );
    // What the killed run had journaled is not read again; bytes in flight at the kill are (--no-resume below
    // reads it all).
    expect(rerun).toBeLessThan(full * 0.65);
    expect(existsSync(join(out, ".ferry-resume"))).toBe(false);
    const copied = await run("skopeo", ["copy", "--all", `oci:${out}:1.0`, `oci:${out}-check:1.0`]);
    expect(copied.code).toBe(0);
    expect((await skopeoInspect(`oci:${out}:1.0`, ["--raw"])).manifests.length).toBeGreaterThanOrEqual(2);
  });

  test("--no-resume starts clean: the rerun reads the whole image again", async () => {
    const full = await fullRun(["copy", `${proxy.host}/src/app:1.0`, `oci:${fresh()}:1.0`]);
    const out = fresh();
    const args = ["copy", `${proxy.host}/src/app:1.0`, `oci:${out}:1.0`];
    const { killedAt, rerun } = await killAndRerun([...args, "--no-resume"], full, 0.5);
    expect(killedAt).toBeGreaterThan(0);
    // The rerun (with --no-resume too) dropped the killed run's partial: the cut blob came whole again.
    expect(rerun).toBeGreaterThan(full * 0.98);
    expect(existsSync(join(out, ".ferry-resume"))).toBe(false);
    expect((await run("skopeo", ["copy", "--all", `oci:${out}:1.0`, `oci:${out}-check:1.0`])).code).toBe(0);
  });
});
