import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSampleImage, type SampleImage } from "../testing/sample_image.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { openBundleSet } from "../ends/bundle_set.ts";
import { MemoryStore } from "../ends/memory.ts";
import { transfer } from "./transfer.ts";
import { planBundle } from "./bundle_plan.ts";
import { writeBundle } from "./bundle_write.ts";
import { packVolumes, parseVolumeSize } from "./volumes.ts";
import { IntegrityError, UsageError } from "../errors.ts";
import { copyGraph } from "./copy_graph.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-bundle-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Five images sharing their base layer, each in its own layout (oci:DIR:1.0). */
const samples: SampleImage[] = [];
const sources: string[] = [];
for (let i = 0; i < 5; i++) {
  const sample = buildSampleImage({
    seed: 10 + i,
    baseSeed: 1,
    baseLayerSize: 100 * 1024,
    layerSize: 40 * 1024,
    gzipLevel: 0,
  });
  const dir = join(work, `src-${i}`);
  const layout = await OciLayoutStore.open(dir, { create: true });
  await transfer(sample.store, layout, sample.root, { tags: ["1.0"] });
  samples.push(sample);
  sources.push(`oci:${dir}:1.0`);
}
const names = ["docker.io/library/nginx", "ghcr.io/org/app", "quay.io/db/postgres", "docker.io/team/side", "x.io/y"];
const requests = sources.map((source, i) => ({ source, name: names[i] }));

describe("a bundle of many images", () => {
  test("one OCI archive: every image by its full name, each blob once, bundle.json inside", async () => {
    const plan = await planBundle(requests);
    const path = join(work, "bundle.tar");
    try {
      const result = await writeBundle(plan, { kind: "oci-archive", path });
      expect(result.files.map((f) => f.path)).toEqual([path]);
      // The shared base layer is in the archive once: its size is the plan's unique bytes, plus tar headers.
      const each = plan.images.reduce((n, i) => n + i.bytes, 0);
      expect(each - plan.bytes).toBeGreaterThan(4 * 100 * 1024);
      expect(statSync(path).size).toBeLessThan(plan.bytes + 64 * 1024);
    } finally {
      await plan.dispose();
    }
    const archive = await OciLayoutStore.openArchive(path);
    for (const [i, sample] of samples.entries()) {
      expect((await archive.resolve(`${names[i]}:1.0`)).digest).toBe(sample.root.digest);
    }
    const set = await openBundleSet([path]);
    try {
      expect(set.images.map((i) => [i.name, i.complete])).toEqual(names.map((n) => [`${n}:1.0`, true]));
      // Every image copies out whole.
      const dst = new MemoryStore();
      for (const image of set.images) {
        await copyGraph(set.store, dst, { mediaType: image.mediaType, digest: image.digest, size: image.size });
      }
    } finally {
      await set.dispose();
    }
  });

  test("volumes: none over the limit, each whole image importable alone, the others reported missing", async () => {
    const plan = await planBundle(requests);
    const dir = join(work, "vols");
    const size = 520 * 1024;
    let files: string[];
    try {
      const result = await writeBundle(plan, { kind: "volumes", dir, size });
      files = result.files.map((f) => f.path);
      expect(files.length).toBe(3); // two images sharing a base in each, the fifth alone
      for (const f of result.files) expect(statSync(f.path).size).toBeLessThanOrEqual(size);
    } finally {
      await plan.dispose();
    }
    const all = await openBundleSet([dir]);
    expect(all.images.every((i) => i.complete)).toBe(true);
    expect(all.present.length).toBe(files.length);
    await all.dispose();
    for (const [n, file] of files.entries()) {
      const one = await openBundleSet([file]);
      try {
        const mine = one.images.filter((i) => i.volumes!.includes(n + 1));
        expect(mine.length).toBeGreaterThan(0);
        for (const image of one.images) {
          expect(image.complete).toBe(image.volumes!.length === 1 && image.volumes![0] === n + 1);
          if (!image.complete) expect(image.missingFiles.length).toBeGreaterThan(0);
        }
        // Any OCI reader sees the volume's whole images by their names.
        const archive = await OciLayoutStore.openArchive(file);
        for (const image of one.images.filter((i) => i.complete)) {
          expect((await archive.resolve(image.name)).digest).toBe(image.digest);
        }
      } finally {
        await one.dispose();
      }
    }
    // A corrupted volume is refused by its checksum in volumes.json.
    const bytes = readFileSync(files[0]);
    bytes[bytes.length - 2048] ^= 0xff;
    writeFileSync(files[0], bytes);
    await expect(openBundleSet([dir])).rejects.toBeInstanceOf(IntegrityError);
  });
});

describe("packVolumes", () => {
  const blob = (digest: string, size: number, manifest = false) => ({ digest: `sha256:${digest}`, size, manifest });
  test("images sharing a base land together; a larger image is split and needs its volumes", () => {
    const packing = packVolumes(
      [
        { name: "a", blobs: [blob("base", 400_000), blob("a1", 100_000), blob("am", 500, true)] },
        { name: "big", blobs: [blob("b1", 900_000), blob("b2", 900_000), blob("bm", 500, true)] },
        { name: "c", blobs: [blob("base", 400_000), blob("c1", 100_000), blob("cm", 500, true)] },
      ],
      1_100_000,
      16_384,
    );
    expect(packing.images.get("a")).toEqual([1]);
    expect(packing.images.get("c")).toEqual([1]);
    expect(packing.images.get("big")).toEqual([2, 3]);
    for (const v of packing.volumes) expect(v.bytes).toBeLessThanOrEqual(1_100_000);
  });
  test("a blob larger than a volume is refused", () => {
    expect(() => packVolumes([{ name: "x", blobs: [blob("huge", 2_000_000)] }], 1_000_000)).toThrow(UsageError);
  });
  test("volume sizes", () => {
    expect(parseVolumeSize("4G")).toBe(4 * 1024 ** 3);
    expect(parseVolumeSize("4GB")).toBe(4e9);
    expect(parseVolumeSize("700MiB")).toBe(700 * 1024 ** 2);
    expect(parseVolumeSize("bd25")).toBeGreaterThan(24e9);
    expect(() => parseVolumeSize("4X")).toThrow(UsageError);
  });
});
