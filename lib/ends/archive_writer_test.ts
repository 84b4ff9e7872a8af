import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DigestMismatchError, FileError } from "../errors.ts";
import { copyGraph } from "../engine/copy_graph.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MemoryStore } from "./memory.ts";
import { streamOf } from "../stream/read_limited.ts";
import { ArchiveWriter } from "./archive_writer.ts";
import { SOURCE_INDEX as SOURCE_INDEX_ANNOTATION } from "../oci/annotations.ts";

const root = mkdtempSync(join(tmpdir(), "ferry-archive-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(root, String(n++));
  mkdirSync(dir);
  return dir;
};
const sample = buildSampleImage({
  platforms: ["linux/amd64", "linux/arm64/v8"],
  attestations: true,
  layerSize: 200_000,
});

function tarList(file: string, gz: boolean): string[] {
  return execFileSync("tar", [gz ? "-tzf" : "-tf", file], { encoding: "utf8" }).trim().split("\n");
}
function tarCat(file: string, name: string): string {
  return execFileSync("tar", ["-xzOf", file, name], { encoding: "utf8" });
}
function manifestOf(desc: Descriptor): { config: Descriptor; layers: Descriptor[] } {
  return JSON.parse(new TextDecoder().decode(sample.store.get(desc.digest)!));
}

describe("ArchiveWriter", () => {
  test("writes one platform as a docker-archive that is also an OCI layout", async () => {
    const dir = fresh();
    const path = join(dir, "image-amd64.tar.gz");
    const writer = new ArchiveWriter(path, { gzipLevel: 1 });
    const desc = sample.manifests[0];
    await copyGraph(sample.store, writer, desc);
    expect(await writer.exists(desc)).toBe(true);
    await writer.tag(desc, "127.0.0.1:5000/app:1.0-amd64");
    await writer.close();
    expect(readdirSync(dir)).toEqual(["image-amd64.tar.gz"]);
    const m = manifestOf(desc);
    const names = tarList(path, true);
    for (const name of ["manifest.json", "index.json", "oci-layout", "repositories"]) expect(names).toContain(name);
    for (const d of [desc, m.config, ...m.layers]) expect(names).toContain(`blobs/sha256/${d.digest.slice(7)}`);
    expect(JSON.parse(tarCat(path, "manifest.json"))).toEqual([{
      Config: `blobs/sha256/${m.config.digest.slice(7)}`,
      RepoTags: ["127.0.0.1:5000/app:1.0-amd64"],
      Layers: m.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
    }]);
    expect(JSON.parse(tarCat(path, "repositories"))).toEqual({
      "127.0.0.1:5000/app": { "1.0-amd64": m.layers[1].digest.slice(7) },
    });
    const index = JSON.parse(tarCat(path, "index.json"));
    expect(index.manifests).toEqual([{
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      annotations: {
        "io.containerd.image.name": "127.0.0.1:5000/app:1.0-amd64",
        "org.opencontainers.image.ref.name": "1.0-amd64",
      },
    }]);
    expect(JSON.parse(tarCat(path, "oci-layout"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const bytes = readFileSync(path);
    expect(writer.file!.size).toBe(bytes.byteLength);
    expect(writer.file!.sha256).toBe(`sha256:${createHash("sha256").update(bytes).digest("hex")}`);
  });

  test("a whole index: skips attestations in manifest.json, writes shared blobs once, plain tar", async () => {
    const dir = fresh();
    const path = join(dir, "image.tar");
    const writer = new ArchiveWriter(path, { gzipLevel: false });
    await copyGraph(sample.store, writer, sample.root);
    await writer.tag(sample.root, "app:1.0");
    await writer.tag(sample.manifests[0], "app:1.0-amd64");
    await writer.close();
    const names = tarList(path, false);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(sample.store.blobs.size + 4);
    const items = JSON.parse(execFileSync("tar", ["-xOf", path, "manifest.json"], { encoding: "utf8" }));
    expect(items.map((i: { RepoTags: string[] }) => i.RepoTags)).toEqual([["app:1.0-amd64"], []]);
    const index = JSON.parse(execFileSync("tar", ["-xOf", path, "index.json"], { encoding: "utf8" }));
    expect(index.manifests.map((d: Descriptor) => [d.digest, d.annotations?.["org.opencontainers.image.ref.name"]]))
      .toEqual([
        [sample.manifests[0].digest, "1.0-amd64"],
        [sample.root.digest, "1.0"],
      ]);
    expect(index.manifests[0].platform).toEqual(sample.manifests[0].platform);
    expect(index.manifests[1].annotations["io.containerd.image.name"]).toBe("docker.io/library/app:1.0");
  });

  test("carried manifests (an attestation, the index) are written but listed nowhere; annotate adds to the entry", async () => {
    const dir = fresh();
    const path = join(dir, "image-arm64.tar");
    const writer = new ArchiveWriter(path);
    const [image, attestation] = [sample.manifests[1], sample.attestations[1]];
    await copyGraph(sample.store, writer, image);
    writer.carry(sample.root.digest, attestation.digest);
    await copyGraph(sample.store, writer, attestation);
    await writer.push(sample.root, streamOf(sample.store.get(sample.root.digest)!));
    await writer.tag(image, "app:1.0-arm64");
    writer.annotate(image, { [SOURCE_INDEX_ANNOTATION]: sample.root.digest });
    await writer.close();
    const names = tarList(path, false);
    for (const d of [sample.root, attestation, manifestOf(attestation).config, ...manifestOf(attestation).layers]) {
      expect(names).toContain(`blobs/sha256/${d.digest.slice(7)}`);
    }
    const cat = (name: string) => JSON.parse(execFileSync("tar", ["-xOf", path, name], { encoding: "utf8" }));
    expect(cat("manifest.json").map((i: { RepoTags: string[] }) => i.RepoTags)).toEqual([["app:1.0-arm64"]]);
    const entries = cat("index.json").manifests as Descriptor[];
    // One entry, as without carried content: no platform lent by the carried index, the annotation added.
    expect(entries).toEqual([{
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.size,
      annotations: {
        [SOURCE_INDEX_ANNOTATION]: sample.root.digest,
        "io.containerd.image.name": "docker.io/library/app:1.0-arm64",
        "org.opencontainers.image.ref.name": "1.0-arm64",
      },
    }]);
  });

  test("an untagged root still gets an index.json entry; nothing pushed still makes a valid file", async () => {
    const dir = fresh();
    const writer = new ArchiveWriter(join(dir, "a.tar"));
    await copyGraph(sample.store, writer, sample.manifests[1]);
    await writer.close();
    const index = JSON.parse(execFileSync("tar", ["-xOf", join(dir, "a.tar"), "index.json"], { encoding: "utf8" }));
    expect(index.manifests.map((d: Descriptor) => d.digest)).toEqual([sample.manifests[1].digest]);
    const empty = new ArchiveWriter(join(dir, "b.tar.gz"), { gzipLevel: 0 });
    await empty.close();
    expect(tarList(join(dir, "b.tar.gz"), true)).toEqual(["manifest.json", "repositories", "index.json", "oci-layout"]);
  });

  test("a blob arriving as one large chunk lands after its own tar header (plain tar)", async () => {
    const path = join(fresh(), "big.tar");
    const writer = new ArchiveWriter(path, { gzipLevel: false });
    const store = new MemoryStore();
    const bytes = new Uint8Array(700 * 1024).map((_, i) => (i * 7919) % 251);
    const desc = store.put(bytes, "application/vnd.oci.image.layer.v1.tar+gzip");
    await writer.push(desc, streamOf(bytes)); // one 700 KiB chunk, past the writer's coalescing buffer
    await writer.close();
    expect(tarList(path, false)[0]).toBe(`blobs/sha256/${desc.digest.slice(7)}`);
    const back = execFileSync("tar", ["-xOf", path, `blobs/sha256/${desc.digest.slice(7)}`]);
    expect(new Uint8Array(back)).toEqual(bytes);
  });

  test("a blob failing verification midway leaves no file and no .part", async () => {
    const dir = fresh();
    const bad = new MemoryStore();
    for (const [k, v] of sample.store.blobs) bad.blobs.set(k, v);
    const layer = manifestOf(sample.manifests[0]).layers[1];
    const corrupt = sample.store.get(layer.digest)!.slice();
    corrupt[corrupt.length - 100] ^= 0xff;
    bad.blobs.set(layer.digest, { desc: layer, bytes: corrupt });
    const writer = new ArchiveWriter(join(dir, "image-amd64.tar.gz"), { gzipLevel: 1 });
    await expect(copyGraph(bad, writer, sample.manifests[0])).rejects.toThrow(DigestMismatchError);
    await writer.abort();
    expect(readdirSync(dir)).toEqual([]);
    await expect(writer.close()).rejects.toThrow(DigestMismatchError);
  });

  test("an unwritable directory is a FileError naming the path (exit 8)", async () => {
    const dir = fresh();
    chmodSync(dir, 0o500);
    const path = join(dir, "sub", "image.tar.gz");
    const writer = new ArchiveWriter(path, { gzipLevel: 1 });
    const err = await copyGraph(sample.store, writer, sample.manifests[0]).catch((e) => e);
    expect(err).toBeInstanceOf(FileError);
    expect(err.exitCode).toBe(8);
    expect(err.message).toContain(`Cannot create ${path}`);
    await writer.abort();
    expect(existsSync(`${path}.part`)).toBe(false);
  });
});

describe("ArchiveWriter and foreign layers", () => {
  test("an image whose foreign layer was left out is kept in index.json but not listed for docker load", async () => {
    const foreign = buildSampleImage({ platforms: ["linux/amd64"], foreignLayers: true });
    const path = join(fresh(), "app.oci.tar");
    const writer = new ArchiveWriter(path);
    await copyGraph(foreign.store, writer, foreign.root, { foreignLayers: "skip" });
    await writer.tag(foreign.root, "app:1.0");
    await writer.close();
    const windows = foreign.manifests.find((m) => m.platform?.os === "windows")!;
    const items: { Config: string }[] = JSON.parse(
      execFileSync("tar", ["-xOf", path, "manifest.json"], { encoding: "utf8" }),
    );
    const configs = items.map((i) => i.Config);
    expect(configs).toHaveLength(foreign.manifests.length - 1);
    expect(configs).not.toContain(`blobs/sha256/${manifestOf2(foreign.store, windows).config.digest.slice(7)}`);
    const index = JSON.parse(execFileSync("tar", ["-xOf", path, "index.json"], { encoding: "utf8" }));
    expect(index.manifests.map((m: Descriptor) => m.digest)).toEqual([foreign.root.digest]);
  });
});

function manifestOf2(store: MemoryStore, desc: Descriptor): { config: Descriptor } {
  return JSON.parse(new TextDecoder().decode(store.get(desc.digest)!));
}

describe("ArchiveWriter with measure (a dry run)", () => {
  for (const gzipLevel of [false, 0] as const) {
    test(`predicts the file's exact size (${gzipLevel === false ? ".tar" : "gzip level 0"}), writing nothing`, async () => {
      const dir = fresh();
      const path = join(dir, gzipLevel === false ? "app.tar" : "app.tar.gz");
      const dry = new ArchiveWriter(path, { gzipLevel, measure: true });
      await copyGraph(sample.store, dry, sample.root);
      await dry.tag(sample.root, "app:1.0");
      await dry.close();
      expect(readdirSync(dir)).toEqual([]);
      const real = new ArchiveWriter(path, { gzipLevel });
      await copyGraph(sample.store, real, sample.root);
      await real.tag(sample.root, "app:1.0");
      await real.close();
      expect(dry.measured?.size).toBe(real.file!.size);
      expect(dry.measured!.content).toBe([...sample.store.blobs.values()].reduce((n, b) => n + b.desc.size, 0));
    });
  }

  test("gzip levels 1-9 compress: the size is not known, the tar's is", async () => {
    const dry = new ArchiveWriter(join(fresh(), "app.tar.gz"), { gzipLevel: 6, measure: true });
    await copyGraph(sample.store, dry, sample.root);
    await dry.close();
    expect(dry.measured?.size).toBeUndefined();
    expect(dry.measured!.tar).toBeGreaterThan(dry.measured!.content);
  });
});
