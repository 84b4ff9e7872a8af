/**
 * A read-only {@link RegistryBackend} over ferry stores (one `ReadableStore` per repository), as the demo
 * and tests serve a `MemoryStore`.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isManifest } from "../oci/media_types.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { verifyBytes, verifyStream } from "../stream/verify.ts";
import type { ReadableStore } from "../ends/store.ts";
import {
  type BlobSource,
  type ManifestContent,
  reachableManifests,
  referrerOf,
  type RegistryBackend,
} from "./backend.ts";

/**
 * One repository the handler serves: where its content is and which tags it has.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const repository: ServedRepository = { store: sample.store, tags: () => ["1.0"] };
 * registryHandler(new Map([["sample/app", repository]]));
 * ```
 */
export interface ServedRepository {
  /** Must resolve digests of blobs as well as manifests (the handler learns sizes that way). */
  store: ReadableStore;
  /** The repository's tags. */
  tags(): string[] | Promise<string[]>;
}

/**
 * A store that keeps its tags in a map, as MemoryStore does; served as is.
 *
 * @example
 * ```ts
 * const store: TaggedStore = buildSampleImage().store;
 * registryHandler(new Map([["sample/app", store]]));
 * ```
 */
export type TaggedStore = ReadableStore & { tags: Map<string, Descriptor> };

/**
 * A read-only backend serving each store of `repositories` under its name (e.g. `sample/app`).
 *
 * @example
 * ```ts
 * const backend = storeBackend(new Map([["sample/app", buildSampleImage().store]]));
 * ```
 */
export function storeBackend(repositories: Map<string, ServedRepository | TaggedStore>): RegistryBackend {
  const repo = (name: string): ServedRepository => {
    const entry = repositories.get(name);
    if (!entry) throw new NotFoundError(`Cannot find repository "${name}"`);
    if (typeof entry.tags === "function") return entry as ServedRepository;
    const store = entry as TaggedStore;
    return { store, tags: () => [...store.tags.keys()] };
  };
  return {
    hasRepository: (name) => Promise.resolve(repositories.has(name)),
    tags: async (name) => [...await repo(name).tags()],
    manifest: (name, reference) => manifestOf(repo(name).store, reference),
    blob: (name, digest) => blobOf(repo(name).store, digest),
    async referrers(name, digest) {
      const { store, tags } = repo(name);
      const roots = await Promise.all((await tags()).map((t) => store.resolve(t)));
      const load = async (d: Descriptor) => (await manifestOf(store, d.digest).catch(() => undefined))?.bytes;
      const all = await reachableManifests(roots, load);
      return [...all.values()].filter((m) => m.doc.subject?.digest === digest).map(referrerOf);
    },
  };
}

async function manifestOf(store: ReadableStore, reference: string): Promise<ManifestContent> {
  const desc = await store.resolve(reference);
  // A store holding blobs and manifests in one place resolves a layer digest too; that is no manifest.
  const known = isManifest(desc.mediaType);
  if (!known && (desc.size > MAX_MANIFEST_BYTES || (desc.mediaType && desc.mediaType !== "application/octet-stream"))) {
    throw new NotFoundError(`Cannot find manifest ${reference}: ${desc.digest} is not a manifest`);
  }
  const bytes = await readLimited(await store.fetch(desc), MAX_MANIFEST_BYTES);
  verifyBytes(desc, bytes); // never serve content that does not match its digest
  const mediaType = known ? desc.mediaType : mediaTypeOf(bytes);
  if (!mediaType) throw new NotFoundError(`Cannot find manifest ${reference}: ${desc.digest} is not a manifest`);
  return { desc: { mediaType, digest: desc.digest, size: desc.size }, bytes };
}

/** The `mediaType` field of manifest bytes, when they are a manifest ferry knows. */
function mediaTypeOf(bytes: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    return isManifest(doc?.mediaType) ? doc.mediaType : undefined;
  } catch {
    return undefined;
  }
}

async function blobOf(store: ReadableStore, digest: string): Promise<BlobSource> {
  const desc = await store.resolve(digest);
  return {
    digest: desc.digest,
    size: desc.size,
    async open(start, end) {
      // The whole blob is verified on the way out: a corrupt store errors the response instead of serving
      // bad bytes. A range cannot be verified; it is cut from the stream.
      const body = await store.fetch(desc);
      if (start === 0 && end === desc.size) return body.pipeThrough(verifyStream(desc));
      return body.pipeThrough(sliceStream(start, end));
    },
  };
}

/** Passes on only the bytes `[start, end)` of a stream. */
export function sliceStream(start: number, end: number): TransformStream<Uint8Array, Uint8Array> {
  let position = 0;
  return new TransformStream({
    transform(chunk, controller) {
      const from = Math.max(start - position, 0);
      const to = Math.min(end - position, chunk.byteLength);
      position += chunk.byteLength;
      if (to > from) controller.enqueue(chunk.subarray(from, to));
      if (position >= end) controller.terminate();
    },
  });
}
