/**
 * The ustar header and padding of a regular-file tar entry, for the tar streams ferry writes (export
 * archives, the Docker engine's image load). Layers with modes, owners and links use lib/testing/tar_layer.ts.
 *
 * @module
 */
import { AbortError, SizeMismatchError, UnsupportedError } from "../errors.ts";

/** The tar block size. */
export const TAR_BLOCK = 512;

/**
 * A POSIX ustar header for a regular file: mode 0644, uid/gid 0, mtime 0 (deterministic output); sizes of
 * 8 GiB and more in GNU base-256.
 *
 * @example
 * ```ts
 * await out.write(tarHeader("blobs/sha256/abc…", desc.size));
 * ```
 */
export function tarHeader(path: string, size: number): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  const enc = new TextEncoder();
  let name = path;
  let prefix = "";
  if (enc.encode(name).byteLength > 100) {
    const slash = path.lastIndexOf("/");
    [prefix, name] = [path.slice(0, slash), path.slice(slash + 1)];
    if (enc.encode(name).byteLength > 100 || enc.encode(prefix).byteLength > 155) {
      throw new UnsupportedError(`Cannot write tar entry "${path}": name too long`);
    }
  }
  const text = (value: string, offset: number) => h.set(enc.encode(value), offset);
  const octal = (value: number, offset: number, width: number) =>
    text(value.toString(8).padStart(width - 1, "0") + "\0", offset);
  text(name, 0);
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  if (size < 0o77777777777) octal(size, 124, 12);
  else {
    // GNU base-256: high bit set, big-endian binary in the remaining 11 bytes (files of 8 GiB and more).
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--, v >>= 8n) h[i] = Number(v & 0xffn);
  }
  octal(0, 136, 12);
  text("0", 156);
  text("ustar\u000000", 257);
  text(prefix, 345);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  text(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

/** The zero bytes that pad an entry of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/** Options of {@link writeTarEntry}. */
export interface WriteTarEntryOptions {
  signal?: AbortSignal;
  /** Names the archive in a size error. */
  ref?: string;
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
