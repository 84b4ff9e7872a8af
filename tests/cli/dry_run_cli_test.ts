/**
 * `--dry-run` of copy, split, import and export, as a user runs them against a real registry: nothing is written
 * (the registry's storage and the output directories untouched), the bytes reported equal what the real run then
 * writes (copy, split, import: its `bytes`; export: the files' sizes), and a second dry run against a destination
 * holding part of the image reports that part as already there. With FERRY_BIN set, against the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { addCosignSignature, generateSigningKey } from "../../lib/testing/referrers.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { skopeoInspectRaw } from "../helpers/tools.ts";

let src: TestRegistry;
let dst: TestRegistry;
let sample: SampleImage;
const work = mkdtempSync(join(tmpdir(), "ferry-dry-run-"));
let n = 0;
const fresh = (name = "out") => join(work, `${name}-${n++}`);
const SRC = () => `${src.host}/dry/app:1.0`;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  sample = await pushSampleImage(SRC(), { attestations: true, layerSize: 64 * 1024 });
}, 60_000);
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** Every file under a registry's storage, with its size: an upload session, a blob or a tag would change it. */
function storage(registry: TestRegistry): string[] {
  const root = join(registry.dir, "data");
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else out.push(`${relative(root, path)} ${statSync(path).size}`);
    }
  };
  walk(root);
  return out.sort();
}

async function catalog(registry: TestRegistry): Promise<string[]> {
  const res = await fetch(`http://${registry.host}/v2/_catalog`);
  return ((await res.json()) as { repositories: string[] }).repositories;
}

async function json(args: string[]): Promise<any> {
  const r = await runCli([...args, "--json"]);
  if (r.code !== 0) throw new Error(`ferry ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe("ferry copy --dry-run", () => {
  test("to a registry: nothing written there, the bytes the copy then streams, then what is there", async () => {
    const target = `${dst.host}/dry/copy:1.0`;
    const before = storage(dst);
    const plan = await json(["copy", "--dry-run", SRC(), target]);
    expect(storage(dst)).toEqual(before);
    expect(await catalog(dst)).not.toContain("dry/copy");
    await expect(skopeoInspectRaw(`docker://${target}`)).rejects.toThrow();
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.present).toEqual([]);
    expect(plan.plan.tags).toEqual([{ tag: "1.0" }]);
    expect(plan.plan.toWrite[0]).toMatchObject({ digest: sample.root.digest, size: sample.root.size });
    const sum = plan.plan.perPlatform.reduce((s: number, p: { bytes: number }) => s + p.bytes, 0);
    expect(sum).toBe(plan.bytes);
    const real = await json(["copy", SRC(), target]);
    expect(real.dryRun).toBeUndefined();
    expect(real.bytes).toBe(plan.bytes);
    expect(real.copied).toBe(plan.copied);
    // Again: everything is there now (the index stands for all under it) and the tag names it.
    const again = await json(["copy", "--dry-run", SRC(), target]);
    expect(again).toMatchObject({ bytes: 0, copied: 0 });
    expect(again.plan.present.map((i: { digest: string }) => i.digest)).toEqual([sample.root.digest]);
    expect(again.plan.tags).toEqual([{ tag: "1.0", current: sample.root.digest }]);
  }, 60_000);

  test("to a registry holding one platform: that platform is already there, the rest to write", async () => {
    const target = `${dst.host}/dry/partial:1.0`;
    const amd64 = sample.manifests.find((m) => m.platform?.architecture === "amd64")!;
    await json(["copy", "--platform", "linux/amd64", SRC(), `${dst.host}/dry/partial:amd64`]);
    const before = storage(dst);
    const plan = await json(["copy", "--dry-run", SRC(), target]);
    expect(storage(dst)).toEqual(before);
    const present = plan.plan.present.map((i: { digest: string }) => i.digest);
    expect(present).toContain(amd64.digest);
    expect(plan.plan.toWrite.map((i: { digest: string }) => i.digest)).not.toContain(amd64.digest);
    const row = plan.plan.perPlatform.find((p: { platform: string }) => p.platform === "linux/amd64");
    expect(row).toMatchObject({ bytes: 0, blobs: 0, present: 1 });
    const real = await json(["copy", SRC(), target]);
    expect(real.bytes).toBe(plan.bytes);
    expect(real.skipped).toBe(plan.skipped);
    expect(real.copied).toBe(plan.copied);
  }, 60_000);

  test("inside one registry: blobs are mounted, not streamed, as the copy then does", async () => {
    const target = `${src.host}/dry/mounted:1.0`;
    const plan = await json(["copy", "--dry-run", SRC(), target]);
    expect(plan.bytes).toBe(0);
    expect(plan.plan.mounted.length).toBeGreaterThan(0);
    expect(await catalog(src)).not.toContain("dry/mounted");
    const real = await json(["copy", SRC(), target]);
    expect(real).toMatchObject({ bytes: 0, mounted: plan.mounted });
  }, 60_000);

  test("to a new layout: no directory made; the text is a table with the totals", async () => {
    const out = fresh("layout");
    const r = await runCli(["copy", "--dry-run", SRC(), `oci:${out}:1.0`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(r.stdout).toContain(`Dry run: copy ${SRC()} → oci:${out}:1.0 (nothing written; oci:${out}:1.0 does not exist yet)`);
    expect(r.stdout).toMatch(/WHAT +WHERE +BYTES +ALREADY THERE/);
    expect(r.stdout).toMatch(/linux\/arm64\/v8 +oci:/);
    expect(r.stdout).toContain("tag 1.0 at oci:");
    const plan = await json(["copy", "--dry-run", SRC(), `oci:${out}:1.0`]);
    expect(r.stdout).toContain(`total  `);
    expect(r.stdout).toContain(`${plan.bytes} B`);
    const real = await json(["copy", SRC(), `oci:${out}:1.0`]);
    expect(real.bytes).toBe(plan.bytes);
    const again = await json(["copy", "--dry-run", SRC(), `oci:${out}:1.0`]);
    expect(again.plan.destinationExists).toBe(true);
    expect(again.plan.present.map((i: { digest: string }) => i.digest)).toEqual([sample.root.digest]);
  }, 60_000);

  test("referrers are listed and counted", async () => {
    const signed = buildSampleImage({ platforms: ["linux/amd64"], layerSize: 4096, seed: 7 });
    const sig = addCosignSignature(signed.store, signed.root, { reference: "dry/signed", key: generateSigningKey() });
    const ref = parseReference(`${src.host}/dry/signed:1.0`);
    const store = openRegistryStore(ref);
    await copyGraph(signed.store, store, signed.root);
    await store.tag(signed.root, "1.0");
    await copyGraph(signed.store, store, sig.desc);
    await store.tag(sig.desc, sig.tag!);
    const target = `${dst.host}/dry/signed:1.0`;
    const plan = await json(["copy", "--dry-run", `${src.host}/dry/signed:1.0`, target]);
    expect(plan.referrers.map((r: { digest: string }) => r.digest)).toEqual([sig.desc.digest]);
    expect(plan.plan.toWrite.some((i: { digest: string; platform?: string }) => i.digest === sig.desc.digest && i.platform === "referrers")).toBe(true);
    expect(await catalog(dst)).not.toContain("dry/signed");
    const real = await json(["copy", `${src.host}/dry/signed:1.0`, target]);
    expect(real.bytes).toBe(plan.bytes);
    expect(real.copied).toBe(plan.copied);
  }, 60_000);
});

describe("ferry split --dry-run", () => {
  test("to a registry: the tags it would write, nothing written, the bytes split then streams", async () => {
    const target = `${dst.host}/dry/split`;
    const before = storage(dst);
    const plan = await json(["split", "--dry-run", "--with-index", SRC(), target]);
    expect(storage(dst)).toEqual(before);
    expect(await catalog(dst)).not.toContain("dry/split");
    expect(plan.dryRun).toBe(true);
    expect(plan.tags.map((t: { tag: string }) => t.tag)).toEqual(["1.0-amd64", "1.0-arm64", "1.0-armv7"]);
    expect(plan.plan.tags).toEqual([{ tag: "1.0-amd64" }, { tag: "1.0-arm64" }, { tag: "1.0-armv7" }, { tag: "1.0" }]);
    const real = await json(["split", "--with-index", SRC(), target]);
    expect(real.bytes).toBe(plan.bytes);
    expect(real.copied).toBe(plan.copied);
    expect(real.tags).toEqual(plan.tags);
  }, 60_000);

  test("into a layout holding one platform: that one is already there; no directory for a new one", async () => {
    const out = fresh("split");
    const none = await json(["split", "--dry-run", SRC(), `oci:${out}`]);
    expect(existsSync(out)).toBe(false);
    await json(["split", "--platform", "linux/arm/v7", SRC(), `oci:${out}`]);
    const plan = await json(["split", "--dry-run", SRC(), `oci:${out}`]);
    const armv7 = sample.manifests.find((m) => m.platform?.variant === "v7")!;
    expect(plan.plan.present.map((i: { digest: string }) => i.digest)).toContain(armv7.digest);
    expect(plan.plan.tags).toContainEqual({ tag: "1.0-armv7", current: armv7.digest });
    expect(plan.bytes).toBeLessThan(none.bytes);
    const r = await runCli(["split", "--dry-run", SRC(), `oci:${out}`]);
    expect(r.stdout).toContain(`tag 1.0-armv7 at oci:${out}: already names it`);
    expect(r.stdout).toContain(`tag 1.0-amd64 at oci:${out}: new`);
    const real = await json(["split", SRC(), `oci:${out}`]);
    expect(real.bytes).toBe(plan.bytes);
    expect(real.copied).toBe(plan.copied);
    // The run counts the base layer once per platform it skips it for; the plan lists each digest once.
    expect(real.skipped).toBeGreaterThanOrEqual(plan.skipped);
  }, 60_000);
});

describe("ferry import --dry-run", () => {
  let files: string[];
  beforeAll(async () => {
    const out = fresh("export");
    const exported = await json(["export", "-o", out, SRC()]);
    files = exported.files.map((f: { path: string }) => f.path);
  }, 60_000);

  test("to a registry: nothing pushed, the bytes the import then streams", async () => {
    const target = `${dst.host}/dry/import:1.0`;
    const before = storage(dst);
    const plan = await json(["import", "--dry-run", ...files, target]);
    expect(storage(dst)).toEqual(before);
    expect(await catalog(dst)).not.toContain("dry/import");
    expect(plan).toMatchObject({ dryRun: true, digest: sample.root.digest, index: "original" });
    expect(plan.estimated).toBeUndefined();
    const real = await json(["import", ...files, target]);
    expect(real.digest).toBe(plan.digest);
    expect(real.bytes).toBe(plan.bytes);
    expect(real.copied).toBe(plan.copied);
  }, 60_000);

  test("to a repository holding one platform: it is already there; to a new layout: no directory", async () => {
    const amd64 = files.find((f) => f.includes("amd64"))!;
    await json(["import", amd64, `${dst.host}/dry/import-partial:amd64`]);
    const plan = await json(["import", "--dry-run", ...files, `${dst.host}/dry/import-partial:1.0`]);
    const amd64Digest = sample.manifests.find((m) => m.platform?.architecture === "amd64")!.digest;
    expect(plan.plan.present.map((i: { digest: string }) => i.digest)).toContain(amd64Digest);
    expect(plan.plan.perPlatform.find((p: { platform: string }) => p.platform === "linux/amd64")).toMatchObject({
      bytes: 0,
    });
    const real = await json(["import", ...files, `${dst.host}/dry/import-partial:1.0`]);
    expect(real.bytes).toBe(plan.bytes);
    const out = fresh("import-layout");
    const r = await runCli(["import", "--dry-run", ...files, `oci:${out}:1.0`]);
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(r.stdout).toContain(`Dry run: import 3 files → oci:${out}:1.0`);
    expect(r.stdout).toMatch(/WHAT +WHERE +BYTES +ALREADY THERE/);
  }, 60_000);
});

describe("ferry export --dry-run", () => {
  test("docker files: no directory, each file's exact size, then the files the export writes have it", async () => {
    const out = fresh("export-dry");
    const plan = await json(["export", "--dry-run", "-o", out, SRC()]);
    expect(existsSync(out)).toBe(false);
    expect(plan.dryRun).toBe(true);
    expect(plan.files).toEqual([]);
    expect(plan.planned.map((f: { platform: string }) => f.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    const real = await json(["export", "-o", out, SRC()]);
    for (const f of real.files) {
      const p = plan.planned.find((q: { path: string }) => q.path === f.path);
      expect(p).toMatchObject({ size: f.size, manifest: f.manifest, exists: false });
      expect(statSync(f.path).size).toBe(p.size);
      expect(p.tar).toBeGreaterThan(p.content);
    }
    // Again: the files are there (and would be replaced).
    const again = await json(["export", "--dry-run", "-o", out, SRC()]);
    expect(again.planned.every((f: { exists: boolean }) => f.exists)).toBe(true);
    const text = await runCli(["export", "--dry-run", "-o", out, SRC()]);
    expect(text.stdout).toMatch(/linux\/amd64 +\S+image-amd64\.tar\.gz +\d+ B \(.*\) +a file \(would be replaced\)/);
  }, 60_000);

  test("oci-archive: the exact size of the one file; a compressing gzip level gives the tar's size only", async () => {
    const out = fresh("archive");
    const file = join(out, "app.tar");
    const plan = await json(["export", "--dry-run", "--format", "oci-archive", "-o", file, SRC()]);
    expect(existsSync(out)).toBe(false);
    const real = await json(["export", "--format", "oci-archive", "-o", file, SRC()]);
    expect(plan.planned[0].size).toBe(real.files[0].size);
    expect(plan.planned[0].tar).toBe(real.files[0].size);
    const gz = await json(["export", "--dry-run", "--compression-level", "6", "-o", join(out, "app.tar.gz"), SRC()]);
    expect(gz.planned[0].size).toBeUndefined();
    expect(gz.planned[0].tar).toBe(real.files[0].size);
  }, 60_000);

  test("oci layout and --push: nothing written, the bytes the layout copy and the push then stream", async () => {
    const out = fresh("export-layout");
    const target = `${dst.host}/dry/export-push:1.0`;
    const before = storage(dst);
    const plan = await json(["export", "--dry-run", "--format", "oci", "-o", out, "--push", target, SRC()]);
    expect(existsSync(out)).toBe(false);
    expect(storage(dst)).toEqual(before);
    expect(plan.plan.bytes).toBeGreaterThan(0);
    expect(plan.pushPlan.bytes).toBe(plan.plan.bytes);
    const layout = await json(["copy", SRC(), `oci:${out}:1.0`]); // the layout half, with copy's byte count
    expect(layout.bytes).toBe(plan.plan.bytes);
    const pushed = await json(["copy", SRC(), target]);
    expect(pushed.bytes).toBe(plan.pushPlan.bytes);
    const again = await json(["export", "--dry-run", "--format", "oci", "-o", out, "--push", target, SRC()]);
    expect(again.plan.present.map((i: { digest: string }) => i.digest)).toEqual([sample.root.digest]);
    expect(again.pushPlan.bytes).toBe(0);
  }, 60_000);
});
