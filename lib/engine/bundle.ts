/**
 * Bundles: many images (every platform, their referrers) in one OCI archive or layout, each blob once and each
 * image named by its full reference in index.json; or one docker-load archive of them all (per-arch RepoTags,
 * shared layers once); or split into volumes ({@link packVolumes}), each a complete OCI archive of its own, with
 * `bundle.json` inside and `volumes.json` beside (see lib/oci/bundle_meta.ts). Two steps: {@link planBundle}
 * resolves every source and walks its graph (manifests read once, kept in memory); {@link writeBundle} streams
 * the blobs into the outputs, each read from its source once (a blob that two volumes need is spooled).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { abortErrorOf, FormatError, NotFoundError, UnsupportedError, UsageError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { childrenOf, isAttestation, type ParsedManifest, parseManifest } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { formatPlatform, parsePlatformList, platformLabel, platformOfConfig } from "../oci/platform.ts";
import {
  BUNDLE_FILE,
  BUNDLE_MEDIA_TYPE,
  type BundleImage,
  type BundleMeta,
  type BundleReferrer,
  VOLUMES_FILE,
  VOLUMES_MEDIA_TYPE,
  type VolumesMeta,
} from "../oci/bundle_meta.ts";
import {
  CONTAINERD_NAME,
  containerdName,
  FERRY_REPOSITORY,
  registryPathOf,
  ServedNames,
  SOURCE_INDEX,
  SOURCE_INDEX_NAME,
} from "../oci/annotations.ts";
import { type ImageList, parsePrefix } from "../ref/image_list.ts";
import { parseLocation } from "../ref/location.ts";
import { formatReference, parseReference, type Reference } from "../ref/reference.ts";
import { checkRepoTag, DEFAULT_EXPORT_REPO_TAG, parseTagTemplate } from "../ref/tag_template.ts";
import type { OpenOptions } from "../ends/open.ts";
/** Registry access (credentials, plain HTTP, TLS, retries), as lib/remote/client.ts takes it. */
type RegistryOptions = NonNullable<OpenOptions["registry"]>;
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { openRegistryStore } from "../ends/registry.ts";
import { SpoolingStore } from "../ends/spooling.ts";
import type { ReadableStore, StoreOptions } from "../ends/store.ts";
import { fileErrorOf, writeFileAtomic } from "../stream/files.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { verifyBytes, verifyStream } from "../stream/verify.ts";
import type { ExportEvent } from "./platform_files.ts";
import { selectSource } from "./source.ts";
import { commit } from "./transfer.ts";
import { type CopyEvent, copyGraph } from "./copy_graph.ts";
import { copyReferrers, discoverReferrers, type Referrer, type ReferrersChoice } from "./referrers.ts";
import { movedRepositories, repositoryOfName } from "../oci/referrers.ts";
import { Limiter } from "../stream/limiter.ts";
import { packVolumes, tarBytes } from "./volumes.ts";
import type { Receipt } from "./receipt.ts";

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
interface PlannedImage {
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
  /** @internal the planned images, for {@link writeBundle}. */
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

function plain(desc: Descriptor): Descriptor {
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

/**
 * Where {@link writeBundle} writes: one OCI archive, an OCI layout directory, one docker-load archive (also an OCI
 * archive), or volumes of at most `size` bytes in `dir` (`volume-1.tar` …, and `volumes.json`).
 *
 * @example
 * ```ts
 * const output: BundleOutput = { kind: "volumes", dir: "release", size: parseVolumeSize("dvd") };
 * ```
 */
export type BundleOutput =
  | { kind: "oci-archive"; path: string; gzipLevel?: number }
  | { kind: "oci"; dir: string }
  | { kind: "docker"; path: string; gzipLevel?: number; tagTemplate?: string }
  | { kind: "volumes"; dir: string; size: number };

/**
 * Options of {@link writeBundle}.
 *
 * @example
 * ```ts
 * const options: WriteBundleOptions = { onEvent: (e) => e.type === "done" && console.log(e.path, e.size) };
 * ```
 */
export interface WriteBundleOptions {
  /** Blobs fetched ahead while one is written (default 6). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Progress of each file written (label: the file's name). */
  onEvent?: (event: ExportEvent) => void;
  /**
   * A delta: leave out every blob this receipt of the target lists (same digest and size); manifests are always
   * written. bundle.json records the receipt's sha256 and each image's blobs left out.
   */
  since?: Receipt;
}

/**
 * One file {@link writeBundle} wrote.
 *
 * @example
 * ```ts
 * const file: BundleFile = { path: "release/volume-1.tar", size: 4_000_000_000, sha256: "sha256:…", volume: 1 };
 * ```
 */
export interface BundleFile {
  /** Path of the file. */
  path: string;
  /** Bytes in the file. */
  size: number;
  /** `sha256:<hex>` of the whole file. */
  sha256: string;
  /** Its volume number, when split. */
  volume?: number;
}

/**
 * What {@link writeBundle} wrote.
 *
 * @example
 * ```ts
 * const result: WriteBundleResult = await writeBundle(plan, { kind: "oci-archive", path: "release.tar" });
 * for (const f of result.files) console.log(f.path, f.size, f.sha256);
 * ```
 */
export interface WriteBundleResult {
  /** Every file written (one archive, or each volume), with size and sha256; none for a layout directory. */
  files: BundleFile[];
  /** The images as bundle.json has them (with their volumes, when split). */
  images: BundleImage[];
  /** A layout directory written. */
  layout?: string;
  /** With volumes: volumes.json's path and content. */
  volumes?: { path: string; meta: VolumesMeta };
  /** A delta (`since`): what it leaves out and what it writes. */
  delta?: DeltaSummary;
}

/**
 * What a delta bundle saves: the blobs it leaves out (the target has them) against the full bundle.
 *
 * @example
 * ```ts
 * const d: DeltaSummary = { since: "sha256:…", leftOut: 12, leftOutBytes: 80_000_000, bytes: 3_000_000, fullBytes: 83_000_000 };
 * ```
 */
export interface DeltaSummary {
  /** The receipt's sha256. */
  since: string;
  /** Blobs left out (each once). */
  leftOut: number;
  /** Their bytes. */
  leftOutBytes: number;
  /** Bytes of the blobs and manifests the delta holds. */
  bytes: number;
  /** Bytes the full bundle would hold. */
  fullBytes: number;
}

/** One output file (or directory) to write: its blobs in order and the images whole in it. */
interface Part {
  label: string;
  blobs: Descriptor[];
  images: PlannedImage[];
  /** Manifests written as blobs but not listed (pieces of an image split over volumes). */
  carried: Set<string>;
  volume?: number;
}

/**
 * Writes a planned bundle to `output`, every blob read from its source once. On failure nothing is left under a
 * final name (files written so far are removed) and the first error is thrown.
 *
 * @example
 * ```ts
 * const plan = await planBundle([{ source: "127.0.0.1:5000/app:1.0" }, { source: "127.0.0.1:5000/db:16" }]);
 * try {
 *   const { files } = await writeBundle(plan, { kind: "volumes", dir: "release", size: 700 * 1024 * 1024 });
 *   console.log(files.map((f) => f.path)); // ["release/volume-1.tar", "release/volume-2.tar"]
 * } finally {
 *   await plan.dispose();
 * }
 * ```
 */
export async function writeBundle(
  plan: BundlePlan,
  output: BundleOutput,
  options: WriteBundleOptions = {},
): Promise<WriteBundleResult> {
  if (options.signal?.aborted) throw abortErrorOf(options.signal);
  const format = output.kind === "docker" ? "docker" : "oci";
  const since = options.since;
  if (since && output.kind === "docker") {
    throw new UsageError(
      "Cannot write a delta (--since) as a docker-load archive: docker load needs every layer; use --format oci-archive",
    );
  }
  // A delta: each image's graph without the blobs the target holds (manifests are always carried).
  const held = new Map((since?.blobs ?? []).map((b) => [b.digest, b.size]));
  const leftOutOf = (p: PlannedImage) =>
    p.graph.filter((d) => !isManifest(d.mediaType) && held.get(d.digest) === d.size);
  const planned: PlannedImage[] = plan.planned.map((p) => {
    if (!since) return p;
    const out = new Set(leftOutOf(p).map((d) => d.digest));
    return {
      ...p,
      graph: p.graph.filter((d) => !out.has(d.digest)),
      meta: { ...p.meta, leftOut: p.graph.filter((d) => out.has(d.digest)).map(plain) },
    };
  });
  const id = bundleId(plan, output, since?.sha256);
  const servedAs = movedRepositories(planned.map((p) => p.meta.name));
  let images: BundleImage[] = planned.map((p) => p.meta);
  let parts: Part[];
  let files: string[] = [];
  if (output.kind === "volumes") {
    const packing = packVolumes(
      planned.map((p) => ({
        name: p.meta.name,
        blobs: p.graph.map((d) => ({ digest: d.digest, size: d.size, manifest: isManifest(d.mediaType) })),
      })),
      output.size,
      metadataReserve(planned.map((p) => p.meta)),
    );
    const width = String(packing.volumes.length).length;
    files = packing.volumes.map((v) => `volume-${String(v.number).padStart(width, "0")}.tar`);
    images = planned.map((p) => ({ ...p.meta, volumes: packing.images.get(p.meta.name)! }));
    const descs = new Map(planned.flatMap((p) => p.graph.map((d) => [d.digest, d] as const)));
    parts = packing.volumes.map((v) => {
      const whole = planned.filter((p) => v.images.includes(p.meta.name));
      const listed = new Set(whole.flatMap((p) => p.graph.map((d) => d.digest)));
      return {
        label: files[v.number - 1],
        blobs: v.blobs.map((b) => descs.get(b.digest)!),
        images: whole,
        carried: new Set(v.blobs.filter((b) => b.manifest && !listed.has(b.digest)).map((b) => b.digest)),
        volume: v.number,
      };
    });
  } else {
    const seen = new Set<string>();
    const blobs = planned.flatMap((p) => p.graph).filter((d) => !seen.has(d.digest) && (seen.add(d.digest), true));
    const label = output.kind === "oci" ? output.dir : basename(output.path);
    const carried = new Set<string>();
    if (output.kind === "docker") {
      checkDockerLoadable(plan);
      // Indexes and attestations travel unlisted; each platform image is listed with its RepoTags.
      for (const p of planned) {
        if (p.platformImages.length === 0) {
          throw new UnsupportedError(
            `Cannot put ${p.meta.name} in a docker-load archive: it has no platform image; use --format oci-archive`,
          );
        }
      }
      const listed = new Set(planned.flatMap((p) => p.platformImages.map((i) => i.desc.digest)));
      for (const d of blobs) if (isManifest(d.mediaType) && !listed.has(d.digest)) carried.add(d.digest);
    }
    parts = [{ label, blobs, images: [...planned], carried }];
  }
  const dir = output.kind === "volumes" ? output.dir : output.kind === "oci" ? output.dir : dirOf(output.path);
  await mkdir(dir, { recursive: true }).catch((err) => {
    throw fileErrorOf(err, "create", dir);
  });
  // A blob two volumes need is read from its source once, into a spool in the output directory.
  const source = new BundleSource(planned, plan.manifests);
  const spool = new SpoolingStore(source, () =>
    mkdtemp(join(dir, ".ferry-tmp-")).catch((err) => {
      throw fileErrorOf(err, "create a temp directory in", dir);
    }));
  for (const part of parts) spool.share(part.blobs.filter((d) => !isManifest(d.mediaType)));
  const written: (ArchiveWriter | OciLayoutStore)[] = [];
  const out: BundleFile[] = [];
  try {
    const writers = parts.map((part) => {
      const meta: BundleMeta = {
        mediaType: BUNDLE_MEDIA_TYPE,
        id,
        format,
        images,
        ...(part.volume !== undefined ? { volume: { number: part.volume, count: parts.length, files } } : {}),
      };
      if (since) meta.since = since.sha256;
      return { part, meta };
    });
    for (const { part } of writers) {
      options.onEvent?.({ type: "queued", label: part.label, path: pathOf(output, part), total: sum(part.blobs) });
    }
    for (const { part, meta } of writers) {
      const writer = output.kind === "oci"
        ? await OciLayoutStore.open(output.dir, { create: true })
        : new ArchiveWriter(pathOf(output, part), {
          gzipLevel: output.kind === "volumes" ? false : output.gzipLevel ?? false,
          fullNames: true,
        });
      written.push(writer);
      await writePart(spool, writer, part, meta, output, options, servedAs);
      if (writer instanceof ArchiveWriter) {
        const file = writer.file!;
        if (output.kind === "volumes" && file.size > output.size) {
          throw new FormatError(
            `Cannot keep ${file.path} within ${output.size} bytes: it came to ${file.size}; choose a larger --volume-size`,
            { ref: file.path },
          );
        }
        out.push({
          path: file.path,
          size: file.size,
          sha256: file.sha256,
          ...(part.volume !== undefined ? { volume: part.volume } : {}),
        });
      }
    }
    let volumes: WriteBundleResult["volumes"];
    if (output.kind === "volumes") {
      const meta: VolumesMeta = {
        mediaType: VOLUMES_MEDIA_TYPE,
        id,
        format,
        volumeSize: output.size,
        volumes: parts.map((part, i) => ({
          number: part.volume!,
          file: files[i],
          size: out[i].size,
          sha256: out[i].sha256,
          images: part.images.map((p) => p.meta.name),
        })),
        images,
      };
      const path = join(output.dir, VOLUMES_FILE);
      await writeFileAtomic(path, JSON.stringify(meta, null, 2) + "\n").catch((err) => {
        throw fileErrorOf(err, "write", path);
      });
      volumes = { path, meta };
    }
    let delta: DeltaSummary | undefined;
    if (since) {
      const full = new Map(plan.planned.flatMap((p) => p.graph.map((d) => [d.digest, d.size] as const)));
      const kept = new Map(planned.flatMap((p) => p.graph.map((d) => [d.digest, d.size] as const)));
      const gone = [...full].filter(([digest]) => !kept.has(digest));
      delta = {
        since: since.sha256,
        leftOut: gone.length,
        leftOutBytes: gone.reduce((n, [, size]) => n + size, 0),
        bytes: [...kept.values()].reduce((a, b) => a + b, 0),
        fullBytes: [...full.values()].reduce((a, b) => a + b, 0),
      };
    }
    return {
      files: out,
      images,
      ...(output.kind === "oci" ? { layout: output.dir } : {}),
      ...(volumes ? { volumes } : {}),
      ...(delta ? { delta } : {}),
    };
  } catch (err) {
    for (const w of written) {
      if (w instanceof ArchiveWriter) {
        await w.abort();
        if (w.file) await rm(w.file.path, { force: true }).catch(() => {});
      }
    }
    throw options.signal?.aborted ? abortErrorOf(options.signal) : err;
  } finally {
    await spool.dispose();
  }
}

/** The tar size bundle.json and the fixed files need in a volume (besides what each manifest adds). */
function metadataReserve(images: BundleImage[]): number {
  const json = JSON.stringify({ images: images.map((i) => ({ ...i, volumes: [9999, 9999] })) });
  return 64 * 1024 + tarBytes(json.length + 4096);
}

/** A docker-load archive needs every layer: a foreign layer left out makes the image unloadable. */
function checkDockerLoadable(plan: BundlePlan): void {
  if (plan.skippedForeignLayers.length === 0) return;
  const l = plan.skippedForeignLayers[0];
  throw new UnsupportedError(
    `Cannot write a docker-load archive: it needs every layer, and ${l.digest} (${l.mediaType}) is a foreign layer; ` +
      `use --format oci-archive, or add --allow-nondistributable-artifacts if the source has the bytes`,
  );
}

function pathOf(output: BundleOutput, part: Part): string {
  if (output.kind === "volumes") return join(output.dir, part.label);
  return output.kind === "oci" ? output.dir : output.path;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

function sum(descs: Descriptor[]): number {
  return descs.reduce((n, d) => n + d.size, 0);
}

/** A deterministic id of the set: the images, the format and the volume size. */
function bundleId(plan: BundlePlan, output: BundleOutput, since?: string): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({
    images: plan.images.map((i) => [i.name, i.digest]),
    kind: output.kind,
    size: output.kind === "volumes" ? output.size : 0,
    ...(since ? { since } : {}),
  }));
  return `sha256:${hash.digest("hex")}`;
}

/** Streams `part`'s blobs into `writer` (a few fetched ahead), names its whole images, and closes it. */
async function writePart(
  src: ReadableStore,
  writer: ArchiveWriter | OciLayoutStore,
  part: Part,
  meta: BundleMeta,
  output: BundleOutput,
  options: WriteBundleOptions,
  servedAs: ReadonlyMap<string, string>,
): Promise<void> {
  const signal = options.signal;
  const emit = options.onEvent ?? (() => {});
  const total = sum(part.blobs);
  const path = pathOf(output, part);
  emit({ type: "start", label: part.label, path, total });
  try {
    if (writer instanceof ArchiveWriter) writer.carry(...part.carried);
    const ahead = Math.max(1, options.concurrency ?? 6);
    const opened = new Map<number, Promise<ReadableStream<Uint8Array>>>();
    const open = (i: number) => {
      if (i >= part.blobs.length || opened.has(i)) return;
      const p = src.fetch(part.blobs[i], { signal });
      p.catch(() => {}); // awaited in order below
      opened.set(i, p);
    };
    let bytes = 0;
    for (let i = 0; i < part.blobs.length; i++) {
      for (let j = i; j < i + ahead; j++) open(j);
      const desc = part.blobs[i];
      const body = await opened.get(i)!;
      opened.delete(i);
      if (signal?.aborted) {
        await body.cancel().catch(() => {});
        throw abortErrorOf(signal);
      }
      let done = 0;
      const counted = body.pipeThrough(verifyStream(desc, src.ref)).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            done += chunk.byteLength;
            emit({ type: "progress", label: part.label, bytes: bytes + done, total });
            controller.enqueue(chunk);
          },
        }),
      );
      await writer.push(desc, counted, { signal });
      bytes += desc.size;
    }
    for (const p of opened.values()) await p.then((b) => b.cancel(), () => {});
    for (const image of part.images) {
      const moved = servedAs.get(image.meta.name);
      await nameImage(writer, image, output, moved);
      // Its referrers listed beside it (untagged, or by their cosign tag), named into its repository for serve.
      const repository = moved ?? repositoryOfName(image.meta.name.split("@")[0]);
      for (const r of image.referrers) {
        await writer.putReferrer(r.desc, {
          subject: r.subject,
          signal,
          ...(r.tag !== undefined ? { tag: r.tag } : {}),
          ...(repository !== undefined ? { repository } : {}),
        });
      }
    }
    if (writer instanceof ArchiveWriter) writer.addFile(BUNDLE_FILE, meta);
    else {await writeFileAtomic(
        join(output.kind === "oci" ? output.dir : ".", BUNDLE_FILE),
        JSON.stringify(meta, null, 2) + "\n",
      );}
    await writer.close();
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
  emit({ type: "progress", label: part.label, bytes: total, total });
  emit({ type: "done", label: part.label, path, size: writer instanceof ArchiveWriter ? writer.file!.size : total });
}

/** Names a whole image in the output's index.json (and, for docker, its platform images' RepoTags). */
async function nameImage(
  writer: ArchiveWriter | OciLayoutStore,
  image: PlannedImage,
  output: BundleOutput,
  moved: string | undefined,
): Promise<void> {
  const name = image.meta.name;
  const root = image.roots[0];
  const ref = parseReference(name);
  const servedAt: Record<string, string> = moved !== undefined ? { [FERRY_REPOSITORY]: moved } : {};
  if (writer instanceof OciLayoutStore) {
    if (ref.tag === undefined) return await writer.addRoot(root, moved !== undefined ? servedAt : undefined);
    await writer.tag(root, name);
    writer.annotate(name, { [CONTAINERD_NAME]: name, ...servedAt });
    return;
  }
  if (output.kind !== "docker") {
    if (ref.tag !== undefined) await writer.tag(root, name);
    else writer.annotate(root, { [CONTAINERD_NAME]: name });
    if (moved !== undefined) writer.annotate(root, servedAt);
    return;
  }
  // docker: each platform image gets its RepoTags (the template), and points at the carried index.
  const template = output.tagTemplate ?? DEFAULT_EXPORT_REPO_TAG;
  const parsed = parseTagTemplate(template, { flag: "--tag" });
  const repo = formatReference({ registry: ref.registry, repository: ref.repository }, { short: true });
  const tag = ref.tag ?? `sha256-${ref.digest!.slice(7, 19)}`;
  const counts = new Map<string, number>();
  for (const p of image.platformImages) {
    counts.set(platformLabel(p.platform), (counts.get(platformLabel(p.platform)) ?? 0) + 1);
  }
  for (const p of image.platformImages) {
    const base = platformLabel(p.platform);
    const label = counts.get(base)! > 1 ? `${base}-${p.desc.digest.slice(7, 19)}` : base;
    const repoTag = checkRepoTag(parsed.expand(p.platform, { repo, tag, label }), template, "--tag");
    await writer.tag(p.desc, repoTag);
    if (p.desc.digest !== root.digest) {
      writer.annotate(p.desc, { [SOURCE_INDEX]: root.digest, [SOURCE_INDEX_NAME]: containerdName(`${repo}:${tag}`) });
    }
  }
}

/**
 * The planned images' content as one store: a digest is read from the first image's source that has it
 * (manifests from memory, where the plan keeps them).
 */
class BundleSource implements ReadableStore {
  readonly ref = "bundle sources";
  readonly #where = new Map<string, ReadableStore>();
  constructor(images: readonly PlannedImage[], readonly manifests: ReadonlyMap<string, Uint8Array>) {
    for (const image of images) {
      for (const d of image.graph) if (!this.#where.has(d.digest)) this.#where.set(d.digest, image.store);
    }
  }

  resolve(reference: string): Promise<Descriptor> {
    return Promise.reject(new NotFoundError(`Cannot resolve ${reference} in ${this.ref}`, { ref: this.ref }));
  }

  fetch(desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const bytes = this.manifests.get(desc.digest);
    if (bytes) return Promise.resolve(streamOf(bytes));
    const store = this.#where.get(desc.digest);
    if (!store) return Promise.reject(new NotFoundError(`Cannot find ${desc.digest} in ${this.ref}`));
    return store.fetch(desc, options);
  }

  exists(desc: Descriptor): Promise<boolean> {
    return Promise.resolve(this.manifests.has(desc.digest) || this.#where.has(desc.digest));
  }
}

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
