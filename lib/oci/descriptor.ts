/**
 * Descriptors and platforms, the plain data the copy engine moves.
 *
 * @module
 */
import { digestOf } from "./digest.ts";

/**
 * An OCI platform object as it appears in an index entry or image config.
 *
 * @example
 * ```ts
 * const platform: Platform = parsePlatform("linux/arm/v7");
 * formatPlatform(platform); // "linux/arm/v7"
 * ```
 */
export interface Platform {
  /** Operating system, e.g. `linux`, `windows`. */
  os: string;
  /** CPU architecture in Go's spelling, e.g. `amd64`, `arm64`, `arm`. */
  architecture: string;
  /** Architecture variant, e.g. `v7` for `arm`, `v8` for `arm64`. */
  variant?: string;
  /** Operating system version (Windows images). */
  "os.version"?: string;
  /** Required operating system features (Windows images). */
  "os.features"?: string[];
  /** Required CPU features (reserved by the OCI spec). */
  features?: string[];
}

/**
 * An OCI content descriptor.
 *
 * @example
 * ```ts
 * const desc: Descriptor = buildSampleImage().root;
 * console.log(desc.mediaType, desc.digest, desc.size);
 * ```
 */
export interface Descriptor {
  /** Media type of the referenced content, e.g. `application/vnd.oci.image.manifest.v1+json`. */
  mediaType: string;
  /** Digest of the content, `sha256:<hex>`. */
  digest: string;
  /** Size of the content in bytes. */
  size: number;
  /** Platform of the image, on the entries of an index. */
  platform?: Platform;
  /** Arbitrary metadata, e.g. `org.opencontainers.image.ref.name`. */
  annotations?: Record<string, string>;
  /** Other places the content can be downloaded from (foreign layers). */
  urls?: string[];
  /** Type of an artifact manifest the descriptor points to. */
  artifactType?: string;
}

/**
 * The descriptor of exactly these bytes.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("{}");
 * descriptorOf(bytes, "application/vnd.oci.empty.v1+json"); // { mediaType, digest: "sha256:44136f…", size: 2 }
 * ```
 */
export function descriptorOf(bytes: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

/** A short human label for a descriptor in messages: `sha256:abcdef123456`. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(":");
  return i < 0 ? digest : digest.slice(0, i + 13);
}

/**
 * The descriptor with only media type, digest and size: what an index entry is before platform and
 * annotations are added, and what two descriptors of the same content share.
 *
 * @example
 * ```ts
 * bare(index.manifests[0]); // { mediaType, digest, size }: no platform, no annotations
 * ```
 */
export function bare(desc: Descriptor): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}
