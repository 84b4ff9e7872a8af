/**
 * `ferry ls BUNDLE|VOLUME...`: a bundle's images (name, digest, platforms, the volumes each needs, whether the
 * paths given hold it whole).
 *
 * @module
 */
import { type BundleSetImage, isBundle, openBundleSet } from "../ends/bundle_set.ts";

/**
 * What {@link listBundle} found.
 *
 * @example
 * ```ts
 * const listing: BundleListing = await listBundle(["release/"]);
 * console.log(listing.count, listing.images.map((i) => i.name));
 * ```
 */
export interface BundleListing {
  /** Volumes in the set (1 without volumes) and those given. */
  count: number;
  /** The volumes given (numbers). */
  present: number[];
  /** Every image of the set, whole in the paths given or not. */
  images: BundleSetImage[];
}

/**
 * Whether `path` is a ferry bundle (an archive or layout with bundle.json, a directory of volumes, volumes.json).
 *
 * @example
 * ```ts
 * if (await isBundlePath("release.tar")) console.log((await listBundle(["release.tar"])).images);
 * ```
 */
export function isBundlePath(path: string): Promise<boolean> {
  return isBundle(path);
}

/**
 * Lists the images of the bundle (or the volumes of one) at `paths`; each volume is checked against volumes.json
 * when it is there.
 *
 * @example
 * ```ts
 * for (const image of (await listBundle(["release/"])).images) console.log(image.name, image.platforms, image.complete);
 * ```
 */
export async function listBundle(paths: string[], options: { signal?: AbortSignal } = {}): Promise<BundleListing> {
  const set = await openBundleSet(paths, { signal: options.signal });
  try {
    return { count: set.count, present: set.present, images: set.images };
  } finally {
    await set.dispose();
  }
}
