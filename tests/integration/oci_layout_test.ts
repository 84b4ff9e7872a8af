/**
 * OciLayoutStore against independent readers and writers: skopeo reads and copies what ferry wrote,
 * umoci unpacks it, and ferry reads back what skopeo wrote, digests identical.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { buildSampleImage, type SampleImage } from "../../lib/testing/sample_image.ts";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { skopeoCopy, skopeoInspect, skopeoInspectRaw, umociUnpack } from "../helpers/tools.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"];
/** The tag suffix of each platform's own tag, e.g. `1.0-arm64`. */
const SUFFIX: Record<string, string> = { "linux/amd64": "amd64", "linux/arm64/v8": "arm64", "linux/arm/v7": "armv7" };

let work: string;
let sample: SampleImage;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ferry-oci-it-"));
  sample = buildSampleImage({ platforms: PLATFORMS });
  layout = join(work, "layout");
  const dst = await OciLayoutStore.open(layout, { create: true });
  try {
    await copyGraph(sample.store, dst, sample.root);
    await dst.tag(sample.root, "1.0");
    for (const [i, m] of sample.manifests.entries()) await dst.tag(m, `1.0-${SUFFIX[PLATFORMS[i]]}`);
    await dst.close();
  } catch (err) {
    await dst.abort();
    throw err;
  }
}, 30_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("OCI layout written by ferry", () => {
  test("skopeo inspect --raw returns the source index bytes (digest preserved)", async () => {
    const raw = await skopeoInspectRaw(`oci:${layout}:1.0`);
    expect(raw).toBe(new TextDecoder().decode(sample.store.get(sample.root.digest)!));
    expect(digestOf(raw)).toBe(sample.root.digest);
  }, 30_000);

  test("skopeo inspect sees each platform manifest under its own tag", async () => {
    for (const [i, platform] of PLATFORMS.entries()) {
      const info = await skopeoInspect(`oci:${layout}:1.0-${SUFFIX[platform]}`);
      expect(info.Digest).toBe(sample.manifests[i].digest);
      expect(`${info.Os}/${info.Architecture}`).toBe(platform.split("/").slice(0, 2).join("/"));
    }
  }, 30_000);

  test("skopeo copy --all to a second layout keeps every digest", async () => {
    const second = join(work, "second");
    await skopeoCopy(`oci:${layout}:1.0`, `oci:${second}:1.0`, ["--all"]);
    expect(await skopeoInspectRaw(`oci:${second}:1.0`)).toBe(await skopeoInspectRaw(`oci:${layout}:1.0`));
    const back = await OciLayoutStore.open(second);
    const copy = new MemoryStore();
    await copyGraph(back, copy, await back.resolve("1.0"));
    expect([...copy.blobs.keys()].sort()).toEqual([...sample.store.blobs.keys()].sort());
  }, 60_000);

  test("umoci unpacks every platform manifest, with the platform's own files", async () => {
    for (const platform of PLATFORMS) {
      const bundle = join(work, `bundle-${SUFFIX[platform]}`);
      await umociUnpack(`${layout}:1.0-${SUFFIX[platform]}`, bundle);
      const text = await readFile(join(bundle, "rootfs", "platform.txt"), "utf8");
      expect(text).toContain(platform.split("/").slice(0, 2).join("/"));
      const config = JSON.parse(await readFile(join(bundle, "config.json"), "utf8"));
      expect(config.root.path).toBe("rootfs");
    }
  }, 60_000);
});

describe("OCI layout written by skopeo", () => {
  test("ferry reads it and copies it to memory with identical digests", async () => {
    const bySkopeo = join(work, "by-skopeo");
    await skopeoCopy(`oci:${layout}:1.0`, `oci:${bySkopeo}:v2`, ["--all"]);
    const index = JSON.parse(await readFile(join(bySkopeo, "index.json"), "utf8"));
    expect(index.manifests.length).toBe(1);
    const store = await OciLayoutStore.open(bySkopeo);
    expect(store.listTags()).toEqual(["v2"]);
    const root = await store.resolve("v2");
    expect(root).toMatchObject({ digest: sample.root.digest, size: sample.root.size, mediaType: sample.root.mediaType });
    expect((await store.resolve("")).digest).toBe(root.digest);
    const copy = new MemoryStore();
    const result = await copyGraph(store, copy, root);
    expect(result.copied).toBe(sample.store.blobs.size);
    for (const [digest, { bytes }] of sample.store.blobs) expect(copy.get(digest)).toEqual(bytes);
  }, 60_000);
});
