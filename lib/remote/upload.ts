/**
 * Blob uploads (distribution spec "pushing blobs"): a cross-repository mount, or an upload session
 * (`POST /blobs/uploads/`) that streams the body in one request and commits with `PUT ?digest=`
 * only after the body ended cleanly; a chunked mode (`PATCH` with `Content-Range`) for registries
 * that refuse large requests.
 *
 * @module
 */
import { NetworkError, RegistryError } from "../errors.ts";
import { type Descriptor, shortDigest } from "../oci/descriptor.ts";
import { checkDigest } from "../oci/digest.ts";
import type { RegistryClient } from "./client.ts";
import { drain, errorFromResponse } from "./errors.ts";
import { backoffDelay, isRetryableStatus, sleep } from "./retry.ts";
import { readLimited, streamOf } from "../stream/read_limited.ts";

/** Options of {@link uploadBlob}. */
export interface UploadOptions {
  signal?: AbortSignal;
  /** Send the body in PATCH requests of this many bytes (each held in memory once). */
  chunkSize?: number;
  /**
   * How a single-request upload sends the body: `"patch"` (streaming PATCH, then an empty
   * `PUT ?digest=`; the default, measured as fast as `"put"` and it commits in a request of
   * its own) or `"put"` (one streaming `PUT ?digest=`).
   */
  mode?: "patch" | "put";
  /** The store's name, for error messages. */
  ref?: string;
  /**
   * A fresh body for another attempt (e.g. the blob fetched again from the source), for blobs larger
   * than `replayBytes`; without it a large upload that fails is not retried.
   */
  reopen?: () => Promise<ReadableStream<Uint8Array>>;
  /** Blobs up to this size are read into memory first and sent again from there (default 16 MiB). */
  replayBytes?: number;
}

/**
 * Uploads `body` as the blob `desc` to `repository`. The registry commits the blob only in the final
 * `PUT ?digest=`, sent after `body` ended cleanly; if it errors, the session is cancelled and the
 * body's own error (e.g. DigestMismatchError from verifyStream) is thrown. A dropped connection, a
 * timeout or a 5xx answer starts a new session, up to the client's retries: blobs up to `replayBytes`
 * are sent again from memory, larger ones from `reopen()` (not retried without it).
 *
 * @example
 * ```ts
 * await uploadBlob(clientFor("127.0.0.1:5000"), "app", desc, body.pipeThrough(verifyStream(desc)));
 * ```
 */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  body: ReadableStream<Uint8Array>,
  options: UploadOptions = {},
): Promise<void> {
  checkDigest(desc.digest, "a blob");
  const { signal } = options;
  // With `reopen`, a retry fetches the blob again: only small blobs are held (6 blobs × 16 MiB in flight cost ~40 MiB).
  const replayBytes = options.replayBytes ?? (options.reopen ? REOPEN_REPLAY_BYTES : DEFAULT_REPLAY_BYTES);
  // A small blob is read first (its own errors, e.g. a digest mismatch, come before any request),
  // so every attempt can send it again; a large one streams, and only `reopen` can give it again.
  let bytes: Uint8Array | undefined;
  if (desc.size <= replayBytes) bytes = await readLimited(body, replayBytes + 1);
  let source: ReadableStream<Uint8Array> = bytes ? streamOf(bytes) : body;
  for (let attempt = 0;; attempt++) {
    try {
      return await uploadOnce(client, repository, desc, source, options);
    } catch (err) {
      const again = attempt < client.retry.retries && !signal?.aborted && retryableUpload(err) &&
        (bytes !== undefined || options.reopen !== undefined);
      if (!again) throw err;
      await sleep(backoffDelay(attempt, client.retry), signal);
      source = bytes ? streamOf(bytes) : await options.reopen!();
    }
  }
}

/** The most bytes of a blob held in memory so a failed upload can be sent again without `reopen`. */
export const DEFAULT_REPLAY_BYTES = 16 << 20;

/** The same when `reopen` can give the blob again: small blobs only (their errors come before any request). */
export const REOPEN_REPLAY_BYTES = 1 << 20;

/**
 * Whether a failed upload is worth a new session: the connection dropped or timed out, the registry
 * answered 408/429/5xx, refused the size (413: the next attempt goes in chunks) or lost a chunk's range (416).
 */
function retryableUpload(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  if (!(err instanceof RegistryError) || err.status === undefined) return false;
  return isRetryableStatus(err.status) || err.status === 413 || err.status === 416;
}

/** One upload session: POST, the body in one PATCH (or PUT, or chunks), the committing PUT. */
async function uploadOnce(
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  body: ReadableStream<Uint8Array>,
  options: UploadOptions,
): Promise<void> {
  const ctx = context(client, repository, desc, options);
  const scopes = [`repository:${repository}:pull,push`];
  const { signal } = options;
  let start: Response;
  try {
    start = await client.send(`/v2/${repository}/blobs/uploads/`, { method: "POST", scopes, signal });
  } catch (err) {
    await body.cancel().catch(() => {});
    throw err;
  }
  if (start.status !== 202) {
    await body.cancel().catch(() => {}); // release the source's connection
    throw await errorFromResponse(start, {
      ...ctx,
      method: "POST",
      url: client.url(`/v2/${repository}/blobs/uploads/`),
    });
  }
  let location = locationOf(client, start, ctx);
  await drain(start);
  const tracked = trackErrors(body);
  try {
    const chunkSize = options.chunkSize ?? client.options.chunkSize ?? (client.preferChunked ? 8 << 20 : undefined);
    if (chunkSize) {
      location = await sendChunks(client, location, tracked.stream, chunkSize, scopes, ctx, signal);
    } else if (options.mode === "put") {
      await commit(client, location, tracked.stream, scopes, ctx, signal, tracked);
      return;
    } else {
      const res = await client.send(location, {
        method: "PATCH",
        headers: { "Content-Type": "application/octet-stream" },
        body: tracked.stream,
        scopes,
        signal,
      });
      if (tracked.error !== undefined) throw tracked.error;
      if (res.status !== 202) await refuse(client, res, { ...ctx, method: "PATCH", url: location });
      location = locationOf(client, res, ctx);
      await drain(res);
    }
    await commit(client, location, new Uint8Array(), scopes, ctx, signal, tracked);
  } catch (err) {
    // Best effort: free the session now rather than when the registry's purge gets to it.
    await tracked.cancel(err);
    await client.send(location, { method: "DELETE", scopes, signal: AbortSignal.timeout(5000) }).then(drain, () => {});
    throw tracked.error ?? err;
  }
}

/**
 * Mounts blob `desc` from repository `from` into `repository` of the same registry.
 * True when the registry mounted it (201); false when it declined (202, whose session is cancelled)
 * or when we may not read `from`.
 */
export async function mountBlob(
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  from: string,
  options: { signal?: AbortSignal; ref?: string } = {},
): Promise<boolean> {
  checkDigest(desc.digest, "a blob");
  const url = client.url(`/v2/${repository}/blobs/uploads/`);
  url.searchParams.set("mount", desc.digest);
  url.searchParams.set("from", from);
  const scopes = [`repository:${repository}:pull,push`, `repository:${from}:pull`];
  const res = await client.send(url, { method: "POST", scopes, signal: options.signal });
  if (res.status === 201) {
    await drain(res);
    return true;
  }
  if (res.status === 202) {
    const location = res.headers.get("location");
    await drain(res);
    if (location) await drain(await client.send(location, { method: "DELETE", scopes, signal: options.signal }));
    return false;
  }
  if (res.status === 401 || res.status === 403 || res.status === 404) {
    await drain(res);
    return false;
  }
  throw await errorFromResponse(res, {
    ...context(client, repository, desc, options),
    verb: "mount",
    method: "POST",
    url,
  });
}

type Ctx = { verb: string; what: string; host: string; ref?: string; repository: string; digest: string };

function context(client: RegistryClient, repository: string, desc: Descriptor, options: { ref?: string }): Ctx {
  return {
    verb: "push",
    what: `blob ${shortDigest(desc.digest)}`,
    host: client.host,
    ref: options.ref,
    repository,
    digest: desc.digest,
  };
}

function locationOf(client: RegistryClient, res: Response, ctx: Ctx): URL {
  const location = res.headers.get("location");
  if (!location) {
    throw new RegistryError(`Cannot ${ctx.verb} ${ctx.what}: the registry sent no upload Location`, {
      ref: ctx.ref,
      status: res.status,
    });
  }
  return client.url(location); // relative Locations resolve against the registry; the query string is kept
}

async function refuse(client: RegistryClient, res: Response, ctx: Ctx & { method: string; url: URL }): Promise<never> {
  if (res.status === 413) client.preferChunked = true; // the next attempt (and every later upload) goes in chunks
  throw await errorFromResponse(res, ctx);
}

/** `PUT <location>?digest=`: the request that commits the blob. */
async function commit(
  client: RegistryClient,
  location: URL,
  body: Uint8Array | ReadableStream<Uint8Array>,
  scopes: string[],
  ctx: Ctx,
  signal: AbortSignal | undefined,
  tracked: { error?: unknown },
): Promise<void> {
  const url = new URL(location);
  url.searchParams.set("digest", ctx.digest);
  const res = await client.send(url, {
    method: "PUT",
    headers: { "Content-Type": "application/octet-stream" },
    body,
    scopes,
    signal,
  });
  if (tracked.error !== undefined) throw tracked.error;
  if (res.status === 201) return await drain(res);
  // A commit whose answer was lost and then retried finds its session gone: the blob may well be there.
  if (res.status === 404 && await blobExists(client, ctx, scopes, signal)) return await drain(res);
  await refuse(client, res, { ...ctx, method: "PUT", url });
}

async function blobExists(client: RegistryClient, ctx: Ctx, scopes: string[], signal?: AbortSignal): Promise<boolean> {
  const res = await client.send(`/v2/${ctx.repository}/blobs/${ctx.digest}`, { method: "HEAD", scopes, signal });
  await drain(res);
  return res.ok;
}

/** PATCHes `body` in `chunkSize` pieces with `Content-Range`; each piece is replayable, so retried. */
async function sendChunks(
  client: RegistryClient,
  location: URL,
  body: ReadableStream<Uint8Array>,
  chunkSize: number,
  scopes: string[],
  ctx: Ctx,
  signal: AbortSignal | undefined,
): Promise<URL> {
  let offset = 0;
  const send = async (chunk: Uint8Array) => {
    const res = await client.send(location, {
      method: "PATCH",
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Range": `${offset}-${offset + chunk.byteLength - 1}`,
        "Content-Length": String(chunk.byteLength),
      },
      body: chunk,
      scopes,
      signal,
    });
    if (res.status !== 202) await refuse(client, res, { ...ctx, method: "PATCH", url: location });
    location = locationOf(client, res, ctx);
    await drain(res);
    offset += chunk.byteLength;
  };
  const buffer = new Uint8Array(chunkSize);
  let filled = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (let i = 0; i < value.byteLength;) {
      const n = Math.min(chunkSize - filled, value.byteLength - i);
      buffer.set(value.subarray(i, i + n), filled);
      filled += n;
      i += n;
      if (filled === chunkSize) {
        await send(buffer.slice());
        filled = 0;
      }
    }
  }
  if (filled > 0) await send(buffer.slice(0, filled));
  return location;
}

interface Tracked {
  stream: ReadableStream<Uint8Array>;
  /** The body's own error, once it failed. */
  error?: unknown;
  /** Cancels the body if nobody finished reading it (frees the source's connection). */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Wraps `body` so its own error (not fetch's rewording of it) can be rethrown. Once fetch lets go of
 * the stream (the request failed, the connection dropped) nothing more is pushed into it: a late chunk
 * or end of the source must not touch a closed controller.
 */
function trackErrors(body: ReadableStream<Uint8Array>): Tracked {
  const reader = body.getReader();
  let finished = false;
  const release = (reason?: unknown) => {
    finished = true;
    return reader.cancel(reason).catch(() => {});
  };
  const tracked: Tracked = {
    cancel: release,
    stream: new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (finished) return;
          finished = true;
          tracked.error = err;
          controller.error(err);
          return;
        }
        if (finished) return;
        if (chunk.done) {
          finished = true;
          controller.close();
        } else controller.enqueue(chunk.value);
      },
      cancel: release,
    }, { highWaterMark: 0 }),
  };
  return tracked;
}
