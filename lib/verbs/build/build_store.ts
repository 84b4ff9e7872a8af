/**
 * What a build produced, as one {@link ReadableStore} copyGraph can read: new manifests and configs in
 * memory, new layers from their files, base layers from the base image's own store (so they are
 * mounted or copied byte for byte, never recompressed).
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { readFileStream } from "../../stream/files.ts";
import { MemoryStore } from "../../ends/memory.ts";
import type { ReadableStore, RegistryOrigin, StoreOptions } from "../../ends/store.ts";

/**
 * A read-only store over the pieces of a build.
 *
 * @example
 * ```ts
 * const store = new BuildStore();
 * const config = store.put(configBytes, MediaType.OciConfig);
 * store.addFile(layer.digest, layer.path);
 * store.addFrom(baseLayer.digest, base.store);
 * await copyGraph(store, destination, root);
 * ```
 */
export class BuildStore implements ReadableStore {
  readonly ref = "ferry build";
  readonly #memory = new MemoryStore("ferry build");
  readonly #files = new Map<string, string>();
  readonly #others = new Map<string, ReadableStore>();
  /** Set when every base layer comes from one registry repository, so copyGraph can mount them there. */
  origin?: RegistryOrigin;

  /** Adds small content (a manifest, config or index) and returns its descriptor. */
  put(bytes: Uint8Array, mediaType: string): Descriptor {
    return this.#memory.put(bytes, mediaType);
  }

  /** The bytes of content added with {@link put}. */
  get(digest: string): Uint8Array | undefined {
    return this.#memory.get(digest);
  }

  /** A blob served from a file (a new layer). */
  addFile(digest: string, path: string): void {
    this.#files.set(digest, path);
  }

  /** A blob served by another store (a base image's layer). */
  addFrom(digest: string, store: ReadableStore): void {
    if (!this.#files.has(digest)) this.#others.set(digest, store);
  }

  /** Sets {@link origin} from the stores base layers come from, when they are one registry repository. */
  settleOrigin(): void {
    const origins = new Set(
      [...this.#others.values()].map((s) => s.origin ? `${s.origin.registry}/${s.origin.repository}` : "-"),
    );
    const first = [...this.#others.values()][0];
    this.origin = origins.size === 1 && first?.origin ? first.origin : undefined;
  }

  resolve(reference: string, _options?: StoreOptions): Promise<Descriptor> {
    return this.#memory.resolve(reference);
  }

  fetch(desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const file = this.#files.get(desc.digest);
    if (file) return Promise.resolve(readFileStream(file));
    const other = this.#others.get(desc.digest);
    if (other) return other.fetch(desc, options);
    if (this.#memory.get(desc.digest)) return this.#memory.fetch(desc);
    return Promise.reject(new NotFoundError(`Cannot find blob ${desc.digest} in the build`, { ref: this.ref }));
  }

  exists(desc: Descriptor): Promise<boolean> {
    return Promise.resolve(
      this.#files.has(desc.digest) || this.#others.has(desc.digest) || this.#memory.get(desc.digest) !== undefined,
    );
  }
}
