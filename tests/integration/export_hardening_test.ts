import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zstdCompressSync } from "node:zlib";
import { UsageError } from "../../lib/errors.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { buildLayer } from "../../lib/testing/tar_layer.ts";
import { type ExportEvent, exportFromStore } from "../../lib/engine/platform_files.ts";

const root = mkdtempSync(join(tmpdir(), "ferry-export-hardening-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const enc = new TextEncoder();

/** A linux/amd64 image whose one layer is a real zstd-compressed tar. */
function zstdImage() {
  const store = new MemoryStore("memory:zstd");
  const layer = buildLayer([{ path: "hello.txt", content: "hello\n" }]);
  const layerDesc = store.put(zstdCompressSync(layer.tar), MediaType.OciLayerZstd);
  const config = store.put(
    enc.encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      config: {},
    })),
    MediaType.OciConfig,
  );
  const manifest = store.put(
    enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layerDesc] })),
    MediaType.OciManifest,
  );
  const index = store.put(
    enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...manifest, platform: { os: "linux", architecture: "amd64" } }],
    })),
    MediaType.OciIndex,
  );
  return { store, index, layerDesc };
}

describe("export of zstd layers", () => {
  const image = zstdImage();

  test("docker format: a UsageError naming the layer and the options, no file written", async () => {
    const dir = join(root, "docker");
    const err = await exportFromStore(image.store, image.index, dir, { repository: "app", tag: "1.0" }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      `Cannot export linux/amd64 as a docker-load file: ${image.layerDesc.digest} (${MediaType.OciLayerZstd}) is a ` +
        "zstd layer, which docker load before 23.0 cannot read; use --format oci or --format oci-archive (they keep " +
        "zstd as it is), or leave the platform out with --platform",
    );
    expect(readdirSync(dir).filter((f) => f.startsWith("image-"))).toEqual([]);
  });

  test("oci-archive: the layer kept as it is, with a note", async () => {
    const events: ExportEvent[] = [];
    const { files } = await exportFromStore(image.store, image.index, join(root, "oci"), {
      repository: "app",
      tag: "1.0",
      format: "oci-archive",
      onEvent: (e) => events.push(e),
    });
    expect(files.map((f) => f.manifest)).toEqual([image.index.digest]);
    const notes = events.flatMap((e) => (e.type === "note" ? [e.message] : []));
    expect(notes).toEqual([
      "1 zstd layer kept as it is: docker load before 23.0 cannot read it (skopeo, containerd and docker 23+ can)",
    ]);
  });
});
