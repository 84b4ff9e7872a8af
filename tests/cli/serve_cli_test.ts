/**
 * `ferry serve` as a user runs it: a process that listens until SIGINT/SIGTERM, then exits 0; bad input is one
 * line on stderr and its exit code. With FERRY_BIN set, the compiled binary is tested.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { runCli } from "../helpers/cli.ts";

const root = join(import.meta.dir, "..", "..");
let tmp: string;
let layout: string;
const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ferry-serve-cli-"));
  layout = join(tmp, "app");
  const store = await OciLayoutStore.open(layout, { create: true });
  await copyGraph(sample.store, store, sample.root);
  await store.tag(sample.root, "1.0");
  await store.close();
  await writeFile(join(tmp, "htpasswd"), "ferry:not-bcrypt\n");
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Starts `ferry serve args…` and resolves with the process and its first stdout line once it listens. */
function start(args: string[]): Promise<{ child: ChildProcess; first: string; stderr: () => string; exit: Promise<number | null> }> {
  const bin = process.env.FERRY_BIN;
  const [cmd, argv] = bin ? [bin, ["serve", ...args]] : [process.execPath, [join(root, "cli.ts"), "serve", ...args]];
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.stderr!.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`ferry serve did not start: ${err}`));
    }, 20_000);
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve({ child, first: out.split("\n")[0], stderr: () => err, exit });
      }
    });
    exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`ferry serve exited early: ${err}`));
    });
  });
}

describe("ferry serve (process)", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`serves the layout until ${signal}, logs requests with --verbose, then exits 0`, async () => {
      const run = await start(["--address", "127.0.0.1:0", "--json", "--verbose", layout]);
      try {
        const info = JSON.parse(run.first);
        expect(info.repositories).toEqual([{ name: "app", tags: ["1.0"] }]);
        expect(info.writable).toBe(false);
        const res = await fetch(`${info.url}/v2/app/manifests/1.0`, { method: "HEAD" });
        expect(res.status).toBe(200);
        expect(res.headers.get("Docker-Content-Digest")).toBe(sample.root.digest);
      } finally {
        run.child.kill(signal);
      }
      expect(await run.exit).toBe(0);
      expect(run.stderr()).toMatch(/HEAD \/v2\/app\/manifests\/1\.0 200 \d+ms/);
    }, 30_000);
  }

  test("prints the repositories and tags it serves, with --repo renaming them", async () => {
    const run = await start(["-a", "127.0.0.1:0", "--repo", "mirror/app", layout]);
    run.child.kill("SIGTERM");
    expect(await run.exit).toBe(0);
    expect(run.first).toMatch(/^Serving 1 repositories at http:\/\/127\.0\.0\.1:\d+ \(read-only\); Ctrl-C stops$/);
  }, 30_000);

  test("a large blob gone bad on disk: the pull breaks and stderr says so in one line", async () => {
    const big = buildSampleImage({ platforms: ["linux/amd64"], layerSize: 5 * 1024 * 1024, seed: 3 });
    const dir = join(tmp, "rotten");
    const store = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(big.store, store, big.root);
    await store.tag(big.root, "1.0");
    await store.close();
    const layer = JSON.parse(new TextDecoder().decode(big.store.get(big.manifests[0].digest))).layers.at(-1);
    const path = join(dir, "blobs", "sha256", layer.digest.slice(7));
    const bytes = await readFile(path);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(path, bytes);
    const run = await start(["--address", "127.0.0.1:0", dir]);
    try {
      const url = `${run.first.match(/http:\/\/[^ ]+/)![0]}/v2/rotten/blobs/${layer.digest}`;
      const got = await (await fetch(url)).arrayBuffer().then((b) => b.byteLength, () => -1);
      expect(got).toBeLessThan(layer.size);
    } finally {
      run.child.kill("SIGTERM");
    }
    expect(await run.exit).toBe(0);
    const lines = run.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(`ferry: error: Cannot serve blob ${layer.digest} of rotten: expected digest `);
  }, 30_000);

  test("--writable without --htpasswd on a non-loopback address warns on stderr, in one line", async () => {
    const open = await start(["--writable", "--address", "0.0.0.0:0", join(tmp, "pushed")]);
    open.child.kill("SIGTERM");
    expect(await open.exit).toBe(0);
    const lines = open.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ferry: warning: --writable without --htpasswd on 0\.0\.0\.0:\d+: anyone who can reach/);
    const local = await start(["--writable", "--address", "127.0.0.1:0", join(tmp, "pushed")]);
    local.child.kill("SIGTERM");
    expect(await local.exit).toBe(0);
    expect(local.stderr()).toBe("");
  }, 30_000);
});

const rows: { name: string; args: () => string[]; code: number; stderr: RegExp }[] = [
  { name: "no PATH", args: () => ["serve"], code: 2, stderr: /Cannot serve: name an OCI layout or archive/ },
  { name: "missing PATH", args: () => ["serve", join(tmp, "nope")], code: 3, stderr: /Cannot open .*nope: no such file/ },
  { name: "bad address", args: () => ["serve", "-a", "localhost", layout], code: 2, stderr: /Cannot listen on "localhost": expected HOST:PORT/ },
  { name: "bad --repo", args: () => ["serve", "--repo", "Bad/Name", layout], code: 2, stderr: /not a valid repository name/ },
  { name: "--tls-cert without --tls-key", args: () => ["serve", "--tls-cert", "x.pem", layout], code: 2, stderr: /give both --tls-cert and --tls-key/ },
  { name: "--writable with two paths", args: () => ["serve", "--writable", layout, layout], code: 2, stderr: /exactly one OCI layout directory/ },
  { name: "htpasswd without bcrypt", args: () => ["serve", "--htpasswd", join(tmp, "htpasswd"), layout], code: 8, stderr: /expected user:bcrypt-hash/ },
  { name: "a file that is not an archive", args: () => ["serve", join(tmp, "htpasswd")], code: 8, stderr: /Cannot (read|serve) / },
];

describe("ferry serve: bad input", () => {
  for (const row of rows) {
    test(row.name, async () => {
      const { code, stderr } = await runCli(row.args());
      expect(stderr).toMatch(row.stderr);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(code).toBe(row.code);
    }, 30_000);
  }
});
