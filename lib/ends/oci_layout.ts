/**
 * An OCI image layout as a {@link ContentStore}
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md): a directory (read/write), or an
 * uncompressed tar read in place (an OCI archive, e.g. for `ferry serve`). The only reader, writer and
 * matcher of index.json in ferry; the files underneath go through {@link LayoutFiles}.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { mkdir, rm, stat } from "node:fs/promises";
import {
  AbortError,
  abortErrorOf,
  FileError,
  FormatError,
  IntegrityError,
  NotFoundError,
  UsageError,
} from "../errors.ts";
import { type EntryName, entryName, FERRY_REPOSITORY, isNamed, REF_NAME, REFERRER_TAG } from "../oci/annotations.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest, splitDigest } from "../oci/digest.ts";
import { isManifest, MediaType } from "../oci/media_types.ts";
import { fileErrorOf, type TempWriter } from "../stream/files.ts";
import { sweepTempFiles } from "../stream/temp.ts";
import { clearState, openPartial, type PartialBlob, removeState, RESUME_DIR, sweepState } from "../stream/partial.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import {
  dirFiles,
  type FileRange,
  type LayoutFiles,
  type LayoutFileWriter,
  readSmall,
  streamRange,
  tarFiles,
} from "./layout_files.ts";
import { artifactTypeOf, COSIGN_SUFFIXES, parseSchemaTag, schemaTag, subjectOf } from "../oci/referrers.ts";
import type {
  ContentStore,
  PartialContent,
  PushOptions,
  PutReferrerOptions,
  ReferrerDescriptor,
  ReferrersOptions,
  StoreOptions,
} from "./store.ts";

const LAYOUT_VERSION = "1.0.0";
/**
 * Characters the spec allows in ref.name (`A-Za-z0-9` and `-._:@/+`). Its stricter grammar (no doubled
 * separators) is a SHOULD, and Docker tags like `1.0__rc` break it, so only the character set is enforced.
 */
const REF_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._:@/+-]{0,255}$/;

/** Options of {@link OciLayoutStore.open}. */
export interface OciLayoutOptions {
  /** Create the directory if needed (oci-layout and index.json are written by close()). Default false. */
  create?: boolean;
  /**
   * Keep resume state in `DIR/.ferry-resume/` (see lib/stream/partial.ts), so that a rerun after a crash
   * continues a blob cut midway instead of fetching it again: `continue` picks up what a previous run left,
   * `restart` removes it first (`--no-resume`). The state is removed by a successful close(). Default: none.
   */
  resume?: "continue" | "restart";
}

/**
 * How a layout's index.json entries are named as repositories (see {@link entryName}).
 *
 * @example
 * ```ts
 * const naming: LayoutNaming = { defaultRepo: "app" }; // bare tags are app:<tag>
 * ```
 */
export interface LayoutNaming {
  /** The repository of entries whose annotations name none (a file's or directory's name). */
  defaultRepo: string;
  /** Every entry in this repository, whatever its annotations (`--repo`). */
  forced?: string;
}

/**
 * An index.json entry with the repository and tag it is named.
 *
 * @example
 * ```ts
 * const layout = await OciLayoutStore.open("out");
 * const named: NamedEntry[] = layout.named({ defaultRepo: "out" });
 * ```
 */
export interface NamedEntry extends EntryName {
  /** The entry as index.json has it (annotations and platform included). */
  entry: Descriptor;
}

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [key: string]: unknown;
}

type IndexEdit =
  | { kind: "tag"; tag: string; entry: Descriptor }
  | { kind: "root"; entry: Descriptor }
  | { kind: "annotate"; tag: string; annotations: Record<string, string> };

/**
 * A {@link ContentStore} over an OCI image layout directory. Blobs stream into temp files in
 * `blobs/<alg>/` and are renamed to their digest only when the body ended cleanly; `index.json`
 * (the tags) is written atomically by {@link OciLayoutStore.close}, after every blob.
 *
 * @example
 * ```ts
 * const { store: src, root } = buildSampleImage();
 * const dst = await OciLayoutStore.open("out", { create: true });
 * try {
 *   await copyGraph(src, dst, root);
 *   await dst.tag(root, "1.0");
 *   await dst.close(); // writes oci-layout and index.json; skopeo can now read oci:out:1.0
 * } catch (err) {
 *   await dst.abort();
 *   throw err;
 * }
 * ```
 */
export class OciLayoutStore implements ContentStore {
  /** `oci:<dir>` (or `oci-archive:<file>`), as in messages. */
  readonly ref: string;
  /** The directory or tar file. */
  readonly path: string;
  readonly #dir: string;
  readonly #files: LayoutFiles;
  #index: IndexJson;
  /** index.json's stamp when last read or written: a change means another writer was here. */
  #stamp: string | undefined;
  #generation = 0;
  /** Edits of index.json run one at a time. */
  #lock: Promise<unknown> = Promise.resolve();
  readonly #edits: IndexEdit[] = [];
  readonly #writers = new Set<TempWriter>();
  /** Aborted by abort(), so pushes still streaming stop instead of hanging on their bodies. */
  readonly #aborter = new AbortController();
  readonly #createdDir: boolean;
  /** No oci-layout/index.json yet: close() writes them even without tags. */
  readonly #isNew: boolean;
  #closed = false;
  /** What each manifest's `subject` names (null: none), by digest: content-addressed, so never stale. */
  readonly #subjects = new Map<string, string | null>();
  /** The resume state directory (`DIR/.ferry-resume`), when resuming. */
  #stateDir?: string;
  /** Partials this session holds (opened by partial() or push()), by digest. */
  readonly #partials = new Map<string, PartialBlob>();

  private constructor(files: LayoutFiles, ref: string, read: ReadIndex | undefined, createdDir: boolean) {
    this.#files = files;
    this.#dir = files.path;
    this.path = files.path;
    this.ref = ref;
    this.#index = read?.index ?? emptyIndex();
    this.#stamp = read?.stamp;
    this.#isNew = read === undefined;
    this.#createdDir = createdDir;
  }

  /**
   * Opens an uncompressed tar holding an OCI layout (an OCI archive, or ferry's docker-format export, which is
   * both) to read in place, each file a byte range of the tar. `name` is what messages call it (a spooled tar's `.tar.gz`).
   * Read-only: writes throw a UsageError.
   *
   * @example
   * ```ts
   * const archive = await OciLayoutStore.openArchive("app.oci.tar");
   * const root = await archive.resolve("1.0");
   * ```
   */
  static async openArchive(tar: string, name = tar): Promise<OciLayoutStore> {
    const files = await tarFiles(tar, name);
    const ref = `oci-archive:${name}`;
    const read = await readIndex(files, ref, true);
    if (!read) {
      throw new FormatError(
        `Cannot read ${name}: not an OCI archive (no index.json; was it written by docker save before 25.0?)`,
        { ref: name },
      );
    }
    return new OciLayoutStore(files, ref, read, false);
  }

  /**
   * Opens the layout in `dir`. Without `create`, the directory must hold `oci-layout` and `index.json`
   * (NotFoundError / FormatError otherwise); with it, a missing directory is created and an existing
   * layout's tags are kept.
   */
  static async open(dir: string, options: OciLayoutOptions = {}): Promise<OciLayoutStore> {
    const ref = `oci:${dir}`;
    let createdDir = false;
    if (options.create) {
      const existed = await stat(dir).then((s) => s.isDirectory(), () => false);
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw fileErrorOf(err, "create", dir);
      }
      createdDir = !existed;
      // Temp files a dead writer left (kill -9 mid-copy): see sweepTempFiles.
      if (existed) await sweepTempFiles([dir, join(dir, "blobs", "sha256")]);
      const files = dirFiles(dir);
      const store = new OciLayoutStore(files, ref, await readIndex(files, ref, true), createdDir);
      if (options.resume) {
        store.#stateDir = join(dir, RESUME_DIR);
        if (options.resume === "restart") await clearState(store.#stateDir);
        else if (existed) await sweepState(store.#stateDir);
      }
      return store;
    }
    const files = dirFiles(dir);
    const layout = await readSmall(files, "oci-layout");
    const layoutBytes = layout && new TextDecoder().decode(layout);
    if (layoutBytes === undefined) {
      const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
      if (!isDir) throw new NotFoundError(`Cannot open ${dir}: no such directory`, { ref });
      throw new FormatError(`Cannot open ${dir}: not an OCI layout (no oci-layout file)`, { ref });
    }
    let version: unknown;
    try {
      version = JSON.parse(layoutBytes).imageLayoutVersion;
    } catch { /* reported below */ }
    if (typeof version !== "string") throw new FormatError(`Cannot open ${dir}: malformed oci-layout file`, { ref });
    return new OciLayoutStore(files, ref, await readIndex(files, ref, false), false);
  }

  /** The tags in index.json (including this session's, not yet written), in order. */
  listTags(): string[] {
    return this.#entries().flatMap((e) => (e.annotations?.[REF_NAME] ? [e.annotations[REF_NAME]] : []));
  }

  /** index.json's entries as last read (with this session's tags, not yet written). */
  entries(): Descriptor[] {
    return this.#entries();
  }

  /**
   * index.json's entries that are not referrers: neither a manifest with a `subject` nor named by the tag schema
   * (`sha256-<hex>`, cosign's `sha256-<hex>.sig|.att|.sbom`).
   */
  async imageEntries(): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const entry of this.#entries()) if (!(await this.isReferrerEntry(entry))) out.push(entry);
    return out;
  }

  /** Whether an index.json entry is a referrer: a manifest with a `subject`, or named by the tag schema. */
  async isReferrerEntry(entry: Descriptor): Promise<boolean> {
    if (parseSchemaTag(tagOf(entry) ?? "")) return true;
    return (await this.#subjectOf(entry)) !== undefined;
  }

  /**
   * The referrers of `subject` this layout lists: index.json entries whose manifest's `subject` names it, entries
   * tagged with its cosign tags (`sha256-<hex>.sig|.att|.sbom`), and the entries of its `sha256-<hex>` fallback index.
   */
  async referrers(subject: Descriptor, options: ReferrersOptions = {}): Promise<ReferrerDescriptor[]> {
    const found = new Map<string, ReferrerDescriptor>();
    const cosign = new Map(COSIGN_SUFFIXES.map((s) => [schemaTag(subject.digest, s), s]));
    const fallback = schemaTag(subject.digest);
    for (const entry of this.#entries()) {
      const tag = tagOf(entry);
      const plain = (e: Descriptor): ReferrerDescriptor => ({ mediaType: e.mediaType, digest: e.digest, size: e.size });
      if (tag !== undefined && cosign.has(tag)) {
        found.set(entry.digest, { ...plain(entry), ...(await this.#artifactType(entry)), tag });
      } else if (tag === fallback) {
        const bytes = await this.#small(entry);
        const doc = bytes && JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: Descriptor[] };
        for (const d of Array.isArray(doc?.manifests) ? doc.manifests : []) {
          if (d && isDigest(d.digest) && !found.has(d.digest)) found.set(d.digest, d);
        }
      } else if ((await this.#subjectOf(entry)) === subject.digest && !found.has(entry.digest)) {
        found.set(entry.digest, { ...plain(entry), ...(await this.#artifactType(entry)) });
      }
    }
    const types = options.artifactTypes;
    return [...found.values()].filter((d) => !types?.length || (d.artifactType && types.includes(d.artifactType)));
  }

  /**
   * Lists the pushed referrer `desc` in index.json (on close), as the image-layout spec allows manifests with a
   * subject there: under its cosign tag, or untagged; with `repository`, named into that repository
   * ({@link FERRY_REPOSITORY}) so `ferry serve` lists it beside its image.
   */
  async putReferrer(desc: Descriptor, options: PutReferrerOptions): Promise<void> {
    const annotations = options.repository !== undefined ? { [FERRY_REPOSITORY]: options.repository } : undefined;
    if (options.tag !== undefined) {
      await this.tag(desc, options.tag);
      if (annotations) this.annotate(options.tag, annotations);
      return;
    }
    await this.addRoot(desc, annotations);
  }

  async #small(entry: Descriptor): Promise<Uint8Array | undefined> {
    if (entry.size > MAX_MANIFEST_BYTES) return undefined;
    const range = await this.locate(entry.digest);
    if (!range || range.size !== entry.size) return undefined;
    return await readLimited(streamRange(range), MAX_MANIFEST_BYTES);
  }

  async #subjectOf(entry: Descriptor): Promise<string | undefined> {
    let subject = this.#subjects.get(entry.digest);
    if (subject === undefined) {
      const bytes = await this.#small(entry);
      subject = (bytes && subjectOf(bytes)) ?? null;
      if (bytes) this.#subjects.set(entry.digest, subject);
    }
    return subject ?? undefined;
  }

  async #artifactType(entry: Descriptor): Promise<{ artifactType?: string }> {
    if (entry.artifactType) return { artifactType: entry.artifactType };
    const bytes = await this.#small(entry);
    const artifactType = bytes && artifactTypeOf(bytes);
    return artifactType ? { artifactType } : {};
  }

  /** Each entry with the repository and tag it is named (see {@link entryName}). */
  named(naming: LayoutNaming): NamedEntry[] {
    return this.#entries().map((entry) => ({ entry, ...entryName(entry, naming.defaultRepo, naming.forced) }));
  }

  /** Whether the layout can be written (a directory; a tar is read in place). */
  get writable(): boolean {
    return this.#files.writer !== undefined;
  }

  /** Goes up whenever the entries change: re-read ({@link refresh}) or written by this store. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Re-reads index.json if another writer (e.g. `ferry copy` into a served layout) changed it since this store
   * last read or wrote it; true when it did. A tar never changes.
   */
  async refresh(): Promise<boolean> {
    if (!this.#files.writer) return false;
    await this.#lock;
    const range = await this.#files.locate("index.json");
    if (range?.stamp === this.#stamp) return false;
    const read = await readIndex(this.#files, this.ref, true);
    this.#index = read?.index ?? emptyIndex();
    this.#stamp = read?.stamp;
    this.#generation++;
    return true;
  }

  /** Where a blob's bytes are (a file, or a range of the tar); undefined when the layout lacks it. */
  async locate(digest: string): Promise<FileRange | undefined> {
    return isDigest(digest) ? await this.#files.locate(blobName(digest)) : undefined;
  }

  /** A small top-level file of the layout (`bundle.json`), or undefined when there is none. */
  async readFile(name: string): Promise<Uint8Array | undefined> {
    return await readSmall(this.#files, name);
  }

  /** The size of the blob `digest`, or undefined when the layout lacks it. */
  async blobSize(digest: string): Promise<number | undefined> {
    return (await this.locate(digest))?.size;
  }

  /**
   * Resolves a digest, a tag (an index.json entry's ref.name; also a full `name:tag` as crane and
   * containerd write it), or "" for a layout with exactly one entry.
   */
  async resolve(reference: string, options?: StoreOptions): Promise<Descriptor> {
    const entries = this.#entries();
    if (isDigest(reference)) {
      const entry = entries.find((e) => e.digest === reference);
      if (entry) return await this.#rootOf(entry, options);
      const size = await this.blobSize(reference);
      if (size === undefined) throw new NotFoundError(`Cannot find ${reference} in ${this.#dir}`, { ref: this.ref });
      return await this.#rootOf({ mediaType: "", digest: reference, size }, options);
    }
    if (reference === "" && entries.length === 1) return await this.#rootOf(entries[0], options);
    if (reference === "" && entries.length > 1) {
      // An image and its referrers (signatures, SBOMs listed beside it): the image is the one entry.
      const images = await this.imageEntries();
      if (images.length === 1) return await this.#rootOf(images[0], options);
    }
    const matches = matchTag(entries, reference);
    if (matches.length === 1) return await this.#rootOf(matches[0], options);
    const tags = this.listTags();
    const have = tags.length ? `tags here: ${tags.join(", ")}` : `no tags here (${entries.length} untagged entries)`;
    if (matches.length > 1) {
      throw new UsageError(`Cannot resolve "${reference}" in ${this.#dir}: it matches several entries; ${have}`, {
        ref: this.ref,
      });
    }
    const what = reference === "" ? "no tag given and not exactly one image" : `no tag "${reference}"`;
    throw new NotFoundError(`Cannot resolve ${reference || "the image"} in ${this.#dir}: ${what}; ${have}`, {
      ref: this.ref,
    });
  }

  /** Streams `blobs/<alg>/<hex>`. */
  async fetch(desc: Descriptor, _options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const range = await this.locate(desc.digest);
    if (!range) throw new NotFoundError(`Cannot find blob ${desc.digest} in ${this.#dir}`, { ref: this.ref });
    return streamRange(range);
  }

  /** Whether `blobs/<alg>/<hex>` exists with the descriptor's size. */
  async exists(desc: Descriptor, _options?: StoreOptions): Promise<boolean> {
    return (await this.blobSize(desc.digest)) === desc.size;
  }

  /**
   * Streams `body` into a temp file beside the blob and renames it into place once the body ended
   * cleanly with `desc.size` bytes (callers verify the digest: copyGraph pipes through verifyStream).
   * A blob already present is left alone; concurrent pushes of one digest each rename identical bytes.
   */
  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, options: PushOptions = {}): Promise<void> {
    const files = this.#checkOpen();
    const path = files.pathOf(blobName(desc.digest));
    if (await this.exists(desc)) {
      await body.cancel().catch(() => {});
      return;
    }
    if (this.#stateDir !== undefined && !isManifestBlob(desc)) {
      const partial = await this.#takePartial(desc, options.resumeFrom ?? 0).catch(async (err) => {
        await body.cancel().catch(() => {});
        throw err;
      });
      if (partial) return await this.#pushPartial(desc, body, partial, path, options);
    }
    const writer = await files.createTemp(blobName(desc.digest)).catch(async (err) => {
      await body.cancel().catch(() => {});
      throw err;
    });
    this.#writers.add(writer);
    try {
      let seen = 0;
      const counted = body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            seen += chunk.byteLength;
            controller.enqueue(chunk);
          },
        }),
      );
      const signal = options.signal ? AbortSignal.any([options.signal, this.#aborter.signal]) : this.#aborter.signal;
      await counted.pipeTo(writer.writable, { signal });
      if (seen !== desc.size) {
        throw new FileError(`Cannot write blob ${desc.digest}: expected ${desc.size} bytes, got ${seen}`, {
          ref: this.ref,
        });
      }
      await writer.commit();
    } catch (err) {
      await writer.discard();
      if (options.signal?.aborted) throw abortErrorOf(options.signal);
      if (this.#aborter.signal.aborted) {
        throw new AbortError(`Cannot write blob ${desc.digest}: the store was aborted`, { ref: this.ref });
      }
      throw fileErrorOf(err, "write", path);
    } finally {
      this.#writers.delete(writer);
    }
  }

  /**
   * The bytes of blob `desc` a crashed run left in `DIR/.ferry-resume/` (with the `resume` option), for
   * copyGraph to continue it; the partial stays held for the push that follows.
   */
  async partial(desc: Descriptor, _options?: StoreOptions): Promise<PartialContent | undefined> {
    if (this.#stateDir === undefined || this.#closed || isManifestBlob(desc)) return undefined;
    let held = this.#partials.get(desc.digest);
    if (!held) {
      held = await openPartial(this.#stateDir, desc.digest, desc.size);
      if (!held) return undefined;
      this.#partials.set(desc.digest, held);
    }
    return held.offset > 0 && held.offset < desc.size
      ? { offset: held.offset, prefix: () => held.prefix() }
      : undefined;
  }

  /** The partial to push `desc` into, holding exactly `from` bytes (a fresh one when it holds others). */
  async #takePartial(desc: Descriptor, from: number): Promise<PartialBlob | undefined> {
    let held = this.#partials.get(desc.digest);
    this.#partials.delete(desc.digest);
    held ??= await openPartial(this.#stateDir!, desc.digest, desc.size);
    if (held && held.offset !== from) {
      await held.discard();
      held = from === 0 ? await openPartial(this.#stateDir!, desc.digest, desc.size) : undefined;
    }
    return held;
  }

  /** Streams `body` (minus the `partial.offset` bytes the partial holds) into the partial, then renames it into place. */
  async #pushPartial(
    desc: Descriptor,
    body: ReadableStream<Uint8Array>,
    partial: PartialBlob,
    path: string,
    options: PushOptions,
  ): Promise<void> {
    let seen = 0;
    const skip = partial.offset;
    const rest = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          const from = Math.max(0, Math.min(chunk.byteLength, skip - seen));
          seen += chunk.byteLength;
          if (from < chunk.byteLength) controller.enqueue(from === 0 ? chunk : chunk.subarray(from));
        },
      }),
    );
    const signal = options.signal ? AbortSignal.any([options.signal, this.#aborter.signal]) : this.#aborter.signal;
    try {
      await rest.pipeTo(partial.writable, { signal });
      if (seen !== desc.size) {
        throw new FileError(`Cannot write blob ${desc.digest}: expected ${desc.size} bytes, got ${seen}`, {
          ref: this.ref,
        });
      }
      await mkdir(dirname(path), { recursive: true });
      await partial.commit(path);
    } catch (err) {
      // Bytes that did not verify are dropped; anything else (a drop, an abort, a kill) keeps them for a rerun.
      if (err instanceof IntegrityError || err instanceof FileError) await partial.discard();
      else await partial.release();
      if (options.signal?.aborted) throw abortErrorOf(options.signal);
      if (this.#aborter.signal.aborted) {
        throw new AbortError(`Cannot write blob ${desc.digest}: the store was aborted`, { ref: this.ref });
      }
      throw fileErrorOf(err, "write", path);
    }
  }

  /** Points `tag` at `desc` in index.json (on close), replacing any entry with the same ref.name. */
  async tag(desc: Descriptor, tag: string, _options?: StoreOptions): Promise<void> {
    this.#checkOpen();
    if (!REF_NAME_RE.test(tag)) {
      throw new UsageError(`Cannot tag ${this.#dir} as "${tag}": not a valid ref.name`, { ref: this.ref });
    }
    await this.#checkPushed(desc);
    const entry = entryOf(desc, { [REF_NAME]: tag });
    this.#edits.push({ kind: "tag", tag, entry });
  }

  /** Adds an untagged index.json entry for `desc` (on close), unless one is there already. */
  async addRoot(desc: Descriptor, annotations?: Record<string, string>): Promise<void> {
    this.#checkOpen();
    await this.#checkPushed(desc);
    this.#edits.push({ kind: "root", entry: entryOf(desc, annotations) });
  }

  /**
   * Adds `annotations` to the entry tagged `tag` (on close), e.g. the image's full name as
   * `io.containerd.image.name` beside its ref.name, as every ferry export records it.
   */
  annotate(tag: string, annotations: Record<string, string>): void {
    this.#checkOpen();
    this.#edits.push({ kind: "annotate", tag, annotations });
  }

  /**
   * Writes `oci-layout`, then `index.json` (atomically, last). Entries written meanwhile by others are
   * re-read and kept; only this session's tags replace theirs. Writes nothing if nothing was tagged.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#releasePartials();
    if (this.#stateDir !== undefined) await removeState(this.#stateDir);
    if (this.#edits.length === 0 && !this.#isNew) return;
    if (!this.#files.writer) return;
    const edits = this.#edits.splice(0);
    await this.#updateIndex((manifests) => applyEdits(manifests, edits));
  }

  async #releasePartials(): Promise<void> {
    const held = [...this.#partials.values()];
    this.#partials.clear();
    await Promise.all(held.map((p) => p.release()));
  }

  /**
   * Points `repository:tag` (or, with no tag, an untagged entry of `repository`) at `desc` in index.json now,
   * as a registry push does; `desc` must be stored. Replaced: the entry with that name, and untagged entries of
   * the repository for `desc` itself or for `replaces` (the children of a pushed index). A tag outside
   * `naming.defaultRepo` is written as `repository:tag` in ref.name; an untagged entry gets
   * {@link FERRY_REPOSITORY}.
   */
  async putNamed(
    naming: LayoutNaming,
    repository: string,
    desc: Descriptor,
    tag: string | undefined,
    replaces: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    this.#checkOpen();
    await this.#updateIndex((manifests) => {
      const name = (e: Descriptor) => entryName(e, naming.defaultRepo, naming.forced);
      const mine = (e: Descriptor) => name(e).repository === repository;
      const out = manifests.filter((e) =>
        !(mine(e) && name(e).tag === undefined && (e.digest === desc.digest || replaces.has(e.digest))) &&
        !(mine(e) && tag !== undefined && name(e).tag === tag)
      );
      const named = naming.forced === undefined && repository !== naming.defaultRepo;
      const entry = tag !== undefined
        ? entryOf(desc, { [REF_NAME]: named ? `${repository}:${tag}` : tag })
        : entryOf(desc, named ? { [FERRY_REPOSITORY]: repository } : undefined);
      if (tag !== undefined || !out.some((e) => mine(e) && e.digest === desc.digest)) out.push(entry);
      return out;
    });
  }

  /** Removes the entries of `repository` named `reference` (a tag, or a digest: every entry of it) now. */
  async deleteNamed(naming: LayoutNaming, repository: string, reference: string): Promise<number> {
    this.#checkOpen();
    let removed = 0;
    await this.#updateIndex((manifests) => {
      const out = manifests.filter((e) => {
        const name = entryName(e, naming.defaultRepo, naming.forced);
        return !(name.repository === repository &&
          (isDigest(reference) ? e.digest === reference : name.tag === reference));
      });
      removed = manifests.length - out.length;
      return out;
    });
    return removed;
  }

  /** Stores small verified bytes (a manifest) as blob `desc`, unless it is there already. */
  async putBlob(desc: Descriptor, bytes: Uint8Array): Promise<void> {
    const files = this.#checkOpen();
    if ((await this.blobSize(desc.digest)) === bytes.byteLength) return;
    await files.writeAtomic(blobName(desc.digest), bytes);
  }

  /**
   * Moves a verified file (on the layout's file system, e.g. under {@link OciLayoutStore.path}) in as blob
   * `digest`. Concurrent adoptions of one digest each rename identical bytes: the last one wins, harmlessly.
   */
  async adoptBlob(tempPath: string, digest: string): Promise<void> {
    await this.#checkOpen().moveIn(tempPath, blobName(digest));
  }

  /** Removes blob `digest` (callers check that nothing refers to it). */
  async removeBlob(digest: string): Promise<void> {
    await this.#checkOpen().remove(blobName(digest));
  }

  /**
   * Edits index.json, one edit at a time: re-read (entries others wrote meanwhile are kept), edited, and
   * written atomically after oci-layout.
   */
  #updateIndex(edit: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    const files = this.#files.writer!;
    const run = this.#lock.then(async () => {
      const current = (await readIndex(this.#files, this.ref, true))?.index ?? this.#index;
      const index = { ...current, manifests: edit(current.manifests) };
      await mkdir(files.pathOf("blobs"), { recursive: true }).catch((err) => {
        throw fileErrorOf(err, "write", files.pathOf("blobs"));
      });
      await files.writeAtomic("oci-layout", `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`);
      await files.writeAtomic("index.json", `${JSON.stringify(index, null, 2)}\n`);
      this.#index = index;
      this.#stamp = (await this.#files.locate("index.json"))?.stamp;
      this.#generation++;
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  /**
   * Discards this session: in-flight temp files are removed and index.json is not touched. A directory
   * that open({ create }) made is removed whole; in an existing layout, blobs already renamed into place
   * stay (unreferenced, harmless, identical to what any writer would store under that digest).
   */
  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#edits.length = 0;
    this.#aborter.abort();
    await this.#releasePartials(); // kept in DIR/.ferry-resume for a rerun
    // Only our own temp files: another process may be writing into the same layout.
    await Promise.all([...this.#writers].map((w) => w.discard()));
    this.#writers.clear();
    if (this.#createdDir) await rm(this.#dir, { recursive: true, force: true }).catch(() => {});
  }

  #entries(): Descriptor[] {
    return applyEdits(this.#index.manifests, this.#edits);
  }

  #checkOpen(): LayoutFileWriter {
    if (this.#closed) throw new UsageError(`Cannot write to ${this.#dir}: the store is closed`, { ref: this.ref });
    if (!this.#files.writer) {
      throw new UsageError(`Cannot write to ${this.#dir}: an archive is read in place, read-only`, { ref: this.ref });
    }
    return this.#files.writer;
  }

  async #checkPushed(desc: Descriptor): Promise<void> {
    if (!(await this.exists(desc))) {
      throw new NotFoundError(`Cannot tag ${desc.digest} in ${this.#dir}: it was not pushed`, { ref: this.ref });
    }
  }

  /** The root descriptor for an index.json entry: its own fields, media type read from the blob if absent. */
  async #rootOf(entry: Descriptor, options?: StoreOptions): Promise<Descriptor> {
    const root: Descriptor = { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
    if (entry.platform) root.platform = entry.platform;
    if (entry.artifactType) root.artifactType = entry.artifactType;
    if (root.mediaType) return root;
    if (root.size > MAX_MANIFEST_BYTES) {
      throw new FormatError(`Cannot resolve ${entry.digest} in ${this.#dir}: not a manifest`, { ref: this.ref });
    }
    const bytes = await readLimited(await this.fetch(root, options));
    let mediaType: unknown;
    try {
      mediaType = JSON.parse(new TextDecoder().decode(bytes)).mediaType;
    } catch { /* below */ }
    if (typeof mediaType !== "string") {
      throw new FormatError(`Cannot resolve ${entry.digest} in ${this.#dir}: no media type`, { ref: this.ref });
    }
    return { ...root, mediaType };
  }

  /** Removes the index.json entries tagged `tag` now, atomically (blobs stay); false when there is none. */
  async untag(tag: string): Promise<boolean> {
    this.#checkOpen();
    let removed = 0;
    await this.#updateIndex((manifests) => {
      const out = manifests.filter((e) => e.annotations?.[REF_NAME] !== tag);
      removed = manifests.length - out.length;
      return out;
    });
    return removed > 0;
  }
}

/** An entry's tag: its name's, else the cosign tag an archive records for a referrer ({@link REFERRER_TAG}). */
function tagOf(entry: Descriptor): string | undefined {
  return entryName(entry, "_").tag ?? entry.annotations?.[REFERRER_TAG];
}

function emptyIndex(): IndexJson {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

interface ReadIndex {
  index: IndexJson;
  stamp: string;
}

/** The layout path of blob `digest`: `blobs/<alg>/<hex>`. */
function blobName(digest: string): string {
  const [algorithm, hex] = splitDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** Reads and checks index.json; undefined if it is missing and `optional`. */
async function readIndex(files: LayoutFiles, ref: string, optional: boolean): Promise<ReadIndex | undefined> {
  const range = await files.locate("index.json");
  const path = `${files.path}/index.json`;
  if (!range) {
    if (optional) return undefined;
    throw new FormatError(`Cannot open ${files.path}: not an OCI layout (no index.json)`, { ref });
  }
  const text = new TextDecoder().decode(await readLimited(streamRange(range)));
  let index: IndexJson;
  try {
    index = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`Cannot parse ${path}: ${(err as Error).message}`, { ref, cause: err });
  }
  const ok = index && typeof index === "object" && Array.isArray(index.manifests) &&
    index.manifests.every((m) => m && typeof m.digest === "string" && isDigest(m.digest) && typeof m.size === "number");
  if (!ok) throw new FormatError(`Cannot parse ${path}: not an image index with valid descriptors`, { ref });
  return { index, stamp: range.stamp };
}

/** The index.json entry for `desc`: its identity and platform, with only the given annotations. */
function entryOf(desc: Descriptor, annotations?: Record<string, string>): Descriptor {
  const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (desc.platform) entry.platform = desc.platform;
  if (desc.artifactType) entry.artifactType = desc.artifactType;
  if (annotations) entry.annotations = annotations;
  return entry;
}

/** Applies tag/addRoot edits: a tag replaces every entry with that ref.name in place (crane#1807). */
function applyEdits(manifests: Descriptor[], edits: IndexEdit[]): Descriptor[] {
  let out = [...manifests];
  for (const edit of edits) {
    if (edit.kind === "annotate") {
      out = out.map((e) =>
        e.annotations?.[REF_NAME] === edit.tag ? { ...e, annotations: { ...e.annotations, ...edit.annotations } } : e
      );
      continue;
    }
    if (edit.kind === "root") {
      if (!out.some((e) => e.digest === edit.entry.digest && !e.annotations?.[REF_NAME])) out.push(edit.entry);
      continue;
    }
    const at = out.findIndex((e) => e.annotations?.[REF_NAME] === edit.tag);
    out = out.filter((e) => e.annotations?.[REF_NAME] !== edit.tag);
    out.splice(at < 0 ? out.length : at, 0, edit.entry);
  }
  return out;
}

/**
 * Entries whose name annotation is `tag`: ref.name exactly (skopeo, ferry), else any name annotation exactly
 * or as the tag of a full `name:tag` (crane --annotate-ref, containerd's io.containerd.image.name).
 */
function matchTag(entries: Descriptor[], tag: string): Descriptor[] {
  const exact = entries.filter((e) => isNamed(e, tag, true));
  return exact.length > 0 ? exact : entries.filter((e) => isNamed(e, tag));
}

/** Manifests are small: written whole, never resumed. */
function isManifestBlob(desc: Descriptor): boolean {
  return isManifest(desc.mediaType) && desc.size <= MAX_MANIFEST_BYTES;
}
