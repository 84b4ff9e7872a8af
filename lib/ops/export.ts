/**
 * Export: one gzipped docker-load tarball per platform (`image-<label>.tar.gz`), or the whole index
 * as one OCI archive, each a copyGraph into an {@link ArchiveWriter}.
 *
 * @module
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { abortErrorOf, NotFoundError } from "../errors.ts";
import { type CopyEvent, copyGraph } from "../graph/copy.ts";
import { listPlatforms, selectPlatforms } from "../graph/select.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { type ImageConfig, type ParsedManifest, parseJson, parseManifest } from "../oci/manifest.ts";
import { formatPlatform, matchPlatform, platformLabel } from "../ref/platform.ts";
import { ArchiveWriter } from "../store/docker_archive.ts";
import type { ReadableStore, RegistryOrigin, StoreOptions } from "../store/store.ts";
import { createTempWriter, fileErrorOf, readFileStream } from "../stream/files.ts";
import { DEFAULT_GZIP_LEVEL, GZIP_LEVEL_FOR_UNCOMPRESSED } from "../stream/gzip.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { verifyBytes, verifyStream } from "../stream/verify.ts";

/** The RepoTags template unless told otherwise: `127.0.0.1:5000/app:1.0-arm64`. */
export const DEFAULT_TAG_TEMPLATE = "{repo}:{tag}-{label}";

/** Options of {@link exportImage}. */
export interface ExportOptions {
  /** Platforms to export (default "all"); attestations are never exported as platforms. */
  platforms?: Platform[] | "all";
  /** One docker-archive per platform (default), or the whole index as one OCI archive. */
  format?: "docker" | "oci-archive";
  /** Repository for RepoTags and index.json names, e.g. `127.0.0.1:5000/app` or `app`. */
  repository: string;
  /** The source tag, e.g. `1.0`. */
  tag: string;
  /** RepoTags per platform; placeholders {repo} {tag} {label} {os} {arch} {variant}. Default {@link DEFAULT_TAG_TEMPLATE}. */
  tagTemplate?: string;
  /** gzip level 0-9; default {@link DEFAULT_GZIP_LEVEL} (docker), or a plain `.tar` (oci-archive). */
  gzipLevel?: number;
  /** Blobs fetched at once per platform (each file is written sequentially anyway). */
  concurrency?: number;
  signal?: AbortSignal;
  onEvent?: (event: ExportEvent) => void;
  /** oci-archive: the file to write (default `DIR/image.tar`, or `DIR/image.tar.gz` with a gzipLevel). */
  output?: string;
  /** oci-archive: a filtered index to write instead of `root`, its bytes readable from `src`. */
  filteredRoot?: Descriptor;
}

/** Progress of one output file: `label` is the platform label (or `oci-archive`). */
export type ExportEvent =
  | { type: "start"; label: string; path: string; total: number }
  | { type: "progress"; label: string; bytes: number; total: number }
  | { type: "done"; label: string; path: string; size: number };

/** One file written by {@link exportImage}. */
export interface ExportedFile {
  path: string;
  /** `os/arch[/variant]`, for a per-platform file. */
  platform?: string;
  size: number;
  /** `sha256:<hex>` of the file. */
  sha256: string;
  /** Digest of the manifest (or index) the file holds. */
  manifest: string;
}

/** What {@link exportImage} wrote. */
export interface ExportResult {
  files: ExportedFile[];
}

interface Target {
  desc: Descriptor;
  platform: Platform;
  label: string;
  parsed: ParsedManifest;
  path: string;
  repoTag: string;
}

/**
 * Exports `root` from `src` into `dir`: by default `image-<label>.tar.gz` per platform (docker-load
 * tarballs that are also OCI layouts), all platforms in parallel, shared layers fetched from `src`
 * once. On failure every file is removed (nothing appears under a final name) and the first error is thrown.
 *
 * @example
 * ```ts
 * const root = await src.resolve("1.0");
 * const { files } = await exportImage(src, root, "out", { repository: "app", tag: "1.0" });
 * // files: [{ path: "out/image-amd64.tar.gz", platform: "linux/amd64", size, sha256, manifest }, …]
 * ```
 */
export async function exportImage(
  src: ReadableStore,
  root: Descriptor,
  dir: string,
  options: ExportOptions,
): Promise<ExportResult> {
  if (options.signal?.aborted) throw abortErrorOf(options.signal);
  const controller = new AbortController();
  let firstError: unknown;
  const fail = (err: unknown) => {
    if (firstError === undefined) {
      firstError = options.signal?.aborted ? abortErrorOf(options.signal) : err;
      controller.abort(firstError);
    }
  };
  const onAbort = () => fail(abortErrorOf(options.signal!));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const spool = new SpoolingStore(src, () =>
    mkdtemp(join(dir, ".ferry-tmp-")).catch((err) => {
      throw fileErrorOf(err, "create a temp directory in", dir);
    }));
  try {
    await mkdir(dir, { recursive: true }).catch((err) => {
      throw fileErrorOf(err, "create", dir);
    });
    const jobs = options.format === "oci-archive"
      ? [await ociArchiveJob(spool, root, dir, options)]
      : await dockerJobs(spool, root, dir, options, controller.signal);
    const results = await Promise.allSettled(
      jobs.map((job) =>
        runJob(spool, job, options, controller.signal).catch((err) => {
          fail(err);
          throw err;
        })
      ),
    );
    if (firstError !== undefined) {
      await Promise.all(results.map((r, i) => r.status === "fulfilled" ? r.value.discard() : jobs[i].writer.abort()));
      throw firstError;
    }
    return { files: results.map((r) => (r as PromiseFulfilledResult<Done>).value.file) };
  } catch (err) {
    throw firstError ?? err;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await spool.dispose();
  }
}

interface Job {
  writer: ArchiveWriter;
  root: Descriptor;
  label: string;
  platform?: Platform;
  tags: [Descriptor, string][];
  total: number;
}

interface Done {
  file: ExportedFile;
  discard(): Promise<void>;
}

async function runJob(spool: SpoolingStore, job: Job, options: ExportOptions, signal: AbortSignal): Promise<Done> {
  const emit = options.onEvent ?? (() => {});
  const seen = new Map<string, number>();
  let bytes = 0;
  emit({ type: "start", label: job.label, path: job.writer.path, total: job.total });
  const onEvent = (e: CopyEvent) => {
    if (e.type !== "progress") return;
    bytes += e.bytes - (seen.get(e.desc.digest) ?? 0);
    seen.set(e.desc.digest, e.bytes);
    emit({ type: "progress", label: job.label, bytes, total: job.total });
  };
  try {
    await copyGraph(spool, job.writer, job.root, { concurrency: options.concurrency, signal, onEvent });
    for (const [desc, name] of job.tags) await job.writer.tag(desc, name);
    await job.writer.close();
  } catch (err) {
    await job.writer.abort();
    throw err;
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
  if (top.kind === "index") {
    chosen = selectPlatforms(top.index, want, { ref: spool.ref }).map((desc) => ({ desc, platform: desc.platform! }));
  } else {
    const config = parseJson<ImageConfig>(await spool.small(top.manifest.config, signal), "image config");
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
  const counts = new Map<string, number>();
  for (const c of chosen) counts.set(platformLabel(c.platform), (counts.get(platformLabel(c.platform)) ?? 0) + 1);
  const jobs: Job[] = [];
  for (const { desc, platform } of chosen) {
    const parsed = desc === root ? top : await spool.manifest(desc, signal);
    if (parsed.kind !== "manifest") throw new NotFoundError(`Cannot export ${desc.digest}: not an image manifest`);
    // Two entries with one label (e.g. two linux/arm/v7 images): both get the manifest digest's first 12 hex digits.
    const base = platformLabel(platform);
    const label = counts.get(base)! > 1
      ? `${base}-${desc.digest.slice(desc.digest.indexOf(":") + 1, desc.digest.indexOf(":") + 13)}`
      : base;
    const layers = parsed.manifest.layers;
    spool.share([parsed.manifest.config, ...layers]);
    const compressed = layers.every((l) => /(gzip|zstd)$/.test(l.mediaType));
    const gzipLevel = options.gzipLevel ?? (compressed ? DEFAULT_GZIP_LEVEL : GZIP_LEVEL_FOR_UNCOMPRESSED);
    const repoTag = expandTemplate(options.tagTemplate ?? DEFAULT_TAG_TEMPLATE, options, platform, label);
    jobs.push({
      writer: new ArchiveWriter(join(dir, `image-${label}.tar.gz`), { gzipLevel }),
      root: desc,
      label,
      platform,
      tags: [[desc, repoTag]],
      total: desc.size + parsed.manifest.config.size + layers.reduce((n, l) => n + l.size, 0),
    });
  }
  return jobs;
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
          options.tagTemplate ?? DEFAULT_TAG_TEMPLATE,
          options,
          desc.platform,
          platformLabel(desc.platform),
        ),
      ]);
    }
  }
  const gz = options.gzipLevel !== undefined;
  const path = options.output ?? join(dir, gz ? "image.tar.gz" : "image.tar");
  return {
    writer: new ArchiveWriter(path, { gzipLevel: options.gzipLevel ?? false }),
    root: top,
    label: "oci-archive",
    tags,
    total,
  };
}

/** Fills {repo} {tag} {label} {os} {arch} {variant} in a RepoTags template. */
export function expandTemplate(template: string, options: ExportOptions, platform: Platform, label: string): string {
  const values: Record<string, string> = {
    repo: options.repository,
    tag: options.tag,
    label,
    os: platform.os,
    arch: platform.architecture,
    variant: platform.variant ?? "",
  };
  return template.replace(/\{(repo|tag|label|os|arch|variant)\}/g, (_, key: string) => values[key]);
}

/**
 * The source as seen by the per-platform copies: manifests and configs read once and kept (small),
 * and blobs that more than one exported platform needs fetched from the source ONCE, verified, into
 * a temp file under DIR/.ferry-tmp-*, then served from there to every platform.
 */
class SpoolingStore implements ReadableStore {
  readonly ref: string;
  readonly origin?: RegistryOrigin;
  readonly #small = new Map<string, Promise<Uint8Array>>();
  readonly #users = new Map<string, number>();
  readonly #spooled = new Map<string, Promise<string>>();
  #dir?: Promise<string>;

  constructor(readonly src: ReadableStore, readonly makeDir: () => Promise<string>) {
    this.ref = src.ref;
    this.origin = src.origin;
  }

  resolve(reference: string, options?: StoreOptions): Promise<Descriptor> {
    return this.src.resolve(reference, options);
  }

  exists(desc: Descriptor, options?: StoreOptions): Promise<boolean> {
    return this.src.exists(desc, options);
  }

  /** Notes that one more exported file needs each of `descs`. */
  share(descs: Descriptor[]): void {
    for (const d of descs) this.#users.set(d.digest, (this.#users.get(d.digest) ?? 0) + 1);
  }

  /** The verified bytes of a manifest or config, fetched once. */
  small(desc: Descriptor, signal?: AbortSignal): Promise<Uint8Array> {
    let bytes = this.#small.get(desc.digest);
    if (!bytes) {
      bytes = (async () => {
        const b = await readLimited(await this.src.fetch(desc, { signal }), MAX_MANIFEST_BYTES);
        verifyBytes(desc, b, this.ref);
        return b;
      })();
      bytes.catch(() => this.#small.delete(desc.digest));
      this.#small.set(desc.digest, bytes);
    }
    return bytes;
  }

  /** The parsed manifest or index `desc`. */
  async manifest(desc: Descriptor, signal?: AbortSignal): Promise<ParsedManifest> {
    return parseManifest(await this.small(desc, signal), desc.mediaType);
  }

  async fetch(desc: Descriptor, options: StoreOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const small = this.#small.get(desc.digest);
    if (small) return streamOf(await small);
    if ((this.#users.get(desc.digest) ?? 0) < 2) return this.src.fetch(desc, options);
    let spooled = this.#spooled.get(desc.digest);
    if (!spooled) {
      spooled = this.#spool(desc, options.signal);
      this.#spooled.set(desc.digest, spooled);
    }
    return readFileStream(await spooled);
  }

  async #spool(desc: Descriptor, signal?: AbortSignal): Promise<string> {
    this.#dir ??= this.makeDir();
    const path = join(await this.#dir, desc.digest.replace(":", "-"));
    const writer = await createTempWriter(path);
    try {
      const body = await this.src.fetch(desc, { signal });
      await body.pipeThrough(verifyStream(desc, this.ref)).pipeTo(writer.writable, { signal });
      await writer.commit();
      return path;
    } catch (err) {
      await writer.discard();
      throw signal?.aborted ? abortErrorOf(signal) : err;
    }
  }

  /** Removes the temp directory, if one was made. */
  async dispose(): Promise<void> {
    const dir = await this.#dir?.catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
