import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DigestMismatchError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { readLimited, streamOf } from "../stream/read_limited.ts";
import { verifiedBody } from "../stream/verify.ts";
import { MemoryStore } from "./memory.ts";
import { SpoolingStore } from "./spooling.ts";
import type { ReadableStore } from "./store.ts";

const root = mkdtempSync(join(tmpdir(), "ferry-spool-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Counts fetches per digest; can corrupt every blob it serves. */
class Counting implements ReadableStore {
  readonly ref = "memory:counting";
  readonly fetches = new Map<string, number>();
  constructor(readonly store: MemoryStore, readonly corrupt = false) {}
  resolve(r: string) {
    return this.store.resolve(r);
  }
  exists(d: Descriptor) {
    return this.store.exists(d);
  }
  async fetch(d: Descriptor) {
    this.fetches.set(d.digest, (this.fetches.get(d.digest) ?? 0) + 1);
    const body = await this.store.fetch(d);
    if (!this.corrupt) return body;
    const bytes = await readLimited(body);
    bytes[0] ^= 0xff;
    return streamOf(bytes);
  }
}

function setup(corrupt = false) {
  const mem = new MemoryStore();
  const blob = mem.put(new Uint8Array(200_000).map((_, i) => i % 251), MediaType.OciLayerGzip);
  const manifest = mem.put(new TextEncoder().encode('{"schemaVersion":2}'), MediaType.OciManifest);
  const src = new Counting(mem, corrupt);
  let made = 0;
  const makeDir = () => {
    made++;
    return mkdtemp(join(root, ".ferry-tmp-"));
  };
  return { src, blob, manifest, makeDir, made: () => made };
}

const read = async (s: ReadableStream<Uint8Array>) => (await readLimited(s, 1 << 24)).byteLength;

describe("SpoolingStore", () => {
  test("a blob with one reader streams from the source; no temp dir", async () => {
    const { src, blob, makeDir, made } = setup();
    const spool = new SpoolingStore(src, makeDir);
    expect(await read(await spool.fetch(blob))).toBe(blob.size);
    expect(await read(await spool.fetch(blob))).toBe(blob.size);
    expect(src.fetches.get(blob.digest)).toBe(2);
    expect(made()).toBe(0);
    await spool.dispose();
  });

  test("a shared blob (or any blob with spoolAll) is fetched once, served from the temp dir, removed by dispose", async () => {
    for (const shared of [true, false]) {
      const { src, blob, makeDir } = setup();
      const spool = new SpoolingStore(src, makeDir, { spoolAll: !shared });
      if (shared) spool.share([blob]);
      spool.share([blob]);
      const sizes = await Promise.all([1, 2, 3].map(async () => await read(await spool.fetch(blob))));
      expect(sizes).toEqual([blob.size, blob.size, blob.size]);
      expect(src.fetches.get(blob.digest)).toBe(1);
      const dirs = readdirSync(root).filter((d) => d.startsWith(".ferry-tmp-"));
      expect(dirs.length).toBe(1);
      await spool.dispose();
      expect(readdirSync(root)).toEqual([]);
    }
  });

  test("a spooled blob, verified once while spooled, is not hashed again by each reader; a direct one is", async () => {
    const { src, blob, makeDir } = setup();
    const spool = new SpoolingStore(src, makeDir);
    const direct = await spool.fetch(blob);
    const checked = verifiedBody(blob, direct);
    expect(checked).not.toBe(direct); // streams from the source: verified by the reader
    expect(await read(checked)).toBe(blob.size);
    spool.share([blob, blob]);
    const spooled = await spool.fetch(blob);
    expect(verifiedBody(blob, spooled)).toBe(spooled);
    // Marked for this digest and size only: asked for another descriptor it is verified (and fails).
    const other = { ...blob, size: blob.size + 1 };
    await expect(read(verifiedBody(other, await spool.fetch(blob)))).rejects.toThrow();
    expect(await read(spooled)).toBe(blob.size);
    await spool.dispose();
  });

  test("manifests are cached in memory, never spooled", async () => {
    const { src, manifest, makeDir, made } = setup();
    const spool = new SpoolingStore(src, makeDir, { spoolAll: true });
    expect(await read(await spool.fetch(manifest))).toBe(manifest.size);
    expect((await spool.small(manifest)).byteLength).toBe(manifest.size);
    expect(src.fetches.get(manifest.digest)).toBe(1);
    expect(made()).toBe(0);
  });

  test("a blob failing verification leaves no spooled file", async () => {
    const { src, blob, makeDir } = setup(true);
    const spool = new SpoolingStore(src, makeDir, { spoolAll: true });
    // Read while it is spooled: the follower errors with the spool's failure (it never just ends).
    await expect(spool.fetch(blob).then(read)).rejects.toThrow(DigestMismatchError);
    const [dir] = readdirSync(root).filter((d) => d.startsWith(".ferry-tmp-"));
    expect(readdirSync(join(root, dir))).toEqual([]);
    await spool.dispose();
    expect(existsSync(join(root, dir))).toBe(false);
  });

  test("readers while a shared blob is being spooled follow the spool file; each stream ends only once it verified", async () => {
    const mem = new MemoryStore();
    const bytes = new Uint8Array(3 * 1024 * 1024 + 123).map((_, i) => (i * 7) % 253);
    const blob = mem.put(bytes, MediaType.OciLayerGzip);
    for (const corrupt of [false, true]) {
      let fetches = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      // A source that sends the first half, waits for the gate, then the rest (the last byte flipped if corrupt).
      const src: ReadableStore = {
        ref: "memory:paced",
        resolve: (r) => mem.resolve(r),
        exists: (d) => mem.exists(d),
        fetch: () => {
          fetches++;
          const half = bytes.length >> 1;
          const tail = bytes.slice(half);
          if (corrupt) tail[tail.length - 1] ^= 1;
          return Promise.resolve(
            new ReadableStream<Uint8Array>({
              async pull(controller) {
                controller.enqueue(bytes.slice(0, half));
                await gate;
                controller.enqueue(tail);
                controller.close();
              },
            }, { highWaterMark: 0 }),
          );
        },
      };
      const spool = new SpoolingStore(src, () => mkdtemp(join(root, ".ferry-tmp-")));
      spool.share([blob, blob]);
      const seen = [0, 0];
      let ended = 0;
      const readers = [0, 1].map(async (i) => {
        const reader = (await spool.fetch(blob)).getReader();
        const chunks: Uint8Array[] = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          seen[i] += value.byteLength;
        }
        ended++;
        return Buffer.concat(chunks);
      });
      // Both readers get the first half while the source still holds back the rest.
      for (let i = 0; i < 200 && (seen[0] < bytes.length >> 1 || seen[1] < bytes.length >> 1); i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect({ seen, half: bytes.length >> 1 }).toEqual({
        seen: [bytes.length >> 1, bytes.length >> 1],
        half: bytes.length >> 1,
      });
      expect(ended).toBe(0);
      release();
      if (corrupt) {
        const settled = await Promise.allSettled(readers);
        for (const r of settled) {
          expect(r.status).toBe("rejected");
          expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DigestMismatchError);
        }
      } else {
        for (const r of readers) expect(new Uint8Array(await r)).toEqual(bytes);
        expect(new Uint8Array(await read2(await spool.fetch(blob)))).toEqual(bytes); // after: from the spool file
      }
      expect(fetches).toBe(1);
      await spool.dispose();
    }
  });
});

const read2 = async (s: ReadableStream<Uint8Array>) => await readLimited(s, 1 << 24);
