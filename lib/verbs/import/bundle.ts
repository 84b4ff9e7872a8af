/**
 * `ferry import BUNDLE|VOLUMES... REGISTRY[/PREFIX]`: every image a bundle (or the volumes given of one) holds
 * whole, pushed under its own repository path and tag, digests unchanged; what the volumes given cannot make
 * whole is named with the volumes it needs.
 *
 * @module
 */
import { PartialError, UsageError } from "../../errors.ts";
import type { CopyEvent } from "../../engine/copy_graph.ts";
import { pushBundle, type PushedBundleImage } from "../../engine/bundle_push.ts";
import { type BundleSetImage, isBundle, openBundleSet } from "../../ends/bundle_set.ts";
import { parsePrefix } from "../../ref/image_list.ts";
import type { RegistryOptions } from "../../remote/client.ts";

/**
 * Options of {@link importBundle}.
 *
 * @example
 * ```ts
 * const options: ImportBundleOptions = { destination: { plainHttp: true }, concurrency: 3 };
 * await importBundle(["release/"], "127.0.0.1:5000/mirror", options);
 * ```
 */
export interface ImportBundleOptions {
  /** Registry access for the destination. */
  destination?: RegistryOptions;
  /** Images pushed at once (default 3). */
  concurrency?: number;
  /** Blobs moved at once per image (default 6). */
  jobs?: number;
  /** Skip hashing each volume against volumes.json before reading it (blobs are verified either way). */
  noChecksum?: boolean;
  /** Push the referrers the bundle carries (signatures, attestations, SBOMs; default true). */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
  /** Aborts the import; an image is tagged only after all of it arrived. */
  signal?: AbortSignal;
  /** Copy progress of every image. */
  onEvent?: (event: CopyEvent) => void;
}

/**
 * What {@link importBundle} did.
 *
 * @example
 * ```ts
 * const result: ImportBundleResult = await importBundle(["release/volume-2.tar"], "127.0.0.1:5000");
 * for (const m of result.missing) console.log(m.name, "needs", m.missingFiles.join(", "));
 * ```
 */
export interface ImportBundleResult {
  /** The prefix pushed under. */
  destination: string;
  /** The set's volumes given (1 for a bundle without volumes), and how many it has. */
  volumes: { present: number[]; count: number };
  /** Every image pushed: its name in the bundle, where it went, its digest. */
  images: PushedBundleImage[];
  /** Images of the set the inputs do not hold whole, with the volumes (and files) they need. */
  missing: Pick<BundleSetImage, "name" | "missingVolumes" | "missingFiles">[];
}

/**
 * Whether any of `paths` is a ferry bundle (then `ferry import` pushes each image under a prefix).
 *
 * @example
 * ```ts
 * if (await isBundleInput(["release.tar"])) await importBundle(["release.tar"], "127.0.0.1:5000");
 * ```
 */
export async function isBundleInput(paths: string[]): Promise<boolean> {
  for (const path of paths) if (await isBundle(path)) return true;
  return false;
}

/**
 * Pushes every image the bundle inputs hold whole to `dst` (`REGISTRY[/PREFIX]`): `docker.io/library/nginx:1.27`
 * goes to `DST/library/nginx:1.27`, as `ferry mirror -d` lays out. Images the inputs hold only part of are
 * pushed nothing of; once the others are in, a {@link PartialError} names each with the volumes it needs (the
 * result is on the error's `result`).
 *
 * @example
 * ```ts
 * const result = await importBundle(["/media/dvd2/volume-2.tar", "/media/dvd1/volume-1.tar"], "registry.local:5000");
 * console.log(result.images.map((i) => i.target));
 * ```
 */
export async function importBundle(
  paths: string[],
  dst: string,
  options: ImportBundleOptions = {},
): Promise<ImportBundleResult> {
  const destination = dst.replace(/^docker:\/\//, "").replace(/\/+$/, "");
  try {
    parsePrefix(destination);
  } catch {
    throw new UsageError(
      `Cannot import a bundle into "${dst}": name a registry, optionally with a path (registry.example.com/mirror); ` +
        `each image keeps its own repository path and tag under it`,
    );
  }
  const set = await openBundleSet(paths, { noChecksum: options.noChecksum, signal: options.signal });
  try {
    const complete = set.images.filter((i) => i.complete);
    const images = await pushBundle(set.store, complete, destination, {
      registry: options.destination,
      concurrency: options.concurrency,
      jobs: options.jobs,
      signal: options.signal,
      onEvent: options.onEvent,
      referrers: options.referrers === false ? false : { artifactTypes: options.artifactTypes },
    });
    const result: ImportBundleResult = {
      destination,
      volumes: { present: set.present, count: set.count },
      images,
      missing: set.images.filter((i) => !i.complete).map(({ name, missingVolumes, missingFiles }) => ({
        name,
        missingVolumes,
        missingFiles,
      })),
    };
    if (result.missing.length > 0) {
      const error = new PartialError(
        `Cannot import ${result.missing.length} of ${set.images.length} images: ${
          result.missing.map((m) =>
            `${m.name} needs volume ${m.missingVolumes.join(", ")} (${m.missingFiles.join(", ")})`
          ).join("; ")
        }; the ${images.length} others were imported`,
        result.missing.map((m) => ({ ref: m.name, error: `needs ${m.missingFiles.join(", ")}` })),
      );
      Object.assign(error, { result });
      throw error;
    }
    return result;
  } finally {
    await set.dispose();
  }
}
