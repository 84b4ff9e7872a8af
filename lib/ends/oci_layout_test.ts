import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skopeoCopy } from "../../tests/helpers/tools.ts";
import { FileError, FormatError, NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { copyGraph } from "../engine/copy_graph.ts";
import { readLimited, streamOf } from "../stream/read_limited.ts";
import { isTempName } from "../stream/files.ts";
import { MemoryStore } from "./memory.ts";
import { CONTAINERD_NAME, FERRY_REPOSITORY, REF_NAME } from "../oci/annotations.ts";
import { ArchiveWriter } from "./archive_writer.ts";
import { OciLayoutStore } from "./oci_layout.ts";

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));
let root: string;
let n = 0;
const fresh = () => join(root, `layout-${n++}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ferry-oci-layout-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A tiny one-platform image in memory: config, layer, manifest. */
function image(store: MemoryStore, label: string): Descriptor {
  const config = store.put(
    json({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, label }),
    MediaType.OciConfig,
  );
  const layer = store.put(enc.encode(`layer ${label}`), MediaType.OciLayerGzip);
  return store.put(
    json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }),
    MediaType.OciManifest,
  );
}

async function readIndex(dir: string) {
  return JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
}

/** All file names under dir, recursively. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

function failingBody(first: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (sent) c.error(new Error("connection reset"));
      else c.enqueue(first);
      sent = true;
    },
  });
}

describe("OciLayoutStore", () => {
  test("push, tag, close, then reopen: resolve and fetch return the same bytes", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const manifest = image(src, "a");
    const dst = await OciLayoutStore.open(dir, { create: true });
    expect(dst.ref).toBe(`oci:${dir}`);
    await copyGraph(src, dst, manifest);
    await dst.tag(manifest, "1.0");
    await dst.close();

    expect(JSON.parse(await readFile(join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = await readIndex(dir);
    expect(index.manifests).toEqual([{ ...manifest, annotations: { [REF_NAME]: "1.0" } }]);

    const again = await OciLayoutStore.open(dir);
    expect(again.listTags()).toEqual(["1.0"]);
    expect(await again.resolve("1.0")).toEqual(manifest);
    expect(await again.resolve("")).toEqual(manifest);
    expect(await again.resolve(manifest.digest)).toEqual(manifest);
    for (const [digest, { desc, bytes }] of src.blobs) {
      expect(await again.exists(desc)).toBe(true);
      expect(await readLimited(await again.fetch(desc))).toEqual(bytes);
      expect(await readFile(join(dir, "blobs", "sha256", digest.slice(7)))).toEqual(Buffer.from(bytes));
    }
    expect((await tree(dir)).filter((p) => isTempName(p.split("/").at(-1)!))).toEqual([]);
  });

  test("resolve: unknown tag lists the tags there are; digest of a plain blob sniffs its media type", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const b = image(src, "b");
    const dst = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, dst, a);
    await copyGraph(src, dst, b);
    await dst.tag(a, "a");
    await dst.tag(b, "b");
    await dst.close();
    const store = await OciLayoutStore.open(dir);
    const err = await store.resolve("c").catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe(`Cannot resolve c in ${dir}: no tag "c"; tags here: a, b`);
    await expect(store.resolve("")).rejects.toThrow(NotFoundError);
    const config = JSON.parse(new TextDecoder().decode(src.get(a.digest)!)).config;
    await expect(store.resolve(config.digest)).rejects.toThrow(FormatError);
  });

  test("resolve accepts crane's and containerd's full-name annotations", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const b = image(src, "b");
    const dst = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, dst, a);
    await copyGraph(src, dst, b);
    await dst.close();
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { ...a, annotations: { [REF_NAME]: "index.docker.io/library/app:1.0" } },
          { ...b, annotations: { "io.containerd.image.name": "docker.io/library/app:2.0" } },
        ],
      }),
    );
    const store = await OciLayoutStore.open(dir);
    expect((await store.resolve("1.0")).digest).toBe(a.digest);
    expect((await store.resolve("index.docker.io/library/app:1.0")).digest).toBe(a.digest);
    expect((await store.resolve("2.0")).digest).toBe(b.digest);
    await expect(store.resolve("")).rejects.toThrow(NotFoundError);
  });

  test("re-tagging replaces the entry instead of adding a second (crane#1807); other tags are kept", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const b = image(src, "b");
    const first = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, first, a);
    await first.tag(a, "latest");
    await first.tag(a, "keep");
    await first.close();

    const second = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, second, b);
    await second.tag(b, "latest");
    await second.addRoot(a);
    await second.addRoot(a);
    await second.close();
    const entries = (await readIndex(dir)).manifests;
    expect(entries.map((e: Descriptor) => [e.digest, e.annotations?.[REF_NAME]])).toEqual([
      [b.digest, "latest"],
      [a.digest, "keep"],
      [a.digest, undefined],
    ]);
    const third = await OciLayoutStore.open(dir, { create: true });
    await third.tag(b, "latest");
    await third.close();
    expect((await readIndex(dir)).manifests.length).toBe(3);
  });

  test("tag checks the name and that the manifest was pushed", async () => {
    const dst = await OciLayoutStore.open(fresh(), { create: true });
    const src = new MemoryStore();
    const a = image(src, "a");
    await expect(dst.tag(a, "1.0")).rejects.toThrow(NotFoundError);
    await copyGraph(src, dst, a);
    await expect(dst.tag(a, "bad tag")).rejects.toThrow(UsageError);
    await dst.abort();
  });

  test("a body that errors midway leaves no blob under its final name and no temp file", async () => {
    const dir = fresh();
    const dst = await OciLayoutStore.open(dir, { create: true });
    const bytes = enc.encode("0123456789");
    const desc = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${"ab".repeat(32)}`, size: bytes.byteLength };
    await expect(dst.push(desc, failingBody(bytes.subarray(0, 4)))).rejects.toThrow("connection reset");
    await expect(dst.push(desc, streamOf(bytes.subarray(0, 4)))).rejects.toThrow("expected 10 bytes, got 4");
    expect(await dst.exists(desc)).toBe(false);
    expect(await tree(join(dir, "blobs"))).toEqual(["sha256"]);
    await dst.close();
  });

  test("an existing blob is left alone; concurrent pushes of one digest are harmless", async () => {
    const dir = fresh();
    const dst = await OciLayoutStore.open(dir, { create: true });
    const src = new MemoryStore();
    const desc = src.put(enc.encode("x".repeat(100_000)), MediaType.OciLayerGzip);
    await Promise.all([1, 2, 3, 4].map(() => src.fetch(desc).then((body) => dst.push(desc, body))));
    await dst.push(desc, failingBody(enc.encode("never read")));
    expect(await readLimited(await dst.fetch(desc))).toEqual(src.get(desc.digest)!);
    expect(await tree(join(dir, "blobs"))).toEqual(["sha256", `sha256/${desc.digest.slice(7)}`]);
    await dst.close();
  });

  test("abort leaves no temp files and does not change index.json", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const b = image(src, "b");
    const first = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, first, a);
    await first.tag(a, "1.0");
    await first.close();
    const before = await readFile(join(dir, "index.json"), "utf8");

    const second = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, second, b);
    await second.tag(b, "1.0");
    let pulls = 0;
    const stalled = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulls++ === 0) c.enqueue(enc.encode("partial"));
        else return new Promise(() => {}); // a transfer still in flight when abort() comes
      },
    });
    const big = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${"cd".repeat(32)}`, size: 1000 };
    const inFlight = second.push(big, stalled).catch((e) => e);
    await new Promise((r) => setTimeout(r, 20));
    await second.abort();
    expect(await readFile(join(dir, "index.json"), "utf8")).toBe(before);
    expect((await tree(dir)).filter((p) => isTempName(p.split("/").at(-1)!))).toEqual([]);
    await expect(second.push(b, streamOf(new Uint8Array()))).rejects.toThrow(UsageError);
    expect(String(await inFlight)).toContain("the store was aborted");
  });

  test("abort of a layout that open({create}) made removes the directory", async () => {
    const dir = fresh();
    const store = await OciLayoutStore.open(dir, { create: true });
    const src = new MemoryStore();
    await copyGraph(src, store, image(src, "a"));
    await store.abort();
    expect(await readdir(dir).catch((e) => e.code)).toBe("ENOENT");
  });

  test("open without create requires oci-layout and index.json", async () => {
    const dir = fresh();
    await expect(OciLayoutStore.open(dir)).rejects.toThrow(NotFoundError);
    await mkdir(dir);
    await expect(OciLayoutStore.open(dir)).rejects.toThrow("not an OCI layout (no oci-layout file)");
    await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await expect(OciLayoutStore.open(dir)).rejects.toThrow("not an OCI layout (no index.json)");
    await writeFile(join(dir, "index.json"), '{"manifests": [{"digest": "nope"}]}');
    await expect(OciLayoutStore.open(dir)).rejects.toThrow(FormatError);
    await writeFile(join(dir, "index.json"), "{");
    await expect(OciLayoutStore.open(dir)).rejects.toThrow(FormatError);
  });

  test("a fresh layout closed without tags is still a valid empty layout", async () => {
    const dir = fresh();
    await (await OciLayoutStore.open(dir, { create: true })).close();
    expect((await readIndex(dir)).manifests).toEqual([]);
    expect((await OciLayoutStore.open(dir)).listTags()).toEqual([]);
  });

  test("reads a layout written by skopeo", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const dst = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, dst, a);
    await dst.tag(a, "1.0");
    await dst.close();
    const bySkopeo = fresh();
    // Without --preserve-digests skopeo re-serialises the manifest (its own key order).
    await skopeoCopy(`oci:${dir}:1.0`, `oci:${bySkopeo}:v1`, ["--preserve-digests"]);
    const store = await OciLayoutStore.open(bySkopeo);
    expect(store.listTags()).toEqual(["v1"]);
    const root = await store.resolve("v1");
    expect(root.digest).toBe(a.digest);
    const back = new MemoryStore();
    await copyGraph(store, back, root);
    expect([...back.blobs.keys()].sort()).toEqual([...src.blobs.keys()].sort());
  }, 30_000);

  test("openArchive reads an uncompressed tar in place; it is read-only", async () => {
    const src = new MemoryStore();
    const a = image(src, "tar");
    const tar = join(root, `archive-${n++}.tar`);
    const writer = new ArchiveWriter(tar);
    await copyGraph(src, writer, a);
    await writer.tag(a, "team/app:1.0");
    await writer.close();
    const store = await OciLayoutStore.openArchive(tar, "shown.tar");
    expect(store.ref).toBe("oci-archive:shown.tar");
    expect(store.writable).toBe(false);
    expect((await store.resolve("1.0")).digest).toBe(a.digest);
    expect(await readLimited(await store.fetch(a))).toEqual(src.get(a.digest)!);
    const range = (await store.locate(a.digest))!;
    expect(range.path).toBe(tar);
    expect(range.size).toBe(a.size);
    expect(store.named({ defaultRepo: "shown" }).map(({ repository, tag }) => ({ repository, tag }))).toEqual([
      { repository: "team/app", tag: "1.0" },
    ]);
    await expect(store.push(a, streamOf(src.get(a.digest)!))).rejects.toThrow(UsageError);
    expect(await store.refresh()).toBe(false);
    await expect(OciLayoutStore.openArchive(join(root, "missing.tar"))).rejects.toThrow(NotFoundError);
  });

  test("refresh re-reads index.json another writer changed; named edits write it at once", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const b = image(src, "b");
    const first = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, first, a);
    await copyGraph(src, first, b);
    await first.tag(a, "1.0");
    await first.close();
    const served = await OciLayoutStore.open(dir);
    expect(await served.refresh()).toBe(false);
    const other = await OciLayoutStore.open(dir);
    await other.tag(b, "2.0");
    other.annotate("2.0", { [CONTAINERD_NAME]: "docker.io/team/app:2.0" });
    await other.close();
    const generation = served.generation;
    expect(await served.refresh()).toBe(true);
    expect(served.generation).toBeGreaterThan(generation);
    expect(served.named({ defaultRepo: "dir" }).map(({ repository, tag }) => `${repository}:${tag}`)).toEqual([
      "dir:1.0",
      "team/app:2.0",
    ]);
    // Registry-style edits: a push by tag in another repository, one by digest, a delete.
    const naming = { defaultRepo: "dir" };
    await served.putNamed(naming, "mirror/x", a, "v1");
    await served.putNamed(naming, "mirror/x", b, undefined);
    expect((await readIndex(dir)).manifests.slice(2).map((e: Descriptor) => e.annotations)).toEqual([
      { [REF_NAME]: "mirror/x:v1" },
      { [FERRY_REPOSITORY]: "mirror/x" },
    ]);
    expect(await served.refresh()).toBe(false); // its own write
    expect(await served.deleteNamed(naming, "mirror/x", b.digest)).toBe(1);
    expect(await served.deleteNamed(naming, "mirror/x", "nope")).toBe(0);
    expect(served.named(naming).map(({ repository, tag }) => `${repository}:${tag}`)).toEqual([
      "dir:1.0",
      "team/app:2.0",
      "mirror/x:v1",
    ]);
  });

  test("a blob that is a symlink out of the layout is refused; one inside is read", async () => {
    const dir = fresh();
    const src = new MemoryStore();
    const a = image(src, "a");
    const dst = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(src, dst, a);
    await dst.close();
    const outside = src.put(enc.encode("outside the layout"), "application/octet-stream");
    await writeFile(join(root, "outside"), src.get(outside.digest)!);
    await symlink(join(root, "outside"), join(dir, "blobs", "sha256", outside.digest.slice(7)));
    const inside = src.put(enc.encode("inside the layout"), "application/octet-stream");
    await writeFile(join(dir, "inside"), src.get(inside.digest)!);
    await symlink(join("..", "..", "inside"), join(dir, "blobs", "sha256", inside.digest.slice(7)));
    const store = await OciLayoutStore.open(dir);
    await expect(store.fetch(outside)).rejects.toThrow(FileError);
    await expect(store.exists(outside)).rejects.toThrow(/symlink to outside the layout/);
    expect(await readLimited(await store.fetch(inside))).toEqual(src.get(inside.digest)!);
  });
});
