/**
 * Referrers travel with their image: signatures (cosign, notation), in-toto attestations and SBOMs that name an
 * image by digest. {@link discoverReferrers} finds them (for an index and each of its manifests, recursively: a
 * signature of an SBOM), through the stores' own `referrers()` (the referrers API, the tag schema, index.json);
 * {@link copyReferrers} copies each graph and makes it discoverable at the destination (`putReferrer`), and
 * {@link transferWithReferrers} is `transfer` with both, before the image's tags are written.
 *
 * @module
 */
import { abortErrorOf, FerryError, PartialError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isIndex, isManifest } from "../oci/media_types.ts";
import type { ReadableStore, StoreOptions, WritableStore } from "../ends/store.ts";
import { Limiter } from "../stream/limiter.ts";
import { copyGraph, type CopyGraphOptions, type CopyResult } from "./copy_graph.ts";
import { fetchManifest } from "./fetch.ts";
import { commit } from "./transfer.ts";

/** Referrers asked for at once (one request each at a registry with the referrers API). */
const DISCOVERY_CONCURRENCY = 6;

/**
 * One referrer of an image: a manifest that names its subject by digest.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const found: Referrer[] = await discoverReferrers(sample.store, sample.root);
 * for (const r of found) console.log(r.desc.digest, r.artifactType, "→", r.subject);
 * ```
 */
export interface Referrer {
  /** The referrer manifest (media type, digest, size; artifactType when known). */
  desc: Descriptor;
  /** The digest it refers to: the image's index, one of its manifests, or another referrer. */
  subject: string;
  /** Its artifact type, e.g. `application/spdx+json`, `application/vnd.dev.cosign.simplesigning.v1+json`. */
  artifactType?: string;
  /** The cosign tag it was found under (`sha256-<hex>.sig|.att|.sbom`), re-created at the destination. */
  tag?: string;
}

/**
 * Options of {@link discoverReferrers}.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const options: DiscoverReferrersOptions = { artifactTypes: ["application/spdx+json"], signal: AbortSignal.timeout(30_000) };
 * await discoverReferrers(sample.store, sample.root, options);
 * ```
 */
export interface DiscoverReferrersOptions extends StoreOptions {
  /**
   * Only the image's referrers of these artifact types (and, recursively, everything referring to those: the
   * signature of a chosen SBOM comes along); all by default.
   */
  artifactTypes?: string[];
  /**
   * Also the referrers of each manifest an index lists (default true: the index is fetched), or of these
   * (the index's entries, when the caller has read it already).
   */
  children?: boolean | Descriptor[];
  /** Where to ask for referrers, when not `store` itself (a wrapper that reads through to it); default `store`. */
  via?: Pick<ReadableStore, "referrers">;
}

/**
 * The referrers of `desc` in `store` (and of each manifest it lists, if it is an index), recursively, parents
 * before the referrers that name them, each digest once. A store without `referrers()` holds none: `[]`. Costs one
 * request per manifest at a registry with the referrers API, else one tag list per repository.
 *
 * @example
 * ```ts
 * const src = openRegistryStore(parseReference("127.0.0.1:5000/app:1.0"));
 * const root = await src.resolve("1.0");
 * const referrers = await discoverReferrers(src, root);
 * console.log(referrers.map((r) => `${r.artifactType} ${r.desc.digest}`));
 * ```
 */
export async function discoverReferrers(
  store: ReadableStore,
  desc: Descriptor,
  options: DiscoverReferrersOptions = {},
): Promise<Referrer[]> {
  const lister = options.via ?? store;
  if (!lister.referrers) return [];
  const signal = options.signal;
  const subjects: Descriptor[] = [desc];
  if (Array.isArray(options.children)) subjects.push(...options.children.filter((d) => isManifest(d.mediaType)));
  else if (options.children !== false && isIndex(desc.mediaType)) {
    const top = await fetchManifest(store, desc, { signal });
    if (top.parsed.kind === "index") {
      subjects.push(...top.parsed.index.manifests.filter((d) => isManifest(d.mediaType)));
    }
  }
  const seen = new Set(subjects.map((s) => s.digest));
  const out: Referrer[] = [];
  const limit = new Limiter(DISCOVERY_CONCURRENCY);
  let level = subjects;
  let types = options.artifactTypes?.length ? options.artifactTypes : undefined;
  while (level.length > 0) {
    if (signal?.aborted) throw abortErrorOf(signal);
    const answers = await Promise.all(
      level.map((subject) => limit.run(() => lister.referrers!(subject, { signal, artifactTypes: types }))),
    );
    const next: Descriptor[] = [];
    answers.forEach((found, i) => {
      for (const r of found) {
        if (seen.has(r.digest) || !isManifest(r.mediaType)) continue;
        seen.add(r.digest);
        const referrer: Descriptor = { mediaType: r.mediaType, digest: r.digest, size: r.size };
        if (r.artifactType) referrer.artifactType = r.artifactType;
        out.push({
          desc: referrer,
          subject: level[i].digest,
          ...(r.artifactType ? { artifactType: r.artifactType } : {}),
          ...(r.tag !== undefined ? { tag: r.tag } : {}),
        });
        next.push(referrer);
      }
    });
    level = next;
    types = undefined; // what refers to a chosen referrer belongs to it
  }
  return out;
}

/**
 * Options of {@link copyReferrers}.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const options: CopyReferrersOptions = { repository: "team/app", concurrency: 4 };
 * await copyReferrers(sample.store, new MemoryStore(), await discoverReferrers(sample.store, sample.root), options);
 * ```
 */
export interface CopyReferrersOptions extends CopyGraphOptions {
  /** The repository a file names the image under (see `PutReferrerOptions.repository`). */
  repository?: string;
}

/**
 * What {@link copyReferrers} did: copyGraph's counts over every referrer graph.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const referrers = await discoverReferrers(sample.store, sample.root);
 * const result: ReferrersCopyResult = await copyReferrers(sample.store, new MemoryStore(), referrers);
 * console.log(result.copied, result.bytes);
 * ```
 */
export interface ReferrersCopyResult {
  /** Blobs and manifests written. */
  copied: number;
  /** Blobs and manifests the destination already had. */
  skipped: number;
  /** Blobs mounted from another repository of the same registry. */
  mounted: number;
  /** Blob bytes streamed. */
  bytes: number;
}

/**
 * Copies each referrer's graph from `src` to `dst` (digests preserved), in order, and makes it discoverable there
 * (`dst.putReferrer`: a cosign tag re-created, the fallback index merged at a registry without the referrers API,
 * an index.json entry in a layout or archive). A destination without `putReferrer` gets the cosign tags only.
 *
 * @example
 * ```ts
 * const { store: src, root } = buildSampleImage();
 * const dst = new MemoryStore();
 * const referrers = await discoverReferrers(src, root);
 * await copyGraph(src, dst, root);
 * await copyReferrers(src, dst, referrers);
 * await dst.tag(root, "1.0");
 * ```
 */
export async function copyReferrers(
  src: ReadableStore,
  dst: WritableStore,
  referrers: Referrer[],
  options: CopyReferrersOptions = {},
): Promise<ReferrersCopyResult> {
  const total: ReferrersCopyResult = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  for (const r of referrers) {
    // One graph at a time: a tar destination takes one push at once, and referrers are small.
    const result = await copyGraph(src, dst, r.desc, options);
    total.copied += result.copied;
    total.skipped += result.skipped;
    total.mounted += result.mounted;
    total.bytes += result.bytes;
    const signal = options.signal;
    if (dst.putReferrer) {
      await dst.putReferrer(r.desc, {
        subject: r.subject,
        signal,
        ...(r.tag !== undefined ? { tag: r.tag } : {}),
        ...(options.repository !== undefined ? { repository: options.repository } : {}),
      });
    } else if (r.tag !== undefined) await dst.tag(r.desc, r.tag, { signal });
  }
  return total;
}

/**
 * Which referrers travel: all (default), none (`false`), or those of some artifact types.
 *
 * @example
 * ```ts
 * const choice: ReferrersChoice = { artifactTypes: ["application/vnd.dev.cosign.simplesigning.v1+json"] };
 * ```
 */
export type ReferrersChoice = false | { artifactTypes?: string[]; repository?: string };

/**
 * Options of {@link transferWithReferrers}: `transfer`'s, and which referrers travel.
 *
 * @example
 * ```ts
 * const options: TransferWithReferrersOptions = { tags: ["1.0"], referrers: { artifactTypes: ["application/spdx+json"] } };
 * ```
 */
export interface TransferWithReferrersOptions extends CopyGraphOptions {
  /** Names pointing at the root after the copy (a tag, or `repo:tag` for archives); none by default. */
  tags?: string[];
  /** Runs after the tags and before `close()` (see `TransferOptions.beforeClose`); a failure aborts the destination. */
  beforeClose?: (result: CopyResult) => Promise<void>;
  /** Which referrers travel (default all); `false` copies the image only. */
  referrers?: ReferrersChoice;
}

/**
 * `transfer`'s result, with the referrers carried.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const result: TransferWithReferrersResult = await transferWithReferrers(sample.store, new MemoryStore(), sample.root, {
 *   tags: ["1.0"],
 * });
 * console.log(result.referrers.length);
 * ```
 */
export interface TransferWithReferrersResult extends CopyResult {
  /** The referrers copied (see {@link Referrer}). */
  referrers: Referrer[];
}

/**
 * `transfer` (lib/engine/transfer.ts) with the image's referrers: copies `root`, discovers its referrers in `src` and copies them
 * (see {@link copyReferrers}), then writes the tags and commits. Counts include the referrers' graphs.
 *
 * @example
 * ```ts
 * const { store: src, root } = buildSampleImage();
 * const dst = await OciLayoutStore.open("out", { create: true });
 * const result = await transferWithReferrers(src, dst, root, { tags: ["1.0"] });
 * console.log(result.referrers.map((r) => r.artifactType));
 * ```
 */
export async function transferWithReferrers(
  src: ReadableStore,
  dst: WritableStore,
  root: Descriptor,
  options: TransferWithReferrersOptions = {},
): Promise<TransferWithReferrersResult> {
  const { tags, beforeClose, ...rest } = options;
  const done = await transferRoots(src, dst, [{ desc: root, tags }], {
    ...rest,
    ...(beforeClose ? { beforeClose: (result) => beforeClose({ root, ...result }) } : {}),
  });
  return { root, ...done };
}

/**
 * One root of {@link transferRoots}: a manifest or index and the names it gets.
 *
 * @example
 * ```ts
 * const root: TransferRoot = { desc: buildSampleImage().manifests[0], tags: ["1.0-amd64"] };
 * ```
 */
export interface TransferRoot {
  /** The manifest or index copied (with everything under it). */
  desc: Descriptor;
  /** Names pointing at it after the copy; none by default. */
  tags?: string[];
}

/**
 * Options of {@link transferRoots}: copyGraph's, which referrers travel, and a last step before the commit.
 *
 * @example
 * ```ts
 * const options: TransferRootsOptions = { referrers: false, concurrency: 4 };
 * ```
 */
export interface TransferRootsOptions extends CopyGraphOptions {
  /** Which referrers travel (default all); `false` copies the images only. */
  referrers?: ReferrersChoice;
  /** Runs after the tags and before `close()`; a failure aborts the destination. */
  beforeClose?: (result: TransferRootsResult) => Promise<void>;
}

/**
 * What {@link transferRoots} did, summed over its roots and their referrers.
 *
 * @example
 * ```ts
 * const { store, root } = buildSampleImage();
 * const result: TransferRootsResult = await transferRoots(store, new MemoryStore(), [{ desc: root, tags: ["1.0"] }]);
 * console.log(result.copied, result.bytes, result.referrers.length);
 * ```
 */
export interface TransferRootsResult extends Omit<CopyResult, "root"> {
  /** The referrers copied (see {@link Referrer}). */
  referrers: Referrer[];
}

/**
 * The one transfer every verb's copy is: each root's graph, then the referrers (of a single root and the manifests
 * it lists; with several roots, each root's own, as each stands for itself), then every root's tags, in one commit
 * of `dst`, so a failed copy leaves no tag behind. A tag that fails after others were written is a PartialError.
 *
 * @example
 * ```ts
 * const { store: src, manifests } = buildSampleImage();
 * const dst = await OciLayoutStore.open("out", { create: true });
 * await transferRoots(src, dst, manifests.map((m, i) => ({ desc: m, tags: [`1.0-${i}`] })));
 * ```
 */
export async function transferRoots(
  src: ReadableStore,
  dst: WritableStore,
  roots: TransferRoot[],
  options: TransferRootsOptions = {},
): Promise<TransferRootsResult> {
  const signal = options.signal;
  return await commit(dst, signal, async () => {
    const total: TransferRootsResult = {
      copied: 0,
      skipped: 0,
      mounted: 0,
      bytes: 0,
      skippedForeignLayers: [],
      referrers: [],
    };
    const add = (r: ReferrersCopyResult) => {
      total.copied += r.copied;
      total.skipped += r.skipped;
      total.mounted += r.mounted;
      total.bytes += r.bytes;
    };
    const foreign = new Map<string, Descriptor>();
    for (const root of roots) {
      const copied = await copyGraph(src, dst, root.desc, options);
      add(copied);
      for (const d of copied.skippedForeignLayers) foreign.set(d.digest, d);
    }
    total.skippedForeignLayers = [...foreign.values()];
    const choice = options.referrers ?? {};
    if (choice !== false) {
      total.referrers = await referrersOfRoots(src, roots.map((r) => r.desc), {
        signal,
        artifactTypes: choice.artifactTypes,
      });
      add(
        await copyReferrers(src, dst, total.referrers, {
          ...options,
          ...(choice.repository !== undefined ? { repository: choice.repository } : {}),
        }),
      );
    }
    if (signal?.aborted) throw abortErrorOf(signal);
    const written: string[] = [];
    for (const root of roots) {
      for (const tag of root.tags ?? []) {
        try {
          await dst.tag(root.desc, tag, { signal });
        } catch (err) {
          if (written.length === 0 || !(err instanceof FerryError)) throw err;
          throw new PartialError(`Cannot tag ${tag} after writing ${written.join(", ")}: ${err.message}`, [
            { ref: tag, error: err.message },
          ]);
        }
        written.push(tag);
      }
    }
    await options.beforeClose?.(total);
    return total;
  });
}

/**
 * The referrers {@link transferRoots} carries: those of a single root (an index's with those of its manifests),
 * or each root's own when there are several, each digest once, in the order found.
 *
 * @example
 * ```ts
 * const { store, root } = buildSampleImage();
 * const referrers = await referrersOfRoots(store, [root], { artifactTypes: ["application/spdx+json"] });
 * ```
 */
export async function referrersOfRoots(
  src: ReadableStore,
  roots: Descriptor[],
  options: { signal?: AbortSignal; artifactTypes?: string[] } = {},
): Promise<Referrer[]> {
  if (roots.length === 1) return await discoverReferrers(src, roots[0], options);
  const out: Referrer[] = [];
  const seen = new Set<string>();
  for (const root of roots) {
    for (const r of await discoverReferrers(src, root, { ...options, children: false })) {
      if (!seen.has(r.desc.digest) && seen.add(r.desc.digest)) out.push(r);
    }
  }
  return out;
}

/**
 * A referrer as `--json` and `--dry-run` list it.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const listed: ReferrerSummary[] = referrerSummaries(await discoverReferrers(sample.store, sample.root));
 * ```
 */
export interface ReferrerSummary {
  /** The referrer manifest's digest. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Its artifact type, when known. */
  artifactType?: string;
  /** The digest it refers to. */
  subject: string;
  /** Its cosign tag, for one found by tag. */
  tag?: string;
}

/**
 * The `--json` form of referrers.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const result = await transferWithReferrers(sample.store, new MemoryStore(), sample.root);
 * console.log(JSON.stringify(referrerSummaries(result.referrers)));
 * ```
 */
export function referrerSummaries(referrers: Referrer[]): ReferrerSummary[] {
  return referrers.map((r) => ({
    digest: r.desc.digest,
    mediaType: r.desc.mediaType,
    ...(r.artifactType ? { artifactType: r.artifactType } : {}),
    subject: r.subject,
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
  }));
}
