/**
 * The two files that describe a ferry bundle (many images in one OCI layout or archive, or split into volumes):
 * `bundle.json` inside the bundle (inside every volume: the whole set's images and which volumes each needs), and
 * `volumes.json` beside a set of volumes (the same, plus each volume's file name, size and sha256, written once
 * every volume is closed). Both are plain JSON any tool can read; an OCI tool ignores them (extra files at a
 * layout's top level are allowed).
 *
 * @module
 */
import { FormatError } from "../errors.ts";
import type { Descriptor } from "./descriptor.ts";
import { isDigest } from "./digest.ts";

/** The file inside a bundle (and each volume). */
export const BUNDLE_FILE = "bundle.json";
/** The file beside a set of volumes. */
export const VOLUMES_FILE = "volumes.json";
/** `mediaType` of {@link BUNDLE_FILE}. */
export const BUNDLE_MEDIA_TYPE = "application/vnd.ferry.bundle.v1+json" as const;
/** `mediaType` of {@link VOLUMES_FILE}. */
export const VOLUMES_MEDIA_TYPE = "application/vnd.ferry.volumes.v1+json" as const;

/**
 * One image of a bundle.
 *
 * @example
 * ```ts
 * const image: BundleImage = {
 *   name: "docker.io/library/nginx:1.27",
 *   source: "nginx:1.27",
 *   mediaType: "application/vnd.oci.image.index.v1+json",
 *   digest: "sha256:…",
 *   size: 1609,
 *   platforms: ["linux/amd64", "linux/arm64/v8"],
 *   bytes: 74_000_000,
 *   volumes: [2],
 * };
 * ```
 */
export interface BundleImage {
  /** Its full name, as index.json's ref.name has it: `docker.io/library/nginx:1.27`, `ghcr.io/org/app@sha256:…`. */
  name: string;
  /** Where it was read from, as given. */
  source: string;
  /** The root (index or manifest): media type, digest and size. */
  mediaType: string;
  /** The root's digest. */
  digest: string;
  /** The root's size in bytes. */
  size: number;
  /** More roots carried with it (signatures and other referrers), each a whole graph; omitted when none. */
  roots?: Descriptor[];
  /**
   * The referrers among {@link BundleImage.roots}, with what each refers to and its cosign tag, parents first (an
   * import makes each discoverable at the target: the cosign tag, or the fallback index); omitted when none.
   */
  referrers?: BundleReferrer[];
  /**
   * In a delta (`ferry export --since`): the blobs of it the bundle leaves out because the target holds them (an
   * import checks they are there before it pushes anything); omitted in a full bundle.
   */
  leftOut?: Descriptor[];
  /** Its platforms (`linux/amd64`, …). */
  platforms: string[];
  /** Bytes of every blob and manifest of it, each once. */
  bytes: number;
  /** The volumes (1-based) it needs: one, unless it is larger than a volume; omitted in a bundle without volumes. */
  volumes?: number[];
}

/**
 * A referrer carried with an image of a bundle (a signature, attestation or SBOM).
 *
 * @example
 * ```ts
 * const r: BundleReferrer = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:…", size: 512, subject: "sha256:…", tag: "sha256-….sig" };
 * ```
 */
export interface BundleReferrer {
  /** The referrer manifest's media type. */
  mediaType: string;
  /** Its digest. */
  digest: string;
  /** Its size in bytes. */
  size: number;
  /** Its artifact type, when known. */
  artifactType?: string;
  /** The digest it refers to: the image's root, one of its manifests, or another referrer. */
  subject: string;
  /** The cosign tag it travels under (`sha256-<hex>.sig|.att|.sbom`). */
  tag?: string;
}

/**
 * `bundle.json`: what the bundle (or the set it is a volume of) holds.
 *
 * @example
 * ```ts
 * const meta: BundleMeta = { mediaType: BUNDLE_MEDIA_TYPE, id: "sha256:…", format: "oci", images: [] };
 * ```
 */
export interface BundleMeta {
  mediaType: "application/vnd.ferry.bundle.v1+json";
  /** Identifies the set: the same in every volume of one export. */
  id: string;
  /** `oci`: index.json names each image (an index per image); `docker`: also a docker-load manifest.json. */
  format: "oci" | "docker";
  images: BundleImage[];
  /** A delta: the `sha256` of the receipt it was made against (its images' `leftOut` blobs are at the target). */
  since?: string;
  /** In a volume: which one, of how many, and every volume's file name (in order). */
  volume?: { number: number; count: number; files: string[] };
}

/**
 * One volume in `volumes.json`.
 *
 * @example
 * ```ts
 * const v: VolumeRecord = { number: 1, file: "volume-1.tar", size: 4_000_000_000, sha256: "sha256:…", images: [] };
 * ```
 */
export interface VolumeRecord {
  /** 1-based. */
  number: number;
  /** Its file name (beside volumes.json). */
  file: string;
  /** Bytes in the file. */
  size: number;
  /** `sha256:<hex>` of the whole file. */
  sha256: string;
  /** The images whole in it (the others it holds pieces of need more volumes). */
  images: string[];
}

/**
 * `volumes.json`: the set, each volume's checksum, and which image lives where.
 *
 * @example
 * ```ts
 * const set: VolumesMeta = { mediaType: "application/vnd.ferry.volumes.v1+json", id: "sha256:…", format: "oci", volumeSize: 4_683_222_784, volumes: [], images: [] };
 * ```
 */
export interface VolumesMeta {
  /** Says what the file is. */
  mediaType: "application/vnd.ferry.volumes.v1+json";
  /** The set, as in every bundle.json of it. */
  id: string;
  /** As in bundle.json. */
  format: "oci" | "docker";
  /** The limit every volume keeps to, in bytes. */
  volumeSize: number;
  /** Every volume, in order. */
  volumes: VolumeRecord[];
  /** Every image, with the volumes it needs. */
  images: BundleImage[];
}

/**
 * Parses `bundle.json` (`what` names it in errors), checking the fields ferry relies on.
 *
 * @example
 * ```ts
 * const meta = parseBundleMeta(new TextEncoder().encode(JSON.stringify({ mediaType: BUNDLE_MEDIA_TYPE, id: "x", format: "oci", images: [] })), "bundle.json");
 * ```
 */
export function parseBundleMeta(bytes: Uint8Array, what: string): BundleMeta {
  const doc = parse(bytes, what) as Partial<BundleMeta>;
  if (doc.mediaType !== BUNDLE_MEDIA_TYPE) throw bad(what, `mediaType is not ${BUNDLE_MEDIA_TYPE}`);
  checkCommon(doc, what);
  const v = doc.volume;
  if (v !== undefined) {
    if (
      !Number.isInteger(v.number) || !Number.isInteger(v.count) || v.number < 1 || v.number > v.count ||
      !Array.isArray(v.files) || v.files.length !== v.count || v.files.some((f) => typeof f !== "string")
    ) throw bad(what, "malformed volume");
  }
  return doc as BundleMeta;
}

/**
 * Parses `volumes.json` (`what` names it in errors).
 *
 * @example
 * ```ts
 * const set = parseVolumesMeta(await readFile("release/volumes.json"), "release/volumes.json");
 * ```
 */
export function parseVolumesMeta(bytes: Uint8Array, what: string): VolumesMeta {
  const doc = parse(bytes, what) as Partial<VolumesMeta>;
  if (doc.mediaType !== VOLUMES_MEDIA_TYPE) throw bad(what, `mediaType is not ${VOLUMES_MEDIA_TYPE}`);
  checkCommon(doc, what);
  if (!Array.isArray(doc.volumes)) throw bad(what, "no volumes");
  for (const v of doc.volumes) {
    if (
      !v || !Number.isInteger(v.number) || typeof v.file !== "string" || v.file.includes("/") ||
      !Number.isInteger(v.size) || !isDigest(v.sha256)
    ) throw bad(what, "malformed volume");
  }
  return doc as VolumesMeta;
}

function parse(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    if (doc && typeof doc === "object" && !Array.isArray(doc)) return doc;
  } catch { /* below */ }
  throw bad(what, "not a JSON object");
}

function checkCommon(doc: Partial<BundleMeta | VolumesMeta>, what: string): void {
  if (typeof doc.id !== "string" || (doc.format !== "oci" && doc.format !== "docker") || !Array.isArray(doc.images)) {
    throw bad(what, "missing id, format or images");
  }
  if ("since" in doc && doc.since !== undefined && !isDigest(doc.since as string)) throw bad(what, "malformed since");
  for (const image of doc.images) {
    if (
      !image || typeof image.name !== "string" || !isDigest(image.digest) || typeof image.mediaType !== "string" ||
      !Number.isInteger(image.size) ||
      (image.volumes !== undefined &&
        (!Array.isArray(image.volumes) || image.volumes.some((n) => !Number.isInteger(n)))) ||
      (image.roots !== undefined && (!Array.isArray(image.roots) || image.roots.some((d) => !goodDescriptor(d)))) ||
      (image.leftOut !== undefined &&
        (!Array.isArray(image.leftOut) || image.leftOut.some((d) => !goodDescriptor(d)))) ||
      (image.referrers !== undefined &&
        (!Array.isArray(image.referrers) ||
          image.referrers.some((r) =>
            !goodDescriptor(r) || !isDigest(r.subject) || (r.tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(r.tag))
          )))
    ) throw bad(what, `malformed image ${JSON.stringify(image?.name ?? null)}`);
  }
}

function goodDescriptor(d: { mediaType?: unknown; digest?: unknown; size?: unknown } | null | undefined): boolean {
  return !!d && typeof d.mediaType === "string" && isDigest(d.digest as string) && Number.isInteger(d.size);
}

function bad(what: string, reason: string): FormatError {
  return new FormatError(`Cannot read ${what}: ${reason}`, { ref: what });
}
