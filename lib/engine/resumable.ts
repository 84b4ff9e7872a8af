/**
 * Resume of a blob cut midway: the one hook copyGraph calls before it fetches a blob. When the destination
 * holds the first bytes of the blob from a crashed or failed run ({@link WritableStore.partial}) and the source
 * can start mid-blob ({@link ReadableStore.fetchRange}, a registry's `Range`), the body is those bytes read back
 * from disk and then the rest from the source: the whole blob is hashed, so the digest check stays whole, and
 * only the missing bytes cross the network. The export spool does the same with its own partials
 * (lib/ends/spooling.ts); both keep them with lib/stream/partial.ts.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import type { ReadableStore, WritableStore } from "../ends/store.ts";
import { concatStreams } from "../stream/partial.ts";

/** A blob's body resumed at `resumeFrom` (see {@link resumeBlob}). */
export interface ResumedBody {
  /** Every byte of the blob: the destination's own first `resumeFrom`, then the source's rest. */
  body: ReadableStream<Uint8Array>;
  /** Pass as `PushOptions.resumeFrom`. */
  resumeFrom: number;
}

/**
 * The body of `desc` continued from what `dst` holds of it, or undefined (fetch it whole) when `dst` holds
 * nothing or `src` cannot start mid-blob.
 *
 * @example
 * ```ts
 * const resumed = await resumeBlob(src, dst, desc, signal);
 * const body = resumed?.body ?? await src.fetch(desc, { signal });
 * await dst.push(desc, verifiedBody(desc, body, src.ref), { signal, resumeFrom: resumed?.resumeFrom });
 * ```
 */
export async function resumeBlob(
  src: ReadableStore,
  dst: WritableStore,
  desc: Descriptor,
  signal?: AbortSignal,
): Promise<ResumedBody | undefined> {
  if (!dst.partial || !src.fetchRange) return undefined;
  const held = await dst.partial(desc, { signal });
  if (!held || held.offset <= 0 || held.offset >= desc.size) return undefined;
  const rest = await src.fetchRange(desc, held.offset, { signal });
  if (!rest) return undefined;
  return { body: concatStreams(held.prefix(), rest), resumeFrom: held.offset };
}
