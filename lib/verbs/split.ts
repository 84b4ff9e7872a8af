/**
 * `ferry split SRC DST`: one tag per platform (`DST:1.0-amd64`, `DST:1.0-arm64`, `DST:1.0-armv7`, …), each the
 * source's own child manifest with its digest unchanged; optionally the multi-arch tag too.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { ImageCopyOptions, ImageCopyReport } from "../engine/image_copy.ts";
import { formatLocation, parseLocation } from "../ref/location.ts";
import { formatPlatform } from "../oci/platform.ts";
import { isValidTag } from "../ref/reference.ts";
import { DEFAULT_SPLIT_TAG, parseTagTemplate } from "../ref/tag_template.ts";
import { openDestination } from "../ends/open.ts";
import { dryRunPlan, type PlanRoot, planRoots, probeDestination } from "../engine/plan_copy.ts";
import { foreignLayersMode, selectSource } from "../engine/source.ts";
import { bare } from "../oci/descriptor.ts";
import { referrerSummaries, type TransferRoot, transferRoots } from "../engine/referrers.ts";

/**
 * Options of {@link split}: every image copy's ({@link ImageCopyOptions}; `platforms` are those split out), and
 * the tags.
 *
 * @example
 * ```ts
 * const options: SplitOptions = { platforms: ["linux/amd64", "linux/arm64"], tagTemplate: "{tag}-{arch}", withIndex: true };
 * await split("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app", options);
 * ```
 */
export interface SplitOptions extends ImageCopyOptions {
  /**
   * Tag per platform from `{tag}` `{os}` `{arch}` `{variant}` (empty for arm64's v8, amd64's v1) `{label}`
   * `{osversion}` (lib/ref/tag_template.ts); default `{tag}-{arch}{variant}`.
   */
  tagTemplate?: string;
  /** Also tag DST's own tag with the index: the original when unfiltered, else one of the chosen platforms. */
  withIndex?: boolean;
}

/**
 * One tag `split` wrote.
 *
 * @example
 * ```ts
 * const { tags } = await split("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app");
 * const arm64: SplitTag | undefined = tags.find((t) => t.platform === "linux/arm64");
 * ```
 */
export interface SplitTag {
  /** The tag written, e.g. `1.0-arm64`. */
  tag: string;
  /** Digest of the platform's manifest (the source's own). */
  digest: string;
  /** The platform, `os/arch[/variant]`. */
  platform: string;
}

/**
 * What {@link split} did, as `--json` prints it: every image copy's counts ({@link ImageCopyReport}; `digest` is
 * the source's root, `referrers` those of each platform's manifest and, with `withIndex`, of the index).
 *
 * @example
 * ```ts
 * const result: SplitResult = await split("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app");
 * console.log(result.digest, result.tags.map((t) => t.tag));
 * ```
 */
export interface SplitResult extends ImageCopyReport {
  /** One tag per platform. */
  tags: SplitTag[];
  /** The multi-arch tag, with `withIndex`. */
  index?: { tag: string; digest: string; filtered: boolean };
}

/**
 * Splits a multi-arch image into per-platform tags at `dst` (a registry repository or an OCI layout).
 *
 * @example
 * ```ts
 * const result = await split("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app");
 * result.tags.map((t) => t.tag); // ["1.0-amd64", "1.0-arm64", "1.0-armv7"]
 * ```
 */
export async function split(src: string, dst: string, options: SplitOptions = {}): Promise<SplitResult> {
  const srcLocation = parseLocation(src);
  const dstLocation = parseLocation(dst);
  if (dstLocation.kind !== "registry" && dstLocation.kind !== "oci") {
    throw new UsageError(`Cannot split into ${dst}: split writes tags to a registry or an oci: layout`);
  }
  if (dstLocation.kind === "registry" && dstLocation.reference.digest) {
    throw new UsageError(`Cannot split into ${dst}: name a repository (and optionally a tag), not a digest`);
  }
  const template = parseTagTemplate(options.tagTemplate ?? DEFAULT_SPLIT_TAG, {
    flag: "--tag-template",
    available: SPLIT_PLACEHOLDERS,
  });
  const selected = await selectSource(srcLocation, options.platforms, {
    registry: options.source,
    signal: options.signal,
  });
  try {
    const probe = options.dryRun
      ? await probeDestination(dstLocation, selected.tag, { registry: options.destination })
      : undefined;
    const opened = probe ? undefined : await openDestination(dstLocation, selected.tag, {
      registry: options.destination,
    });
    const base = (probe ?? opened!).tag ?? "latest";
    const planned = selected.platforms.map((p) => ({
      desc: p.desc,
      platform: p.platform,
      tag: template.expand(p.platform, { tag: base }),
    }));
    if (planned.length === 0) throw new UsageError(`Cannot split ${src}: it names no platform images`);
    const seen = new Map<string, string>();
    for (const p of planned) {
      if (!isValidTag(p.tag)) {
        throw new UsageError(`Cannot split ${src}: "${p.tag}" (for ${formatPlatform(p.platform)}) is not a valid tag`);
      }
      const other = seen.get(p.tag);
      if (other) {
        throw new UsageError(
          `Cannot split ${src}: ${other} and ${
            formatPlatform(p.platform)
          } both get tag "${p.tag}"; add {os}, {variant} or {osversion} to --tag-template`,
        );
      }
      seen.set(p.tag, formatPlatform(p.platform));
    }
    if (options.withIndex && seen.has(base)) {
      throw new UsageError(`Cannot split ${src}: tag "${base}" is both a platform tag and the index tag`);
    }
    // Each platform's manifest is a root of its own, its plan counted under its platform; the index comes last.
    const roots: (TransferRoot & PlanRoot)[] = planned.map((p) => ({
      desc: bare(p.desc),
      tags: [p.tag],
      group: formatPlatform(p.platform),
    }));
    if (options.withIndex) roots.push({ desc: selected.root, tags: [base] });
    const transfer = {
      concurrency: options.concurrency,
      signal: options.signal,
      onEvent: options.onEvent,
      foreignLayers: foreignLayersMode(options.allowNondistributable, dstLocation.kind),
      // Each platform's referrers go with its tag (a platform's SBOM, signatures of its digest).
      referrers: options.referrers === false ? false as const : { artifactTypes: options.artifactTypes },
    };
    const head = {
      source: formatLocation(srcLocation),
      destination: formatLocation(dstLocation),
      digest: selected.root.digest,
      tags: planned.map((p): SplitTag => ({ tag: p.tag, digest: p.desc.digest, platform: formatPlatform(p.platform) })),
      ...(options.withIndex ? { index: { tag: base, digest: selected.root.digest, filtered: selected.filtered } } : {}),
    };
    if (probe) {
      const plan = await planRoots(selected.store, probe.store, roots, transfer);
      return {
        ...head,
        skippedForeignLayers: plan.skippedForeignLayers,
        referrers: referrerSummaries(plan.referrers),
        copied: plan.toWrite.length,
        skipped: plan.present.length,
        mounted: plan.mounted.length,
        bytes: plan.bytes,
        dryRun: true,
        plan: await dryRunPlan(plan, probe, roots.flatMap((r) => r.tags ?? []), options.signal),
      };
    }
    // Everything is copied before the first tag is written, so a failed copy leaves no tag behind; a tag that
    // fails after others were written is a PartialError naming them.
    const done = await transferRoots(selected.store, opened!.store, roots, transfer);
    return {
      ...head,
      skippedForeignLayers: done.skippedForeignLayers,
      referrers: referrerSummaries(done.referrers),
      copied: done.copied,
      skipped: done.skipped,
      mounted: done.mounted,
      bytes: done.bytes,
    };
  } finally {
    await selected.dispose();
  }
}

/** What split fills: a tag, not a reference, so no `{repo}`. */
const SPLIT_PLACEHOLDERS = ["tag", "label", "os", "arch", "variant", "osversion"] as const;
