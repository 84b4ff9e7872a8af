/**
 * The source side of a mirror: a store wrapper that paces and counts manifest pulls, since those are
 * what registries (Docker Hub first) meter.
 *
 * @module
 */
import type { Descriptor } from "../../oci/descriptor.ts";
import { isManifest } from "../../oci/media_types.ts";
import type { RateLimitPacer } from "../../remote/rate_limit.ts";
import type { ReadableStore, RegistryOrigin, StoreOptions } from "../../ends/store.ts";

/**
 * A {@link ReadableStore} that waits for `pacer` before each manifest it fetches and counts the
 * distinct manifests fetched (the store below caches manifests, so a repeat costs no request).
 * Blobs and HEADs pass straight through: registries do not count them as pulls.
 *
 * @example
 * ```ts
 * const source = new PacedSource(openRegistryStore(ref), new RateLimitPacer({ perMinute: 100 }));
 * await copyGraph(source, target, root);
 * console.log(source.manifestRequests);
 * ```
 */
export class PacedSource implements ReadableStore {
  readonly ref: string;
  readonly origin?: RegistryOrigin;
  readonly #fetched = new Set<string>();

  constructor(readonly base: ReadableStore, readonly pacer?: RateLimitPacer) {
    this.ref = base.ref;
    this.origin = base.origin;
  }

  /** Manifest GETs made through this wrapper. */
  get manifestRequests(): number {
    return this.#fetched.size;
  }

  resolve(reference: string, options?: StoreOptions): Promise<Descriptor> {
    return this.base.resolve(reference, options);
  }

  async fetch(desc: Descriptor, options: StoreOptions = {}): Promise<ReadableStream<Uint8Array>> {
    if (isManifest(desc.mediaType) && !this.#fetched.has(desc.digest)) {
      this.#fetched.add(desc.digest);
      await this.pacer?.wait(options.signal);
    }
    return await this.base.fetch(desc, options);
  }

  exists(desc: Descriptor, options?: StoreOptions): Promise<boolean> {
    return this.base.exists(desc, options);
  }
}
