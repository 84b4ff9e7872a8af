/**
 * `ferry serve`: OCI layouts and archives (what `ferry export` writes) served as a registry, so a Docker
 * engine or a Kubernetes node on an air-gapped host can pull from files.
 *
 * @module
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FileError, FormatError, UsageError } from "../errors.ts";
import { serve as listen, type Server } from "../runtime.ts";
import { createTempWriter, fileErrorOf, readFileStream } from "../stream/files.ts";
import { ferryTempDir, sweepTempFiles } from "../stream/temp.ts";
import { gunzipStream, isGzipFile } from "../stream/gzip.ts";
import { htpasswdAuthenticator } from "../server/basic_auth.ts";
import { registryHandler, type RequestLogEntry } from "../server/handler.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { isRepositoryName } from "../oci/annotations.ts";
import { layoutBackend, type ServedLayout } from "../server/layouts.ts";
import { sweepUploads } from "../server/uploads.ts";
import { bundleEntries } from "../ends/bundle_set.ts";
import { parseVolumesMeta, VOLUMES_FILE } from "../oci/bundle_meta.ts";

/**
 * Options of {@link serve}.
 *
 * @example
 * ```ts
 * const options: ServeImagesOptions = { address: "127.0.0.1:5000", writable: true, repo: "team/app" };
 * const registry = await serve(["layout"], options);
 * await registry.stop();
 * ```
 */
export interface ServeImagesOptions {
  /** `HOST:PORT` to listen on (default `127.0.0.1:5000`; port 0 picks a free one). */
  address?: string;
  /** Accept pushes and deletes into the (one) layout directory; it is created if missing. */
  writable?: boolean;
  /** Serve every image under this repository name instead of the names in the layouts. */
  repo?: string;
  /** Require HTTP basic auth against this htpasswd file (bcrypt hashes). */
  htpasswd?: string;
  /** Serve HTTPS with this PEM certificate (chain) file … */
  tlsCert?: string;
  /** … and this PEM private key file. */
  tlsKey?: string;
  /** Largest blob a push may upload (default 64 GiB). */
  maxBlobBytes?: number;
  /** Largest layer file checked in full before it is sent (see `RegistryHandlerOptions.checkFirstMax`; 2 GiB). */
  checkFirstMax?: number;
  /** Spooling of gzipped archives and one event per request. */
  onEvent?: (event: ServeEvent) => void;
}

/**
 * What {@link serve} reports while it starts and runs.
 *
 * @example
 * ```ts
 * const registry = await serve(["app.oci.tar.gz"], {
 *   onEvent: (event: ServeEvent) => {
 *     if (event.type === "request") console.log(event.entry.method, event.entry.path, event.entry.status);
 *   },
 * });
 * await registry.stop();
 * ```
 */
export type ServeEvent =
  | { type: "spooling"; path: string; reason: string }
  /** A bundle's image that the paths served do not hold whole: it needs these volumes too. */
  | { type: "missing"; name: string; files: string[] }
  | { type: "spooled"; path: string; bytes: number }
  | { type: "request"; entry: RequestLogEntry }
  /** Something the user should know before relying on the server, e.g. pushes open to the network. */
  | { type: "warning"; message: string }
  /** A response that failed after it started, e.g. a blob whose bytes on disk do not match its digest. */
  | { type: "error"; message: string };

/**
 * A running `ferry serve`.
 *
 * @example
 * ```ts
 * const registry: RunningRegistry = await serve(["app.oci.tar"]);
 * console.log(registry.url, registry.repositories);
 * await registry.stop();
 * ```
 */
export interface RunningRegistry {
  /** `127.0.0.1:5000` as bound. */
  host: string;
  /** `http://127.0.0.1:5000` (https with TLS). */
  url: string;
  /** Each repository and its tags at start. */
  repositories: { name: string; tags: string[] }[];
  /** Whether pushes are accepted. */
  writable: boolean;
  /** Stops listening and removes any temp files (spooled archives). */
  stop(): Promise<void>;
}

const DEFAULT_ADDRESS = "127.0.0.1:5000";

/**
 * Serves `paths` (OCI layout directories, `.tar`/`.tar.gz` OCI archives, ferry's docker-archive exports, or
 * directories holding such archives) as one registry. A gzipped archive is unpacked once to a temp file
 * (gzip has no random access), and the `spooling` event says so.
 *
 * @example
 * ```ts
 * const registry = await serve(["image.oci.tar"], { address: "127.0.0.1:5000" });
 * // docker pull 127.0.0.1:5000/app:1.0
 * await registry.stop();
 * ```
 */
export async function serve(paths: string[], options: ServeImagesOptions = {}): Promise<RunningRegistry> {
  if (paths.length === 0) throw new UsageError("Cannot serve: name at least one OCI layout or archive");
  if (options.repo !== undefined && !isRepositoryName(options.repo)) {
    throw new UsageError(`Cannot serve as "${options.repo}": not a valid repository name (lowercase, a-z0-9._-/)`);
  }
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError("Cannot serve HTTPS: give both --tls-cert and --tls-key");
  }
  const { hostname, port } = parseAddress(options.address ?? DEFAULT_ADDRESS);
  let spoolDir: string | undefined;
  const spool = async () => (spoolDir ??= await mkdtemp(join(await ferryTempDir(), "serve-")));
  try {
    const sources: ServedLayout[] = [];
    for (const path of paths) sources.push(...await openPath(path, options, spool));
    if (options.writable && sources.length !== 1) {
      throw new UsageError("Cannot serve --writable: give exactly one OCI layout directory");
    }
    // A bundle's images split over volumes are listed by no volume's index.json: served once they are whole.
    const bundled = await bundleEntries(sources.map((s) => s.store));
    for (const m of bundled.missing) options.onEvent?.({ type: "missing", name: m.name, files: m.missingFiles });
    const backend = layoutBackend(sources, {
      repo: options.repo,
      writable: options.writable,
      entries: bundled.entries,
    });
    const authenticate = options.htpasswd ? await htpasswdAuthenticator(options.htpasswd) : undefined;
    const tls = options.tlsCert
      ? { cert: await readText(options.tlsCert), key: await readText(options.tlsKey!) }
      : undefined;
    const handler = registryHandler(backend, {
      authenticate,
      maxBlobBytes: options.maxBlobBytes,
      checkFirstMax: options.checkFirstMax,
      onRequest: options.onEvent ? (entry) => options.onEvent!({ type: "request", entry }) : undefined,
      onError: (message) => options.onEvent?.({ type: "error", message }),
    });
    const repositories = [...(await backend.repositories())].map(([name, tags]) => ({ name, tags }));
    let server: Server;
    try {
      server = await listen(handler, { hostname, port, tls });
    } catch (err) {
      throw new FileError(`Cannot listen on ${hostname}:${port}: ${(err as Error).message}`, {
        ref: `${hostname}:${port}`,
        cause: err,
      });
    }
    if (options.writable && !authenticate && !isLoopback(hostname)) {
      options.onEvent?.({
        type: "warning",
        message: `--writable without --htpasswd on ${server.host}: anyone who can reach it can push and delete images`,
      });
    }
    return {
      host: server.host,
      url: `${tls ? "https" : "http"}://${server.host}`,
      repositories,
      writable: options.writable === true,
      async stop() {
        await server.stop();
        if (spoolDir) await rm(spoolDir, { recursive: true, force: true }).catch(() => {});
      },
    };
  } catch (err) {
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/** Whether `hostname` (as {@link parseAddress} gives it) is reachable from this host only. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    /^::ffff:127\./.test(h);
}

/** `HOST:PORT`, `:PORT` (all interfaces) or `[v6]:PORT`. */
export function parseAddress(address: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(`Cannot listen on "${address}": expected HOST:PORT, e.g. 127.0.0.1:5000`);
  }
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

async function openPath(
  path: string,
  options: ServeImagesOptions,
  spool: () => Promise<string>,
): Promise<ServedLayout[]> {
  const info = await stat(path).catch((err) => {
    if (options.writable && err?.code === "ENOENT") return undefined;
    throw fileErrorOf(err, "open", path);
  });
  const defaultRepo = repoNameOf(path);
  if (!info) {
    await mkdir(path, { recursive: true }).catch((err) => {
      throw fileErrorOf(err, "create", path);
    });
    return [{ store: await OciLayoutStore.open(path, { create: true }), defaultRepo }];
  }
  if (info.isDirectory()) {
    const names = await readdir(path);
    if (names.includes("index.json") || names.includes("oci-layout") || options.writable) {
      if (options.writable) {
        // What a previous serve killed mid-push left: upload sessions and temp blobs no live process owns.
        await sweepUploads(join(path, ".ferry-uploads"));
        await sweepTempFiles([path, join(path, "blobs", "sha256")]);
      }
      return [{ store: await OciLayoutStore.open(path, { create: options.writable }), defaultRepo }];
    }
    const archives = names.filter((n) => /\.(tar|tar\.gz|tgz)$/.test(n)).sort();
    if (archives.length === 0) {
      throw new FormatError(`Cannot serve ${path}: neither an OCI layout (no index.json) nor a directory of archives`, {
        ref: path,
      });
    }
    const out: ServedLayout[] = [];
    for (const name of archives) out.push(await openArchive(join(path, name), spool, options));
    return out;
  }
  if (options.writable) throw new UsageError(`Cannot serve ${path} --writable: pushes need an OCI layout directory`);
  if (basename(path) === VOLUMES_FILE) return await openVolumes(path, spool, options);
  return [await openArchive(path, spool, options)];
}

/** A bundle's `volumes.json`: the volumes it lists that are beside it (what they cannot make whole is named). */
async function openVolumes(
  path: string,
  spool: () => Promise<string>,
  options: ServeImagesOptions,
): Promise<ServedLayout[]> {
  const bytes = await readFile(path).catch((err) => {
    throw fileErrorOf(err, "read", path);
  });
  const set = parseVolumesMeta(bytes, path);
  // Only names that are files of this directory: a volume's `file` never leads anywhere else.
  const beside = new Set(await readdir(dirname(path)));
  const present = set.volumes.filter((v) => beside.has(v.file));
  if (present.length === 0) {
    throw new FormatError(
      `Cannot serve ${path}: none of its volumes is beside it (${set.volumes.map((v) => v.file).join(", ")})`,
      { ref: path },
    );
  }
  const out: ServedLayout[] = [];
  for (const v of present) out.push(await openArchive(join(dirname(path), v.file), spool, options));
  return out;
}

async function openArchive(
  path: string,
  spool: () => Promise<string>,
  options: ServeImagesOptions,
): Promise<ServedLayout> {
  const defaultRepo = repoNameOf(path);
  let tar = path;
  if (await isGzipFile(path)) {
    options.onEvent?.({
      type: "spooling",
      path,
      reason: "gzip has no random access: unpacking it once to a temp file",
    });
    tar = join(await spool(), `${basename(path).replace(/\.(tgz|gz)$/, "")}.${Date.now()}.tar`);
    const writer = await createTempWriter(tar);
    try {
      await readFileStream(path).pipeThrough(gunzipStream()).pipeTo(writer.writable);
      await writer.commit();
    } catch (err) {
      await writer.discard();
      throw new FormatError(`Cannot unpack ${path}: ${(err as Error).message}`, { ref: path, cause: err });
    }
    options.onEvent?.({ type: "spooled", path, bytes: (await stat(tar)).size });
  }
  return { store: await OciLayoutStore.openArchive(tar, path), defaultRepo };
}

/** A repository name from a path: `out/app.oci.tar.gz` → `app`; `image` when nothing valid is left. */
export function repoNameOf(path: string): string {
  const base = basename(path.replace(/\/+$/, "")).replace(/(\.(tar|tgz|gz|oci))+$/i, "").toLowerCase();
  const name = base.replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+|[._-]+$/g, "").replace(/[._-]{2,}/g, "-");
  return isRepositoryName(name) ? name : "image";
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw fileErrorOf(err, "read", path);
  }
}
