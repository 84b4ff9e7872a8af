import { describe, expect, test } from "bun:test";
import { DigestMismatchError } from "../errors.ts";
import { MediaType } from "../oci/media_types.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MemoryStore } from "../ends/memory.ts";
import { type CopyEvent, copyGraph } from "./copy_graph.ts";

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
