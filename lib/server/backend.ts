/**
 * What the registry handler serves: the {@link RegistryBackend} contract, and the graph walk that tells
 * which manifests belong to a repository (for manifests by digest and the referrers API).
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import { isIndex } from "../oci/media_types.ts";

/**
 * A blob's bytes as the handler needs them: size, a way to stream any range, and a file when there is one.
 *
 * @example
 * ```ts
 * declare const backend: RegistryBackend;
 * const blob: BlobSource = await backend.blob("team/app", "sha256:" + "0".repeat(64));
 * const body = await blob.open(0, blob.size);
 * ```
 */
export interface BlobSource {
  /** The blob's digest. */
  digest: string;
  /** The blob's size in bytes. */
  size: number;
  /** Where the bytes are on disk (a layout's blob, or a slice of a tar): lets the server send them sized. */
  file?: { path: string; offset: number };
  /**
   * Where the bytes are on disk once they were checked against the digest (hashed in full, once per file
   * version): for a file not checked yet. A GET of the whole blob may wait for it and send the file sized
   * rather than stream the bytes through the check; rejects if the bytes do not match.
   */
  checkedFile?(): Promise<{ path: string; offset: number }>;
  /** Streams `[start, end)` (end exclusive). */
  open(start: number, end: number): Promise<ReadableStream<Uint8Array>>;
  /** The whole blob, verified, for a small one held in a file: lets the server send it sized, from memory. */
  read?(): Promise<Uint8Array>;
}

/**
 * A manifest, with the exact bytes stored and its media type.
 *
 * @example
 * ```ts
 * declare const backend: RegistryBackend;
 * const manifest: ManifestContent = await backend.manifest("team/app", "1.0");
 * console.log(manifest.desc.mediaType, manifest.bytes.length);
 * ```
 */
export interface ManifestContent {
  /** Descriptor of the manifest. */
  desc: Descriptor;
  /** The manifest's exact bytes. */
  bytes: Uint8Array;
}

/**
 * The read side of a registry: repositories, their tags, manifests and blobs. Implementations throw
 * `NotFoundError` for anything missing and `httpError()` (responses.ts) for other spec errors.
 *
 * @example
 * ```ts
 * declare const backend: RegistryBackend; // e.g. an OCI layout's repositories
 * const handler = registryHandler(backend);
 * console.log(await backend.tags("team/app"));
 * ```
 */
export interface RegistryBackend {
  /** Whether the repository exists (has at least one manifest). */
  hasRepository(name: string): Promise<boolean>;
  /** The repository's tags, sorted. */
  tags(name: string): Promise<string[]>;
  /** A manifest by tag or digest, only if it belongs to the repository. */
  manifest(name: string, reference: string): Promise<ManifestContent>;
  /** A blob of the repository; a NotFoundError when it has none. */
  blob(name: string, digest: string): Promise<BlobSource>;
  /** Descriptors of the repository's manifests whose `subject` is `digest`. */
  referrers(name: string, digest: string): Promise<Descriptor[]>;
  /** Every repository's name, for `/v2/_catalog`; absent: the catalog is not offered. */
  catalog?(): Promise<string[]>;
  /**
   * The repository a request names, as a registry mirror sees it: `library/nginx` from a Docker engine's
   * `registry-mirrors` (Docker Hub's path), `org/app` with containerd's `?ns=ghcr.io`, or a full name
   * (`ghcr.io/org/app`); undefined to take the name as it is.
   */
  resolveName?(name: string, namespace: string | undefined): Promise<string | undefined>;
  /** Present when the registry accepts pushes. */
  readonly writer?: RegistryWriter;
}

/**
 * The write side of a registry (see layouts.ts).
 *
 * @example
 * ```ts
 * declare const backend: RegistryBackend;
 * const writer: RegistryWriter | undefined = backend.writer; // undefined: a read-only registry
 * ```
 */
export interface RegistryWriter {
  /** A directory on the blobs' file system where upload sessions spool (rename into place is atomic). */
  readonly uploadDir: string;
  /** The size of a blob anywhere in the registry, or undefined (manifest pushes check their references so). */
  blobSize(digest: string): Promise<number | undefined>;
  /** Moves a verified temp file into the registry as `digest`, held by repository `name` from now on. */
  commitBlob(name: string, tempPath: string, digest: string): Promise<void>;
  /**
   * A cross-repository mount: when repository `from` holds blob `digest`, `name` holds it too from now on
   * (true); false when `from` does not hold it (the client then uploads it).
   */
  mountBlob(name: string, digest: string, from: string): Promise<boolean>;
  /** Stores manifest bytes (already validated) and points `tag` (or an untagged entry) of `name` at them. */
  putManifest(name: string, desc: Descriptor, bytes: Uint8Array, tag: string | undefined): Promise<void>;
  /** Removes a tag, or every entry of the repository with that digest; NotFoundError if none. */
  deleteManifest(name: string, reference: string): Promise<void>;
  /**
   * Removes blob `digest` from repository `name` (from the disk once no repository holds it): NotFoundError
   * when `name` does not hold it, 405 `UNSUPPORTED` while a manifest of `name` uses it.
   */
  deleteBlob(name: string, digest: string): Promise<void>;
}

/** A manifest reached from a repository's roots, parsed once. */
export interface ReachedManifest {
  desc: Descriptor;
  doc: ManifestDocument;
}

/** The fields of a manifest or index the server looks at. */
export interface ManifestDocument {
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * Every manifest reachable from `roots` (indexes are followed to their children), keyed by digest.
 * `load` returns a manifest's bytes, or undefined when it is missing (a partial layout): skipped.
 */
export async function reachableManifests(
  roots: Descriptor[],
  load: (desc: Descriptor) => Promise<Uint8Array | undefined>,
): Promise<Map<string, ReachedManifest>> {
  const seen = new Map<string, ReachedManifest>();
  let frontier = roots;
  while (frontier.length > 0) {
    const next: Descriptor[] = [];
    await Promise.all(frontier.map(async (desc) => {
      if (seen.has(desc.digest)) return;
      const bytes = await load(desc);
      if (!bytes || seen.has(desc.digest)) return;
      let doc: ManifestDocument;
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        return; // not a manifest (e.g. an index.json entry pointing at a layer); nothing to follow
      }
      if (!doc || typeof doc !== "object") return;
      seen.set(desc.digest, { desc: { ...desc, mediaType: doc.mediaType ?? desc.mediaType }, doc });
      if ((isIndex(doc.mediaType ?? desc.mediaType) || Array.isArray(doc.manifests)) && Array.isArray(doc.manifests)) {
        next.push(...doc.manifests.filter((d) => d && typeof d.digest === "string"));
      }
    }));
    frontier = next;
  }
  return seen;
}

/**
 * Every blob the manifests of `reached` use, each with the first manifest using it: configs, layers, index
 * children, and the manifests themselves (which are blobs too).
 */
export function blobUsers(reached: Map<string, ReachedManifest>): Map<string, Descriptor> {
  const users = new Map<string, Descriptor>();
  const use = (d: Descriptor | undefined, by: Descriptor) => {
    if (d && typeof d.digest === "string" && !users.has(d.digest)) users.set(d.digest, by);
  };
  for (const m of reached.values()) {
    use(m.desc, m.desc);
    use(m.doc.config, m.desc);
    for (const d of Array.isArray(m.doc.layers) ? m.doc.layers : []) use(d, m.desc);
    for (const d of Array.isArray(m.doc.manifests) ? m.doc.manifests : []) use(d, m.desc);
  }
  return users;
}

/** The referrers-API descriptor of a manifest: its identity, artifactType (or config type) and annotations. */
export function referrerOf(m: ReachedManifest): Descriptor {
  const desc: Descriptor = { mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size };
  const artifactType = m.doc.artifactType ?? m.doc.config?.mediaType;
  if (artifactType) desc.artifactType = artifactType;
  if (m.doc.annotations) desc.annotations = m.doc.annotations;
  return desc;
}
