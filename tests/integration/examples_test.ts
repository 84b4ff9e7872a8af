/**
 * examples/*.ts run as a user runs them: `deno run -A examples/X.ts HOST …` against the real CNCF registry seeded
 * with the sample image; skopeo reads back what they wrote. The same examples, bundled for Node by
 * `bun build --target=node`, run under Node too. And the README's library examples run as written, from a directory
 * outside the checkout (which they import as ./ferry/mod.ts), under Deno, Bun and Node; only registry.example.com
 * is pointed at the test registry.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";
import type { SampleImage } from "../../lib/testing/sample_image.ts";

const root = join(import.meta.dir, "../..");
const deno = join(root, "node_modules/.bin/deno");
const bun = process.execPath;

let registry: TestRegistry;
let sample: SampleImage;
let tmp: string;
beforeAll(async () => {
  registry = await startRegistry();
  sample = await pushSampleImage(`${registry.host}/sample/app:1.0`);
  tmp = await mkdtemp(join(tmpdir(), "ferry-examples-"));
}, 30_000);
afterAll(async () => {
  await registry?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

type Runner = (example: string, args: string[]) => Promise<string>;

/** `deno run -A examples/NAME.ts ARGS…` from the repository root; resolves with stdout. */
const denoRun: Runner = async (example, args) =>
  (await run(deno, ["run", "-A", `examples/${example}.ts`, ...args], { cwd: root, timeoutMs: 120_000 })).stdout;

/** The example bundled for Node (`bun build --target=node`), then `node bundle.mjs ARGS…`. */
const nodeRun: Runner = async (example, args) => {
  const bundle = join(tmp, `${example}.node.mjs`);
  await run(bun, ["build", "--target=node", `examples/${example}.ts`, "--outfile", bundle], { cwd: root });
  return (await run("node", [bundle, ...args], { cwd: root, timeoutMs: 120_000 })).stdout;
};

const platformOf = (m: { platform?: { architecture: string; variant?: string } }) =>
  `${m.platform?.architecture}${m.platform?.variant ?? ""}`;

async function gunzipped(path: string): Promise<string> {
  const out = path.replace(/\.gz$/, "");
  await run("sh", ["-c", 'gzip -dc "$1" > "$2"', "sh", path, out]);
  return out;
}

for (const [runtime, runExample] of [["deno", denoRun], ["node", nodeRun]] as const) {
  describe(`examples under ${runtime}`, () => {
    test("export.ts writes one docker-archive per platform that skopeo reads", async () => {
      const out = join(tmp, `${runtime}-export`);
      const stdout = await runExample("export", [registry.host, "sample/app:1.0", out]);
      expect(stdout).toContain(`exported ${registry.host}/sample/app:1.0 (${sample.root.digest})`);
      const files = (await readdir(out)).sort();
      expect(files).toEqual(["image-amd64.tar.gz", "image-arm64.tar.gz", "image-armv7.tar.gz"]);
      for (const file of files) expect(stdout).toContain(join(out, file));
      for (const [i, m] of sample.manifests.entries()) {
        const file = join(out, `image-${platformOf(m).replace("arm64v8", "arm64")}.tar.gz`);
        const info = await skopeoInspect(`docker-archive:${await gunzipped(file)}`);
        expect(info.Architecture).toBe(sample.manifests[i].platform!.architecture);
        expect(info.Os).toBe("linux");
      }
    }, 120_000);

    test("copy.ts copies every platform byte for byte, and arm64 into an OCI layout", async () => {
      const out = join(tmp, `${runtime}-copy`);
      const stdout = await runExample("copy", [registry.host, "sample/app:1.0", out]);
      const source = await skopeoInspectRaw(`docker://${registry.host}/sample/app:1.0`);
      expect(await skopeoInspectRaw(`docker://${registry.host}/examples/copy:1.0`)).toBe(source);
      expect(stdout).toContain(`${registry.host}/examples/copy:1.0: ${sample.root.digest}`);
      const arm = await skopeoInspect(`oci:${out}/layout:arm64`, ["--override-arch", "arm64"]);
      expect(arm.Architecture).toBe("arm64");
      expect(JSON.parse(await skopeoInspectRaw(`oci:${out}/layout:arm64`)).manifests.map(platformOf)).toEqual(["arm64v8"]);
      expect(stdout).toContain(`oci:${out}/layout:arm64`);
    }, 120_000);

    test("manifest_list.ts splits into per-arch tags and pushes a list of them", async () => {
      const stdout = await runExample("manifest_list", [registry.host, "sample/app:1.0"]);
      for (const m of sample.manifests) {
        const part = await skopeoInspectRaw(`docker://${registry.host}/examples/parts@${m.digest}`);
        expect(part.length).toBe(m.size);
      }
      const list = JSON.parse(await skopeoInspectRaw(`docker://${registry.host}/examples/list:1.0`));
      expect(list.mediaType).toBe("application/vnd.oci.image.index.v1+json");
      expect(list.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual(
        sample.manifests.map((m) => m.digest).sort(),
      );
      expect(list.manifests.map(platformOf).sort()).toEqual(["amd64", "arm64v8", "armv7"]);
      expect(stdout).toContain(`pushed ${registry.host}/examples/list:1.0`);
    }, 120_000);
  });
}

/** The ```ts blocks of README.md's "## Library" section. */
function readmeLibraryExamples(): string[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const start = readme.indexOf("\n## Library\n");
  const end = readme.indexOf("\n## ", start + 1);
  expect(start).toBeGreaterThan(0);
  return [...readme.slice(start, end).matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

describe("README library examples, run as written from a directory outside the checkout", () => {
  const examples = readmeLibraryExamples();

  test("there are two, both importing ./ferry/mod.ts", () => {
    expect(examples.length).toBe(2);
    for (const code of examples) expect(code).toContain('from "./ferry/mod.ts";');
  });

  /** Writes example `i` into a fresh directory beside a `ferry` link to the checkout; returns the directory. */
  async function place(runtime: string, i: number): Promise<string> {
    const dir = join(tmp, `readme-${runtime}-${i}`);
    await mkdir(dir, { recursive: true });
    await symlink(root, join(dir, "ferry"));
    await writeFile(join(dir, "example.ts"), examples[i].replaceAll("registry.example.com", registry.host));
    return dir;
  }

  const runners: [string, (dir: string) => Promise<{ stdout: string; stderr: string }>][] = [
    ["deno", (dir) => run(deno, ["run", "-A", "example.ts"], { cwd: dir, timeoutMs: 120_000 })],
    ["bun", (dir) => run(bun, ["example.ts"], { cwd: dir, timeoutMs: 120_000 })],
    ["node", async (dir) => {
      await run(bun, ["build", "--target=node", "example.ts", "--outfile", "example.mjs"], { cwd: dir });
      return run("node", ["example.mjs"], { cwd: dir, timeoutMs: 120_000 });
    }],
  ];

  for (const [runtime, runIn] of runners) {
    test(`${runtime}: the export example writes the amd64 and arm64 files it prints`, async () => {
      await pushSampleImage(`${registry.host}/team/app:1.0`);
      const dir = await place(runtime, 0);
      const { stdout, stderr } = await runIn(dir);
      expect(stderr).not.toContain("ferry:"); // no formatted error
      const lines = stdout.trim().split("\n").sort();
      expect(lines.map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual([
        "out/image-amd64.tar.gz linux/amd64",
        "out/image-arm64.tar.gz linux/arm64/v8",
      ]);
      for (const line of lines) {
        const [file, , sha256] = line.split(" ");
        expect(sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect((await readFile(join(dir, file))).byteLength).toBeGreaterThan(0);
      }
    }, 180_000);

    test(`${runtime}: the copyGraph example writes an OCI layout that skopeo reads`, async () => {
      const dir = await place(runtime, 1);
      await runIn(dir);
      const index = JSON.parse(await skopeoInspectRaw(`oci:${join(dir, "sample-layout")}:1.0`));
      expect(index.manifests.map(platformOf).sort()).toEqual(["amd64", "arm64v8", "armv7"]);
    }, 180_000);
  }
});
