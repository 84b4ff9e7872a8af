/**
 * Descriptors and platforms, the plain data the copy engine moves.
 *
 * @module
 */
import { digestOf } from "./digest.ts";

/** An OCI platform object as it appears in an index entry or image config. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
  features?: string[];
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
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
