/**
 * An OCI image layout directory as a {@link ContentStore}
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md).
 *
 * @module
 */
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { AbortError, abortErrorOf, FileError, FormatError, NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest, splitDigest } from "../oci/digest.ts";
import { MediaType } from "../oci/media_types.ts";
import { createTempWriter, fileErrorOf, readFileStream, type TempWriter, writeFileAtomic } from "../stream/files.ts";
import { sweepTempFiles } from "../stream/temp.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import type { ContentStore, StoreOptions } from "./store.ts";

/** The annotation the image spec uses for a tag in index.json. */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** Other tools' annotations for an image's name: containerd/buildkit and older crane. */
const NAME_ANNOTATIONS = [REF_NAME, "io.containerd.image.name", "dev.ggcr.image.name"];
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
}

interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [key: string]: unknown;
}

type IndexEdit = { kind: "tag"; tag: string; entry: Descriptor } | { kind: "root"; entry: Descriptor };

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
  /** `oci:<dir>`, as in messages. */
  readonly ref: string;
  readonly #dir: string;
  #index: IndexJson;
  readonly #edits: IndexEdit[] = [];
  readonly #writers = new Set<TempWriter>();
  /** Aborted by abort(), so pushes still streaming stop instead of hanging on their bodies. */
  readonly #aborter = new AbortController();
  readonly #createdDir: boolean;
  /** No oci-layout/index.json yet: close() writes them even without tags. */
  readonly #isNew: boolean;
  #closed = false;

  private constructor(dir: string, index: IndexJson | undefined, createdDir: boolean) {
    this.#dir = dir;
    this.ref = `oci:${dir}`;
    this.#index = index ?? emptyIndex();
    this.#isNew = index === undefined;
    this.#createdDir = createdDir;
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
      const index = await readIndex(dir, ref, true);
      return new OciLayoutStore(dir, index, createdDir);
    }
    const layoutBytes = await readFile(join(dir, "oci-layout"), "utf8").catch((err) => {
      if (err?.code !== "ENOENT") throw fileErrorOf(err, "read", join(dir, "oci-layout"));
      return undefined;
    });
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
    const index = await readIndex(dir, ref, false);
    return new OciLayoutStore(dir, index!, false);
  }

  /** The tags in index.json (including this session's, not yet written), in order. */
  listTags(): string[] {
    return this.#entries().flatMap((e) => (e.annotations?.[REF_NAME] ? [e.annotations[REF_NAME]] : []));
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
      const size = await this.#blobSize(reference);
      if (size === undefined) throw new NotFoundError(`Cannot find ${reference} in ${this.#dir}`, { ref: this.ref });
      return await this.#rootOf({ mediaType: "", digest: reference, size }, options);
    }
    if (reference === "" && entries.length === 1) return await this.#rootOf(entries[0], options);
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
    const path = this.#blobPath(desc.digest);
    if ((await this.#blobSize(desc.digest)) === undefined) {
      throw new NotFoundError(`Cannot find blob ${desc.digest} in ${this.#dir}`, { ref: this.ref });
    }
    return readFileStream(path);
  }

  /** Whether `blobs/<alg>/<hex>` exists with the descriptor's size. */
  async exists(desc: Descriptor, _options?: StoreOptions): Promise<boolean> {
    return (await this.#blobSize(desc.digest)) === desc.size;
  }

  /**
   * Streams `body` into a temp file beside the blob and renames it into place once the body ended
   * cleanly with `desc.size` bytes (callers verify the digest: copyGraph pipes through verifyStream).
   * A blob already present is left alone; concurrent pushes of one digest each rename identical bytes.
   */
  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, options: StoreOptions = {}): Promise<void> {
    this.#checkOpen();
    const path = this.#blobPath(desc.digest);
    if (await this.exists(desc)) {
      await body.cancel().catch(() => {});
      return;
    }
    try {
      await mkdir(join(path, ".."), { recursive: true });
    } catch (err) {
      await body.cancel().catch(() => {});
      throw fileErrorOf(err, "write", path);
    }
    const writer = await createTempWriter(path).catch(async (err) => {
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
  async addRoot(desc: Descriptor): Promise<void> {
    this.#checkOpen();
    await this.#checkPushed(desc);
    this.#edits.push({ kind: "root", entry: entryOf(desc) });
  }

  /**
   * Writes `oci-layout`, then `index.json` (atomically, last). Entries written meanwhile by others are
   * re-read and kept; only this session's tags replace theirs. Writes nothing if nothing was tagged.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#edits.length === 0 && !this.#isNew) return;
    await mkdir(join(this.#dir, "blobs"), { recursive: true }).catch((err) => {
      throw fileErrorOf(err, "write", join(this.#dir, "blobs"));
    });
    const current = (await readIndex(this.#dir, this.ref, true)) ?? this.#index;
    this.#index = { ...current, manifests: applyEdits(current.manifests, this.#edits) };
    this.#edits.length = 0;
    await writeFileAtomic(join(this.#dir, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}\n`);
    await writeFileAtomic(join(this.#dir, "index.json"), `${JSON.stringify(this.#index, null, 2)}\n`);
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
    // Only our own temp files: another process may be writing into the same layout.
    await Promise.all([...this.#writers].map((w) => w.discard()));
    this.#writers.clear();
    if (this.#createdDir) await rm(this.#dir, { recursive: true, force: true }).catch(() => {});
  }

  #entries(): Descriptor[] {
    return applyEdits(this.#index.manifests, this.#edits);
  }

  #checkOpen(): void {
    if (this.#closed) throw new UsageError(`Cannot write to ${this.#dir}: the store is closed`, { ref: this.ref });
  }

  async #checkPushed(desc: Descriptor): Promise<void> {
    if (!(await this.exists(desc))) {
      throw new NotFoundError(`Cannot tag ${desc.digest} in ${this.#dir}: it was not pushed`, { ref: this.ref });
    }
  }

  #blobPath(digest: string): string {
    const [algorithm, hex] = splitDigest(digest);
    return join(this.#dir, "blobs", algorithm, hex);
  }

  async #blobSize(digest: string): Promise<number | undefined> {
    const path = this.#blobPath(digest);
    try {
      const s = await stat(path);
      return s.isFile() ? s.size : undefined;
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT" || (err as { code?: string }).code === "ENOTDIR") {
        return undefined;
      }
      throw fileErrorOf(err, "read", path);
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
}

function emptyIndex(): IndexJson {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

/** Reads and checks index.json; undefined if it is missing and `optional`. */
async function readIndex(dir: string, ref: string, optional: boolean): Promise<IndexJson | undefined> {
  const path = join(dir, "index.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") {
      if (optional) return undefined;
      throw new FormatError(`Cannot open ${dir}: not an OCI layout (no index.json)`, { ref });
    }
    throw fileErrorOf(err, "read", path);
  }
  let index: IndexJson;
  try {
    index = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`Cannot parse ${path}: ${(err as Error).message}`, { ref, cause: err });
  }
  const ok = index && typeof index === "object" && Array.isArray(index.manifests) &&
    index.manifests.every((m) => m && typeof m.digest === "string" && isDigest(m.digest) && typeof m.size === "number");
  if (!ok) throw new FormatError(`Cannot parse ${path}: not an image index with valid descriptors`, { ref });
  return index;
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
 * Entries whose name annotation is `tag`: exactly (skopeo, ferry), else as the tag of a full
 * `name:tag` (crane --annotate-ref, containerd's io.containerd.image.name), else the full name.
 */
function matchTag(entries: Descriptor[], tag: string): Descriptor[] {
  const exact = entries.filter((e) => e.annotations?.[REF_NAME] === tag);
  if (exact.length > 0) return exact;
  return entries.filter((e) =>
    NAME_ANNOTATIONS.some((key) => {
      const name = e.annotations?.[key];
      if (!name) return false;
      if (name === tag) return true;
      const colon = name.lastIndexOf(":");
      return colon > name.lastIndexOf("/") && name.slice(colon + 1) === tag;
    })
  );
}
