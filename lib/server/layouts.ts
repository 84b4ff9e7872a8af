/**
 * What `ferry serve` serves: OCI layouts ({@link OciLayoutStore}s over directories, and over tars read in place)
 * as repositories through {@link storeBackend}. Every layout's blobs form one pool, but a repository serves
 * only the blobs it holds (those its manifests use; with `writable`, also those pushed or mounted into it,
 * recorded by {@link UploadedBlobs}); repositories and tags come from index.json (see {@link entryName}), and
 * a ferry per-platform export's carried index (see {@link SOURCE_INDEX}) is served too, under the name it was
 * exported as. With `writable`, pushes and deletes go into the one layout directory through OciLayoutStore's
 * index.json edits, one at a time.
 *
 * @module
 */
import { join } from "node:path";
import { FormatError, NotFoundError } from "../errors.ts";
import { type FileRange, streamRange } from "../ends/layout_files.ts";
import type { LayoutNaming, OciLayoutStore } from "../ends/oci_layout.ts";
import type { ReadableStore } from "../ends/store.ts";
import {
  CONTAINERD_NAME,
  entryName,
  FERRY_REPOSITORY,
  isTag,
  NAME_KEYS,
  REFERRER_TAG,
  registryPathOf,
  ServedNames,
  SOURCE_INDEX,
  SOURCE_INDEX_NAME,
} from "../oci/annotations.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { isIndex } from "../oci/media_types.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import type { ManifestDocument, RegistryBackend, RegistryWriter } from "./backend.ts";
import { httpError } from "./responses.ts";
import { type ServedRepository, type StoreBackend, storeBackend } from "./store_backend.ts";
import { UPLOADED_BLOBS_FILE, UploadedBlobs } from "./uploaded_blobs.ts";

/**
 * One layout to serve and the repository its unnamed entries get.
 *
 * @example
 * ```ts
 * const layout: ServedLayout = { store: await OciLayoutStore.open("out"), defaultRepo: "out" };
 * ```
 */
export interface ServedLayout {
  store: OciLayoutStore;
  /** The repository of entries whose annotations name none (the file's or directory's name). */
  defaultRepo: string;
}

/**
 * Options of {@link layoutBackend}.
 *
 * @example
 * ```ts
 * const options: LayoutBackendOptions = { writable: true, repo: "team/app" };
 * ```
 */
export interface LayoutBackendOptions {
  /** Serve every image under this repository, whatever its entry names. */
  repo?: string;
  /** Accept pushes and deletes (one directory layout only). */
  writable?: boolean;
  /**
   * More entries to serve as if an index.json listed them (annotated with their names): a bundle's images whose
   * pieces are in several volumes, each volume listing only the images it holds whole.
   */
  entries?: Descriptor[];
}

/**
 * A backend over layouts, which can also list what it serves.
 *
 * @example
 * ```ts
 * const backend: LayoutBackend = layoutBackend([{ store: await OciLayoutStore.open("out"), defaultRepo: "out" }]);
 * console.log(await backend.repositories()); // Map { "team/app" => ["1.0"] }
 * ```
 */
export interface LayoutBackend extends RegistryBackend {
  /** Every repository with its tags (both sorted). */
  repositories(): Promise<Map<string, string[]>>;
}

/** The repositories by name, and each full name an image was exported under (`docker.io/library/nginx`) → its name. */
type Repositories = Map<string, Repository> & { aliases: Map<string, string> };

interface Repository extends ServedRepository {
  tagged: Map<string, Descriptor>;
  all: Descriptor[];
}

/**
 * Serves `layouts` as one registry. index.json is re-read when it changed on disk (another writer, e.g.
 * `ferry copy` into a served layout), so what is served is always what the files say.
 *
 * @example
 * ```ts
 * const backend = layoutBackend([{ store: await OciLayoutStore.open("out", { create: true }), defaultRepo: "out" }], {
 *   writable: true,
 * });
 * const server = await serve(registryHandler(backend));
 * ```
 */
export function layoutBackend(layouts: ServedLayout[], options: LayoutBackendOptions = {}): LayoutBackend {
  const stores = layouts.map((l) => l.store);
  const pool = new LayoutPool(stores);
  let state: { key: string; repos: Promise<Map<string, Repository>> } | undefined;

  const fresh = async (): Promise<Map<string, Repository>> => {
    await Promise.all(stores.map((s) => s.refresh()));
    const key = stores.map((s) => s.generation).join(",");
    if (state?.key !== key) state = { key, repos: build(layouts, pool, options.repo, options.entries ?? []) };
    return await state.repos;
  };

  let writer: RegistryWriter | undefined;
  let uploaded: UploadedBlobs | undefined;
  if (options.writable) {
    if (layouts.length !== 1 || !layouts[0].store.writable) {
      throw new FormatError("Cannot serve writable: --writable takes exactly one OCI layout directory");
    }
    uploaded = new UploadedBlobs(join(layouts[0].store.path, UPLOADED_BLOBS_FILE));
    const naming = { defaultRepo: layouts[0].defaultRepo, forced: options.repo };
    writer = layoutWriter(layouts[0].store, naming, uploaded, fresh, () => backend);
  }
  const held = uploaded;
  const backend = storeBackend(fresh, {
    blobs: pool,
    writer,
    holds: held && ((name, digest) => held.has(name, digest)),
  });
  return {
    ...backend,
    async resolveName(name, namespace) {
      const repos = await fresh();
      const aliases = (repos as Repositories).aliases;
      if (namespace !== undefined) return aliases.get(`${namespace}/${name}`) ?? aliases.get(name);
      return repos.has(name) ? undefined : aliases.get(name) ?? aliases.get(`docker.io/${name}`);
    },
    async repositories() {
      await uploaded?.ready(); // a damaged record fails serve at start, not its first push
      const repos = await fresh();
      return new Map(
        [...repos].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, r]) => [name, [...r.tagged.keys()].sort()]),
      );
    },
  };
}

/**
 * The repositories the layouts name: index.json entries first (first tag wins), then carried indexes. An image of
 * another registry whose path an earlier one took is served under its full name (see {@link ServedNames}).
 */
async function build(
  layouts: ServedLayout[],
  pool: LayoutPool,
  forced: string | undefined,
  extra: Descriptor[],
): Promise<Map<string, Repository>> {
  const repos = Object.assign(new Map<string, Repository>(), { aliases: new Map<string, string>() }) as Repositories;
  const names = new ServedNames();
  /** The repository an entry named `repository` is served under: where its full name says, unless forced. */
  const place = (entry: Descriptor, repository: string, fullName = fullNameOf(entry)) =>
    forced !== undefined || entry.annotations?.[FERRY_REPOSITORY] !== undefined
      ? repository
      : names.place(repository, registryPathOf(fullName));
  const alias = (entry: Descriptor, repository: string) => {
    for (const key of NAME_KEYS) {
      const full = registryPathOf(entry.annotations?.[key]);
      if (full && !repos.aliases.has(full)) repos.aliases.set(full, repository);
    }
  };
  const add = (repository: string, tag: string | undefined, desc: Descriptor) => {
    let repo = repos.get(repository);
    if (!repo) {
      const tagged = new Map<string, Descriptor>();
      const all: Descriptor[] = [];
      repo = {
        store: pool,
        tagged,
        all,
        tags: () => [...tagged.keys()],
        resolveTag: (t) => tagged.get(t),
        roots: () => all,
      };
      repos.set(repository, repo);
    }
    if (!repo.all.some((r) => r.digest === desc.digest)) repo.all.push(desc);
    if (tag !== undefined && !repo.tagged.has(tag)) repo.tagged.set(tag, desc);
  };
  const addEntry = (entry: Descriptor, named: { repository: string; tag?: string }) => {
    const repository = place(entry, named.repository);
    // A referrer an archive lists under its cosign tag (kept out of ref.name for containerd) is served by that tag.
    const referrerTag = entry.annotations?.[REFERRER_TAG];
    add(repository, named.tag ?? (referrerTag && isTag(referrerTag) ? referrerTag : undefined), entry);
    alias(entry, repository);
    return repository;
  };
  const carried: { digest: string; name?: string; repository: string }[] = [];
  /** A per-platform export's entry names the index it was cut from: served too, once whole. */
  const carry = (entry: Descriptor, repository: string) => {
    const digest = entry.annotations?.[SOURCE_INDEX];
    if (digest && isDigest(digest) && !carried.some((c) => c.digest === digest)) {
      carried.push({ digest, name: entry.annotations?.[SOURCE_INDEX_NAME], repository });
    }
  };
  for (const { store, defaultRepo } of layouts) {
    const entries = store.named({ defaultRepo, forced });
    // Where this layout's images went from each path: its full name when every image of that path moved there.
    const moved = new Map<string, string | null>();
    for (const { entry, ...named } of entries) {
      if (entry.annotations?.[FERRY_REPOSITORY] !== undefined) continue;
      const repository = addEntry(entry, named);
      if (fullNameOf(entry) !== undefined) {
        const before = moved.get(named.repository);
        const now = repository === named.repository ? null : repository;
        moved.set(named.repository, before === undefined || before === now ? now : null);
      }
      carry(entry, repository);
    }
    // Entries named into a repository by ferry (referrers listed beside their image): with the image, if it moved.
    for (const { entry, ...named } of entries) {
      if (entry.annotations?.[FERRY_REPOSITORY] === undefined) continue;
      carry(entry, addEntry(entry, { ...named, repository: moved.get(named.repository) ?? named.repository }));
    }
  }
  for (const entry of extra) addEntry(entry, entryName(entry, "image", forced));
  for (const c of carried) {
    const index = await completeIndex(pool, c.digest);
    if (!index) continue; // some platform's file is not served: its per-platform tags still are
    // Named as exported; an older export without the name: by digest, in the repository of its images.
    const named = c.name
      ? entryName({ ...index, annotations: { [CONTAINERD_NAME]: c.name } }, c.repository, forced)
      : undefined;
    add(named ? place(index, named.repository, c.name) : c.repository, named?.tag, index);
  }
  return repos;
}

/** The first full name among an entry's {@link NAME_KEYS} (`ghcr.io/team/app:1.0`), if any. */
function fullNameOf(entry: Descriptor): string | undefined {
  return NAME_KEYS.map((key) => entry.annotations?.[key]).find((v) => registryPathOf(v) !== undefined);
}

/** The descriptor of the index blob `digest` when the pool holds it and every manifest it lists. */
async function completeIndex(pool: LayoutPool, digest: string): Promise<Descriptor | undefined> {
  const range = await pool.locate(digest);
  if (!range || range.size > MAX_MANIFEST_BYTES) return undefined;
  let doc: ManifestDocument;
  try {
    const bytes = await readLimited(streamRange(range), MAX_MANIFEST_BYTES);
    verifyBytes({ mediaType: "", digest, size: range.size }, bytes);
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!doc || !Array.isArray(doc.manifests) || !isIndex(doc.mediaType ?? "application/vnd.oci.image.index.v1+json")) {
    return undefined;
  }
  for (const child of doc.manifests) {
    if (!child || !isDigest(child.digest) || (await pool.locate(child.digest))?.size !== child.size) return undefined;
  }
  return { mediaType: doc.mediaType ?? "application/vnd.oci.image.index.v1+json", digest, size: range.size };
}

/**
 * Pushes and deletes into one layout directory, as OciLayoutStore-level operations. Blob files are added and
 * removed one at a time, so a delete never removes a file another repository was just given.
 */
function layoutWriter(
  store: OciLayoutStore,
  naming: LayoutNaming,
  uploaded: UploadedBlobs,
  fresh: () => Promise<Map<string, Repository>>,
  backend: () => StoreBackend,
): RegistryWriter {
  let blobLock: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const run = blobLock.then(work);
    blobLock = run.catch(() => {});
    return run;
  };
  return {
    uploadDir: join(store.path, ".ferry-uploads"),
    blobSize: (digest) => store.blobSize(digest),
    commitBlob: (name, tempPath, digest) =>
      serially(async () => {
        await store.adoptBlob(tempPath, digest);
        await uploaded.add(name, digest);
      }),
    mountBlob: (name, digest, from) =>
      serially(async () => {
        if ((await store.blobSize(digest)) === undefined || !(await backend().holdsBlob(from, digest))) return false;
        await uploaded.add(name, digest);
        return true;
      }),
    async putManifest(name, desc, bytes, tag) {
      await store.putBlob(desc, bytes);
      const children = new Set<string>(
        isIndex(desc.mediaType)
          ? (JSON.parse(new TextDecoder().decode(bytes)).manifests as Descriptor[]).map((m) => m.digest)
          : [],
      );
      await store.putNamed(naming, name, desc, tag, children);
    },
    async deleteManifest(name, reference) {
      if ((await store.deleteNamed(naming, name, reference)) > 0) return;
      if (isDigest(reference) && (await backend().reached(name)).has(reference)) {
        throw httpError(
          405,
          "UNSUPPORTED",
          `Cannot delete ${reference} from ${name}: an index there refers to it; delete the index`,
          { Allow: "GET, HEAD, PUT" },
        );
      }
      throw new NotFoundError(`Cannot find manifest ${reference} in ${name}`);
    },
    deleteBlob: (name, digest) =>
      serially(async () => {
        const user = await backend().blobUser(name, digest);
        if (user) {
          // The spec's answer for a delete the registry will not do (400 or 405), with what to do instead.
          const what = user.digest === digest ? "it is a manifest there" : `manifest ${user.digest} there uses it`;
          throw httpError(
            405,
            "UNSUPPORTED",
            `Cannot delete blob ${digest} from ${name}: ${what}; delete the manifest first`,
            { Allow: "GET, HEAD" },
          );
        }
        if (!(await uploaded.has(name, digest)) || (await store.blobSize(digest)) === undefined) {
          throw new NotFoundError(`Cannot find blob ${digest} in ${name}`);
        }
        await uploaded.remove(name, digest);
        if ((await uploaded.holders(digest)).length > 0) return;
        for (const other of (await fresh()).keys()) if (await backend().blobUser(other, digest)) return;
        await store.removeBlob(digest);
      }),
  };
}

/** Every served layout's blobs as one read-only store: a digest is read from the first layout holding it. */
class LayoutPool implements ReadableStore {
  readonly ref: string;
  constructor(readonly stores: OciLayoutStore[]) {
    this.ref = stores.map((s) => s.ref).join(", ");
  }

  /** Where a blob's bytes are (for sized responses). */
  async locate(digest: string): Promise<FileRange | undefined> {
    for (const store of this.stores) {
      const range = await store.locate(digest);
      if (range) return range;
    }
    return undefined;
  }

  /** A digest only: media types are read from the bytes (see storeBackend). */
  async resolve(reference: string): Promise<Descriptor> {
    const range = isDigest(reference) ? await this.locate(reference) : undefined;
    if (!range) throw new NotFoundError(`Cannot find ${reference} in ${this.ref}`, { ref: this.ref });
    return { mediaType: "", digest: reference, size: range.size };
  }

  async fetch(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    const range = await this.locate(desc.digest);
    if (!range) throw new NotFoundError(`Cannot find blob ${desc.digest} in ${this.ref}`, { ref: this.ref });
    return streamRange(range);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return (await this.locate(desc.digest))?.size === desc.size;
  }
}
