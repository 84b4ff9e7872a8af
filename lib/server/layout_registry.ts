/**
 * A {@link RegistryBackend} over OCI image layouts: directories (readable and, with `writable`, pushable) and
 * uncompressed OCI archives (each blob a byte range of the tar). Repositories and tags come from the
 * index.json entries' names (see {@link entryName}); all repositories share the layout's blob pool.
 *
 * @module
 */
import { mkdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { FormatError, NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest, splitDigest } from "../oci/digest.ts";
import { MediaType } from "../oci/media_types.ts";
import { fileErrorOf, readFileStream, writeFileAtomic } from "../stream/files.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import {
  type BlobSource,
  type ManifestContent,
  reachableManifests,
  type ReachedManifest,
  referrerOf,
  type RegistryBackend,
  type RegistryWriter,
} from "./backend.ts";
import { entryName, FERRY_REPOSITORY, REF_NAME } from "./entry_name.ts";
import { httpError } from "./responses.ts";
import type { TarRange } from "../tar/index.ts";

/** Where a layout is: a directory, or an uncompressed tar indexed by {@link indexTar}. */
export type LayoutSource =
  | { kind: "dir"; path: string; defaultRepo: string }
  | { kind: "tar"; path: string; defaultRepo: string; entries: Map<string, TarRange> };

/** Options of {@link LayoutRegistry.open}. */
export interface LayoutRegistryOptions {
  /** Serve every image under this repository, whatever its entry names. */
  repo?: string;
  /** Accept pushes and deletes (one directory source only). */
  writable?: boolean;
}

interface Repository {
  tags: Map<string, Descriptor>;
  roots: Descriptor[];
}

interface IndexJson {
  schemaVersion: 2;
  manifests: Descriptor[];
  [key: string]: unknown;
}

/**
 * Serves OCI layouts as a registry.
 *
 * @example
 * ```ts
 * const backend = await LayoutRegistry.open([{ kind: "dir", path: "out", defaultRepo: "app" }], { writable: true });
 * const server = await serve(registryHandler(backend));
 * ```
 */
export class LayoutRegistry implements RegistryBackend {
  readonly writer?: RegistryWriter;
  #repos = new Map<string, Repository>();
  #reachable = new Map<string, Promise<Map<string, ReachedManifest>>>();
  #indexStamp = "";
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(readonly sources: LayoutSource[], readonly options: LayoutRegistryOptions) {
    if (options.writable) this.writer = this.#makeWriter(sources[0] as LayoutSource & { kind: "dir" });
  }

  /** Reads every source's index.json. */
  static async open(sources: LayoutSource[], options: LayoutRegistryOptions = {}): Promise<LayoutRegistry> {
    if (options.writable && (sources.length !== 1 || sources[0].kind !== "dir")) {
      throw new FormatError("Cannot serve writable: --writable takes exactly one OCI layout directory");
    }
    const registry = new LayoutRegistry(sources, options);
    await registry.#load();
    return registry;
  }

  /** Every repository with its tags (sorted), for the start-up listing. */
  async repositories(): Promise<Map<string, string[]>> {
    await this.#fresh();
    return new Map(
      [...this.#repos].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, r]) => [n, [...r.tags.keys()].sort()]),
    );
  }

  async hasRepository(name: string): Promise<boolean> {
    await this.#fresh();
    return this.#repos.has(name);
  }

  async tags(name: string): Promise<string[]> {
    await this.#fresh();
    return [...(this.#repos.get(name)?.tags.keys() ?? [])];
  }

  async manifest(name: string, reference: string): Promise<ManifestContent> {
    await this.#fresh();
    const repo = this.#repos.get(name);
    let desc = isDigest(reference) ? (await this.#reach(name)).get(reference)?.desc : repo?.tags.get(reference);
    if (!desc) throw new NotFoundError(`Cannot find manifest ${reference} in ${name}`);
    const bytes = await this.#read(desc);
    if (!bytes) throw new NotFoundError(`Cannot find manifest ${reference} in ${name}: its blob is missing`);
    verifyBytes(desc, bytes, name);
    if (!desc.mediaType) {
      desc = { ...desc, mediaType: JSON.parse(new TextDecoder().decode(bytes)).mediaType ?? MediaType.OciManifest };
    }
    return { desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, bytes };
  }

  async blob(name: string, digest: string): Promise<BlobSource> {
    const found = await this.#locate(digest);
    if (!found) throw new NotFoundError(`Cannot find blob ${digest} in ${name}`);
    const { path, offset, size } = found;
    return {
      digest,
      size,
      file: { path, offset },
      open: (start, end) => Promise.resolve(readFileStream(path, { start: offset + start, end: offset + end })),
    };
  }

  async referrers(name: string, digest: string): Promise<Descriptor[]> {
    await this.#fresh();
    return [...(await this.#reach(name)).values()].filter((m) => m.doc.subject?.digest === digest).map(referrerOf);
  }

  /** Where a blob's bytes are: the first source holding it. */
  async #locate(digest: string): Promise<{ path: string; offset: number; size: number } | undefined> {
    const [algorithm, hex] = splitDigest(digest);
    for (const source of this.sources) {
      if (source.kind === "tar") {
        const entry = source.entries.get(`blobs/${algorithm}/${hex}`);
        if (entry) return { path: source.path, offset: entry.offset, size: entry.size };
        continue;
      }
      const path = join(source.path, "blobs", algorithm, hex);
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile()) return { path, offset: 0, size: s.size };
    }
    return undefined;
  }

  async #read(desc: Descriptor): Promise<Uint8Array | undefined> {
    if (!isDigest(desc.digest) || desc.size > MAX_MANIFEST_BYTES) return undefined;
    const found = await this.#locate(desc.digest);
    if (!found) return undefined;
    return await readLimited(readFileStream(found.path, { start: found.offset, end: found.offset + found.size }));
  }

  #reach(name: string): Promise<Map<string, ReachedManifest>> {
    let reach = this.#reachable.get(name);
    if (!reach) {
      reach = reachableManifests(this.#repos.get(name)?.roots ?? [], (d) => this.#read(d).catch(() => undefined));
      this.#reachable.set(name, reach);
    }
    return reach;
  }

  /** Reloads when a directory's index.json changed under us (another writer, e.g. `ferry copy`). */
  async #fresh(): Promise<void> {
    if ((await this.#stamp()) !== this.#indexStamp) await this.#load();
  }

  async #stamp(): Promise<string> {
    const stamps = await Promise.all(this.sources.map(async (s) => {
      if (s.kind === "tar") return "";
      const st = await stat(join(s.path, "index.json")).catch(() => undefined);
      return st ? `${st.mtimeMs}:${st.size}:${st.ino}` : "-";
    }));
    return stamps.join("|");
  }

  async #load(): Promise<void> {
    const stamp = await this.#stamp();
    const repos = new Map<string, Repository>();
    for (const source of this.sources) {
      for (const entry of (await readIndex(source)).manifests) {
        const { repository, tag } = entryName(entry, source.defaultRepo, this.options.repo);
        let repo = repos.get(repository);
        if (!repo) repos.set(repository, repo = { tags: new Map(), roots: [] });
        if (!repo.roots.some((r) => r.digest === entry.digest)) repo.roots.push(entry);
        if (tag !== undefined && !repo.tags.has(tag)) repo.tags.set(tag, entry);
      }
    }
    this.#repos = repos;
    this.#reachable = new Map();
    this.#indexStamp = stamp;
  }

  /** Runs `edit` on the directory's index.json, one edit at a time, and writes it atomically. */
  #editIndex(source: LayoutSource & { kind: "dir" }, edit: (index: IndexJson) => void): Promise<void> {
    const run = this.#lock.then(async () => {
      const index = await readIndex(source);
      edit(index);
      await mkdir(join(source.path, "blobs"), { recursive: true });
      await writeFileAtomic(join(source.path, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
      await writeFileAtomic(join(source.path, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
      await this.#load();
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  #makeWriter(source: LayoutSource & { kind: "dir" }): RegistryWriter {
    const blobPath = (digest: string) => {
      const [algorithm, hex] = splitDigest(digest);
      return join(source.path, "blobs", algorithm, hex);
    };
    const belongs = (entry: Descriptor, name: string) =>
      entryName(entry, source.defaultRepo, this.options.repo).repository === name;
    const tagOf = (entry: Descriptor) => entryName(entry, source.defaultRepo, this.options.repo).tag;
    return {
      uploadDir: join(source.path, ".ferry-uploads"),
      blobSize: async (digest) => (await this.#locate(digest))?.size,
      commitBlob: async (tempPath, digest) => {
        const path = blobPath(digest);
        await mkdir(join(path, ".."), { recursive: true });
        // Concurrent uploads of one blob each rename identical, verified bytes: the last one wins, harmlessly.
        await rename(tempPath, path).catch((err) => {
          throw fileErrorOf(err, "write", path);
        });
      },
      putManifest: async (name, desc, bytes, tag) => {
        const path = blobPath(desc.digest);
        if ((await stat(path).catch(() => undefined))?.size !== bytes.byteLength) {
          await mkdir(join(path, ".."), { recursive: true });
          await writeFileAtomic(path, bytes);
        }
        const children = new Set<string>(
          desc.mediaType === MediaType.OciIndex || desc.mediaType === MediaType.DockerManifestList
            ? JSON.parse(new TextDecoder().decode(bytes)).manifests.map((m: Descriptor) => m.digest)
            : [],
        );
        await this.#editIndex(source, (index) => {
          const mine = (e: Descriptor) => belongs(e, name);
          // Untagged entries this manifest makes redundant: its own digest, and children of a pushed index.
          index.manifests = index.manifests.filter((e) =>
            !(mine(e) && tagOf(e) === undefined && (e.digest === desc.digest || children.has(e.digest))) &&
            !(mine(e) && tag !== undefined && tagOf(e) === tag)
          );
          const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
          const named = this.options.repo === undefined && name !== source.defaultRepo;
          if (tag !== undefined) entry.annotations = { [REF_NAME]: named ? `${name}:${tag}` : tag };
          else if (named) entry.annotations = { [FERRY_REPOSITORY]: name };
          if (tag !== undefined || !index.manifests.some((e) => mine(e) && e.digest === desc.digest)) {
            index.manifests.push(entry);
          }
        });
      },
      deleteManifest: async (name, reference) => {
        let removed = 0;
        await this.#editIndex(source, (index) => {
          const before = index.manifests.length;
          index.manifests = index.manifests.filter((e) =>
            !(belongs(e, name) && (isDigest(reference) ? e.digest === reference : tagOf(e) === reference))
          );
          removed = before - index.manifests.length;
        });
        if (removed > 0) return;
        if (isDigest(reference) && (await this.#reach(name)).has(reference)) {
          throw httpError(
            405,
            "UNSUPPORTED",
            `Cannot delete ${reference} from ${name}: an index there refers to it; delete the index`,
            {
              Allow: "GET, HEAD, PUT",
            },
          );
        }
        throw new NotFoundError(`Cannot find manifest ${reference} in ${name}`);
      },
      deleteBlob: async (name, digest) => {
        if (!(await this.#locate(digest))) throw new NotFoundError(`Cannot find blob ${digest} in ${name}`);
        await this.#fresh();
        for (const repo of this.#repos.keys()) {
          for (const m of (await this.#reach(repo)).values()) {
            const refs = [m.desc, m.doc.config, ...(m.doc.layers ?? []), ...(m.doc.manifests ?? [])];
            if (refs.some((d) => d?.digest === digest)) {
              throw httpError(
                403,
                "DENIED",
                `Cannot delete blob ${digest}: manifest ${m.desc.digest} in ${repo} uses it`,
              );
            }
          }
        }
        await unlink(blobPath(digest)).catch((err) => {
          throw fileErrorOf(err, "delete", blobPath(digest));
        });
      },
    };
  }
}

async function readIndex(source: LayoutSource): Promise<IndexJson> {
  let text: string;
  if (source.kind === "tar") {
    const entry = source.entries.get("index.json");
    if (!entry) {
      throw new FormatError(`Cannot serve ${source.path}: not an OCI archive (no index.json)`, { ref: source.path });
    }
    text = new TextDecoder().decode(
      await readLimited(readFileStream(source.path, { start: entry.offset, end: entry.offset + entry.size })),
    );
  } else {
    const path = join(source.path, "index.json");
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") {
        return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      }
      throw fileErrorOf(err, "read", path);
    }
  }
  let index: IndexJson;
  try {
    index = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`Cannot parse index.json of ${source.path}: ${(err as Error).message}`, { ref: source.path });
  }
  if (
    !index || !Array.isArray(index.manifests) ||
    !index.manifests.every((m) => m && isDigest(m.digest) && typeof m.size === "number")
  ) {
    throw new FormatError(`Cannot parse index.json of ${source.path}: not an image index with valid descriptors`, {
      ref: source.path,
    });
  }
  return index;
}
