import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AbortError, DigestMismatchError, FileError, NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { MemoryStore } from "../ends/memory.ts";
import type { ReadableStore, StoreOptions } from "../ends/store.ts";
import { filterIndex } from "./select.ts";
import type { Index } from "../oci/manifest.ts";
import { SOURCE_INDEX as SOURCE_INDEX_ANNOTATION } from "../oci/annotations.ts";
import { type ExportEvent, exportFromStore as exportImage } from "./platform_files.ts";

const root = mkdtempSync(join(tmpdir(), "ferry-export-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, String(n++));
const sample = buildSampleImage({
  platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
  attestations: true,
  baseLayerSize: 300_000,
  layerSize: 100_000,
});
const opts = { repository: "127.0.0.1:5000/app", tag: "1.0" };

/** Counts fetches per digest; optionally hangs one digest until aborted, or corrupts one. */
class Watched implements ReadableStore {
  readonly ref = "memory:watched";
  readonly fetches = new Map<string, number>();
  constructor(readonly store: MemoryStore, readonly hang?: string) {}
  resolve(r: string) {
    return this.store.resolve(r);
  }
  exists(d: Descriptor) {
    return this.store.exists(d);
  }
  async fetch(d: Descriptor, options: StoreOptions = {}) {
    this.fetches.set(d.digest, (this.fetches.get(d.digest) ?? 0) + 1);
    const body = await this.store.fetch(d);
    if (d.digest !== this.hang) return body;
    const reader = body.getReader();
    const first = (await reader.read()).value!;
    return new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(first.subarray(0, 1000));
        options.signal?.addEventListener("abort", () => c.error(options.signal!.reason));
      },
    });
  }
}

const layersOf = (desc: Descriptor): Descriptor[] =>
  JSON.parse(new TextDecoder().decode(sample.store.get(desc.digest)!)).layers;
const configOf = (desc: Descriptor): Descriptor =>
  JSON.parse(new TextDecoder().decode(sample.store.get(desc.digest)!)).config;
const tarJson = (file: string, name: string) =>
  JSON.parse(execFileSync("tar", ["-xzOf", file, name], { encoding: "utf8" }));

describe("exportImage (docker)", () => {
  test("one image-<label>.tar.gz per platform, attestations unlisted, shared base fetched once", async () => {
    const dir = fresh();
    const src = new Watched(sample.store);
    const events: ExportEvent[] = [];
    const { files } = await exportImage(src, sample.root, dir, { ...opts, onEvent: (e) => events.push(e) });
    expect(files.map((f) => [f.path, f.platform, f.manifest])).toEqual([
      [join(dir, "image-amd64.tar.gz"), "linux/amd64", sample.manifests[0].digest],
      [join(dir, "image-arm64.tar.gz"), "linux/arm64/v8", sample.manifests[1].digest],
      [join(dir, "image-armv7.tar.gz"), "linux/arm/v7", sample.manifests[2].digest],
    ]);
    expect(readdirSync(dir).sort()).toEqual(["image-amd64.tar.gz", "image-arm64.tar.gz", "image-armv7.tar.gz"]);
    for (const f of files) {
      const bytes = readFileSync(f.path);
      expect(f.size).toBe(bytes.byteLength);
      expect(f.sha256).toBe(`sha256:${createHash("sha256").update(bytes).digest("hex")}`);
      const names = execFileSync("tar", ["-tzf", f.path], { encoding: "utf8" }).trim().split("\n");
      for (const name of ["manifest.json", "index.json", "oci-layout", "repositories"]) expect(names).toContain(name);
      // manifest, config, 2 layers; carried unlisted: the attestation (manifest, config, layer) and the index
      expect(names.filter((x) => x.startsWith("blobs/sha256/")).length).toBe(8);
      expect(f.index).toBe(sample.root.digest);
      const index = tarJson(f.path, "index.json");
      expect(index.manifests.map((d: Descriptor) => [d.digest, d.annotations?.[SOURCE_INDEX_ANNOTATION]])).toEqual([
        [f.manifest, sample.root.digest],
      ]);
      const carried = execFileSync("tar", ["-xzOf", f.path, `blobs/sha256/${sample.root.digest.slice(7)}`]);
      expect(Buffer.compare(carried, sample.store.get(sample.root.digest)!)).toBe(0);
      const attestation = sample.attestations.find((a) =>
        a.annotations?.["vnd.docker.reference.digest"] === f.manifest
      )!;
      expect(names).toContain(`blobs/sha256/${attestation.digest.slice(7)}`);
      expect(tarJson(f.path, "manifest.json").length).toBe(1);
    }
    const items = tarJson(files[2].path, "manifest.json");
    expect(items.length).toBe(1);
    expect(items[0].RepoTags).toEqual(["127.0.0.1:5000/app:1.0-armv7"]);
    expect(items[0].Layers).toEqual(layersOf(sample.manifests[2]).map((l) => `blobs/sha256/${l.digest.slice(7)}`));
    const base = layersOf(sample.manifests[0])[0];
    expect(src.fetches.get(base.digest)).toBe(1);
    for (const m of sample.manifests) expect(src.fetches.get(m.digest)).toBe(1);
    const dones = events.filter((e) => e.type === "done");
    expect(dones.length).toBe(3);
    const last = events.filter((e) => e.type === "progress" && e.label === "amd64").at(-1) as {
      bytes: number;
      total: number;
    };
    expect(last.bytes).toBe(last.total);
    const graph = (d: Descriptor) => d.size + configOf(d).size + layersOf(d).reduce((s, l) => s + l.size, 0);
    expect(last.total).toBe(graph(sample.manifests[0]) + graph(sample.attestations[0]) + sample.root.size);
  });

  test("chosen platforms, a tag template and a gzip level", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.root, dir, {
      ...opts,
      platforms: [{ os: "linux", architecture: "arm64" }],
      tagTemplate: "{repo}-{os}-{arch}{variant}:{tag}",
      gzipLevel: 9,
    });
    expect(files.map((f) => f.path)).toEqual([join(dir, "image-arm64.tar.gz")]);
    // One variant rule for every template (lib/ref/tag_template.ts): {variant} is empty for arm64/v8, as in {label}.
    expect(tarJson(files[0].path, "manifest.json")[0].RepoTags).toEqual(["127.0.0.1:5000/app-linux-arm64:1.0"]);
    // The file carries the filtered index (what was selected: arm64 and its attestation), not the source's.
    const indexBytes = sample.store.get(sample.root.digest)!;
    const index = JSON.parse(new TextDecoder().decode(indexBytes)) as Index;
    const filtered = filterIndex(indexBytes, index, [sample.manifests[1]]);
    expect(files[0].index).toBe(filtered.desc.digest);
    expect(tarJson(files[0].path, "index.json").manifests[0].annotations[SOURCE_INDEX_ANNOTATION]).toBe(
      filtered.desc.digest,
    );
    const carried = JSON.parse(
      execFileSync("tar", ["-xzOf", files[0].path, `blobs/sha256/${filtered.desc.digest.slice(7)}`], {
        encoding: "utf8",
      }),
    );
    expect(carried.manifests.map((d: Descriptor) => d.digest)).toEqual([
      sample.manifests[1].digest,
      sample.attestations[1].digest,
    ]);
  });

  test("a missing platform is a NotFoundError listing the available ones; nothing written", async () => {
    const dir = fresh();
    const err = await exportImage(sample.store, sample.root, dir, {
      ...opts,
      platforms: [{ os: "linux", architecture: "s390x" }],
    })
      .catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("linux/amd64");
    expect(err.message).toContain("linux/arm/v7");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a single-manifest root: platform read from its config, and checked against --platform", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.manifests[2], dir, opts);
    expect(files.map((f) => [f.path, f.platform])).toEqual([[join(dir, "image-armv7.tar.gz"), "linux/arm/v7"]]);
    const err = await exportImage(sample.store, sample.manifests[2], fresh(), {
      ...opts,
      platforms: [{ os: "linux", architecture: "amd64" }],
    })
      .catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("linux/arm/v7");
  });

  test("two entries with one label get the manifest digest in their names", async () => {
    const other = buildSampleImage({ platforms: ["linux/arm/v7"], seed: 7 });
    const store = new MemoryStore();
    for (const s of [sample.store, other.store]) for (const [k, v] of s.blobs) store.blobs.set(k, v);
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [sample.manifests[2], other.manifests[0]],
    };
    const top = store.put(new TextEncoder().encode(JSON.stringify(index)), MediaType.OciIndex);
    const dir = fresh();
    const { files } = await exportImage(store, top, dir, opts);
    const hex = (d: Descriptor) => d.digest.slice(7, 19);
    expect(files.map((f) => f.path)).toEqual([
      join(dir, `image-armv7-${hex(sample.manifests[2])}.tar.gz`),
      join(dir, `image-armv7-${hex(other.manifests[0])}.tar.gz`),
    ]);
    expect(tarJson(files[1].path, "manifest.json")[0].RepoTags).toEqual([
      `127.0.0.1:5000/app:1.0-armv7-${hex(other.manifests[0])}`,
    ]);
  });
});

describe("exportImage failures leave nothing behind", () => {
  test("a blob failing verification midway: no final file, no .part, no temp dir", async () => {
    for (const which of [0, 1]) { // 0: the shared (spooled) base layer, 1: a platform's own layer
      const bad = new MemoryStore();
      for (const [k, v] of sample.store.blobs) bad.blobs.set(k, v);
      const layer = layersOf(sample.manifests[1])[which];
      const corrupt = sample.store.get(layer.digest)!.slice();
      corrupt[corrupt.length - 50] ^= 0xff;
      bad.blobs.set(layer.digest, { desc: layer, bytes: corrupt });
      const dir = fresh();
      await expect(exportImage(bad, sample.root, dir, opts)).rejects.toThrow(DigestMismatchError);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  test("an aborted signal midway: AbortError (exit 130) and an empty directory", async () => {
    const hang = layersOf(sample.manifests[2])[1].digest;
    const dir = fresh();
    const controller = new AbortController();
    const running = exportImage(new Watched(sample.store, hang), sample.root, dir, {
      ...opts,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "progress" && e.label === "armv7") setTimeout(() => controller.abort(), 20);
      },
    });
    const err = await running.catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.exitCode).toBe(130);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("an unwritable output directory is a FileError (exit 8)", async () => {
    // Tests may run as root, where mode bits do not stop writes: a directory under a regular file does.
    const parent = fresh();
    writeFileSync(parent, "not a directory");
    const dir = join(parent, "out");
    const err = await exportImage(sample.store, sample.root, dir, opts).catch((e) => e);
    expect(err).toBeInstanceOf(FileError);
    expect(err.exitCode).toBe(8);
    expect(err.message).toContain(dir);
    expect(readFileSync(parent, "utf8")).toBe("not a directory");
  });
});

describe("exportImage (oci-archive)", () => {
  test("the whole index in one archive: index tagged, each platform tagged, docker manifest.json", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.root, dir, { ...opts, format: "oci-archive" });
    expect(files.map((f) => [f.path, f.manifest])).toEqual([[join(dir, "image.tar"), sample.root.digest]]);
    const index = JSON.parse(execFileSync("tar", ["-xOf", files[0].path, "index.json"], { encoding: "utf8" }));
    const refs = index.manifests.map((
      d: Descriptor,
    ) => [d.digest, d.annotations!["org.opencontainers.image.ref.name"]]);
    expect(refs).toEqual([
      [sample.manifests[0].digest, "1.0-amd64"],
      [sample.manifests[1].digest, "1.0-arm64"],
      [sample.manifests[2].digest, "1.0-armv7"],
      [sample.root.digest, "1.0"],
    ]);
    const items = JSON.parse(execFileSync("tar", ["-xOf", files[0].path, "manifest.json"], { encoding: "utf8" }));
    expect(items.map((i: { RepoTags: string[] }) => i.RepoTags)).toEqual([
      ["127.0.0.1:5000/app:1.0-amd64"],
      ["127.0.0.1:5000/app:1.0-arm64"],
      ["127.0.0.1:5000/app:1.0-armv7"],
    ]);
    const gz = await exportImage(sample.store, sample.root, dir, { ...opts, format: "oci-archive", gzipLevel: 1 });
    expect(gz.files[0].path).toBe(join(dir, "image.tar.gz"));
  });
});

describe("exportImage (OCI artifacts)", () => {
  /** The sample plus an OCI artifact (empty config, no os, an artifactType) in its index. */
  function withArtifact() {
    const store = new MemoryStore();
    for (const [k, v] of sample.store.blobs) store.blobs.set(k, v);
    const enc = new TextEncoder();
    const config = store.put(enc.encode("{}"), MediaType.OciEmpty);
    const layer = store.put(enc.encode("signature"), "application/vnd.dev.sigstore.bundle.v0.3+json");
    const artifact = store.put(
      enc.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        config,
        layers: [layer],
      })),
      MediaType.OciManifest,
    );
    const index = JSON.parse(new TextDecoder().decode(sample.store.get(sample.root.digest)!)) as Index;
    const entry = { ...artifact, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json" };
    index.manifests.push(entry);
    const root = store.put(enc.encode(JSON.stringify(index)), MediaType.OciIndex);
    return { store, root, artifact };
  }

  test("an artifact in the index is skipped with a note; the platforms are exported and carry it", async () => {
    const { store, root, artifact } = withArtifact();
    const dir = fresh();
    const events: ExportEvent[] = [];
    const { files } = await exportImage(store, root, dir, { ...opts, onEvent: (e) => events.push(e) });
    expect(files.map((f) => f.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    const notes = events.filter((e) => e.type === "note").map((e) => (e as { message: string }).message);
    expect(notes).toEqual([
      `skipping ${artifact.digest}: an artifact (application/vnd.dev.sigstore.bundle.v0.3+json), not a platform image`,
    ]);
    const names = execFileSync("tar", ["-tzf", files[0].path], { encoding: "utf8" });
    expect(names).toContain(`blobs/sha256/${artifact.digest.slice(7)}`);
  });

  test("an artifact asked for alone is a clear error naming it", async () => {
    const { store, artifact } = withArtifact();
    const dir = fresh();
    const err = await exportImage(store, artifact, dir, opts).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      `Cannot export ${artifact.digest}: an artifact (application/vnd.dev.sigstore.bundle.v0.3+json), not a platform image; copy it with ferry copy`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});
