/**
 * Several read-only stores seen as one (the inputs of an import, plus converted layers and new
 * manifests): each digest is served by the first store that has it.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import type { ReadableStore, ReferrerDescriptor, ReferrersOptions, StoreOptions } from "../../ends/store.ts";

/**
 * A {@link ReadableStore} over a list of stores; later additions win (converted content overrides inputs).
 *
 * @example
 * ```ts
 * const union = new UnionStore();
 * union.add(archiveA);
 * union.add(archiveB);
 * await copyGraph(union, dst, root);
 * ```
 */
export class UnionStore implements ReadableStore {
  readonly ref = "import:";
  readonly #stores: ReadableStore[] = [];
  readonly #where = new Map<string, ReadableStore>();

  /** Adds a store; its content is preferred over the stores added before it. */
  add(store: ReadableStore): void {
    this.#stores.unshift(store);
    this.#where.clear();
  }

  resolve(reference: string): Promise<Descriptor> {
    return Promise.reject(
      new NotFoundError(`Cannot resolve ${reference}: import resolves each input itself`, { ref: this.ref }),
    );
  }

  async fetch(desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const store = await this.#find(desc, options);
    if (!store) throw new NotFoundError(`Cannot find ${desc.digest} in the inputs`, { ref: this.ref });
    return await store.fetch(desc, options);
  }

  async exists(desc: Descriptor, options?: StoreOptions): Promise<boolean> {
    return (await this.#find(desc, options)) !== undefined;
  }

  /** The referrers every input lists for `subject`, each digest once. */
  async referrers(subject: Descriptor, options?: ReferrersOptions): Promise<ReferrerDescriptor[]> {
    const found = new Map<string, ReferrerDescriptor>();
    for (const store of this.#stores) {
      for (const r of (await store.referrers?.(subject, options)) ?? []) {
        if (!found.has(r.digest)) found.set(r.digest, r);
      }
    }
    return [...found.values()];
  }

  async #find(desc: Descriptor, options?: StoreOptions): Promise<ReadableStore | undefined> {
    const known = this.#where.get(desc.digest);
    if (known) return known;
    for (const store of this.#stores) {
      if (await store.exists(desc, options)) {
        this.#where.set(desc.digest, store);
        return store;
      }
    }
    return undefined;
  }
}
