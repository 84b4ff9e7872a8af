/**
 * A tar or tar.gz archive as a {@link ReadableStore}: an OCI archive (skopeo, ferry, `docker save` since
 * 25 and the containerd image store: `index.json` + `blobs/`), or a classic `docker save` tarball
 * (`manifest.json`, `<id>/layer.tar`, `<config>.json`), whose manifests are synthesised with the
 * uncompressed layers as they are (import gzips them on the way).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { isGzip } from "../stream/gzip.ts";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { DigestMismatchError, FormatError, NotFoundError, UsageError } from "../errors.ts";
import { type Descriptor, descriptorOf } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { childrenOf, type ImageConfig, parseJson, parseManifest } from "../oci/manifest.ts";
import { isIndex, isManifest, MediaType } from "../oci/media_types.ts";
import { fileErrorOf } from "../stream/files.ts";
import { ferryTempDir } from "../stream/temp.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import {
  type ArchiveEntry,
  type ArchiveIndex,
  blobDigest,
  entryStream,
  fetchSmall,
  indexArchive,
  loadEntries,
  smallBytes,
} from "./archive_scan.ts";
import {
  entryNames,
  REFERRER_TAG,
  SOURCE_INDEX as SOURCE_INDEX_ANNOTATION,
  SOURCE_INDEX_NAME as SOURCE_INDEX_NAME_ANNOTATION,
} from "../oci/annotations.ts";
import { artifactTypeOf, COSIGN_SUFFIXES, parseSchemaTag, schemaTag, subjectOf } from "../oci/referrers.ts";
import type { ReadableStore, ReferrerDescriptor, ReferrersOptions, StoreOptions } from "./store.ts";

/** A root the archive names: an index.json entry or a manifest.json image. */
export interface ArchiveRoot {
  desc: Descriptor;
  /** Names it carries (`app:1.0`, `docker.io/library/app:1.0-amd64`, or a bare OCI ref.name `1.0`). */
  names: string[];
}

/** Options of {@link ArchiveStore.open}. */
export interface ArchiveStoreOptions {
  /** Parent directory of the spool directory a gzipped archive needs (default this run's ferry temp dir, see temp.ts). */
  tempDir?: string;
  /** Most bytes spooled for one gzipped archive (default: the free space of the temp dir). */
  maxSpoolBytes?: number;
  /**
   * Verified blobs of archives opened before, shared across one import (see `ScanOptions.known` in archive_scan.ts); this
   * archive's verified blobs are added. The earlier archives must outlive this one (dispose them together).
   */
  known?: Map<string, ArchiveEntry>;
  signal?: AbortSignal;
}

/**
 * A read-only store over one archive file. Every entry is hashed while the archive is scanned, so
 * a blob that does not match its digest (or a layer that does not match its diff_id) is refused
 * before anything is copied. Call {@link ArchiveStore.dispose} to remove the spool directory.
 *
 * @example
 * ```ts
 * const archive = await ArchiveStore.open("image-amd64.tar.gz");
 * try {
 *   for (const root of archive.roots) console.log(root.desc.digest, root.names);
 * } finally {
 *   await archive.dispose();
 * }
 * ```
 */
export class ArchiveStore implements ReadableStore {
  readonly ref: string;
  readonly #blobs = new Map<string, ArchiveEntry | Uint8Array>();
  #roots: ArchiveRoot[] = [];
  #carried: Descriptor[] = [];
  #carriedNames = new Map<string, string>();
  /** index.json entries that are referrers (a manifest with a subject, or a tag-schema name), not roots. */
  #referrers: { desc: Descriptor; names: string[]; subject?: string; artifactType?: string }[] = [];
  #format: "oci" | "docker" = "oci";

  #spoolDir: string | undefined;

  private constructor(readonly path: string) {
    this.ref = path;
  }

  /** The spool directory of a gzipped archive's loaded entries, if any were spooled. */
  get spoolDir(): string | undefined {
    return this.#spoolDir;
  }

  /** What the archive holds at the top: index.json entries (OCI) or manifest.json images (docker). */
  get roots(): ArchiveRoot[] {
    return this.#roots;
  }

  /**
   * Indexes the archive carries without listing them: those a {@link SOURCE_INDEX_ANNOTATION} on an
   * index.json entry names (ferry's per-platform exports of an index). Their bytes are in the archive.
   */
  get carried(): Descriptor[] {
    return this.#carried;
  }

  /** The name each carried index was exported as (its {@link SOURCE_INDEX_NAME_ANNOTATION}), by digest. */
  get carriedNames(): ReadonlyMap<string, string> {
    return this.#carriedNames;
  }

  /** `oci` for an archive with index.json and blobs, `docker` for a classic docker save tarball. */
  get format(): "oci" | "docker" {
    return this.#format;
  }

  /**
   * Reads `path`'s table of contents and its index.json or manifest.json, then loads what they reference
   * (see archive_scan.ts): an entry nothing references is never read or spooled.
   */
  static async open(path: string, options: ArchiveStoreOptions = {}): Promise<ArchiveStore> {
    let spool: string | undefined;
    const spoolDir = async () => {
      if (spool) return spool;
      const parent = options.tempDir ?? await ferryTempDir();
      spool = await mkdtemp(join(parent, "import-")).catch((err) => {
        throw fileErrorOf(err, "create a temp directory in", parent);
      });
      return spool;
    };
    try {
      // A .tar.gz is spooled on the way while that stays plausible (4× the file's size, plus 64 MiB: layers are
      // compressed already, a docker save's may compress some), so a normal archive is read once; what is larger
      // (a gzip bomb) is left for a second pass that spools it only if the manifests reference it as that large.
      const size = await stat(path).then((s) => s.size, () => 0);
      const index = await indexArchive(path, {
        signal: options.signal,
        spool: { dir: spoolDir, budget: 4 * size + 64 * 1024 * 1024, known: options.known },
      });
      const store = new ArchiveStore(path);
      const plan = await store.#plan(index, options.signal);
      const entries = await loadEntries(index, plan.wanted, {
        spoolDir,
        signal: options.signal,
        known: options.known,
        maxSpoolBytes: options.maxSpoolBytes,
      });
      store.#spoolDir = spool;
      await store.#load(entries, plan);
      for (const entry of entries.values()) {
        if (entry.sha256 === blobDigest(entry.name)) options.known?.set(entry.sha256, entry);
      }
      return store;
    } catch (err) {
      if (spool) await rm(spool, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  #bad(reason: string): FormatError {
    return new FormatError(`Cannot read archive ${this.path}: ${reason}`, { ref: this.path });
  }

  /**
   * What the archive's metadata references: its roots (and carried indexes), and every entry to load with the
   * size its descriptor declares. Manifests are read from memory (or in place) and verified before they are
   * followed; a descriptor naming a blob the archive does not hold is left out (ferry's per-platform exports
   * spread an index's children over several files).
   */
  async #plan(index: ArchiveIndex, signal: AbortSignal | undefined): Promise<Plan> {
    const bad = (reason: string) => this.#bad(reason);
    const entries = index.entries;
    const small = async (name: string): Promise<Uint8Array> => {
      const entry = entries.get(name);
      if (!entry) throw bad(`no ${name}`);
      if (entry.size > MAX_MANIFEST_BYTES) throw bad(`${name} is too large (${entry.size} bytes)`);
      await fetchSmall(index, [name], { signal });
      const bytes = await smallBytes(index, name);
      if (!bytes) throw bad(`${name} could not be read`);
      return bytes;
    };
    /** A blob's bytes, checked against its digest (the name says it) before anything trusts them. */
    const verified = async (digest: string): Promise<Uint8Array> => {
      const bytes = await small(blobName(digest));
      const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
      if (actual !== digest) throw new DigestMismatchError(digest, actual, { ref: this.path });
      return bytes;
    };
    /** The entry a manifest.json path names; it must stay inside the archive and exist. */
    const named = (value: unknown, what: string): string => {
      if (typeof value !== "string" || value === "") throw bad(`manifest.json has a malformed ${what} path`);
      if (value.startsWith("/") || value.split("/").includes("..")) {
        throw bad(`manifest.json points outside the archive (${what} "${value}")`);
      }
      const name = value.split("/").filter((p) => p !== "" && p !== ".").join("/");
      if (!entries.has(name)) throw bad(`manifest.json names ${what} "${value}", which is not in the archive`);
      return name;
    };
    for (const name of entries.keys()) {
      const m = /^blobs\/(sha256)\/([^/]+)$/.exec(name);
      if (m && !isDigest(`${m[1]}:${m[2]}`)) throw bad(`blob name "${name}" is not a digest`);
    }
    const plan: Plan = {
      wanted: new Map(),
      roots: [],
      carried: [],
      carriedNames: new Map(),
      referrers: [],
      format: "oci",
      items: [],
    };
    const want = (name: string, size: number | undefined) => {
      const had = plan.wanted.get(name);
      if (had !== undefined && size !== undefined && had !== size) {
        throw bad(`two descriptors of "${name}" declare ${had} and ${size} bytes`);
      }
      plan.wanted.set(name, size ?? had);
    };
    let items: { Config?: unknown; RepoTags?: unknown; Layers?: unknown }[] | undefined;
    if (entries.has("manifest.json")) {
      items = parseJson(await small("manifest.json"), `${this.path}: manifest.json`);
      if (!Array.isArray(items) || items.some((i) => typeof i !== "object" || i === null || !Array.isArray(i.Layers))) {
        throw bad("manifest.json is not a list of images");
      }
      for (const item of items) {
        named(item.Config, "config");
        for (const layer of item.Layers as unknown[]) named(layer, "layer");
      }
    }
    if (entries.has("index.json")) {
      const top = parseJson<{ manifests?: Descriptor[] }>(await small("index.json"), `${this.path}: index.json`);
      if (!Array.isArray(top?.manifests)) throw bad("index.json has no manifests list");
      const follow: Descriptor[] = [];
      for (const d of top.manifests) {
        if (
          typeof d?.digest !== "string" || !isDigest(d.digest) || typeof d.size !== "number" ||
          typeof d.mediaType !== "string"
        ) {
          throw bad("index.json has a malformed descriptor");
        }
        const referrerTag = d.annotations?.[REFERRER_TAG];
        const names = [...entryNames(d), ...(typeof referrerTag === "string" ? [referrerTag] : [])];
        const desc: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
        if (d.platform) desc.platform = d.platform;
        if (!entries.has(blobName(d.digest))) throw bad(`index.json names ${d.digest}, which is not in the archive`);
        follow.push(desc);
        const size = entries.get(blobName(d.digest))!.size;
        const bytes = isManifest(d.mediaType) && size <= MAX_MANIFEST_BYTES ? await verified(d.digest) : undefined;
        const subject = bytes && subjectOf(bytes);
        if (subject !== undefined || names.some((n) => parseSchemaTag(n.slice(n.lastIndexOf(":") + 1)))) {
          // A signature, attestation or SBOM listed beside its image: found through referrers(), not a root.
          const artifactType = d.artifactType ?? (bytes && artifactTypeOf(bytes));
          plan.referrers.push({ desc, names, subject, ...(artifactType ? { artifactType } : {}) });
          continue;
        }
        const same = plan.roots.find((r) => r.desc.digest === d.digest);
        if (same) same.names.push(...names.filter((n) => !same.names.includes(n)));
        else plan.roots.push({ desc, names: [...new Set(names)] });
        const source = d.annotations?.[SOURCE_INDEX_ANNOTATION];
        if (source !== undefined && !plan.carried.some((c) => c.digest === source)) {
          const carried = await carriedIndex(source, entries, verified, bad);
          plan.carried.push(carried);
          follow.push(carried);
          const name = d.annotations?.[SOURCE_INDEX_NAME_ANNOTATION];
          if (typeof name === "string") plan.carriedNames.set(carried.digest, name);
        }
      }
      // The graph, level by level (for a gzipped archive, manifests not kept in memory are read in one pass each).
      const seen = new Set<string>();
      let level = follow;
      while (level.length > 0) {
        const here = level.filter((d) => {
          if (seen.has(d.digest) || typeof d.digest !== "string" || !entries.has(blobName(d.digest))) return false;
          seen.add(d.digest);
          return true;
        });
        await fetchSmall(index, here.filter((d) => isManifest(d.mediaType)).map((d) => blobName(d.digest)), { signal });
        const next: Descriptor[] = [];
        for (const d of here) {
          want(blobName(d.digest), typeof d.size === "number" ? d.size : undefined);
          if (!isManifest(d.mediaType) || entries.get(blobName(d.digest))!.size > MAX_MANIFEST_BYTES) continue;
          let parsed;
          try {
            parsed = parseManifest(await verified(d.digest), d.mediaType);
          } catch (err) {
            if (err instanceof DigestMismatchError) throw err;
            continue; // not a manifest after all: copying it reports that
          }
          next.push(...childrenOf(parsed));
        }
        level = next;
      }
      return plan;
    }
    if (!items) throw bad("neither index.json nor manifest.json: not an image archive");
    plan.format = "docker";
    plan.items = items;
    for (const item of items) {
      want(named(item.Config, "config"), undefined);
      for (const layer of item.Layers as unknown[]) want(named(layer, "layer"), undefined);
    }
    return plan;
  }

  async #load(entries: Map<string, ArchiveEntry>, plan: Plan): Promise<void> {
    const bad = (reason: string) => this.#bad(reason);
    this.#roots = plan.roots;
    this.#carried = plan.carried;
    this.#carriedNames = plan.carriedNames;
    this.#referrers = plan.referrers;
    this.#format = plan.format;
    // Blobs of an OCI layout: the name is the digest, checked against the hash taken while loading.
    for (const entry of entries.values()) {
      const digest = blobDigest(entry.name);
      if (!digest) continue;
      if (entry.sha256 !== digest) throw new DigestMismatchError(digest, entry.sha256, { ref: this.path });
      this.#blobs.set(digest, entry);
    }
    if (plan.format === "oci") return;
    const entryOf = (value: unknown) =>
      entries.get((value as string).split("/").filter((p) => p !== "" && p !== ".").join("/"))!;
    for (const item of plan.items) {
      const configEntry = entryOf(item.Config);
      if (configEntry.size > MAX_MANIFEST_BYTES) {
        throw bad(`${configEntry.name} is too large (${configEntry.size} bytes)`);
      }
      const configBytes = await readLimited(entryStream(configEntry), MAX_MANIFEST_BYTES);
      const config = parseJson<ImageConfig>(configBytes, `${this.path}: ${configEntry.name}`);
      const hex = /^([a-f0-9]{64})\.json$/.exec(configEntry.name)?.[1];
      if (hex && `sha256:${hex}` !== configEntry.sha256) {
        throw new DigestMismatchError(`sha256:${hex}`, configEntry.sha256, { ref: this.path });
      }
      const diffIds = config?.rootfs?.diff_ids;
      const layerPaths = item.Layers as unknown[];
      if (!Array.isArray(diffIds) || diffIds.length !== layerPaths.length) {
        throw bad(`${configEntry.name} lists ${diffIds?.length ?? 0} layers, manifest.json ${layerPaths.length}`);
      }
      const layers = layerPaths.map((p, i) => {
        const entry = entryOf(p);
        const mediaType = layerType(entry.magic);
        if (mediaType === MediaType.OciLayer && entry.sha256 !== diffIds[i]) {
          throw new DigestMismatchError(diffIds[i], entry.sha256, { ref: this.path });
        }
        this.#blobs.set(entry.sha256, entry);
        return { mediaType, digest: entry.sha256, size: entry.size };
      });
      this.#blobs.set(configEntry.sha256, configEntry);
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configEntry.sha256, size: configEntry.size },
        layers,
      };
      const bytes = new TextEncoder().encode(JSON.stringify(manifest));
      const desc = descriptorOf(bytes, MediaType.OciManifest);
      this.#blobs.set(desc.digest, bytes);
      const tags = Array.isArray(item.RepoTags) ? item.RepoTags.filter((t): t is string => typeof t === "string") : [];
      this.#roots.push({ desc, names: tags });
    }
  }

  /**
   * The referrers of `subject` the archive lists in index.json: manifests whose `subject` names it, and those named
   * by its cosign tags (`sha256-<hex>.sig|.att|.sbom`).
   */
  referrers(subject: Descriptor, options: ReferrersOptions = {}): Promise<ReferrerDescriptor[]> {
    const cosign = new Map(COSIGN_SUFFIXES.map((s) => [schemaTag(subject.digest, s), s]));
    const found = new Map<string, ReferrerDescriptor>();
    for (const r of this.#referrers) {
      const tag = r.names.map((n) => n.slice(n.lastIndexOf(":") + 1)).find((t) => cosign.has(t));
      if (tag === undefined && r.subject !== subject.digest) continue;
      const { mediaType, digest, size } = r.desc;
      found.set(digest, {
        mediaType,
        digest,
        size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(tag !== undefined ? { tag } : {}),
      });
    }
    const types = options.artifactTypes;
    return Promise.resolve(
      [...found.values()].filter((d) => !types?.length || (d.artifactType && types.includes(d.artifactType))),
    );
  }

  /** A digest, a name or tag of a root, or "" when the archive has exactly one root. */
  resolve(reference: string): Promise<Descriptor> {
    const roots = this.#roots;
    let found: ArchiveRoot[];
    if (isDigest(reference)) found = roots.filter((r) => r.desc.digest === reference);
    else if (reference === "") found = roots.length === 1 ? roots : [];
    else found = roots.filter((r) => r.names.some((n) => n === reference || n.endsWith(`:${reference}`)));
    if (found.length === 1) return Promise.resolve(found[0].desc);
    const have = roots.map((r) => r.names.join(", ") || r.desc.digest).join("; ");
    if (found.length > 1) {
      return Promise.reject(
        new UsageError(`Cannot resolve "${reference}" in ${this.path}: several images match (${have})`, {
          ref: this.ref,
        }),
      );
    }
    return Promise.reject(
      new NotFoundError(`Cannot resolve ${reference || "the image"} in ${this.path}: it holds ${have || "nothing"}`, {
        ref: this.ref,
      }),
    );
  }

  fetch(desc: Descriptor, _options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const blob = this.#blobs.get(desc.digest);
    if (!blob) {
      return Promise.reject(new NotFoundError(`Cannot find blob ${desc.digest} in ${this.path}`, { ref: this.ref }));
    }
    return Promise.resolve(blob instanceof Uint8Array ? streamOf(blob) : entryStream(blob));
  }

  exists(desc: Descriptor, _options?: StoreOptions): Promise<boolean> {
    return Promise.resolve(this.#blobs.has(desc.digest));
  }

  /** Removes the spool directory (a gzipped archive's entries); the store cannot be read afterwards. */
  async dispose(): Promise<void> {
    if (this.#spoolDir) await rm(this.#spoolDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** What {@link ArchiveStore} found in an archive's metadata, before loading the entries. */
interface Plan {
  wanted: Map<string, number | undefined>;
  roots: ArchiveRoot[];
  carried: Descriptor[];
  carriedNames: Map<string, string>;
  /** index.json entries that are referrers (a manifest with a subject, or a tag-schema name), not roots. */
  referrers: { desc: Descriptor; names: string[]; subject?: string; artifactType?: string }[];
  format: "oci" | "docker";
  items: { Config?: unknown; RepoTags?: unknown; Layers?: unknown }[];
}

/** `sha256:<hex>` → `blobs/sha256/<hex>`. */
function blobName(digest: string): string {
  return `blobs/${digest.replace(":", "/")}`;
}

/** The descriptor of the index a {@link SOURCE_INDEX_ANNOTATION} names; it must be in the archive and be an index. */
async function carriedIndex(
  digest: unknown,
  entries: ArchiveIndex["entries"],
  verified: (digest: string) => Promise<Uint8Array>,
  bad: (reason: string) => FormatError,
): Promise<Descriptor> {
  const what = `index.json's ${SOURCE_INDEX_ANNOTATION}`;
  if (typeof digest !== "string" || !isDigest(digest)) throw bad(`${what} is not a digest`);
  const entry = entries.get(blobName(digest));
  if (!entry) throw bad(`${what} names ${digest}, which is not in the archive`);
  if (entry.size > MAX_MANIFEST_BYTES) throw bad(`${what} names ${digest}, which is too large (${entry.size} bytes)`);
  const bytes = await verified(digest);
  // The descriptor's media type is the index's own field; an OCI index may leave it out (a Docker list may not).
  const mediaType = parseJson<{ mediaType?: unknown }>(bytes, `${digest}`)?.mediaType ?? MediaType.OciIndex;
  if (typeof mediaType !== "string" || !isIndex(mediaType)) throw bad(`${what} names ${digest}, which is not an index`);
  try {
    parseManifest(bytes, mediaType);
  } catch (err) {
    throw bad(`${what} names ${digest}, which is not a valid index (${err instanceof Error ? err.message : err})`);
  }
  return { mediaType, digest, size: entry.size };
}

/** The media type a layer's first bytes say: gzip, zstd, else an uncompressed tar. */
function layerType(magic: Uint8Array): string {
  if (isGzip(magic)) return MediaType.OciLayerGzip;
  if (magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd) return MediaType.OciLayerZstd;
  return MediaType.OciLayer;
}
