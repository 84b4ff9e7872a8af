/**
 * `ferry manifest inspect [-v] [--check] REF`: a list as the registry holds it (or as its draft stands, before
 * `push`), optionally with each image's manifest and a platform check against the image configs.
 *
 * @module
 */
import { fetchManifest } from "../../engine/fetch.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { isAttestation } from "../../oci/manifest.ts";
import { formatReference, referenceTarget } from "../../ref/reference.ts";
import { openRegistryStore } from "../../ends/registry.ts";
import { bare } from "../../oci/descriptor.ts";
import { configPlatform, parseImageReference } from "./component.ts";
import { loadDraft } from "./draft.ts";
import { listDocument, type ManifestListOptions } from "./list.ts";
import { type LintEntry, lintPlatforms, type PlatformIssue } from "./platform_lint.ts";

/**
 * Options of {@link inspectManifestList}.
 *
 * @example
 * ```ts
 * const options: InspectManifestListOptions = { check: true };
 * const { issues = [] } = await inspectManifestList("127.0.0.1:5000/app:1.0", options);
 * ```
 */
export interface InspectManifestListOptions extends ManifestListOptions {
  /** Also fetch every image manifest (docker's `-v`). */
  verbose?: boolean;
  /** Check every entry's platform against its image config, ARM variants and spellings. */
  check?: boolean;
}

/**
 * One image of the list with its manifest (verbose).
 *
 * @example
 * ```ts
 * const { images = [] } = await inspectManifestList("127.0.0.1:5000/app:1.0", { verbose: true });
 * const first: InspectedImage | undefined = images[0];
 * console.log(first?.ref, first?.descriptor.platform);
 * ```
 */
export interface InspectedImage {
  /** The image, `repo@digest`. */
  ref: string;
  /** Its entry in the list. */
  descriptor: Descriptor;
  /** Its manifest, parsed. */
  manifest: unknown;
}

/**
 * What {@link inspectManifestList} reports.
 *
 * @example
 * ```ts
 * const result: InspectManifestListResult = await inspectManifestList("127.0.0.1:5000/app:1.0");
 * console.log(result.source, result.digest, JSON.stringify(result.document));
 * ```
 */
export interface InspectManifestListResult {
  /** The list inspected, normalised. */
  reference: string;
  /** `draft` when a local draft of REF (from `create`) exists, else `registry`. */
  source: "draft" | "registry";
  /** Digest of the list. */
  digest: string;
  /** Media type of the list. */
  mediaType: string;
  /** The index (or manifest) document as JSON. */
  document: unknown;
  /** Each image with its manifest, with `verbose`. */
  images?: InspectedImage[];
  /** Platform problems, with `check` (empty when all is well). */
  issues?: PlatformIssue[];
}

/**
 * Inspects a manifest list: the draft of REF if `create` left one, else what the registry holds.
 *
 * @example
 * ```ts
 * const { issues } = await inspectManifestList("127.0.0.1:5000/app:1.0", { check: true });
 * for (const issue of issues!) console.log(issue.message);
 * ```
 */
export async function inspectManifestList(
  ref: string,
  options: InspectManifestListOptions = {},
): Promise<InspectManifestListResult> {
  const parsed = parseImageReference(ref);
  const opts = { signal: options.signal };
  const draft = parsed.digest
    ? undefined
    : await loadDraft(formatReference({ ...parsed, tag: parsed.tag ?? "latest" }), options);
  if (draft) {
    // Exactly the document push will send (same function, same bytes, same digest).
    const { index } = listDocument(draft.entries, { mediaType: draft.mediaType });
    const result: InspectManifestListResult = {
      reference: draft.list,
      source: "draft",
      digest: index.desc.digest,
      mediaType: index.desc.mediaType,
      document: JSON.parse(new TextDecoder().decode(index.bytes)),
    };
    const images = draft.entries.filter((e) => !isAttestation(e.descriptor));
    if (options.check) {
      result.issues = lintPlatforms(images.map((e) => ({
        digest: e.descriptor.digest,
        image: e.image,
        platform: e.descriptor.platform,
        configPlatform: e.configPlatform,
      })));
    }
    if (options.verbose) {
      result.images = [];
      for (const e of draft.entries) {
        const store = openRegistryStore(parseImageReference(e.image), options.registry);
        const m = await fetchManifest(store, bare(e.descriptor), opts);
        result.images.push({ ref: e.image, descriptor: e.descriptor, manifest: json(m.bytes) });
      }
    }
    return result;
  }
  const store = openRegistryStore(parsed, options.registry);
  const root = await store.resolve(referenceTarget(parsed), opts);
  const top = await fetchManifest(store, root, opts);
  const name = formatReference(parsed);
  const repo = formatReference({ registry: parsed.registry, repository: parsed.repository });
  const result: InspectManifestListResult = {
    reference: name,
    source: "registry",
    digest: root.digest,
    mediaType: root.mediaType,
    document: json(top.bytes),
  };
  const entries: Descriptor[] = top.parsed.kind === "index" ? top.parsed.index.manifests : [root];
  const lint: LintEntry[] = [];
  const images: InspectedImage[] = [];
  for (const d of entries) {
    const attestation = isAttestation(d);
    if (!(options.verbose || (options.check && !attestation))) continue;
    const m = d === root ? top : await fetchManifest(store, bare(d), opts);
    if (options.verbose) images.push({ ref: `${repo}@${d.digest}`, descriptor: d, manifest: json(m.bytes) });
    if (options.check && !attestation && m.parsed.kind === "manifest") {
      const config = await configPlatform(store, m.parsed.manifest.config, opts);
      lint.push({
        digest: d.digest,
        image: `${repo}@${d.digest}`,
        platform: d === root ? config : d.platform,
        configPlatform: config,
      });
    }
  }
  if (options.verbose) result.images = images;
  if (options.check) result.issues = lintPlatforms(lint);
  return result;
}

function json(bytes: Uint8Array): unknown {
  return JSON.parse(new TextDecoder().decode(bytes));
}
