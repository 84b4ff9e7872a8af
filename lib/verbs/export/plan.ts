/**
 * `ferry export --dry-run` for the layout format and for `--push`: copy plans against the destination, which is
 * only asked (the per-platform files are measured by exportFromStore itself).
 *
 * @module
 */
import { foreignLayersMode, type SelectedSource } from "../../engine/source.ts";
import {
  type DryRunPlan,
  dryRunPlan,
  planCopy,
  planReferrers,
  planWithReferrers,
  probeDestination,
} from "../../engine/plan_copy.ts";
import type { Referrer } from "../../engine/referrers.ts";
import { referrerSummaries } from "../../engine/referrers.ts";
import { formatLocation, type Location, parseLocation } from "../../ref/location.ts";
import { formatPlatform } from "../../oci/platform.ts";
import type { ExportImageOptions, ExportImageResult } from "./export.ts";

/** The dry run of `--format oci`: the layout's plan (and the push's). */
export async function planExportLayout(
  selected: SelectedSource,
  location: Location,
  dir: string,
  target: Location | undefined,
  options: ExportImageOptions,
): Promise<ExportImageResult> {
  try {
    const probe = await probeDestination(parseLocation(`oci:${dir}`), selected.tag);
    const plan = await planWithReferrers(selected.store, probe.store, selected.root, {
      concurrency: options.concurrency,
      signal: options.signal,
      foreignLayers: foreignLayersMode(options.allowNondistributable, "oci"),
      referrers: options.referrers === false ? false : { artifactTypes: options.artifactTypes },
    });
    return {
      source: formatLocation(location),
      format: "oci",
      digest: selected.root.digest,
      platforms: selected.platforms.map((p) => formatPlatform(p.platform)),
      files: [],
      layout: dir,
      skippedForeignLayers: plan.skippedForeignLayers,
      referrers: referrerSummaries(plan.referrers),
      dryRun: true,
      plan: await dryRunPlan(plan, probe, probe.tag === undefined ? [] : [probe.tag], options.signal),
      ...(target
        ? { pushPlan: await planExportPush(selected, target, selected.tag ?? "latest", plan.referrers, options) }
        : {}),
    };
  } finally {
    await selected.dispose();
  }
}

/** The dry run of `--push`: what the registry would get of the selection and its referrers. */
export async function planExportPush(
  selected: SelectedSource,
  target: Location,
  tag: string,
  referrers: Referrer[],
  options: ExportImageOptions,
): Promise<DryRunPlan> {
  const probe = await probeDestination(target, tag, { registry: options.pushRegistry });
  const planOptions = {
    concurrency: options.concurrency,
    signal: options.signal,
    foreignLayers: options.allowNondistributable ? "copy" as const : "skip" as const,
    seen: new Set<string>(),
  };
  const plan = await planCopy(selected.store, probe.store, selected.root, planOptions);
  const all = await planReferrers(selected.store, probe.store, plan, referrers, planOptions);
  return await dryRunPlan(all, probe, probe.tag === undefined ? [] : [probe.tag], options.signal);
}
