/**
 * Digest- and size-verifying pass-through stream.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { DigestMismatchError, SizeMismatchError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { splitDigest } from "../oci/digest.ts";
import { noteStreamedBytes } from "./reclaim.ts";

/**
 * Passes bytes through unchanged and errors the stream unless they are exactly
 * `desc.size` bytes hashing to `desc.digest`. Stores commit (rename, final PUT)
 * only after the stream closes cleanly, so a bad blob is never kept.
 *
 * @example
 * ```ts
 * declare const src: ReadableStore, dst: WritableStore, desc: Descriptor, signal: AbortSignal;
 * const body = await src.fetch(desc, { signal });
 * await dst.push(desc, body.pipeThrough(verifyStream(desc)), { signal });
 * ```
 */
export function verifyStream(desc: Descriptor, ref?: string): TransformStream<Uint8Array, Uint8Array> {
  const [algorithm] = splitDigest(desc.digest);
  const hash = createHash(algorithm);
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      // Fail as soon as the source overruns: never forward surplus bytes.
      if (seen > desc.size) throw new SizeMismatchError(desc.size, seen, { ref });
      hash.update(chunk);
      noteStreamedBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
    flush() {
      if (seen !== desc.size) throw new SizeMismatchError(desc.size, seen, { ref });
      const actual = `${algorithm}:${hash.digest("hex")}`;
      if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, { ref });
    },
  });
}

/** Streams a store has already verified against the descriptor they were fetched for (digest and size). */
const verified = new WeakMap<ReadableStream<Uint8Array>, string>();

/**
 * Marks `body` as bytes its store has already checked against `desc` (e.g. a spool file written through
 * {@link verifyStream}), so that {@link verifiedBody} passes it on without hashing it again. Returns `body`.
 *
 * @example
 * ```ts
 * return markVerified(desc, readFileStream(spooledPath));
 * ```
 */
export function markVerified(desc: Descriptor, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  verified.set(body, `${desc.digest}/${desc.size}`);
  return body;
}

/**
 * `body` verified against `desc`: through {@link verifyStream}, unless its store marked it as already
 * verified for this very digest and size ({@link markVerified}).
 *
 * @example
 * ```ts
 * const body = verifiedBody(desc, await src.fetch(desc, { signal }), src.ref);
 * ```
 */
export function verifiedBody(
  desc: Descriptor,
  body: ReadableStream<Uint8Array>,
  ref?: string,
): ReadableStream<Uint8Array> {
  if (verified.get(body) === `${desc.digest}/${desc.size}`) return body;
  return body.pipeThrough(verifyStream(desc, ref));
}

/** Checks bytes already in memory (manifests, configs) against `desc`, throwing like {@link verifyStream}. */
export function verifyBytes(desc: Descriptor, bytes: Uint8Array, ref?: string): void {
  if (bytes.byteLength !== desc.size) throw new SizeMismatchError(desc.size, bytes.byteLength, { ref });
  const [algorithm] = splitDigest(desc.digest);
  const actual = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
  if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, { ref });
}
