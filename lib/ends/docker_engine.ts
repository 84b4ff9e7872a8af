/**
 * The local Docker engine as a write-only store: what is pushed streams, as a docker-load tar, into
 * the body of one `POST /images/load` on the engine's unix socket (`DOCKER_HOST` or
 * `/var/run/docker.sock`); no docker CLI, no temp file.
 *
 * @module
 */
import process from "node:process";
import {
  AbortError,
  FerryError,
  FileError,
  NetworkError,
  NotFoundError,
  RegistryError,
  UsageError,
} from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { splitDigest } from "../oci/digest.ts";
import { isAttestation, parseManifest } from "../oci/manifest.ts";
import { isManifest, MediaType } from "../oci/media_types.ts";
import { formatPlatform, matchPlatform } from "../oci/platform.ts";
import { env, fetchLocalSocket, fetchUnix } from "../runtime.ts";
import { defaultDockerHost, parseDockerHost } from "./docker_host.ts";
import { readLimited } from "../stream/read_limited.ts";
import { TAR_BLOCK, tarHeader, tarPadding, writeTarEntry } from "../tar/tar_header.ts";
import { verifyBytes } from "../stream/verify.ts";
import type { StoreOptions, WritableStore } from "./store.ts";

/** Options of {@link DockerEngineStore}. */
export interface DockerEngineOptions {
  /**
   * A `DOCKER_HOST` value (`unix:///path/docker.sock`, `npipe:////./pipe/docker_engine`, `tcp://host:port`);
   * default `$DOCKER_HOST`, else the platform's default (the named pipe on Windows, /var/run/docker.sock elsewhere).
   */
  host?: string;
  /** The platform chosen from an index that is tagged; default the host's (`linux/<arch>`). */
  platform?: Platform;
}

/** The platform images run on here: `linux/<arch of this process>`. */
export function hostPlatform(): Platform {
  const arch = ({ x64: "amd64", ia32: "386", arm: "arm", arm64: "arm64", ppc64: "ppc64le", s390x: "s390x" } as Record<
    string,
    string
  >)[process.arch];
  return { os: "linux", architecture: arch ?? process.arch };
}

interface Remembered {
  desc: Descriptor;
  config?: Descriptor;
  layers?: Descriptor[];
  children?: Descriptor[];
}

/**
 * A {@link WritableStore} that loads images into the Docker engine. Blobs stream into the request
 * as `blobs/<alg>/<hex>` tar entries as they are pushed; `close()` appends `manifest.json` (one item
 * per tagged image; a tagged index loads its child for {@link DockerEngineOptions.platform}) and waits
 * for the engine's answer. `abort()` breaks the request, so the engine loads nothing.
 *
 * @example
 * ```ts
 * const engine = new DockerEngineStore();
 * await copyGraph(src, engine, manifestDesc);
 * await engine.tag(manifestDesc, "app:1.0");
 * await engine.close();
 * engine.loaded; // ["Loaded image: app:1.0"]
 * ```
 */
export class DockerEngineStore implements WritableStore {
  readonly ref = "docker-daemon:";
  readonly maxConcurrentPushes = 1;
  /** The engine's report lines once `close()` succeeded, e.g. `Loaded image: app:1.0`. */
  readonly loaded: string[] = [];
  readonly #host: string;
  readonly #platform: Platform;
  readonly #written = new Set<string>();
  readonly #manifests = new Map<string, Remembered>();
  readonly #names = new Map<string, string[]>();
  readonly #aborter = new AbortController();
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #response?: Promise<Response>;
  #failure?: Promise<never>;
  #closed = false;
  #ending = false;

  constructor(options: DockerEngineOptions = {}) {
    this.#host = options.host ?? env("DOCKER_HOST") ?? defaultDockerHost(process.platform);
    this.#platform = options.platform ?? hostPlatform();
  }

  exists(desc: Descriptor): Promise<boolean> {
    return Promise.resolve(this.#written.has(desc.digest));
  }

  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, options: StoreOptions = {}): Promise<void> {
    if (this.#closed || this.#written.has(desc.digest)) {
      await body.cancel().catch(() => {});
      if (this.#closed) {
        throw new UsageError("Cannot load into the Docker engine: the store is closed", { ref: this.ref });
      }
      return;
    }
    if (isManifest(desc.mediaType)) {
      const bytes = await readLimited(body);
      verifyBytes(desc, bytes, this.ref);
      const parsed = parseManifest(bytes, desc.mediaType);
      this.#manifests.set(
        desc.digest,
        parsed.kind === "index"
          ? { desc, children: parsed.index.manifests }
          : { desc, config: parsed.manifest.config, layers: parsed.manifest.layers },
      );
      await this.#entry(blobPath(desc.digest), bytes);
    } else {
      try {
        await writeTarEntry(blobPath(desc.digest), desc.size, body, (chunk) => this.#write(chunk), {
          signal: options.signal,
          ref: this.ref,
        });
      } catch (err) {
        await this.abort();
        throw err;
      }
    }
    this.#written.add(desc.digest);
  }

  tag(desc: Descriptor, name: string): Promise<void> {
    if (!this.#manifests.has(desc.digest)) {
      return Promise.reject(new NotFoundError(`Cannot tag ${desc.digest} as ${name}: not pushed`, { ref: this.ref }));
    }
    const names = this.#names.get(desc.digest) ?? [];
    if (!names.includes(name)) names.push(name);
    this.#names.set(desc.digest, names);
    return Promise.resolve();
  }

  /** Appends manifest.json, ends the tar and waits for the engine to load it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const items = this.#items();
      const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
      await this.#entry("manifest.json", json(items));
      await this.#write(new Uint8Array(2 * TAR_BLOCK));
      this.#ending = true;
      await Promise.race([this.#writer!.close(), this.#failure]);
      const response = await this.#response!;
      const text = await response.text();
      const lines = text.split("\n").filter((l) => l.trim() !== "").map((l) => {
        try {
          return JSON.parse(l) as { stream?: string; error?: string; errorDetail?: { message?: string } };
        } catch {
          return { error: l };
        }
      });
      const error = lines.find((l) => l.error || l.errorDetail);
      if (!response.ok || error) {
        const message = error?.errorDetail?.message ?? error?.error ?? `HTTP ${response.status}`;
        throw new RegistryError(`Cannot load into the Docker engine: ${message}`, {
          ref: this.ref,
          status: response.status,
        });
      }
      this.loaded.push(...lines.flatMap((l) => l.stream?.trim() ? [l.stream.trim()] : []));
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Breaks the request (the engine discards the partial tar). */
  async abort(): Promise<void> {
    this.#closed = true;
    this.#aborter.abort(new AbortError());
    // Not awaited: a write stuck on a request that already failed would keep abort() from settling.
    this.#writer?.abort(new AbortError()).catch(() => {});
    await this.#response?.catch(() => {});
  }

  /** One manifest.json item per tagged image; a tagged index contributes its child for the chosen platform. */
  #items(): unknown[] {
    const byImage = new Map<string, string[]>();
    for (const [digest, names] of this.#names) {
      const m = this.#manifests.get(digest)!;
      let image = m;
      if (m.children) {
        const children = m.children.filter((c) => !isAttestation(c) && this.#manifests.get(c.digest)?.config);
        const chosen = children.filter((c) => matchPlatform(this.#platform, c.platform));
        if (chosen.length !== 1) {
          const have = children.map((c) => (c.platform ? formatPlatform(c.platform) : c.digest)).join(", ");
          throw new UsageError(
            `Cannot load an index into the Docker engine: ${chosen.length === 0 ? "no" : "several"} ${
              formatPlatform(this.#platform)
            } images in it (it has ${have || "none"}); choose one with --platform`,
            { ref: this.ref },
          );
        }
        image = this.#manifests.get(chosen[0].digest)!;
      }
      byImage.set(image.desc.digest, [...(byImage.get(image.desc.digest) ?? []), ...names]);
    }
    for (const m of this.#manifests.values()) {
      const referenced = [...this.#manifests.values()].some((p) => p.children?.some((c) => c.digest === m.desc.digest));
      if (m.config && !byImage.has(m.desc.digest) && !referenced) byImage.set(m.desc.digest, []);
    }
    return [...byImage].map(([digest, names]) => {
      const m = this.#manifests.get(digest)!;
      if (m.config!.mediaType !== MediaType.OciConfig && m.config!.mediaType !== MediaType.DockerConfig) {
        throw new UsageError(`Cannot load ${digest} into the Docker engine: not a container image`, { ref: this.ref });
      }
      return { Config: blobPath(m.config!.digest), RepoTags: names, Layers: m.layers!.map((l) => blobPath(l.digest)) };
    });
  }

  #start(): WritableStreamDefaultWriter<Uint8Array> {
    if (this.#writer) return this.#writer;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.#writer = writable.getWriter();
    const init = {
      method: "POST",
      body: readable,
      headers: { "Content-Type": "application/x-tar" },
      duplex: "half",
      signal: this.#aborter.signal,
    } as RequestInit;
    const host = this.#host;
    const request = Promise.resolve().then(() => {
      const endpoint = parseDockerHost(host);
      const path = "/images/load?quiet=1";
      if (endpoint.kind === "unix") return fetchUnix(endpoint.path, `http://docker${path}`, init);
      if (endpoint.kind === "npipe") return fetchLocalSocket(endpoint.path, `http://docker${path}`, init);
      return fetch(`${endpoint.url}${path}`, init);
    });
    this.#response = request.catch((err) => {
      if (err instanceof FerryError) throw err;
      if (this.#aborter.signal.aborted) throw new AbortError();
      const code = (err as { code?: string })?.code ?? (err as Error)?.message ?? String(err);
      throw new NetworkError(`Cannot connect to the Docker engine at ${host}: ${code}`, { ref: this.ref, cause: err });
    });
    // A request that fails while we write would leave writes waiting forever: fail them too.
    this.#failure = this.#response.then(async (response) => {
      if (this.#ending) return await new Promise<never>(() => {});
      const text = (await response.text().catch(() => "")).trim().slice(0, 300);
      throw new RegistryError(
        `Cannot load into the Docker engine: it answered ${response.status} before the upload ended ${text}`,
        {
          ref: this.ref,
          status: response.status,
        },
      );
    });
    this.#failure.catch(() => {});
    return this.#writer;
  }

  async #entry(name: string, bytes: Uint8Array): Promise<void> {
    await this.#write(tarHeader(name, bytes.byteLength));
    await this.#write(bytes);
    await this.#write(tarPadding(bytes.byteLength));
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength === 0) return;
    const writer = this.#start();
    try {
      await Promise.race([writer.ready.then(() => writer.write(chunk)), this.#failure]);
    } catch (err) {
      if (err instanceof FerryError) throw err;
      throw new FileError(`Cannot stream to the Docker engine: ${(err as Error)?.message ?? err}`, {
        ref: this.ref,
        cause: err,
      });
    }
  }
}

function blobPath(digest: string): string {
  const [alg, hex] = splitDigest(digest);
  return `blobs/${alg}/${hex}`;
}
