/**
 * Pure edits of image indexes: build, add, remove, set a platform, annotate, and serialise to NEW bytes.
 * Fetched indexes are never re-serialised by the copy path; these are for indexes ferry makes
 * (manifest lists, imports, platform-filtered copies).
 *
 * @module
 */
import { NotFoundError, UsageError } from "../errors.ts";
import { type Descriptor, descriptorOf, type Platform, shortDigest } from "./descriptor.ts";
import type { Index } from "./manifest.ts";
import { isIndex, MediaType } from "./media_types.ts";

/**
 * New index bytes and the descriptor that names them.
 *
 * @example
 * ```ts
 * const { manifests } = buildSampleImage();
 * const index: SerializedIndex = buildIndex(manifests);
 * const store = new MemoryStore();
 * store.put(index.bytes, index.desc.mediaType); // the same descriptor: same bytes, same digest
 * ```
 */
export interface SerializedIndex {
  /** The serialised index, exactly the bytes to push. */
  bytes: Uint8Array;
  /** Descriptor of those bytes. */
  desc: Descriptor;
}

/**
 * Options of {@link buildIndex}.
 *
 * @example
 * ```ts
 * const { manifests } = buildSampleImage();
 * const options: BuildIndexOptions = { mediaType: MediaType.DockerManifestList };
 * buildIndex(manifests, options);
 * ```
 */
export interface BuildIndexOptions {
  /** OCI image index (default) or Docker manifest list. */
  mediaType?: typeof MediaType.OciIndex | typeof MediaType.DockerManifestList;
  /** Annotations of the index itself. */
  annotations?: Record<string, string>;
}

/**
 * A new index over `entries`, serialised as compact JSON the way buildx and registries write it.
 *
 * @example
 * ```ts
 * const [amd64, arm64] = buildSampleImage().manifests; // image manifests with their platform set
 * const { bytes, desc } = buildIndex([amd64, arm64]);
 * // bytes: {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[…]}
 * ```
 */
export function buildIndex(entries: Descriptor[], options: BuildIndexOptions = {}): SerializedIndex {
  const mediaType = options.mediaType ?? MediaType.OciIndex;
  if (!isIndex(mediaType)) throw new UsageError(`Cannot build an index of media type "${mediaType}"`);
  const index: Index = { schemaVersion: 2, mediaType, manifests: entries };
  if (options.annotations && Object.keys(options.annotations).length > 0) index.annotations = options.annotations;
  return serializeIndex(index);
}

/**
 * Compact JSON bytes and descriptor of `index`. Keys follow the OCI Go structs' order (so output matches
 * what Go tools write); unknown keys are kept after the known ones.
 */
export function serializeIndex(index: Index): SerializedIndex {
  const mediaType = index.mediaType ?? MediaType.OciIndex;
  const doc = ordered({ ...index, manifests: index.manifests.map(orderDescriptor) }, INDEX_KEYS);
  if (index.subject) doc.subject = orderDescriptor(index.subject);
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  return { bytes, desc: descriptorOf(bytes, mediaType) };
}

/**
 * `index` with `entry` appended; an entry with the same digest is replaced in place instead, so adding
 * twice is idempotent.
 */
export function addEntry(index: Index, entry: Descriptor): Index {
  const at = index.manifests.findIndex((d) => d.digest === entry.digest);
  const manifests = [...index.manifests];
  if (at < 0) manifests.push(entry);
  else manifests[at] = entry;
  return { ...index, manifests };
}

/**
 * `index` without the entries of `digest`, and without attestations that point at it
 * (`vnd.docker.reference.digest`). Throws a {@link NotFoundError} when no entry has that digest.
 */
export function removeEntry(index: Index, digest: string): Index {
  requireEntry(index, digest);
  const manifests = index.manifests.filter((d) =>
    d.digest !== digest && d.annotations?.["vnd.docker.reference.digest"] !== digest
  );
  return { ...index, manifests };
}

/** `index` with the platform of the entries of `digest` replaced. Throws a {@link NotFoundError} if none. */
export function setPlatform(index: Index, digest: string, platform: Platform): Index {
  requireEntry(index, digest);
  const clean = Object.fromEntries(
    Object.entries(platform).filter(([, v]) => v !== undefined && v !== ""),
  ) as unknown as Platform;
  return { ...index, manifests: index.manifests.map((d) => d.digest === digest ? { ...d, platform: clean } : d) };
}

/**
 * `index` with `annotations` merged into the entries of `digest`; an `undefined` value removes that key.
 * Throws a {@link NotFoundError} if no entry has `digest`.
 */
export function annotateEntry(index: Index, digest: string, annotations: Record<string, string | undefined>): Index {
  requireEntry(index, digest);
  const manifests = index.manifests.map((d) => {
    if (d.digest !== digest) return d;
    const merged: Record<string, string> = { ...d.annotations };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
    const { annotations: _old, ...rest } = d;
    return Object.keys(merged).length > 0 ? { ...rest, annotations: merged } : rest;
  });
  return { ...index, manifests };
}

function requireEntry(index: Index, digest: string): void {
  if (!index.manifests.some((d) => d.digest === digest)) {
    throw new NotFoundError(`Cannot find ${shortDigest(digest)} in the index`);
  }
}

// Key order of image-spec's Go structs (specs-go/v1): Index, Descriptor, Platform.
const INDEX_KEYS = ["schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"];
const DESCRIPTOR_KEYS = ["mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType"];
const PLATFORM_KEYS = ["architecture", "os", "os.version", "os.features", "variant", "features"];

function orderDescriptor(desc: Descriptor): Descriptor {
  const out = ordered(desc as unknown as Record<string, unknown>, DESCRIPTOR_KEYS);
  if (desc.platform) out.platform = ordered(desc.platform as unknown as Record<string, unknown>, PLATFORM_KEYS);
  return out as unknown as Descriptor;
}

/** A copy of `obj` with `keys` first (in that order), then the rest; undefined values dropped. */
function ordered<T extends object>(obj: T, keys: string[]): Record<string, unknown> {
  const src = obj as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  for (const [k, v] of Object.entries(src)) if (!(k in out) && v !== undefined) out[k] = v;
  return out;
}
