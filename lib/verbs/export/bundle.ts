/**
 * `ferry export` of many images in one run (several references, `-f images.yaml`, `--all-tags REPO`): one OCI
 * archive or layout holding them all, one docker-load archive of them all, or volumes; the string facade over
 * lib/engine/bundle_plan.ts and bundle_write.ts. With `pushTo`, the images also go to a registry prefix, read from the files just written
 * (the sources are read once).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { UsageError } from "../../errors.ts";
import type { CopyEvent } from "../../engine/copy_graph.ts";
import { type BundleRequest, expandImageList, planBundle } from "../../engine/bundle_plan.ts";
import { type BundleFile, type BundleOutput, type DeltaSummary, writeBundle } from "../../engine/bundle_write.ts";
import { pushBundle, type PushedBundleImage } from "../../engine/bundle_push.ts";
import type { ExportEvent } from "../../engine/platform_files.ts";
import { parseVolumeSize } from "../../engine/volumes.ts";
import { readReceipt } from "../../engine/receipt.ts";
import { openBundleSet } from "../../ends/bundle_set.ts";
import type { BundleImage, VolumesMeta } from "../../oci/bundle_meta.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { parseImageList, parsePrefix } from "../../ref/image_list.ts";
import { parseTagTemplate } from "../../ref/tag_template.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { fileErrorOf } from "../../stream/files.ts";

/**
 * Options of {@link exportBundle}: what to bundle (any mix of `images`, `imageList`, `allTags`) and where.
 *
 * @example
 * ```ts
 * const options: ExportBundleOptions = {
 *   images: ["127.0.0.1:5000/app:1.0", "127.0.0.1:5000/db:16"],
 *   output: "release",
 *   volumeSize: "dvd",
 * };
 * await exportBundle(options);
 * ```
 */
export interface ExportBundleOptions {
  /** Image references (or `oci:DIR:TAG`, `oci-archive:FILE:TAG`). */
  images?: string[];
  /** A YAML list of images (lib/ref/image_list.ts; a `ferry mirror -c` file works too). */
  imageList?: string;
  /** Repositories whose every tag goes in. */
  allTags?: string[];
  /** Platforms of every image without platforms of its own; default all. */
  platforms?: string[];
  /**
   * `oci-archive` (default): one OCI archive; `oci`: a layout directory; `docker`: one docker-load archive (also
   * an OCI archive) with per-arch RepoTags.
   */
  format?: "oci-archive" | "oci" | "docker";
  /** The archive file, the layout directory, or (with volumes) the directory of the volumes. */
  output: string;
  /** Split into volumes of at most this size: bytes, or `4G`, `700M`, `dvd`, `dvd9`, `bd25`, `bd50`, `fat32`. */
  volumeSize?: number | string;
  /** docker: RepoTags of each platform image; default `{repo}:{tag}-{label}`. */
  tagTemplate?: string;
  /** Also push every image under this registry prefix (`REGISTRY[/PATH]`), read from the files written. */
  pushTo?: string;
  /** Registry access for the sources. */
  registry?: RegistryOptions;
  /** Registry access for `pushTo`. */
  pushRegistry?: RegistryOptions;
  /** Blobs fetched ahead. */
  concurrency?: number;
  /** Copy non-distributable (foreign) layers too, which the sources must hold. */
  allowNondistributable?: boolean;
  /** Carry each image's referrers (signatures, attestations, SBOMs), digests preserved (default true). */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
  /**
   * A delta against this receipt of the target (`ferry receipt`): every manifest, only the blobs the target lacks;
   * `ferry import` checks the rest is at the target before it pushes anything.
   */
  since?: string;
  /** Aborts the export; no file is left under a final name. */
  signal?: AbortSignal;
  /** Progress of each file written. */
  onEvent?: (event: ExportEvent) => void;
  /** Progress of the push, and foreign layers left out (`type: "foreign"`). */
  onCopyEvent?: (event: CopyEvent) => void;
}

/**
 * What {@link exportBundle} wrote.
 *
 * @example
 * ```ts
 * const result: ExportBundleResult = await exportBundle({ images: ["127.0.0.1:5000/app:1.0"], output: "b.tar" });
 * console.log(result.images.map((i) => `${i.name} ${i.digest}`));
 * ```
 */
export interface ExportBundleResult {
  /** The format written. */
  format: "oci-archive" | "oci" | "docker";
  /** Every image, as bundle.json has it (with its volumes, when split). */
  images: BundleImage[];
  /** Files written (the archive, or each volume) with size and sha256. */
  files: BundleFile[];
  /** The layout directory, for `oci`. */
  layout?: string;
  /** With volumes: volumes.json's path and content. */
  volumes?: { path: string; meta: VolumesMeta };
  /** With `pushTo`: each image pushed. */
  pushed?: PushedBundleImage[];
  /** Non-distributable layers left out. */
  skippedForeignLayers: Descriptor[];
  /** With `since`: the blobs left out (the target has them) and the bytes saved against a full bundle. */
  delta?: DeltaSummary;
}

/**
 * Exports many images into one bundle (or volumes of one), every platform and each blob once.
 *
 * @example
 * ```ts
 * const result = await exportBundle({
 *   images: ["127.0.0.1:5000/app:1.0", "127.0.0.1:5000/db:16"],
 *   output: "release.tar",
 * });
 * console.log(result.files[0].path, result.files[0].sha256);
 * ```
 */
export async function exportBundle(options: ExportBundleOptions): Promise<ExportBundleResult> {
  const format = options.format ?? "oci-archive";
  if (!["oci-archive", "oci", "docker"].includes(format)) {
    throw new UsageError(`Cannot export a bundle as "${format}": use oci-archive, oci or docker`);
  }
  const size = options.volumeSize === undefined
    ? undefined
    : typeof options.volumeSize === "number"
    ? options.volumeSize
    : parseVolumeSize(options.volumeSize);
  if (size !== undefined && format !== "oci-archive") {
    throw new UsageError(`Cannot split a bundle of --format ${format} into volumes: volumes are OCI archives`);
  }
  if (size === undefined && format !== "oci" && /\.(tar\.gz|tgz|gz)$/i.test(options.output)) {
    throw new UsageError(
      `Cannot export a bundle to ${options.output}: a bundle is a plain .tar (its layers are compressed already, ` +
        `and serve and import read it in place)`,
    );
  }
  if (options.tagTemplate !== undefined) {
    if (format !== "docker") throw new UsageError("Cannot use --tag: a bundle's RepoTags are for --format docker");
    parseTagTemplate(options.tagTemplate, { flag: "--tag" });
  }
  if (options.pushTo !== undefined) parsePrefix(options.pushTo.replace(/^docker:\/\//, ""));
  const requests: BundleRequest[] = (options.images ?? []).map((source) => ({
    source,
    ...(options.platforms ? { platforms: options.platforms } : {}),
  }));
  const listed = [];
  if (options.imageList !== undefined) {
    const text = await readFile(options.imageList, "utf8").catch((err) => {
      throw fileErrorOf(err, "read", options.imageList!);
    });
    const list = parseImageList(text, options.imageList);
    listed.push({ ...list, platforms: list.platforms ?? options.platforms });
  }
  if (options.allTags?.length) {
    listed.push({ sources: options.allTags.map((repository) => ({ repository })), platforms: options.platforms });
  }
  for (const list of listed) {
    requests.push(...await expandImageList(list, { registry: options.registry, signal: options.signal }));
  }
  if (requests.length === 0) {
    throw new UsageError("Cannot export: name the images (REF..., -f FILE or --all-tags REPO)");
  }
  const output: BundleOutput = size !== undefined
    ? { kind: "volumes", dir: options.output, size }
    : format === "oci"
    ? { kind: "oci", dir: options.output }
    : format === "docker"
    ? { kind: "docker", path: options.output, tagTemplate: options.tagTemplate }
    : { kind: "oci-archive", path: options.output };
  // The receipt is read (and its checksum verified) before any source is.
  const since = options.since !== undefined ? await readReceipt(options.since) : undefined;
  const plan = await planBundle(requests, {
    registry: options.registry,
    signal: options.signal,
    allowNondistributable: options.allowNondistributable,
    referrers: options.referrers,
    artifactTypes: options.artifactTypes,
  });
  let written;
  try {
    for (const desc of plan.skippedForeignLayers) options.onCopyEvent?.({ type: "foreign", desc });
    written = await writeBundle(plan, output, {
      concurrency: options.concurrency,
      signal: options.signal,
      onEvent: options.onEvent,
      ...(since ? { since } : {}),
    });
  } finally {
    await plan.dispose();
  }
  const result: ExportBundleResult = {
    format,
    images: written.images,
    files: written.files,
    ...(written.layout ? { layout: written.layout } : {}),
    ...(written.volumes ? { volumes: written.volumes } : {}),
    skippedForeignLayers: plan.skippedForeignLayers,
    ...(written.delta ? { delta: written.delta } : {}),
  };
  if (options.pushTo !== undefined) {
    // From the files just written: the sources are read once.
    const set = await openBundleSet(
      written.volumes ? [written.volumes.path] : [written.layout ?? written.files[0].path],
      { noChecksum: true, signal: options.signal },
    );
    try {
      result.pushed = await pushBundle(set.store, set.images, options.pushTo.replace(/^docker:\/\//, ""), {
        registry: options.pushRegistry,
        signal: options.signal,
        onEvent: options.onCopyEvent,
      });
    } finally {
      await set.dispose();
    }
  }
  return result;
}
