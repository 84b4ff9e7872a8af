/**
 * gzip and gunzip as Web TransformStreams, over node:zlib (level control) — measured faster than
 * CompressionStream under both Bun and Deno (scripts/bench/gzip_levels.ts).
 *
 * @module
 */
import { constants, createGunzip, createGzip } from "node:zlib";
import type { Transform } from "node:stream";

// Measured by scripts/bench/gzip_levels.ts on 100 MiB of random (incompressible, like the gzip layers
// inside an export) data, 2 shared cores, output/input ratio and MB/s:
//                 level 0          level 1          level 2          level 6          CompressionStream
//   Bun 1.x     1.0001 642 MB/s  1.0547  67 MB/s  1.0007  45 MB/s  1.0007  35 MB/s  1.0003  38 MB/s
//   Deno 2.x    1.0001 708 MB/s  1.0547  76 MB/s  1.0004  48 MB/s  1.0004  40 MB/s  1.0003  39 MB/s
// node:zlib is as fast as CompressionStream at the same level and is the only one with level control.
// Level 1 EXPANDS compressed data by 5.5% (both runtimes' zlib uses static Huffman codes at level 1,
// ~8.44 bits per random byte, with no stored-block fallback); levels 2-9 cost 15-20x level 0's time for a
// file 0.03% LARGER than level 0's. So level 0 (gzip "stored" blocks: a valid .tar.gz that `docker load`,
// `tar -z` and skopeo read) is the default; exportImage picks {@link GZIP_LEVEL_FOR_UNCOMPRESSED} on its
// own when a platform has uncompressed layers, where compression does pay.
/** The gzip level `ferry export` uses unless told otherwise; chosen by measurement (see the comment above). */
export const DEFAULT_GZIP_LEVEL = 0;

/** The level used instead of {@link DEFAULT_GZIP_LEVEL} when some layer is not already compressed. */
export const GZIP_LEVEL_FOR_UNCOMPRESSED = 6;

/**
 * Bytes zlib emits per output chunk. gzip: 64 KiB, as fast as 256 KiB at level 0 and less memory with several
 * export files in flight. gunzip: 256 KiB, since import spools every entry to a file and smaller chunks mean
 * more writes (6 export files imported: 3.4 s with 64 KiB, 2.2 s with 256 KiB).
 */
const GZIP_CHUNK_SIZE = 64 * 1024;
const GUNZIP_CHUNK_SIZE = 256 * 1024;

/**
 * A gzip-compressing TransformStream at `level` (0 = stored, 1 = fastest … 9 = smallest).
 *
 * @example
 * ```ts
 * const gz = body.pipeThrough(gzipStream(DEFAULT_GZIP_LEVEL));
 * ```
 */
export function gzipStream(level: number = DEFAULT_GZIP_LEVEL): TransformStream<Uint8Array, Uint8Array> {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new RangeError(`gzip level must be an integer 0-9, got ${level}`);
  }
  return zlibTransform(
    createGzip({ level, chunkSize: GZIP_CHUNK_SIZE, memLevel: 9, strategy: constants.Z_DEFAULT_STRATEGY }),
  );
}

/** A gunzipping TransformStream (tests, import of `.tar.gz` archives). */
export function gunzipStream(): TransformStream<Uint8Array, Uint8Array> {
  return zlibTransform(createGunzip({ chunkSize: GUNZIP_CHUNK_SIZE }));
}

/**
 * Wraps a node:zlib Transform as a Web TransformStream, passing zlib's output Buffers on as
 * Uint8Array views (no copy). A chunk is written only after zlib consumed the previous one,
 * so backpressure flows from the reader to the writer.
 */
function zlibTransform(z: Transform): TransformStream<Uint8Array, Uint8Array> {
  let failed: unknown;
  let ended = false;
  // The one write (or the end) in flight: zlib may report an error through 'error' only, never
  // calling the write callback (Bun does), so the error handler settles it too.
  let pending: { resolve(): void; reject(err: unknown): void } | undefined;
  const wait = (start: () => void) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      pending = { resolve, reject };
      start();
    }).finally(() => (pending = undefined));
  // `cancel` (stream cancelled from the readable side) is newer than TypeScript's DOM lib; it frees zlib early.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(): void } = {
    start(controller) {
      z.on("data", (b: Uint8Array) => {
        if (!ended) controller.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      });
      z.on("error", (err) => {
        failed ??= err;
        pending?.reject(err);
      });
      z.on("end", () => {
        ended = true;
        pending?.resolve();
      });
    },
    transform(chunk) {
      return wait(() => z.write(chunk, (err) => (err ? pending?.reject(err) : pending?.resolve())));
    },
    flush() {
      return wait(() => z.end());
    },
    cancel() {
      ended = true;
      z.destroy();
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}
