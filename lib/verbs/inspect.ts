/**
 * `ferry inspect`: what an image reference points at, with its platforms.
 *
 * @module
 */
import { fetchManifest, platformOfImage } from "../engine/fetch.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isAttestation } from "../oci/manifest.ts";
import { parseLocation } from "../ref/location.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { RegistryOptions } from "../remote/client.ts";
import { openSource } from "../ends/open.ts";
import type { ReadableStore } from "../ends/store.ts";

/**
 * Options of {@link inspect}.
 *
 * @example
 * ```ts
 * const options: InspectOptions = { registry: { username: "ci", password: "secret" }, signal: AbortSignal.timeout(10_000) };
 * await inspect("registry.example.com/team/app:1.0", options);
 * ```
 */
export interface InspectOptions {
  /** Registry access (credentials, plain HTTP, TLS, retries). */
  registry?: RegistryOptions;
  /** Aborts the requests. */
  signal?: AbortSignal;
}

/**
 * One platform entry as `inspect` reports it.
 *
 * @example
 * ```ts
 * const { manifests } = await inspect("127.0.0.1:5000/app:1.0");
 * const images: InspectedEntry[] = manifests.filter((m) => !m.attestation);
 * console.log(images.map((m) => `${m.platform} ${m.digest}`));
 * ```
 */
export interface InspectedEntry {
  /** Digest of the entry's manifest. */
  digest: string;
  /** Media type of the entry's manifest. */
  mediaType: string;
  /** Size of the entry's manifest in bytes. */
  size: number;
  /** `linux/arm64/v8`, or `unknown/unknown` for attestations. */
  platform?: string;
  /** The platform's `os.version` (Windows), when it has one. */
  osVersion?: string;
  /** Whether the entry is an attestation manifest (buildx's `unknown/unknown`), not an image. */
  attestation: boolean;
}

/**
 * What {@link inspect} returns.
 *
 * @example
 * ```ts
 * const result: InspectResult = await inspect("127.0.0.1:5000/app:1.0");
 * console.log(result.digest, result.mediaType, result.manifests.length);
 * ```
 */
export interface InspectResult {
  /** The reference inspected, normalised. */
  reference: string;
  /** Digest of the root manifest or index. */
  digest: string;
  /** Media type of the root. */
  mediaType: string;
  /** Size of the root in bytes. */
  size: number;
  /** True for an index / manifest list. */
  isIndex: boolean;
  /** The index's entries (one for a single manifest). */
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
      ...(d.platform?.["os.version"] ? { osVersion: d.platform["os.version"] } : {}),
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
      ...(platform?.["os.version"] ? { osVersion: platform["os.version"] } : {}),
      attestation: false,
    }],
  };
}
