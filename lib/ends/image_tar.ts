/**
 * The docker-load tar that {@link ArchiveWriter} (a file) and {@link DockerEngineStore} (a `POST /images/load`
 * body) both write: blobs streamed as `blobs/<alg>/<hex>` entries, the manifests among them remembered, names
 * given to them, and at the end `manifest.json` (what `docker load` reads) and whatever else the end adds. The
 * two ends differ only in where the bytes go and which images their manifest.json lists.
 *
 * @module
 */
import { NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { splitDigest } from "../oci/digest.ts";
import { isAttestation, parseManifest } from "../oci/manifest.ts";
import { isManifest, MediaType } from "../oci/media_types.ts";
import { formatPlatform, matchPlatform } from "../oci/platform.ts";
import { readLimited } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import { tarEnd, tarHeader, tarPadding, writeTarEntry } from "../tar/write.ts";

/** A manifest the tar holds, as its manifest.json and index.json need it. */
export type Remembered =
  | { kind: "index"; desc: Descriptor; children: Descriptor[]; names: string[] }
  | { kind: "image"; desc: Descriptor; config: Descriptor; layers: Descriptor[]; names: string[] };

/**
 * One item of manifest.json.
 *
 * @example
 * ```ts
 * const item: DockerManifestItem = { Config: "blobs/sha256/…", RepoTags: ["app:1.0"], Layers: ["blobs/sha256/…"] };
 * ```
 */
export interface DockerManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/**
 * Which images manifest.json lists: see {@link ImageTar.dockerManifest}.
 *
 * @example
 * ```ts
 * const options: DockerManifestOptions = { platform: hostPlatform() }; // as the Docker engine end does
 * ```
 */
export interface DockerManifestOptions {
  /** Load mode (the Docker engine): a named index gives its names to its image for this platform. */
  platform?: Platform;
  /** Archive mode: manifests (by digest) never listed, e.g. referrers carried in index.json only. */
  exclude?: ReadonlySet<string>;
}

const IMAGE_CONFIGS = new Set<string>([MediaType.OciConfig, MediaType.DockerConfig]);
const LAYER_TYPE = /^application\/vnd\.(oci\.image\.layer\.|docker\.image\.rootfs\.)/;

/**
 * Writes a docker-load tar through `write`, one entry at a time (a tar is sequential: one push at once).
 *
 * @example
 * ```ts
 * const chunks: Uint8Array[] = [];
 * const tar = new ImageTar((chunk) => Promise.resolve(void chunks.push(chunk)), "memory");
 * await tar.push(desc, body);
 * tar.tag(desc, "app:1.0");
 * await tar.end([["manifest.json", tar.dockerManifest()]]);
 * ```
 */
export class ImageTar {
  /** Digests of every blob and manifest written. */
  readonly written: Set<string> = new Set();
  /** The manifests written, in order, by digest (carried ones excepted). */
  readonly manifests: Map<string, Remembered> = new Map();
  /** The entries indexes list for their children (platforms, attestation markers), by digest. */
  readonly entries: Map<string, Descriptor> = new Map();
  readonly #carried = new Set<string>();

  /**
   * `write` takes each chunk of the tar; `reuse`, if given, is told each blob content chunk once `write` has
   * settled for it (see `WriteTarEntryOptions.reuse`): only for a `write` that keeps no reference to it.
   */
  constructor(
    readonly write: (chunk: Uint8Array) => Promise<void>,
    readonly ref: string,
    readonly reuse?: (chunk: Uint8Array) => void,
  ) {}

  has(desc: Descriptor): boolean {
    return this.written.has(desc.digest);
  }

  /**
   * Marks manifests (by digest) as carried: written as blobs like any other, but remembered nowhere, so neither
   * manifest.json nor index.json lists them, and an index among them lends no platforms. Call before pushing them.
   */
  carry(...digests: string[]): void {
    for (const d of digests) this.#carried.add(d);
  }

  /** Writes `desc`'s bytes as its blob entry, verified; a manifest is also parsed and remembered. */
  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<void> {
    if (isManifest(desc.mediaType)) {
      const bytes = await readLimited(body);
      verifyBytes(desc, bytes, this.ref);
      if (!this.#carried.has(desc.digest)) this.#remember(desc, bytes);
      await this.entry(blobPath(desc.digest), bytes);
    } else {
      await writeTarEntry(blobPath(desc.digest), desc.size, body, this.write, {
        signal,
        ref: this.ref,
        ...(this.reuse ? { reuse: this.reuse } : {}),
      });
    }
    this.written.add(desc.digest);
  }

  /** Gives the written manifest `desc` the name `name` (`repo:tag`). */
  tag(desc: Descriptor, name: string): void {
    const m = this.manifests.get(desc.digest);
    if (!m) {
      throw new NotFoundError(`Cannot tag ${desc.digest} as ${name}: not written to ${this.ref}`, { ref: this.ref });
    }
    if (!m.names.includes(name)) m.names.push(name);
  }

  /**
   * Whether `docker load` can load `m`: an image config, tar layers all written (a foreign layer left out makes
   * an image unloadable), and not marked as an attestation by the index entry that lists it.
   */
  isLoadable(m: Remembered): m is Extract<Remembered, { kind: "image" }> {
    if (m.kind !== "image" || !IMAGE_CONFIGS.has(m.config.mediaType)) return false;
    const entry = this.entries.get(m.desc.digest);
    if (entry && isAttestation(entry)) return false;
    return m.layers.every((l) => LAYER_TYPE.test(l.mediaType) && this.written.has(l.digest));
  }

  /**
   * manifest.json. For an archive (no `platform`): every loadable image, each with its own names (an index's
   * names go to index.json). For the Docker engine (`platform`): the named images, a named index giving its
   * names to its image for `platform`, then the unnamed images no index lists; naming (or sending) what cannot
   * be loaded is a {@link UsageError}.
   */
  dockerManifest(options: DockerManifestOptions = {}): DockerManifestItem[] {
    const item = (m: Extract<Remembered, { kind: "image" }>, tags: string[]): DockerManifestItem => ({
      Config: blobPath(m.config.digest),
      RepoTags: tags,
      Layers: m.layers.map((l) => blobPath(l.digest)),
    });
    const all = [...this.manifests.values()];
    if (options.platform === undefined) {
      const listed = all.filter((m) => !options.exclude?.has(m.desc.digest));
      return listed.filter((m) => this.isLoadable(m)).map((m) => item(m, m.names));
    }
    const platform = options.platform;
    const loadable = (m: Remembered, name: string) => {
      if (this.isLoadable(m)) return m;
      throw new UsageError(`Cannot load ${m.desc.digest} (${name}) into ${this.ref}: not a loadable container image`, {
        ref: this.ref,
      });
    };
    const byImage = new Map<string, { image: Extract<Remembered, { kind: "image" }>; tags: string[] }>();
    for (const m of all.filter((m) => m.names.length > 0)) {
      const image = loadable(m.kind === "index" ? this.#imageFor(m, platform) : m, m.names[0]);
      byImage.set(image.desc.digest, { image, tags: [...(byImage.get(image.desc.digest)?.tags ?? []), ...m.names] });
    }
    const listed = new Set(all.flatMap((m) => (m.kind === "index" ? m.children.map((c) => c.digest) : [])));
    for (const m of all) {
      if (m.kind !== "image" || byImage.has(m.desc.digest) || listed.has(m.desc.digest)) continue;
      byImage.set(m.desc.digest, { image: loadable(m, "untagged"), tags: [] });
    }
    return [...byImage.values()].map(({ image, tags }) => item(image, tags));
  }

  /** Writes one small file entry (`manifest.json`, `index.json`, a manifest's blob). */
  async entry(name: string, bytes: Uint8Array): Promise<void> {
    await this.#put(tarHeader(name, bytes.byteLength));
    await this.#put(bytes);
    await this.#put(tarPadding(bytes.byteLength));
  }

  /** Writes `files` as JSON entries, then the end-of-archive marker. */
  async end(files: [name: string, json: unknown][]): Promise<void> {
    const enc = new TextEncoder();
    for (const [name, value] of files) await this.entry(name, enc.encode(JSON.stringify(value)));
    await this.#put(tarEnd());
  }

  #put(chunk: Uint8Array): Promise<void> {
    return chunk.byteLength === 0 ? Promise.resolve() : this.write(chunk);
  }

  #remember(desc: Descriptor, bytes: Uint8Array): void {
    const parsed = parseManifest(bytes, desc.mediaType);
    const plain: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (parsed.kind === "index") {
      for (const child of parsed.index.manifests) this.entries.set(child.digest, child);
      this.manifests.set(desc.digest, { kind: "index", desc: plain, children: parsed.index.manifests, names: [] });
    } else {
      const { config, layers } = parsed.manifest;
      this.manifests.set(desc.digest, { kind: "image", desc: plain, config, layers, names: [] });
    }
  }

  /** The image of index `m` for `platform`. */
  #imageFor(m: Extract<Remembered, { kind: "index" }>, platform: Platform): Remembered {
    const images = m.children.filter((c) => !isAttestation(c) && this.manifests.get(c.digest)?.kind === "image");
    const chosen = images.filter((c) => matchPlatform(platform, c.platform));
    if (chosen.length !== 1) {
      const have = images.map((c) => (c.platform ? formatPlatform(c.platform) : c.digest)).join(", ");
      throw new UsageError(
        `Cannot load an index into ${this.ref}: ${chosen.length === 0 ? "no" : "several"} ${
          formatPlatform(platform)
        } images in it (it has ${have || "none"}); choose one with --platform`,
        { ref: this.ref },
      );
    }
    return this.manifests.get(chosen[0].digest)!;
  }
}

/**
 * docker save's `repositories` file for manifest.json `items`: repository → tag → the image's top layer id.
 *
 * @example
 * ```ts
 * repositoriesOf([{ Config: "blobs/sha256/c", RepoTags: ["app:1.0"], Layers: ["blobs/sha256/abc"] }]); // { app: { "1.0": "abc" } }
 * ```
 */
export function repositoriesOf(items: DockerManifestItem[]): Record<string, Record<string, string>> {
  const repositories: Record<string, Record<string, string>> = {};
  for (const item of items) {
    const top = item.Layers.at(-1);
    if (!top) continue;
    for (const name of item.RepoTags) {
      const [repo, tag] = splitName(name);
      (repositories[repo] ??= {})[tag] = top.slice(top.lastIndexOf("/") + 1);
    }
  }
  return repositories;
}

/** `blobs/<alg>/<hex>`, the path of a blob in an OCI layout (and in docker save since 25.0). */
export function blobPath(digest: string): string {
  const [alg, hex] = splitDigest(digest);
  return `blobs/${alg}/${hex}`;
}

/** Splits `registry/repo:tag` at the tag's colon (the last one after the last slash); no tag → `latest`. */
export function splitName(name: string): [repo: string, tag: string] {
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) return [name.slice(0, colon), name.slice(colon + 1)];
  return [name, "latest"];
}
