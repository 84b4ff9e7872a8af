/**
 * Parsed manifests, indexes and image configs. Parsing never replaces the raw bytes:
 * ferry keeps and copies the exact bytes it fetched, so digests are preserved.
 *
 * @module
 */
import { FormatError, UnsupportedError } from "../errors.ts";
import type { Descriptor, Platform } from "./descriptor.ts";
import { DIGEST_FORMS, isDigest, quoteDigest } from "./digest.ts";
import { isImageManifest, isIndex, isSchema1 } from "./media_types.ts";

/** An OCI image index or Docker manifest list. */
export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image manifest or Docker v2s2 manifest. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The parts of an image config ferry reads. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
  created?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
}

/** A manifest and the media type it was parsed as. */
export type ParsedManifest =
  | { kind: "index"; mediaType: string; index: Index }
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest };

/** Decodes JSON bytes, throwing a {@link FormatError} naming `what` when they are not JSON. */
export function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (err) {
    throw new FormatError(`Cannot parse ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Parses manifest bytes served with `mediaType` (falling back to the body's own `mediaType`
 * and, for OCI content that omits it, to the shape of the document).
 *
 * @example
 * ```ts
 * const parsed = parseManifest(bytes, desc.mediaType);
 * if (parsed.kind === "index") console.log(parsed.index.manifests.length);
 * ```
 */
export function parseManifest(bytes: Uint8Array, mediaType?: string): ParsedManifest {
  const doc = parseJson<Record<string, unknown>>(bytes, "manifest");
  if (typeof doc !== "object" || doc === null) throw new FormatError("Cannot parse manifest: not an object");
  const type = (typeof doc.mediaType === "string" && doc.mediaType) || mediaType || "";
  if (isSchema1(type) || doc.schemaVersion === 1) {
    throw new UnsupportedError("Cannot copy a Docker schema 1 manifest (unsupported, deprecated format)");
  }
  if (isIndex(type) || (!isImageManifest(type) && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests)) throw new FormatError("Cannot parse index: no manifests array");
    for (const d of doc.manifests) checkDescriptor(d, "index entry");
    if (doc.subject !== undefined) checkDescriptor(doc.subject, "subject");
    return {
      kind: "index",
      mediaType: type || "application/vnd.oci.image.index.v1+json",
      index: doc as unknown as Index,
    };
  }
  if (isImageManifest(type) || (typeof doc.config === "object" && Array.isArray(doc.layers))) {
    checkDescriptor(doc.config, "config");
    if (!Array.isArray(doc.layers)) throw new FormatError("Cannot parse manifest: no layers array");
    for (const d of doc.layers) checkDescriptor(d, "layer");
    if (doc.subject !== undefined) checkDescriptor(doc.subject, "subject");
    return {
      kind: "manifest",
      mediaType: type || "application/vnd.oci.image.manifest.v1+json",
      manifest: doc as unknown as ImageManifest,
    };
  }
  throw new UnsupportedError(`Cannot walk content of media type "${type || "unknown"}"`);
}

function checkDescriptor(d: unknown, what: string): void {
  const desc = d as Descriptor;
  if (
    typeof desc !== "object" || desc === null || typeof desc.digest !== "string" ||
    typeof desc.size !== "number" || typeof desc.mediaType !== "string"
  ) {
    throw new FormatError(`Cannot parse manifest: malformed ${what} descriptor`);
  }
  // Digests end up in URLs and file names: `sha256:../../etc/passwd` or `md5:…` must go no further.
  if (!isDigest(desc.digest)) {
    throw new FormatError(
      `Cannot parse manifest: ${what} descriptor has an invalid digest ${
        quoteDigest(desc.digest)
      } (expected ${DIGEST_FORMS})`,
    );
  }
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new FormatError(`Cannot parse manifest: ${what} descriptor has an invalid size ${desc.size}`);
  }
}

/** The descriptors a parsed manifest points at: an index's manifests, or a manifest's config and layers. */
export function childrenOf(parsed: ParsedManifest): Descriptor[] {
  if (parsed.kind === "index") return parsed.index.manifests;
  return [parsed.manifest.config, ...parsed.manifest.layers];
}

/**
 * Whether an index entry is an attestation or other non-image artifact rather than a platform
 * image: buildx marks those `unknown/unknown` and annotates `vnd.docker.reference.type`.
 */
export function isAttestation(desc: Descriptor): boolean {
  const p: Platform | undefined = desc.platform;
  if (desc.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") return true;
  return p?.os === "unknown" && p?.architecture === "unknown";
}
