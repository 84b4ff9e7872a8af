/**
 * One repository of a registry as a {@link ContentStore}: what copyGraph reads from and writes to
 * when an end is `docker://host/repo:tag`. A registry commits per request, so close() and abort()
 * have nothing to do.
 *
 * @module
 */
import {
  abortErrorOf,
  AuthError,
  FerryError,
  FormatError,
  NetworkError,
  NotFoundError,
  RegistryError,
} from "../errors.ts";
import { type Descriptor, shortDigest } from "../oci/descriptor.ts";
import { checkDigest, digestOf, isDigest, splitDigest } from "../oci/digest.ts";
import { isManifest, MANIFEST_ACCEPT, MediaType } from "../oci/media_types.ts";
import {
  artifactTypeOf,
  COSIGN_SUFFIXES,
  mergeFallbackIndex,
  referrerDescriptor,
  schemaTag,
} from "../oci/referrers.ts";
import type { Reference } from "../ref/reference.ts";
import { clientFor, type RegistryClient, type RegistryOptions } from "../remote/client.ts";
import { drain, errorFromResponse } from "../remote/errors.ts";
import { backoffDelay, describeNetworkError, sleep } from "../remote/retry.ts";
import { TimeoutError } from "../remote/timeouts.ts";
import { mountBlob, uploadBlob } from "../remote/upload.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { verifyBytes } from "../stream/verify.ts";
import type {
  ContentStore,
  PushOptions,
  PutReferrerOptions,
  ReferrerDescriptor,
  ReferrersOptions,
  RegistryOrigin,
  StoreOptions,
} from "./store.ts";
import { rangedStream } from "./ranged.ts";

/** A tag as the distribution spec allows it. */
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * How long a repository's tag list (for the tag schema of referrers) and a registry's answer on the referrers API
 * are reused by every store of the process: one list per repository for a whole copy or mirror run.
 */
const DISCOVERY_CACHE_MS = 60_000;
const tagCache = new WeakMap<RegistryClient, Map<string, { at: number; tags: Promise<Set<string>> }>>();
const apiCache = new WeakMap<RegistryClient, { at: number; api: boolean }>();
/** A first referrers-API request in flight per registry: the others wait for its answer rather than ask too. */
const apiProbes = new WeakMap<RegistryClient, Promise<unknown>>();

/**
 * Blobs from this size up are fetched in {@link RANGE_PARALLEL} `Range` parts at once, for connections that are
 * each capped (S3, CDNs, many WANs); smaller ones in one GET. Measured with scripts/bench/throttle.ts (20 MiB/s
 * per connection), copying the 6-platform 100 MiB sample (a 64 MiB base): one stream 4.5 s; 4 × 8 MiB parts
 * 2.5-3.5 s; 8 × 4 MiB 1.5-2.1 s; 8 × 8 MiB 1.4 s; uncapped loopback the same as one stream (1.5-2.4 s, noisy).
 */
const RANGED_MIN_BYTES = 32 * 1024 * 1024;
/** Bytes per part. */
const RANGE_PART_BYTES = 8 * 1024 * 1024;
/** Parts in flight per blob. */
const RANGE_PARALLEL = 8;
/**
 * A first part arriving at this rate or faster means an uncapped connection: the rest comes in one request. On
 * uncapped loopback parallel parts gained nothing and cost 25-45 MiB of peak RSS (Bun buffers the bodies of
 * responses not yet read); 20 MiB/s-capped connections measure far below it.
 */
const UNCAPPED_BYTES_PER_SECOND = 64 * 1024 * 1024;

/** Manifests kept in memory per store (for tag(), which must PUT the exact bytes again). */
const MANIFEST_CACHE_ENTRIES = 256;

/**
 * A repository of a registry, read and written over the distribution API.
 *
 * @example
 * ```ts
 * const src = openRegistryStore({ registry: "127.0.0.1:5000", repository: "app", tag: "1.0" });
 * const root = await src.resolve("1.0");
 * const dst = openRegistryStore({ registry: "127.0.0.1:5000", repository: "mirror/app" });
 * await copyGraph(src, dst, root);
 * await dst.tag(root, "1.0");
 * ```
 */
export class RegistryStore implements ContentStore {
  /** The reference as the user knows it, e.g. `127.0.0.1:5000/app:1.0`. */
  readonly ref: string;
  /** The registry and repository this store reads and writes (for cross-repository mounts). */
  readonly origin: RegistryOrigin;
  /** The HTTP client of the registry, shared by the stores of one registry. */
  readonly client: RegistryClient;
  readonly #repository: string;
  readonly #manifests = new Map<string, Uint8Array>();
  /** Fallback-index merges, one at a time per subject. */
  readonly #fallbackLocks = new Map<string, Promise<unknown>>();

  /** A store for the repository of `reference` (its tag or digest is ignored). */
  constructor(reference: Reference, options: RegistryOptions = {}) {
    this.client = clientFor(reference.registry, options);
    this.#repository = reference.repository;
    this.origin = { registry: this.client.host, repository: reference.repository };
    this.ref = `${reference.registry}/${reference.repository}${reference.tag ? `:${reference.tag}` : ""}${
      reference.digest ? `@${reference.digest}` : ""
    }`;
  }

  /** Resolves a tag or digest to the root descriptor: HEAD with an Accept list, GET when HEAD gives no digest. */
  async resolve(reference: string, options: StoreOptions = {}): Promise<Descriptor> {
    const path = this.#path("manifests", reference);
    const head = await this.#send(path, "HEAD", options, { Accept: MANIFEST_ACCEPT });
    const what = `manifest ${reference}`;
    // A registry that does not allow HEAD (405, 501) is asked with a GET below.
    const headless = head.status === 405 || head.status === 501;
    if (!head.ok && !headless) {
      throw await this.#headError(head, "resolve", what, path, options, { Accept: MANIFEST_ACCEPT });
    }
    await drain(head);
    const digest = head.headers.get("docker-content-digest") ?? (isDigest(reference) ? reference : null);
    const mediaType = mediaTypeOf(head);
    const size = Number(head.headers.get("content-length") ?? NaN);
    if (!headless && digest && isDigest(digest) && mediaType && Number.isSafeInteger(size) && size >= 0) {
      return { mediaType, digest, size };
    }
    // No usable digest or type from HEAD (some registries): GET the bytes and compute it.
    const { res, bytes } = await this.#getManifest(path, "resolve", what, options);
    const algorithm = isDigest(reference) ? splitDigest(reference)[0] : "sha256";
    const desc = {
      mediaType: mediaTypeOf(res) ?? mediaTypeInside(bytes),
      digest: digestOf(bytes, algorithm),
      size: bytes.byteLength,
    };
    this.#remember(desc.digest, bytes);
    return desc;
  }

  /** Streams the blob or manifest `desc` names (verify it with {@link verifyStream}). */
  async fetch(desc: Descriptor, options: StoreOptions = {}): Promise<ReadableStream<Uint8Array>> {
    if (isManifest(desc.mediaType)) return streamOf(await this.#manifestBytes(desc, options));
    const path = this.#path("blobs", desc.digest);
    if (desc.size >= RANGED_MIN_BYTES && !options.sequential) {
      const ranged = await this.#fetchRanged(desc, path, options.signal);
      if (ranged) return ranged;
    }
    const res = await this.#send(path, "GET", options);
    if (!res.ok) throw await this.#error(res, "fetch", `blob ${shortDigest(desc.digest)}`, "GET", path);
    return this.#resumable(res, desc, path, options.signal);
  }

  /**
   * The blob's bytes from `start` on (`Range: bytes=START-`), resumed like any fetch when the connection drops;
   * undefined when the registry answers anything but a 206 of exactly that range (it ignores Range).
   */
  async fetchRange(
    desc: Descriptor,
    start: number,
    options: StoreOptions = {},
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    if (isManifest(desc.mediaType) || start <= 0 || start >= desc.size) return undefined;
    const path = this.#path("blobs", desc.digest);
    const res = await this.#send(path, "GET", options, { Range: `bytes=${start}-` });
    if (res.status !== 206 || res.headers.get("content-range") !== `bytes ${start}-${desc.size - 1}/${desc.size}`) {
      if (res.status !== 200 && res.status !== 206 && res.status !== 416 && !res.ok) {
        throw await this.#error(res, "fetch", `blob ${shortDigest(desc.digest)}`, "GET", path);
      }
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    return this.#resumable(res, desc, path, options.signal, { start });
  }

  /**
   * A big blob in parallel `Range` parts ({@link rangedStream}), for connections that are each capped. The first
   * part's request is the probe: a 206 with the expected `Content-Range` and `Accept-Ranges: bytes` starts the
   * other parts; a 206 without `Accept-Ranges` is read as one stream (that part, then the rest in one request);
   * a 200 (Range ignored) is the whole blob in one stream; a 416 or an unexpected range leaves it to a plain GET
   * (undefined).
   */
  async #fetchRanged(
    desc: Descriptor,
    path: string,
    signal?: AbortSignal,
  ): Promise<ReadableStream<Uint8Array> | undefined> {
    const what = `blob ${shortDigest(desc.digest)}`;
    const first = Math.min(RANGE_PART_BYTES, desc.size);
    const res = await this.#send(path, "GET", { signal }, { Range: `bytes=0-${first - 1}` });
    const startedAt = performance.now(); // the rate of the body alone: connection set-up and auth left out
    if (res.status === 200) return this.#resumable(res, desc, path, signal);
    if (res.status === 416) return void await drain(res);
    if (!res.ok) throw await this.#error(res, "fetch", what, "GET", path);
    if (res.status !== 206 || res.headers.get("content-range") !== `bytes 0-${first - 1}/${desc.size}`) {
      return void await drain(res);
    }
    if (!/\bbytes\b/i.test(res.headers.get("accept-ranges") ?? "")) {
      return this.#resumable(res, desc, path, signal, { firstEnd: first });
    }
    return rangedStream({
      size: desc.size,
      partSize: RANGE_PART_BYTES,
      parallel: RANGE_PARALLEL,
      fastBytesPerSecond: UNCAPPED_BYTES_PER_SECOND,
      startedAt,
      first: this.#resumable(res, desc, path, signal, { end: first }),
      open: async (start, end) => {
        const part = await this.#send(path, "GET", { signal }, { Range: `bytes=${start}-${end - 1}` });
        if (part.status !== 206 || part.headers.get("content-range") !== `bytes ${start}-${end - 1}/${desc.size}`) {
          if (!part.ok) throw await this.#error(part, "fetch", what, "GET", path);
          await drain(part);
          throw new RegistryError(
            `Cannot fetch ${what} from ${this.client.host}: a request for bytes ${start}-${end - 1} was answered ` +
              `${part.status} ${part.headers.get("content-range") ?? "without a Content-Range"}`,
            { ref: this.ref, status: part.status },
          );
        }
        return this.#resumable(part, desc, path, signal, { start, end });
      },
    });
  }

  /** Whether the repository has `desc` (a HEAD request). */
  async exists(desc: Descriptor, options: StoreOptions = {}): Promise<boolean> {
    const path = this.#path(isManifest(desc.mediaType) ? "manifests" : "blobs", desc.digest);
    const headers: Record<string, string> = isManifest(desc.mediaType) ? { Accept: MANIFEST_ACCEPT } : {};
    let res = await this.#send(path, "HEAD", options, headers);
    if (res.status === 405 || res.status === 501) {
      // HEAD not allowed: the status line of a GET tells the same (its body is not read).
      await drain(res);
      res = await this.#send(path, "GET", options, headers);
    }
    if (res.ok || res.status === 404) {
      await drain(res);
      return res.ok;
    }
    throw await this.#headError(res, "check", shortDigest(desc.digest), path, options, {});
  }

  /**
   * Pushes a blob (upload session) or a manifest (PUT by digest); the registry verifies the digest.
   * A failed blob upload is retried from memory (up to 16 MiB) or from `options.reopen`.
   */
  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, options: PushOptions = {}): Promise<void> {
    if (!isManifest(desc.mediaType)) {
      return await uploadBlob(this.client, this.#repository, desc, body, {
        signal: options.signal,
        ref: this.ref,
        reopen: options.reopen,
      });
    }
    const bytes = await readLimited(body, MAX_MANIFEST_BYTES); // ends cleanly, or throws before any PUT
    await this.#putManifest(desc, desc.digest, bytes, options);
    this.#remember(desc.digest, bytes);
  }

  /** Points `tag` at the manifest `desc` (a manifest PUT by tag). */
  async tag(desc: Descriptor, tag: string, options: StoreOptions = {}): Promise<void> {
    await this.#putManifest(desc, tag, await this.#manifestBytes(desc, options), options);
    tagCache.get(this.client)?.delete(this.#repository);
  }

  /**
   * The referrers of `subject`: the referrers API (`GET /v2/<name>/referrers/<digest>`) when the registry answers
   * it, else the `sha256-<hex>` fallback index tag; and cosign's `sha256-<hex>.sig|.att|.sbom` tags either way.
   * The tags are listed once per store; a registry without the API is asked once.
   */
  async referrers(subject: Descriptor, options: ReferrersOptions = {}): Promise<ReferrerDescriptor[]> {
    const found = new Map<string, ReferrerDescriptor>();
    const api = await this.#askReferrersApi(subject.digest, options);
    for (const d of api ?? []) found.set(d.digest, d);
    const tags = await this.#schemaTags(options);
    const fallback = schemaTag(subject.digest);
    if (tags.has(fallback)) {
      const index = await this.resolve(fallback, options);
      const bytes = await this.#manifestBytes(index, options);
      verifyBytes(index, bytes, this.ref);
      const doc = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: Descriptor[] };
      for (const d of Array.isArray(doc.manifests) ? doc.manifests : []) {
        if (d && typeof d.digest === "string" && isDigest(d.digest) && !found.has(d.digest)) found.set(d.digest, d);
      }
    }
    for (const suffix of COSIGN_SUFFIXES) {
      const tag = schemaTag(subject.digest, suffix);
      if (!tags.has(tag)) continue;
      const desc = await this.resolve(tag, options);
      const bytes = await this.#manifestBytes(desc, options);
      const artifactType = artifactTypeOf(bytes);
      found.set(desc.digest, { ...desc, ...(artifactType ? { artifactType } : {}), tag });
    }
    const types = options.artifactTypes;
    return [...found.values()].filter((d) => !types?.length || (d.artifactType && types.includes(d.artifactType)));
  }

  /**
   * Makes the pushed referrer `desc` discoverable here: its cosign tag written; or, for a manifest with a subject,
   * nothing when the registry answers the referrers API (it indexes the subject on push), else an entry added to
   * the `sha256-<hex>` fallback index (read, merged, written: never replaced).
   */
  async putReferrer(desc: Descriptor, options: PutReferrerOptions): Promise<void> {
    if (options.tag !== undefined) return await this.tag(desc, options.tag, options);
    const api = this.#referrersApi ?? (await this.#askReferrersApi(options.subject, options)) !== undefined;
    if (api) return;
    const subject = options.subject;
    const previous = this.#fallbackLocks.get(subject) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(async () => {
      const tag = schemaTag(subject);
      const entry = referrerDescriptor(desc, await this.#manifestBytes(desc, options));
      let existing: Uint8Array | undefined;
      try {
        const current = await this.resolve(tag, options);
        existing = await this.#manifestBytes(current, options);
        verifyBytes(current, existing, this.ref);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      const merged = mergeFallbackIndex(existing, [entry]);
      if (!merged) return;
      const index: Descriptor = { mediaType: MediaType.OciIndex, digest: digestOf(merged), size: merged.byteLength };
      await this.#putManifest(index, index.digest, merged, options);
      this.#remember(index.digest, merged);
      await this.#putManifest(index, tag, merged, options);
      tagCache.get(this.client)?.delete(this.#repository);
    });
    this.#fallbackLocks.set(subject, run);
    await run;
  }

  /** Whether the registry answers the referrers API, as last seen (undefined: not asked lately). */
  get #referrersApi(): boolean | undefined {
    const known = apiCache.get(this.client);
    return known && Date.now() - known.at < DISCOVERY_CACHE_MS ? known.api : undefined;
  }

  set #referrersApi(api: boolean) {
    apiCache.set(this.client, { at: Date.now(), api });
  }

  /** The referrers API's answer for `digest` (every page), or undefined when the registry has no referrers API. */
  async #askReferrersApi(digest: string, options: ReferrersOptions): Promise<Descriptor[] | undefined> {
    const probe = apiProbes.get(this.client);
    if (this.#referrersApi === undefined && probe) await probe.catch(() => {});
    if (this.#referrersApi === false) return undefined;
    if (this.#referrersApi === undefined && !apiProbes.has(this.client)) {
      const asking = this.#referrersPages(digest, options);
      apiProbes.set(this.client, asking);
      try {
        return await asking;
      } finally {
        apiProbes.delete(this.client);
      }
    }
    return await this.#referrersPages(digest, options);
  }

  async #referrersPages(digest: string, options: ReferrersOptions): Promise<Descriptor[] | undefined> {
    checkDigest(digest, "a manifest");
    const types = options.artifactTypes ?? [];
    const query = types.length === 1 ? `?artifactType=${encodeURIComponent(types[0])}` : "";
    const out: Descriptor[] = [];
    let next: string | undefined = `/v2/${this.#repository}/referrers/${digest}${query}`;
    while (next) {
      const res = await this.#send(next, "GET", options, { Accept: MediaType.OciIndex });
      // No referrers API (distribution 2.8 and most registries before OCI 1.1): 404; some say 405, 501 or 400.
      if (res.status === 404 || res.status === 405 || res.status === 501 || res.status === 400) {
        await drain(res);
        if (out.length === 0) {
          this.#referrersApi = false;
          return undefined;
        }
        break;
      }
      if (!res.ok) throw await this.#error(res, "list", `referrers of ${shortDigest(digest)}`, "GET", next);
      const type = res.headers.get("content-type")?.split(";")[0].trim();
      const bytes = await readLimited(res.body ?? streamOf(new Uint8Array()), MAX_MANIFEST_BYTES);
      let doc: { manifests?: unknown };
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        doc = {};
      }
      if (!Array.isArray(doc?.manifests) || (type && type !== MediaType.OciIndex && type !== "application/json")) {
        // Not a referrers answer (a catch-all page, a proxy): no referrers API here.
        if (out.length === 0) {
          this.#referrersApi = false;
          return undefined;
        }
        break;
      }
      this.#referrersApi = true;
      for (const d of doc.manifests as Descriptor[]) {
        if (d && typeof d.digest === "string" && isDigest(d.digest) && typeof d.mediaType === "string") out.push(d);
      }
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "");
      next = link ? String(this.client.url(link[1])) : undefined;
    }
    return out;
  }

  /** The repository's tags that belong to the tag schema, listed once per repository and run (see DISCOVERY_CACHE_MS). */
  #schemaTags(options: StoreOptions): Promise<Set<string>> {
    let byRepository = tagCache.get(this.client);
    if (!byRepository) tagCache.set(this.client, byRepository = new Map());
    const cached = byRepository.get(this.#repository);
    if (cached && Date.now() - cached.at < DISCOVERY_CACHE_MS) return cached.tags;
    const repositories = byRepository;
    const tags = this.listTags(options).then(
      (tags) => new Set(tags.filter((t) => t.startsWith("sha256-"))),
      (err) => {
        repositories.delete(this.#repository);
        if (err instanceof NotFoundError) return new Set<string>();
        if (err instanceof AuthError) {
          throw new AuthError(
            `${err.message} (listing the tags of ${this.#repository} to find its signatures and SBOMs; ` +
              `--referrers=false leaves them out)`,
            { ref: this.ref, cause: err },
          );
        }
        throw err;
      },
    );
    byRepository.set(this.#repository, { at: Date.now(), tags });
    return tags;
  }

  /** Mounts `desc` from `fromRepository` of the same registry; false when the registry declined. */
  mount(desc: Descriptor, fromRepository: string, options: StoreOptions = {}): Promise<boolean> {
    return mountBlob(this.client, this.#repository, desc, fromRepository, { signal: options.signal, ref: this.ref });
  }

  /** Every tag of the repository, following `Link` pagination (`pageSize` tags per request, default 1000). */
  async listTags(options: StoreOptions & { pageSize?: number } = {}): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `/v2/${this.#repository}/tags/list?n=${options.pageSize ?? 1000}`;
    while (next) {
      const res = await this.#send(next, "GET", options);
      if (!res.ok) throw await this.#error(res, "list", `tags of ${this.#repository}`, "GET", next);
      let body: { tags?: string[] | null };
      try {
        body = JSON.parse(
          new TextDecoder().decode(await readLimited(res.body ?? streamOf(new Uint8Array()), 64 << 20)),
        );
      } catch (err) {
        if (err instanceof FerryError) throw err;
        throw err instanceof SyntaxError
          ? new RegistryError(`Cannot list tags of ${this.#repository}: the registry did not answer JSON`, {
            ref: this.ref,
          })
          : new NetworkError(
            `Cannot reach ${this.client.host}: connection lost while reading tags: ${describeNetworkError(err)}`,
            { ref: this.ref, cause: err },
          );
      }
      tags.push(...(body.tags ?? []));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "");
      next = link ? String(this.client.url(link[1])) : undefined;
    }
    return tags;
  }

  /**
   * Every repository of the registry (`/v2/_catalog`, following `Link` pagination), or undefined when the registry
   * does not offer the catalog (404, 405, or refused: 401, 403).
   */
  async listRepositories(options: StoreOptions & { pageSize?: number } = {}): Promise<string[] | undefined> {
    const names: string[] = [];
    let next: string | undefined = `/v2/_catalog?n=${options.pageSize ?? 1000}`;
    while (next) {
      const res = await this.client.send(next, {
        method: "GET",
        headers: {},
        scopes: ["registry:catalog:*"],
        signal: options.signal,
      });
      if ([401, 403, 404, 405].includes(res.status) && names.length === 0) {
        await drain(res);
        return undefined;
      }
      if (!res.ok) throw await this.#error(res, "list", "the repositories (catalog)", "GET", next);
      let body: { repositories?: unknown };
      try {
        body = JSON.parse(
          new TextDecoder().decode(await readLimited(res.body ?? streamOf(new Uint8Array()), 64 << 20)),
        );
      } catch (err) {
        if (err instanceof FerryError) throw err;
        throw new RegistryError(
          `Cannot list the repositories of ${this.client.host}: the registry did not answer JSON`,
          {
            ref: this.ref,
          },
        );
      }
      const page = Array.isArray(body?.repositories) ? body.repositories : [];
      names.push(...page.filter((n): n is string => typeof n === "string"));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "");
      next = link ? String(this.client.url(link[1])) : undefined;
    }
    return names;
  }

  /** Nothing to flush: a registry commits each push itself. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to undo: resolves at once. */
  abort(): Promise<void> {
    return Promise.resolve();
  }

  #path(kind: "manifests" | "blobs", reference: string): string {
    // Never a URL of an unchecked digest (`sha256:../../x`, `md5:…`) or of a tag that is not one.
    if (kind === "blobs" || reference.includes(":")) checkDigest(reference, kind === "blobs" ? "a blob" : "a manifest");
    else if (!TAG_RE.test(reference)) {
      throw new FormatError(`Cannot use tag ${JSON.stringify(reference)}: not a valid tag`);
    }
    return `/v2/${this.#repository}/${kind}/${reference}`;
  }

  #send(path: string, method: string, options: StoreOptions, headers: Record<string, string> = {}): Promise<Response> {
    const action = method === "PUT" ? "pull,push" : "pull";
    return this.client.send(path, {
      method,
      headers,
      scopes: [`repository:${this.#repository}:${action}`],
      signal: options.signal,
    });
  }

  #error(res: Response, verb: string, what: string, method: string, path: string) {
    return errorFromResponse(res, {
      verb,
      what,
      host: this.client.host,
      method,
      url: this.client.url(path),
      ref: this.ref,
    });
  }

  /**
   * The error for a failed HEAD. HEAD answers carry no body, so for 401, 403 and 404 (cheap, not
   * retried) the same request is made as a GET to report the registry's own code and message.
   */
  async #headError(
    head: Response,
    verb: string,
    what: string,
    path: string,
    options: StoreOptions,
    headers: Record<string, string>,
  ) {
    if (head.status !== 401 && head.status !== 403 && head.status !== 404) {
      return await this.#error(head, verb, what, "HEAD", path);
    }
    await drain(head);
    const res = await this.#send(path, "GET", options, headers);
    if (res.status !== head.status) {
      await drain(res);
      return await this.#error(head, verb, what, "HEAD", path);
    }
    return await this.#error(res, verb, what, "GET", path);
  }

  async #putManifest(desc: Descriptor, reference: string, bytes: Uint8Array, options: StoreOptions): Promise<void> {
    const path = this.#path("manifests", reference);
    const res = await this.client.send(path, {
      method: "PUT",
      headers: { "Content-Type": desc.mediaType },
      body: bytes,
      scopes: [`repository:${this.#repository}:pull,push`],
      signal: options.signal,
    });
    if (res.status !== 201 && res.status !== 200) {
      throw await this.#error(res, reference === desc.digest ? "push" : "tag", `manifest ${reference}`, "PUT", path);
    }
    await drain(res);
  }

  async #manifestBytes(desc: Descriptor, options: StoreOptions): Promise<Uint8Array> {
    const cached = this.#manifests.get(desc.digest);
    if (cached) return cached;
    const path = this.#path("manifests", desc.digest);
    const { bytes } = await this.#getManifest(path, "fetch", `manifest ${shortDigest(desc.digest)}`, options);
    try {
      verifyBytes(desc, bytes, this.ref);
      this.#remember(desc.digest, bytes); // only verified bytes may be re-PUT by tag()
    } catch {
      // Unverified bytes go back to the caller, whose own check (copyGraph's) reports the mismatch.
    }
    return bytes;
  }

  /**
   * GETs a manifest and reads all of it; a connection lost mid-body (reset, a body shorter than its
   * Content-Length, a stall cut by the idle timeout) is retried like any transient failure, then a NetworkError.
   */
  async #getManifest(
    path: string,
    verb: string,
    what: string,
    options: StoreOptions,
  ): Promise<{ res: Response; bytes: Uint8Array }> {
    for (let attempt = 0;; attempt++) {
      const res = await this.#send(path, "GET", options, { Accept: MANIFEST_ACCEPT });
      if (!res.ok) throw await this.#error(res, verb, what, "GET", path);
      try {
        return { res, bytes: await readLimited(res.body ?? streamOf(new Uint8Array()), MAX_MANIFEST_BYTES) };
      } catch (err) {
        if (err instanceof FerryError && !(err instanceof TimeoutError)) throw err;
        if (options.signal?.aborted) throw abortErrorOf(options.signal);
        if (attempt >= this.client.retry.retries) {
          throw new NetworkError(
            `Cannot reach ${this.client.host}: connection lost while reading ${what}: ${describeNetworkError(err)}`,
            { ref: this.ref, cause: err },
          );
        }
        await sleep(backoffDelay(attempt, this.client.retry), options.signal);
      }
    }
  }

  #remember(digest: string, bytes: Uint8Array): void {
    this.#manifests.delete(digest);
    this.#manifests.set(digest, bytes);
    if (this.#manifests.size > MANIFEST_CACHE_ENTRIES) this.#manifests.delete(this.#manifests.keys().next().value!);
  }

  /**
   * Deletes the manifest `digest` (and so every tag pointing at it), as `skopeo delete` and `crane delete` do.
   * A registry that does not allow deletes (405, or UNSUPPORTED) gets a RegistryError saying so.
   */
  async deleteManifest(digest: string, options: StoreOptions = {}): Promise<void> {
    const path = this.#path("manifests", digest);
    const res = await this.client.send(path, {
      method: "DELETE",
      scopes: [`repository:${this.#repository}:delete`],
      signal: options.signal,
    });
    if (res.status === 202 || res.status === 200 || res.status === 204) return await drain(res);
    if (res.status === 405) {
      await drain(res);
      throw new RegistryError(
        `Cannot delete manifest ${
          shortDigest(digest)
        }: ${this.client.host} does not allow deletes (405 Method Not Allowed)`,
        { ref: this.ref, status: 405 },
      );
    }
    throw await this.#error(res, "delete", `manifest ${shortDigest(digest)}`, "DELETE", path);
  }

  /**
   * The blob body (or its bytes `[start, end)`), resumed with `Range` requests when the connection drops
   * mid-stream. `firstEnd`: the first answer is a 206 of the bytes before it, the rest then asked for in one
   * more request (not a failure).
   */
  #resumable(
    first: Response,
    desc: Descriptor,
    path: string,
    signal?: AbortSignal,
    range: { start?: number; end?: number; firstEnd?: number } = {},
  ): ReadableStream<Uint8Array> {
    const start = range.start ?? 0;
    const end = range.end ?? desc.size;
    const length = end - start;
    let reader = (first.body ?? streamOf(new Uint8Array())).getReader();
    let received = 0;
    let partial = range.firstEnd !== undefined && range.firstEnd < end ? range.firstEnd - start : undefined;
    let skip = 0; // bytes to drop when a registry ignores Range and starts over
    let failures = 0;
    const retries = this.client.retry.retries;
    const reopen = async (cause: unknown) => {
      if (signal?.aborted) throw abortErrorOf(signal);
      if (received === partial) {
        partial = undefined; // the first part ended where it should: ask for the rest, no failure
      } else {
        if (failures >= retries) {
          throw new NetworkError(
            `Cannot reach ${this.client.host}: connection lost after ${
              start + received
            } of ${desc.size} bytes of blob ${shortDigest(desc.digest)}: ${describeNetworkError(cause)}`,
            { ref: this.ref, cause },
          );
        }
        await sleep(backoffDelay(failures++, this.client.retry), signal);
      }
      await reader.cancel().catch(() => {});
      const from = start + received;
      const res = await this.#send(path, "GET", { signal }, {
        Range: end < desc.size ? `bytes=${from}-${end - 1}` : `bytes=${from}-`,
      });
      if (res.status !== 206 && res.status !== 200) {
        throw await this.#error(res, "fetch", `blob ${shortDigest(desc.digest)}`, "GET", path);
      }
      skip = res.status === 200 ? from : 0;
      reader = (res.body ?? streamOf(new Uint8Array())).getReader();
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (err) {
            if (received >= length) throw err;
            await reopen(err);
            continue;
          }
          if (chunk.done) {
            if (received < length) {
              await reopen(new Error("the body ended early"));
              continue;
            }
            controller.close();
            return;
          }
          let value = chunk.value;
          if (skip > 0) {
            const n = Math.min(skip, value.byteLength);
            skip -= n;
            value = value.subarray(n);
            if (value.byteLength === 0) continue;
          }
          if (received + value.byteLength > length && end < desc.size) {
            // A whole-blob answer to a part's resumption: keep the part's bytes, let the rest go.
            value = value.subarray(0, length - received);
            await reader.cancel().catch(() => {});
          }
          received += value.byteLength;
          controller.enqueue(value);
          return;
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }
}

/**
 * Opens `reference`'s repository as a store; stores of one host share a client (and its tokens).
 *
 * @example
 * ```ts
 * const store = openRegistryStore({ registry: "127.0.0.1:5000", repository: "app", tag: "1.0" }, { retries: 5 });
 * ```
 */
export function openRegistryStore(reference: Reference, options: RegistryOptions = {}): RegistryStore {
  return new RegistryStore(reference, options);
}

function mediaTypeOf(res: Response): string | undefined {
  const type = res.headers.get("content-type")?.split(";")[0].trim();
  return type && type !== "application/json" && type !== "text/plain" ? type : undefined;
}

function mediaTypeInside(bytes: Uint8Array): string {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: string; manifests?: unknown };
    if (parsed.mediaType) return parsed.mediaType;
    return parsed.manifests ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json";
  } catch {
    return "application/octet-stream";
  }
}
