/**
 * `ferry inspect`: what an image reference points at, with its platforms.
 *
 * @module
 */
import { fetchConfig, type FetchedManifest, fetchManifest, platformOfImage } from "../engine/fetch.ts";
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
  /**
   * Read each platform's manifest too (one request each): compressed size, layers, layers shared, and the
   * descriptors for a tree. Default false (the root alone, one request).
   */
  details?: boolean;
  /** Read each platform's image config too (created, entrypoint, cmd, env, labels, os.version); implies `details`. */
  config?: boolean;
}

/**
 * A blob or manifest as `inspect` shows it in a tree.
 *
 * @example
 * ```ts
 * const { manifests } = await inspect("127.0.0.1:5000/app:1.0", { details: true });
 * const layers: InspectedBlob[] = manifests[0].layerDescriptors ?? [];
 * ```
 */
export interface InspectedBlob {
  /** `sha256:<hex>`. */
  digest: string;
  /** The blob's media type (config, or a layer's compression). */
  mediaType: string;
  /** Bytes as stored (compressed, for layers). */
  size: number;
}

/**
 * The parts of an image config `inspect --config` shows.
 *
 * @example
 * ```ts
 * const { manifests } = await inspect("127.0.0.1:5000/app:1.0", { config: true });
 * const config: InspectedConfig | undefined = manifests[0].imageConfig;
 * console.log(config?.entrypoint, config?.cmd);
 * ```
 */
export interface InspectedConfig {
  /** When the image was built (RFC 3339), as its config says. */
  created?: string;
  /** `Entrypoint`. */
  entrypoint?: string[];
  /** `Cmd`. */
  cmd?: string[];
  /** `Env`, `NAME=value` each. */
  env?: string[];
  /** `Labels`. */
  labels?: Record<string, string>;
  /** `WorkingDir`. */
  workingDir?: string;
  /** `User`. */
  user?: string;
  /** Windows: the `os.version` of the config. */
  osVersion?: string;
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
  /** With `details`: the bytes to pull for it (config and layers, as stored: compressed). */
  compressedSize?: number;
  /** With `details`: how many layers it has. */
  layers?: number;
  /** With `details`: how many of its layers another platform of the index has too. */
  sharedLayers?: number;
  /** With `details`: its config. */
  configDescriptor?: InspectedBlob;
  /** With `details`: its layers, in order. */
  layerDescriptors?: InspectedBlob[];
  /** With `config`: what its image config says. */
  imageConfig?: InspectedConfig;
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
    const result = await describe(opened.store, opened.target, options.signal);
    if (options.details || options.config) await detail(opened.store, result, options);
    return result;
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

const blob = (d: Descriptor): InspectedBlob => ({ digest: d.digest, mediaType: d.mediaType, size: d.size });

/** Adds sizes, layers, layers shared (and configs) to each entry. */
async function detail(store: ReadableStore, result: InspectResult, options: InspectOptions): Promise<void> {
  const signal = options.signal;
  const fetched: FetchedManifest[] = await Promise.all(
    result.manifests.map((m) =>
      fetchManifest(store, { digest: m.digest, mediaType: m.mediaType, size: m.size }, { signal })
    ),
  );
  const users = new Map<string, number>();
  for (const [i, f] of fetched.entries()) {
    if (f.parsed.kind !== "manifest" || result.manifests[i].attestation) continue;
    for (const digest of new Set(f.parsed.manifest.layers.map((l) => l.digest))) {
      users.set(digest, (users.get(digest) ?? 0) + 1);
    }
  }
  await Promise.all(fetched.map(async (f, i) => {
    if (f.parsed.kind !== "manifest") return;
    const entry = result.manifests[i];
    const { config, layers } = f.parsed.manifest;
    entry.compressedSize = config.size + layers.reduce((n, l) => n + l.size, 0);
    entry.layers = layers.length;
    entry.sharedLayers = entry.attestation ? 0 : layers.filter((l) => (users.get(l.digest) ?? 0) > 1).length;
    entry.configDescriptor = blob(config);
    entry.layerDescriptors = layers.map(blob);
    if (options.config && !entry.attestation) {
      const c = await fetchConfig(store, config, { signal });
      const inner = (c.config ?? {}) as Record<string, unknown>;
      const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : undefined);
      entry.imageConfig = {
        ...(c.created ? { created: c.created } : {}),
        ...(strings(inner.Entrypoint) ? { entrypoint: strings(inner.Entrypoint) } : {}),
        ...(strings(inner.Cmd) ? { cmd: strings(inner.Cmd) } : {}),
        ...(strings(inner.Env) ? { env: strings(inner.Env) } : {}),
        ...(inner.Labels && typeof inner.Labels === "object" ? { labels: inner.Labels as Record<string, string> } : {}),
        ...(typeof inner.WorkingDir === "string" && inner.WorkingDir ? { workingDir: inner.WorkingDir } : {}),
        ...(typeof inner.User === "string" && inner.User ? { user: inner.User } : {}),
        ...(c["os.version"] ? { osVersion: c["os.version"] } : {}),
      };
    }
  }));
}
