/**
 * Resolving the components of a manifest list: an image reference → the image manifest(s) it contributes, each
 * with its platform (from the image config unless given) and the config's own platform for the check. A component
 * that is itself an index (buildx output, with `unknown/unknown` attestations) contributes its platform images.
 *
 * @module
 */
import { platformOfConfig } from "../../oci/platform.ts";
import { UsageError } from "../../errors.ts";
import { fetchConfig, fetchManifest } from "../../engine/fetch.ts";
import { listPlatforms } from "../../engine/select.ts";
import { bare, type Descriptor, type Platform } from "../../oci/descriptor.ts";
import { formatPlatform, formatPlatformAll, matchPlatform, normalizePlatform } from "../../oci/platform.ts";
import { formatReference, parseReference, type Reference, referenceTarget } from "../../ref/reference.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { openRegistryStore } from "../../ends/registry.ts";
import type { ReadableStore } from "../../ends/store.ts";
import type { DraftEntry } from "./draft.ts";

/** Options of {@link resolveComponent}. */
export interface ResolveComponentOptions {
  registry?: RegistryOptions;
  signal?: AbortSignal;
  /** The platform the list should give the component; an index component contributes its child for it. */
  platform?: Platform;
}

/** What one component contributes. */
export interface ResolvedComponent {
  entries: DraftEntry[];
  /** Things worth telling the user (a variant filled from the config, an index component expanded). */
  notes: string[];
}

/** Parses a component or list reference (a plain reference or `docker://…`), canonical. */
export function parseImageReference(text: string): Reference {
  return parseReference(text.startsWith("docker://") ? text.slice("docker://".length) : text);
}

/**
 * Resolves `image` in its registry now and returns the list entries it contributes.
 *
 * @example
 * ```ts
 * const { entries } = await resolveComponent("127.0.0.1:5000/app:1.0-arm64");
 * entries[0].descriptor.platform; // { os: "linux", architecture: "arm64", variant: "v8" } from the config
 * ```
 */
export async function resolveComponent(
  image: string,
  options: ResolveComponentOptions = {},
): Promise<ResolvedComponent> {
  const ref = parseImageReference(image);
  const name = formatReference(ref);
  const store = openRegistryStore(ref, options.registry);
  const opts = { signal: options.signal };
  const root = await store.resolve(referenceTarget(ref), opts);
  const top = await fetchManifest(store, root, opts);
  const notes: string[] = [];
  if (top.parsed.kind === "manifest") {
    const config = await configPlatform(store, top.parsed.manifest.config, opts);
    return { entries: [entry(name, root, options.platform ?? config, config)], notes };
  }
  const images = listPlatforms(top.parsed.index);
  let chosen = images;
  if (options.platform) {
    const want = options.platform;
    chosen = images.filter((d) => matchPlatform(want, d.platform));
    // Windows indexes carry one windows/amd64 image per os.version: the wanted os.version picks one.
    const version = want["os.version"];
    if (chosen.length > 1 && version) chosen = chosen.filter((d) => d.platform?.["os.version"] === version);
    if (chosen.length > 1) chosen = chosen.filter((d) => sameVariant(want, d.platform));
    if (chosen.length !== 1) {
      const has = images.map((d) => (d.platform ? formatPlatformAll(d.platform) : "?")).join(", ") ||
        "no platform images";
      throw new UsageError(
        `Cannot use ${name} for ${formatPlatformAll(want)}: it is an index with ${
          chosen.length === 0 ? "no" : "more than one"
        } matching image (it has ${has})`,
        { ref: name },
      );
    }
  } else if (images.length === 0) {
    throw new UsageError(`Cannot use ${name}: it is an index without platform images`, { ref: name });
  }
  if (images.length > 1 && !options.platform) {
    notes.push(`${name} is an index: adding its ${images.length} platform images`);
  }
  const entries: DraftEntry[] = [];
  for (const child of chosen) {
    const manifest = await fetchManifest(store, bare(child), opts);
    const config = manifest.parsed.kind === "manifest"
      ? await configPlatform(store, manifest.parsed.manifest.config, opts)
      : undefined;
    let platform = options.platform ?? child.platform ?? config;
    if (platform && !platform.variant && config?.variant && sameArch(platform, config)) {
      platform = { ...platform, variant: config.variant };
      notes.push(`${name}: variant ${config.variant} taken from the image config for ${formatPlatform(platform)}`);
    }
    entries.push(entry(name, bare(child), platform, config));
  }
  return { entries, notes };
}

/** The platform an image config declares (os, architecture, variant, os.version, os.features), if it names one. */
export async function configPlatform(
  store: ReadableStore,
  config: Descriptor,
  opts: { signal?: AbortSignal },
): Promise<Platform | undefined> {
  return platformOfConfig(await fetchConfig(store, config, opts));
}

function entry(
  image: string,
  desc: Descriptor,
  platform: Platform | undefined,
  config: Platform | undefined,
): DraftEntry {
  const descriptor: Descriptor = { ...bare(desc), ...(platform ? { platform: { ...platform } } : {}) };
  return { image, descriptor, ...(config ? { configPlatform: config } : {}) };
}

function sameArch(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture;
}

function sameVariant(want: Platform, have: Platform | undefined): boolean {
  return (normalizePlatform(want).variant ?? "") === (have ? normalizePlatform(have).variant ?? "" : "");
}
