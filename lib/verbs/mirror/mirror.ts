/**
 * `ferry mirror`: many images, with all their platforms, into a registry under a prefix. Incremental
 * (a tag the target already has at the source's digest costs one HEAD at each end), parallel across
 * images and blobs, and paced by the source registry's announced rate limit. It is copy in a loop:
 * each image that needs it goes through {@link copyGraph}, and its tag is written last, so an
 * interrupted or failed image never leaves a partial tag behind.
 *
 * @module
 */
import {
  AbortError,
  abortErrorOf,
  FerryError,
  FormatError,
  NotFoundError,
  PartialError,
  RateLimitError,
  UsageError,
} from "../../errors.ts";
import { type CopyEvent, copyGraph } from "../../engine/copy_graph.ts";
import { commit } from "../../engine/transfer.ts";
import { type FetchedManifest, fetchManifest, platformOfImage } from "../../engine/fetch.ts";
import {
  copyReferrers,
  discoverReferrers,
  type Referrer,
  referrerSummaries,
  type ReferrerSummary,
} from "../../engine/referrers.ts";
import { filterIndex, selectPlatforms } from "../../engine/select.ts";
import { TaskGroup } from "../../engine/task_group.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { childrenOf, parseManifest } from "../../oci/manifest.ts";
import { isManifest } from "../../oci/media_types.ts";
import { formatPlatform, matchPlatform, parsePlatformList } from "../../oci/platform.ts";
import {
  formatReference,
  parseReference,
  type Reference,
  referenceTarget,
  repositoryName,
} from "../../ref/reference.ts";
import type { RegistryClient, RegistryOptions } from "../../remote/client.ts";
import { headManifest } from "../../remote/head_manifest.ts";
import { type RateLimitInfo, RateLimitPacer, type RegistryEvent } from "../../remote/rate_limit.ts";
import { MemoryStore } from "../../ends/memory.ts";
import { OverlayStore } from "../../ends/overlay.ts";
import { openRegistryStore, type RegistryStore } from "../../ends/registry.ts";
import type { ReadableStore } from "../../ends/store.ts";
import { explainRateLimit, rateLimitKind } from "./budget.ts";
import { PacedSource } from "./paced_source.ts";
import { type MirrorSpec, parsePrefix, validateMirrorSpec } from "./spec.ts";

/**
 * Options of {@link mirror}; they win over the spec's own settings.
 *
 * @example
 * ```ts
 * const options: MirrorOptions = { dryRun: true, keepGoing: true, images: 2, jobs: 6 };
 * await mirror({ target: "127.0.0.1:5000/mirror", sources: [{ image: "alpine:3.20" }] }, options);
 * ```
 */
export interface MirrorOptions {
  /** Registry access for the sources. */
  source?: RegistryOptions;
  /** Registry access for the target. */
  destination?: RegistryOptions;
  /**
   * Images mirrored at once (`--parallel`; default: the spec's `concurrency`, else 3). Every other verb's knob for
   * blobs at once is `concurrency`; here that is `jobs`, so neither name means images and blobs in two verbs.
   */
  images?: number;
  /** Blobs transferred at once per image (`--jobs`; default: the spec's, else 6). */
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

/** One image to mirror, as the spec expands to it. */
export interface MirrorItem {
  source: Reference;
  target: Reference;
  platforms?: string[];
}

/**
 * An image resolved against both ends (what a plan knows about it): the source's root, the root the target gets
 * (the same unless platforms narrow it), whether the target already has it. In one process it also keeps the stores
 * and the fetched root, so running it right after costs no second request.
 */
export interface ResolvedItem {
  /** Short source name (`127.0.0.1:5000/app:1.0`) and full target reference, as results name them. */
  source: string;
  target: string;
  /** Where the source is read: the repository, and the tag or digest resolved. */
  sourceRef: Reference;
  targetRef: Reference;
  /** What the source reference pointed at. */
  sourceRoot: Descriptor;
  /** The root the target gets: `sourceRoot`, or the index narrowed to `platformFilter`. */
  root: Descriptor;
  platformFilter?: string[];
  /** Platforms of `root` when it was fetched. */
  platforms?: string[];
  /** The target has `root` under its tag. */
  present: boolean;
  /** Manifest GETs to the source made so far, or (estimated) those running it will make. */
  manifestRequests: number;
  /** The registry host the source's requests go to (whose rate limit applies). */
  sourceHost: string;
  /** With a dry run or a plan: the referrers (signatures, attestations, SBOMs) the copy will carry. */
  referrers?: ReferrerSummary[];
  /** In-process state from resolving, reused by execute. */
  live?: {
    src: PacedSource;
    srcStore: RegistryStore;
    dstStore: RegistryStore;
    store: ReadableStore;
    top?: FetchedManifest;
  };
}

/** What a session's source registries said about their rate limits, per wire host (the last announcement). */
export type SourceBudgets = Map<string, RateLimitInfo>;

/** Options of a session beyond {@link MirrorOptions}: how many shards share the sources' rate-limit budget. */
export interface SessionOptions extends MirrorOptions {
  /** Shards running at once against the same budget: each paces itself as if it had 1/N of it. Default 1. */
  budgetShares?: number;
}

/**
 * The machinery of a mirror run, shared by {@link mirror}, `planMirror` and `runMirrorPlan` (one code path):
 * pacing per registry, events, and the rule that the first failure stops the rest unless `keepGoing`.
 * `expand` lists the spec's images, `resolve` checks one against both ends, `execute` copies it;
 * `each` runs work over a list with the concurrency limit, recording each outcome; `finish` summarizes.
 */
export function openSession(spec: MirrorSpec, options: SessionOptions = {}) {
  const outer = options.signal;
  if (outer?.aborted) throw abortErrorOf(outer);
  // The session's images, at most `concurrency` at once; without keepGoing the first failure stops the rest.
  const group = new TaskGroup(options.images ?? spec.concurrency ?? 3, outer);
  const signal = group.signal;
  const emit = options.onEvent ?? (() => {});
  const retries = spec.retries !== undefined ? { retries: spec.retries } : {};
  const sourceOptions = { ...retries, ...options.source };
  const destinationOptions = { ...retries, ...options.destination };
  const rate = spec.rateLimit ?? {};
  const shares = Math.max(1, options.budgetShares ?? 1);
  const pacers = new Map<RegistryClient, RateLimitPacer>();
  const budgets: SourceBudgets = new Map();
  const sourceClients = new Set<RegistryClient>();
  const unsubscribe: (() => void)[] = [];
  const watch = (client: RegistryClient, isSource = false) => {
    if (isSource) sourceClients.add(client);
    let pacer = pacers.get(client);
    if (!pacer) {
      // With N shards on one budget, each paces itself on its share: 1/N of what is left, of the reserve, of perMinute.
      pacer = new RateLimitPacer({
        reserve: (rate.reserve ?? 10) / shares,
        perMinute: rate.perMinute === undefined ? undefined : rate.perMinute / shares,
        maxDelayMs: rate.maxDelay === undefined ? undefined : rate.maxDelay * 1000,
      });
      pacers.set(client, pacer);
      const own = pacer;
      unsubscribe.push(client.subscribe((event) => {
        if (event.type === "ratelimit") {
          own.observe({ ...event, remaining: event.remaining / shares });
          if (sourceClients.has(client)) {
            const { type: _type, host: _host, ...info } = event;
            budgets.set(event.host, info);
          }
        }
        emit(event);
      }));
    }
    return pacer;
  };

  /** Source hosts whose pull limit ran out: their other images fail at once, without spending requests. */
  const spent = new Set<string>();
  /** Runs `work` for an image read from `host`, telling a pull-limit 429 from the abuse limit in its error. */
  async function guarded<T>(host: string, ref: string, work: () => Promise<T>): Promise<T> {
    if (spent.has(host)) {
      throw new RateLimitError(`Cannot mirror ${ref}: not attempted: the pull rate limit of ${host} is spent`, {
        ref,
        status: 429,
      });
    }
    try {
      return await work();
    } catch (err) {
      const kind = rateLimitKind(err, budgets.get(host));
      if (kind === undefined) throw err;
      const limited = err as RateLimitError;
      if (kind === "pull" && limited.message.includes(host)) spent.add(host);
      throw new RateLimitError(explainRateLimit(limited, kind, budgets.get(host)), {
        ref,
        status: limited.status,
        errors: limited.errors,
        cause: err,
      });
    }
  }

  const images: MirrorImageResult[] = [];
  /** The first image's failure that stopped the run (never set with keepGoing, nor by an outer abort). */
  const firstError = () => (outer?.aborted ? undefined : group.failure);
  /** Whether `err` is only the run being stopped by an earlier image's failure (not a failure of its own). */
  const stoppedByFirstError = (err: unknown) =>
    firstError() !== undefined &&
    (err === firstError() || err instanceof AbortError || (err instanceof Error && err.name === "AbortError"));
  const record = (index: number, image: MirrorImageResult, err?: unknown) => {
    images[index] = image;
    emit({ type: "image", image });
    if (err !== undefined && !options.keepGoing) group.fail(err);
  };

  /** The images of the spec; a repository whose tags cannot be listed is recorded failed. */
  function expandSpec(): Promise<MirrorItem[]> {
    return expand(spec, sourceOptions, signal, (name, err) => {
      const at = images.length;
      if (stoppedByFirstError(err)) record(at, skippedImage(name, ""));
      else record(at, failedImage(name, "", err), err);
    });
  }

  /**
   * Runs `work` over `list` (at most `concurrency` at once), recording each outcome in order after what is
   * already recorded; throws the abort, or the first failure without `keepGoing`. Entries with the same
   * `serialKey` (the target repository, for work that pushes) run one after another: the distribution registry
   * can lose a blob's link when two uploads of it into one repository overlap (MANIFEST_BLOB_UNKNOWN).
   */
  async function each<T>(
    list: T[],
    names: (entry: T) => { source: string; target: string },
    work: (entry: T, index: number) => Promise<MirrorImageResult>,
    serialKey?: (entry: T) => string,
  ): Promise<void> {
    const offset = images.length;
    for (const entry of list) emit({ type: "queued", ...names(entry) });
    const one = async (entry: T, i: number) => {
      const { source, target } = names(entry);
      try {
        record(offset + i, await work(entry, i));
      } catch (err) {
        if (stoppedByFirstError(err)) record(offset + i, skippedImage(source, target));
        else record(offset + i, failedImage(source, target, err), err);
      }
    };
    const serial = new Map<string, number[]>();
    list.forEach((entry, i) => {
      const key = serialKey ? serialKey(entry) : String(i);
      serial.set(key, [...(serial.get(key) ?? []), i]);
    });
    for (const indexes of serial.values()) {
      group.go(async (groupSignal) => {
        for (const i of indexes) if (!groupSignal.aborted) await one(list[i], i);
      });
    }
    await group.wait().catch(() => {}); // each image's outcome is recorded above
    if (outer?.aborted) throw abortErrorOf(outer);
    const first = firstError();
    if (first !== undefined) {
      // Images the first failure kept from starting: not attempted.
      list.forEach((entry, i) => {
        if (images[offset + i] === undefined) {
          const { source, target } = names(entry);
          record(offset + i, skippedImage(source, target));
        }
      });
      throw first;
    }
  }

  function close(): void {
    group.release();
    for (const stop of unsubscribe) stop();
  }

  /** HEADs the source and the target (and narrows to the platforms); with `estimate`, counts what the copy will fetch. */
  async function resolve(item: MirrorItem, estimate: boolean): Promise<ResolvedItem> {
    const source = formatReference(item.source, { short: true });
    const target = formatReference(item.target);
    const srcStore = openRegistryStore(item.source, sourceOptions);
    const dstStore = openRegistryStore(item.target, destinationOptions);
    const src = new PacedSource(srcStore, watch(srcStore.client, true));
    watch(dstStore.client);
    return await guarded(
      srcStore.client.host,
      source,
      () => resolveWith(item, source, target, src, srcStore, dstStore, estimate),
    );
  }

  async function resolveWith(
    item: MirrorItem,
    source: string,
    target: string,
    src: PacedSource,
    srcStore: RegistryStore,
    dstStore: RegistryStore,
    estimate: boolean,
  ): Promise<ResolvedItem> {
    const reference = referenceTarget(item.source);
    const head = await headManifest(srcStore.client, item.source.repository, reference, { signal, ref: source });
    if (!head.exists) throw new NotFoundError(`Cannot find manifest ${reference}`, { ref: source });
    const sourceRoot: Descriptor = head.digest && head.mediaType && head.size !== undefined
      ? { mediaType: head.mediaType, digest: head.digest, size: head.size }
      : await srcStore.resolve(reference, { signal });
    let root = sourceRoot;
    let store: ReadableStore = src;
    let top: FetchedManifest | undefined;
    const want = parsePlatformList(item.platforms);
    if (want !== "all") ({ store, root, top } = await narrow(src, root, want));
    const have = await headManifest(dstStore.client, item.target.repository, referenceTarget(item.target), {
      signal,
      ref: target,
    });
    const resolved: ResolvedItem = {
      source,
      target,
      sourceRef: item.source,
      targetRef: item.target,
      sourceRoot,
      root,
      ...(item.platforms ? { platformFilter: item.platforms } : {}),
      present: have.exists && have.digest === root.digest,
      manifestRequests: src.manifestRequests,
      sourceHost: srcStore.client.host,
      live: { src, srcStore, dstStore, store, top },
    };
    if (resolved.present) return resolved;
    top ??= await fetchManifest(store, root, { signal });
    resolved.live!.top = top;
    resolved.platforms = platformsOf(top);
    resolved.manifestRequests = src.manifestRequests;
    if (estimate) {
      // Referrers (issue #18): a dry run or a plan lists them; the copy finds them again (see executeWith).
      const referrers = await referrersOf(store, srcStore, root, top);
      resolved.referrers = referrerSummaries(referrers);
      // The real run fetches the root (done above), then each child manifest the target lacks.
      if (!(await dstStore.exists(root, { signal }))) {
        for (const child of childrenOf(top.parsed)) {
          if (isManifest(child.mediaType) && !(await dstStore.exists(child, { signal }))) resolved.manifestRequests++;
        }
      }
    }
    return resolved;
  }

  /** An image's referrers (none with `referrers: false`): read through `store`, listed by the source registry. */
  function referrersOf(
    store: ReadableStore,
    via: RegistryStore,
    root: Descriptor,
    top: FetchedManifest,
  ): Promise<Referrer[]> {
    if (options.referrers === false) return Promise.resolve([]);
    return discoverReferrers(store, root, {
      signal,
      artifactTypes: options.artifactTypes,
      via,
      children: top.parsed.kind === "index" ? top.parsed.index.manifests : [],
    });
  }

  /**
   * Copies a resolved image and writes its tag. One resolved in another process (`recheck`, e.g. from a plan
   * file) is first checked again at the target, so a rerun redoes nothing already done.
   */
  function execute(item: ResolvedItem, recheck: boolean): Promise<MirrorImageResult> {
    return guarded(item.sourceHost, item.source, () => executeWith(item, recheck));
  }

  async function executeWith(item: ResolvedItem, recheck: boolean): Promise<MirrorImageResult> {
    const { source, target } = item;
    const base = { source, target, copied: 0, skipped: 0, mounted: 0, bytes: 0 };
    let live = recheck ? undefined : item.live;
    let root = item.root;
    if (!live) {
      const srcStore = openRegistryStore(item.sourceRef, sourceOptions);
      const dstStore = openRegistryStore(item.targetRef, destinationOptions);
      const src = new PacedSource(srcStore, watch(srcStore.client, true));
      watch(dstStore.client);
      const have = await headManifest(dstStore.client, item.targetRef.repository, referenceTarget(item.targetRef), {
        signal,
        ref: target,
      });
      if (have.exists && have.digest === item.root.digest) {
        return { ...base, status: "present", digest: root.digest, manifestRequests: 0 };
      }
      live = { src, srcStore, dstStore, store: src };
      const want = parsePlatformList(item.platformFilter);
      if (want !== "all") {
        const narrowed = await narrow(src, item.sourceRoot, want);
        if (narrowed.root.digest !== item.root.digest) {
          throw new FormatError(
            `Cannot mirror ${source}: its platforms ${
              item.platformFilter!.join(", ")
            } make ${narrowed.root.digest}, not the plan's ${item.root.digest}`,
            { ref: source },
          );
        }
        live = { ...live, store: narrowed.store, top: narrowed.top };
        root = narrowed.root;
      }
    } else if (item.present) {
      return { ...base, status: "present", digest: root.digest, manifestRequests: live.src.manifestRequests };
    }
    const { src, srcStore, dstStore, store } = live;
    const copyOptions = {
      concurrency: options.jobs ?? spec.jobs,
      signal,
      onEvent: (event: CopyEvent) => emit({ type: "copy", source, event }),
      foreignLayers: options.allowNondistributable ? "copy" as const : "skip" as const,
    };
    // One commit per image: its blobs and manifests, its referrers, then its tag; close() or abort().
    // No signal check after the work: an image tagged before another one failed is copied, not skipped.
    const { copied, referrers, extra } = await commit(dstStore, undefined, async () => {
      const copied = await copyGraph(store, dstStore, root, copyOptions);
      // Referrers (issue #18): copied after the image, before its tag, so the tag names a complete, signed image.
      const referrers = await referrersOf(
        store,
        srcStore,
        root,
        live.top ?? await fetchManifest(store, root, { signal }),
      );
      const extra = await copyReferrers(store, dstStore, referrers, copyOptions);
      if (item.targetRef.tag !== undefined) await dstStore.tag(root, item.targetRef.tag, { signal });
      return { copied, referrers, extra };
    });
    return {
      ...base,
      status: "copied",
      digest: root.digest,
      ...(item.platforms ? { platforms: item.platforms } : {}),
      copied: copied.copied + extra.copied,
      skipped: copied.skipped + extra.skipped,
      mounted: copied.mounted + extra.mounted,
      bytes: copied.bytes + extra.bytes,
      manifestRequests: src.manifestRequests,
      skippedForeignLayers: copied.skippedForeignLayers,
      referrers: referrerSummaries(referrers),
    };
  }

  /** The summary of everything recorded; a {@link PartialError} when any image failed. */
  function finish(dryRun: boolean): MirrorResult {
    const result = summarizeMirror(spec.target, images.filter(Boolean), dryRun);
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

  /** The wire host of a source reference (whose rate limit its requests spend). */
  function sourceHostOf(ref: Reference): string {
    return openRegistryStore(ref, sourceOptions).client.host;
  }

  return { signal, images, budgets, expand: expandSpec, each, resolve, execute, finish, close, sourceHostOf };
}

/**
 * Mirrors every image of `spec` (see {@link MirrorSpec}; a YAML file via `parseMirrorSpec`) under its target prefix:
 * each image is resolved against both ends, then (unless present, or a `dryRun`) copied.
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
  const session = openSession(spec, options);
  const dryRun = options.dryRun ?? false;
  try {
    const items = await session.expand();
    await session.each(items, namesOf, async (item) => {
      const resolved = await session.resolve(item, dryRun);
      return dryRun ? plannedImage(resolved) : await session.execute(resolved, false);
    }, dryRun ? undefined : (item) => repositoryName(item.target));
  } finally {
    session.close();
  }
  return session.finish(dryRun);
}

/** The names an item's results carry. */
export function namesOf(item: MirrorItem): { source: string; target: string } {
  return { source: formatReference(item.source, { short: true }), target: formatReference(item.target) };
}

/** The result of a resolved image in a dry run or a plan: `present`, or `planned` with the requests it will cost. */
export function plannedImage(item: ResolvedItem): MirrorImageResult {
  const base = { source: item.source, target: item.target, copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  if (item.present) {
    return { ...base, status: "present", digest: item.root.digest, manifestRequests: item.manifestRequests };
  }
  return {
    ...base,
    status: "planned",
    digest: item.root.digest,
    platforms: item.platforms,
    manifestRequests: item.manifestRequests,
    ...(item.referrers ? { referrers: item.referrers } : {}),
  };
}

function platformsOf(top: FetchedManifest): string[] | undefined {
  return top.parsed.kind === "index"
    ? top.parsed.index.manifests.filter((d) => d.platform && d.platform.os !== "unknown").map((d) =>
      formatPlatform(d.platform!)
    )
    : undefined;
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
): Promise<MirrorItem[]> {
  const prefix = parsePrefix(spec.target);
  const items: MirrorItem[] = [];
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
  // Two sources of one target tag would overwrite each other (docker.io/team/app:1 and quay.io/team/app:1 both go
  // to PREFIX/team/app:1): refused before anything is copied. The same image listed twice is copied once.
  const sourceOf = new Map<string, string>();
  for (const item of lists.flat()) {
    const target = formatReference(item.target);
    const source = formatReference(item.source);
    const other = sourceOf.get(target);
    if (other === source || (other !== undefined && item.target.tag === undefined)) continue;
    if (other !== undefined) {
      throw new UsageError(
        `Cannot mirror ${other} and ${source} both to ${target}: one would overwrite the other; give one of them ` +
          "its own path with `target:` in a mirror spec (ferry mirror -c)",
      );
    }
    sourceOf.set(target, source);
    items.push(item);
  }
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
