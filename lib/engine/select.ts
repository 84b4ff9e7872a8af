/**
 * Platform selection: which children of an index to copy or export, and the filtered index to write
 * when only some are kept.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { type Descriptor, descriptorOf, type Platform } from "../oci/descriptor.ts";
import { type SerializedIndex, serializeIndex } from "../oci/index_edit.ts";
import { type Index, isAttestation } from "../oci/manifest.ts";
import { MediaType } from "../oci/media_types.ts";
import { formatPlatform, matchPlatform } from "../oci/platform.ts";
import { REFERENCE_DIGEST } from "../oci/annotations.ts";

/** The image entries of an index, in index order: every entry except attestations. */
export function listPlatforms(index: Index): Descriptor[] {
  return index.manifests.filter((d) => !isAttestation(d));
}

/** Options of {@link selectPlatforms}. */
export interface SelectPlatformsOptions {
  /** The image the index belongs to, for the error's `ref`. */
  ref?: string;
}

/**
 * The image entries of `index` that match any wanted platform, in index order (all of them for
 * `"all"`); attestations are never selected. Several entries may match one wanted platform
 * (`linux/arm` keeps v6 and v7). Throws a {@link NotFoundError} naming what the index has when a wanted
 * platform matches nothing.
 *
 * @example
 * ```ts
 * import { parsePlatformList } from "../oci/platform.ts";
 * import type { Index } from "../oci/manifest.ts";
 * declare const index: Index;
 * selectPlatforms(index, parsePlatformList(["linux/amd64,linux/arm64"])); // the two image entries
 * // NotFoundError "Cannot find platform linux/s390x in the index; it has linux/amd64, linux/arm64/v8":
 * selectPlatforms(index, parsePlatformList(["linux/s390x"]));
 * ```
 */
export function selectPlatforms(
  index: Index,
  want: Platform[] | "all",
  options: SelectPlatformsOptions = {},
): Descriptor[] {
  const images = listPlatforms(index);
  if (want === "all") return images;
  const missing = want.filter((w) => !images.some((d) => matchPlatform(w, d.platform)));
  if (missing.length > 0) {
    const have = images.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
    const names = missing.map(formatPlatform).join(", ");
    const has = have.length > 0 ? `it has ${[...new Set(have)].join(", ")}` : "it has no platform images";
    throw new NotFoundError(
      `Cannot find platform${missing.length > 1 ? "s" : ""} ${names} in the index; ${has}`,
      { ref: options.ref },
    );
  }
  return images.filter((d) => want.some((w) => matchPlatform(w, d.platform)));
}

/** Options of {@link filterIndex}. */
export interface FilterIndexOptions {
  /** Keep attestations of kept images (default) or drop every attestation. */
  attestations?: "keep" | "drop";
}

/**
 * A new index with the same top-level fields as `index` (media type, annotations, …) and only the entries
 * in `keep`, in index order; with `attestations: "keep"` (default) the attestations whose
 * `vnd.docker.reference.digest` names a kept entry stay too. When that keeps every entry, the original
 * `indexBytes` are returned unchanged, so the digest is preserved.
 *
 * @example
 * ```ts
 * import type { Index } from "../oci/manifest.ts";
 * declare const indexBytes: Uint8Array, index: Index;
 * const { bytes, desc } = filterIndex(indexBytes, index, selectPlatforms(index, [{ os: "linux", architecture: "arm64" }]));
 * // push `bytes` as `desc` after its children, then tag it
 * ```
 */
export function filterIndex(
  indexBytes: Uint8Array,
  index: Index,
  keep: Descriptor[],
  options: FilterIndexOptions = {},
): SerializedIndex {
  const keepAttestations = (options.attestations ?? "keep") === "keep";
  const kept = new Set(keep.map((d) => d.digest));
  const present = new Set(index.manifests.map((e) => e.digest));
  for (const d of keep) {
    if (!present.has(d.digest)) {
      throw new NotFoundError(`Cannot filter the index: it has no entry ${d.digest}`);
    }
  }
  const manifests = index.manifests.filter((d) => {
    if (!isAttestation(d)) return kept.has(d.digest);
    if (kept.has(d.digest)) return true;
    const subject = d.annotations?.[REFERENCE_DIGEST];
    return keepAttestations && subject !== undefined && kept.has(subject);
  });
  if (manifests.length === index.manifests.length) {
    return { bytes: indexBytes, desc: descriptorOf(indexBytes, index.mediaType ?? MediaType.OciIndex) };
  }
  return serializeIndex({ ...index, manifests });
}
