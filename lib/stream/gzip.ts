/**
 * gzip and gunzip as Web TransformStreams. gzip output is byte-reproducible: the same input gives the same
 * bytes however it is split into chunks, under Bun and Deno alike, with a fixed header (mtime 0, OS 3 = Unix,
 * no file name), so that the same export twice gives the same `.tar.gz`. Level 0 (stored blocks) is written
 * here; levels 1-9 use node:zlib, measured faster than CompressionStream under both Bun and Deno
 * (scripts/bench/gzip_levels.ts).
 *
 * @module
 */
import process from "node:process";
import type { Transform } from "node:stream";
import { open } from "node:fs/promises";
import { type BufferPool, uninitializedBytes } from "./bytes.ts";
import { noteStreamedBytes } from "./reclaim.ts";
import { fileErrorOf } from "./files.ts";

// Measured by scripts/bench/gzip_levels.ts on 100 MiB of random (incompressible, like the gzip layers
// inside an export) data, 2 shared cores, output/input ratio and MB/s:
//                 level 0          level 1          level 2          level 6          CompressionStream
//   Bun 1.x     1.0001 642 MB/s  1.0547  67 MB/s  1.0007  45 MB/s  1.0007  35 MB/s  1.0003  38 MB/s
//   Deno 2.x    1.0001 708 MB/s  1.0547  76 MB/s  1.0004  48 MB/s  1.0004  40 MB/s  1.0003  39 MB/s
// (level 0 there is node:zlib's; this module's own stored-block writer is faster, see storedGzipStream.)
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
 * zlib's output depends on how its input is split into writes (measured on 3 MiB: levels 0, 1 and 6 under both
 * Bun and Deno, not 2 or 9), so gzip input reaches zlib in pieces of exactly this size, the last one shorter.
 */
const ZLIB_INPUT_PIECE = 64 * 1024;

/**
 * node:zlib, loaded on first use: under Bun loading it costs ~10 MiB of resident memory, which a copy (no gzip) and
 * an export at level 0 (CRC-32 only, see {@link setCrc32}) do without.
 */
const zlib = () => process.getBuiltinModule("node:zlib");

/** CRC-32 (zlib's polynomial, chained by its second argument): node:zlib's unless {@link setCrc32} set another. */
let crc32: (data: Uint8Array, value: number) => number = (data, value) => zlib().crc32(data, value);

/**
 * Sets the CRC-32 level-0 gzip uses (lib/runtime.ts sets Bun's native one, the same function, so that an export
 * need not load node:zlib).
 *
 * @example
 * ```ts
 * setCrc32((data, value) => Bun.hash.crc32(data, value));
 * ```
 */
export function setCrc32(fn: (data: Uint8Array, value: number) => number): void {
  crc32 = fn;
}

/** Data bytes per deflate stored block at level 0: the format's maximum (LEN is 16 bits). */
const STORED_BLOCK = 65_535;

/**
 * Stored blocks per output chunk at level 0: 4 (256 KiB), written to the file as they are (no coalescing copy).
 * Measured: as fast as 16 (1 MiB), and less memory with several files in flight.
 */
const STORED_CHUNK_BLOCKS = 4;

/** The gzip header's OS byte ferry always writes: 3, Unix (zlib's own depends on the platform it was built for). */
const GZIP_OS_UNIX = 3;

/** Size of the chunks level 0 emits (the last one shorter): a pool for {@link GzipStreamOptions.pool} has this size. */
export const STORED_CHUNK_BYTES = STORED_CHUNK_BLOCKS * (5 + STORED_BLOCK);

/** Options of {@link gzipStream}. */
export interface GzipStreamOptions {
  /**
   * Level 0 takes its output chunks from this pool ({@link STORED_CHUNK_BYTES} each), for a consumer that gives
   * each back once written and keeps no reference (the export file sink). Other levels ignore it.
   */
  pool?: BufferPool;
}

/**
 * A gzip-compressing TransformStream at `level` (0 = stored, 1 = fastest … 9 = smallest). The output bytes
 * depend on the input bytes and the level only, not on how the input is chunked; at level 0 they are the same
 * under every runtime too (levels 1-9 are each runtime's zlib: Bun's and Deno's level 1 differ).
 *
 * @example
 * ```ts
 * const gz = body.pipeThrough(gzipStream(DEFAULT_GZIP_LEVEL));
 * ```
 */
export function gzipStream(
  level: number = DEFAULT_GZIP_LEVEL,
  options: GzipStreamOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new RangeError(`gzip level must be an integer 0-9, got ${level}`);
  }
  if (level === 0) return storedGzipStream(options.pool);
  return zlibTransform(
    zlib().createGzip({
      level,
      chunkSize: GZIP_CHUNK_SIZE,
      memLevel: 9,
      strategy: zlib().constants.Z_DEFAULT_STRATEGY,
    }),
    { inputPiece: ZLIB_INPUT_PIECE, fixGzipHeader: true },
  );
}

/**
 * A gunzipping TransformStream (tests, import of `.tar.gz` archives).
 *
 * @example
 * ```ts
 * const tar = readFileStream("app.tar.gz").pipeThrough(gunzipStream());
 * ```
 */
export function gunzipStream(): TransformStream<Uint8Array, Uint8Array> {
  return zlibTransform(zlib().createGunzip({ chunkSize: GUNZIP_CHUNK_SIZE }));
}

// Level 0 measured with scripts/bench/gzip_levels.ts, 100 MiB random data in 64 KiB chunks, 2 busy shared cores:
// Bun 1.4 1540-2370 MB/s, Deno 2.9 1450-1550 MB/s, where node:zlib's level 0 did 1080-1110 and 580-1000 MB/s.
/**
 * gzip with deflate "stored" blocks (RFC 1951 3.2.4), written here rather than by zlib, whose stored-block
 * boundaries follow the input's chunking: a 10-byte header (as zlib's at level 0: no mtime, XFL 4, OS Unix),
 * blocks of {@link STORED_BLOCK} bytes whatever the chunks, the last one (possibly empty) flagged final,
 * then CRC-32 (zlib's, hardware-accelerated in both runtimes) and the size mod 2^32.
 */
function storedGzipStream(pool?: BufferPool): TransformStream<Uint8Array, Uint8Array> {
  let crc = 0;
  let size = 0;
  // Output goes out in chunks of STORED_CHUNK_BLOCKS whole blocks, each with its 5-byte header, written straight
  // into uninitialised memory. The open block (header at `at`, `fill` data bytes) is closed as not final when
  // more data arrives past it, and flagged final in flush(): a chunk is sent only once its blocks are all closed.
  const chunkBytes = STORED_CHUNK_BYTES;
  const fresh = pool && pool.size === chunkBytes ? () => pool.take() : () => {
    noteStreamedBytes(chunkBytes); // garbage once passed on
    return uninitializedBytes(chunkBytes);
  };
  let out = fresh();
  let at = 0;
  let fill = 0;
  const close = (final: boolean) => {
    out[at] = final ? 1 : 0; // BFINAL, BTYPE 00 (stored), padding to the byte boundary
    out[at + 1] = fill & 0xff; // LEN
    out[at + 2] = fill >> 8;
    out[at + 3] = ~fill & 0xff; // NLEN
    out[at + 4] = (~fill >> 8) & 0xff;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array([...GZIP_MAGIC, 8, 0, 0, 0, 0, 0, 4, GZIP_OS_UNIX]));
    },
    transform(chunk, controller) {
      checkChunk(chunk);
      crc = crc32(chunk, crc);
      size = (size + chunk.byteLength) >>> 0;
      for (let offset = 0; offset < chunk.byteLength;) {
        if (fill === STORED_BLOCK) {
          close(false);
          at += 5 + STORED_BLOCK;
          fill = 0;
          if (at === chunkBytes) {
            controller.enqueue(out);
            out = fresh();
            at = 0;
          }
        }
        const n = Math.min(STORED_BLOCK - fill, chunk.byteLength - offset);
        out.set(chunk.subarray(offset, offset + n), at + 5 + fill);
        fill += n;
        offset += n;
      }
    },
    flush(controller) {
      close(true); // the last block, possibly empty
      controller.enqueue(out.subarray(0, at + 5 + fill));
      const trailer = new Uint8Array(8);
      const view = new DataView(trailer.buffer);
      view.setUint32(0, crc >>> 0, true);
      view.setUint32(4, size, true);
      controller.enqueue(trailer);
    },
  });
}

/**
 * The exact size of {@link gzipStream}(0)'s output for `n` input bytes: the 10-byte header, `n` bytes in stored
 * blocks of {@link STORED_BLOCK} (at least one, possibly empty) with a 5-byte header each, the 8-byte trailer.
 *
 * @example
 * ```ts
 * storedGzipSize(0); // 23
 * storedGzipSize(65_536); // 65_536 + 18 + 2 * 5
 * ```
 */
export function storedGzipSize(n: number): number {
  return 10 + n + 5 * Math.max(1, Math.ceil(n / STORED_BLOCK)) + 8;
}

function checkChunk(chunk: unknown): asserts chunk is Uint8Array {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(`gzip input chunks must be Uint8Array, got ${Object.prototype.toString.call(chunk)}`);
  }
}

/** Options of {@link zlibTransform}. */
interface ZlibTransformOptions {
  /** Write the input to zlib in pieces of exactly this many bytes (the last one shorter), whatever its chunks. */
  inputPiece?: number;
  /** Zero the output's gzip mtime and set its OS byte to {@link GZIP_OS_UNIX}. */
  fixGzipHeader?: boolean;
}

/**
 * Wraps a node:zlib Transform as a Web TransformStream, passing zlib's output Buffers on as
 * Uint8Array views (no copy). A chunk is written only after zlib consumed the previous one,
 * so backpressure flows from the reader to the writer. With `inputPiece`, input chunks are cut and
 * joined into pieces of that size (aligned ones passed on without a copy), so zlib sees the same writes
 * whatever the chunking.
 */
function zlibTransform(z: Transform, options: ZlibTransformOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const { inputPiece, fixGzipHeader } = options;
  let failed: unknown;
  let ended = false;
  let sent = 0; // output bytes so far, to find the gzip header's bytes
  // The one write (or the end) in flight: zlib may report an error through 'error' only, never
  // calling the write callback (Bun does), so the error handler settles it too.
  let pending: { resolve(): void; reject(err: unknown): void } | undefined;
  const wait = (start: () => void) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      pending = { resolve, reject };
      start();
    }).finally(() => (pending = undefined));
  const write = (chunk: Uint8Array) =>
    wait(() => z.write(chunk, (err) => (err ? pending?.reject(err) : pending?.resolve())));
  // With `inputPiece`: the piece being filled from chunks that do not line up with piece boundaries.
  let piece: Uint8Array | undefined;
  let fill = 0;
  const writePieces = async (chunk: Uint8Array, size: number) => {
    checkChunk(chunk);
    for (let offset = 0; offset < chunk.byteLength;) {
      if (fill === 0 && chunk.byteLength - offset >= size) {
        await write(chunk.subarray(offset, offset + size)); // consumed before this transform settles: no copy
        offset += size;
        continue;
      }
      piece ??= new Uint8Array(size);
      const n = Math.min(size - fill, chunk.byteLength - offset);
      piece.set(chunk.subarray(offset, offset + n), fill);
      fill += n;
      offset += n;
      if (fill === size) {
        const full = piece;
        piece = undefined;
        fill = 0;
        await write(full);
      }
    }
  };
  // `cancel` (stream cancelled from the readable side) is newer than TypeScript's DOM lib; it frees zlib early.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(): void } = {
    start(controller) {
      z.on("data", (b: Uint8Array) => {
        if (ended) return;
        const out = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        if (fixGzipHeader && sent < 10) {
          for (let i = Math.max(sent, 4); i < 8 && i - sent < out.byteLength; i++) out[i - sent] = 0; // mtime
          if (9 - sent < out.byteLength) out[9 - sent] = GZIP_OS_UNIX;
        }
        sent += out.byteLength;
        controller.enqueue(out);
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
      return inputPiece ? writePieces(chunk, inputPiece) : write(chunk);
    },
    async flush() {
      if (piece && fill > 0) await write(piece.subarray(0, fill));
      piece = undefined;
      await wait(() => z.end());
    },
    cancel() {
      ended = true;
      piece = undefined;
      z.destroy();
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}

/** gzip's two magic bytes, the one way ferry tells a gzip stream from anything else. */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Whether `head` (the first bytes of a file or blob) starts a gzip stream.
 *
 * @example
 * ```ts
 * isGzip(new Uint8Array([0x1f, 0x8b, 8])); // true
 * ```
 */
export function isGzip(head: Uint8Array): boolean {
  return head.byteLength >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
}

/**
 * Whether the file at `path` is gzipped (its first two bytes); a {@link FileError} when it cannot be read.
 *
 * @example
 * ```ts
 * const stream = (await isGzipFile(path)) ? readFileStream(path).pipeThrough(gunzipStream()) : readFileStream(path);
 * ```
 */
export async function isGzipFile(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, "r");
    const head = new Uint8Array(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return isGzip(head.subarray(0, bytesRead));
  } catch (err) {
    throw fileErrorOf(err, "read", path);
  } finally {
    await fh?.close().catch(() => {});
  }
}
