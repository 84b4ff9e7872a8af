/**
 * A write-only store that streams an image graph into one tar file (optionally gzipped) that is at
 * the same time a docker-archive (`manifest.json`, `repositories`: what `docker load` reads) and an
 * OCI image layout (`index.json`, `oci-layout`, `blobs/sha256/…`: what skopeo, umoci and
 * containerd's importer read).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { AbortError, FerryError, FileError } from "../errors.ts";
import { CONTAINERD_NAME, containerdName, FERRY_REPOSITORY, REF_NAME, REFERRER_TAG } from "../oci/annotations.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { BufferPool, uninitializedBytes } from "../stream/bytes.ts";
import { recycle } from "../stream/files.ts";
import { gzipStream, STORED_CHUNK_BYTES, storedGzipSize } from "../stream/gzip.ts";
import { isManifest } from "../oci/media_types.ts";
import { tarHeader, tarPadding } from "../tar/write.ts";
import { blobPath, ImageTar, repositoriesOf, splitName } from "./image_tar.ts";
import type { PutReferrerOptions, StoreOptions, WritableStore } from "./store.ts";

/** Options of {@link ArchiveWriter}. */
export interface ArchiveWriterOptions {
  /** gzip level 0-9 for a `.tar.gz`, or `false` for a plain `.tar` (default false). */
  gzipLevel?: number | false;
  /**
   * index.json's ref.name is the full name (`docker.io/library/nginx:1.27`) instead of the tag alone: a bundle of
   * many images names each one apart, as skopeo's `oci-archive:FILE:NAME` finds them.
   */
  fullNames?: boolean;
  /**
   * A dry run: write no file, only count what would be written (see {@link ArchiveWriter.measured}). Blob bodies
   * are cancelled unread (their sizes are the descriptors'); manifests are read, for manifest.json and index.json.
   */
  measure?: boolean;
}

/**
 * What a measuring {@link ArchiveWriter} (`measure: true`) would have written.
 *
 * @example
 * ```ts
 * const writer = new ArchiveWriter("image-amd64.tar.gz", { gzipLevel: 0, measure: true });
 * // … copyGraph, tag, close as for a real one …
 * const measured: ArchiveMeasure | undefined = writer.measured;
 * ```
 */
export interface ArchiveMeasure {
  /** Bytes of the blobs and manifests in it. */
  content: number;
  /** Bytes of the tar: content, 512-byte headers, padding, manifest.json, index.json, …, the end marker. */
  tar: number;
  /** Bytes of the file: the tar's, or gzip level 0's (stored blocks: exact); undefined when gzip would compress. */
  size?: number;
}

/**
 * What {@link ArchiveWriter.close} wrote (see {@link ArchiveWriter.file}).
 *
 * @example
 * ```ts
 * const sample = buildSampleImage({ platforms: ["linux/amd64"] });
 * const writer = new ArchiveWriter("image-amd64.tar.gz", { gzipLevel: 0 });
 * await copyGraph(sample.store, writer, sample.manifests[0]);
 * await writer.tag(sample.manifests[0], "app:1.0-amd64");
 * await writer.close();
 * const file: ArchiveFile | undefined = writer.file;
 * ```
 */
export interface ArchiveFile {
  /** Path of the file written. */
  path: string;
  /** Bytes in the file. */
  size: number;
  /** `sha256:<hex>` of the whole file, computed while writing. */
  sha256: string;
}

/**
 * A {@link WritableStore} writing one tar to `path + ".part"`, renamed to `path` by `close()`.
 * Blobs are streamed as `blobs/<alg>/<hex>` entries, never buffered (manifests, being small, are
 * also parsed to build `manifest.json`). A tar is sequential, so `maxConcurrentPushes` is 1.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage({ platforms: ["linux/amd64"] });
 * const manifestDesc = sample.manifests[0]; // one platform: a docker archive holds one image
 * const writer = new ArchiveWriter("out/image-amd64.tar.gz", { gzipLevel: 0 });
 * await copyGraph(sample.store, writer, manifestDesc);
 * await writer.tag(manifestDesc, "app:1.0-amd64");
 * await writer.close();
 * writer.file; // { path, size, sha256 }
 * ```
 */
export class ArchiveWriter implements WritableStore {
  readonly maxConcurrentPushes = 1;
  readonly ref: string;
  readonly #part: string;
  readonly #gzipLevel: number | false;
  readonly #fullNames: boolean;
  readonly #tar: ImageTar;
  /** More top-level JSON files, written before index.json. */
  readonly #files: [string, unknown][] = [];
  /** Extra annotations on the index.json entries of a manifest. */
  readonly #annotations = new Map<string, Record<string, string>>();
  /** Referrers listed in index.json (by their cosign tag, or untagged), never in manifest.json. */
  readonly #referrers = new Map<string, { desc: Descriptor; tags: string[]; repository?: string }>();
  #opening?: Promise<WritableStreamDefaultWriter<Uint8Array>>;
  #sink?: FileSink;
  #done?: Promise<void>;
  #failed?: unknown;
  #closed = false;
  #file?: ArchiveFile;
  readonly #measure: boolean;
  #measured = { content: 0, tar: 0 };
  #measuredFile?: ArchiveMeasure;

  /** A writer that will write the archive to `path` (under a temporary name until {@link ArchiveWriter.close}). */
  constructor(readonly path: string, options: ArchiveWriterOptions = {}) {
    this.ref = path;
    this.#part = `${path}.part`;
    this.#gzipLevel = options.gzipLevel ?? false;
    this.#fullNames = options.fullNames ?? false;
    this.#measure = options.measure ?? false;
    // Every write copies its chunk (gzip into its own blocks, the file sink into the file or its buffer) before it
    // settles: a file read's buffer goes back to be read into again.
    this.#tar = new ImageTar(
      async (chunk) => this.#write(this.#measure ? undefined : await this.#open(), chunk),
      path,
      recycle,
    );
  }

  exists(desc: Descriptor): Promise<boolean> {
    return Promise.resolve(this.#tar.has(desc));
  }

  async push(desc: Descriptor, body: ReadableStream<Uint8Array>, options: StoreOptions = {}): Promise<void> {
    if (this.#failed !== undefined || this.#closed || this.#tar.has(desc)) {
      await body.cancel().catch(() => {});
      if (this.#failed !== undefined) throw this.#failed;
      if (this.#closed) throw new FileError(`Cannot write ${this.path}: already closed`, { ref: this.path });
      return;
    }
    try {
      if (this.#measure && !isManifest(desc.mediaType)) {
        await body.cancel().catch(() => {});
        this.#measured.tar += tarHeader(blobPath(desc.digest), desc.size).byteLength + desc.size +
          tarPadding(desc.size).byteLength;
        this.#tar.written.add(desc.digest);
      } else await this.#tar.push(desc, body, options.signal);
      this.#measured.content += desc.size;
    } catch (err) {
      // Part of an entry may be in the tar already: the file cannot be finished any more.
      this.#failed ??= err;
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

  /**
   * Marks manifests (by digest) as carried: when pushed they are written as blobs like any other,
   * but listed in neither manifest.json nor index.json, and an index among them lends no platforms
   * to the entries of the manifests it lists. Call before pushing them. Used for the source index
   * and the attestations a per-platform export carries (`SOURCE_INDEX` in annotations.ts).
   */
  carry(...digests: string[]): void {
    this.#tar.carry(...digests);
  }

  /**
   * Lists the written referrer `desc` in index.json (its cosign tag as {@link REFERRER_TAG}, or untagged; named into
   * `repository` with {@link FERRY_REPOSITORY}) but not in manifest.json: `docker load` sees only images.
   */
  putReferrer(desc: Descriptor, options: PutReferrerOptions): Promise<void> {
    if (!this.#tar.has(desc)) {
      return Promise.reject(
        new FileError(`Cannot list referrer ${desc.digest} in ${this.path}: it was not written`, { ref: this.path }),
      );
    }
    const known = this.#referrers.get(desc.digest) ?? { desc, tags: [], repository: options.repository };
    if (options.tag !== undefined && !known.tags.includes(options.tag)) known.tags.push(options.tag);
    this.#referrers.set(desc.digest, known);
    return Promise.resolve();
  }

  /** Adds `annotations` to the index.json entries of the manifest `desc` (written or still to come). */
  annotate(desc: Descriptor, annotations: Record<string, string>): void {
    this.#annotations.set(desc.digest, { ...this.#annotations.get(desc.digest), ...annotations });
  }

  /** Adds a top-level JSON file (`bundle.json`), written by close() before index.json. */
  addFile(name: string, value: unknown): void {
    this.#files.push([name, value]);
  }

  /** Appends manifest.json, repositories, index.json and oci-layout, flushes, fsyncs and renames. */
  async close(): Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed) throw new FileError(`Cannot close ${this.path}: already closed`, { ref: this.path });
    this.#closed = true;
    if (this.#measure) {
      const items = this.#tar.dockerManifest({ exclude: new Set(this.#referrers.keys()) });
      await this.#tar.end([
        ["manifest.json", items],
        ["repositories", repositoriesOf(items)],
        ["index.json", this.#ociIndex()],
        ["oci-layout", { imageLayoutVersion: "1.0.0" }],
      ]);
      const tar = this.#measured.tar;
      const size = this.#gzipLevel === false ? tar : this.#gzipLevel === 0 ? storedGzipSize(tar) : undefined;
      this.#measuredFile = { content: this.#measured.content, tar, ...(size !== undefined ? { size } : {}) };
      return;
    }
    try {
      const out = await this.#open();
      const items = this.#tar.dockerManifest({ exclude: new Set(this.#referrers.keys()) });
      await this.#tar.end([
        ["manifest.json", items],
        ["repositories", repositoriesOf(items)],
        ...this.#files,
        ["index.json", this.#ociIndex()],
        ["oci-layout", { imageLayoutVersion: "1.0.0" }],
      ]);
      await out.close().catch((err) => {
        throw this.#fileError("write", err);
      });
      await this.#done;
      await rename(this.#part, this.path).catch((err) => {
        throw this.#fileError("rename", err);
      });
    } catch (err) {
      this.#failed ??= err;
      await this.abort();
      throw err;
    }
    this.#file = { path: this.path, size: this.#sink!.size, sha256: `sha256:${this.#sink!.hash.digest("hex")}` };
  }

  /** With `measure`, once `close()` has succeeded: what the file would hold. */
  get measured(): ArchiveMeasure | undefined {
    return this.#measuredFile;
  }

  /** The file written, once `close()` has succeeded. */
  get file(): ArchiveFile | undefined {
    return this.#file;
  }

  async abort(): Promise<void> {
    this.#failed ??= new AbortError();
    if (this.#measure) return;
    if (this.#opening) {
      const out = await this.#opening.catch(() => undefined);
      await out?.abort(this.#failed).catch(() => {});
      await this.#done?.catch(() => {});
      await this.#sink?.dispose();
    }
    await rm(this.#part, { force: true }).catch(() => {});
  }

  #ociIndex(): unknown {
    const referenced = new Set<string>();
    for (const m of this.#tar.manifests.values()) {
      if (m.kind === "index") { for (const c of m.children) referenced.add(c.digest); }
    }
    const manifests: Descriptor[] = [];
    for (const m of this.#tar.manifests.values()) {
      if (this.#referrers.has(m.desc.digest)) continue;
      const platform = this.#tar.entries.get(m.desc.digest)?.platform;
      const extra = this.#annotations.get(m.desc.digest);
      const base: Descriptor = platform ? { ...m.desc, platform } : m.desc;
      if (m.names.length === 0 && !referenced.has(m.desc.digest)) {
        manifests.push(extra ? { ...base, annotations: { ...extra } } : base);
      }
      for (const name of m.names) {
        // containerd (ctr import, moby's containerd image store) takes io.containerd.image.name as the
        // image's name verbatim, so it must be the normalised form `docker image ls` resolves to.
        const annotations = {
          ...extra,
          [CONTAINERD_NAME]: containerdName(name),
          [REF_NAME]: this.#fullNames ? name : splitName(name)[1],
        };
        manifests.push({ ...base, annotations });
      }
    }
    for (const { desc, tags, repository } of this.#referrers.values()) {
      const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
      if (desc.artifactType) entry.artifactType = desc.artifactType;
      const own: Record<string, string> = repository !== undefined ? { [FERRY_REPOSITORY]: repository } : {};
      if (tags.length === 0) manifests.push(repository !== undefined ? { ...entry, annotations: own } : entry);
      for (const tag of tags) manifests.push({ ...entry, annotations: { ...own, [REFERRER_TAG]: tag } });
    }
    return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  }

  #open(): Promise<WritableStreamDefaultWriter<Uint8Array>> {
    this.#opening ??= (async () => {
      const fh = await open(this.#part, "w").catch((err) => {
        throw this.#fileError("create", err);
      });
      // The gzip writer's chunks go to the file only, so the sink gives each back to be filled again.
      const pool = new BufferPool(STORED_CHUNK_BYTES, 4);
      this.#sink = new FileSink(fh, pool);
      const fileStream = this.#sink.stream();
      if (this.#gzipLevel === false) return fileStream.getWriter();
      const gzip = gzipStream(this.#gzipLevel, { pool });
      this.#done = gzip.readable.pipeTo(fileStream);
      this.#done.catch(() => {}); // observed through the writer and in close()
      return gzip.writable.getWriter();
    })();
    return this.#opening;
  }

  async #write(out: WritableStreamDefaultWriter<Uint8Array> | undefined, chunk: Uint8Array): Promise<void> {
    if (out === undefined) {
      this.#measured.tar += chunk.byteLength;
      return;
    }
    if (chunk.byteLength === 0) return;
    try {
      await out.ready;
      await out.write(chunk);
    } catch (err) {
      throw this.#fileError("write", err);
    }
  }

  #fileError(verb: string, err: unknown): FerryError {
    if (err instanceof FerryError) return err;
    const code = (err as { code?: string })?.code;
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    return new FileError(`Cannot ${verb} ${verb === "rename" ? this.#part : this.path}: ${reason}`, {
      ref: this.path,
      cause: err,
    });
  }
}

/**
 * Chunks from this size up are written as they come (gzip's 256 KiB level-0 chunks, zlib's 64 KiB ones); smaller
 * ones (tar headers, padding, manifests) are gathered into one buffer first.
 */
const DIRECT_WRITE = 64 * 1024;

/** A file behind a WritableStream: coalesces small writes, hashes and counts every byte, fsyncs on close. */
class FileSink {
  readonly hash = createHash("sha256");
  size = 0;
  #buffer = uninitializedBytes(256 * 1024);
  #used = 0;
  #closed = false;
  /** `pool` takes back each chunk once written (see {@link BufferPool.give}). */
  constructor(readonly fh: FileHandle, readonly pool?: BufferPool) {}

  stream(): WritableStream<Uint8Array> {
    return new WritableStream<Uint8Array>({
      write: async (chunk) => {
        this.hash.update(chunk);
        this.size += chunk.byteLength;
        // Whatever is buffered goes first: a large chunk written past the buffer must not overtake it.
        if (chunk.byteLength >= DIRECT_WRITE) {
          await this.#flush();
          await this.#writeAll(chunk);
          this.pool?.give(chunk);
          return;
        }
        if (this.#used + chunk.byteLength > this.#buffer.byteLength) await this.#flush();
        this.#buffer.set(chunk, this.#used);
        this.#used += chunk.byteLength;
      },
      close: async () => {
        await this.#flush();
        await this.fh.sync();
        await this.dispose();
      },
    }, { highWaterMark: 4 });
  }

  async dispose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.fh.close().catch(() => {});
  }

  async #flush(): Promise<void> {
    if (this.#used === 0) return;
    const data = this.#buffer.subarray(0, this.#used);
    await this.#writeAll(data);
    this.#used = 0;
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, offset, data.byteLength - offset);
      offset += bytesWritten;
    }
  }
}
