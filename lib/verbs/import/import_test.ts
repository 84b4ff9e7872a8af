import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { NotFoundError, UsageError } from "../../errors.ts";
import { copyGraph } from "../../engine/copy_graph.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { filterIndex } from "../../engine/select.ts";
import type { Index } from "../../oci/manifest.ts";
import { buildSampleImage } from "../../testing/sample_image.ts";
import { ArchiveWriter } from "../../ends/archive_writer.ts";
import { MemoryStore } from "../../ends/memory.ts";
import { MediaType } from "../../oci/media_types.ts";
import { streamOf } from "../../stream/read_limited.ts";
import { OciLayoutStore } from "../../ends/oci_layout.ts";
import { exportFromStore as exportImage } from "../../engine/platform_files.ts";
import { importImage } from "./import.ts";
import { tarFile } from "../../../tests/helpers/crafted_tar.ts";

setDefaultTimeout(30_000);
const work = mkdtempSync(join(tmpdir(), "ferry-import-unit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(work, String(n++));
  mkdirSync(dir);
  return dir;
};
const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"];
const sample = buildSampleImage({ platforms: PLATFORMS, attestations: true, layerSize: 50_000 });
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const json = <T>(b: Uint8Array | undefined): T => JSON.parse(text(b));
const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function layoutRoot(dir: string, tag = "latest"): Promise<{ store: OciLayoutStore; root: Descriptor }> {
  const store = await OciLayoutStore.open(dir);
  return { store, root: await store.resolve(tag) };
}

describe("importImage", () => {
  test("ferry export files → the same manifests and the source index, byte for byte (it travels in each file)", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.root, dir, { repository: "app", tag: "1.0" });
    const out = join(fresh(), "layout");
    const temp = fresh();
    const result = await importImage(files.map((f) => f.path), `oci:${out}:1.0`, { tempDir: temp });
    expect(result.images.map((i) => i.digest)).toEqual(sample.manifests.map((m) => m.digest));
    expect(result.images.map((i) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    expect(result.index).toBe("original");
    expect(result.digest).toBe(sample.root.digest);
    const { store, root } = await layoutRoot(out, "1.0");
    expect(root.digest).toBe(sample.root.digest);
    expect(Buffer.compare(await new Response(await store.fetch(root)).bytes(), sample.store.get(sample.root.digest)!))
      .toBe(0);
    for (const a of sample.attestations) expect(await store.exists(a)).toBe(true);
    expect(readdirSync(temp)).toEqual([]); // the spooled .tar.gz entries are gone
    // The files unpacked into layout directories (tar -x) carry the index just the same.
    const dirs = files.map((f, i) => {
      const d = join(fresh(), `unpacked-${i}`);
      mkdirSync(d);
      execFileSync("tar", ["-xzf", f.path, "-C", d]);
      return d;
    });
    const unpacked = await importImage(dirs, `oci:${join(fresh(), "l")}`);
    expect([unpacked.index, unpacked.digest]).toEqual(["original", sample.root.digest]);
  });

  test("some of the files: the carried index narrowed to them (what copy --platform gives); none carried: a new index", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.root, dir, { repository: "app", tag: "1.0" });
    const out = join(fresh(), "layout");
    const result = await importImage([files[2].path, files[0].path], `oci:${out}:1.0`);
    expect(result.index).toBe("filtered");
    const indexBytes = sample.store.get(sample.root.digest)!;
    const expected = filterIndex(indexBytes, json<Index>(indexBytes), [sample.manifests[0], sample.manifests[2]]);
    expect(result.digest).toBe(expected.desc.digest);
    const { store, root } = await layoutRoot(out, "1.0");
    const index = json<Index>(await new Response(await store.fetch(root)).bytes());
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(
      [sample.manifests[0], sample.manifests[2], sample.attestations[0], sample.attestations[2]].map((m) => m.digest)
        .sort(),
    );
    // Files written without the carried index (an older ferry, or ArchiveWriter alone): a new index.
    const plainDir = fresh();
    const paths: string[] = [];
    for (const [i, m] of sample.manifests.entries()) {
      const writer = new ArchiveWriter(join(plainDir, `image-${i}.tar`));
      await copyGraph(sample.store, writer, m);
      await writer.tag(m, `app:1.0-${i}`);
      await writer.close();
      paths.push(join(plainDir, `image-${i}.tar`));
    }
    const built = await importImage(paths, `oci:${join(fresh(), "l")}`);
    expect(built.index).toBe("built");
    expect(built.images.map((i) => i.digest)).toEqual(sample.manifests.map((m) => m.digest));
  });

  test("--type docker builds a Docker manifest list; --platform narrows", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.root, dir, { repository: "app", tag: "1.0" });
    const out = join(fresh(), "layout");
    const result = await importImage(files.map((f) => f.path), `oci:${out}`, {
      type: "docker",
      platforms: ["amd64,arm64"],
    });
    expect(result.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(result.images.map((i) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    await expect(importImage(files.map((f) => f.path), `oci:${fresh()}`, { platforms: ["s390x"] })).rejects.toThrow(
      NotFoundError,
    );
  });

  test("an OCI archive brings back the original index, attestations included", async () => {
    const dir = fresh();
    const { files } = await exportImage(sample.store, sample.root, dir, {
      repository: "app",
      tag: "1.0",
      format: "oci-archive",
    });
    const out = join(fresh(), "layout");
    const result = await importImage([files[0].path], `oci:${out}`);
    expect(result.index).toBe("original");
    expect(result.digest).toBe(sample.root.digest);
    // narrowed to one platform: the filtered index keeps that platform's attestation
    const one = await importImage([files[0].path], `oci:${join(fresh(), "l")}`, { platforms: ["arm64"] });
    expect(one.index).toBe("filtered");
    expect(one.images.map((i) => i.digest)).toEqual([sample.manifests[1].digest]);
  });

  test("an index holding an OCI artifact (empty config, no platform): copy, export and import carry it as is", async () => {
    const store = new MemoryStore();
    for (const [k, v] of sample.store.blobs) store.blobs.set(k, v);
    const enc = new TextEncoder();
    const type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    const config = store.put(enc.encode("{}"), MediaType.OciEmpty);
    const layer = store.put(enc.encode("signature"), type);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: type,
      config,
      layers: [layer],
    };
    const artifact = store.put(enc.encode(JSON.stringify(manifest)), MediaType.OciManifest);
    const index = json<Index>(sample.store.get(sample.root.digest));
    index.manifests.push({ ...artifact, artifactType: type });
    const root = store.put(enc.encode(JSON.stringify(index)), MediaType.OciIndex);
    // copy into an OCI archive, then import it: the original index, the artifact with it
    const archive = join(fresh(), "image.tar");
    const writer = new ArchiveWriter(archive);
    await copyGraph(store, writer, root);
    await writer.tag(root, "1.0");
    await writer.close();
    const out = join(fresh(), "layout");
    const result = await importImage([archive], `oci:${out}:1.0`);
    expect([result.index, result.digest]).toEqual(["original", root.digest]);
    expect(result.images.map((i) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    const { store: layout } = await layoutRoot(out, "1.0");
    for (const d of [artifact, config, layer]) expect(await layout.exists(d)).toBe(true);
    // export (one file per platform; the artifact carried in the first) and import of all the files
    const { files } = await exportImage(store, root, fresh(), { repository: "app", tag: "1.0" });
    const again = await importImage(files.map((f) => f.path), `oci:${join(fresh(), "l")}:1.0`);
    expect([again.index, again.digest]).toEqual(["original", root.digest]);
  });

  test("export files that carry the index (one file per platform) bring back the original index", async () => {
    const dir = fresh();
    const plain = buildSampleImage({ platforms: PLATFORMS, layerSize: 20_000 });
    const paths: string[] = [];
    for (const [i, m] of plain.manifests.entries()) {
      const path = join(dir, `image-${i}.tar.gz`);
      const writer = new ArchiveWriter(path, { gzipLevel: 0 });
      await copyGraph(plain.store, writer, m);
      await writer.tag(m, `app:1.0-${i}`);
      // the index bytes go along (pushed last: its other children are in the other files)
      await writer.push(plain.root, streamOf(plain.store.get(plain.root.digest)!));
      await writer.close();
      paths.push(path);
    }
    const result = await importImage(paths.reverse(), `oci:${join(fresh(), "l")}`);
    expect(result.index).toBe("original");
    expect(result.digest).toBe(plain.root.digest);
  });

  test("two different images of one platform: an error unless one is preferred; the same image twice is fine", async () => {
    const dir = fresh();
    const other = buildSampleImage({ platforms: ["linux/amd64"], seed: 7, layerSize: 10_000 });
    const a = (await exportImage(sample.store, sample.root, join(dir, "a"), {
      repository: "app",
      tag: "1.0",
      platforms: [{ os: "linux", architecture: "amd64" }],
    })).files[0].path;
    const b =
      (await exportImage(other.store, other.root, join(dir, "b"), { repository: "app", tag: "2.0" })).files[0].path;
    await expect(importImage([a, b], `oci:${fresh()}`)).rejects.toThrow(UsageError);
    await expect(importImage([a, b], `oci:${fresh()}`)).rejects.toThrow(/two images for linux\/amd64.*--prefer/);
    const chosen = await importImage([a, b], `oci:${join(fresh(), "l")}`, { prefer: [b] });
    expect(chosen.images.map((i) => i.digest)).toEqual([other.manifests[0].digest]);
    expect(chosen.index).toBe("original"); // b's file carries other's one-platform index
    expect(chosen.digest).toBe(other.root.digest);
    const twice = await importImage([a, a], `oci:${join(fresh(), "l")}`);
    expect(twice.images.length).toBe(1);
  });

  test("a classic docker save tarball: uncompressed layers gzipped, diff_ids kept", async () => {
    const dir = fresh();
    const layerTar = gunzipSync(
      sample.store.get(json<{ layers: Descriptor[] }>(sample.store.get(sample.manifests[0].digest)).layers[0].digest)!,
    );
    const config = new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha(layerTar)] },
      config: { Cmd: ["/bin/sh"] },
    }));
    const configName = `${sha(config).slice(7)}.json`;
    const path = join(dir, "saved.tar");
    writeFileSync(
      path,
      tarFile([
        { name: "abc/layer.tar", data: layerTar },
        { name: "abc/VERSION", data: "1.0" },
        { name: configName, data: config },
        {
          name: "manifest.json",
          data: JSON.stringify([{ Config: configName, RepoTags: ["app:saved"], Layers: ["abc/layer.tar"] }]),
        },
        { name: "repositories", data: "{}" },
      ]),
    );
    const out = join(fresh(), "l");
    // A dry run first: nothing gzipped or written, the image marked as to convert, the bytes an estimate.
    const dry = await importImage([path], `oci:${out}:saved`, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, estimated: true, index: "none" });
    expect(dry.images[0].converted).toBe(true);
    expect(dry.bytes).toBe(config.byteLength + layerTar.byteLength);
    expect(readdirSync(join(out, ".."))).toEqual([]);
    const result = await importImage([path], `oci:${out}:saved`);
    expect(result.images[0].converted).toBe(true);
    expect(result.index).toBe("none");
    const { store, root } = await layoutRoot(out, "saved");
    const manifest = json<{ mediaType: string; config: Descriptor; layers: Descriptor[] }>(
      await new Response(await store.fetch(root)).bytes(),
    );
    expect(manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(manifest.config.digest).toBe(sha(config));
    expect(manifest.layers[0].mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    const gz = readFileSync(join(out, "blobs", "sha256", manifest.layers[0].digest.slice(7)));
    expect(sha(gz)).toBe(manifest.layers[0].digest);
    expect(sha(gunzipSync(gz))).toBe(sha(layerTar));
  });
});
