/**
 * Export from a store, the engine half of `ferry export` and `ferry build -o`: one gzipped docker-load tarball per
 * platform (`image-<label>.tar.gz`), or the whole index
 * as one OCI archive, each a copyGraph into an {@link ArchiveWriter}.
 *
 * @module
 */
import { TaskGroup } from "./task_group.ts";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { abortErrorOf, FileError, NotFoundError, UnsupportedError, UsageError } from "../errors.ts";
import { type CopyEvent, copyGraph } from "./copy_graph.ts";
import { copyReferrers, type Referrer } from "./referrers.ts";
import { repositoryOfName } from "../oci/referrers.ts";
import { filterIndex, listPlatforms, selectPlatforms } from "./select.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { childrenOf, type ImageConfig, type Index, isAttestation, parseJson } from "../oci/manifest.ts";
import { isImageManifest, isManifest, isNondistributable, isZstdLayer, MediaType } from "../oci/media_types.ts";
import { formatPlatform, matchPlatform, platformLabel } from "../oci/platform.ts";
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { containerdName, REFERENCE_DIGEST, SOURCE_INDEX, SOURCE_INDEX_NAME } from "../oci/annotations.ts";
import { SpoolingStore } from "../ends/spooling.ts";
import { clearState, RESUME_DIR, sweepState } from "../stream/partial.ts";
import type { ReadableStore, WritableStore } from "../ends/store.ts";
import { fileErrorOf } from "../stream/files.ts";
import { streamOf } from "../stream/read_limited.ts";
import { DEFAULT_GZIP_LEVEL, GZIP_LEVEL_FOR_UNCOMPRESSED } from "../stream/gzip.ts";
import { checkRepoTag, DEFAULT_EXPORT_REPO_TAG, parseTagTemplate } from "../ref/tag_template.ts";

/**
 * How many files are written at once. Measured on 2 cores, 6 platforms (100 MiB, a shared 64 MiB base): 6 at
 * once took the same time as 3 (2.1-2.5 s, noisy) at ~160 MiB peak RSS against ~120 MiB; 2 was no faster either.
 */
const FILES_AT_ONCE = 3;

/**
 * Default of {@link ExportOptions.maxFiles}: the most per-platform files one docker-format export writes before it
 * refuses (a UsageError naming `--max-files` and `--platform`), so a huge index is not cut into thousands of files.
 */
export const DEFAULT_MAX_FILES = 256;

/**
 * The carried source index goes in every per-platform file while its copies add up to at most this many bytes
 * (index size × files); beyond that only the first file carries it, so the bytes written stay linear in the index.
 */
export const CARRY_BUDGET = 64 * 1024 * 1024;

/**
 * Options of {@link exportFromStore}.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const options: ExportOptions = { repository: "sample/app", tag: "1.0", platforms: "all" };
 * await exportFromStore(sample.store, sample.root, "out", options);
 * ```
 */
export interface ExportOptions {
  /** Platforms to export (default "all"); attestations are never exported as platforms. */
  platforms?: Platform[] | "all";
  /** One docker-archive per platform (default), or the whole index as one OCI archive. */
  format?: "docker" | "oci-archive";
  /** Repository for RepoTags and index.json names, e.g. `127.0.0.1:5000/app` or `app`. */
  repository: string;
  /** The source tag, e.g. `1.0`. */
  tag: string;
  /** RepoTags per platform (lib/ref/tag_template.ts: {repo} {tag} {label} {os} {arch} {variant} {osversion}); default `{repo}:{tag}-{label}`. */
  tagTemplate?: string;
  /**
   * docker format: the most per-platform files to write (default {@link DEFAULT_MAX_FILES}); more is a
   * {@link UsageError} before any file is written. An index listing one manifest twice gives it one file.
   */
  maxFiles?: number;
  /** gzip level 0-9; default {@link DEFAULT_GZIP_LEVEL} (docker), or a plain `.tar` (oci-archive). */
  gzipLevel?: number;
  /** Blobs fetched at once per platform (each file is written sequentially anyway). */
  concurrency?: number;
  /** Aborts the export; no file is left under a final name. */
  signal?: AbortSignal;
  /** Progress of each file written. */
  onEvent?: (event: ExportEvent) => void;
  /** oci-archive: the file to write (default `DIR/image.tar`, or `DIR/image.tar.gz` with a gzipLevel). */
  output?: string;
  /** oci-archive: a filtered index to write instead of `root`, its bytes readable from `src`. */
  filteredRoot?: Descriptor;
  /**
   * Also copy `root` (the whole graph, attestations too) into this store in the same pass, every
   * blob read from `src` once (spooled to DIR/.ferry-tmp-*), then tag it `tag` if given. A failure
   * of the push removes the files; a failure of a file leaves the push untagged.
   */
  push?: { store: WritableStore; tag?: string };
  /**
   * Copy non-distributable (foreign) layers too, which `src` must hold. Without it an OCI archive (and
   * the push) keeps the manifests naming them and leaves their blobs out, as skopeo does, while a platform
   * with foreign layers cannot become a docker-load file (it needs every layer): an {@link UnsupportedError}.
   */
  allowNondistributable?: boolean;
  /** Called once for each non-distributable layer left out, with the label of the file (or `push`) it is left out of. */
  onForeignLayer?: (desc: Descriptor, label: string) => void;
  /**
   * Referrers of the image (see `discoverReferrers`), readable from `src`, to carry: listed in index.json (never
   * in manifest.json) of the OCI archive, or of the per-platform file of the manifest they refer to (the index's
   * in every file); and pushed with `push`.
   */
  referrers?: Referrer[];
  /**
   * Write nothing: no directory, no file; each file is measured instead (`planned` in the result). Manifests are
   * read, blobs are not (their sizes are the descriptors'). Without `push`.
   */
  dryRun?: boolean;
  /**
   * Keep every verified blob (and a blob cut midway, journaled) in `DIR/.ferry-resume/` while the files are
   * written, so that a rerun after a crash rebuilds them from local bytes and fetches only what is missing:
   * `continue` uses what a previous run left, `restart` removes it first. Removed on success. Default: a temp
   * spool of the shared blobs only.
   */
  resume?: "continue" | "restart";
}

/**
 * One file a dry run of {@link exportFromStore} would write.
 *
 * @example
 * ```ts
 * const { planned } = await exportImage("127.0.0.1:5000/app:1.0", "out", { dryRun: true });
 * for (const f of planned ?? []) console.log(f.path, f.content, f.size ?? `about ${f.tar}`);
 * ```
 */
export interface PlannedFile {
  /** Path of the file. */
  path: string;
  /** `os/arch[/variant]`, for a per-platform file. */
  platform?: string;
  /** Digest of the manifest (or index) it holds. */
  manifest: string;
  /** The index it carries (see {@link ExportedFile.index}). */
  index?: string;
  /** Bytes of the blobs and manifests in it. */
  content: number;
  /** Bytes of its tar: content, 512-byte headers, padding to 512, manifest.json, index.json, …, 1024 at the end. */
  tar: number;
  /** The file's exact size: the tar's, or with gzip level 0 the tar's in stored blocks; absent when gzip compresses. */
  size?: number;
  /** A file of that name is there (the export would replace it). */
  exists: boolean;
}

/**
 * Progress of one output file: `label` is the platform label (or `oci-archive`).
 *
 * @example
 * ```ts
 * const onEvent = (event: ExportEvent) => {
 *   if (event.type === "done") console.log(`${event.path}: ${event.size} bytes`);
 * };
 * await exportImage("127.0.0.1:5000/app:1.0", "out", { onEvent });
 * ```
 */
export type ExportEvent =
  /** Every file, before the first starts (files are written a few at a time). */
  | { type: "queued"; label: string; path: string; total: number }
  | { type: "start"; label: string; path: string; total: number }
  | { type: "progress"; label: string; bytes: number; total: number }
  | { type: "done"; label: string; path: string; size: number }
  /** An index entry not exported as a file of its own (an OCI artifact: no platform); it is carried in the first file. */
  | { type: "note"; message: string };

/**
 * One file written by {@link exportFromStore}.
 *
 * @example
 * ```ts
 * const { files } = await exportImage("127.0.0.1:5000/app:1.0", "out");
 * const amd64: ExportedFile | undefined = files.find((f) => f.platform === "linux/amd64");
 * ```
 */
export interface ExportedFile {
  /** Path of the file written. */
  path: string;
  /** `os/arch[/variant]`, for a per-platform file. */
  platform?: string;
  /** Size of the file in bytes. */
  size: number;
  /** `sha256:<hex>` of the file. */
  sha256: string;
  /** Digest of the manifest (or index) the file holds. */
  manifest: string;
  /**
   * A per-platform file cut from an index: the digest of the index it carries (the source's, or the
   * filtered one with `platforms`), which `ferry import` of all the files pushes back byte for byte.
   */
  index?: string;
}

/**
 * What {@link exportFromStore} wrote.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const result: ExportResult = await exportFromStore(sample.store, sample.root, "out", { repository: "app", tag: "1.0" });
 * console.log(result.files.map((f) => f.path));
 * ```
 */
export interface ExportResult {
  /** Every file written, one per platform (or one for an OCI archive). */
  files: ExportedFile[];
  /** With `push`: the root pushed (and its tag). */
  pushed?: { digest: string; tag?: string };
  /** Non-distributable (foreign) layers left out (of the OCI archive, of the push), each digest once. */
  skippedForeignLayers: Descriptor[];
  /** With `dryRun`: the files it would write (and `files` is empty). */
  planned?: PlannedFile[];
}

/**
 * Exports `root` from `src` into `dir`: by default `image-<label>.tar.gz` per platform (docker-load
 * tarballs that are also OCI layouts), all platforms in parallel, shared layers fetched from `src`
 * once. On failure every file is removed (nothing appears under a final name) and the first error is thrown.
 *
 * @example
 * ```ts
 * const { store: src } = buildSampleImage();
 * const root = await src.resolve("1.0");
 * const { files } = await exportFromStore(src, root, "out", { repository: "app", tag: "1.0" });
 * // files: [{ path: "out/image-amd64.tar.gz", platform: "linux/amd64", size, sha256, manifest }, …]
 * ```
 */
export async function exportFromStore(
  src: ReadableStore,
  root: Descriptor,
  dir: string,
  options: ExportOptions,
): Promise<ExportResult> {
  if (options.signal?.aborted) throw abortErrorOf(options.signal);
  parseTagTemplate(options.tagTemplate ?? DEFAULT_EXPORT_REPO_TAG, { flag: "--tag" }); // refused before any work
  const push = options.push;
  const skippedForeignLayers = new Map<string, Descriptor>();
  const onForeign = (label: string, desc: Descriptor) => {
    if (skippedForeignLayers.has(desc.digest)) return;
    skippedForeignLayers.set(desc.digest, desc);
    options.onForeignLayer?.(desc, label);
  };
  // When pushing, every blob has two readers (its file and the push): spool them all, so each is read once.
  const stateDir = options.resume && !options.dryRun ? join(dir, RESUME_DIR) : undefined; // a dry run writes nothing
  if (stateDir && options.resume === "restart") await clearState(stateDir);
  else if (stateDir) await sweepState(stateDir);
  const spool = new SpoolingStore(src, () =>
    mkdtemp(join(dir, ".ferry-tmp-")).catch((err) => {
      throw fileErrorOf(err, "create a temp directory in", dir);
    }), { spoolAll: push !== undefined, ...(stateDir ? { stateDir } : {}) });
  let ok = false;
  try {
    if (!options.dryRun) {
      await mkdir(dir, { recursive: true }).catch((err) => {
        // ENOENT from `mkdir -p` (e.g. under /proc) means the output cannot be made, not that something is missing.
        const e = fileErrorOf(err, "create", dir);
        throw e instanceof NotFoundError ? new FileError(e.message, { ref: dir, cause: err }) : e;
      });
    }
    // Planned before any file is opened: a refusal (--max-files, foreign layers) leaves no file.
    const jobs = options.format === "oci-archive"
      ? [await ociArchiveJob(spool, root, dir, options)]
      : await dockerJobs(spool, root, dir, options, options.signal ?? new AbortController().signal);
    for (const job of jobs) {
      options.onEvent?.({ type: "queued", label: job.label, path: job.writer.path, total: job.total });
    }
    // At most FILES_AT_ONCE files, and the push alongside them; the first failure stops them all.
    const group = new TaskGroup(FILES_AT_ONCE + (push ? 1 : 0), options.signal);
    // The push runs alongside the files. On the 6-platform ~100 MiB sample over loopback (2 busy cores) both
    // orders took the same time (median 4.4 s vs 4.3 s after them; 2.3 s without a push): it is CPU-bound there.
    // Over a real network the upload overlaps the download, which only the concurrent order can do.
    if (push) {
      group.go(async (signal) => {
        await pushGraph(spool, push.store, options.filteredRoot ?? root, options, signal, onForeign);
        await copyReferrers(spool, push.store, options.referrers ?? [], {
          concurrency: options.concurrency,
          signal,
          foreignLayers: options.allowNondistributable ? "copy" : "skip",
        });
      });
    }
    const reader = options.dryRun ? manifestsOnly(spool) : spool;
    const done: (Done | undefined)[] = jobs.map(() => undefined);
    jobs.forEach((job, i) =>
      group.go(async (signal) => {
        done[i] = await runJob(reader, job, options, signal, onForeign);
      })
    );
    try {
      await group.wait();
      if (push) {
        if (push.tag !== undefined) {
          await push.store.tag(options.filteredRoot ?? root, push.tag, { signal: options.signal });
        }
        await push.store.close();
      }
    } catch (err) {
      group.release();
      await Promise.all([
        ...jobs.map((job, i) => done[i] ? done[i]!.discard() : job.writer.abort()),
        push?.store.abort().catch(() => {}),
      ]);
      throw err;
    }
    group.release();
    ok = true;
    return {
      files: options.dryRun ? [] : done.map((d) => d!.file),
      ...(options.dryRun ? { planned: done.map((d) => d!.planned!) } : {}),
      ...(push ? { pushed: { digest: (options.filteredRoot ?? root).digest, tag: push.tag } } : {}),
      skippedForeignLayers: [...skippedForeignLayers.values()],
    };
  } finally {
    await spool.finish(ok);
  }
}

/** Copies the graph of `root` from the spool into the push target, reporting progress under the label `push`. */
async function pushGraph(
  spool: SpoolingStore,
  dst: WritableStore,
  root: Descriptor,
  options: ExportOptions,
  signal: AbortSignal,
  onForeign: (label: string, desc: Descriptor) => void,
): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const total = await graphSize(spool, root, signal, options.allowNondistributable === true);
  const seen = new Map<string, number>();
  let bytes = 0;
  emit({ type: "start", label: "push", path: dst.ref, total });
  await copyGraph(spool, dst, root, {
    concurrency: options.concurrency,
    signal,
    foreignLayers: options.allowNondistributable ? "copy" : "skip",
    onEvent: (e) => {
      if (e.type === "foreign") return onForeign("push", e.desc);
      const size = e.type === "progress"
        ? e.bytes
        : e.type === "copied" || e.type === "skipped" || e.type === "mounted"
        ? e.desc.size
        : undefined;
      if (size === undefined) return;
      bytes += size - (seen.get(e.desc.digest) ?? 0);
      seen.set(e.desc.digest, size);
      emit({ type: "progress", label: "push", bytes, total });
    },
  });
  emit({ type: "done", label: "push", path: dst.ref, size: total });
}

/** Bytes in the graph of `root`, each digest once (manifests are read through the spool's cache). */
async function graphSize(
  spool: SpoolingStore,
  root: Descriptor,
  signal: AbortSignal,
  withForeign: boolean,
): Promise<number> {
  const sizes = new Map<string, number>();
  const walk = async (desc: Descriptor): Promise<void> => {
    if (sizes.has(desc.digest) || (!withForeign && isNondistributable(desc.mediaType))) return;
    sizes.set(desc.digest, desc.size);
    if (isManifest(desc.mediaType)) await Promise.all(childrenOf(await spool.manifest(desc, signal)).map(walk));
  };
  await walk(root);
  return [...sizes.values()].reduce((a, b) => a + b, 0);
}

interface Job {
  writer: ArchiveWriter;
  root: Descriptor;
  label: string;
  platform?: Platform;
  tags: [Descriptor, string][];
  total: number;
  /**
   * The index this per-platform file carries (absent when only the first file carries a huge one: see
   * {@link CARRY_BUDGET}), and the other children of it that go in this file.
   */
  carry?: { index?: Descriptor; bytes: Uint8Array; extras: Descriptor[] };
  /** The referrers this file lists in index.json. */
  referrers: Referrer[];
}

interface Done {
  file: ExportedFile;
  /** A dry run's measure of it. */
  planned?: PlannedFile;
  discard(): Promise<void>;
}

/**
 * `src` for a dry run: manifests read through, every other blob an empty stream that never ends, which the
 * measuring writer cancels unread (so no blob is fetched, and none spooled).
 */
function manifestsOnly(src: ReadableStore): ReadableStore {
  return {
    ref: src.ref,
    resolve: (reference, o) => src.resolve(reference, o),
    exists: (desc, o) => src.exists(desc, o),
    fetch: (desc, o) => isManifest(desc.mediaType) ? src.fetch(desc, o) : Promise.resolve(new ReadableStream()),
  };
}

async function runJob(
  spool: ReadableStore,
  job: Job,
  options: ExportOptions,
  signal: AbortSignal,
  onForeign: (label: string, desc: Descriptor) => void,
): Promise<Done> {
  const emit = options.onEvent ?? (() => {});
  const seen = new Map<string, number>();
  let bytes = 0;
  emit({ type: "start", label: job.label, path: job.writer.path, total: job.total });
  // A docker-load file's platforms were checked for foreign layers up front (dockerJobs): none is left out.
  const foreignLayers = options.allowNondistributable ? "copy" : job.platform ? "refuse" : "skip";
  const onEvent = (e: CopyEvent) => {
    if (e.type === "foreign") return onForeign(job.label, e.desc);
    if (e.type !== "progress") return;
    bytes += e.bytes - (seen.get(e.desc.digest) ?? 0);
    seen.set(e.desc.digest, e.bytes);
    emit({ type: "progress", label: job.label, bytes, total: job.total });
  };
  try {
    await copyGraph(spool, job.writer, job.root, { concurrency: options.concurrency, signal, onEvent, foreignLayers });
    if (job.carry) {
      // After the image: its attestations (whole graphs), then the index itself, all unlisted.
      const { index, bytes, extras } = job.carry;
      job.writer.carry(...(index ? [index.digest] : []), ...extras.map((d) => d.digest));
      for (const extra of extras) {
        await copyGraph(spool, job.writer, extra, { concurrency: options.concurrency, signal, onEvent, foreignLayers });
      }
      if (index) {
        await job.writer.push(index, streamOf(bytes), { signal });
        job.writer.annotate(job.root, {
          [SOURCE_INDEX]: index.digest,
          [SOURCE_INDEX_NAME]: containerdName(`${options.repository}:${options.tag}`),
        });
      }
    }
    if (job.referrers.length > 0) {
      await copyReferrers(spool, job.writer, job.referrers, {
        concurrency: options.concurrency,
        signal,
        onEvent,
        foreignLayers,
        repository: repositoryOfName(`${options.repository}:${options.tag}`),
      });
    }
    for (const [desc, name] of job.tags) await job.writer.tag(desc, name);
    await job.writer.close();
  } catch (err) {
    await job.writer.abort();
    throw err;
  }
  const measured = job.writer.measured;
  if (measured) {
    const path = job.writer.path;
    const planned: PlannedFile = {
      path,
      ...(job.platform ? { platform: formatPlatform(job.platform) } : {}),
      manifest: job.root.digest,
      ...(job.carry?.index ? { index: job.carry.index.digest } : {}),
      ...measured,
      exists: await stat(path).then(() => true, () => false),
    };
    return {
      file: { path, size: 0, sha256: "", manifest: job.root.digest },
      planned,
      discard: () => Promise.resolve(),
    };
  }
  const file = job.writer.file!;
  emit({ type: "progress", label: job.label, bytes: job.total, total: job.total }); // + manifests, not streamed
  emit({ type: "done", label: job.label, path: file.path, size: file.size });
  return {
    file: {
      path: file.path,
      ...(job.platform ? { platform: formatPlatform(job.platform) } : {}),
      size: file.size,
      sha256: file.sha256,
      manifest: job.root.digest,
      ...(job.carry?.index ? { index: job.carry.index.digest } : {}),
    },
    discard: () => rm(file.path, { force: true }),
  };
}

async function dockerJobs(
  spool: SpoolingStore,
  root: Descriptor,
  dir: string,
  options: ExportOptions,
  signal: AbortSignal,
): Promise<Job[]> {
  const want = options.platforms ?? "all";
  const top = await spool.manifest(root, signal);
  let chosen: { desc: Descriptor; platform: Platform }[];
  let carried: { index: Descriptor; bytes: Uint8Array; entries: Descriptor[] } | undefined;
  if (top.kind === "index") {
    chosen = [];
    const selected = selectPlatforms(top.index, want, { ref: spool.ref });
    const once = new Set<string>(); // an index listing one manifest twice: one file (named by its first entry)
    for (const desc of selected) {
      // An OCI artifact (a signature, an SBOM: empty config, no platform) has no file of its own; it is carried.
      if (desc.platform?.os && desc.platform.architecture) {
        if (!once.has(desc.digest)) chosen.push({ desc, platform: desc.platform });
        once.add(desc.digest);
      } else {options.onEvent?.({
          type: "note",
          message: `skipping ${desc.digest}: ${await notAnImage(spool, desc, signal)}`,
        });}
    }
    if (chosen.length === 0) {
      throw new UsageError(
        `Cannot export ${root.digest}: the index holds no platform images; copy it with ferry copy`,
        {
          ref: spool.ref,
        },
      );
    }
    // Every file carries the index of what was selected (artifacts too): the source's own, or the filtered one
    // (which keeps the chosen images' attestations), as `ferry copy --platform` would push it.
    const filtered = filterIndex(await spool.small(root, signal), top.index, selected);
    const whole = filtered.desc.digest === root.digest;
    carried = {
      index: whole ? { mediaType: root.mediaType, digest: root.digest, size: root.size } : filtered.desc,
      bytes: filtered.bytes,
      entries: whole ? top.index.manifests : parseJson<Index>(filtered.bytes, "filtered index").manifests,
    };
  } else {
    const config = parseJson<ImageConfig>(await spool.small(top.manifest.config, signal), "image config");
    if (!config?.os || !config.architecture) {
      throw new UsageError(
        `Cannot export ${root.digest}: ${await notAnImage(spool, root, signal)}; copy it with ferry copy`,
        { ref: spool.ref },
      );
    }
    const platform: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant) platform.variant = config.variant;
    if (want !== "all" && !want.some((w) => matchPlatform(w, platform))) {
      throw new NotFoundError(
        `Cannot find platform ${want.map(formatPlatform).join(", ")}: the image is ${formatPlatform(platform)} only`,
        { ref: spool.ref },
      );
    }
    chosen = [{ desc: root, platform }];
  }
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  if (chosen.length > maxFiles) {
    throw new UsageError(
      `Cannot export ${root.digest} as docker-load files: it would write ${chosen.length} platform files, more ` +
        `than --max-files ${maxFiles}; choose platforms with --platform, raise --max-files, or write one file ` +
        `with --format oci-archive`,
      { ref: spool.ref },
    );
  }
  // The index in every file while that stays small (import of all the files restores it from any of them);
  // else in the first file only (import without that file builds a new index, as for files of no index).
  const carryEverywhere = carried !== undefined && carried.index.size * chosen.length <= CARRY_BUDGET;
  const chosenDigests = new Set(chosen.map((c) => c.desc.digest));
  const counts = new Map<string, number>();
  for (const c of chosen) counts.set(platformLabel(c.platform), (counts.get(platformLabel(c.platform)) ?? 0) + 1);
  const jobs: Job[] = [];
  // The index's other children (attestations) go in the file of the image they name; any left over
  // (naming no exported image, or not images at all) go in the first file, so the set holds them all.
  const extrasOf = new Map<string, Descriptor[]>(chosen.map((c) => [c.desc.digest, []]));
  for (const entry of carried?.entries ?? []) {
    if (extrasOf.has(entry.digest)) continue;
    const subject = isAttestation(entry) ? entry.annotations?.[REFERENCE_DIGEST] : undefined;
    const home = subject !== undefined && extrasOf.has(subject) ? subject : chosen[0].desc.digest;
    extrasOf.get(home)!.push(entry);
  }
  const homes = referrerHomes(options.referrers ?? []);
  for (const [i, { desc, platform }] of chosen.entries()) {
    const carries = carried !== undefined && (carryEverywhere || i === 0);
    const parsed = desc === root ? top : await spool.manifest(desc, signal);
    if (parsed.kind !== "manifest") throw new NotFoundError(`Cannot export ${desc.digest}: not an image manifest`);
    // Two entries with one label (e.g. two linux/arm/v7 images): both get the manifest digest's first 12 hex digits.
    const base = platformLabel(platform);
    const label = counts.get(base)! > 1
      ? `${base}-${desc.digest.slice(desc.digest.indexOf(":") + 1, desc.digest.indexOf(":") + 13)}`
      : base;
    const layers = parsed.manifest.layers;
    const foreign = layers.filter((l) => isNondistributable(l.mediaType));
    if (foreign.length > 0 && !options.allowNondistributable) {
      // `docker save` writes the foreign layers the engine has; without their bytes no loadable file can be made.
      throw new UnsupportedError(
        `Cannot export ${formatPlatform(platform)} as a docker-load file: it needs every layer, and ${
          foreign.map((l) => `${l.digest} (${l.mediaType})`).join(", ")
        } ${foreign.length > 1 ? "are foreign layers" : "is a foreign layer"}; leave the platform out with ` +
          `--platform, use --format oci, or add --allow-nondistributable-artifacts if the source has the bytes`,
        { ref: spool.ref },
      );
    }
    const zstd = layers.filter((l) => isZstdLayer(l.mediaType));
    if (zstd.length > 0) {
      // docker load before 23.0 fails on them (after a load of the other layers); say so before writing anything.
      throw new UsageError(
        `Cannot export ${formatPlatform(platform)} as a docker-load file: ${
          zstd.map((l) => `${l.digest} (${l.mediaType})`).join(", ")
        } ${zstd.length > 1 ? "are zstd layers" : "is a zstd layer"}, which docker load before 23.0 cannot read; ` +
          `use --format oci or --format oci-archive (they keep zstd as it is), or leave the platform out with --platform`,
        { ref: spool.ref },
      );
    }
    spool.share([parsed.manifest.config, ...layers]);
    const extras = extrasOf.get(desc.digest) ?? [];
    let extraSize = 0;
    for (const extra of extras) extraSize += await sizeShared(spool, extra, signal);
    const compressed = layers.every((l) => /(gzip|zstd)$/.test(l.mediaType));
    const gzipLevel = options.gzipLevel ?? (compressed ? DEFAULT_GZIP_LEVEL : GZIP_LEVEL_FOR_UNCOMPRESSED);
    const repoTag = expandTemplate(options.tagTemplate ?? DEFAULT_EXPORT_REPO_TAG, options, platform, label);
    jobs.push({
      writer: new ArchiveWriter(join(dir, `image-${label}.tar.gz`), { gzipLevel, measure: options.dryRun }),
      root: desc,
      label,
      platform,
      tags: [[desc, repoTag]],
      total: desc.size + parsed.manifest.config.size + layers.reduce((n, l) => n + l.size, 0) + extraSize +
        (carries ? carried!.index.size : 0),
      ...(carried ? { carry: { index: carries ? carried.index : undefined, bytes: carried.bytes, extras } } : {}),
      // This platform's referrers; the index's (and any naming no exported image) in every file.
      referrers: (options.referrers ?? []).filter((r) => {
        const home = homes.get(r.desc.digest);
        return home === desc.digest || !chosenDigests.has(home!);
      }),
    });
  }
  return jobs;
}

/** Why `desc` (an index entry without a platform, or a manifest whose config names none) is not exported as a file. */
async function notAnImage(spool: SpoolingStore, desc: Descriptor, signal: AbortSignal): Promise<string> {
  let type = desc.artifactType;
  if (type === undefined && isImageManifest(desc.mediaType)) {
    const parsed = await spool.manifest(desc, signal).catch(() => undefined);
    if (parsed?.kind === "manifest") {
      const config = parsed.manifest.config.mediaType;
      type = parsed.manifest.artifactType ??
        (config === MediaType.OciConfig || config === MediaType.DockerConfig ? undefined : config);
    }
  }
  return type !== undefined
    ? `an artifact (${type}), not a platform image`
    : "not a platform image (no os/architecture)";
}

/** For each referrer, the digest its subject chain ends at (the image or manifest it is ultimately about). */
function referrerHomes(referrers: Referrer[]): Map<string, string> {
  const subjectOf = new Map(referrers.map((r) => [r.desc.digest, r.subject]));
  const homes = new Map<string, string>();
  for (const r of referrers) {
    let home = r.subject;
    for (let hops = 0; subjectOf.has(home) && hops < referrers.length; hops++) home = subjectOf.get(home)!;
    homes.set(r.desc.digest, home);
  }
  return homes;
}

/** Bytes in the graph of `desc` (an extra carried in one file), its blobs marked as read once more. */
async function sizeShared(spool: SpoolingStore, desc: Descriptor, signal: AbortSignal): Promise<number> {
  if (!isManifest(desc.mediaType)) {
    spool.share([desc]);
    return desc.size;
  }
  let size = desc.size;
  for (const child of childrenOf(await spool.manifest(desc, signal))) size += await sizeShared(spool, child, signal);
  return size;
}

async function ociArchiveJob(
  spool: SpoolingStore,
  root: Descriptor,
  dir: string,
  options: ExportOptions,
): Promise<Job> {
  const top = options.filteredRoot ?? root;
  const parsed = await spool.manifest(top, options.signal);
  const tags: [Descriptor, string][] = [[top, `${options.repository}:${options.tag}`]];
  let total = top.size;
  if (parsed.kind === "index") {
    for (const desc of listPlatforms(parsed.index)) {
      if (!desc.platform) continue;
      total += desc.size;
      tags.push([
        desc,
        expandTemplate(
          options.tagTemplate ?? DEFAULT_EXPORT_REPO_TAG,
          options,
          desc.platform,
          platformLabel(desc.platform),
        ),
      ]);
    }
  }
  // Kept as they are (the digests stay the source's), but the manifest.json in the archive names them: say so.
  const images = parsed.kind === "index" ? listPlatforms(parsed.index).filter((d) => d.platform) : [top];
  let zstd = 0;
  for (const desc of images) {
    const m = desc === top ? parsed : await spool.manifest(desc, options.signal);
    if (m.kind === "manifest") zstd += m.manifest.layers.filter((l) => isZstdLayer(l.mediaType)).length;
  }
  if (zstd > 0) {
    options.onEvent?.({
      type: "note",
      message: `${zstd} zstd layer${zstd > 1 ? "s" : ""} kept as ${
        zstd > 1 ? "they are" : "it is"
      }: docker load before 23.0 cannot read ${zstd > 1 ? "them" : "it"} (skopeo, containerd and docker 23+ can)`,
    });
  }
  const gz = options.gzipLevel !== undefined;
  const path = options.output ?? join(dir, gz ? "image.tar.gz" : "image.tar");
  return {
    writer: new ArchiveWriter(path, { gzipLevel: options.gzipLevel ?? false, measure: options.dryRun }),
    root: top,
    label: "oci-archive",
    tags,
    total,
    referrers: options.referrers ?? [],
  };
}

/** Fills a RepoTags template (lib/ref/tag_template.ts); `label` is the file's (made unique with a digest prefix). */
export function expandTemplate(template: string, options: ExportOptions, platform: Platform, label: string): string {
  const name = parseTagTemplate(template, { flag: "--tag" }).expand(platform, {
    repo: options.repository,
    tag: options.tag,
    label,
  });
  return checkRepoTag(name, template, "--tag");
}
