/**
 * Packing a bundle into volumes (DVDs, Blu-rays, a FAT32 stick's 4 GiB files): each volume is one OCI archive that
 * stands alone. Images are packed whole, each into the volume where it adds the fewest bytes (first of the best,
 * so images that share base layers land together); a blob is placed once in each volume, and once in the set
 * where that keeps every image whole in one volume. An image larger than a volume is split at blob boundaries
 * over consecutive volumes, which it then needs together. Sizes are tar sizes (512-byte headers and padding) plus
 * a reserve for the metadata files, so a volume never exceeds the limit.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** Named volume sizes (bytes of the medium a file must fit; discs as burnt with a UDF file system). */
export const VOLUME_SIZES: Readonly<Record<string, number>> = {
  /** A single-layer DVD±R: 4.7 GB less the file system's share. */
  dvd: 4_700_000_000 - 16 * 1024 * 1024,
  /** A dual-layer DVD: 8.5 GB. */
  dvd9: 8_540_000_000 - 16 * 1024 * 1024,
  /** A single-layer Blu-ray: 25 GB. */
  bd25: 25_025_314_816 - 64 * 1024 * 1024,
  /** A dual-layer Blu-ray: 50 GB. */
  bd50: 50_050_629_632 - 64 * 1024 * 1024,
  /** The largest file FAT32 holds. */
  fat32: 4 * 1024 * 1024 * 1024 - 1,
};

const UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/**
 * Parses `--volume-size`: a name of {@link VOLUME_SIZES} (`dvd`, `bd25`, …), or bytes with an optional unit
 * (`4G`, `700M`, `4GiB`: powers of 1024; `4GB`: powers of 1000; `123456789`).
 *
 * @example
 * ```ts
 * parseVolumeSize("4G"); // 4294967296
 * parseVolumeSize("dvd"); // 4683222784
 * ```
 */
export function parseVolumeSize(text: string): number {
  const named = VOLUME_SIZES[text.toLowerCase()];
  if (named !== undefined) return named;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  const unit = m ? `${m[2].toLowerCase()}${m[3] && !/^i/i.test(m[3]) ? "b" : ""}` : "";
  const bytes = m ? Math.floor(Number(m[1]) * (UNITS[unit] ?? NaN)) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(
      `Cannot parse volume size "${text}": expected ${Object.keys(VOLUME_SIZES).join(", ")}, or bytes (4G, 700M, 4GB)`,
    );
  }
  return bytes;
}

/**
 * One blob (or manifest) of an image, as the packer weighs it.
 *
 * @example
 * ```ts
 * const blob: PackBlob = { digest: "sha256:…", size: 1024, manifest: false };
 * ```
 */
export interface PackBlob {
  digest: string;
  size: number;
  /** A manifest or index: small, and written with the image's last piece. */
  manifest: boolean;
}

/**
 * One image to pack: its name and every blob of its graph, each once (children before parents).
 *
 * @example
 * ```ts
 * const item: PackImage = { name: "docker.io/library/nginx:1.27", blobs: [] };
 * ```
 */
export interface PackImage {
  name: string;
  blobs: PackBlob[];
}

/**
 * One volume of a packing: the blobs it holds, in write order, and the images whole in it.
 *
 * @example
 * ```ts
 * const { volumes } = packVolumes(images, 4 * 1024 ** 3);
 * const first: PackedVolume = volumes[0];
 * ```
 */
export interface PackedVolume {
  /** 1-based. */
  number: number;
  /** Every blob written to this volume, each once, in write order (an image's children before it). */
  blobs: PackBlob[];
  /** Tar bytes of the blobs plus the metadata reserve. */
  bytes: number;
  /** Images every blob of which is in this volume. */
  images: string[];
}

/**
 * What {@link packVolumes} decided.
 *
 * @example
 * ```ts
 * const packing: Packing = packVolumes(images, parseVolumeSize("dvd"));
 * console.log(packing.volumes.length, packing.images.get("docker.io/library/nginx:1.27")); // 3 [2]
 * ```
 */
export interface Packing {
  volumes: PackedVolume[];
  /** For each image, the volumes it needs (one, unless it was split). */
  images: Map<string, number[]>;
}

/** Bytes a blob takes in a tar: its header, and its data padded to 512. */
export function tarBytes(size: number): number {
  return 512 + Math.ceil(size / 512) * 512;
}

/**
 * Metadata a manifest adds to a volume beyond its own entry: its index.json entry with names, and its
 * manifest.json item and repositories line (at most one name and a few layer paths each).
 */
const PER_MANIFEST = 2048;
/** A layer's path in manifest.json. */
const PER_BLOB = 96;

function cost(blob: PackBlob): number {
  return tarBytes(blob.size) + (blob.manifest ? PER_MANIFEST : PER_BLOB);
}

/**
 * Packs `images` into volumes of at most `limit` bytes, `reserve` of each kept for the fixed metadata (the tar's
 * end, oci-layout, bundle.json, headers). Throws a {@link UsageError} when one blob cannot fit any volume.
 *
 * @example
 * ```ts
 * const packing = packVolumes([{ name: "a:1", blobs: [{ digest: "sha256:…", size: 10, manifest: false }] }], 1e6);
 * packing.volumes[0].images; // ["a:1"]
 * ```
 */
export function packVolumes(images: PackImage[], limit: number, reserve = 64 * 1024): Packing {
  const capacity = limit - reserve;
  if (capacity <= 0) {
    throw new UsageError(
      `Cannot split into volumes of ${limit} bytes: a volume needs at least ${reserve + 1} (its metadata)`,
    );
  }
  interface Open {
    volume: PackedVolume;
    have: Set<string>;
    free: number;
  }
  const open: Open[] = [];
  const placed = new Map<string, number[]>();
  const newVolume = (): Open => {
    const v: Open = {
      volume: { number: open.length + 1, blobs: [], bytes: reserve, images: [] },
      have: new Set(),
      free: capacity,
    };
    open.push(v);
    return v;
  };
  const add = (v: Open, blob: PackBlob) => {
    if (v.have.has(blob.digest)) return;
    v.have.add(blob.digest);
    v.volume.blobs.push(blob);
    v.free -= cost(blob);
    v.volume.bytes += cost(blob);
  };
  const added = (v: Open, blobs: PackBlob[]) => blobs.reduce((n, b) => n + (v.have.has(b.digest) ? 0 : cost(b)), 0);
  for (const image of images) {
    const blobs = unique(image.blobs);
    for (const b of blobs) {
      if (cost(b) > capacity) {
        throw new UsageError(
          `Cannot split ${image.name} into volumes of ${limit} bytes: blob ${b.digest} alone is ${b.size} bytes; ` +
            `volumes split at blob boundaries, so choose a larger --volume-size`,
        );
      }
    }
    let best: Open | undefined;
    let bestCost = Infinity;
    for (const v of open) {
      const c = added(v, blobs);
      if (c <= v.free && c < bestCost) [best, bestCost] = [v, c];
    }
    const total = blobs.reduce((n, b) => n + cost(b), 0);
    if (!best && total <= capacity) best = newVolume();
    if (best) {
      for (const b of blobs) add(best, b);
      best.volume.images.push(image.name);
      placed.set(image.name, [best.volume.number]);
      continue;
    }
    // Larger than a volume: its blobs over fresh consecutive volumes, the manifests with the last piece.
    const span: Open[] = [newVolume()];
    const data = blobs.filter((b) => !b.manifest);
    const manifests = blobs.filter((b) => b.manifest);
    const manifestCost = manifests.reduce((n, b) => n + cost(b), 0);
    data.forEach((b, i) => {
      if (span.some((v) => v.have.has(b.digest))) return;
      let v = span.at(-1)!;
      // The last blob must leave room for the manifests too.
      const need = cost(b) + (i === data.length - 1 ? manifestCost : 0);
      if (need > v.free) span.push(v = newVolume());
      add(v, b);
    });
    let last = span.at(-1)!;
    if (manifestCost > last.free) span.push(last = newVolume());
    for (const b of manifests) add(last, b);
    placed.set(image.name, span.map((v) => v.volume.number));
  }
  return { volumes: open.map((v) => v.volume), images: placed };
}

function unique(blobs: PackBlob[]): PackBlob[] {
  const seen = new Set<string>();
  return blobs.filter((b) => !seen.has(b.digest) && (seen.add(b.digest), true));
}
