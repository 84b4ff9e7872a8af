/**
 * An in-process, read-only registry: the distribution spec's pull API as a web-standard
 * `(Request) => Promise<Response>` handler, served by `serve()` from runtime.ts.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { isManifest } from "../oci/media_types.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import { verifyBytes, verifyStream } from "../stream/verify.ts";
import type { ReadableStore } from "../store/store.ts";
import { isRepositoryName, isTag, parseRoute } from "./routes.ts";

/** One repository the handler serves: where its content is and which tags it has. */
export interface ServedRepository {
  /** Must resolve digests of blobs as well as manifests (the handler learns sizes that way). */
  store: ReadableStore;
  tags(): string[] | Promise<string[]>;
}

/** A store that keeps its tags in a map, as MemoryStore does; served as is. */
export type TaggedStore = ReadableStore & { tags: Map<string, Descriptor> };

const API_VERSION = { "Docker-Distribution-API-Version": "registry/2.0" };

/**
 * A read-only registry over `repositories` (keyed by repository name, e.g. `sample/app`):
 * `GET /v2/`, `GET|HEAD` manifests and blobs, `GET` tags/list with `n`/`last` pagination.
 * Writes answer 405 `UNSUPPORTED`; errors use the spec's error JSON.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const server = await serve(registryHandler(new Map([["sample/app", sample.store]])));
 * // skopeo inspect --tls-verify=false docker://${server.host}/sample/app:1.0
 * ```
 */
export function registryHandler(
  repositories: Map<string, ServedRepository | TaggedStore>,
): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    const route = parseRoute(url.pathname);
    const head = req.method === "HEAD";
    if (route.kind === "unknown") return error(404, "NOT_FOUND", `Cannot route ${url.pathname}`, head);
    if (!head && req.method !== "GET") {
      return error(405, "UNSUPPORTED", `Cannot ${req.method} ${url.pathname}: this registry is read-only`, false, {
        Allow: "GET, HEAD",
      });
    }
    if (route.kind === "base") return json({}, head);
    if (!isRepositoryName(route.name)) {
      return error(400, "NAME_INVALID", `Cannot serve "${route.name}": invalid repository name`, head);
    }
    if (route.kind === "upload") return error(405, "UNSUPPORTED", "Cannot upload: this registry is read-only", head);
    if (route.kind === "referrers") {
      // The referrers API is optional; a 404 tells clients to fall back to the tag schema.
      return error(404, "UNSUPPORTED", "Cannot list referrers: not supported by this registry", head);
    }
    const reference = route.kind === "manifest" ? route.reference : route.kind === "blob" ? route.digest : undefined;
    if (reference !== undefined && !isDigest(reference) && (route.kind === "blob" || reference.includes(":"))) {
      return error(400, "DIGEST_INVALID", `Cannot parse digest "${reference}"`, head);
    }
    const entry = repositories.get(route.name);
    if (!entry) return error(404, "NAME_UNKNOWN", `Cannot find repository "${route.name}"`, head);
    const repo = asServed(entry);
    try {
      if (route.kind === "tags") return await tagsList(route.name, await repo.tags(), url, head);
      if (route.kind === "manifest") {
        if (!isDigest(route.reference) && !isTag(route.reference)) {
          return error(404, "MANIFEST_UNKNOWN", `Cannot find manifest "${route.reference}": invalid tag`, head);
        }
        return await manifest(repo.store, route.reference, head);
      }
      return await blob(repo.store, route.digest, head);
    } catch (err) {
      if (err instanceof NotFoundError) {
        const code = route.kind === "manifest"
          ? "MANIFEST_UNKNOWN"
          : route.kind === "blob"
          ? "BLOB_UNKNOWN"
          : "NAME_UNKNOWN";
        return error(404, code, err.message, head);
      }
      return error(500, "UNKNOWN", `Cannot serve ${url.pathname}: ${(err as Error).message}`, head);
    }
  };
}

function asServed(entry: ServedRepository | TaggedStore): ServedRepository {
  if (typeof entry.tags === "function") return entry as ServedRepository;
  const store = entry as TaggedStore;
  return { store, tags: () => [...store.tags.keys()] };
}

async function manifest(store: ReadableStore, reference: string, head: boolean): Promise<Response> {
  const desc = await store.resolve(reference);
  // A store holding blobs and manifests in one place resolves a layer digest too; that is no manifest.
  const known = isManifest(desc.mediaType);
  if (!known && (desc.size > MAX_MANIFEST_BYTES || (desc.mediaType && desc.mediaType !== "application/octet-stream"))) {
    throw new NotFoundError(`Cannot find manifest ${reference}: ${desc.digest} is not a manifest`);
  }
  const headers = (mediaType: string) => ({
    ...API_VERSION,
    "Content-Type": mediaType,
    "Content-Length": String(desc.size),
    "Docker-Content-Digest": desc.digest,
    ETag: `"${desc.digest}"`,
  });
  if (head && known) return new Response(null, { status: 200, headers: headers(desc.mediaType) });
  const bytes = await readLimited(await store.fetch(desc), MAX_MANIFEST_BYTES);
  verifyBytes(desc, bytes); // never serve content that does not match its digest
  const mediaType = known ? desc.mediaType : mediaTypeOf(bytes);
  if (!mediaType) throw new NotFoundError(`Cannot find manifest ${reference}: ${desc.digest} is not a manifest`);
  return new Response(head ? null : (bytes as Uint8Array<ArrayBuffer>), { status: 200, headers: headers(mediaType) });
}

/** The `mediaType` field of manifest bytes, when they are a manifest ferry knows. */
function mediaTypeOf(bytes: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    return isManifest(doc?.mediaType) ? doc.mediaType : undefined;
  } catch {
    return undefined;
  }
}

async function blob(store: ReadableStore, digest: string, head: boolean): Promise<Response> {
  const desc = await store.resolve(digest);
  const headers = {
    ...API_VERSION,
    "Content-Type": "application/octet-stream",
    "Content-Length": String(desc.size),
    "Docker-Content-Digest": desc.digest,
    ETag: `"${desc.digest}"`,
  };
  if (head) return new Response(null, { status: 200, headers });
  // Verified on the way out: a corrupt store errors the response instead of serving bad bytes.
  // No req.signal: a client that hangs up cancels this body, which cancels the store's stream,
  // and Deno's legacy req.signal fires (with a warning) even after a successful response.
  const body = (await store.fetch(desc)).pipeThrough(verifyStream(desc));
  return new Response(body, { status: 200, headers });
}

function tagsList(name: string, all: string[], url: URL, head: boolean): Response {
  const nParam = url.searchParams.get("n");
  const last = url.searchParams.get("last");
  const n = nParam === null ? undefined : Number(nParam);
  if (n !== undefined && (!/^\d+$/.test(nParam!) || !Number.isSafeInteger(n))) {
    return error(400, "PAGINATION_NUMBER_INVALID", `Cannot list tags: invalid n "${nParam}"`, head);
  }
  // Lexical (code-unit) order, as the spec asks, so `last` pagination is stable.
  let tags = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
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

function json(body: unknown, head: boolean, extra: Record<string, string> = {}, status = 200): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  return new Response(head ? null : bytes, {
    status,
    headers: {
      ...API_VERSION,
      "Content-Type": "application/json",
      "Content-Length": String(bytes.byteLength),
      ...extra,
    },
  });
}

function error(
  status: number,
  code: string,
  message: string,
  head: boolean,
  extra: Record<string, string> = {},
): Response {
  return json({ errors: [{ code, message, detail: null }] }, head, extra, status);
}
