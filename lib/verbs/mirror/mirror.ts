/**
 * `ferry mirror`: many images, with all their platforms, into a registry under a prefix. Incremental
 * (a tag the target already has at the source's digest costs one HEAD at each end), parallel across
 * images and blobs, and paced by the source registry's announced rate limit. It is copy in a loop:
 * each image that needs it goes through {@link copyGraph}, and its tag is written last, so an
 * interrupted or failed image never leaves a partial tag behind.
 *
 * @module
 */
import { AbortError, abortErrorOf, FerryError, NotFoundError, PartialError } from "../../errors.ts";
import { type CopyEvent, copyGraph } from "../../engine/copy_graph.ts";
import { type FetchedManifest, fetchManifest, platformOfImage } from "../../engine/fetch.ts";
import { copyReferrers, discoverReferrers, referrerSummaries, type ReferrerSummary } from "../../engine/referrers.ts";
import { filterIndex, selectPlatforms } from "../../engine/select.ts";
import { Limiter } from "../../stream/limiter.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { childrenOf, parseManifest } from "../../oci/manifest.ts";
import { isManifest } from "../../oci/media_types.ts";
import { formatPlatform, matchPlatform, parsePlatformList } from "../../oci/platform.ts";
import { formatReference, parseReference, type Reference, referenceTarget } from "../../ref/reference.ts";
import type { RegistryClient, RegistryOptions } from "../../remote/client.ts";
import { headManifest } from "../../remote/head_manifest.ts";
import { RateLimitPacer, type RegistryEvent } from "../../remote/rate_limit.ts";
import { MemoryStore } from "../../ends/memory.ts";
import { OverlayStore } from "../../ends/overlay.ts";
import { openRegistryStore, type RegistryStore } from "../../ends/registry.ts";
import type { ReadableStore } from "../../ends/store.ts";
import { PacedSource } from "./paced_source.ts";
import { type MirrorSpec, parsePrefix, validateMirrorSpec } from "./spec.ts";

/**
 * Options of {@link mirror}; they win over the spec's own settings.
 *
 * @example
 * ```ts
 * const options: MirrorOptions = { dryRun: true, keepGoing: true, concurrency: 2, jobs: 6 };
 * await mirror({ target: "127.0.0.1:5000/mirror", sources: [{ image: "alpine:3.20" }] }, options);
 * ```
 */
export interface MirrorOptions {
  /** Registry access for the sources. */
  source?: RegistryOptions;
  /** Registry access for the target. */
  destination?: RegistryOptions;
  /** Images mirrored at once (default: the spec's, else 3). */
  concurrency?: number;
  /** Blobs transferred at once per image (default: the spec's, else 6). */
  jobs?: number;
  /**
   * Go on after an image fails; a {@link PartialError} listing the failures is thrown at the end. Without it the
   * first failure is thrown, and the images it stopped (in flight or not started) are reported `skipped`.
   */
  keepGoing?: boolean;
  /** Only plan: HEAD both ends, fetch the root of what would be copied, write nothing. */
  dryRun?: boolean;
  /** Aborts the run; an image's tag is written only after everything under it. */
  signal?: AbortSignal;
  /** Each image's outcome, copy progress, rate limits and retries. */
  onEvent?: (event: MirrorEvent) => void;
  /** Copy non-distributable (foreign) layers too, which the sources must hold (crane's `--allow-nondistributable-artifacts`). */
  allowNondistributable?: boolean;
  /**
   * Carry each copied image's referrers (signatures, attestations, SBOMs) with it, before its tag (default true).
   * An image already present is not looked at again.
   */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
}

/**
 * What one image of a mirror came to.
 *
 * @example
 * ```ts
 * const { images } = await mirror({ target: "127.0.0.1:5000/mirror", sources: [{ image: "alpine:3.20" }] });
 * const failed: MirrorImageResult[] = images.filter((i) => i.status === "failed");
 * ```
 */
export interface MirrorImageResult {
  /** The source image, e.g. `alpine:3.19` or `127.0.0.1:5000/app:1.0`. */
  source: string;
  /** Where it goes, e.g. `registry.example.com/mirror/library/alpine:3.19`. */
  target: string;
  /**
   * `planned` only in a dry run: it would be copied. `skipped`: not attempted, or stopped before its tag was
   * written, because another image failed first (without `keepGoing`); it has no `error` of its own.
   */
  status: "copied" | "present" | "planned" | "failed" | "skipped";
  /** Digest of the root written (or that would be). */
  digest?: string;
  /** Platforms of the root, when it was fetched (it is not for an image already present). */
  platforms?: string[];
  /** Blobs and manifests written, already there, mounted; blob bytes streamed. */
  copied: number;
  /** Blobs and manifests the target already had. */
  skipped: number;
  /** Blobs mounted from another repository of the target registry. */
  mounted: number;
  /** Bytes streamed. */
  bytes: number;
  /** Manifest GETs to the source: made, or in a dry run, those the real run would make. */
  manifestRequests: number;
  /** The failure, one line (never a credential). */
  error?: string;
  /** Copied: the non-distributable (foreign) layers left out, which clients fetch from their `urls`. */
  skippedForeignLayers?: Descriptor[];
  /** Copied or planned: the image's referrers (signatures, attestations, SBOMs), carried with it. */
  referrers?: ReferrerSummary[];
}

/**
 * The summary of a mirror run, as `--json` prints it.
 *
 * @example
 * ```ts
 * const result: MirrorResult = await mirror({ target: "127.0.0.1:5000/mirror", sources: [{ image: "alpine:3.20" }] });
 * console.log(`${result.copied} copied, ${result.present} present, ${result.manifestRequests} manifest requests`);
 * ```
 */
export interface MirrorResult {
  /** The target prefix. */
  target: string;
  /** Whether this was a `dryRun` (nothing written). */
  dryRun: boolean;
  /** One result per image, in spec order. */
  images: MirrorImageResult[];
  /** Images copied. */
  copied: number;
  /** Images the target already had at the source's digest. */
  present: number;
  /** Images a dry run would copy. */
  planned: number;
  /** Images that failed. */
  failed: number;
  /** Images not attempted (or stopped untagged) because another failed first, without `keepGoing`. */
  skipped: number;
  /** Bytes streamed. */
  bytes: number;
  /** Manifest GETs to the sources (the requests Docker Hub counts as pulls). */
  manifestRequests: number;
}

/**
 * What {@link mirror} reports as it goes: each image's outcome, copy progress, rate limits and retries.
 *
 * @example
 * ```ts
 * await mirror(parseMirrorSpec("target: 127.0.0.1:5000/mirror\nsources:\n  - image: alpine\n"), {
 *   onEvent: (event: MirrorEvent) => {
 *     if (event.type === "image") console.log(event.image.source, event.image.status);
 *   },
 * });
 * ```
 */
export type MirrorEvent =
  /** Every image to mirror, once the sources are listed and before the first is looked at. */
  | { type: "queued"; source: string; target: string }
  | { type: "image"; image: MirrorImageResult }
  | { type: "copy"; source: string; event: CopyEvent }
  | RegistryEvent;

interface Item {
  source: Reference;
  target: Reference;
  platforms?: string[];
}

/**
 * Mirrors every image of `spec` (see {@link MirrorSpec}; a YAML file via `parseMirrorSpec`) under its target prefix.
 *
 * @example
 * ```ts
 * const result = await mirror({
 *   target: "127.0.0.1:5001/mirror",
 *   sources: [{ image: "127.0.0.1:5000/app:1.0" }, { repository: "127.0.0.1:5000/tools", tags: { allow: ["^v2"] } }],
 * });
 * console.log(result.copied, result.present, result.failed);
 * ```
 */
export async function mirror(spec: MirrorSpec, options: MirrorOptions = {}): Promise<MirrorResult> {
  spec = validateMirrorSpec(spec);
  const outer = options.signal;
  if (outer?.aborted) throw abortErrorOf(outer);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(abortErrorOf(outer!));
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  const signal = controller.signal;
  const emit = options.onEvent ?? (() => {});
  const retries = spec.retries !== undefined ? { retries: spec.retries } : {};
  const sourceOptions = { ...retries, ...options.source };
  const destinationOptions = { ...retries, ...options.destination };
  const rate = spec.rateLimit ?? {};
  const pacers = new Map<RegistryClient, RateLimitPacer>();
  const unsubscribe: (() => void)[] = [];
  const watch = (client: RegistryClient) => {
    let pacer = pacers.get(client);
    if (!pacer) {
      pacer = new RateLimitPacer({
        reserve: rate.reserve,
        perMinute: rate.perMinute,
        maxDelayMs: rate.maxDelay === undefined ? undefined : rate.maxDelay * 1000,
      });
      pacers.set(client, pacer);
      const own = pacer;
      unsubscribe.push(client.subscribe((event) => {
        if (event.type === "ratelimit") own.observe(event);
        emit(event);
      }));
    }
    return pacer;
  };

  const images: MirrorImageResult[] = [];
  let firstError: unknown;
  /** Whether `err` is only the run being stopped by an earlier image's failure (not a failure of its own). */
  const stoppedByFirstError = (err: unknown) =>
    firstError !== undefined && !outer?.aborted &&
    (err === firstError || err instanceof AbortError || (err instanceof Error && err.name === "AbortError"));
  const record = (index: number, image: MirrorImageResult, err?: unknown) => {
    images[index] = image;
    emit({ type: "image", image });
    if (err !== undefined && !options.keepGoing && firstError === undefined) {
      firstError = err;
      controller.abort(err);
    }
  };
  try {
    const items = await expand(spec, sourceOptions, signal, (name, err) => {
      const at = images.length;
      if (stoppedByFirstError(err)) record(at, skippedImage(name, ""));
      else record(at, failedImage(name, "", err), err);
    });
    const offset = images.length;
    for (const item of items) {
      emit({
        type: "queued",
        source: formatReference(item.source, { short: true }),
        target: formatReference(item.target),
      });
    }
    const limit = new Limiter(options.concurrency ?? spec.concurrency ?? 3);
    await Promise.all(items.map((item, i) =>
      limit.run(async () => {
        const source = formatReference(item.source, { short: true });
        const target = formatReference(item.target);
        if (signal.aborted) {
          if (stoppedByFirstError(firstError)) record(offset + i, skippedImage(source, target));
          return;
        }
        try {
          record(offset + i, await mirrorOne(item, source, target));
        } catch (err) {
          if (stoppedByFirstError(err)) record(offset + i, skippedImage(source, target));
          else record(offset + i, failedImage(source, target, err), err);
        }
      })
    ));
    if (outer?.aborted) throw abortErrorOf(outer);
    if (firstError !== undefined) throw firstError;
  } finally {
    outer?.removeEventListener("abort", onOuterAbort);
    for (const stop of unsubscribe) stop();
  }
  const result = summarizeMirror(spec.target, images.filter(Boolean), options.dryRun ?? false);
  if (result.failed > 0) {
    const failures = result.images.filter((i) => i.status === "failed").map((i) => ({
      ref: i.source,
      error: i.error ?? "",
    }));
    throw new PartialError(
      `Cannot mirror ${failures.length} of ${result.images.length} images: ${failures.map((f) => f.ref).join(", ")}`,
      failures,
    );
  }
  return result;

  async function mirrorOne(item: Item, source: string, target: string): Promise<MirrorImageResult> {
    const srcStore = openRegistryStore(item.source, sourceOptions);
    const dstStore = openRegistryStore(item.target, destinationOptions);
    const src = new PacedSource(srcStore, watch(srcStore.client));
    watch(dstStore.client);
    const base = { source, target, copied: 0, skipped: 0, mounted: 0, bytes: 0 };
    const reference = referenceTarget(item.source);
    const head = await headManifest(srcStore.client, item.source.repository, reference, { signal, ref: source });
    if (!head.exists) throw new NotFoundError(`Cannot find manifest ${reference}`, { ref: source });
    let root: Descriptor = head.digest && head.mediaType && head.size !== undefined
      ? { mediaType: head.mediaType, digest: head.digest, size: head.size }
      : await srcStore.resolve(reference, { signal });
    let store: ReadableStore = src;
    let top: FetchedManifest | undefined;
    const want = parsePlatformList(item.platforms);
    if (want !== "all") ({ store, root, top } = await narrow(src, root, want));
    const have = await headManifest(dstStore.client, item.target.repository, referenceTarget(item.target), {
      signal,
      ref: target,
    });
    if (have.exists && have.digest === root.digest) {
      return { ...base, status: "present", digest: root.digest, manifestRequests: src.manifestRequests };
    }
    top ??= await fetchManifest(store, root, { signal });
    const platforms = top.parsed.kind === "index"
      ? top.parsed.index.manifests.filter((d) => d.platform && d.platform.os !== "unknown").map((d) =>
        formatPlatform(d.platform!)
      )
      : undefined;
    // Referrers (issue #18): found before the image is copied (a dry run lists them), copied before its tag.
    const referrers = options.referrers === false ? [] : await discoverReferrers(store, root, {
      signal,
      artifactTypes: options.artifactTypes,
      via: srcStore,
      children: top.parsed.kind === "index" ? top.parsed.index.manifests : [],
    });
    if (options.dryRun) {
      // The real run fetches the root (done above), then each child manifest the target lacks.
      let manifestRequests = src.manifestRequests;
      if (!(await dstStore.exists(root, { signal }))) {
        for (const child of childrenOf(top.parsed)) {
          if (isManifest(child.mediaType) && !(await dstStore.exists(child, { signal }))) manifestRequests++;
        }
      }
      return {
        ...base,
        status: "planned",
        digest: root.digest,
        platforms,
        manifestRequests,
        referrers: referrerSummaries(referrers),
      };
    }
    const copyOptions = {
      concurrency: options.jobs ?? spec.jobs,
      signal,
      onEvent: (event: CopyEvent) => emit({ type: "copy", source, event }),
      foreignLayers: options.allowNondistributable ? "copy" as const : "skip" as const,
    };
    const copied = await copyGraph(store, dstStore, root, copyOptions);
    const extra = await copyReferrers(store, dstStore, referrers, copyOptions);
    if (item.target.tag !== undefined) await dstStore.tag(root, item.target.tag, { signal });
    return {
      ...base,
      status: "copied",
      digest: root.digest,
      platforms,
      copied: copied.copied + extra.copied,
      skipped: copied.skipped + extra.skipped,
      mounted: copied.mounted + extra.mounted,
      bytes: copied.bytes + extra.bytes,
      manifestRequests: src.manifestRequests,
      skippedForeignLayers: copied.skippedForeignLayers,
      referrers: referrerSummaries(referrers),
    };
  }

  /** The chosen platforms of `root`: a new index in front of the source, or the image itself after checking it. */
  async function narrow(
    src: PacedSource,
    root: Descriptor,
    want: Exclude<ReturnType<typeof parsePlatformList>, "all">,
  ) {
    const top = await fetchManifest(src, root, { signal });
    if (top.parsed.kind === "manifest") {
      const platform = await platformOfImage(src, top, { signal });
      if (!(platform && want.some((w) => matchPlatform(w, platform)))) {
        throw new NotFoundError(
          `Cannot find platform ${want.map(formatPlatform).join(", ")}: the image is ${
            platform ? formatPlatform(platform) : "of unknown platform"
          } only`,
          { ref: src.ref },
        );
      }
      return { store: src as ReadableStore, root, top };
    }
    const chosen = selectPlatforms(top.parsed.index, want, { ref: src.ref });
    const narrowed = filterIndex(top.bytes, top.parsed.index, chosen);
    if (narrowed.desc.digest === root.digest) return { store: src as ReadableStore, root, top };
    const extra = new MemoryStore();
    extra.put(narrowed.bytes, narrowed.desc.mediaType);
    const parsed = parseManifest(narrowed.bytes, narrowed.desc.mediaType);
    return {
      store: new OverlayStore(src, extra) as ReadableStore,
      root: narrowed.desc,
      top: { desc: narrowed.desc, bytes: narrowed.bytes, parsed },
    };
  }
}

/** The totals of a list of image results (the CLI rebuilds the summary with it after a partial failure). */
export function summarizeMirror(target: string, images: MirrorImageResult[], dryRun: boolean): MirrorResult {
  const count = (status: MirrorImageResult["status"]) => images.filter((i) => i.status === status).length;
  return {
    target,
    dryRun,
    images,
    copied: count("copied"),
    present: count("present"),
    planned: count("planned"),
    failed: count("failed"),
    skipped: count("skipped"),
    bytes: images.reduce((n, i) => n + i.bytes, 0),
    manifestRequests: images.reduce((n, i) => n + i.manifestRequests, 0),
  };
}

/** The images of `spec`: each `image`, and each repository's tags that pass its filters (one tags/list per repository). */
async function expand(
  spec: MirrorSpec,
  sourceOptions: RegistryOptions,
  signal: AbortSignal,
  onFailure: (name: string, err: unknown) => void,
): Promise<Item[]> {
  const prefix = parsePrefix(spec.target);
  const items: Item[] = [];
  const targetOf = (ref: Reference, path: string | undefined): Reference => ({
    registry: prefix.registry,
    repository: [prefix.path, path ?? ref.repository].filter(Boolean).join("/"),
    ...(ref.tag !== undefined ? { tag: ref.tag } : { digest: ref.digest }),
  });
  const lists = await Promise.all(spec.sources.map(async (source) => {
    const platforms = source.platforms ?? spec.platforms;
    if (source.image !== undefined) {
      const ref = parseReference(source.image);
      if (ref.tag === undefined && ref.digest === undefined) ref.tag = "latest";
      return [{ source: ref, target: targetOf(ref, source.target), platforms }];
    }
    const repo = parseReference(source.repository!);
    const store: RegistryStore = openRegistryStore(repo, sourceOptions);
    let tags: string[];
    try {
      tags = await store.listTags({ signal });
    } catch (err) {
      onFailure(formatReference(repo, { short: true }), err);
      return [];
    }
    const allow = (source.tags?.allow ?? []).map((re) => new RegExp(re));
    const deny = (source.tags?.deny ?? []).map((re) => new RegExp(re));
    return tags
      .filter((t) => (allow.length === 0 || allow.some((re) => re.test(t))) && !deny.some((re) => re.test(t)))
      .sort()
      .map((tag) => ({ source: { ...repo, tag }, target: targetOf({ ...repo, tag }, source.target), platforms }));
  }));
  for (const list of lists) items.push(...list);
  return items;
}

function skippedImage(source: string, target: string): MirrorImageResult {
  return { source, target, status: "skipped", copied: 0, skipped: 0, mounted: 0, bytes: 0, manifestRequests: 0 };
}

function failedImage(source: string, target: string, err: unknown): MirrorImageResult {
  const error = err instanceof FerryError
    ? err.message
    : err instanceof Error && err.name === "AbortError"
    ? "Interrupted"
    : `internal error: ${err instanceof Error ? err.message : String(err)}`;
  return { source, target, status: "failed", copied: 0, skipped: 0, mounted: 0, bytes: 0, manifestRequests: 0, error };
}
