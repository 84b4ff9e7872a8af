/**
 * `ferry export`: the string facade over {@link exportFromStore} — every platform of an image to
 * `image-<label>.tar.gz`, or the whole index to an OCI layout directory or OCI archive.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { parseLocation } from "../ref/location.ts";
import { formatPlatform } from "../ref/platform.ts";
import { copy, selectSource } from "./copy.ts";
import { type ExportEvent, exportImage as exportFromStore, type ExportedFile } from "./export.ts";
import type { CopyEvent } from "../graph/copy.ts";

/** Output formats of {@link exportImage}: crane's `pull --format` names. */
export type ExportFormat = "docker" | "oci" | "oci-archive";

/** Options of {@link exportImage}. */
export interface ExportImageOptions {
  /** Platforms to export (`amd64`, `linux/arm/v7`, comma lists); all by default. */
  platforms?: string[];
  /** `docker` (default): one `image-<label>.tar.gz` per platform; `oci`: a layout directory; `oci-archive`: one tar. */
  format?: ExportFormat;
  /** RepoTags per platform; placeholders {repo} {tag} {label} {os} {arch} {variant}; default `{repo}:{tag}-{label}`. */
  tagTemplate?: string;
  /** gzip level 0-9 of the files (default 0: the layers inside are already compressed). */
  gzipLevel?: number;
  /** oci-archive: the archive file (default `DIR/image.tar`; a `.tar.gz` name gzips it). */
  output?: string;
  /** Blobs fetched at once. */
  concurrency?: number;
  /** Registry access for the source. */
  registry?: RegistryOptions;
  signal?: AbortSignal;
  /** Per-file progress (docker, oci-archive). */
  onEvent?: (event: ExportEvent) => void;
  /** Per-blob progress (oci layout). */
  onCopyEvent?: (event: CopyEvent) => void;
}

/** What {@link exportImage} wrote. */
export interface ExportImageResult {
  source: string;
  format: ExportFormat;
  /** Digest of the source's root (index or manifest). */
  digest: string;
  /** Platforms exported, e.g. `linux/arm64/v8`. */
  platforms: string[];
  /** The files written (docker, oci-archive), each with size and sha256. */
  files: ExportedFile[];
  /** The layout directory (oci). */
  layout?: string;
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
export async function exportImage(src: string, dir: string, options: ExportImageOptions = {}): Promise<ExportImageResult> {
  const format = options.format ?? "docker";
  if (!["docker", "oci", "oci-archive"].includes(format)) {
    throw new UsageError(`Cannot export as "${format}": use docker, oci or oci-archive`);
  }
  const location = parseLocation(src);
  if (format === "oci") {
    const copied = await copy(src, `oci:${dir}`, {
      platforms: options.platforms,
      concurrency: options.concurrency,
      source: options.registry,
      signal: options.signal,
      onEvent: options.onCopyEvent,
    });
    return { source: copied.source, format, digest: copied.digest, platforms: copied.platforms, files: [], layout: dir };
  }
  const selected = await selectSource(location, options.platforms, { registry: options.registry, signal: options.signal });
  const { files } = await exportFromStore(selected.store, selected.root, dir, {
    format,
    repository: selected.repository,
    tag: selected.tag ?? "latest",
    tagTemplate: options.tagTemplate,
    gzipLevel: options.gzipLevel,
    concurrency: options.concurrency,
    output: format === "oci-archive" ? options.output ?? join(dir, options.gzipLevel === undefined ? "image.tar" : "image.tar.gz") : undefined,
    signal: options.signal,
    onEvent: options.onEvent,
  });
  return {
    source: src,
    format,
    digest: selected.root.digest,
    platforms: selected.platforms.map((p) => formatPlatform(p.platform)),
    files,
  };
}
