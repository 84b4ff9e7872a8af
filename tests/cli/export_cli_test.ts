/**
 * `ferry export` (and the archive transports of `ferry copy`) as a user runs them: the CLI as a process
 * against a real registry, read back by skopeo, gzip and tar; SIGINT midway; the failure exit codes.
 * With FERRY_BIN set, the same tests run against the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";

let registry: TestRegistry;
let secured: TestRegistry;
let sample: SampleImage;
const work = mkdtempSync(join(tmpdir(), "ferry-export-cli-"));
let n = 0;
const fresh = (name = "out") => join(work, `${name}-${n++}`);
/** A new empty directory under the work dir. */
const freshDir = (name: string) => {
  const dir = fresh(name);
  mkdirSync(dir);
  return dir;
};
const SRC = () => `${registry.host}/cli/app:1.0`;
const BIG = () => `${registry.host}/cli/big:1.0`;
const sha256 = (text: string | Uint8Array) => `sha256:${createHash("sha256").update(text).digest("hex")}`;

beforeAll(async () => {
  [registry, secured] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: "ferry", password: "dest-pass" } }),
  ]);
  sample = await pushSampleImage(SRC(), { attestations: true, layerSize: 64 * 1024 });
  // Big enough that an export is still running when its first .part file appears (~1 s of work).
  await pushSampleImage(BIG(), { baseLayerSize: 64 * 1024 * 1024 });
}, 30_000);
afterAll(async () => {
  await Promise.all([registry?.stop(), secured?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** Starts `ferry ARGS` and sends SIGINT once a `.part` file exists in `dir`. */
function interruptOnPart(args: string[], dir: string): Promise<{ code: number | null; stderr: string; sawPart: string[] }> {
  const bin = process.env.FERRY_BIN;
  const [cmd, argv] = bin ? [bin, args] : [process.execPath, [join(import.meta.dir, "..", "..", "cli.ts"), ...args]];
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"], env: { FERRY_PROGRESS: "none", ...process.env } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  let sawPart: string[] = [];
  const poll = setInterval(() => {
    const names = (() => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    })();
    if (names.some((x) => x.endsWith(".part"))) {
      sawPart = names;
      clearInterval(poll);
      child.kill("SIGINT");
    }
  }, 5);
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({ code, stderr, sawPart });
    });
  });
}

describe("ferry export: interrupted", () => {
  test("SIGINT midway → exit 130, one stderr line, nothing left; the rerun succeeds", async () => {
    const dir = fresh("sigint");
    const first = await interruptOnPart(["export", BIG(), "-o", dir], dir);
    expect(first.sawPart.some((x) => x.endsWith(".tar.gz.part"))).toBe(true);
    expect(first.code).toBe(130);
    expect(first.stderr).toBe("ferry: Interrupted\n");
    expect(readdirSync(dir).filter((n) => n !== ".ferry-resume")).toEqual([]); // no image-*.tar.gz, no .part, no .ferry-tmp-* (resume state aside)
    const again = await runCli(["export", BIG(), "-o", dir]);
    expect(again.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["image-amd64.tar.gz", "image-arm64.tar.gz", "image-armv7.tar.gz"]);
  }, 30_000);
});

describe("ferry export: outputs", () => {
  test("--json lists each file with path, platform, size and sha256", async () => {
    const dir = fresh();
    const { code, stdout } = await runCli(["export", SRC(), "-o", dir, "--json"]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.digest).toBe(sample.root.digest);
    expect(result.files.map((f: { platform: string }) => f.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    for (const f of result.files) {
      const bytes = readFileSync(f.path);
      expect(f.size).toBe(bytes.byteLength);
      expect(f.sha256).toBe(sha256(bytes));
    }
    expect(readdirSync(dir).sort()).toEqual(["image-amd64.tar.gz", "image-arm64.tar.gz", "image-armv7.tar.gz"]);
  }, 20_000);

  test("--format oci -o DIR: skopeo reads the layout with the source index digest", async () => {
    const dir = fresh("layout");
    const { code } = await runCli(["export", SRC(), "--format", "oci", "-o", dir]);
    expect(code).toBe(0);
    expect(sha256(await skopeoInspectRaw(`oci:${dir}:1.0`))).toBe(sample.root.digest);
  }, 20_000);

  test("--format oci-archive -o x.tar (skopeo reads it) and -o x.tar.gz (valid gzip of a layout)", async () => {
    const dir = fresh("archive");
    const tar = join(dir, "x.tar");
    expect((await runCli(["export", SRC(), "--format", "oci-archive", "-o", tar])).code).toBe(0);
    expect(sha256(await skopeoInspectRaw(`oci-archive:${tar}:1.0`))).toBe(sample.root.digest);
    const gz = join(dir, "x.tar.gz");
    expect((await runCli(["export", SRC(), "--format", "oci-archive", "-o", gz])).code).toBe(0);
    await run("gzip", ["-t", gz]);
    const names = (await run("tar", ["-tzf", gz])).stdout.split("\n");
    for (const name of ["index.json", "oci-layout", "manifest.json"]) expect(names).toContain(name);
    expect(readdirSync(dir).sort()).toEqual(["x.tar", "x.tar.gz"]);
  }, 20_000);

  test("--platform armv7 and --tag '{repo}:{arch}': one file, named as the template says", async () => {
    const dir = fresh();
    const { code } = await runCli(["export", SRC(), "-o", dir, "--platform", "armv7", "--tag", "{repo}:{arch}"]);
    expect(code).toBe(0);
    expect(readdirSync(dir)).toEqual(["image-armv7.tar.gz"]);
    const manifest = JSON.parse((await run("tar", ["-xzOf", join(dir, "image-armv7.tar.gz"), "manifest.json"])).stdout);
    expect(manifest[0].RepoTags).toEqual([`${registry.host}/cli/app:arm`]);
  }, 20_000);

  test("--compression-level 6: valid gzip, smaller than level 0", async () => {
    const [six, zero] = [fresh(), fresh()];
    expect((await runCli(["export", SRC(), "-o", six, "--platform", "amd64", "--compression-level", "6"])).code).toBe(0);
    expect((await runCli(["export", SRC(), "-o", zero, "--platform", "amd64", "--compression-level", "0"])).code).toBe(0);
    await run("gzip", ["-t", join(six, "image-amd64.tar.gz")]);
    expect(statSync(join(six, "image-amd64.tar.gz")).size).toBeLessThan(statSync(join(zero, "image-amd64.tar.gz")).size);
  }, 20_000);

  test("--push DST with --dest-creds: the files and the index pushed, --json says where", async () => {
    const dir = fresh();
    const dst = `${secured.host}/pushed/app:1.0`;
    const denied = await runCli(["export", SRC(), "-o", dir, "--push", dst]);
    expect(denied.code).toBe(4);
    expect(readdirSync(dir).filter((n) => n !== ".ferry-resume")).toEqual([]); // resume state aside
    const ok = await runCli(["export", SRC(), "-o", dir, "--push", dst, "--dest-creds", "ferry:dest-pass", "--json"]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).not.toContain("dest-pass");
    expect(JSON.parse(ok.stdout).pushed).toEqual({ reference: dst, digest: sample.root.digest });
    const raw = (await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "ferry:dest-pass", `docker://${dst}`]))
      .stdout;
    expect(sha256(raw)).toBe(sample.root.digest);
    expect(readdirSync(dir).length).toBe(3);
  }, 30_000);
});

describe("ferry export: failures", () => {
  const rows: { name: string; args: () => string[]; code: number; stderr: RegExp }[] = [
    {
      name: "a platform not in the index → 3 with the list",
      args: () => ["export", SRC(), "-o", fresh(), "--platform", "s390x"],
      code: 3,
      stderr: /^ferry: .*Cannot find platform linux\/s390x in the index; it has linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7\n$/,
    },
    { name: "-o under /proc → 8", args: () => ["export", SRC(), "-o", "/proc/forbidden"], code: 8, stderr: /^ferry: .*Cannot/ },
    {
      name: "-o under a regular file → 8",
      args: () => {
        const file = join(work, `regular-${n++}`);
        writeFileSync(file, "x");
        return ["export", SRC(), "-o", join(file, "out")];
      },
      code: 8,
      stderr: /^ferry: .*Cannot create/,
    },
    {
      name: "--compression-level 12 → 2",
      args: () => ["export", SRC(), "--compression-level", "12"],
      code: 2,
      stderr: /--compression-level "12": expected a whole number from 0 to 9/,
    },
    {
      name: "--tag giving no docker reference → 2, before the registry is contacted",
      args: () => ["export", "127.0.0.1:1/team/app:1.0", "-o", fresh(), "--tag", "{repo}:{tag}+{label}"],
      code: 2,
      stderr: /--tag "\{repo\}:\{tag\}\+\{label\}": it gives "127\.0\.0\.1:1\/team\/app:1\.0\+amd64", which docker load cannot take/,
    },
    { name: "--push to a non-registry → 2", args: () => ["export", SRC(), "-o", fresh(), "--push", "oci:x"], code: 2, stderr: /--push/ },
  ];
  for (const row of rows) {
    test(row.name, async () => {
      const { code, stderr } = await runCli(row.args());
      expect(stderr).toMatch(row.stderr);
      expect(stderr.trim().split("\n").length).toBe(1);
      expect(code).toBe(row.code);
    }, 20_000);
  }
});

describe("ferry copy to archive transports", () => {
  test("oci-archive:FILE:TAG reads back through skopeo with the same digest", async () => {
    const file = join(freshDir("copy"), "app.tar");
    const { code } = await runCli(["copy", SRC(), `oci-archive:${file}:v1`]);
    expect(code).toBe(0);
    expect(sha256(await skopeoInspectRaw(`oci-archive:${file}:v1`))).toBe(sample.root.digest);
  }, 20_000);

  test("--platform arm64 to docker-archive:FILE holds that one platform", async () => {
    const file = join(freshDir("copy"), "arm64.tar");
    const { code } = await runCli(["copy", "--platform", "arm64", SRC(), `docker-archive:${file}`]);
    expect(code).toBe(0);
    const info = await skopeoInspect(`docker-archive:${file}`);
    expect([info.Os, info.Architecture]).toEqual(["linux", "arm64"]);
  }, 20_000);

  test("docker-archive without --platform on a multi-arch source → 2, no file", async () => {
    const dir = freshDir("copy");
    const { code, stderr } = await runCli(["copy", SRC(), `docker-archive:${join(dir, "x.tar")}`]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^ferry: .*Cannot write 3 platforms to one docker-archive: choose one with --platform/);
    expect(readdirSync(dir)).toEqual([]);
  }, 20_000);
});
