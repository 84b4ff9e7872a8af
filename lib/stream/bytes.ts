/**
 * Byte buffers without the zero fill: `new Uint8Array(n)` clears every byte, which showed as 5% of an export's
 * CPU time (memset) for buffers that are overwritten whole at once (file reads, gzip output blocks).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { noteStreamedBytes } from "./reclaim.ts";

/**
 * A plain `Uint8Array` of `size` bytes over fresh, uninitialised memory (never a shared pool), for a buffer the
 * caller fills before anyone reads it. A plain view, not a `Buffer`, so `slice()` copies as everywhere else.
 *
 * @example
 * ```ts
 * const buffer = uninitializedBytes(256 * 1024);
 * const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position);
 * ```
 */
export function uninitializedBytes(size: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(b.buffer, b.byteOffset, size);
}

/**
 * Buffers of one size lent out and given back, so a producer and the consumer it feeds (a file's reads and the
 * export file they are written to; export's gzip writer and its file) reuse a few buffers instead of leaving one
 * behind per chunk for the collector. Only a chunk exactly as this pool lent it (the whole buffer, or the view
 * {@link lend} made) is taken back, once; anything else given is ignored, so a consumer may give every chunk it
 * has finished with. A buffer given back must not be read or written by anyone afterwards: only the last holder
 * of a chunk gives it (a stage that splits a chunk passes views, which are ignored). A fresh buffer counts
 * towards the next collection ({@link noteStreamedBytes}); one lent again does not.
 *
 * @example
 * ```ts
 * const pool = new BufferPool(256 * 1024);
 * const buffer = pool.take();
 * const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position);
 * controller.enqueue(pool.lend(buffer, bytesRead)); // the file writer calls pool.give(chunk) once written
 * ```
 */
export class BufferPool {
  readonly #free: Uint8Array[] = [];
  /** By ArrayBuffer: the buffer lent and the length of the chunk it went out as. */
  readonly #lent = new WeakMap<ArrayBufferLike, { whole: Uint8Array; length: number }>();

  /** Buffers of `size` bytes; at most `keep` idle ones are kept. */
  constructor(readonly size: number, readonly keep = 8) {}

  /** An idle buffer, or a fresh uninitialised one; it goes out whole unless {@link lend} says otherwise. */
  take(): Uint8Array {
    let buffer = this.#free.pop();
    if (!buffer) {
      buffer = uninitializedBytes(this.size);
      noteStreamedBytes(this.size);
    }
    this.#lent.set(buffer.buffer, { whole: buffer, length: this.size });
    return buffer;
  }

  /** The first `n` bytes of `buffer` (just taken), as the chunk to pass on: give() takes that view back. */
  lend(buffer: Uint8Array, n: number): Uint8Array {
    const lent = this.#lent.get(buffer.buffer);
    if (lent?.whole === buffer) lent.length = n;
    return n === buffer.byteLength ? buffer : buffer.subarray(0, n);
  }

  /** Takes `chunk` back if it is a chunk this pool lent, as lent; otherwise does nothing. */
  give(chunk: Uint8Array): void {
    const lent = this.#lent.get(chunk.buffer);
    if (!lent || chunk.byteOffset !== lent.whole.byteOffset || chunk.byteLength !== lent.length) return;
    this.#lent.delete(chunk.buffer);
    if (this.#free.length < this.keep) this.#free.push(lent.whole);
  }
}
