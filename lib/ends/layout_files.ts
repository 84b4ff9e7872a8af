/**
 * The files under an OCI layout, wherever they are: a directory (read/write: temp-then-rename), or an
 * uncompressed tar served in place (read-only; each file a byte range of the tar). {@link OciLayoutStore}
 * reads and writes its layout only through this seam, so its logic is one code path for both.
 *
 * @module
 */
import { mkdir, realpath, rename, stat, unlink } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { FileError } from "../errors.ts";
import { indexTar } from "../tar/index.ts";
import { createTempWriter, fileErrorOf, readFileStream, type TempWriter, writeFileAtomic } from "../stream/files.ts";
import { readLimited } from "../stream/read_limited.ts";

/**
 * Where a layout file's bytes are: bytes `[offset, offset + size)` of the file at `path`.
 *
 * @example
 * ```ts
 * const layout = await OciLayoutStore.open("out");
 * const range: FileRange | undefined = await layout.locate("sha256:…"); // { path, offset, size, stamp }
 * ```
 */
export interface FileRange {
  /** The file holding the bytes (the layout's own file, or the tar it is read from). */
  path: string;
  /** Where the bytes start in `path`. */
  offset: number;
  /** How many bytes. */
  size: number;
  /** Changes when the file does (a directory's file: inode, size, mtime); constant inside a tar. */
  stamp: string;
}

/** The read side: names are layout paths such as `index.json` or `blobs/sha256/<hex>`. */
export interface LayoutFiles {
  /** The directory or tar file, for messages. */
  readonly path: string;
  /** Where `name` is; undefined when there is no such regular file. */
  locate(name: string): Promise<FileRange | undefined>;
  /** Present for a directory: the layout can be written. */
  readonly writer?: LayoutFileWriter;
}

/** The write side of a directory layout. Every write lands under a temp name and is renamed into place. */
export interface LayoutFileWriter {
  /** The absolute-or-relative path of `name` inside the directory. */
  pathOf(name: string): string;
  /** Small content (index.json, oci-layout, a manifest), written atomically. */
  writeAtomic(name: string, bytes: Uint8Array | string): Promise<void>;
  /** A temp file beside `name`, renamed to it on commit (see {@link createTempWriter}). */
  createTemp(name: string): Promise<TempWriter>;
  /** Moves a finished file (on the same file system) to `name`. */
  moveIn(tempPath: string, name: string): Promise<void>;
  /** Removes `name`. */
  remove(name: string): Promise<void>;
}

/** Reads a small file whole (index.json, a manifest); undefined when it is absent. */
export async function readSmall(files: LayoutFiles, name: string, limit?: number): Promise<Uint8Array | undefined> {
  const range = await files.locate(name);
  return range ? await readLimited(streamRange(range), limit) : undefined;
}

/** Streams `[start, end)` of a located file (the whole file by default). */
export function streamRange(
  range: FileRange,
  start = 0,
  end = range.size,
  chunkSize?: number,
): ReadableStream<Uint8Array> {
  return readFileStream(range.path, { start: range.offset + start, end: range.offset + end, chunkSize });
}

/**
 * A layout directory's files. Every read is confined to the directory: a file whose real path (symlinks
 * resolved) leaves it, e.g. `blobs/sha256/<hex>` → `/etc/shadow`, is refused with a FileError.
 *
 * @example
 * ```ts
 * const files = dirFiles("out");
 * const index = await readSmall(files, "index.json");
 * ```
 */
export function dirFiles(dir: string): LayoutFiles {
  let root: Promise<string> | undefined;
  const realRoot = () => (root ??= realpath(dir).catch((err) => {
    root = undefined;
    throw fileErrorOf(err, "open", dir);
  }));
  const pathOf = (name: string) => join(dir, name);
  return {
    path: dir,
    async locate(name) {
      const path = pathOf(name);
      let real: string;
      try {
        real = await realpath(path);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "ENOENT" || code === "ENOTDIR") return undefined;
        throw fileErrorOf(err, "read", path);
      }
      const base = await realRoot();
      if (!real.startsWith(base.endsWith(sep) ? base : base + sep)) {
        throw new FileError(`Cannot read ${path}: it is a symlink to outside the layout ${dir}`, { ref: path });
      }
      const s = await stat(real).catch((err) => {
        throw fileErrorOf(err, "read", path);
      });
      if (!s.isFile()) return undefined;
      return { path: real, offset: 0, size: s.size, stamp: `${s.ino}:${s.size}:${s.mtimeMs}` };
    },
    writer: {
      pathOf,
      async writeAtomic(name, bytes) {
        await ensureParent(pathOf(name));
        await writeFileAtomic(pathOf(name), bytes);
      },
      async createTemp(name) {
        await ensureParent(pathOf(name));
        return await createTempWriter(pathOf(name));
      },
      async moveIn(tempPath, name) {
        const path = pathOf(name);
        await ensureParent(path);
        await rename(tempPath, path).catch((err) => {
          throw fileErrorOf(err, "write", path);
        });
      },
      async remove(name) {
        await unlink(pathOf(name)).catch((err) => {
          throw fileErrorOf(err, "delete", pathOf(name));
        });
      },
    },
  };
}

/**
 * An uncompressed tar's files, each a byte range of the tar (read-only). `name` is what messages call it
 * (the original `.tar.gz` of a spooled tar).
 *
 * @example
 * ```ts
 * const files = await tarFiles("app.oci.tar");
 * const range = await files.locate("index.json"); // { path: "app.oci.tar", offset: 1536, size: 402, … }
 * ```
 */
export async function tarFiles(tar: string, name = tar): Promise<LayoutFiles> {
  // The one place a tar is indexed for a layout: an opaque map of byte ranges by file name.
  const ranges: Map<string, { offset: number; size: number }> = await indexTar(tar, { policy: "archive", ref: name });
  return {
    path: name,
    locate(file) {
      const range = ranges.get(file);
      return Promise.resolve(range && { path: tar, offset: range.offset, size: range.size, stamp: "tar" });
    },
  };
}

async function ensureParent(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch((err) => {
    throw fileErrorOf(err, "write", path);
  });
}
