/**
 * The store interfaces: every end ferry copies from or to (a registry repository, an OCI layout,
 * a docker-archive tarball, memory) is one of these, and {@link copyGraph} moves content between them.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";

/**
 * Per-call options every store method accepts.
 *
 * @example
 * ```ts
 * const store: ReadableStore = buildSampleImage().store;
 * const options: StoreOptions = { signal: AbortSignal.timeout(5_000) };
 * await store.resolve("1.0", options);
 * ```
 */
export interface StoreOptions {
  /** Aborts the operation. */
  signal?: AbortSignal;
  /**
   * `fetch` of a blob: one stream in order, no parallel `Range` parts fetched ahead. Asked by readers that keep
   * what arrives for a resume after a crash: parts fetched ahead would be lost at a kill.
   */
  sequential?: boolean;
}

/**
 * Options of {@link WritableStore.push}.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const dst = new MemoryStore();
 * const options: PushOptions = { reopen: () => sample.store.fetch(sample.root) };
 * await dst.push(sample.root, await sample.store.fetch(sample.root), options);
 * ```
 */
export interface PushOptions extends StoreOptions {
  /**
   * A fresh copy of the body (verified like the first), for a store that retries a failed upload of
   * a blob too large to keep (the registry end). copyGraph passes the blob fetched again from the source.
   */
  reopen?: () => Promise<ReadableStream<Uint8Array>>;
  /**
   * The body's first `resumeFrom` bytes are the ones {@link WritableStore.partial} read back (so they are
   * verified with the rest): the store keeps its own copy of them and writes only what follows.
   */
  resumeFrom?: number;
}

/**
 * The part of a blob a destination holds from a crashed run, see {@link WritableStore.partial}.
 *
 * @example
 * ```ts
 * const dst: WritableStore = await OciLayoutStore.open("out", { create: true });
 * const desc = buildSampleImage().manifests[0];
 * const held: PartialContent | undefined = await dst.partial?.(desc);
 * if (held) console.log(`${held.offset} of ${desc.size} bytes already written`);
 * ```
 */
export interface PartialContent {
  /** Bytes held (0 < offset < size). */
  offset: number;
  /** Those bytes, read back from the store (to hash them again). */
  prefix(): ReadableStream<Uint8Array>;
}

/**
 * Options of {@link ReadableStore.referrers}.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const options: ReferrersOptions = { artifactTypes: ["application/spdx+json"] };
 * await sample.store.referrers(sample.root, options);
 * ```
 */
export interface ReferrersOptions extends StoreOptions {
  /** Only referrers of these artifact types (the referrers API's `artifactType` filter); all by default. */
  artifactTypes?: string[];
}

/**
 * A referrer as a store lists it: the descriptor of a manifest that refers to a subject (its `subject` field, or
 * a cosign tag `sha256-<hex>.sig|.att|.sbom` naming the subject's digest).
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const found: ReferrerDescriptor[] = await sample.store.referrers(sample.root);
 * const signatures = found.filter((r) => r.tag?.endsWith(".sig"));
 * ```
 */
export interface ReferrerDescriptor extends Descriptor {
  /** The cosign tag it was found under (`sha256-<hex>.sig`); absent for a manifest whose subject names the digest. */
  tag?: string;
}

/**
 * Options of {@link WritableStore.putReferrer}.
 *
 * @example
 * ```ts
 * const { root } = buildSampleImage();
 * const options: PutReferrerOptions = { subject: root.digest, tag: "sha256-" + root.digest.slice(7) + ".sig" };
 * ```
 */
export interface PutReferrerOptions extends StoreOptions {
  /** The digest it refers to. */
  subject: string;
  /** A cosign tag to re-create (`sha256-<hex>.sig`); else it is a manifest with a `subject`. */
  tag?: string;
  /** The repository the image is named under in a file (`team/app`), so a server of the file lists it there. */
  repository?: string;
}

/**
 * Where a registry-backed store lives; lets copyGraph mount blobs inside one registry.
 *
 * @example
 * ```ts
 * const origin: RegistryOrigin = { registry: "127.0.0.1:5000", repository: "team/app" };
 * ```
 */
export interface RegistryOrigin {
  /** Registry host as used on the wire, e.g. `127.0.0.1:5000` or `registry-1.docker.io`. */
  registry: string;
  /** Repository path, e.g. `library/alpine`. */
  repository: string;
}

/**
 * A place content-addressed manifests and blobs can be read from.
 *
 * @example
 * ```ts
 * async function size(store: ReadableStore, tag: string): Promise<number> {
 *   const desc = await store.resolve(tag);
 *   return desc.size;
 * }
 * await size(buildSampleImage().store, "1.0");
 * ```
 */
export interface ReadableStore {
  /** How this end is named in messages, e.g. `127.0.0.1:5000/app:1.0` or `oci:out`; never a credential. */
  readonly ref: string;
  /** Set by registry stores, so a destination in the same registry can mount instead of copying. */
  readonly origin?: RegistryOrigin;
  /** Resolves a tag or digest to the descriptor of the root manifest or index. */
  resolve(reference: string, options?: StoreOptions): Promise<Descriptor>;
  /** Streams the bytes of `desc`; callers verify them (see `verifyStream`). */
  fetch(desc: Descriptor, options?: StoreOptions): Promise<ReadableStream<Uint8Array>>;
  /** Whether the store holds `desc`: HEAD for a registry, stat for a directory. */
  exists(desc: Descriptor, options?: StoreOptions): Promise<boolean>;
  /**
   * The bytes of blob `desc` from `start` (0 < start < size) to its end, to continue a blob a crashed run left
   * half written (see lib/stream/partial.ts); undefined when the source cannot start there (a registry that
   * ignores `Range`). Callers verify the whole blob: the bytes before `start` they hold, then these.
   */
  fetchRange?(desc: Descriptor, start: number, options?: StoreOptions): Promise<ReadableStream<Uint8Array> | undefined>;
  /**
   * The referrers of `subject` (one level): manifests whose `subject` names it (the referrers API, a fallback
   * `sha256-<hex>` index, index.json entries) and cosign's `sha256-<hex>.sig|.att|.sbom` tags. Absent: the
   * store holds none. See `discoverReferrers` (lib/engine/referrers.ts) for the recursive walk.
   */
  referrers?(subject: Descriptor, options?: ReferrersOptions): Promise<ReferrerDescriptor[]>;
}

/**
 * A place content can be written to: a registry, an OCI layout, a docker-archive tarball.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const dst: WritableStore = await OciLayoutStore.open("layout", { create: true });
 * await copyGraph(sample.store, dst, sample.root);
 * await dst.tag(sample.root, "1.0");
 * await dst.close();
 * ```
 */
export interface WritableStore {
  /** How this end is named in messages; never a credential. */
  readonly ref: string;
  /** Set by registry stores; see {@link ReadableStore.origin}. */
  readonly origin?: RegistryOrigin;
  /** Whether the store already holds `desc` (then copyGraph skips it and, for a manifest, its children). */
  exists(desc: Descriptor, options?: StoreOptions): Promise<boolean>;
  /**
   * Stores the bytes of `desc`. The store commits them only if `body` ends cleanly: callers pipe
   * it through `verifyStream(desc)` (copyGraph does), so bytes that do not match error the
   * stream and nothing is kept. Manifests are pushed after all their children.
   */
  push(desc: Descriptor, body: ReadableStream<Uint8Array>, options?: PushOptions): Promise<void>;
  /** Points `tag` at `desc`, which must already be pushed with all its children. */
  tag(desc: Descriptor, tag: string, options?: StoreOptions): Promise<void>;
  /** Makes the writes durable (index.json, manifest.json, temp-file renames). Call once, after the last push. */
  close(): Promise<void>;
  /** Discards what close() would have committed: temp files removed, nothing left under a final name. */
  abort(): Promise<void>;
  /**
   * The first bytes of blob `desc` that a crashed or failed run left in the store's resume state; undefined when
   * it holds none. copyGraph then fetches the rest (`ReadableStore.fetchRange`) and pushes the whole blob with
   * {@link PushOptions.resumeFrom}. Absent: the store cannot resume a blob.
   */
  partial?(desc: Descriptor, options?: StoreOptions): Promise<PartialContent | undefined>;
  /** At most this many `push` calls at once; a tar stream says 1. */
  readonly maxConcurrentPushes?: number;
  /** Server-side copy from another repository of the same registry; false when the registry declined. */
  mount?(desc: Descriptor, fromRepository: string, options?: StoreOptions): Promise<boolean>;
  /**
   * Makes a pushed referrer `desc` (with all its children) discoverable: a cosign tag re-created; a manifest with
   * a subject listed (nothing more for a registry with the referrers API, the `sha256-<hex>` fallback index
   * merged otherwise; an index.json entry in a layout or archive). Absent: the store keeps no referrers.
   */
  putReferrer?(desc: Descriptor, options: PutReferrerOptions): Promise<void>;
}

/**
 * Both at once: a registry repository, an OCI layout directory, memory.
 *
 * @example
 * ```ts
 * const store: ContentStore = new MemoryStore();
 * const desc = await store.resolve("1.0").catch(() => undefined);
 * ```
 */
export type ContentStore = ReadableStore & WritableStore;
