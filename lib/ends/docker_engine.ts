/**
 * The local Docker engine as a write-only store: what is pushed streams, as a docker-load tar, into
 * the body of one `POST /images/load` on the engine's unix socket (`DOCKER_HOST` or
 * `/var/run/docker.sock`); no docker CLI, no temp file.
 *
 * @module
 */
import process from "node:process";
import { AbortError, FerryError, FileError, NetworkError, RegistryError, UsageError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { env, fetchLocalSocket, fetchUnix } from "../runtime.ts";
import { defaultDockerHost, parseDockerHost } from "./docker_host.ts";
import { ImageTar } from "./image_tar.ts";
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
  readonly #tar = new ImageTar((chunk) => this.#write(chunk), "docker-daemon:");
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
    return Promise.resolve(this.#tar.has(desc));
  }

  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, options: StoreOptions = {}): Promise<void> {
    if (this.#closed || this.#tar.has(desc)) {
      await body.cancel().catch(() => {});
      if (this.#closed) {
        throw new UsageError("Cannot load into the Docker engine: the store is closed", { ref: this.ref });
      }
      return;
    }
    try {
      await this.#tar.push(desc, body, options.signal);
    } catch (err) {
      // Part of an entry may be in the request already: the engine must not load what was sent.
      await this.abort();
      throw err;
    }
  }

  tag(desc: Descriptor, name: string): Promise<void> {
    try {
      this.#tar.tag(desc, name);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Appends manifest.json, ends the tar and waits for the engine to load it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#tar.end([["manifest.json", this.#tar.dockerManifest({ platform: this.#platform })]]);
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
