/**
 * The {@link RegistryBackend} over ferry stores, one `ReadableStore` per repository: what `ferry serve` serves
 * (OCI layouts and archives, see layouts.ts), and what the demo and tests serve (a `MemoryStore`).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { isManifest, MediaType } from "../oci/media_types.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { verifyBytes, verifyStream } from "../stream/verify.ts";
import { type FileRange, streamRange } from "../ends/layout_files.ts";
import type { ReadableStore } from "../ends/store.ts";
import {
  type BlobSource,
  type ManifestContent,
  reachableManifests,
  type ReachedManifest,
  referrerOf,
  type RegistryBackend,
  type RegistryWriter,
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
  /** The root a tag points at (undefined: no such tag); default `store.resolve(tag)`. */
  resolveTag?(tag: string): Descriptor | undefined | Promise<Descriptor | undefined>;
  /**
   * Every root of the repository, tagged or not. When given, a manifest by digest is served only if it is
   * reachable from them (repositories sharing one blob pool stay apart); by default any manifest the store
   * resolves is.
   */
  roots?(): Descriptor[] | Promise<Descriptor[]>;
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
 * Options of {@link storeBackend}.
 *
 * @example
 * ```ts
 * const options: StoreBackendOptions = { blobs: pool }; // every repository's blobs from one pool
 * ```
 */
export interface StoreBackendOptions {
  /** Where every repository's blobs are read (a shared pool); default each repository's own store. */
  blobs?: ReadableStore;
  /** Accept pushes through this writer. */
  writer?: RegistryWriter;
}

/** A store that can say where a blob's bytes are on disk (OciLayoutStore): blobs are then served sized. */
interface LocatableStore extends ReadableStore {
  locate(digest: string): Promise<FileRange | undefined>;
}

/**
 * A backend serving each store of `repositories` under its name (e.g. `sample/app`): read-only unless a
 * writer is given. `repositories` may be a function, asked on every request (layouts that change on disk).
 *
 * @example
 * ```ts
 * const backend = storeBackend(new Map([["sample/app", buildSampleImage().store]]));
 * ```
 */
export function storeBackend(
  repositories:
    | Map<string, ServedRepository | TaggedStore>
    | (() => Promise<Map<string, ServedRepository | TaggedStore>>),
  options: StoreBackendOptions = {},
): RegistryBackend {
  const current = () => Promise.resolve(typeof repositories === "function" ? repositories() : repositories);
  const served = new WeakMap<object, ServedRepository>();
  const reachable = new WeakMap<ServedRepository, Promise<Map<string, ReachedManifest>>>();
  const repo = async (name: string): Promise<ServedRepository> => {
    const entry = (await current()).get(name);
    if (!entry) throw new NotFoundError(`Cannot find repository "${name}"`);
    if (typeof entry.tags === "function") return entry as ServedRepository;
    let view = served.get(entry);
    if (!view) {
      const store = entry as TaggedStore;
      served.set(entry, view = { store, tags: () => [...store.tags.keys()] });
    }
    return view;
  };
  /** Every manifest reachable from the repository's roots, walked once per repository object. */
  const reach = (r: ServedRepository): Promise<Map<string, ReachedManifest>> => {
    let all = reachable.get(r);
    if (!all) {
      all = (async () => {
        const roots = r.roots
          ? await r.roots()
          : (await Promise.all((await r.tags()).map((t) => tagRoot(r, t).catch(() => undefined))))
            .filter((d): d is Descriptor => d !== undefined);
        const load = async (d: Descriptor) => (await readManifest(r.store, d).catch(() => undefined))?.bytes;
        return await reachableManifests(roots, load);
      })();
      reachable.set(r, all);
    }
    return all;
  };
  return {
    hasRepository: async (name) => (await current()).has(name),
    catalog: async () => [...(await current()).keys()],
    tags: async (name) => [...await (await repo(name)).tags()],
    async manifest(name, reference) {
      const r = await repo(name);
      let desc: Descriptor | undefined;
      if (!isDigest(reference)) desc = await tagRoot(r, reference);
      else if (r.roots) desc = (await reach(r)).get(reference)?.desc;
      else desc = await r.store.resolve(reference);
      if (!desc) throw new NotFoundError(`Cannot find manifest ${reference} in ${name}`);
      return await readManifest(r.store, desc, reference);
    },
    blob: async (name, digest) => blobOf(options.blobs ?? (await repo(name)).store, digest),
    async referrers(name, digest) {
      const all = await reach(await repo(name));
      return [...all.values()].filter((m) => m.doc.subject?.digest === digest).map(referrerOf);
    },
    ...(options.writer ? { writer: options.writer } : {}),
  };
}

async function tagRoot(r: ServedRepository, tag: string): Promise<Descriptor | undefined> {
  return r.resolveTag ? await r.resolveTag(tag) : await r.store.resolve(tag);
}

/** A manifest's verified bytes and media type (read from the bytes when the descriptor has none). */
async function readManifest(store: ReadableStore, desc: Descriptor, reference = desc.digest): Promise<ManifestContent> {
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

/**
 * The media type of manifest bytes: their `mediaType` when it is one ferry knows, else (an OCI manifest may
 * leave it out) what their shape says.
 */
function mediaTypeOf(bytes: Uint8Array): string | undefined {
  let doc: { mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown } | undefined;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== "object") return undefined;
  if (isManifest(doc.mediaType as string)) return doc.mediaType as string;
  if (doc.mediaType !== undefined) return undefined;
  if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  if (doc.config && Array.isArray(doc.layers)) return MediaType.OciManifest;
  return undefined;
}

async function blobOf(store: ReadableStore, digest: string): Promise<BlobSource> {
  if ("locate" in store) {
    const range = await (store as LocatableStore).locate(digest);
    if (!range) throw new NotFoundError(`Cannot find blob ${digest}`);
    if (range.size > MAX_MANIFEST_BYTES) {
      // A layer in a file: sent sized (sendfile where the runtime can). Hashing every pull of a big layer is not
      // cheap; small blobs (configs, manifests) are verified below.
      return {
        digest,
        size: range.size,
        file: { path: range.path, offset: range.offset },
        open: (start, end) => Promise.resolve(streamRange(range, start, end)),
      };
    }
    const read = async () => {
      const bytes = await readLimited(streamRange(range), MAX_MANIFEST_BYTES);
      verifyBytes({ mediaType: "", digest, size: range.size }, bytes);
      return bytes;
    };
    return {
      digest,
      size: range.size,
      read,
      open: async (start, end) => streamOf((await read()).subarray(start, end)),
    };
  }
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
