/**
 * Bundles into a registry: {@link pushBundle} pushes every image of an opened bundle (or of the volumes given)
 * under a prefix, each at its own repository path and tag, digests unchanged; a delta's left-out blobs are checked
 * at the target first.
 *
 * @module
 */
import { abortErrorOf, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { BundleImage } from "../oci/bundle_meta.ts";
import { registryPathOf, ServedNames } from "../oci/annotations.ts";
import { parsePrefix } from "../ref/image_list.ts";
import { formatReference, parseReference, type Reference } from "../ref/reference.ts";
import type { RegistryOptions } from "../ends/open.ts";
import { openRegistryStore } from "../ends/registry.ts";
import type { ReadableStore, StoreOptions } from "../ends/store.ts";
import { commit } from "./transfer.ts";
import { type CopyEvent, copyGraph } from "./copy_graph.ts";
import { copyReferrers, type ReferrersChoice } from "./referrers.ts";
import { Limiter } from "../stream/limiter.ts";
import { bundleReferrersOf } from "./bundle_plan.ts";

/** The repository path an image goes to under a prefix: `docker.io/library/nginx:1.27` → `library/nginx`. */
export function pathUnderPrefix(name: string): { repository: string; tag?: string; digest?: string } {
  const ref = parseReference(name);
  return { repository: ref.repository, tag: ref.tag, digest: ref.tag === undefined ? ref.digest : undefined };
}

/**
 * Options of {@link pushBundle}.
 *
 * @example
 * ```ts
 * const options: PushBundleOptions = { registry: { plainHttp: true }, concurrency: 3 };
 * ```
 */
export interface PushBundleOptions {
  /** Registry access for the destination. */
  registry?: RegistryOptions;
  /** Images pushed at once (default 3). */
  concurrency?: number;
  /** Blobs moved at once per image (default 6). */
  jobs?: number;
  signal?: AbortSignal;
  /** Copy progress of every image. */
  onEvent?: (event: CopyEvent) => void;
  /** Which referrers the bundle carries are pushed (default all; see {@link bundleReferrersOf}). */
  referrers?: ReferrersChoice;
}

/**
 * One image pushed by {@link pushBundle}.
 *
 * @example
 * ```ts
 * const { images } = await importBundle(["release/"], "127.0.0.1:5000/mirror");
 * const first: PushedBundleImage = images[0];
 * console.log(first.target, first.digest);
 * ```
 */
export interface PushedBundleImage {
  /** Its full name in the bundle. */
  name: string;
  /** Where it went: `127.0.0.1:5000/mirror/library/nginx:1.27`. */
  target: string;
  /** Its root digest, unchanged. */
  digest: string;
}

/**
 * Pushes `images` (each a whole graph in `store`) under `prefix` (`REGISTRY[/PATH]`), each at its own repository
 * path (`library/nginx`, `org/app`) and tag, digests unchanged, as `ferry mirror -d` lays them out; an image's tag
 * is written only after all of it arrived.
 *
 * @example
 * ```ts
 * const set = await openBundleSet(["release.tar"]);
 * await pushBundle(set.store, set.images, "127.0.0.1:5000");
 * await set.dispose();
 * ```
 */
export async function pushBundle(
  store: ReadableStore,
  images: BundleImage[],
  prefix: string,
  options: PushBundleOptions = {},
): Promise<PushedBundleImage[]> {
  const { registry, path } = parsePrefix(prefix);
  // Each image at its path under the prefix; one path from a second registry goes under its full name, as serve
  // serves it (quay.io/team/app beside ghcr.io's team/app); two images that would still share a tag are refused.
  const names = new ServedNames();
  const targets = new Map<BundleImage, Reference>();
  const byTarget = new Map<string, string>();
  for (const image of images) {
    const own = pathUnderPrefix(image.name);
    const repository = names.place(own.repository, registryPathOf(image.name));
    const ref: Reference = {
      registry,
      repository: path ? `${path}/${repository}` : repository,
      ...(own.tag !== undefined ? { tag: own.tag } : { digest: image.digest }),
    };
    const target = formatReference(ref);
    const other = byTarget.get(target);
    if (other !== undefined && other !== image.name) {
      throw new UsageError(
        `Cannot import ${other} and ${image.name} both to ${target}: one would overwrite the other; give one ` +
          "of them its own name with `target:` when writing the bundle (ferry export -f)",
      );
    }
    byTarget.set(target, image.name);
    targets.set(image, own.tag !== undefined ? ref : { ...ref, digest: undefined });
  }
  const targetOf = (image: BundleImage): Reference => targets.get(image)!;
  await checkDeltaBase(images, targetOf, options);
  const limit = new Limiter(options.concurrency ?? 3);
  const results: PushedBundleImage[] = [];
  const controller = new AbortController();
  const onAbort = () => controller.abort(abortErrorOf(options.signal!));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.all(images.map((image) =>
      limit.run(async () => {
        if (controller.signal.aborted) throw controller.signal.reason;
        const own = pathUnderPrefix(image.name);
        const ref = targetOf(image);
        const dst = openRegistryStore(ref, options.registry);
        // A delta's left-out blobs are read (should copyGraph ever need them) from the target itself.
        const src = image.leftOut?.length ? new DeltaSource(store, dst, image.leftOut) : store;
        const root: Descriptor = { mediaType: image.mediaType, digest: image.digest, size: image.size };
        const signal = controller.signal;
        const copyOptions = { concurrency: options.jobs, signal, onEvent: options.onEvent };
        const referrers = bundleReferrersOf(image, options.referrers);
        await commit(dst, signal, async () => {
          await copyGraph(src, dst, root, copyOptions);
          // Referrers (cosign tags, the fallback index) before the tag, as transferWithReferrers orders them.
          await copyReferrers(src, dst, referrers, copyOptions);
          if (signal.aborted) throw abortErrorOf(signal);
          if (own.tag !== undefined) await dst.tag(root, own.tag, { signal });
        });
        results.push({
          name: image.name,
          target: formatReference({ ...ref, ...(own.tag ? {} : { digest: image.digest }) }),
          digest: image.digest,
        });
      }).catch((err) => {
        if (!controller.signal.aborted) controller.abort(err);
        throw err;
      })
    ));
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return images.map((i) => results.find((r) => r.name === i.name)!);
}

/** Blobs checked at the target at once by the base guard. */
const GUARD_AT_ONCE = 8;

/**
 * The base guard of a delta: before anything is pushed, every blob a delta leaves out must be at the image's target
 * repository (HEAD), else a {@link UsageError} lists what is missing and nothing is pushed.
 */
async function checkDeltaBase(
  images: BundleImage[],
  targetOf: (image: BundleImage) => Reference,
  options: PushBundleOptions,
): Promise<void> {
  const limit = new Limiter(GUARD_AT_ONCE);
  const lacking: string[] = [];
  let checked = 0;
  await Promise.all(images.map(async (image) => {
    if (!image.leftOut?.length) return;
    const ref = targetOf(image);
    const dst = openRegistryStore(ref, options.registry);
    const where = formatReference({ registry: ref.registry, repository: ref.repository });
    await Promise.all(image.leftOut.map((blob) =>
      limit.run(async () => {
        checked++;
        if (!(await dst.exists(blob, { signal: options.signal }))) lacking.push(`${blob.digest} (${where})`);
      })
    ));
  }));
  if (lacking.length === 0) return;
  lacking.sort();
  const shown = lacking.slice(0, 10).join(", ") + (lacking.length > 10 ? `, and ${lacking.length - 10} more` : "");
  throw new UsageError(
    `Cannot import: the target lacks ${lacking.length} blob${lacking.length === 1 ? "" : "s"} the delta leaves out ` +
      `(of ${checked} checked): ${shown}; nothing was pushed. Import the full bundle, or take a new receipt of the ` +
      `target and export the delta again`,
  );
}

/**
 * A delta bundle's content for one image: everything from the bundle, and the blobs it leaves out from the target
 * (where the base guard found them), so a graph walk never needs them in the bundle.
 */
class DeltaSource implements ReadableStore {
  readonly ref: string;
  readonly #leftOut: Set<string>;
  constructor(readonly bundle: ReadableStore, readonly target: ReadableStore, leftOut: Descriptor[]) {
    this.ref = bundle.ref;
    this.#leftOut = new Set(leftOut.map((d) => d.digest));
  }

  resolve(reference: string, options?: StoreOptions): Promise<Descriptor> {
    return this.bundle.resolve(reference, options);
  }

  async fetch(desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    if (this.#leftOut.has(desc.digest) && !(await this.bundle.exists(desc, options))) {
      return await this.target.fetch(desc, options);
    }
    return await this.bundle.fetch(desc, options);
  }

  async exists(desc: Descriptor, options?: StoreOptions): Promise<boolean> {
    return this.#leftOut.has(desc.digest) || await this.bundle.exists(desc, options);
  }
}
