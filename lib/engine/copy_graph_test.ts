import { describe, expect, test } from "bun:test";
import { DigestMismatchError, NotFoundError, RegistryError, UnsupportedError } from "../errors.ts";
import { MediaType } from "../oci/media_types.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MemoryStore } from "../ends/memory.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { BIG_BLOB, BIG_BLOBS_AT_ONCE, type CopyEvent, copyGraph } from "./copy_graph.ts";

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

function sampleGraph(store: MemoryStore): { root: Descriptor; shared: Descriptor } {
  const shared = store.put(enc.encode("shared layer"), MediaType.OciLayerGzip);
  const manifests = ["amd64", "arm64"].map((arch) => {
    const config = store.put(
      json({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
      MediaType.OciConfig,
    );
    const own = store.put(enc.encode(`layer of ${arch}`), MediaType.OciLayerGzip);
    const m = store.put(
      json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [shared, own] }),
      MediaType.OciManifest,
    );
    return { ...m, platform: { os: "linux", architecture: arch } };
  });
  const root = store.put(json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }), MediaType.OciIndex);
  return { root, shared };
}

describe("copyGraph", () => {
  test("copies every node once, children before parents", async () => {
    const src = new MemoryStore();
    const { root } = sampleGraph(src);
    const order: string[] = [];
    const dst = new MemoryStore();
    const push = dst.push.bind(dst);
    dst.push = async (desc, body, o) => {
      await push(desc, body, o);
      order.push(desc.digest);
    };
    const result = await copyGraph(src, dst, root);
    expect(result.copied).toBe(src.blobs.size);
    expect(order.at(-1)).toBe(root.digest);
    expect(new Set(order).size).toBe(order.length);
    for (const [digest, { bytes }] of src.blobs) expect(dst.get(digest)).toEqual(bytes);
  });

  test("skips what the destination has", async () => {
    const src = new MemoryStore();
    const { root, shared } = sampleGraph(src);
    const dst = new MemoryStore();
    await dst.push(shared, await src.fetch(shared));
    const result = await copyGraph(src, dst, root);
    expect(result.skipped).toBe(1);
    const again = await copyGraph(src, dst, root);
    expect(again).toMatchObject({ copied: 0, skipped: 1 });
  });

  test("a blob that does not match its digest fails the copy with DigestMismatchError", async () => {
    const src = new MemoryStore();
    const { root, shared } = sampleGraph(src);
    src.blobs.get(shared.digest)!.bytes = enc.encode("SHARED LAYER");
    const dst = new MemoryStore();
    await expect(copyGraph(src, dst, root)).rejects.toThrow(DigestMismatchError);
    expect(await dst.exists(root)).toBe(false);
  });

  test("an aborted signal stops the copy", async () => {
    const src = new MemoryStore();
    const { root } = sampleGraph(src);
    const controller = new AbortController();
    controller.abort();
    await expect(copyGraph(src, new MemoryStore(), root, { signal: controller.signal })).rejects.toThrow("Interrupted");
  });

  describe("non-distributable (foreign) layers", () => {
    const FOREIGN_TYPES = [
      MediaType.DockerForeignLayerGzip,
      MediaType.OciLayerNondistributable,
      MediaType.OciLayerNondistributableGzip,
      MediaType.OciLayerNondistributableZstd,
    ];

    /** An image whose first layer is of `mediaType`, with urls, its blob absent from `src`. */
    function foreignImage(src: MemoryStore, mediaType: string): { root: Descriptor; foreign: Descriptor } {
      const bytes = enc.encode(`windows base layer as ${mediaType}`);
      const foreign = { ...src.put(bytes, mediaType), urls: ["https://mcr.microsoft.com/v2/windows/blobs/x"] };
      src.blobs.delete(foreign.digest);
      const config = src.put(json({ architecture: "amd64", os: "windows" }), MediaType.OciConfig);
      const own = src.put(enc.encode("own layer"), MediaType.OciLayerGzip);
      const root = src.put(
        json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [foreign, own] }),
        MediaType.OciManifest,
      );
      return { root, foreign };
    }

    for (const mediaType of FOREIGN_TYPES) {
      test(`${mediaType}: the manifest is copied, the blob is not (nor asked about), and it is reported`, async () => {
        const src = new MemoryStore();
        const { root, foreign } = foreignImage(src, mediaType);
        const dst = new MemoryStore();
        const asked: string[] = [];
        const exists = dst.exists.bind(dst);
        dst.exists = (desc: Descriptor) => {
          asked.push(desc.digest);
          return exists(desc);
        };
        const events: CopyEvent[] = [];
        const result = await copyGraph(src, dst, root, { onEvent: (e) => events.push(e) });
        expect(result.skippedForeignLayers).toEqual([foreign]);
        expect(events.filter((e) => e.type === "foreign")).toEqual([{ type: "foreign", desc: foreign }]);
        expect(result.copied).toBe(3); // config, own layer, manifest
        expect(dst.get(root.digest)).toEqual(src.get(root.digest));
        expect(dst.get(foreign.digest)).toBeUndefined();
        expect(asked).not.toContain(foreign.digest);
      });
    }

    test('the sample\'s windows/amd64 image copies (each foreign digest reported once); "copy" needs the bytes', async () => {
      const sample = buildSampleImage({ foreignLayers: true, mediaType: "docker" });
      const [{ desc: foreign, bytes }] = sample.foreignLayers;
      expect(foreign.mediaType).toBe(MediaType.DockerForeignLayerGzip);
      const skipped = await copyGraph(sample.store, new MemoryStore(), sample.root);
      expect(skipped.skippedForeignLayers).toEqual([foreign]);

      const copying = copyGraph(sample.store, new MemoryStore(), sample.root, { foreignLayers: "copy" });
      const err = await copying.catch((e) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.message).toContain(`Cannot find foreign layer ${foreign.digest} in memory:sample/app`);

      sample.store.blobs.set(foreign.digest, { desc: foreign, bytes });
      const dst = new MemoryStore();
      const copied = await copyGraph(sample.store, dst, sample.root, { foreignLayers: "copy" });
      expect(copied.skippedForeignLayers).toEqual([]);
      expect(dst.get(foreign.digest)).toEqual(bytes);
    });

    test('"refuse" (a destination needing every layer) fails naming the layer and the flag', async () => {
      const src = new MemoryStore();
      const { root, foreign } = foreignImage(src, MediaType.DockerForeignLayerGzip);
      const dst = new MemoryStore("memory:dst");
      const err = await copyGraph(src, dst, root, { foreignLayers: "refuse" }).catch((e) => e);
      expect(err).toBeInstanceOf(UnsupportedError);
      expect(err.message).toBe(
        `Cannot write foreign layer ${foreign.digest} (${foreign.mediaType}) to memory:dst: the destination needs ` +
          "every layer; add --allow-nondistributable-artifacts if the source has its bytes",
      );
      expect(await dst.exists(root)).toBe(false);
    });
  });
});

describe("copyGraph: planned events", () => {
  test("every descriptor is planned, with its platform, before the first blob starts; each read once", async () => {
    const src = new MemoryStore();
    const { root, shared } = sampleGraph(src);
    let fetches = 0;
    const fetch = src.fetch.bind(src);
    src.fetch = (desc) => {
      fetches++;
      return fetch(desc);
    };
    const events: CopyEvent[] = [];
    await copyGraph(src, new MemoryStore(), root, { onEvent: (e) => events.push(e) });
    const planned = events.filter((e) => e.type === "planned");
    const firstStart = events.findIndex((e) => e.type === "start");
    expect(events.map((e) => e.type).lastIndexOf("planned")).toBeLessThan(firstStart);
    expect(planned.map((e) => e.desc.digest).sort()).toEqual([...src.blobs.keys()].sort());
    expect(planned.reduce((n, e) => n + e.desc.size, 0)).toBe(
      [...src.blobs.values()].reduce((n, b) => n + b.bytes.byteLength, 0),
    );
    const byDigest = new Map(planned.map((e) => [e.desc.digest, e.type === "planned" ? e.platform : undefined]));
    expect(byDigest.get(root.digest)).toBeUndefined();
    expect(byDigest.get(shared.digest)?.architecture).toBe("amd64"); // the first platform that uses it
    expect(fetches).toBe(src.blobs.size); // planning reads each manifest once; the copy reuses it
  });

  test("a manifest the destination has is planned, its subtree is not", async () => {
    const src = new MemoryStore();
    const { root } = sampleGraph(src);
    const dst = new MemoryStore();
    await copyGraph(src, dst, root);
    const events: CopyEvent[] = [];
    await copyGraph(src, dst, root, { onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.type)).toEqual(["planned", "skipped"]);
  });
});

describe("copyGraph and a registry that lost a blob's link", () => {
  test("a manifest refused with MANIFEST_BLOB_UNKNOWN gets its blobs again, then goes through", async () => {
    const sample = buildSampleImage({ platforms: ["linux/amd64"] });
    const image = sample.manifests[0];
    class Lossy extends MemoryStore {
      refused = 0;
      blobPushes = 0;
      override async push(desc: Descriptor, body: ReadableStream<Uint8Array>): Promise<void> {
        if (desc.digest === image.digest && this.refused === 0) {
          this.refused++;
          await body.cancel();
          throw new RegistryError("Cannot push manifest: blob unknown", {
            status: 400,
            errors: [{ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry" }],
          });
        }
        if (!desc.mediaType.includes("manifest") && !desc.mediaType.includes("index")) this.blobPushes++;
        await super.push(desc, body);
      }
    }
    const dst = new Lossy();
    await copyGraph(sample.store, dst, image);
    expect(dst.refused).toBe(1);
    expect(dst.blobPushes).toBe(6); // config and 2 layers, then all three again after the refusal
    expect(dst.get(image.digest)).toBeDefined();
  });
});

describe("copyGraph: big blobs", () => {
  test(`at most ${BIG_BLOBS_AT_ONCE} blobs of ${BIG_BLOB / 2 ** 20} MiB or more move at once; small ones do not wait for them`, async () => {
    const src = new MemoryStore();
    const big = [1, 2, 3, 4].map((n) => src.put(new Uint8Array(BIG_BLOB).fill(n), MediaType.OciLayerGzip));
    const small = [1, 2, 3].map((n) => src.put(enc.encode(`small ${n}`), MediaType.OciLayerGzip));
    const config = src.put(
      json({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
      MediaType.OciConfig,
    );
    const root = src.put(
      json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [...big, ...small] }),
      MediaType.OciManifest,
    );
    const dst = new MemoryStore();
    const push = dst.push.bind(dst);
    let bigActive = 0, bigPeak = 0;
    const smallDoneWhileBigActive: string[] = [];
    dst.push = async (desc, body, o) => {
      const isBig = desc.size >= BIG_BLOB;
      if (isBig) bigPeak = Math.max(bigPeak, ++bigActive);
      try {
        if (isBig) await new Promise((resolve) => setTimeout(resolve, 30)); // a slow upload
        await push(desc, body, o);
      } finally {
        if (isBig) bigActive--;
        else if (bigActive > 0) smallDoneWhileBigActive.push(desc.digest);
      }
    };
    const result = await copyGraph(src, dst, root, { concurrency: 6 });
    expect(result.copied).toBe(src.blobs.size);
    expect(bigPeak).toBe(BIG_BLOBS_AT_ONCE);
    expect(smallDoneWhileBigActive.length).toBeGreaterThanOrEqual(small.length); // the config and small layers
  });
});
