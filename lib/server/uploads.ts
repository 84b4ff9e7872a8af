/**
 * Blob upload sessions (distribution spec "Pushing blobs"): monolithic (`POST ?digest=`, or `POST` then `PUT`),
 * chunked (`PATCH` with `Content-Range`, then `PUT ?digest=`), and cross-repository mounts. Bodies stream into
 * a temp file in the registry's upload directory, hashed as they arrive; the blob is renamed into the pool only
 * when the digest matches. A crash or a hung-up client leaves only a temp file, never a partial blob.
 *
 * @module
 */
import { createHash, type Hash, randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isDigest, splitDigest } from "../oci/digest.ts";
import process from "node:process";
import { readFileStream } from "../stream/files.ts";
import { isAlive } from "../stream/temp.ts";
import type { RegistryWriter } from "./backend.ts";
import { API_VERSION, errorResponse, httpError } from "./responses.ts";
import { isRepositoryName } from "./routes.ts";

/** Default cap on one blob's size: 64 GiB. */
export const DEFAULT_MAX_BLOB_BYTES = 64 * 1024 ** 3;
/** Sessions idle this long are dropped, and their temp files (even a previous process's) removed. */
const SESSION_TTL_MS = 60 * 60 * 1000;
const SESSION_RE = /^[0-9a-f]{32}$/;

interface Session {
  id: string;
  name: string;
  path: string;
  handle: FileHandle;
  size: number;
  hash: Hash;
  touched: number;
  /** Requests on one session run one after another. */
  queue: Promise<unknown>;
}

/** Options of {@link UploadSessions}. */
export interface UploadSessionsOptions {
  maxBlobBytes: number;
}

/** The upload sessions of one registry; {@link UploadSessions.handle} answers every `/blobs/uploads/` request. */
export class UploadSessions {
  readonly #sessions = new Map<string, Session>();
  #swept = false;

  constructor(readonly writer: RegistryWriter, readonly options: UploadSessionsOptions) {}

  /** Answers a request to `/v2/<name>/blobs/uploads/[<session>]`. */
  async handle(req: Request, name: string, sessionId: string | undefined, url: URL): Promise<Response> {
    const declared = req.headers.get("Content-Length");
    if (declared !== null && Number(declared) > this.options.maxBlobBytes) {
      await req.body?.cancel().catch(() => {});
      throw httpError(413, "SIZE_INVALID", `Cannot accept ${declared} bytes: larger than ${this.options.maxBlobBytes}`);
    }
    if (sessionId === undefined) {
      if (req.method !== "POST") return notAllowed(req, "POST");
      return await this.#start(req, name, url);
    }
    const session = SESSION_RE.test(sessionId) ? this.#sessions.get(sessionId) : undefined;
    if (!session || session.name !== name) {
      await req.body?.cancel().catch(() => {});
      throw httpError(404, "BLOB_UPLOAD_UNKNOWN", `Cannot find upload ${sessionId} in ${name}`);
    }
    const run = session.queue.then(() => this.#onSession(req, session, url));
    session.queue = run.catch(() => {});
    return await run;
  }

  async #onSession(req: Request, session: Session, url: URL): Promise<Response> {
    if (!this.#sessions.has(session.id)) {
      throw httpError(404, "BLOB_UPLOAD_UNKNOWN", `Cannot find upload ${session.id}`);
    }
    session.touched = Date.now();
    switch (req.method) {
      case "GET":
      case "HEAD":
        return new Response(null, { status: 204, headers: progressHeaders(session) });
      case "PATCH":
        await this.#checkRange(req, session);
        await this.#append(session, req.body);
        return new Response(null, { status: 202, headers: progressHeaders(session) });
      case "PUT": {
        const digest = url.searchParams.get("digest") ?? "";
        if (!isDigest(digest)) {
          await req.body?.cancel().catch(() => {});
          throw httpError(400, "DIGEST_INVALID", `Cannot complete upload: invalid digest "${digest}"`);
        }
        if (req.headers.get("Content-Range")) await this.#checkRange(req, session);
        // A PUT is all or nothing: with the wrong digest the session is left as it was before it, so the
        // client can PUT again with the right one.
        const before = { size: session.size, hash: session.hash.copy() };
        await this.#append(session, req.body);
        return await this.#finish(session, digest, before);
      }
      case "DELETE":
        await this.#drop(session);
        return new Response(null, { status: 204, headers: { ...API_VERSION, "Content-Length": "0" } });
      default:
        return notAllowed(req, "GET, HEAD, PATCH, PUT, DELETE");
    }
  }

  async #start(req: Request, name: string, url: URL): Promise<Response> {
    const mount = url.searchParams.get("mount");
    const digest = url.searchParams.get("digest");
    // A cross-repository mount, from a repository that holds the blob; otherwise an upload session (202), as
    // the spec asks. Without `from` nothing is mounted: a repository never gains a blob it was not given.
    const from = url.searchParams.get("from");
    if (
      mount !== null && isDigest(mount) && from !== null && isRepositoryName(from) &&
      (await this.writer.mountBlob(name, mount, from))
    ) {
      await req.body?.cancel().catch(() => {});
      return created(name, mount);
    }
    if (digest !== null) {
      if (!isDigest(digest)) {
        await req.body?.cancel().catch(() => {});
        throw httpError(400, "DIGEST_INVALID", `Cannot upload: invalid digest "${digest}"`);
      }
      const session = await this.#create(name);
      await this.#append(session, req.body);
      return await this.#finish(session, digest);
    }
    const session = await this.#create(name);
    if (req.body) await this.#append(session, req.body);
    return new Response(null, { status: 202, headers: progressHeaders(session) });
  }

  async #create(name: string): Promise<Session> {
    await this.#sweep();
    const id = randomBytes(16).toString("hex");
    // The pid in the name lets the next `ferry serve` remove what this one leaves if it is killed (sweepUploads).
    const path = join(this.writer.uploadDir, `${id}-${process.pid}`);
    const handle = await open(path, "wx");
    const session: Session = {
      id,
      name,
      path,
      handle,
      size: 0,
      hash: createHash("sha256"),
      touched: Date.now(),
      queue: Promise.resolve(),
    };
    this.#sessions.set(id, session);
    return session;
  }

  /** Drops idle sessions; on the first call, also stale temp files a previous process left. */
  async #sweep(): Promise<void> {
    const now = Date.now();
    for (const s of this.#sessions.values()) if (now - s.touched > SESSION_TTL_MS) await this.#drop(s);
    if (this.#swept) return;
    this.#swept = true;
    await mkdir(this.writer.uploadDir, { recursive: true });
    await sweepUploads(this.writer.uploadDir);
  }

  async #checkRange(req: Request, session: Session): Promise<void> {
    const header = req.headers.get("Content-Range");
    if (header === null) return;
    const m = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(header.trim());
    if (!m || Number(m[1]) !== session.size || Number(m[2]) < Number(m[1])) {
      await req.body?.cancel().catch(() => {});
      throw httpError(
        416,
        "BLOB_UPLOAD_INVALID",
        `Cannot append range ${header}: the upload has ${session.size} bytes`,
        {
          ...progressHeaders(session),
        },
      );
    }
  }

  /** Streams `body` onto the end of the session's file, hashing it; a failure drops the session. */
  async #append(session: Session, body: ReadableStream<Uint8Array> | null): Promise<void> {
    if (!body) return;
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (session.size + value.byteLength > this.options.maxBlobBytes) {
          throw httpError(413, "SIZE_INVALID", `Cannot upload more than ${this.options.maxBlobBytes} bytes`);
        }
        let offset = 0;
        while (offset < value.byteLength) {
          const { bytesWritten } = await session.handle.write(
            value,
            offset,
            value.byteLength - offset,
            session.size + offset,
          );
          offset += bytesWritten;
        }
        session.hash.update(value);
        session.size += value.byteLength;
      }
    } catch (err) {
      await reader.cancel(err).catch(() => {});
      await this.#drop(session);
      throw err;
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * Verifies the bytes against `digest` and moves them into the registry, ending the session. On a mismatch
   * (400 `DIGEST_INVALID`) the session is rolled back to `before` and kept, or dropped when there is no
   * `before` (a monolithic POST, whose client has no session to retry on).
   */
  async #finish(session: Session, digest: string, before?: { size: number; hash: Hash }): Promise<Response> {
    const [algorithm] = splitDigest(digest);
    const actual = algorithm === "sha256"
      ? `sha256:${session.hash.copy().digest("hex")}`
      : await hashFile(session.path, algorithm, session.size);
    if (actual !== digest) {
      if (before) {
        await session.handle.truncate(before.size);
        session.size = before.size;
        session.hash = before.hash;
      } else {
        await this.#drop(session);
      }
      throw httpError(
        400,
        "DIGEST_INVALID",
        `Cannot complete upload: the content's digest is ${actual}, not ${digest}`,
        before ? progressHeaders(session) : undefined,
      );
    }
    this.#sessions.delete(session.id);
    try {
      await session.handle.sync();
      await session.handle.close();
      await this.writer.commitBlob(session.name, session.path, digest);
    } finally {
      await unlink(session.path).catch(() => {});
    }
    return created(session.name, digest);
  }

  async #drop(session: Session): Promise<void> {
    this.#sessions.delete(session.id);
    await session.handle.close().catch(() => {});
    await unlink(session.path).catch(() => {});
  }
}

/**
 * Removes the upload files in `dir` no live session can own: those of a process that is gone (the pid in the
 * name, `<session>-<pid>`: a `ferry serve` killed mid-push), and any idle for more than an hour. Run when
 * `ferry serve --writable` starts; best effort.
 *
 * @example
 * ```ts
 * await sweepUploads("layout/.ferry-uploads");
 * ```
 */
export async function sweepUploads(dir: string): Promise<void> {
  const now = Date.now();
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, entry);
    const pid = /^[0-9a-f]{32}-(\d+)$/.exec(entry)?.[1];
    if (pid !== undefined && !isAlive(Number(pid))) {
      await rm(path, { force: true }).catch(() => {});
      continue;
    }
    const s = await stat(path).catch(() => undefined);
    if (s && now - s.mtimeMs > SESSION_TTL_MS) await rm(path, { force: true }).catch(() => {});
  }
}

async function hashFile(path: string, algorithm: string, size: number): Promise<string> {
  const hash = createHash(algorithm);
  const reader = readFileStream(path, { end: size }).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hash.update(value);
  }
  return `${algorithm}:${hash.digest("hex")}`;
}

function progressHeaders(session: Session): Record<string, string> {
  return {
    ...API_VERSION,
    Location: `/v2/${session.name}/blobs/uploads/${session.id}`,
    // Inclusive end, as distribution sends it ("0-0" for an empty upload, which clients expect).
    Range: `0-${Math.max(session.size - 1, 0)}`,
    "Docker-Upload-UUID": session.id,
    "Content-Length": "0",
  };
}

function created(name: string, digest: string): Response {
  return new Response(null, {
    status: 201,
    headers: {
      ...API_VERSION,
      Location: `/v2/${name}/blobs/${digest}`,
      "Docker-Content-Digest": digest,
      "Content-Length": "0",
    },
  });
}

function notAllowed(req: Request, allow: string): Response {
  return errorResponse(
    405,
    "UNSUPPORTED",
    `Cannot ${req.method} an upload: method not allowed`,
    req.method === "HEAD",
    { Allow: allow },
  );
}
