/**
 * An in-process registry: the distribution spec's API as a web-standard `(Request) => Promise<Response>`
 * handler over a {@link RegistryBackend}, served by `serve()` from runtime.ts. Pull (with Range), content
 * discovery (tags, referrers), and, when the backend has a writer, push and delete.
 *
 * @module
 */
import { FerryError } from "../errors.ts";
import { isDigest } from "../oci/digest.ts";
import { MediaType } from "../oci/media_types.ts";
import { fileBody } from "../runtime.ts";
import type { BlobSource, RegistryBackend } from "./backend.ts";
import { deleteManifest, putManifest } from "./manifest_writes.ts";
import { API_VERSION, errorResponse, httpError, json, responseOf, type Subject } from "./responses.ts";
import { isRepositoryName, isTag, parseRoute, type Route } from "./routes.ts";
import { type ServedRepository, storeBackend, type TaggedStore } from "./store_backend.ts";
import { DEFAULT_MAX_BLOB_BYTES, UploadSessions } from "./uploads.ts";

export type { ServedRepository, TaggedStore } from "./store_backend.ts";

/**
 * One line of the request log (`--verbose`).
 *
 * @example
 * ```ts
 * const log: RequestLogEntry[] = [];
 * const handler = registryHandler(new Map([["sample/app", buildSampleImage().store]]), { onRequest: (e) => log.push(e) });
 * await handler(new Request("http://127.0.0.1/v2/"));
 * ```
 */
export interface RequestLogEntry {
  /** HTTP method of the request. */
  method: string;
  /** Path and query. */
  path: string;
  /** HTTP status of the response. */
  status: number;
  /** Milliseconds until the response headers were ready. */
  ms: number;
  /** The user of an authenticated request. */
  user?: string;
}

/**
 * Options of {@link registryHandler}.
 *
 * @example
 * ```ts
 * const options: RegistryHandlerOptions = { onRequest: (entry) => console.log(entry.method, entry.path, entry.status) };
 * const handler = registryHandler(new Map([["sample/app", buildSampleImage().store]]), options);
 * ```
 */
export interface RegistryHandlerOptions {
  /**
   * Checks an `Authorization` header: the user name when it is valid, undefined when not. When given,
   * every request needs it (401 `UNAUTHORIZED` with a Basic challenge otherwise).
   */
  authenticate?: (authorization: string | null) => Promise<string | undefined>;
  /** Called once per request, after the response is made. */
  onRequest?: (entry: RequestLogEntry) => void;
  /** Largest blob an upload may grow to (413 `SIZE_INVALID` beyond); default 64 GiB. */
  maxBlobBytes?: number;
  /**
   * Called when a response fails after its headers went out, e.g. a blob whose bytes on disk do not match
   * its digest (the transfer is cut short, so the client never has a complete wrong blob): one line. When
   * given, such a body is aborted without a reason, so the runtime does not print the error again.
   */
  onError?: (message: string) => void;
  /**
   * Largest layer file whose bytes a GET checks in full before it sends them (then sized, from the file); a larger
   * one not checked yet streams through the check, its last bytes held back until it matched (default
   * {@link CHECK_FIRST_MAX}: 2 GiB).
   */
  checkFirstMax?: number;
}

const READ = "GET, HEAD";

/**
 * A registry handler over `source`: a {@link RegistryBackend} (see layouts.ts), or a map of
 * stores served read-only (keyed by repository name, e.g. `sample/app`). Errors use the spec's error JSON.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const handler = registryHandler(new Map([["sample/app", sample.store]]));
 * const response = await handler(new Request("http://127.0.0.1/v2/sample/app/tags/list"));
 * console.log(await response.json()); // { name: "sample/app", tags: ["1.0"] }
 * // Serve it with Deno.serve(handler) or Bun.serve({ fetch: handler }); `serve()` does that for files.
 * ```
 */
export function registryHandler(
  source: RegistryBackend | Map<string, ServedRepository | TaggedStore>,
  options: RegistryHandlerOptions = {},
): (req: Request) => Promise<Response> {
  const backend = source instanceof Map ? storeBackend(source) : source;
  const uploads = backend.writer
    ? new UploadSessions(backend.writer, { maxBlobBytes: options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES })
    : undefined;
  const handle = async (req: Request, url: URL): Promise<Response> => {
    const route = parseRoute(url.pathname);
    const head = req.method === "HEAD";
    if (route.kind === "unknown") return errorResponse(404, "NOT_FOUND", `Cannot route ${url.pathname}`, head);
    if (route.kind === "base") return allowed(req, READ) ?? json({}, head);
    if (route.kind === "catalog") return allowed(req, READ) ?? await catalog(backend, url, head);
    if (backend.resolveName) {
      // A registry mirror's request: containerd says which registry in `ns` (or an OCI-Namespace header).
      const ns = url.searchParams.get("ns") ?? req.headers.get("OCI-Namespace") ?? undefined;
      route.name = (await backend.resolveName(route.name, ns)) ?? route.name;
    }
    if (!isRepositoryName(route.name)) {
      return errorResponse(400, "NAME_INVALID", `Cannot use repository name "${route.name}": invalid name`, head);
    }
    const subject: Subject = route.kind === "manifest" ? "manifest" : route.kind === "upload" ? "upload" : "blob";
    try {
      switch (route.kind) {
        case "manifest":
          return await manifestRoute(req, route, head);
        case "blob":
          return await blobRoute(req, route, head);
        case "upload": {
          if (!uploads) return readOnly(req, url);
          return await uploads.handle(req, route.name, route.session, url);
        }
        case "tags":
          return allowed(req, READ) ?? await tagsList(backend, route.name, url, head);
        case "referrers":
          return allowed(req, READ) ?? await referrers(backend, route.name, route.digest, url, head);
      }
    } catch (err) {
      return responseOf(err, route.kind === "tags" || route.kind === "referrers" ? "repository" : subject, head);
    }
  };

  async function manifestRoute(req: Request, route: Extract<Route, { kind: "manifest" }>, head: boolean) {
    const ref = route.reference;
    if (ref.includes(":") && !isDigest(ref)) throw httpError(400, "DIGEST_INVALID", `Cannot parse digest "${ref}"`);
    if (!ref.includes(":") && !isTag(ref)) {
      // Nothing can be stored under an invalid tag: reads find nothing, a push is an invalid manifest reference.
      if (req.method === "PUT") throw httpError(400, "MANIFEST_INVALID", `Cannot tag "${ref}": invalid tag`);
      throw httpError(404, "MANIFEST_UNKNOWN", `Cannot find manifest "${ref}": invalid tag`);
    }
    if (req.method === "GET" || head) {
      if (!(await backend.hasRepository(route.name))) throw notFoundRepository(route.name);
      const { desc, bytes } = await backend.manifest(route.name, ref);
      return new Response(head ? null : (bytes as Uint8Array<ArrayBuffer>), {
        status: 200,
        headers: {
          ...API_VERSION,
          "Content-Type": desc.mediaType,
          "Content-Length": String(bytes.byteLength),
          "Docker-Content-Digest": desc.digest,
          ETag: `"${desc.digest}"`,
        },
      });
    }
    if (!backend.writer) return readOnly(req, new URL(req.url));
    if (req.method === "PUT") return await putManifest(backend, route.name, ref, req);
    if (req.method === "DELETE") return await deleteManifest(backend.writer, route.name, ref);
    return notAllowed(req, "GET, HEAD, PUT, DELETE");
  }

  async function blobRoute(req: Request, route: Extract<Route, { kind: "blob" }>, head: boolean) {
    if (!isDigest(route.digest)) throw httpError(400, "DIGEST_INVALID", `Cannot parse digest "${route.digest}"`);
    if (req.method === "DELETE" && backend.writer) {
      await backend.writer.deleteBlob(route.name, route.digest);
      return new Response(null, { status: 202, headers: { ...API_VERSION, "Content-Length": "0" } });
    }
    const notAllowedResponse = allowed(req, backend.writer ? "GET, HEAD, DELETE" : READ);
    if (notAllowedResponse) return notAllowedResponse;
    if (!backend.writer && !(await backend.hasRepository(route.name))) throw notFoundRepository(route.name);
    return await blobResponse(backend, route.name, route.digest, req, head, options);
  }

  return async (req) => {
    const started = performance.now();
    const url = new URL(req.url);
    let user: string | undefined;
    let res: Response;
    if (options.authenticate && !(user = await options.authenticate(req.headers.get("Authorization")))) {
      await req.body?.cancel().catch(() => {});
      res = errorResponse(
        401,
        "UNAUTHORIZED",
        "Cannot authorize the request: valid credentials are required",
        req.method === "HEAD",
        {
          "WWW-Authenticate": 'Basic realm="ferry"',
        },
      );
    } else {
      res = await handle(req, url);
    }
    options.onRequest?.({
      method: req.method,
      path: url.pathname + url.search,
      status: res.status,
      ms: Math.round(performance.now() - started),
      ...(user ? { user } : {}),
    });
    return res;
  };
}

/** A 405 for a method outside `allow`, or undefined when it is allowed. */
function allowed(req: Request, allow: string): Response | undefined {
  return allow.split(", ").includes(req.method) ? undefined : notAllowed(req, allow);
}

function notAllowed(req: Request, allow: string): Response {
  return errorResponse(
    405,
    "UNSUPPORTED",
    `Cannot ${req.method} ${new URL(req.url).pathname}: method not allowed`,
    req.method === "HEAD",
    {
      Allow: allow,
    },
  );
}

function readOnly(req: Request, url: URL): Response {
  const head = req.method === "HEAD";
  return errorResponse(405, "UNSUPPORTED", `Cannot ${req.method} ${url.pathname}: this registry is read-only`, head, {
    Allow: READ,
  });
}

function notFoundRepository(name: string) {
  return httpError(404, "NAME_UNKNOWN", `Cannot find repository "${name}"`);
}

/** A blob, whole or one `Range`; sized (Content-Length) whenever the bytes are in a file. */
async function blobResponse(
  backend: RegistryBackend,
  name: string,
  digest: string,
  req: Request,
  head: boolean,
  options: RegistryHandlerOptions,
) {
  const { onError, checkFirstMax = CHECK_FIRST_MAX } = options;
  const blob = await backend.blob(name, digest);
  const headers: Record<string, string> = {
    ...API_VERSION,
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": blob.digest,
    "Accept-Ranges": "bytes",
    ETag: `"${blob.digest}"`,
  };
  const range = parseRange(req.headers.get("Range"), blob.size);
  if (range === "invalid") {
    throw httpError(
      416,
      "BLOB_UNKNOWN",
      `Cannot serve range "${req.headers.get("Range")}" of ${blob.digest}: out of bounds (size ${blob.size})`,
      {
        "Content-Range": `bytes */${blob.size}`,
      },
    );
  }
  const [start, end] = range ?? [0, blob.size];
  if (range) headers["Content-Range"] = `bytes ${start}-${end - 1}/${blob.size}`;
  headers["Content-Length"] = String(end - start);
  const status = range ? 206 : 200;
  if (head) return new Response(null, { status, headers });
  // No req.signal: a client that hangs up cancels this body, which cancels the file stream,
  // and Deno's legacy req.signal fires (with a warning) even after a successful response.
  // A file not checked yet, up to CHECK_FIRST_MAX, is hashed first and then sent from the file: faster in all than
  // streaming it through the check on the one JavaScript thread (below), at the cost of a later first byte.
  const file = blob.file ??
    (blob.checkedFile && blob.size <= checkFirstMax ? await checkedFileOf(blob, digest, name, onError) : undefined);
  const body = file
    ? fileBody(file.path, file.offset + start, file.offset + end)
    : blob.read
    ? (await blob.read()).slice(start, end)
    : reportingErrors(
      await blob.open(start, end),
      onError && ((err) => onError(`${cannotServe(digest, name, err)}; the response was cut short`)),
    );
  return new Response(body, { status, headers });
}

/**
 * Largest blob file a GET waits to check before it sends it. Measured serving a 1 GiB layer from a layout on 2
 * cores, first pull: streamed through the check 2.0-2.5 s (the hash and the stream share the one JavaScript
 * thread); checked first (~1 s from the page cache), then sent from the file, 1.6 s; once checked, 0.55 s
 * (docker-registry, which checks nothing, 0.41 s). Above this size the first byte would wait too long (some
 * clients time out): those stream through the check.
 */
export const CHECK_FIRST_MAX = 2 * 1024 * 1024 * 1024;

/**
 * The blob's file once its bytes matched the digest. A mismatch is reported like a stream cut short (`onError`)
 * and answered 500: the client gets an error and no bytes rather than a broken transfer.
 */
async function checkedFileOf(
  blob: BlobSource,
  digest: string,
  name: string,
  onError: ((message: string) => void) | undefined,
): Promise<{ path: string; offset: number }> {
  try {
    return await blob.checkedFile!();
  } catch (err) {
    const message = cannotServe(digest, name, err);
    onError?.(message);
    throw httpError(500, "UNKNOWN", message);
  }
}

/** `Cannot serve blob DIGEST of NAME: REASON`, the reason being `err`'s message without its own "Cannot …:" head. */
function cannotServe(digest: string, name: string, err: unknown): string {
  const reason = err instanceof FerryError ? err.message.replace(/^Cannot [^:]*: /, "") : String(err);
  return `Cannot serve blob ${digest} of ${name}: ${reason}`;
}

/**
 * `body` as is; if it errors, the client sees a broken transfer. With `onError`, the error is reported there
 * and the body aborted with no reason: the runtimes would print one again, with its stack (Bun always,
 * Deno unless told, see runtime.ts). Without it, the body errors with the reason (an in-process consumer).
 */
function reportingErrors(
  body: ReadableStream<Uint8Array>,
  onError: ((err: unknown) => void) | undefined,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (!onError) throw err;
        onError(err);
        controller.error(undefined);
        return;
      }
      if (chunk.done) controller.close();
      else controller.enqueue(chunk.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/**
 * A single `bytes=` range as `[start, end)`; undefined for none (or one we ignore, e.g. several ranges,
 * which RFC 9110 allows serving whole), "invalid" for an unsatisfiable one.
 */
export function parseRange(header: string | null, size: number): [number, number] | undefined | "invalid" {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return header.trim().startsWith("bytes=") && header.includes(",") ? undefined : "invalid";
  const [, a, b] = m;
  if (a === "" && b === "") return "invalid";
  if (a === "") {
    const n = Number(b);
    if (n === 0 || size === 0) return "invalid";
    return [Math.max(size - n, 0), size];
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return "invalid";
  return [start, end + 1];
}

async function tagsList(backend: RegistryBackend, name: string, url: URL, head: boolean): Promise<Response> {
  const nParam = url.searchParams.get("n");
  const last = url.searchParams.get("last");
  const n = nParam === null ? undefined : Number(nParam);
  if (n !== undefined && (!/^\d+$/.test(nParam!) || !Number.isSafeInteger(n))) {
    return errorResponse(400, "PAGINATION_NUMBER_INVALID", `Cannot list tags: invalid n "${nParam}"`, head);
  }
  if (!(await backend.hasRepository(name))) throw notFoundRepository(name);
  // Lexical (code-unit) order, as the spec asks, so `last` pagination is stable.
  let tags = [...new Set(await backend.tags(name))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (last !== null) tags = tags.filter((t) => t > last);
  const headers: Record<string, string> = {};
  if (n !== undefined && tags.length > n) {
    tags = tags.slice(0, n);
    if (n > 0) {
      const next = new URLSearchParams({ n: String(n), last: tags[n - 1] });
      headers.Link = `</v2/${name}/tags/list?${next}>; rel="next"`;
    }
  }
  return json({ name, tags }, head, headers);
}

/** `/v2/_catalog`: repositories in lexical order, `n` and `last` as for tags (and a `Link` to the next page). */
async function catalog(backend: RegistryBackend, url: URL, head: boolean): Promise<Response> {
  if (!backend.catalog) return errorResponse(404, "UNSUPPORTED", "Cannot list repositories: no catalog here", head);
  const nParam = url.searchParams.get("n");
  const last = url.searchParams.get("last");
  const n = nParam === null ? undefined : Number(nParam);
  if (n !== undefined && (!/^\d+$/.test(nParam!) || !Number.isSafeInteger(n))) {
    return errorResponse(400, "PAGINATION_NUMBER_INVALID", `Cannot list repositories: invalid n "${nParam}"`, head);
  }
  let names = [...new Set(await backend.catalog())].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (last !== null) names = names.filter((r) => r > last);
  const headers: Record<string, string> = {};
  if (n !== undefined && names.length > n) {
    names = names.slice(0, n);
    if (n > 0) headers.Link = `</v2/_catalog?${new URLSearchParams({ n: String(n), last: names[n - 1] })}>; rel="next"`;
  }
  return json({ repositories: names }, head, headers);
}

async function referrers(backend: RegistryBackend, name: string, digest: string, url: URL, head: boolean) {
  if (!isDigest(digest)) throw httpError(400, "DIGEST_INVALID", `Cannot list referrers of "${digest}": invalid digest`);
  const artifactType = url.searchParams.get("artifactType");
  const known = await backend.hasRepository(name);
  let manifests = known ? await backend.referrers(name, digest) : [];
  const headers: Record<string, string> = { "Content-Type": MediaType.OciIndex };
  if (artifactType !== null) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers["OCI-Filters-Applied"] = "artifactType";
  }
  manifests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, head, headers);
}
