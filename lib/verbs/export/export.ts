/**
 * `ferry export`: the string facade over {@link exportFromStore} — every platform of an image to
 * `image-<label>.tar.gz`, or the whole index to an OCI layout directory or OCI archive.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../../errors.ts";
import type { CopyEvent, CopyResult } from "../../engine/copy_graph.ts";
import type { Referrer } from "../../engine/referrers.ts";
import { formatLocation, type Location, parseLocation } from "../../ref/location.ts";
import { formatPlatform } from "../../oci/platform.ts";
import { formatReference, parseReference } from "../../ref/reference.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { OciLayoutStore } from "../../ends/oci_layout.ts";
import { CONTAINERD_NAME, containerdName } from "../../oci/annotations.ts";
import { openDestination } from "../../ends/open.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import type { WritableStore } from "../../ends/store.ts";
import { foreignLayersMode, selectSource } from "../../engine/source.ts";
import {
  discoverReferrers,
  referrerSummaries,
  type ReferrerSummary,
  transferWithReferrers,
} from "../../engine/referrers.ts";
import { repositoryOfName } from "../../oci/referrers.ts";
import { type ExportedFile, type ExportEvent, exportFromStore, type PlannedFile } from "../../engine/platform_files.ts";
import type { DryRunPlan } from "../../engine/plan_copy.ts";
import { planExportLayout, planExportPush } from "./plan.ts";
import { checkRepoTag, DEFAULT_EXPORT_REPO_TAG, parseTagTemplate } from "../../ref/tag_template.ts";

/**
 * Output formats of {@link exportImage}: crane's `pull --format` names.
 *
 * @example
 * ```ts
 * const format: ExportFormat = "oci-archive";
 * await exportImage("127.0.0.1:5000/app:1.0", "out", { format, output: "out/app.oci.tar" });
 * ```
 */
export type ExportFormat = "docker" | "oci" | "oci-archive";

/**
 * Options of {@link exportImage}.
 *
 * @example
 * ```ts
 * const options: ExportImageOptions = {
 *   platforms: ["linux/arm64"],
 *   tagTemplate: "{repo}:{tag}-{os}-{arch}{variant}",
 *   onEvent: (event) => console.error(event.type, "label" in event ? event.label : event.message),
 * };
 * await exportImage("127.0.0.1:5000/app:1.0", "out", options);
 * ```
 */
export interface ExportImageOptions {
  /**
   * Resume after a crash (default true): a rerun continues the blobs a killed run left half written beside the
   * output (`.ferry-resume/`, removed on success). false (`--no-resume`) removes that state first.
   */
  resume?: boolean;
  /** Platforms to export (`amd64`, `linux/arm/v7`, comma lists); all by default. */
  platforms?: string[];
  /** `docker` (default): one `image-<label>.tar.gz` per platform; `oci`: a layout directory; `oci-archive`: one tar. */
  format?: ExportFormat;
  /** RepoTags per platform; placeholders {repo} {tag} {label} {os} {arch} {variant} {osversion}; default `{repo}:{tag}-{label}`. */
  tagTemplate?: string;
  /**
   * The repository the files name the image under (`{repo}` in RepoTags, and the carried index's name);
   * default the source's (`registry.example.com/team/app`).
   */
  repository?: string;
  /** gzip level 0-9 of the files (default 0: the layers inside are already compressed). */
  gzipLevel?: number;
  /** docker format: the most per-platform files to write (default 256); more is a UsageError naming `--max-files`. */
  maxFiles?: number;
  /** oci-archive: the archive file (default `DIR/image.tar`; a `.tar.gz` name gzips it). */
  output?: string;
  /** Blobs fetched at once. */
  concurrency?: number;
  /** Registry access for the source. */
  registry?: RegistryOptions;
  /**
   * Also push the image (the same selection: the whole index with its digest, or the filtered
   * index) to this registry reference in the same run, reading each blob from the source once.
   */
  pushTo?: string;
  /** Registry access for `pushTo`. */
  pushRegistry?: RegistryOptions;
  /** Aborts the export; no file is left under a final name. */
  signal?: AbortSignal;
  /** Per-file progress (docker, oci-archive). */
  onEvent?: (event: ExportEvent) => void;
  /** Per-blob progress (oci layout), and every format's foreign layers left out (`type: "foreign"`). */
  onCopyEvent?: (event: CopyEvent) => void;
  /**
   * Copy non-distributable (foreign) layers too, which the source must hold (crane's
   * `--allow-nondistributable-artifacts`). Without it `oci` and `oci-archive` keep the manifests naming
   * them and leave their blobs out, as skopeo does, and `docker` refuses a platform that has them: a
   * docker-load file needs every layer.
   */
  allowNondistributable?: boolean;
  /**
   * Carry the image's referrers (signatures, attestations, SBOMs) in the output, digests preserved (default
   * true): in the layout's or archive's index.json, and in each per-platform file's index.json (its platform's and
   * the index's), never in manifest.json; `ferry import` restores them, `ferry serve` serves them.
   */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
  /**
   * Write nothing: report each file's path and size (`planned`), or for `oci` what the layout would get (`plan`),
   * and for `pushTo` what the push would write (`pushPlan`). Manifests are read, blobs are not.
   */
  dryRun?: boolean;
}

/**
 * What {@link exportImage} wrote.
 *
 * @example
 * ```ts
 * const result: ExportImageResult = await exportImage("127.0.0.1:5000/app:1.0", "out");
 * for (const file of result.files) console.log(file.path, file.platform, file.sha256);
 * ```
 */
export interface ExportImageResult {
  /** The source as given. */
  source: string;
  /** The format written. */
  format: ExportFormat;
  /** Digest of the source's root (index or manifest). */
  digest: string;
  /** Platforms exported, e.g. `linux/arm64/v8`. */
  platforms: string[];
  /** The files written (docker, oci-archive), each with size and sha256. */
  files: ExportedFile[];
  /** The layout directory (oci). */
  layout?: string;
  /** With `pushTo`: where the image went and its root digest. */
  pushed?: { reference: string; digest: string };
  /** Non-distributable (foreign) layers left out: named by the manifests written, fetched from their `urls`. */
  skippedForeignLayers: Descriptor[];
  /** The referrers carried (signatures, attestations, SBOMs), parents first. */
  referrers: ReferrerSummary[];
  /** Set by a `dryRun`: nothing was written. */
  dryRun?: true;
  /** With `dryRun` (docker, oci-archive): the files it would write, each with its exact size (see {@link PlannedFile}). */
  planned?: PlannedFile[];
  /** With `dryRun` (oci): what the layout would get and what it has. */
  plan?: DryRunPlan;
  /** With `dryRun` and `pushTo`: what the push would write and what the registry has. */
  pushPlan?: DryRunPlan;
}

/**
 * Exports an image from a registry (or OCI layout) into files, streaming every layer to disk.
 *
 * @example
 * ```ts
 * const result = await exportImage("127.0.0.1:5000/app:1.0", "out");
 * for (const f of result.files) console.log(f.path, f.platform, f.size);
 * // out/image-amd64.tar.gz linux/amd64 …, out/image-arm64.tar.gz …, out/image-armv7.tar.gz …
 * ```
 */
export async function exportImage(
  src: string,
  dir: string,
  options: ExportImageOptions = {},
): Promise<ExportImageResult> {
  const format = options.format ?? "docker";
  if (!["docker", "oci", "oci-archive"].includes(format)) {
    throw new UsageError(`Cannot export as "${format}": use docker, oci or oci-archive`);
  }
  const template = options.tagTemplate ?? DEFAULT_EXPORT_REPO_TAG;
  const parsedTemplate = parseTagTemplate(template, { flag: "--tag" }); // before the source is read
  if (options.repository !== undefined) checkRepository(options.repository);
  const location = parseLocation(src);
  if (format !== "oci" && location.kind === "registry") {
    // A trial expansion with the source's name: a template that cannot give a docker reference stops here.
    const ref = location.reference;
    const repo = options.repository ?? formatReference({ registry: ref.registry, repository: ref.repository });
    checkRepoTag(
      parsedTemplate.expand({ os: "linux", architecture: "amd64" }, { repo, tag: ref.tag ?? "latest" }),
      template,
      "--tag",
    );
  }
  const target = options.pushTo === undefined ? undefined : pushTarget(options.pushTo);
  if (format === "oci") {
    const selected = await selectSource(location, options.platforms, {
      registry: options.registry,
      signal: options.signal,
    });
    if (options.dryRun) return await planExportLayout(selected, location, dir, target, options);
    let copied: CopyResult & { referrers: Referrer[] };
    const name = nameOf(location);
    try {
      const opened = await openDestination(parseLocation(`oci:${dir}`), selected.tag, {
        resume: options.resume === false ? "restart" : "continue",
      });
      copied = await transferWithReferrers(selected.store, opened.store, selected.root, {
        tags: opened.tag === undefined ? [] : [opened.tag],
        concurrency: options.concurrency,
        signal: options.signal,
        onEvent: options.onCopyEvent,
        foreignLayers: foreignLayersMode(options.allowNondistributable, "oci"),
        referrers: options.referrers === false ? false : {
          artifactTypes: options.artifactTypes,
          // Named into the repository recordName() gives the image, so ferry serve lists them beside it.
          ...(name ? { repository: repositoryOfName(name) } : {}),
        },
      });
    } finally {
      await selected.dispose();
    }
    await recordName(dir, location, copied.referrers);
    const result: ExportImageResult = {
      source: formatLocation(location),
      format,
      digest: copied.root.digest,
      platforms: selected.platforms.map((p) => formatPlatform(p.platform)),
      files: [],
      layout: dir,
      skippedForeignLayers: copied.skippedForeignLayers,
      referrers: referrerSummaries(copied.referrers),
    };
    if (target) {
      // The layout now holds every blob: push from it, so the source is still read once.
      const layout = await OciLayoutStore.open(dir);
      const root = await layout.resolve(copied.root.digest, { signal: options.signal });
      const opened = await openDestination(target, undefined, { registry: options.pushRegistry });
      result.pushed = await pushFrom(layout, opened.store, root, opened.tag ?? tagOf(location), target, options);
    }
    return result;
  }
  const selected = await selectSource(location, options.platforms, {
    registry: options.registry,
    signal: options.signal,
  });
  try {
    const push = target && !options.dryRun
      ? await openDestination(target, selected.tag ?? "latest", { registry: options.pushRegistry })
      : undefined;
    const referrers = options.referrers === false ? [] : await discoverReferrers(selected.store, selected.root, {
      signal: options.signal,
      artifactTypes: options.artifactTypes,
    });
    const { files, pushed, skippedForeignLayers, planned } = await exportFromStore(selected.store, selected.root, dir, {
      format,
      repository: options.repository ?? selected.repository,
      tag: selected.tag ?? "latest",
      tagTemplate: options.tagTemplate,
      gzipLevel: options.gzipLevel,
      maxFiles: options.maxFiles,
      concurrency: options.concurrency,
      output: format === "oci-archive"
        ? options.output ?? join(dir, options.gzipLevel === undefined ? "image.tar" : "image.tar.gz")
        : undefined,
      signal: options.signal,
      onEvent: options.dryRun ? (e) => e.type === "note" && options.onEvent?.(e) : options.onEvent,
      allowNondistributable: options.allowNondistributable,
      onForeignLayer: (desc) => options.onCopyEvent?.({ type: "foreign", desc }),
      ...(push ? { push: { store: push.store, tag: push.tag } } : {}),
      referrers,
      dryRun: options.dryRun,
      resume: options.resume === false ? "restart" : "continue",
    });
    const dry = options.dryRun
      ? {
        dryRun: true as const,
        planned: planned!,
        ...(target
          ? { pushPlan: await planExportPush(selected, target, selected.tag ?? "latest", referrers, options) }
          : {}),
      }
      : {};
    return {
      source: src,
      format,
      digest: selected.root.digest,
      platforms: selected.platforms.map((p) => formatPlatform(p.platform)),
      files,
      ...(pushed && target
        ? { pushed: { reference: pushedReference(target, pushed.tag), digest: pushed.digest } }
        : {}),
      skippedForeignLayers,
      referrers: referrerSummaries(referrers),
      ...dry,
    };
  } finally {
    await selected.dispose();
  }
}

/**
 * Records the image's full name beside its tag in the layout's index.json, as the docker and oci-archive
 * formats do (`io.containerd.image.name`), so `ferry serve` of any export form serves the same `repo:tag`.
 */
async function recordName(dir: string, location: Location, referrers: Referrer[]): Promise<void> {
  const name = nameOf(location);
  if (name === undefined || location.kind !== "registry") return;
  const layout = await OciLayoutStore.open(dir);
  layout.annotate(location.reference.tag!, { [CONTAINERD_NAME]: containerdName(name) });
  for (const r of referrers) {
    // A cosign tag keeps its ref.name; its full name puts it in the image's repository for ferry serve.
    if (r.tag !== undefined) {
      layout.annotate(r.tag, { [CONTAINERD_NAME]: containerdName(`${name.slice(0, name.lastIndexOf(":"))}:${r.tag}`) });
    }
  }
  await layout.close();
}

/** The image's full name `host/repo:tag` when the source is a tagged registry reference. */
function nameOf(location: Location): string | undefined {
  if (location.kind !== "registry" || location.reference.tag === undefined) return undefined;
  const { registry, repository, tag } = location.reference;
  return `${formatReference({ registry, repository }, { short: true })}:${tag}`;
}

/** `--name` must be a repository a docker reference can carry (`team/app`, `registry.example.com/team/app`). */
function checkRepository(name: string): void {
  let ok = false;
  try {
    const ref = parseReference(name);
    ok = ref.tag === undefined && ref.digest === undefined;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new UsageError(
      `Cannot export as "${name}": --name takes a repository (team/app or registry.example.com/team/app), no tag or digest`,
    );
  }
}

/** `--push DST` must name a registry. */
function pushTarget(dst: string): Location {
  const target = parseLocation(dst);
  if (target.kind !== "registry") {
    throw new UsageError(
      `Cannot push to ${formatLocation(target)}: --push takes a registry reference (host/repo[:tag])`,
    );
  }
  return target;
}

function tagOf(location: Location): string {
  return location.kind === "registry"
    ? location.reference.tag ?? "latest"
    : location.kind === "oci"
    ? location.tag ?? "latest"
    : "latest";
}

function pushedReference(target: Location, tag: string | undefined): string {
  if (target.kind !== "registry") return formatLocation(target);
  const ref = target.reference;
  return formatReference(tag !== undefined ? { ...ref, tag, digest: undefined } : ref);
}

async function pushFrom(
  src: OciLayoutStore,
  dst: WritableStore,
  root: Descriptor,
  tag: string | undefined,
  target: Location,
  options: ExportImageOptions,
): Promise<{ reference: string; digest: string }> {
  await transferWithReferrers(src, dst, root, {
    referrers: options.referrers === false ? false : { artifactTypes: options.artifactTypes },
    tags: tag === undefined ? [] : [tag],
    concurrency: options.concurrency,
    signal: options.signal,
    // The layout holds the foreign layers only if they were copied into it.
    foreignLayers: options.allowNondistributable ? "copy" : "skip",
    onEvent: options.onCopyEvent,
  });
  return { reference: pushedReference(target, tag), digest: root.digest };
}
