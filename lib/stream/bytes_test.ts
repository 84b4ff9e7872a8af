import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BufferPool } from "./bytes.ts";
import { createTempWriter, readFileStream } from "./files.ts";
import { gzipStream, STORED_CHUNK_BYTES } from "./gzip.ts";

describe("BufferPool", () => {
  test("takes back only whole buffers it lent, and lends them again", () => {
    const pool = new BufferPool(16, 2);
    const a = pool.take();
    pool.give(a.subarray(0, 8)); // a view: ignored
    pool.give(new Uint8Array(16)); // not lent: ignored
    expect(pool.take()).not.toBe(a);
    pool.give(a);
    pool.give(a); // twice: the second is ignored
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(a);
  });

  test("a short read goes out as the view lend() made: that view comes back, the pieces of a split one do not", () => {
    const pool = new BufferPool(16, 2);
    const a = pool.take();
    const chunk = pool.lend(a, 10);
    expect(chunk.byteLength).toBe(10);
    pool.give(chunk.subarray(0, 5)); // a stage split it: neither piece is the chunk lent
    pool.give(chunk.subarray(5));
    expect(pool.take()).not.toBe(a);
    pool.give(chunk);
    const again = pool.take();
    expect(again).toBe(a);
    expect(again.byteLength).toBe(16); // whole again
  });

  test("the temp-file writer gives a file read's chunks back once written: a copy reuses the same buffers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ferry-pool-"));
    try {
      const bytes = new Uint8Array(7 * 256 * 1024 + 999).map((_, i) => (i * 7) ^ (i >> 11));
      await writeFile(join(dir, "a"), bytes);
      const seen = new Set<ArrayBufferLike>();
      const writer = await createTempWriter(join(dir, "b"));
      await readFileStream(join(dir, "a")).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            seen.add(chunk.buffer);
            controller.enqueue(chunk);
          },
        }),
      ).pipeTo(writer.writable);
      await writer.commit();
      expect(new Uint8Array(await readFile(join(dir, "b")))).toEqual(bytes);
      expect(seen.size).toBeLessThan(5); // eight chunks through at most four buffers
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("level-0 gzip through a pool whose chunks the consumer gives back writes the same bytes", async () => {
    const input = new Uint8Array(3 * STORED_CHUNK_BYTES + 12345).map((_, i) => (i * 31) ^ (i >> 9));
    const gzipped = async (pool?: BufferPool) => {
      const hash = createHash("sha256");
      let reused = 0;
      const seen = new Set<Uint8Array>();
      let at = 0;
      const pieces = new ReadableStream<Uint8Array>({ // 64 KiB at a time, as a file is read
        pull(controller) {
          if (at >= input.byteLength) return controller.close();
          controller.enqueue(input.slice(at, at += 65536));
        },
      }, { highWaterMark: 0 });
      await pieces.pipeThrough(gzipStream(0, pool ? { pool } : {})).pipeTo(
        new WritableStream({
          async write(chunk) {
            await new Promise((resolve) => setTimeout(resolve, 1)); // a file write
            hash.update(chunk);
            if (seen.has(chunk)) reused++;
            seen.add(chunk);
            pool?.give(chunk);
          },
        }),
      );
      return { digest: hash.digest("hex"), reused };
    };
    const plain = await gzipped();
    const pooled = await gzipped(new BufferPool(STORED_CHUNK_BYTES, 2));
    expect(pooled.digest).toBe(plain.digest);
    expect(plain.reused).toBe(0);
    expect(pooled.reused).toBeGreaterThan(0);
  });
});
