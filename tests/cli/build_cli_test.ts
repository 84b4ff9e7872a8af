/**
 * `ferry build` as a user runs it: the CLI as a process (or FERRY_BIN), a base image in an OCI layout,
 * the refusals table (exit code + the one stderr line naming the Dockerfile line), and file outputs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { runCli } from "../helpers/cli.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-build-cli-"));
const layout = join(work, "base");
const BASE = `oci:${layout}:1.0`;
let n = 0;

/** A fresh context with `files` (a Dockerfile among them). */
function context(files: Record<string, string>): string {
  const dir = join(work, `ctx-${n++}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

beforeAll(async () => {
  const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
  const store = await OciLayoutStore.open(layout, { create: true });
  await copyGraph(sample.store, store, sample.root);
  await store.tag(sample.root, "1.0");
  await store.close();
  writeFileSync(join(work, "outside.txt"), "outside the context\n");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("ferry build refusals", () => {
  const table: { name: string; files: Record<string, string>; args?: string[]; env?: Record<string, string>; code: number; stderr: RegExp }[] = [
    {
      name: "RUN",
      files: { Dockerfile: `FROM ${BASE}\nCOPY a /a\nRUN make install\n`, a: "a" },
      code: 2,
      stderr: /^ferry: Cannot build .*Dockerfile line 3 \(RUN make install\): RUN executes code at build time, which ferry build never does/,
    },
    {
      name: "an unknown instruction",
      files: { Dockerfile: `FROM ${BASE}\nCOPYY a /a\n` },
      code: 2,
      stderr: /^ferry: Cannot build .*Dockerfile line 2 \(COPYY a \/a\): unknown instruction COPYY/,
    },
    {
      name: "a COPY source outside the context",
      files: { Dockerfile: `FROM ${BASE}\n\nCOPY ../outside.txt /x\n` },
      code: 2,
      stderr: /^ferry: Cannot build .*Dockerfile line 3 \(COPY \.\.\/outside\.txt \/x\): "\.\.\/outside\.txt" is outside the build context/,
    },
    {
      name: "a base without the requested platform",
      files: { Dockerfile: `FROM ${BASE}\nCMD ["x"]\n` },
      args: ["--platform", "linux/amd64,linux/s390x"],
      code: 3,
      stderr: /^ferry: Cannot build .*Dockerfile line 1 \(FROM oci:.*\): oci:.*base:1\.0 has no linux\/s390x image \(it has linux\/amd64, linux\/arm64\/v8\)/,
    },
    {
      name: "a missing COPY source",
      files: { Dockerfile: "FROM scratch\nCOPY nope.txt /\n" },
      code: 3,
      stderr: /line 2 \(COPY nope\.txt \/\): "nope\.txt" does not exist in the context/,
    },
    {
      name: "ADD from a URL",
      files: { Dockerfile: "FROM scratch\nADD https://example.com/x.tgz /\n" },
      code: 2,
      stderr: /line 2 .*ADD from a URL needs the network/,
    },
    {
      name: "--chown with a user name",
      files: { Dockerfile: "FROM scratch\nCOPY --chown=www-data a /a\n", a: "a" },
      code: 2,
      stderr: /line 2 .*--chown=www-data: use numeric ids/,
    },
    {
      name: "an unset ${VAR:?}",
      files: { Dockerfile: "FROM scratch\nARG VERSION\nLABEL v=${VERSION:?set --build-arg VERSION}\n" },
      code: 2,
      stderr: /line 3 .*VERSION: set --build-arg VERSION/,
    },
    { name: "--split without --push", files: { Dockerfile: "FROM scratch\n" }, args: ["--split"], code: 2, stderr: /--split tags what --push pushes/ },
    { name: "a wildcard platform", files: { Dockerfile: "FROM scratch\n" }, args: ["--platform", "linux/*"], code: 2, stderr: /platform "linux\/\*": a wildcard \(\*\) is only for filters/ },
    { name: "--push without -t", files: { Dockerfile: "FROM scratch\n" }, args: ["--push"], code: 2, stderr: /name the image with -t REF/ },
    { name: "a bad SOURCE_DATE_EPOCH", files: { Dockerfile: "FROM scratch\n" }, env: { SOURCE_DATE_EPOCH: "yesterday" }, code: 2, stderr: /SOURCE_DATE_EPOCH "yesterday"/ },
    { name: "no Dockerfile", files: { "a.txt": "a" }, code: 3, stderr: /Cannot read .*Dockerfile: no such file/ },
  ];
  for (const row of table) {
    test(row.name, async () => {
      const dir = context(row.files);
      // -o: a build with nothing to write is refused before it starts (its own test below).
      const run = await runCli(["build", "--platform", "amd64", "-o", join(work, "unwritten"), ...(row.args ?? []), dir], {
        env: row.env,
      });
      expect(run.stderr).toMatch(row.stderr);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
      expect(run.code).toBe(row.code);
      expect(run.stdout).toBe("");
    }, 30_000);
  }
});

describe("ferry build with nothing to write", () => {
  test("-t REF without --push or -o is refused before building (no base image is fetched), exit 2", async () => {
    // The base is on a port nothing listens on: building would fail with a connection error instead.
    const dir = context({ Dockerfile: "FROM 127.0.0.1:9/base:1\nCOPY a /a\n", a: "a" });
    const tagged = await runCli(["build", "-t", "127.0.0.1:5000/app:1", dir]);
    expect(tagged.stderr).toBe(
      "ferry: Cannot build: nothing to write; add --push to push 127.0.0.1:5000/app:1, or -o DIR to write files " +
        "(docker-load tarballs, or --format oci / oci-archive)\n",
    );
    expect(tagged.code).toBe(2);
    expect(tagged.stdout).toBe("");
    const bare = await runCli(["build", "--json", dir]);
    expect(bare.stderr).toBe(
      "ferry: Cannot build: nothing to write; add -t REF --push to push it, or -o DIR to write files " +
        "(docker-load tarballs, or --format oci / oci-archive)\n",
    );
    expect(bare.code).toBe(2);
  }, 30_000);
});

describe("ferry build outputs", () => {
  test("-o DIR: docker-load files per platform; --format oci: a layout; the same digest both times", async () => {
    const dir = context({
      Dockerfile: `# dockerma archs:amd64,arm64:\nFROM ${BASE}\nCOPY app.txt /srv/\nCMD ["cat", "/srv/app.txt"]\n`,
      "app.txt": "app\n",
    });
    const out = join(work, "files");
    const files = await runCli(["build", "-t", "127.0.0.1:5000/app:1", "-o", out, "--json", dir]);
    expect(files.stderr).toBe("");
    expect(files.code).toBe(0);
    const result = JSON.parse(files.stdout);
    expect(result.images.map((i: { platform: string }) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    expect(result.files.map((f: string) => f.split("/").at(-1))).toEqual(["image-amd64.tar.gz", "image-arm64.tar.gz"]);
    expect(result.files.every((f: string) => existsSync(f))).toBe(true);
    const oci = await runCli(["build", "-o", join(work, "layout-out"), "--format", "oci", dir]);
    expect(oci.code).toBe(0);
    expect(oci.stdout).toContain(`Built ${result.digest} (2 platforms)`);
    expect(existsSync(join(work, "layout-out", "index.json"))).toBe(true);
    const epoch = await runCli(["build", "--json", "-o", join(work, "epoch-out"), dir], { env: { SOURCE_DATE_EPOCH: "1700000000" } });
    expect(JSON.parse(epoch.stdout).digest).not.toBe(result.digest);
  }, 60_000);
});
