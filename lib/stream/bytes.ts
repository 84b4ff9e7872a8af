/**
 * Byte buffers without the zero fill: `new Uint8Array(n)` clears every byte, which showed as 5% of an export's
 * CPU time (memset) for buffers that are overwritten whole at once (file reads, gzip output blocks).
 *
 * @module
 */
import { Buffer } from "node:buffer";

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
 * Buffers of one size lent out and given back, so a producer and the consumer it feeds (export's gzip writer and
 * the file it writes) reuse a few buffers instead of leaving one behind per chunk for the collector. Only a
 * buffer this pool lent, whole, is taken back; anything else given is ignored, so a consumer may give every
 * chunk it has finished with. A buffer given back must not be read or written by anyone afterwards.
 *
 * @example
 * ```ts
 * const pool = new BufferPool(256 * 1024);
 * const out = pool.take(); // fill, enqueue; the file sink calls pool.give(out) once written
 * ```
 */
export class BufferPool {
  readonly #free: Uint8Array[] = [];
  readonly #lent = new WeakSet<ArrayBufferLike>();

  /** Buffers of `size` bytes; at most `keep` idle ones are kept. */
  constructor(readonly size: number, readonly keep = 8) {}

  /** An idle buffer, or a fresh uninitialised one. */
  take(): Uint8Array {
    const buffer = this.#free.pop() ?? uninitializedBytes(this.size);
    this.#lent.add(buffer.buffer);
    return buffer;
  }

  /** Takes `chunk` back if it is a whole buffer this pool lent; otherwise does nothing. */
  give(chunk: Uint8Array): void {
    if (chunk.byteOffset !== 0 || chunk.byteLength !== this.size || !this.#lent.has(chunk.buffer)) return;
    this.#lent.delete(chunk.buffer);
    if (this.#free.length < this.keep) this.#free.push(chunk);
  }
}
