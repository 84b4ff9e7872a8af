/**
 * After `kill -9` (#15): temp files a killed ferry left are removed by the next run, and nothing else. A real
 * ferry process is started against a slow source (the fault proxy stalls a blob or an upload), SIGKILLed once
 * its temp files exist, then ferry runs again. With FERRY_BIN set, the compiled binary is the one killed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isTempName } from "../../lib/stream/files.ts";
import { runCli } from "../helpers/cli.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { freePort, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

setDefaultTimeout(90_000);
let registry: TestRegistry;
let layer: string; // a big layer of the sample, the one stalled
const work = mkdtempSync(join(tmpdir(), "ferry-kill-cli-"));
let n = 0;
const fresh = () => {
  const dir = join(work, String(n++));
  mkdirSync(dir);
  return dir;
};
beforeAll(async () => {
  registry = await startRegistry();
  const sample = await pushSampleImage(`${registry.host}/src/app:1.0`, {
    platforms: ["linux/amd64"],
    baseLayerSize: 4 * 1024 * 1024,
  });
  const manifest = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[0].digest)));
  layer = manifest.layers[0].digest;
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const root = join(import.meta.dir, "..", "..");
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

/** Starts `ferry ARGS...` (source, or FERRY_BIN) without waiting for it. */
function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const bin = process.env.FERRY_BIN;
  const [cmd, argv] = bin ? [bin, args] : [process.execPath, [join(root, "cli.ts"), ...args]];
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

/** SIGKILLs `child` and waits for it to be gone. */
async function kill9(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await gone;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every file under `dir`, relative. */
const files = (dir: string) =>
  existsSync(dir)
    ? (readdirSync(dir, { recursive: true }) as string[]).filter((p) => statSync(join(dir, p)).isFile())
    : [];
// Temp files, and (since resume, #20) a blob cut midway kept as .ferry-resume/<digest>.partial for the next run.
const parts = (layout: string) =>
  files(layout).filter((p) => isTempName(p.split("/").at(-1)!) || p.startsWith(".ferry-resume/"));

describe("kill -9, then run again: nothing left", () => {
  let proxy: FaultyProxy;
  afterAll(async () => await proxy?.stop());

  test("mid-copy into an OCI layout: the dead copy's .part files go when the layout is next written", async () => {
    proxy = await startFaultyProxy(registry.host, [{ kind: "stall", digest: layer }]);
    const layout = join(fresh(), "layout");
    const tmp = fresh();
    const copy = start(["copy", `${proxy.host}/src/app:1.0`, `oci:${layout}:1.0`], { FERRY_TMPDIR: tmp });
    await until("a .part file with bytes", () => parts(layout).some((p) => statSync(join(layout, p)).size > 0));
    await kill9(copy);
    expect(parts(layout).length).toBeGreaterThan(0); // what the killed copy left
    const again = await runCli(["copy", `${registry.host}/src/app:1.0`, `oci:${layout}:1.0`], {
      env: { FERRY_TMPDIR: tmp },
    });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(parts(layout)).toEqual([]);
    expect(files(tmp)).toEqual([]);
  });

  test("mid-import of .tar.gz files: the dead import's spool under FERRY_TMPDIR goes with the next run", async () => {
    const out = fresh();
    const exported = await runCli(["export", "-o", out, `${registry.host}/src/app:1.0`]);
    expect(exported.code).toBe(0);
    const archives = readdirSync(out).map((f) => join(out, f));
    const stalled = await startFaultyProxy(registry.host, [{ kind: "stall", method: "PATCH", path: /\/blobs\/uploads\// }]);
    const tmp = fresh();
    try {
      const imp = start(["import", ...archives, `${stalled.host}/dst/app:1.0`], { FERRY_TMPDIR: tmp });
      // The referenced layers are spooled before anything is pushed; the push then hangs.
      await until("a spooled blob", () => files(tmp).length > 0 && stalled.requests.some((r) => r.method === "PATCH"));
      await kill9(imp);
    } finally {
      await stalled.stop();
    }
    const left = readdirSync(tmp);
    expect(left.length).toBe(1); // the dead run's directory, with its spool
    expect(files(tmp).length).toBeGreaterThan(0);
    const again = await runCli(["import", ...archives, `oci:${join(fresh(), "layout")}:1.0`], {
      env: { FERRY_TMPDIR: tmp },
    });
    expect(again.code).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("ferry serve --writable killed mid-upload: the next serve drops the dead session's file", async () => {
    const layout = join(fresh(), "layout");
    const uploads = join(layout, ".ferry-uploads");
    const serveOnce = async () => {
      const port = await freePort();
      const child = start(["serve", "--writable", "--address", `127.0.0.1:${port}`, layout]);
      await until(
        "ferry serve to listen",
        () => fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false),
      );
      return { child, url: `http://127.0.0.1:${port}` };
    };
    const first = await serveOnce();
    const post = await fetch(`${first.url}/v2/app/blobs/uploads/`, { method: "POST" });
    expect(post.status).toBe(202);
    const location = new URL(post.headers.get("location")!, first.url).href;
    // A PATCH whose body sends 64 KiB and then nothing more.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(64 * 1024).fill(7));
      },
    });
    const patch = fetch(location, { method: "PATCH", body, duplex: "half" } as RequestInit).catch(() => undefined);
    await until("the upload's bytes on disk", () => files(uploads).some((f) => statSync(join(uploads, f)).size > 0));
    await kill9(first.child);
    await patch;
    expect(files(uploads).length).toBe(1);
    const second = await serveOnce();
    try {
      expect(files(uploads)).toEqual([]);
    } finally {
      await kill9(second.child);
    }
  });
});
