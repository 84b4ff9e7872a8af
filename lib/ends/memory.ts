/**
 * An in-memory store: tests, index building, the sample image. Holds whole blobs, so only for small content.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { type Descriptor, descriptorOf } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { readLimited, streamOf } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import type { ContentStore, StoreOptions } from "./store.ts";

/**
 * A {@link ContentStore} in memory.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * const desc = store.put(new TextEncoder().encode("{}"), "application/vnd.oci.empty.v1+json");
 * await store.exists(desc); // true
 * ```
 */
export class MemoryStore implements ContentStore {
  /** Every blob and manifest held, by digest. */
  readonly blobs: Map<string, { desc: Descriptor; bytes: Uint8Array }> = new Map();
  /** Tags, by name. */
  readonly tags: Map<string, Descriptor> = new Map();
  /** An empty store; `ref` names it in error messages. */
  constructor(readonly ref = "memory:") {}

  /** Adds bytes directly and returns their descriptor. */
  put(bytes: Uint8Array, mediaType: string): Descriptor {
    const desc = descriptorOf(bytes, mediaType);
    this.blobs.set(desc.digest, { desc, bytes });
    return desc;
  }

  /** The bytes stored for `digest`, if any. */
  get(digest: string): Uint8Array | undefined {
    return this.blobs.get(digest)?.bytes;
  }

  /** The descriptor a tag (or digest) points at; a NotFoundError when there is none. */
  resolve(reference: string): Promise<Descriptor> {
    const desc = isDigest(reference) ? this.blobs.get(reference)?.desc : this.tags.get(reference);
    if (!desc) return Promise.reject(new NotFoundError(`Cannot find ${reference}`, { ref: this.ref }));
    return Promise.resolve(desc);
  }

  /** The bytes of `desc` as a stream. */
  fetch(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    const entry = this.blobs.get(desc.digest);
    if (!entry) return Promise.reject(new NotFoundError(`Cannot find blob ${desc.digest}`, { ref: this.ref }));
    return Promise.resolve(streamOf(entry.bytes));
  }

  /** Whether the store holds `desc`. */
  exists(desc: Descriptor): Promise<boolean> {
    return Promise.resolve(this.blobs.has(desc.digest));
  }

  /** Stores the bytes of `desc`, verified against its digest and size. */
  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, _options?: StoreOptions): Promise<void> {
    const bytes = await readLimited(body, Number.MAX_SAFE_INTEGER);
    verifyBytes(desc, bytes, this.ref);
    this.blobs.set(desc.digest, { desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, bytes });
  }

  /** Points `tag` at `desc`. */
  tag(desc: Descriptor, tag: string): Promise<void> {
    this.tags.set(tag, desc);
    return Promise.resolve();
  }

  /** Nothing to flush: resolves at once. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to undo: resolves at once. */
  abort(): Promise<void> {
    return Promise.resolve();
  }
}
