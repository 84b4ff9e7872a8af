/**
 * A blob upload that fails once (a dropped connection mid-PATCH) is retried with a new upload session:
 * from memory for a small blob, from copyGraph's `reopen` (the blob fetched again from the source) for
 * one larger than what the registry end keeps in memory; against the real registry behind the wire proxy.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { NetworkError } from "../../lib/errors.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { clientFor } from "../../lib/remote/client.ts";
import { DEFAULT_REPLAY_BYTES, uploadBlob } from "../../lib/remote/upload.ts";
import { streamOf } from "../../lib/stream/read_limited.ts";
import { seededBytes } from "../../lib/testing/sample_image.ts";
import { startWireFaultProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startRegistry();
}, 30_000);
afterAll(() => registry?.stop());

const enc = new TextEncoder();

function imageWith(layerBytes: Uint8Array): { src: MemoryStore; root: ReturnType<MemoryStore["put"]> } {
  const src = new MemoryStore();
  const layer = src.put(layerBytes, MediaType.OciLayerGzip);
  const config = src.put(
    enc.encode(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } })),
    MediaType.OciConfig,
  );
  const root = src.put(
    enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] })),
    MediaType.OciManifest,
  );
  return { src, root };
}

test.each([
  ["a small blob, sent again from memory", 1 << 20],
  ["a blob larger than the memory replay, fetched again from the source", DEFAULT_REPLAY_BYTES + (1 << 20)],
])("%s", async (_name, size) => {
  const proxy = await startWireFaultProxy(registry.host, [
    { kind: "reset", method: "PATCH", path: /\/blobs\/uploads\//, times: 1 },
  ]);
  try {
    const { src, root } = imageWith(seededBytes(size, size));
    const dst = openRegistryStore({ registry: proxy.host, repository: `retry/app${size}` });
    await copyGraph(src, dst, root);
    await dst.tag(root, "1.0");
    const patches = proxy.requests.filter((r) => r.method === "PATCH");
    expect(patches.length).toBe(3); // config and layer, and the retry of the one that was reset
    const back = openRegistryStore({ registry: registry.host, repository: `retry/app${size}` });
    expect(await back.resolve("1.0")).toEqual(root);
  } finally {
    await proxy.stop();
  }
}, 60_000);

test("a large blob without a way to read it again is not retried: NetworkError after one attempt", async () => {
  const proxy = await startWireFaultProxy(registry.host, [
    { kind: "reset", method: "PATCH", path: /\/blobs\/uploads\//, times: 1 },
  ]);
  try {
    const bytes = seededBytes(DEFAULT_REPLAY_BYTES + 1, 7);
    const { src } = imageWith(bytes);
    const desc = [...src.blobs.values()].find((b) => b.desc.mediaType === MediaType.OciLayerGzip)!.desc;
    const err = await uploadBlob(clientFor(proxy.host), "noreopen/app", desc, streamOf(bytes)).catch((e) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(proxy.requests.filter((r) => r.method === "PATCH").length).toBe(1);
  } finally {
    await proxy.stop();
  }
}, 60_000);
