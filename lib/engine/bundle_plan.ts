/**
 * Bundles, the first step: {@link planBundle} resolves every source of a bundle (many images, every platform, their
 * referrers) and walks its graph, manifests read once and kept in memory, so lib/engine/bundle_write.ts can stream
 * each blob from its source once. {@link expandImageList} turns an image list (`-f images.yaml`) into requests.
 *
 * @module
 */
import { NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { childrenOf, isAttestation, type ParsedManifest, parseManifest } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { formatPlatform, parsePlatformList, platformOfConfig } from "../oci/platform.ts";
import type { BundleImage, BundleReferrer } from "../oci/bundle_meta.ts";
import type { ImageList } from "../ref/image_list.ts";
import { parseLocation } from "../ref/location.ts";
import { formatReference, parseReference, type Reference } from "../ref/reference.ts";
import type { RegistryOptions } from "../ends/open.ts";
import { openRegistryStore } from "../ends/registry.ts";
import type { ReadableStore } from "../ends/store.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import { selectSource } from "./source.ts";
import { discoverReferrers, type Referrer, type ReferrersChoice } from "./referrers.ts";
import { Limiter } from "../stream/limiter.ts";

/** Sources resolved and walked at once while planning. */
const PLAN_AT_ONCE = 6;

/**
 * One image to put in a bundle.
 *
 * @example
 * ```ts
 * const request: BundleRequest = { source: "127.0.0.1:5000/team/app:1.0", name: "ghcr.io/org/app", platforms: ["linux/amd64"] };
 * ```
 */
export interface BundleRequest {
  /** Where to read it: a registry reference, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`. */
  source: string;
  /** The repository to carry it under (`docker.io/library/nginx`, `ghcr.io/org/app`); default the source's. */
  name?: string;
  /** Platforms to keep; default all. */
  platforms?: string[];
}

/**
 * Options of {@link planBundle} and {@link expandImageList}.
 *
 * @example
 * ```ts
 * const options: PlanBundleOptions = { registry: { plainHttp: true }, signal: AbortSignal.timeout(60_000) };
 * ```
 */
export interface PlanBundleOptions {
  /** Registry access for the sources. */
  registry?: RegistryOptions;
  /** Copy non-distributable (foreign) layers too, which the sources must hold; left out by default. */
  allowNondistributable?: boolean;
  /**
   * Carry each image's referrers (signatures, attestations, SBOMs; see lib/engine/referrers.ts), digests preserved
   * (default true).
   */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
  signal?: AbortSignal;
}

/** One image of a plan: what bundle.json says of it, and where its content is. */
export interface PlannedImage {
  meta: BundleImage;
  store: ReadableStore;
  /** The image root first, then any extra roots (referrers). */
  roots: Descriptor[];
  /** The referrers among the roots, parents first. */
  referrers: Referrer[];
  /** Every descriptor of every root's graph, each once, children before parents (foreign layers left out). */
  graph: Descriptor[];
  /** The platform images of the root (an index's entries with a platform, or the one manifest). */
  platformImages: { desc: Descriptor; platform: Platform }[];
  /** Index entries that are not platform images (attestations, artifacts). */
  others: Descriptor[];
}

/**
 * A resolved bundle: every image's graph, read once. Dispose it when done (archive sources' spools).
 *
 * @example
 * ```ts
 * const plan: BundlePlan = await planBundle([{ source: "127.0.0.1:5000/app:1.0" }]);
 * try {
 *   console.log(plan.images.map((i) => `${i.name} ${i.digest}`));
 * } finally {
 *   await plan.dispose();
 * }
 * ```
 */
export interface BundlePlan {
  /** Each image as bundle.json will say it (without volumes). */
  images: BundleImage[];
  /** Bytes of every blob of every image, each digest once. */
  bytes: number;
  /** Non-distributable layers left out, each once. */
  skippedForeignLayers: Descriptor[];
  /** Releases what opening the sources took. */
  dispose(): Promise<void>;
  /** @internal the planned images, for `writeBundle` (lib/engine/bundle_write.ts). */
  readonly planned: readonly PlannedImage[];
  /** @internal every manifest's bytes by digest, read once. */
  readonly manifests: ReadonlyMap<string, Uint8Array>;
}

/**
 * Expands an image list (lib/ref/image_list.ts; a `ferry mirror -c` spec's sources) into requests: a `repository`
 * source becomes one request per tag its registry lists that the `tags` filters let through, in the registry's order.
 *
 * @example
 * ```ts
 * const list = parseImageList("sources:\n  - repository: 127.0.0.1:5000/team/app\n");
 * const requests = await expandImageList(list);
 * ```
 */
export async function expandImageList(list: ImageList, options: PlanBundleOptions = {}): Promise<BundleRequest[]> {
  const out: BundleRequest[] = [];
  for (const source of list.sources) {
    const platforms = source.platforms ?? list.platforms;
    const common = { ...(platforms ? { platforms } : {}), ...(source.target ? { name: source.target } : {}) };
    if (source.image !== undefined) {
      out.push({ source: source.image, ...common });
      continue;
    }
    const ref = parseReference(source.repository!);
    const tags = await openRegistryStore(ref, options.registry).listTags({ signal: options.signal });
    const allow = (source.tags?.allow ?? []).map((re) => new RegExp(re));
    const deny = (source.tags?.deny ?? []).map((re) => new RegExp(re));
    const kept = tags.filter((t) =>
      (allow.length === 0 || allow.some((re) => re.test(t))) && !deny.some((re) => re.test(t))
    );
    if (kept.length === 0) {
      throw new NotFoundError(
        `Cannot find a tag of ${source.repository} to bundle: ${
          tags.length === 0 ? "it has none" : `none of ${tags.length} passes the tag filters`
        }`,
        { ref: source.repository },
      );
    }
    for (const tag of kept) out.push({ source: formatReference({ ...ref, tag }), ...common });
  }
  return out;
}

/**
 * Resolves every request (narrowed to its platforms) and walks its graph: the images a bundle will hold, with
 * their full names (`docker.io/library/nginx:1.27`) and sizes. Two requests naming one image are one image; two
 * different images under one name are a {@link UsageError}.
 *
 * @example
 * ```ts
 * const plan = await planBundle([{ source: "127.0.0.1:5000/app:1.0" }, { source: "127.0.0.1:5000/db:16" }]);
 * await writeBundle(plan, { kind: "oci-archive", path: "release.tar" });
 * await plan.dispose();
 * ```
 */
export async function planBundle(requests: BundleRequest[], options: PlanBundleOptions = {}): Promise<BundlePlan> {
  if (requests.length === 0) throw new UsageError("Cannot bundle: no images named");
  const disposers: (() => Promise<void>)[] = [];
  const dispose = async () => void await Promise.all(disposers.map((d) => d().catch(() => {})));
  const manifests = new Map<string, Uint8Array>();
  const planned: PlannedImage[] = [];
  const skipped = new Map<string, Descriptor>();
  try {
    // Every source resolved and walked at once (a few at a time); the plan keeps the requests' order.
    const limit = new Limiter(PLAN_AT_ONCE);
    const resolved = await Promise.all(requests.map((request) =>
      limit.run(async () => {
        const location = parseLocation(request.source);
        parsePlatformList(request.platforms); // refused before anything is read
        const selected = await selectSource(location, request.platforms, {
          registry: options.registry,
          signal: options.signal,
        });
        disposers.push(selected.dispose);
        const name = bundleName(request, location, selected.repository, selected.tag);
        const referrers = options.referrers === false ? [] : await discoverReferrers(selected.store, selected.root, {
          signal: options.signal,
          artifactTypes: options.artifactTypes,
        });
        const roots = [selected.root, ...referrers.map((r) => r.desc)];
        const image = await walk(selected.store, roots, manifests, options, skipped);
        return { request, selected, name, image, roots, referrers };
      })
    ));
    for (const { request, selected, name, image, roots, referrers } of resolved) {
      const root = selected.root;
      const known = planned.find((p) => p.meta.name === name);
      if (known) {
        if (known.meta.digest === root.digest) continue;
        throw new UsageError(
          `Cannot bundle two images as ${name}: ${known.meta.source} (${known.meta.digest}) and ${request.source} ` +
            `(${root.digest}); give one of them another name (target: in the list)`,
        );
      }
      const bytes = image.graph.reduce((n, d) => n + d.size, 0);
      planned.push({
        ...image,
        store: selected.store,
        roots,
        referrers,
        meta: {
          name,
          source: request.source,
          mediaType: root.mediaType,
          digest: root.digest,
          size: root.size,
          ...(referrers.length > 0
            ? { roots: referrers.map((r) => plainReferrer(r.desc)), referrers: referrers.map(bundleReferrer) }
            : {}),
          platforms: image.platformImages.map((p) => formatPlatform(p.platform)),
          bytes,
        },
      });
    }
  } catch (err) {
    await dispose();
    throw err;
  }
  const sizes = new Map<string, number>();
  for (const p of planned) for (const d of p.graph) sizes.set(d.digest, d.size);
  return {
    images: planned.map((p) => p.meta),
    bytes: [...sizes.values()].reduce((a, b) => a + b, 0),
    skippedForeignLayers: [...skipped.values()],
    planned,
    manifests,
    dispose,
  };
}

/** The full name an image is carried under: `docker.io/library/nginx:1.27`, `127.0.0.1:5000/app@sha256:…`. */
function bundleName(
  request: BundleRequest,
  location: ReturnType<typeof parseLocation>,
  repository: string,
  tag: string | undefined,
): string {
  const ref: Reference = location.kind === "registry" ? location.reference : parseReference(repository);
  const base = request.name !== undefined ? parseReference(request.name) : ref;
  const digest = location.kind === "registry" ? location.reference.digest : undefined;
  const t = tag ?? (location.kind === "registry" ? location.reference.tag : undefined);
  return formatReference({
    registry: base.registry,
    repository: base.repository,
    ...(t !== undefined ? { tag: t } : digest !== undefined ? { digest } : { tag: "latest" }),
  });
}

/** Walks the graphs of `roots`: every descriptor once, children first; manifests kept in `manifests`. */
async function walk(
  store: ReadableStore,
  roots: Descriptor[],
  manifests: Map<string, Uint8Array>,
  options: PlanBundleOptions,
  skipped: Map<string, Descriptor>,
): Promise<Pick<PlannedImage, "graph" | "platformImages" | "others">> {
  const graph: Descriptor[] = [];
  const seen = new Set<string>();
  const read = async (desc: Descriptor): Promise<ParsedManifest> => {
    let bytes = manifests.get(desc.digest);
    if (!bytes) {
      bytes = await readLimited(await store.fetch(desc, { signal: options.signal }), MAX_MANIFEST_BYTES);
      verifyBytes(desc, bytes, store.ref);
      manifests.set(desc.digest, bytes);
    }
    return parseManifest(bytes, desc.mediaType);
  };
  const visit = async (desc: Descriptor): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    if (isNondistributable(desc.mediaType) && !options.allowNondistributable) {
      skipped.set(desc.digest, desc);
      return;
    }
    if (isManifest(desc.mediaType)) {
      for (const child of childrenOf(await read(desc))) await visit(child);
    }
    graph.push(plain(desc));
  };
  // Every manifest fetched at once first (an index's children in parallel); the walk below reads them from memory.
  const fetched = new Set<string>();
  const prefetch = async (desc: Descriptor): Promise<void> => {
    if (!isManifest(desc.mediaType) || fetched.has(desc.digest)) return;
    if (isNondistributable(desc.mediaType)) return;
    fetched.add(desc.digest);
    const parsed = await read(desc);
    await Promise.all(childrenOf(parsed).map(prefetch));
  };
  await Promise.all(roots.map(prefetch));
  for (const root of roots) await visit(root);
  const top = await read(roots[0]);
  const platformImages: PlannedImage["platformImages"] = [];
  const others: Descriptor[] = [];
  if (top.kind === "index") {
    for (const entry of top.index.manifests) {
      if (entry.platform?.os && entry.platform.architecture && !isAttestation(entry) && isManifest(entry.mediaType)) {
        platformImages.push({ desc: entry, platform: entry.platform });
      } else others.push(entry);
    }
  } else {
    const config = manifests.get(top.manifest.config.digest) ??
      await readLimited(await store.fetch(top.manifest.config, { signal: options.signal }), MAX_MANIFEST_BYTES);
    verifyBytes(top.manifest.config, config, store.ref);
    let platform: Platform | undefined;
    try {
      platform = platformOfConfig(JSON.parse(new TextDecoder().decode(config)));
    } catch { /* an artifact's config: no platform */ }
    if (platform) platformImages.push({ desc: roots[0], platform });
  }
  return { graph, platformImages, others };
}

/** A descriptor as bundle.json lists it: media type, digest and size only. */
export function plain(desc: Descriptor): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}

function plainReferrer(desc: Descriptor): Descriptor {
  return { ...plain(desc), ...(desc.artifactType ? { artifactType: desc.artifactType } : {}) };
}

/** A referrer as bundle.json records it. */
function bundleReferrer(r: Referrer): BundleReferrer {
  return {
    ...plainReferrer(r.desc),
    subject: r.subject,
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
  };
}

/**
 * The referrers bundle.json records for `image`, as copyReferrers takes them: all; none (`false`); or those of
 * `artifactTypes` and, recursively, what refers to them (as discovery chooses them at a registry).
 */
export function bundleReferrersOf(image: BundleImage, choice: ReferrersChoice = {}): Referrer[] {
  if (choice === false) return [];
  const all = image.referrers ?? [];
  const types = choice.artifactTypes?.length ? choice.artifactTypes : undefined;
  const kept = new Set<string>();
  const referrer = new Set(all.map((r) => r.digest));
  for (const r of all) {
    // Parents come first: what refers to a kept referrer is kept; a referrer of the image, if its type is chosen.
    const chosen = r.artifactType !== undefined && types?.includes(r.artifactType);
    if (!types || kept.has(r.subject) || (!referrer.has(r.subject) && chosen)) kept.add(r.digest);
  }
  return all.filter((r) => kept.has(r.digest)).map((r) => ({
    desc: plainReferrer(r),
    subject: r.subject,
    ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
  }));
}
