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
import { artifactTypeOf, COSIGN_SUFFIXES, schemaTag, subjectOf } from "../oci/referrers.ts";
import { isManifest } from "../oci/media_types.ts";
import type { ContentStore, PutReferrerOptions, ReferrerDescriptor, ReferrersOptions, StoreOptions } from "./store.ts";

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

  /** Manifests held whose `subject` is `subject`, and those its cosign tags (`sha256-<hex>.sig`…) point at. */
  referrers(subject: Descriptor, options: ReferrersOptions = {}): Promise<ReferrerDescriptor[]> {
    const found = new Map<string, ReferrerDescriptor>();
    const entry = (desc: Descriptor, bytes: Uint8Array): ReferrerDescriptor => {
      const artifactType = artifactTypeOf(bytes);
      return {
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        ...(artifactType ? { artifactType } : {}),
      };
    };
    for (const { desc, bytes } of this.blobs.values()) {
      if (isManifest(desc.mediaType) && subjectOf(bytes) === subject.digest) found.set(desc.digest, entry(desc, bytes));
    }
    for (const suffix of COSIGN_SUFFIXES) {
      const tag = schemaTag(subject.digest, suffix);
      const desc = this.tags.get(tag);
      const bytes = desc && this.get(desc.digest);
      if (desc && bytes) found.set(desc.digest, { ...entry(desc, bytes), tag });
    }
    const types = options.artifactTypes;
    return Promise.resolve(
      [...found.values()].filter((d) => !types?.length || (d.artifactType && types.includes(d.artifactType))),
    );
  }

  /** A cosign tag is set; a manifest with a subject is found by its subject already. */
  async putReferrer(desc: Descriptor, options: PutReferrerOptions): Promise<void> {
    if (options.tag !== undefined) await this.tag(desc, options.tag);
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
