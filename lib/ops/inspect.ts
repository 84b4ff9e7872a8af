/**
 * `ferry inspect`: what an image reference points at, with its platforms.
 *
 * @module
 */
import { fetchManifest, platformOfImage } from "../graph/fetch_manifest.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isAttestation } from "../oci/manifest.ts";
import { parseLocation } from "../ref/location.ts";
import { formatPlatform } from "../ref/platform.ts";
import type { RegistryOptions } from "../registry/client.ts";
import { openSource } from "../store/open.ts";
import type { ReadableStore } from "../store/store.ts";

/** Options of {@link inspect}. */
export interface InspectOptions {
  registry?: RegistryOptions;
  signal?: AbortSignal;
}

/** One platform entry as `inspect` reports it. */
export interface InspectedEntry {
  digest: string;
  mediaType: string;
  size: number;
  /** `linux/arm64/v8`, or `unknown/unknown` for attestations. */
  platform?: string;
  attestation: boolean;
}

/** What {@link inspect} returns. */
export interface InspectResult {
  reference: string;
  digest: string;
  mediaType: string;
  size: number;
  /** True for an index / manifest list. */
  isIndex: boolean;
  manifests: InspectedEntry[];
  /** The exact bytes of the root manifest or index. */
  raw: Uint8Array;
}

/**
 * Resolves `ref` and lists its platforms (like `docker manifest inspect`, daemonless).
 *
 * @example
 * ```ts
 * const info = await inspect("127.0.0.1:5000/app:1.0");
 * console.log(info.digest, info.manifests.map((m) => m.platform));
 * ```
 */
export async function inspect(ref: string, options: InspectOptions = {}): Promise<InspectResult> {
  const opened = await openSource(parseLocation(ref), { registry: options.registry });
  try {
    return await describe(opened.store, opened.target, options.signal);
  } finally {
    await opened.dispose?.();
  }
}

async function describe(store: ReadableStore, target: string, signal?: AbortSignal): Promise<InspectResult> {
  const root = await store.resolve(target, { signal });
  const top = await fetchManifest(store, root, { signal });
  const base = {
    reference: store.ref,
    digest: root.digest,
    mediaType: root.mediaType,
    size: root.size,
    raw: top.bytes,
  };
  if (top.parsed.kind === "index") {
    const manifests = top.parsed.index.manifests.map((d: Descriptor) => ({
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      platform: d.platform ? formatPlatform(d.platform) : undefined,
      attestation: isAttestation(d),
    }));
    return { ...base, isIndex: true, manifests };
  }
  const platform = await platformOfImage(store, top, { signal });
  return {
    ...base,
    isIndex: false,
    manifests: [{
      digest: root.digest,
      mediaType: root.mediaType,
      size: root.size,
      platform: platform && formatPlatform(platform),
      attestation: false,
    }],
  };
}
