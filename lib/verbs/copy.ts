/**
 * `ferry copy`: an image with every platform (or the chosen ones) from one end to another.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { ImageCopyOptions, ImageCopyReport } from "../engine/image_copy.ts";
import { referrerSummaries, transferWithReferrers } from "../engine/referrers.ts";
import { repositoryOfName } from "../oci/referrers.ts";
import { foreignLayersMode, type SelectedSource, selectSource } from "../engine/source.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isAttestation } from "../oci/manifest.ts";
import { formatLocation, type Location, parseLocation } from "../ref/location.ts";
import { formatPlatform, matchPlatform } from "../oci/platform.ts";
import { formatReference } from "../ref/reference.ts";
import { openDestination } from "../ends/open.ts";
import { type DryRunPlan, dryRunPlan, planWithReferrers, probeDestination } from "../engine/plan_copy.ts";
import { hostPlatform } from "../ends/docker_engine.ts";

/**
 * Options of {@link copy}: every image copy's ({@link ImageCopyOptions}), and resume.
 *
 * @example
 * ```ts
 * const options: CopyOptions = { platforms: ["linux/amd64", "linux/arm64"], signal: AbortSignal.timeout(60_000) };
 * await copy("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/app:1.0", options);
 * ```
 */
export interface CopyOptions extends ImageCopyOptions {
  /**
   * Resume after a crash (default true): a rerun continues the blobs a killed run left half written beside the
   * output (`.ferry-resume/`, removed on success). false (`--no-resume`) removes that state first.
   */
  resume?: boolean;
}

/**
 * What {@link copy} did, as `--json` prints it.
 *
 * @example
 * ```ts
 * const result: CopyImageResult = await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0");
 * console.log(result.digest, result.platforms, `${result.copied} copied, ${result.skipped} skipped`);
 * ```
 */
export interface CopyImageResult extends ImageCopyReport {
  /** Media type of the root written. */
  mediaType: string;
  /** True when a platform filter produced a new index (so the digest differs from the source's). */
  filtered: boolean;
  /** Platforms copied, e.g. `linux/arm64/v8`. */
  platforms: string[];
}

/**
 * The one image a single-image destination gets: the only platform chosen, or (for the local Docker
 * engine, like `docker pull`) the host's platform.
 */
function singleImage(selected: SelectedSource, destination: "docker-archive" | "docker-daemon"): Descriptor {
  const images = selected.platforms.filter((p) => !isAttestation(p.desc));
  if (images.length === 1) return images[0].desc;
  const host = destination === "docker-daemon" ? images.filter((p) => matchPlatform(hostPlatform(), p.platform)) : [];
  if (host.length === 1) return host[0].desc;
  throw new UsageError(
    `Cannot write ${images.length} platforms to one ${destination}: choose one with --platform (${
      images.map((p) => formatPlatform(p.platform)).join(", ")
    })`,
  );
}

/**
 * Copies an image between two locations (`docker://`, bare references, `oci:`, `oci-archive:`,
 * `docker-archive:`). Without a platform filter the destination gets the byte-identical root.
 *
 * @example
 * ```ts
 * const result = await copy("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/app:1.0");
 * console.log(result.digest, result.platforms);
 * ```
 */
export async function copy(src: string, dst: string, options: CopyOptions = {}): Promise<CopyImageResult> {
  const srcLocation = parseLocation(src);
  const dstLocation = parseLocation(dst);
  requireTagForDigest(src, srcLocation, dst, dstLocation, options.platforms === undefined);
  const selected = await selectSource(srcLocation, options.platforms, {
    registry: options.source,
    signal: options.signal,
  });
  try {
    return await copySelected(selected, srcLocation, dstLocation, options);
  } finally {
    await selected.dispose();
  }
}

/**
 * A source named by digest alone has no tag to give the destination: rather than write `:latest`
 * (clobbering whatever `latest` was), a registry or OCI destination must name its tag, or a digest.
 */
function requireTagForDigest(
  src: string,
  srcLocation: Location,
  dst: string,
  dstLocation: Location,
  whole: boolean,
): void {
  const byDigest = srcLocation.kind === "registry" && srcLocation.reference.digest !== undefined &&
    srcLocation.reference.tag === undefined;
  if (!byDigest) return;
  const untagged = dstLocation.kind === "registry"
    ? dstLocation.reference.tag === undefined && dstLocation.reference.digest === undefined
    : (dstLocation.kind === "oci" || dstLocation.kind === "oci-archive") && dstLocation.tag === undefined;
  if (!untagged) return;
  const untaggedForm = dstLocation.kind === "registry" && whole
    ? `, or ${dst}@${srcLocation.reference.digest} to push it untagged`
    : "";
  throw new UsageError(
    `Cannot copy ${src} to ${dst}: the destination needs a tag when the source is a digest (write ${dst}:TAG${untaggedForm})`,
  );
}

async function copySelected(
  selected: SelectedSource,
  srcLocation: Location,
  dstLocation: Location,
  options: CopyOptions,
): Promise<CopyImageResult> {
  // A docker-archive and the Docker engine take one image: a platform's manifest, never an index.
  const root = dstLocation.kind === "docker-archive" || dstLocation.kind === "docker-daemon"
    ? singleImage(selected, dstLocation.kind)
    : selected.root;
  // A dry run only asks the destination (probeDestination opens nothing for writing).
  const probe = options.dryRun
    ? await probeDestination(dstLocation, selected.tag, { registry: options.destination })
    : undefined;
  const opened = probe ? undefined : await openDestination(dstLocation, selected.tag, {
    registry: options.destination,
    resume: options.resume === false ? "restart" : "continue",
  });
  let tag = (probe ?? opened!).tag;
  if (dstLocation.kind === "oci-archive" || dstLocation.kind === "docker-archive") {
    // Archives name images `repo:tag` (docker's RepoTags), from the destination reference or the source's name.
    const named = dstLocation.kind === "docker-archive" ? dstLocation.reference : undefined;
    tag = named
      ? formatReference({ ...named, digest: undefined, tag: named.tag ?? "latest" }, { short: true })
      : `${selected.repository}:${tag ?? selected.tag ?? "latest"}`;
  }
  const archive = dstLocation.kind === "oci-archive" || dstLocation.kind === "docker-archive";
  const carry = options.referrers !== false && dstLocation.kind !== "docker-daemon";
  const referrers = carry
    ? {
      artifactTypes: options.artifactTypes,
      ...(archive && tag !== undefined ? { repository: repositoryOfName(tag) } : {}),
    }
    : false as const;
  const foreignLayers = foreignLayersMode(options.allowNondistributable, dstLocation.kind);
  const tags = tag === undefined ? [] : [tag];
  let plan: DryRunPlan | undefined;
  let result;
  if (probe) {
    const planned = await planWithReferrers(selected.store, probe.store, root, {
      concurrency: options.concurrency,
      signal: options.signal,
      foreignLayers,
      referrers,
    });
    plan = await dryRunPlan(planned, probe, tags, options.signal);
    result = {
      copied: planned.toWrite.length,
      skipped: planned.present.length,
      mounted: planned.mounted.length,
      bytes: planned.bytes,
      skippedForeignLayers: planned.skippedForeignLayers,
      referrers: planned.referrers,
    };
  } else {
    result = await transferWithReferrers(selected.store, opened!.store, root, {
      tags,
      concurrency: options.concurrency,
      signal: options.signal,
      onEvent: options.onEvent,
      foreignLayers,
      referrers,
    });
  }
  return {
    source: formatLocation(srcLocation),
    destination: formatLocation(dstLocation),
    digest: root.digest,
    mediaType: root.mediaType,
    filtered: selected.filtered,
    platforms: selected.platforms.filter((p) => root === selected.root || p.desc === root).map((p) =>
      formatPlatform(p.platform)
    ),
    copied: result.copied,
    skipped: result.skipped,
    mounted: result.mounted,
    bytes: result.bytes,
    skippedForeignLayers: result.skippedForeignLayers,
    referrers: referrerSummaries(result.referrers),
    ...(plan ? { dryRun: true as const, plan } : {}),
  };
}
