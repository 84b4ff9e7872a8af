/**
 * What the verbs that copy images from one end to another (copy, split) take and report in common: which
 * platforms, how many blobs at once, registry access for each end, what travels with the images, and the counts
 * of what was (or, in a dry run, would be) written. Each verb's own options and result extend these.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import type { RegistryOptions } from "../ends/open.ts";
import type { CopyEvent } from "./copy_graph.ts";
import type { DryRunPlan } from "./plan_copy.ts";
import type { ReferrerSummary } from "./referrers.ts";

/**
 * Options every image copy takes (see `CopyOptions`, `SplitOptions`).
 *
 * @example
 * ```ts
 * const options: ImageCopyOptions = { platforms: ["linux/amd64", "linux/arm64"], signal: AbortSignal.timeout(60_000) };
 * await copy("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/app:1.0", options);
 * ```
 */
export interface ImageCopyOptions {
  /** Platforms to keep (`linux/arm64`, `armv7`, comma lists); all by default. */
  platforms?: string[];
  /** Blobs moved at once. */
  concurrency?: number;
  /** Registry access for the source. */
  source?: RegistryOptions;
  /** Registry access for the destination. */
  destination?: RegistryOptions;
  /** Aborts the copy; a tag (or a layout's index) is written only after everything under it. */
  signal?: AbortSignal;
  /** Called for every blob and manifest skipped, mounted, started, copied, and as bytes stream. */
  onEvent?: (event: CopyEvent) => void;
  /**
   * Copy non-distributable ("foreign") layers too, which the source must then hold (crane's
   * `--allow-nondistributable-artifacts`). By default they are left out, as skopeo, crane and docker do:
   * the manifest names them and clients fetch them from its `urls`; a docker-archive or the Docker engine,
   * which need every layer, refuse such an image instead.
   */
  allowNondistributable?: boolean;
  /**
   * Carry the images' referrers (cosign and notation signatures, attestations, SBOMs: found through the referrers
   * API or the tag schema) with them, digests preserved (default true). Never into the Docker engine.
   */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
  /**
   * Write nothing: report what the copy would write, where, and what the destination already has (`plan`; the
   * counts and `bytes` are the copy's to come). The destination is only asked whether it has each blob.
   */
  dryRun?: boolean;
}

/**
 * What every image copy reports (see `CopyImageResult`, `SplitResult`), as `--json` prints it.
 *
 * @example
 * ```ts
 * const result: ImageCopyReport = await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0");
 * console.log(`${result.copied} copied, ${result.skipped} skipped, ${result.bytes} bytes`);
 * ```
 */
export interface ImageCopyReport {
  /** The source as given. */
  source: string;
  /** The destination as given. */
  destination: string;
  /** Digest of the root: the one written by copy (the source's own unless platforms were filtered), the source's by split. */
  digest: string;
  /** Non-distributable (foreign) layers left out: named by the manifests copied, fetched from their `urls`. */
  skippedForeignLayers: Descriptor[];
  /** The referrers copied with the images (signatures, attestations, SBOMs), parents first. */
  referrers: ReferrerSummary[];
  /** Blobs and manifests copied (with `dryRun`: to copy). */
  copied: number;
  /** Blobs and manifests the destination already had. */
  skipped: number;
  /** Blobs mounted from another repository of the same registry. */
  mounted: number;
  /** Blob bytes streamed (with `dryRun`: to stream). */
  bytes: number;
  /** Set by a `dryRun`: nothing was written, and the counts above are what the copy would do. */
  dryRun?: true;
  /** With `dryRun`: what would be written and what is there already. */
  plan?: DryRunPlan;
}
