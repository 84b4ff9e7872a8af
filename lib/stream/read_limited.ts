/**
 * Reading small content (manifests, configs) into memory with a hard cap. Never used for layers.
 *
 * @module
 */
import { FormatError } from "../errors.ts";

/** The most bytes ferry reads into memory for one manifest or config (the distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Reads `stream` into one buffer, failing with a {@link FormatError} past `max` bytes.
 *
 * @example
 * ```ts
 * const bytes = await readLimited(await store.fetch(desc), MAX_MANIFEST_BYTES);
 * ```
 */
export async function readLimited(stream: ReadableStream<Uint8Array>, max = MAX_MANIFEST_BYTES): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw new FormatError(`Cannot read content: larger than ${max} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** A one-chunk stream of `bytes`. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}
