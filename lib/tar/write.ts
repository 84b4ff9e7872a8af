/**
 * The tar writer: entry headers ({@link encodeHeader} in header.ts: any name length, pax records when needed),
 * padding, the end marker, and {@link writeTarEntry}, which streams one regular file's content into a tar.
 * Export archives, the Docker engine's load stream, `ferry build`'s layers and the test fixtures all write
 * through it.
 *
 * @module
 */
import { AbortError, SizeMismatchError } from "../errors.ts";
import { encodeHeader, TAR_BLOCK } from "./header.ts";

/**
 * The header of a regular file in an image archive: mode 0644, uid/gid 0, mtime 0 (deterministic output);
 * sizes of 8 GiB and more in GNU base-256; a name past ustar's fields gets a pax record.
 *
 * @example
 * ```ts
 * await out.write(tarHeader("blobs/sha256/abc…", desc.size));
 * ```
 */
export function tarHeader(path: string, size: number): Uint8Array {
  return encodeHeader({ name: path, kind: "file", size });
}

/** One entry of a filesystem layer for {@link tarEntryHeader}. */
export interface TarEntryFields {
  /** Path inside the archive, without a leading `/` and (for a directory) with or without the trailing `/`. */
  path: string;
  type: "file" | "dir" | "symlink" | "hardlink";
  /** Permission bits (with setuid/setgid/sticky). */
  mode: number;
  /** Content bytes that follow (0 for anything but a file). */
  size: number;
  /** Target of a symlink or hard link. */
  linkname?: string;
  /** Owner ids; default 0. */
  uid?: number;
  gid?: number;
  /** Modification time in seconds since the epoch; default 0. */
  mtime?: number;
}

/**
 * The header block(s) of one layer entry (file, directory, symlink, hard link): a pax record first when a
 * name, link target, owner or mtime does not fit ustar's fields, then the ustar header (empty uname/gname,
 * device numbers 0). The content and {@link tarPadding} follow; {@link tarEnd} ends the archive.
 *
 * @example
 * ```ts
 * const head = tarEntryHeader({ path: "app", type: "file", mode: 0o755, size: 3, uid: 1000, gid: 1000 });
 * ```
 */
export function tarEntryHeader(e: TarEntryFields): Uint8Array {
  return encodeHeader({
    name: e.path,
    kind: e.type,
    size: e.size,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    linkname: e.linkname,
    devmajor: 0,
    devminor: 0,
  });
}

/**
 * The zero bytes that pad an entry of `size` bytes to a whole block.
 *
 * @example
 * ```ts
 * tarPadding(700).byteLength; // 324
 * ```
 */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/**
 * The end-of-archive marker: two zero blocks.
 *
 * @example
 * ```ts
 * await out.write(tarEnd());
 * ```
 */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * TAR_BLOCK);
}

/** Options of {@link writeTarEntry}. */
export interface WriteTarEntryOptions {
  signal?: AbortSignal;
  /** Names the archive in a size error. */
  ref?: string;
  /**
   * Called with each content chunk once `write` has settled for it, by a writer that keeps no reference to what it
   * wrote (it copied or wrote it out): the chunk may then be reused (`recycle` in lib/stream/files.ts).
   */
  reuse?: (chunk: Uint8Array) => void;
}

/**
 * Writes one regular-file entry whose content streams in: the header, exactly `size` bytes of `body`, the
 * padding. More or fewer bytes is a {@link SizeMismatchError}; on any failure `body` is cancelled.
 *
 * @example
 * ```ts
 * await writeTarEntry("blobs/sha256/abc…", desc.size, body, (chunk) => out.write(chunk));
 * ```
 */
export async function writeTarEntry(
  path: string,
  size: number,
  body: ReadableStream<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  options: WriteTarEntryOptions = {},
): Promise<void> {
  await write(tarHeader(path, size));
  let seen = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      if (options.signal?.aborted) throw options.signal.reason ?? new AbortError();
      const { done, value } = await reader.read();
      if (done) break;
      seen += value.byteLength;
      if (seen > size) throw new SizeMismatchError(size, seen, { ref: options.ref });
      await write(value);
      options.reuse?.(value);
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
  if (seen !== size) throw new SizeMismatchError(size, seen, { ref: options.ref });
  await write(tarPadding(size));
}
