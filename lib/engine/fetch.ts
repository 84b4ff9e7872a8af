/**
 * Reading small documents (manifests, indexes, image configs) from a store, verified.
 *
 * @module
 */
import { platformOfConfig } from "../oci/platform.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { type ImageConfig, type ParsedManifest, parseJson, parseManifest } from "../oci/manifest.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import type { ReadableStore, StoreOptions } from "../ends/store.ts";

/** A manifest's exact bytes and its parsed form. */
export interface FetchedManifest {
  desc: Descriptor;
  bytes: Uint8Array;
  parsed: ParsedManifest;
}

/**
 * Fetches, verifies and parses the manifest or index `desc`.
 *
 * @example
 * ```ts
 * const { parsed } = await fetchManifest(store, await store.resolve("1.0"));
 * ```
 */
export async function fetchManifest(
  store: ReadableStore,
  desc: Descriptor,
  options: StoreOptions = {},
): Promise<FetchedManifest> {
  const bytes = await readLimited(await store.fetch(desc, options), MAX_MANIFEST_BYTES);
  verifyBytes(desc, bytes, store.ref);
  return { desc, bytes, parsed: parseManifest(bytes, desc.mediaType) };
}

/** Fetches, verifies and parses an image config blob. */
export async function fetchConfig(
  store: ReadableStore,
  desc: Descriptor,
  options: StoreOptions = {},
): Promise<ImageConfig> {
  const bytes = await readLimited(await store.fetch(desc, options), MAX_MANIFEST_BYTES);
  verifyBytes(desc, bytes, store.ref);
  return parseJson<ImageConfig>(bytes, "image config");
}

/** The platform an image manifest's config declares. */
export async function platformOfImage(
  store: ReadableStore,
  manifest: FetchedManifest,
  options: StoreOptions = {},
): Promise<Platform | undefined> {
  if (manifest.parsed.kind !== "manifest") return undefined;
  const config = await fetchConfig(store, manifest.parsed.manifest.config, options);
  return platformOfConfig(config);
}
