import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { MemoryStore } from "../ends/memory.ts";
import { buildLayer } from "../testing/tar_layer.ts";
import { exportFromStore } from "./platform_files.ts";
import { importImage } from "../verbs/import/import.ts";

const root = mkdtempSync(join(tmpdir(), "ferry-export-scale-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const enc = new TextEncoder();

/** An index of `entries` entries over `distinct` tiny one-layer manifests (all sharing one layer and config). */
function bigIndex(entries: number, distinct: number) {
  const store = new MemoryStore("memory:big");
  const layer = buildLayer([{ path: "hello.txt", content: "hello\n" }]);
  const layerDesc = store.put(layer.gz, MediaType.OciLayerGzip);
  const manifests: Descriptor[] = [];
  let content = layerDesc.size;
  for (let i = 0; i < distinct; i++) {
    // Each its own architecture (in its config too), so that import can tell the files apart.
    const config = store.put(
      enc.encode(JSON.stringify({
        architecture: `arch${i}`,
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
    manifests.push(manifest);
    content += config.size + manifest.size;
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: Array.from({ length: entries }, (_, i) => ({
      ...manifests[i % distinct],
      platform: { os: "linux", architecture: `arch${i % distinct}`, "os.version": `v${i}` },
      annotations: { "org.example.entry": `entry-${i}-${"x".repeat(40)}` },
    })),
  };
  const rootDesc = store.put(enc.encode(JSON.stringify(index)), MediaType.OciIndex);
  return { store, root: rootDesc, content: content + rootDesc.size };
}

const filesIn = (dir: string) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

describe("export of a huge index", () => {
  const big = bigIndex(10_000, 2_000);

  test("oci-archive is linear: bytes written < 3 × the content, in bounded time", async () => {
    const dir = join(root, "oci");
    const started = performance.now();
    const { files } = await exportFromStore(big.store, big.root, dir, {
      repository: "app",
      tag: "1.0",
      format: "oci-archive",
    });
    const seconds = (performance.now() - started) / 1000;
    expect(files).toHaveLength(1);
    const size = statSync(files[0].path).size;
    expect(size).toBeLessThan(3 * big.content);
    expect(seconds).toBeLessThan(20);
  }, 120_000);

  test("docker format over the file cap: a UsageError naming --max-files, before any file is written", async () => {
    const dir = join(root, "docker");
    const err = await exportFromStore(big.store, big.root, dir, { repository: "app", tag: "1.0" }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain("2000 platform files");
    expect(err.message).toContain("--max-files");
    expect(err.message).toContain("--platform");
    expect(filesIn(dir).filter((f) => f.startsWith("image-"))).toEqual([]);
  }, 120_000);

  test(
    "docker format: a huge carried index goes in the first file only; import of all the files restores it",
    async () => {
      const wide = bigIndex(10_000, 30); // 30 files × a 3 MB index: more than CARRY_BUDGET
      const dir = join(root, "docker-carry");
      const started = performance.now();
      const { files } = await exportFromStore(wide.store, wide.root, dir, {
        repository: "app",
        tag: "1.0",
        gzipLevel: 0,
      });
      expect(files).toHaveLength(30);
      expect(files[0].index).toBe(wide.root.digest);
      expect(files.slice(1).every((f) => f.index === undefined)).toBe(true);
      const total = files.reduce((n, f) => n + f.size, 0);
      // The index once, each file's image (≈ 5 KiB with tar headers and manifest.json, index.json) besides.
      expect(total).toBeLessThan(wide.root.size + 30 * 16 * 1024);
      expect((performance.now() - started) / 1000).toBeLessThan(20);
      const restored = await importImage(files.map((f) => f.path), `oci:${join(root, "restored")}:1.0`);
      expect([restored.index, restored.digest]).toEqual(["original", wide.root.digest]);
      // Without the first file: a new index of what the files hold.
      const rest = await importImage(files.slice(1).map((f) => f.path), `oci:${join(root, "rest")}:1.0`);
      expect(rest.index).toBe("built");
      expect(rest.images).toHaveLength(29);
    },
    120_000,
  );

  test("docker format within a raised cap: 300 files, the carried index in each, bounded", async () => {
    const small = bigIndex(300, 300);
    const dir = join(root, "docker-cap");
    const { files } = await exportFromStore(small.store, small.root, dir, {
      repository: "app",
      tag: "1.0",
      maxFiles: 300,
      gzipLevel: 0,
    });
    expect(files).toHaveLength(300);
    expect(files.every((f) => f.index === small.root.digest)).toBe(true);
    expect(files.reduce((n, f) => n + f.size, 0)).toBeLessThan(300 * (small.root.size + 16 * 1024));
  }, 120_000);
});
