/**
 * Reading a ferry bundle, or any subset of its volumes in any order, as one store: each volume is an OCI archive
 * read in place (a gzipped bundle is unpacked once to a temp file), its `bundle.json` says what the whole set
 * holds and which volumes each image needs, and `volumes.json` (given, or found beside the volumes) gives every
 * volume's sha256, checked before anything is read from it. What the given volumes cannot make whole is said
 * image by image, with the volumes (and their files) that would.
 *
 * @module
 */
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FormatError, IntegrityError, NotFoundError, UsageError } from "../errors.ts";
import {
  BUNDLE_FILE,
  type BundleImage,
  type BundleMeta,
  parseBundleMeta,
  parseVolumesMeta,
  VOLUMES_FILE,
  type VolumesMeta,
} from "../oci/bundle_meta.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { CONTAINERD_NAME, FERRY_REPOSITORY, REF_NAME, REFERRER_TAG } from "../oci/annotations.ts";
import { movedRepositories, repositoryOfName } from "../oci/referrers.ts";
import { isDigest } from "../oci/digest.ts";
import { childrenOf, parseManifest } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { createTempWriter, fileErrorOf, readFileStream } from "../stream/files.ts";
import { gunzipStream, isGzipFile } from "../stream/gzip.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { ferryTempDir } from "../stream/temp.ts";
import { hashFile, verifyBytes } from "../stream/verify.ts";
import { streamRange } from "./layout_files.ts";
import { OciLayoutStore } from "./oci_layout.ts";
import type { ReadableStore, StoreOptions } from "./store.ts";

/**
 * One image of an opened set, and whether the given volumes hold all of it.
 *
 * @example
 * ```ts
 * const { images } = await listBundle(["release/volume-2.tar"]);
 * const missing: BundleSetImage[] = images.filter((i) => !i.complete);
 * ```
 */
export interface BundleSetImage extends BundleImage {
  /** Every blob and manifest of it is in the volumes given. */
  complete: boolean;
  /** Needed volumes not given (numbers), when not complete. */
  missingVolumes: number[];
  /** Their file names, as the set names them. */
  missingFiles: string[];
}

/**
 * A bundle (or the volumes of one that were given) opened for reading.
 *
 * @example
 * ```ts
 * const set: BundleSet = await openBundleSet(["release/"]);
 * try {
 *   for (const image of set.images) console.log(image.name, image.complete ? "ok" : `needs ${image.missingFiles}`);
 * } finally {
 *   await set.dispose();
 * }
 * ```
 */
export interface BundleSet {
  /** The set's id (the same in every volume of one export). */
  id: string;
  format: BundleMeta["format"];
  /** Volumes in the set (1 for a bundle without volumes). */
  count: number;
  /** The volumes given (numbers), or [1] for a bundle without volumes. */
  present: number[];
  /** Each opened file or directory, with its volume number. */
  members: { path: string; volume?: number; store: OciLayoutStore }[];
  /** Every image of the set, complete or not. */
  images: BundleSetImage[];
  /** A delta: the sha256 of the receipt it was made against (its images' `leftOut` blobs must be at the target). */
  since?: string;
  /** volumes.json, when one was given or found beside the volumes (every member's sha256 was checked). */
  volumes?: VolumesMeta;
  /** Every member's content as one store (a digest from the first member holding it). */
  store: ReadableStore;
  /** Removes temp files (an unpacked .tar.gz). */
  dispose(): Promise<void>;
}

/** Options of {@link openBundleSet}. */
export interface OpenBundleSetOptions {
  /** Where a gzipped bundle is unpacked (default this run's ferry temp dir). */
  tempDir?: string;
  /** Skip hashing each volume against volumes.json (the blobs are still verified as they are read). */
  noChecksum?: boolean;
  signal?: AbortSignal;
}

/**
 * Whether `path` is a ferry bundle: a layout or archive with `bundle.json`, or a directory (or file) of
 * `volumes.json`. Reads only metadata.
 *
 * @example
 * ```ts
 * if (await isBundle("release.tar")) console.log("a bundle of many images");
 * ```
 */
export async function isBundle(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return false;
  if (info.isDirectory()) {
    const names = await readdir(path).catch(() => [] as string[]);
    return names.includes(VOLUMES_FILE) || names.includes(BUNDLE_FILE);
  }
  if (basename(path) === VOLUMES_FILE) return true;
  // A bundle is a plain tar (its layers are compressed already): a gzipped archive is never read whole to find out.
  if (!/\.tar$/i.test(path) || (await isGzipFile(path))) return false;
  try {
    const store = await OciLayoutStore.openArchive(path);
    return (await store.readFile(BUNDLE_FILE)) !== undefined;
  } catch {
    return false;
  }
}

/**
 * Opens `paths` (a bundle archive or layout; volumes; a directory of volumes; `volumes.json`) as one set. Every
 * member must be of the same export (one id). With volumes.json known, each volume's size and sha256 are checked
 * first: a corrupt volume is an {@link IntegrityError} naming its file, before any of it is used.
 *
 * @example
 * ```ts
 * const set = await openBundleSet(["/media/dvd3/volume-3.tar", "/media/dvd1/volume-1.tar"]);
 * console.log(set.present, set.images.filter((i) => i.complete).map((i) => i.name));
 * await set.dispose();
 * ```
 */
export async function openBundleSet(paths: string[], options: OpenBundleSetOptions = {}): Promise<BundleSet> {
  if (paths.length === 0) throw new UsageError("Cannot open a bundle: no files named");
  const temps: string[] = [];
  const dispose = async () => void await Promise.all(temps.map((t) => rm(t, { force: true }).catch(() => {})));
  try {
    const members: { path: string; store: OciLayoutStore; meta: BundleMeta }[] = [];
    const volumeFiles: { path: string; meta: VolumesMeta }[] = [];
    const files: string[] = [];
    for (const path of paths) {
      const info = await stat(path).catch((err) => {
        throw fileErrorOf(err, "read", path);
      });
      if (info.isDirectory()) {
        const names = await readdir(path).catch((err) => {
          throw fileErrorOf(err, "read", path);
        });
        if (names.includes("index.json")) {
          const store = await OciLayoutStore.open(path);
          members.push({ path, store, meta: await metaOf(store, path) });
          continue;
        }
        if (!names.includes(VOLUMES_FILE)) {
          throw new FormatError(`Cannot read ${path} as a bundle: no ${VOLUMES_FILE} and no index.json in it`, {
            ref: path,
          });
        }
        const set = await readVolumesMeta(join(path, VOLUMES_FILE));
        volumeFiles.push({ path: join(path, VOLUMES_FILE), meta: set });
        // Every volume of the set that this directory holds.
        for (const v of set.volumes) if (names.includes(v.file)) files.push(join(path, v.file));
        continue;
      }
      if (basename(path) === VOLUMES_FILE) {
        const set = await readVolumesMeta(path);
        volumeFiles.push({ path, meta: set });
        const names = await readdir(dirname(path)).catch(() => [] as string[]);
        for (const v of set.volumes) if (names.includes(v.file)) files.push(join(dirname(path), v.file));
        continue;
      }
      files.push(path);
    }
    const seen = new Set<string>();
    const checked = new Set<string>();
    for (const path of files) {
      const key = join(path);
      if (seen.has(key)) continue;
      seen.add(key);
      // A volume named in a volumes.json given (or beside it) is checked before a byte of it is trusted.
      const given = volumeFiles.find((v) => dirname(v.path) === dirname(path))?.meta;
      const record = (given ?? await besideMeta(path))?.volumes.find((v) => v.file === basename(path));
      if (record && !options.noChecksum) {
        await checkVolume(path, record.size, record.sha256, options.signal);
        checked.add(key);
      }
      const tar = await unpacked(path, options, temps);
      const store = await OciLayoutStore.openArchive(tar, path);
      members.push({ path, store, meta: await metaOf(store, path) });
    }
    if (members.length === 0) {
      throw new NotFoundError(`Cannot open a bundle: none of its volumes is in ${paths.join(", ")}`);
    }
    const first = members[0];
    for (const m of members) {
      if (m.meta.id !== first.meta.id) {
        throw new UsageError(
          `Cannot read ${first.path} and ${m.path} as one bundle: they are from different exports (${
            first.meta.id.slice(0, 19)
          }…, ${m.meta.id.slice(0, 19)}…)`,
        );
      }
    }
    // volumes.json beside a volume counts when it is of this set.
    for (const m of members) {
      if (m.meta.volume === undefined || volumeFiles.length > 0) continue;
      const beside = join(dirname(m.path), VOLUMES_FILE);
      const bytes = await readFile(beside).catch(() => undefined);
      if (!bytes) continue;
      const set = parseVolumesMeta(bytes, beside);
      if (set.id === first.meta.id) volumeFiles.push({ path: beside, meta: set });
    }
    const volumesMeta = volumeFiles.find((v) => v.meta.id === first.meta.id)?.meta;
    for (const v of volumeFiles) {
      if (v.meta.id !== first.meta.id) {
        throw new UsageError(`Cannot read ${v.path} with ${first.path}: they describe different exports`);
      }
    }
    if (volumesMeta && !options.noChecksum) {
      for (const m of members) {
        if (checked.has(join(m.path))) continue;
        const n = m.meta.volume?.number;
        const record = volumesMeta.volumes.find((v) => v.number === n);
        if (!record) continue;
        await checkVolume(m.path, record.size, record.sha256, options.signal);
      }
    }
    const count = first.meta.volume?.count ?? 1;
    const present = [...new Set(members.map((m) => m.meta.volume?.number ?? 1))].sort((a, b) => a - b);
    const fileNames = first.meta.volume?.files ?? [basename(first.path)];
    const store = new MemberStore(members.map((m) => m.store));
    const images: BundleSetImage[] = [];
    for (const image of first.meta.images) {
      const needed = image.volumes ?? [1];
      const missingVolumes = needed.filter((n) => !present.includes(n));
      const complete = missingVolumes.length === 0 &&
        await whole(store, [
          { mediaType: image.mediaType, digest: image.digest, size: image.size },
          ...image.roots ?? [],
        ], image.leftOut);
      images.push({
        ...image,
        complete,
        missingVolumes,
        missingFiles: missingVolumes.map((n) => fileNames[n - 1] ?? `volume ${n}`),
      });
    }
    return {
      id: first.meta.id,
      format: first.meta.format,
      count,
      present,
      members: members.map((m) => ({
        path: m.path,
        store: m.store,
        ...(m.meta.volume ? { volume: m.meta.volume.number } : {}),
      })),
      images,
      ...(first.meta.since ? { since: first.meta.since } : {}),
      ...(volumesMeta ? { volumes: volumesMeta } : {}),
      store,
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** volumes.json beside `path`, if there is a readable one. */
async function besideMeta(path: string): Promise<VolumesMeta | undefined> {
  const beside = join(dirname(path), VOLUMES_FILE);
  const bytes = await readFile(beside).catch(() => undefined);
  if (!bytes) return undefined;
  try {
    return parseVolumesMeta(bytes, beside);
  } catch {
    return undefined;
  }
}

async function metaOf(store: OciLayoutStore, path: string): Promise<BundleMeta> {
  const bytes = await store.readFile(BUNDLE_FILE);
  if (!bytes) {
    throw new FormatError(
      `Cannot read ${path} as a bundle: no ${BUNDLE_FILE} (was it written by ferry export of many images?)`,
      {
        ref: path,
      },
    );
  }
  return parseBundleMeta(bytes, `${path}: ${BUNDLE_FILE}`);
}

async function readVolumesMeta(path: string): Promise<VolumesMeta> {
  const bytes = await readFile(path).catch((err) => {
    throw fileErrorOf(err, "read", path);
  });
  return parseVolumesMeta(bytes, path);
}

/** `path` as a plain tar: itself, or (gzipped) unpacked once to a temp file recorded in `temps`. */
async function unpacked(path: string, options: OpenBundleSetOptions, temps: string[]): Promise<string> {
  if (!(await isGzipFile(path))) return path;
  const tar = join(
    options.tempDir ?? await ferryTempDir(),
    `${basename(path).replace(/\.(tgz|gz)$/, "")}.${Date.now()}.tar`,
  );
  const writer = await createTempWriter(tar);
  try {
    await readFileStream(path).pipeThrough(gunzipStream()).pipeTo(writer.writable, { signal: options.signal });
    await writer.commit();
  } catch (err) {
    await writer.discard();
    throw new FormatError(`Cannot unpack ${path}: ${(err as Error).message}`, { ref: path, cause: err });
  }
  temps.push(tar);
  return tar;
}

/** Hashes the volume at `path`, refusing one whose size or sha256 is not what volumes.json says. */
async function checkVolume(path: string, size: number, sha256: string, signal?: AbortSignal): Promise<void> {
  const info = await stat(path);
  const fail = (what: string) =>
    new IntegrityError(
      `Cannot use volume ${path}: ${what}, not what ${VOLUMES_FILE} says; the file is corrupt or truncated, copy it again`,
      { ref: path },
    );
  if (info.size !== size) throw fail(`it is ${info.size} bytes, ${VOLUMES_FILE} says ${size}`);
  const { digest: actual } = await hashFile(path, { signal });
  if (actual !== sha256) throw fail(`its sha256 is ${actual}, ${VOLUMES_FILE} says ${sha256}`);
}

/** Whether every manifest and blob of `roots` is in `store` (foreign layers are not expected to be). */
async function whole(store: MemberStore, roots: Descriptor[], leftOut: Descriptor[] = []): Promise<boolean> {
  const seen = new Set<string>();
  // A delta's blobs left out are at the target (the importer checks): not expected in the bundle.
  const absent = new Set(leftOut.map((d) => d.digest));
  const visit = async (desc: Descriptor): Promise<boolean> => {
    if (seen.has(desc.digest)) return true;
    seen.add(desc.digest);
    if (!(await store.exists(desc))) return isNondistributable(desc.mediaType) || absent.has(desc.digest);
    if (!isManifest(desc.mediaType)) return true;
    let children: Descriptor[];
    try {
      const bytes = await readLimited(await store.fetch(desc), MAX_MANIFEST_BYTES);
      verifyBytes(desc, bytes, store.ref);
      children = childrenOf(parseManifest(bytes, desc.mediaType));
    } catch {
      return false;
    }
    for (const child of children) if (!(await visit(child))) return false;
    return true;
  };
  for (const root of roots) if (!(await visit(root))) return false;
  return true;
}

/** The members' content as one read-only store, each digest read from the first member holding it. */
class MemberStore implements ReadableStore {
  readonly ref: string;
  constructor(readonly stores: OciLayoutStore[]) {
    this.ref = stores.map((s) => s.path).join(", ");
  }

  async #locate(digest: string) {
    for (const store of this.stores) {
      const range = await store.locate(digest);
      if (range) return { store, range };
    }
    return undefined;
  }

  async resolve(reference: string): Promise<Descriptor> {
    const found = isDigest(reference) ? await this.#locate(reference) : undefined;
    if (!found) throw new NotFoundError(`Cannot find ${reference} in ${this.ref}`, { ref: this.ref });
    return await found.store.resolve(reference);
  }

  async fetch(desc: Descriptor, _options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const found = await this.#locate(desc.digest);
    if (!found) throw new NotFoundError(`Cannot find ${desc.digest} in ${this.ref}`, { ref: this.ref });
    return streamRange(found.range);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return (await this.#locate(desc.digest))?.range.size === desc.size;
  }
}

/**
 * For `ferry serve`: the images of the bundles among `stores` that the stores hold whole together but that no
 * index.json lists (their pieces are in several volumes), as index.json entries named by their full names; and
 * the images none of them holds whole.
 *
 * @example
 * ```ts
 * const { entries, missing } = await bundleEntries([await OciLayoutStore.openArchive("volume-1.tar")]);
 * ```
 */
export async function bundleEntries(
  stores: OciLayoutStore[],
): Promise<{ entries: Descriptor[]; missing: BundleSetImage[] }> {
  const metas: BundleMeta[] = [];
  for (const store of stores) {
    const bytes = await store.readFile(BUNDLE_FILE).catch(() => undefined);
    if (bytes) metas.push(parseBundleMeta(bytes, `${store.path}: ${BUNDLE_FILE}`));
  }
  const listed = new Set(stores.flatMap((s) => s.entries().map((e) => e.digest)));
  const pool = new MemberStore(stores);
  const entries: Descriptor[] = [];
  const missing: BundleSetImage[] = [];
  const done = new Set<string>();
  for (const meta of metas) {
    const present = metas.filter((m) => m.id === meta.id).map((m) => m.volume?.number ?? 1);
    const moved = movedRepositories(meta.images.map((i) => i.name));
    for (const image of meta.images) {
      if (done.has(`${meta.id} ${image.name}`)) continue;
      done.add(`${meta.id} ${image.name}`);
      const root = { mediaType: image.mediaType, digest: image.digest, size: image.size };
      if (await whole(pool, [root, ...image.roots ?? []])) {
        if (listed.has(image.digest)) continue;
        const tagged = /:[^/:@]+$/.test(image.name.split("@")[0]) && !image.name.includes("@");
        const servedAt = moved.get(image.name);
        entries.push({
          ...root,
          annotations: {
            ...(tagged ? { [REF_NAME]: image.name } : {}),
            [CONTAINERD_NAME]: image.name,
            ...(servedAt !== undefined ? { [FERRY_REPOSITORY]: servedAt } : {}),
          },
        });
        // Its referrers beside it, in its repository: by their cosign tag, or found through the referrers API.
        const repository = servedAt ?? repositoryOfName(image.name.split("@")[0]);
        for (const r of image.referrers ?? []) {
          entries.push({
            mediaType: r.mediaType,
            digest: r.digest,
            size: r.size,
            ...(r.artifactType ? { artifactType: r.artifactType } : {}),
            annotations: {
              ...(repository !== undefined ? { [FERRY_REPOSITORY]: repository } : {}),
              ...(r.tag !== undefined ? { [REFERRER_TAG]: r.tag } : {}),
            },
          });
        }
        continue;
      }
      const missingVolumes = (image.volumes ?? [1]).filter((n) => !present.includes(n));
      missing.push({
        ...image,
        complete: false,
        missingVolumes,
        missingFiles: missingVolumes.map((n) => meta.volume?.files[n - 1] ?? `volume ${n}`),
      });
    }
  }
  return { entries, missing };
}
