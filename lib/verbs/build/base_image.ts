/**
 * Base images of `ferry build`: each FROM (or `COPY --from`) image opened and resolved once, then
 * narrowed per platform to one image manifest, its config and its layers.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import { type FetchedManifest, fetchManifest } from "../../engine/fetch.ts";
import { listPlatforms } from "../../engine/select.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { type ImageManifest, parseJson } from "../../oci/manifest.ts";
import { parseLocation } from "../../ref/location.ts";
import { formatPlatform, matchPlatform, normalizePlatform } from "../../oci/platform.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { type OpenedSource, openSource } from "../../ends/open.ts";
import type { ReadableStore } from "../../ends/store.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../../stream/read_limited.ts";
import { verifyBytes } from "../../stream/verify.ts";

/** One platform's image of a base. */
export interface BaseImage {
  /** The name as written after substitution (`alpine:3.20`, `127.0.0.1:5000/base:1`). */
  name: string;
  store: ReadableStore;
  /** The image manifest chosen for the platform. */
  desc: Descriptor;
  manifest: ImageManifest;
  /** The config, parsed (its keys in their original order). */
  config: Record<string, unknown>;
  /** The platform the config declares. */
  platform: Platform;
  /** The digest the name resolved to (the index, or the manifest itself). */
  root: string;
}

/**
 * Opens base images by name, each once, and picks the image of a platform.
 *
 * @example
 * ```ts
 * const bases = new BaseImages({ plainHttp: true });
 * const image = await bases.get("127.0.0.1:5000/base:1", parsePlatform("linux/arm64"));
 * image.manifest.layers; // mounted or copied unchanged into the build
 * await bases.dispose();
 * ```
 */
export class BaseImages {
  readonly #opened = new Map<string, Promise<{ source: OpenedSource; top: FetchedManifest }>>();

  constructor(readonly registry: RegistryOptions = {}, readonly signal?: AbortSignal) {}

  /** The image of `name` for `want`; a {@link NotFoundError} when the base does not have that platform. */
  async get(name: string, want: Platform): Promise<BaseImage> {
    const { source, top } = await this.#open(name);
    const store = source.store;
    const signal = this.signal;
    let desc: Descriptor;
    if (top.parsed.kind === "index") {
      const images = listPlatforms(top.parsed.index);
      const matches = images.filter((d) => matchPlatform(want, d.platform));
      if (matches.length === 0) {
        const has = [...new Set(images.filter((d) => d.platform).map((d) => formatPlatform(d.platform!)))].join(", ");
        throw new NotFoundError(
          `Cannot use base image: ${name} has no ${formatPlatform(want)} image (it has ${has || "no platform images"})`,
          {
            ref: name,
          },
        );
      }
      desc = pick(matches, want);
    } else desc = top.desc;
    const fetched = desc === top.desc ? top : await fetchManifest(store, desc, { signal });
    if (fetched.parsed.kind !== "manifest") {
      throw new NotFoundError(`Cannot use ${name}: ${desc.digest} is not an image`, { ref: name });
    }
    const manifest = fetched.parsed.manifest;
    const bytes = await readLimited(await store.fetch(manifest.config, { signal }), MAX_MANIFEST_BYTES);
    verifyBytes(manifest.config, bytes, store.ref);
    const config = parseJson<Record<string, unknown>>(bytes, "image config");
    const platform: Platform = { os: String(config.os ?? ""), architecture: String(config.architecture ?? "") };
    if (config.variant) platform.variant = String(config.variant);
    if (top.parsed.kind === "manifest" && !matchPlatform(want, platform)) {
      throw new NotFoundError(
        `Cannot use base image: ${name} has no ${formatPlatform(want)} image (it is ${formatPlatform(platform)} only)`,
        { ref: name },
      );
    }
    return {
      name,
      store,
      desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
      manifest,
      config,
      platform,
      root: top.desc.digest,
    };
  }

  #open(name: string): Promise<{ source: OpenedSource; top: FetchedManifest }> {
    let opened = this.#opened.get(name);
    if (!opened) {
      opened = (async () => {
        const source = await openSource(parseLocation(name), { registry: this.registry });
        const root = await source.store.resolve(source.target, { signal: this.signal });
        return { source, top: await fetchManifest(source.store, root, { signal: this.signal }) };
      })();
      this.#opened.set(name, opened);
    }
    return opened;
  }

  /** Releases what opening the bases took (archive spool directories). */
  async dispose(): Promise<void> {
    for (const opened of this.#opened.values()) {
      await opened.then((o) => o.source.dispose?.(), () => {});
    }
  }
}

/** Among index entries matching `want`, the best: same variant, else arm's v7, else the first. */
function pick(matches: Descriptor[], want: Platform): Descriptor {
  const w = normalizePlatform(want);
  const exact = matches.find((d) => normalizePlatform(d.platform!).variant === w.variant);
  if (exact) return exact;
  if (w.architecture === "arm" && !w.variant) {
    const v7 = matches.find((d) => d.platform?.variant === "v7");
    if (v7) return v7;
  }
  return matches[0];
}
