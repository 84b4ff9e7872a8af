/**
 * A tar or tar.gz archive as a {@link ReadableStore}: an OCI archive (skopeo, ferry, `docker save` since
 * 25 and the containerd image store: `index.json` + `blobs/`), or a classic `docker save` tarball
 * (`manifest.json`, `<id>/layer.tar`, `<config>.json`), whose manifests are synthesised with the
 * uncompressed layers as they are (import gzips them on the way).
 *
 * @module
 */
import { isGzip } from "../stream/gzip.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DigestMismatchError, FormatError, NotFoundError, UsageError } from "../errors.ts";
import { type Descriptor, descriptorOf } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { type ImageConfig, parseJson, parseManifest } from "../oci/manifest.ts";
import { isIndex, MediaType } from "../oci/media_types.ts";
import { fileErrorOf } from "../stream/files.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { type ArchiveEntry, blobDigest, entryStream, scanArchive } from "./archive_scan.ts";
import { entryNames, REFERRER_TAG, SOURCE_INDEX as SOURCE_INDEX_ANNOTATION } from "../oci/annotations.ts";
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
  /** Parent directory of the spool directory a gzipped archive needs (default the OS temp dir). */
  tempDir?: string;
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
  /** index.json entries that are referrers (a manifest with a subject, or a tag-schema name), not roots. */
  #referrers: { desc: Descriptor; names: string[]; subject?: string; artifactType?: string }[] = [];
  #format: "oci" | "docker" = "oci";

  private constructor(readonly path: string, readonly spoolDir: string | undefined) {
    this.ref = path;
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

  /** `oci` for an archive with index.json and blobs, `docker` for a classic docker save tarball. */
  get format(): "oci" | "docker" {
    return this.#format;
  }

  /** Scans `path` and reads its index.json or manifest.json. */
  static async open(path: string, options: ArchiveStoreOptions = {}): Promise<ArchiveStore> {
    let spool: string | undefined;
    const spoolDir = async () => {
      spool = await mkdtemp(join(options.tempDir ?? tmpdir(), "ferry-import-")).catch((err) => {
        throw fileErrorOf(err, "create a temp directory in", options.tempDir ?? tmpdir());
      });
      return spool;
    };
    try {
      const entries = await scanArchive(path, { spoolDir, signal: options.signal, known: options.known });
      const store = new ArchiveStore(path, spool);
      await store.#load(entries);
      for (const entry of entries.values()) {
        if (entry.sha256 === blobDigest(entry.name)) options.known?.set(entry.sha256, entry);
      }
      return store;
    } catch (err) {
      if (spool) await rm(spool, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  async #load(entries: Map<string, ArchiveEntry>): Promise<void> {
    const bad = (reason: string) => new FormatError(`Cannot read archive ${this.path}: ${reason}`, { ref: this.path });
    const small = async (name: string): Promise<Uint8Array> => {
      const entry = entries.get(name);
      if (!entry) throw bad(`no ${name}`);
      if (entry.size > MAX_MANIFEST_BYTES) throw bad(`${name} is too large (${entry.size} bytes)`);
      return await readLimited(entryStream(entry), MAX_MANIFEST_BYTES);
    };
    /** The entry a manifest.json path names; it must stay inside the archive and exist. */
    const named = (value: unknown, what: string): ArchiveEntry => {
      if (typeof value !== "string" || value === "") throw bad(`manifest.json has a malformed ${what} path`);
      if (value.startsWith("/") || value.split("/").includes("..")) {
        throw bad(`manifest.json points outside the archive (${what} "${value}")`);
      }
      const entry = entries.get(value.split("/").filter((p) => p !== "" && p !== ".").join("/"));
      if (!entry) throw bad(`manifest.json names ${what} "${value}", which is not in the archive`);
      return entry;
    };
    // Blobs of an OCI layout: the name is the digest, checked against the hash taken while scanning.
    for (const entry of entries.values()) {
      const m = /^blobs\/(sha256)\/([^/]+)$/.exec(entry.name);
      if (!m) continue;
      const digest = `${m[1]}:${m[2]}`;
      if (!isDigest(digest)) throw bad(`blob name "${entry.name}" is not a digest`);
      if (entry.sha256 !== digest) throw new DigestMismatchError(digest, entry.sha256, { ref: this.path });
      this.#blobs.set(digest, entry);
    }
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
      const index = parseJson<{ manifests?: Descriptor[] }>(await small("index.json"), `${this.path}: index.json`);
      if (!Array.isArray(index?.manifests)) throw bad("index.json has no manifests list");
      for (const d of index.manifests) {
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
        if (!this.#blobs.has(d.digest)) throw bad(`index.json names ${d.digest}, which is not in the archive`);
        const entry = this.#blobs.get(d.digest) as ArchiveEntry;
        const bytes = entry.size <= MAX_MANIFEST_BYTES ? await readLimited(entryStream(entry)) : undefined;
        const subject = bytes && subjectOf(bytes);
        if (subject !== undefined || names.some((n) => parseSchemaTag(n.slice(n.lastIndexOf(":") + 1)))) {
          // A signature, attestation or SBOM listed beside its image: found through referrers(), not a root.
          const artifactType = d.artifactType ?? (bytes && artifactTypeOf(bytes));
          this.#referrers.push({ desc, names, subject, ...(artifactType ? { artifactType } : {}) });
          continue;
        }
        const same = this.#roots.find((r) => r.desc.digest === d.digest);
        if (same) same.names.push(...names.filter((n) => !same.names.includes(n)));
        else this.#roots.push({ desc, names: [...new Set(names)] });
        const source = d.annotations?.[SOURCE_INDEX_ANNOTATION];
        if (source !== undefined && !this.#carried.some((c) => c.digest === source)) {
          this.#carried.push(
            await carriedIndex(source, (digest) => this.#blobs.get(digest) as ArchiveEntry | undefined, bad),
          );
        }
      }
      return;
    }
    if (!items) throw bad("neither index.json nor manifest.json: not an image archive");
    this.#format = "docker";
    for (const item of items) {
      const configEntry = named(item.Config, "config");
      const configBytes = await small(configEntry.name);
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
        const entry = named(p, "layer");
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
    if (this.spoolDir) await rm(this.spoolDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** The descriptor of the index a {@link SOURCE_INDEX_ANNOTATION} names; it must be in the archive and be an index. */
async function carriedIndex(
  digest: unknown,
  entryOf: (digest: string) => ArchiveEntry | undefined,
  bad: (reason: string) => FormatError,
): Promise<Descriptor> {
  const what = `index.json's ${SOURCE_INDEX_ANNOTATION}`;
  if (typeof digest !== "string" || !isDigest(digest)) throw bad(`${what} is not a digest`);
  const entry = entryOf(digest);
  if (!entry) throw bad(`${what} names ${digest}, which is not in the archive`);
  if (entry.size > MAX_MANIFEST_BYTES) throw bad(`${what} names ${digest}, which is too large (${entry.size} bytes)`);
  const bytes = await readLimited(entryStream(entry), MAX_MANIFEST_BYTES);
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
