/**
 * `exportImage(..., { pushTo })`: the files and a registry push in one pass, each source blob read once
 * (counted at a recording proxy in front of the source registry); failures of either part undo both.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError, RegistryError } from "../../lib/errors.ts";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { exportImage } from "../../lib/verbs/export/export.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { skopeoInspectRaw } from "../helpers/tools.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le"];
const LABELS = ["amd64", "arm64", "armv7", "armv6", "386", "ppc64le"];
let registry: TestRegistry;
let proxy: FaultyProxy;
let sample: SampleImage;
const work = mkdtempSync(join(tmpdir(), "ferry-export-push-"));
const SRC = () => `${proxy.host}/src/app:1.0`; // read through the recording proxy
const BLOB_GET = /^\/v2\/src\/app\/blobs\/(sha256:[a-f0-9]{64})$/;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultyProxy(registry.host, []);
  sample = await pushSampleImage(`${registry.host}/src/app:1.0`, {
    platforms: PLATFORMS,
    attestations: true,
    baseLayerSize: 1024 * 1024,
    layerSize: 64 * 1024,
  });
}, 30_000);
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Every blob (config or layer) of the sample's graph, attestations included. */
function allBlobs(): string[] {
  const blobs = new Set<string>();
  for (const m of [...sample.manifests, ...sample.attestations]) {
    const parsed = JSON.parse(new TextDecoder().decode(sample.store.get(m.digest)!)) as { config: Descriptor; layers: Descriptor[] };
    for (const d of [parsed.config, ...parsed.layers]) blobs.add(d.digest);
  }
  return [...blobs].sort();
}

/** Blob GETs the source saw since `from`, by digest. */
function blobGets(from: number): Map<string, number> {
  const gets = new Map<string, number>();
  for (const r of proxy.requests.slice(from)) {
    const digest = r.method === "GET" ? BLOB_GET.exec(r.path)?.[1] : undefined;
    if (digest) gets.set(digest, (gets.get(digest) ?? 0) + 1);
  }
  return gets;
}

const dstStore = (repo: string) => openRegistryStore(parseReference(`${registry.host}/${repo}`));

describe("export --push", () => {
  test("every platform's file and the whole index pushed, each source blob GET exactly once", async () => {
    const dir = join(work, "all");
    const from = proxy.requests.length;
    const result = await exportImage(SRC(), dir, { pushTo: `${registry.host}/dst/app:1.0` });
    expect(result.files.map((f) => f.path.split("/").at(-1))).toEqual(LABELS.map((l) => `image-${l}.tar.gz`));
    expect(result.pushed).toEqual({ reference: `${registry.host}/dst/app:1.0`, digest: sample.root.digest });
    const gets = blobGets(from);
    expect([...gets.keys()].sort()).toEqual(allBlobs());
    expect([...gets.values()].every((n) => n === 1)).toBe(true);
    const raw = await skopeoInspectRaw(`docker://${registry.host}/dst/app:1.0`);
    expect(raw).toBe(new TextDecoder().decode(sample.store.get(sample.root.digest)!));
    for (const m of [...sample.manifests, ...sample.attestations]) {
      expect(await dstStore("dst/app").exists(m)).toBe(true);
    }
    expect(readdirSync(dir).sort()).toEqual(LABELS.map((l) => `image-${l}.tar.gz`).sort());
  }, 30_000);

  test("with --platform: the filtered index is pushed (new digest) and only those files written", async () => {
    const dir = join(work, "some");
    const from = proxy.requests.length;
    const result = await exportImage(SRC(), dir, { platforms: ["arm64", "armv7"], pushTo: `${registry.host}/dst/some` });
    expect(result.files.map((f) => f.platform)).toEqual(["linux/arm64/v8", "linux/arm/v7"]);
    expect(result.pushed!.reference).toBe(`${registry.host}/dst/some:1.0`);
    expect(result.pushed!.digest).not.toBe(sample.root.digest);
    const index = JSON.parse(await skopeoInspectRaw(`docker://${registry.host}/dst/some:1.0`));
    const images = index.manifests.filter((m: Descriptor) => m.platform?.os !== "unknown").map((m: Descriptor) => m.digest);
    expect(images).toEqual([sample.manifests[1].digest, sample.manifests[2].digest]);
    expect([...blobGets(from).values()].every((n) => n === 1)).toBe(true);
  }, 30_000);

  test("oci-archive plus push: one archive, the source index digest pushed", async () => {
    const dir = join(work, "ociarchive");
    const from = proxy.requests.length;
    const result = await exportImage(SRC(), dir, { format: "oci-archive", pushTo: `${registry.host}/dst/oa:2.0` });
    expect(result.files.map((f) => f.path)).toEqual([join(dir, "image.tar")]);
    expect(result.pushed).toEqual({ reference: `${registry.host}/dst/oa:2.0`, digest: sample.root.digest });
    expect([...blobGets(from).values()].every((n) => n === 1)).toBe(true);
    expect(readdirSync(dir)).toEqual(["image.tar"]);
  }, 30_000);

  test("--format oci plus push: the layout, then the push from it; source blobs read once", async () => {
    const dir = join(work, "layout");
    const from = proxy.requests.length;
    const result = await exportImage(SRC(), dir, { format: "oci", pushTo: `${registry.host}/dst/layout:1.0` });
    expect(result.pushed).toEqual({ reference: `${registry.host}/dst/layout:1.0`, digest: sample.root.digest });
    expect([...blobGets(from).values()].every((n) => n === 1)).toBe(true);
    expect(await skopeoInspectRaw(`docker://${registry.host}/dst/layout:1.0`)).toBe(
      await skopeoInspectRaw(`oci:${dir}:1.0`),
    );
  }, 30_000);

  test("a corrupt source blob aborts both: no files, no temp dir, the push target untagged", async () => {
    const bad = await startFaultyProxy(registry.host, [{ kind: "corrupt", digest: sample.manifests.length ? layerOf(3) : undefined }]);
    try {
      const dir = join(work, "corrupt");
      const err = await exportImage(`${bad.host}/src/app:1.0`, dir, { pushTo: `${registry.host}/dst/corrupt:1.0` }).catch((e) => e);
      expect(err.name).toBe("DigestMismatchError");
      // No file under a final name; what the run verified stays in .ferry-resume/ for a rerun (removed on success).
      expect(readdirSync(dir).filter((n) => n !== ".ferry-resume")).toEqual([]);
      expect(await dstStore("dst/corrupt").resolve("1.0").catch((e) => e)).toBeInstanceOf(NotFoundError);
    } finally {
      await bad.stop();
    }
  }, 30_000);

  test("a failing push aborts the export: the error is the registry's, no files under a final name", async () => {
    const bad = await startFaultyProxy(registry.host, [
      { kind: "status", status: 400, times: 1000, method: "POST", path: /\/blobs\/uploads\/$/ },
    ]);
    try {
      const dir = join(work, "pushfail");
      const err = await exportImage(SRC(), dir, { pushTo: `${bad.host}/dst/fail:1.0`, pushRegistry: { retries: 0 } })
        .catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      // No file under a final name; what the run verified stays in .ferry-resume/ for a rerun (removed on success).
      expect(readdirSync(dir).filter((n) => n !== ".ferry-resume")).toEqual([]);
      expect(await dstStore("dst/fail").resolve("1.0").catch((e) => e)).toBeInstanceOf(NotFoundError);
    } finally {
      await bad.stop();
    }
  }, 30_000);

  test("--push must name a registry", async () => {
    const err = await exportImage(SRC(), join(work, "usage"), { pushTo: `oci:${work}/x` }).catch((e) => e);
    expect(err.name).toBe("UsageError");
    expect(err.message).toContain("--push takes a registry reference");
  });
});

/** The per-platform layer (last layer) of platform `i`. */
function layerOf(i: number): string {
  const m = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[i].digest)!)) as { layers: Descriptor[] };
  return m.layers.at(-1)!.digest;
}
