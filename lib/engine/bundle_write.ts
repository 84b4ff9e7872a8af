/**
 * Bundles, the second step: {@link writeBundle} streams a planned bundle's blobs into one OCI archive or layout
 * (each blob once, each image named by its full reference in index.json), one docker-load archive of them all
 * (per-arch RepoTags, shared layers once), or volumes ({@link packVolumes}), each a complete OCI archive with
 * `bundle.json` inside and `volumes.json` beside (see lib/oci/bundle_meta.ts). Each blob is read from its source
 * once; a blob that two volumes need is spooled.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { abortErrorOf, FormatError, NotFoundError, UnsupportedError, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isManifest } from "../oci/media_types.ts";
import { platformLabel } from "../oci/platform.ts";
import {
  BUNDLE_FILE,
  BUNDLE_MEDIA_TYPE,
  type BundleImage,
  type BundleMeta,
  VOLUMES_FILE,
  VOLUMES_MEDIA_TYPE,
  type VolumesMeta,
} from "../oci/bundle_meta.ts";
import {
  CONTAINERD_NAME,
  containerdName,
  FERRY_REPOSITORY,
  SOURCE_INDEX,
  SOURCE_INDEX_NAME,
} from "../oci/annotations.ts";
import { formatReference, parseReference } from "../ref/reference.ts";
import { checkRepoTag, DEFAULT_EXPORT_REPO_TAG, parseTagTemplate } from "../ref/tag_template.ts";
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { SpoolingStore } from "../ends/spooling.ts";
import type { ReadableStore, StoreOptions } from "../ends/store.ts";
import { fileErrorOf, writeFileAtomic } from "../stream/files.ts";
import { streamOf } from "../stream/read_limited.ts";
import { verifyStream } from "../stream/verify.ts";
import type { ExportEvent } from "./platform_files.ts";
import { movedRepositories, repositoryOfName } from "../oci/referrers.ts";
import { packVolumes, tarBytes } from "./volumes.ts";
import type { Receipt } from "./receipt.ts";
import { type BundlePlan, plain, type PlannedImage } from "./bundle_plan.ts";

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
