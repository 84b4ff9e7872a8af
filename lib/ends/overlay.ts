/**
 * A read-only view of a store with a few extra blobs in front (a filtered index built in memory).
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import type { MemoryStore } from "./memory.ts";
import type { ReadableStore, ReferrerDescriptor, ReferrersOptions, RegistryOrigin, StoreOptions } from "./store.ts";

/**
 * Serves `extra`'s content first and everything else from `base`, so a new root (e.g. an index of the
 * chosen platforms) can be copied with copyGraph while its children still stream from the source.
 *
 * @example
 * ```ts
 * const extra = new MemoryStore();
 * const root = extra.put(filteredIndexBytes, MediaType.OciIndex);
 * await copyGraph(new OverlayStore(src, extra), dst, root);
 * ```
 */
export class OverlayStore implements ReadableStore {
  readonly ref: string;
  readonly origin?: RegistryOrigin;
  constructor(readonly base: ReadableStore, readonly extra: MemoryStore) {
    this.ref = base.ref;
    this.origin = base.origin;
  }

  resolve(reference: string, options?: StoreOptions): Promise<Descriptor> {
    return this.base.resolve(reference, options);
  }

  fetch(desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    return this.extra.blobs.has(desc.digest) ? this.extra.fetch(desc) : this.base.fetch(desc, options);
  }

  async exists(desc: Descriptor, options?: StoreOptions): Promise<boolean> {
    return this.extra.blobs.has(desc.digest) || await this.base.exists(desc, options);
  }

  /** The base store's referrers (the extra blobs are new roots nothing refers to). */
  async referrers(subject: Descriptor, options?: ReferrersOptions): Promise<ReferrerDescriptor[]> {
    return (await this.base.referrers?.(subject, options)) ?? [];
  }
}
