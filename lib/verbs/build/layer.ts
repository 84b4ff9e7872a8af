/**
 * New layers of `ferry build`: a deterministic ustar stream (entries sorted, parents first, one fixed
 * mtime, uid/gid as given, empty user and group names) gzipped to a temp file, with the tar's digest
 * (the config's diff_id) and the gzip's digest computed while it is written. File contents stream
 * from disk, so a layer never sits in memory.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { abortErrorOf, FileError, UsageError } from "../../errors.ts";
import { MediaType } from "../../oci/media_types.ts";
import { createTempWriter, readFileStream } from "../../stream/files.ts";
import { gzipStream } from "../../stream/gzip.ts";
import { tarEnd, tarEntryHeader, tarPadding } from "../../tar/write.ts";

/** One entry of a new layer. */
export interface LayerEntry {
  /** Path in the image, without a leading `/`. */
  path: string;
  type: "file" | "dir" | "symlink";
  /** Permission bits (with setuid/setgid/sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Target of a symlink. */
  linkname?: string;
  /** A file's content: a file on disk (streamed) … */
  source?: string;
  /** … or small bytes in memory. */
  content?: Uint8Array;
  /** A file's size in bytes (checked against what `source` yields). */
  size: number;
}

/** Options of {@link writeLayer}. */
export interface WriteLayerOptions {
  /** mtime of every entry, seconds since the epoch (SOURCE_DATE_EPOCH); default 0. */
  mtime?: number;
  /** gzip level; default 6, like Docker's. */
  gzipLevel?: number;
  signal?: AbortSignal;
}

/** A layer written to disk. */
export interface WrittenLayer {
  /** The `.tar.gz` file. */
  path: string;
  mediaType: string;
  /** sha256 of the gzip (the manifest's layer digest). */
  digest: string;
  /** sha256 of the tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** Bytes of the gzip. */
  size: number;
}

let sequence = 0;

/**
 * Writes `entries` as a gzipped tar layer into `dir`. Only the entries given are written (no implicit
 * parent directories); a later entry for the same path replaces an earlier one. The same entries, contents and
 * options always give the same digests.
 *
 * @example
 * ```ts
 * const layer = await writeLayer([
 *   { path: "app", type: "file", mode: 0o755, uid: 0, gid: 0, source: "bin/app-amd64", size: 1234 },
 * ], tempDir, { mtime: 0 });
 * layer.digest; // "sha256:…"
 * ```
 */
export async function writeLayer(
  entries: LayerEntry[],
  dir: string,
  options: WriteLayerOptions = {},
): Promise<WrittenLayer> {
  const sorted = normalise(entries);
  const mtime = options.mtime ?? 0;
  const path = join(dir, `layer-${++sequence}.tar.gz`);
  const writer = await createTempWriter(path);
  const tarHash = createHash("sha256");
  const gzHash = createHash("sha256");
  let size = 0;
  let first = true;
  try {
    await tarStream(sorted, mtime, options.signal)
      .pipeThrough(tap((chunk) => tarHash.update(chunk)))
      .pipeThrough(gzipStream(options.gzipLevel ?? 6))
      .pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            if (first && chunk.byteLength > 9) {
              // zlib writes mtime 0 and no name; its OS byte depends on the build: pin it to 255 ("unknown").
              chunk = chunk.slice();
              chunk[9] = 255;
              first = false;
            }
            gzHash.update(chunk);
            size += chunk.byteLength;
            controller.enqueue(chunk);
          },
        }),
      )
      .pipeTo(writer.writable);
    await writer.commit();
  } catch (err) {
    await writer.discard();
    throw err;
  }
  return {
    path,
    mediaType: MediaType.OciLayerGzip,
    digest: `sha256:${gzHash.digest("hex")}`,
    diffId: `sha256:${tarHash.digest("hex")}`,
    size,
  };
}

function tap(fn: (chunk: Uint8Array) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      fn(chunk);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Entries deduplicated (last wins) and sorted so that a directory precedes its children. Parent
 * directories are NOT invented: an entry for `/tmp` would replace the base's metadata (mode 1777) when
 * the layer is applied; extractors (moby, containerd) create missing parents themselves.
 */
function normalise(entries: LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, "").replace(/\/+$/, "");
    if (path === "" || path.split("/").some((p) => p === "" || p === "." || p === "..")) {
      throw new UsageError(`Cannot build layer: invalid path "${e.path}"`);
    }
    byPath.set(path, { ...e, path });
  }
  for (const path of byPath.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = byPath.get(parts.slice(0, i).join("/"));
      if (parent && parent.type !== "dir") {
        throw new UsageError(`Cannot build layer: "${parent.path}" is not a directory`);
      }
    }
  }
  // Sorting by segments keeps every directory directly before its own contents.
  return [...byPath.values()].sort((a, b) => compareSegments(a.path, b.path));
}

function compareSegments(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

/** The tar bytes of `entries`, file contents streamed from disk. */
function tarStream(entries: LayerEntry[], mtime: number, signal?: AbortSignal): ReadableStream<Uint8Array> {
  const iterator = chunks(entries, mtime, signal);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await iterator.return(undefined);
    },
  }, { highWaterMark: 0 });
}

async function* chunks(entries: LayerEntry[], mtime: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  for (const e of entries) {
    if (signal?.aborted) throw abortErrorOf(signal);
    const size = e.type === "file" ? (e.content?.byteLength ?? e.size) : 0;
    yield tarEntryHeader({
      path: e.path,
      type: e.type,
      mode: e.mode,
      size,
      linkname: e.linkname,
      uid: e.uid,
      gid: e.gid,
      mtime,
    });
    if (size === 0) continue;
    if (e.content) yield e.content;
    else if (e.source) {
      let seen = 0;
      const reader = readFileStream(e.source).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          seen += value.byteLength;
          if (seen > size) break;
          yield value;
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
      // A file that changed size during the build would corrupt the tar: refuse it.
      if (seen !== size) {
        throw new FileError(`Cannot add ${e.source} to a layer: it changed while being read`, { ref: e.source });
      }
    } else throw new UsageError(`Cannot build layer: file "${e.path}" has no content`);
    const pad = tarPadding(size);
    if (pad.byteLength > 0) yield pad;
  }
  yield tarEnd();
}
