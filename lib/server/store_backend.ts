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
import { verifyBytes, verifyFileRange, verifyStream } from "../stream/verify.ts";
import { type FileRange, streamRange } from "../ends/layout_files.ts";
import type { ReadableStore } from "../ends/store.ts";
import {
  type BlobSource,
  blobUsers,
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
  /**
   * Where every repository's blobs are read (a shared pool); default each repository's own store. With a
   * pool, a repository serves only the blobs it holds: those its manifests use, and those `holds` names.
   */
  blobs?: ReadableStore;
  /** Whether repository `name` holds blob `digest` besides what its manifests use (uploaded, mounted). */
  holds?: (name: string, digest: string) => Promise<boolean>;
  /** Accept pushes through this writer. */
  writer?: RegistryWriter;
}

/**
 * A {@link RegistryBackend} over stores, which can also say which blobs a repository holds.
 *
 * @example
 * ```ts
 * const backend: StoreBackend = storeBackend(new Map([["sample/app", buildSampleImage().store]]));
 * console.log(await backend.holdsBlob("sample/app", "sha256:" + "0".repeat(64))); // false
 * ```
 */
export interface StoreBackend extends RegistryBackend {
  /** Every manifest reachable from the roots of repository `name` (empty for an unknown one), by digest. */
  reached(name: string): Promise<Map<string, ReachedManifest>>;
  /** The manifest of `name` that uses blob `digest` (or is it), if one does. */
  blobUser(name: string, digest: string): Promise<Descriptor | undefined>;
  /** Whether `name` holds blob `digest`: a manifest of it uses the blob, or `options.holds` says so. */
  holdsBlob(name: string, digest: string): Promise<boolean>;
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
): StoreBackend {
  const current = () => Promise.resolve(typeof repositories === "function" ? repositories() : repositories);
  const served = new WeakMap<object, ServedRepository>();
  const reachable = new WeakMap<ServedRepository, Promise<Map<string, ReachedManifest>>>();
  const users = new WeakMap<ServedRepository, Promise<Map<string, Descriptor>>>();
  const verified = new VerifiedFiles();
  const repo = async (name: string): Promise<ServedRepository> => {
    const found = await maybeRepo(name);
    if (!found) throw new NotFoundError(`Cannot find repository "${name}"`);
    return found;
  };
  const maybeRepo = async (name: string): Promise<ServedRepository | undefined> => {
    const entry = (await current()).get(name);
    if (!entry) return undefined;
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
  /** Every blob the repository's manifests use, with the manifest using it; once per repository object. */
  const usersOf = (r: ServedRepository): Promise<Map<string, Descriptor>> => {
    let all = users.get(r);
    if (!all) users.set(r, all = reach(r).then(blobUsers));
    return all;
  };
  const blobUser = async (name: string, digest: string) => {
    const r = await maybeRepo(name);
    return r ? (await usersOf(r)).get(digest) : undefined;
  };
  const holdsBlob = async (name: string, digest: string) =>
    (await blobUser(name, digest)) !== undefined || ((await options.holds?.(name, digest)) ?? false);
  return {
    reached: async (name) => {
      const r = await maybeRepo(name);
      return r ? await reach(r) : new Map();
    },
    blobUser,
    holdsBlob,
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
    async blob(name, digest) {
      if (!options.blobs) return await blobOf((await repo(name)).store, digest, verified);
      // One pool behind every repository: each serves only what it holds, as a registry's repositories do.
      if (!(await holdsBlob(name, digest))) throw new NotFoundError(`Cannot find blob ${digest} in ${name}`);
      return await blobOf(options.blobs, digest, verified);
    },
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

/**
 * Bytes per read of a layer file served as a stream (before its first hash matched; where there is no sendfile).
 * Bun's response streaming costs per chunk: a 1 GiB file answered as a ReadableStream took 1.0 s in 256 KiB
 * chunks, 0.63 s in 1 MiB, 0.54 s in 4 MiB (sendfile 0.55 s).
 */
const SERVE_CHUNK = 1 << 20;

/**
 * Large blob files whose bytes were hashed in full and matched, by file version (path, offset, size and
 * stamp: a changed file is checked again). Those are sent sized from the file (sendfile where the runtime
 * can). For the others one hash of the file runs, shared by every response sending it meanwhile.
 */
class VerifiedFiles {
  static readonly MAX = 100_000;
  readonly #matched = new Set<string>();
  readonly #checking = new Map<string, Promise<void>>();

  has(range: FileRange): boolean {
    return this.#matched.has(VerifiedFiles.#key(range));
  }

  /** Hashes the file's bytes (once for concurrent callers): resolves when they match `digest`, else rejects. */
  verify(range: FileRange, digest: string): Promise<void> {
    const key = VerifiedFiles.#key(range);
    if (this.#matched.has(key)) return Promise.resolve();
    let check = this.#checking.get(key);
    if (!check) {
      const desc: Descriptor = { mediaType: "", digest, size: range.size };
      check = verifyFileRange(range.path, range.offset, desc)
        .then(() => {
          if (this.#matched.size >= VerifiedFiles.MAX) this.#matched.delete(this.#matched.values().next().value!);
          this.#matched.add(key);
        })
        .finally(() => this.#checking.delete(key));
      check.catch(() => {}); // each caller sees the rejection
      this.#checking.set(key, check);
    }
    return check;
  }

  static #key(r: FileRange): string {
    return `${r.path}\0${r.offset}\0${r.size}\0${r.stamp}`;
  }
}

async function blobOf(store: ReadableStore, digest: string, verified: VerifiedFiles): Promise<BlobSource> {
  if ("locate" in store) {
    const range = await (store as LocatableStore).locate(digest);
    if (!range) throw new NotFoundError(`Cannot find blob ${digest}`);
    const desc: Descriptor = { mediaType: "", digest, size: range.size };
    if (range.size > MAX_MANIFEST_BYTES) {
      // A layer in a file. Its bytes are checked once per file version: while the first responses stream
      // (each holding back its last bytes until the hash matched), then sent sized from the file.
      if (verified.has(range)) {
        return {
          digest,
          size: range.size,
          file: { path: range.path, offset: range.offset },
          open: (start, end) => Promise.resolve(streamRange(range, start, end, SERVE_CHUNK)),
        };
      }
      return {
        digest,
        size: range.size,
        checkedFile: async () => {
          await verified.verify(range, digest);
          return { path: range.path, offset: range.offset };
        },
        async open(start, end) {
          const check = verified.verify(range, digest);
          // A range is sent only once the whole blob matched; the whole blob while it is being checked.
          if (start !== 0 || end !== range.size) await check;
          return holdingBackUntil(streamRange(range, start, end, SERVE_CHUNK), check);
        },
      };
    }
    const read = async () => {
      const bytes = await readLimited(streamRange(range), MAX_MANIFEST_BYTES);
      verifyBytes(desc, bytes);
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

/**
 * `body` passed on as it is read, its last chunk held back until `check` resolves: bytes that do not match
 * their digest error the stream before the client has them all, so it sees a broken transfer, never a
 * complete wrong blob.
 */
export function holdingBackUntil(
  body: ReadableStream<Uint8Array>,
  check: Promise<void>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let held: Uint8Array | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          await check;
          if (held) controller.enqueue(held);
          controller.close();
          return;
        }
        const out = held;
        held = value;
        if (out) {
          controller.enqueue(out);
          return;
        }
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
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
