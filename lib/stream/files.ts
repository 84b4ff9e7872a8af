/**
 * Files as Web Streams: streaming reads, temp-file writers that commit by rename, and small atomic writes.
 * Built on `node:fs/promises` FileHandle, which Bun and Deno both support.
 *
 * Measured on a 256 MiB file (see the oci helper's report): a plain ReadableStream that `FileHandle.read`s
 * into a fresh buffer of up to 1 MiB per pull was the fastest reader under both runtimes (~150 ms Bun,
 * ~80 ms Deno), ahead of `Readable.toWeb(createReadStream())` (~220 ms) and far ahead of
 * `FileHandle.readableWebStream()` (1.6–2.6 s). Consumers may keep chunks, so a chunk is never reused behind
 * their back: the reads take their buffers from {@link readBuffers}, and only a consumer that has written a chunk
 * out and holds it no more gives it back ({@link recycle}; the temp-file writer and the export file writer do).
 * Writing with `FileHandle.write` per chunk was on par with
 * `Writable.toWeb(createWriteStream())` and keeps the handle for the final fsync.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, lstat, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { FerryError, FileError, NotFoundError } from "../errors.ts";
import { BufferPool, uninitializedBytes } from "./bytes.ts";
import { noteStreamedBytes } from "./reclaim.ts";

/** Largest chunk a file stream yields. */
// 256 KiB reads: as fast as 1 MiB ones here, and with several files streaming at once (an export of six
// platforms) peak RSS fell from ~215 to ~160 MiB, since every chunk is a fresh buffer its consumer may keep.
const CHUNK_SIZE = 256 * 1024;

/**
 * The buffers file reads of {@link CHUNK_SIZE} take (readFileStream, the spool followers of lib/stream/growing.ts).
 * A copy from one file to another reuses the same few (export of 6 platforms: ~30 full collections fewer, and no
 * page faults for fresh memory); 16 idle ones at most (4 MiB).
 */
export const readBuffers: BufferPool = new BufferPool(CHUNK_SIZE, 16);

/**
 * Gives `chunk` back to {@link readBuffers} if it is a file read's chunk (anything else is ignored). Only the last
 * holder calls it: a writer that has written the chunk out and keeps no reference to it.
 *
 * @example
 * ```ts
 * await handle.write(chunk);
 * recycle(chunk);
 * ```
 */
export function recycle(chunk: Uint8Array): void {
  readBuffers.give(chunk);
}

/** Options of {@link readFileStream}. */
export interface ReadFileStreamOptions {
  /** First byte to read (default 0). */
  start?: number;
  /** Byte offset to stop before (exclusive, like `Blob.slice`); default: end of file. */
  end?: number;
  /** Bytes per read (default 256 KiB); a reader that scans one big file alone can take more. */
  chunkSize?: number;
}

/**
 * A stream of a file's bytes (or of `[start, end)`), read in chunks of up to 256 KiB. The file is opened
 * on the first read and closed at the end, on error or on cancel; a missing file errors the stream with a {@link NotFoundError}, other failures with a
 * {@link FileError}. Cancelling the stream closes the file.
 *
 * @example
 * ```ts
 * const stream = readFileStream("blobs/sha256/abc…", { start: 0, end: 1024 });
 * await stream.pipeTo(destination);
 * ```
 */
export function readFileStream(path: string, options: ReadFileStreamOptions = {}): ReadableStream<Uint8Array> {
  const box: HandleBox = {};
  const chunkSize = options.chunkSize ?? CHUNK_SIZE;
  let position = options.start ?? 0;
  let end = options.end ?? Infinity;
  const closeHandle = () => closeBox(box);
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!box.handle) {
          // Opened on the first read (highWaterMark 0), so a stream nobody reads holds no file handle.
          box.handle = await open(path, "r");
          end = Math.min(end, (await box.handle.stat()).size);
        }
        const wanted = Math.min(chunkSize, end - position);
        if (wanted <= 0) {
          await closeHandle();
          controller.close();
          return;
        }
        // Filled by the read; a short read is cut to what was read.
        const pooled = chunkSize === CHUNK_SIZE;
        const buffer = pooled ? readBuffers.take() : uninitializedBytes(wanted);
        const { bytesRead } = await box.handle!.read(buffer, 0, wanted, position);
        if (bytesRead === 0) {
          // The file shrank under us: end here; verifyStream reports the short read.
          readBuffers.give(buffer);
          await closeHandle();
          controller.close();
          return;
        }
        position += bytesRead;
        if (!pooled) noteStreamedBytes(bytesRead); // a pooled buffer counted when it was made
        controller.enqueue(pooled ? readBuffers.lend(buffer, bytesRead) : buffer.subarray(0, bytesRead));
      } catch (err) {
        await closeHandle();
        throw fileErrorOf(err, "read", path);
      }
    },
    cancel: closeHandle,
  }, { highWaterMark: 0 });
  abandoned.register(stream, box);
  return stream;
}

/** A file handle shared between a stream and {@link abandoned}, so either can close it. */
interface HandleBox {
  handle?: FileHandle;
}

async function closeBox(box: HandleBox): Promise<void> {
  const h = box.handle;
  box.handle = undefined;
  await h?.close().catch(() => {});
}

/**
 * Closes the file handle of a stream that was dropped unfinished (a consumer that neither read to the end nor
 * cancelled, e.g. a request body whose fetch was aborted). Without it the runtime closes the handle during
 * garbage collection, which Bun reports as an error.
 */
const abandoned = new FinalizationRegistry<HandleBox>((box) => {
  void closeBox(box);
});

/** A file being written under a temp name, see {@link createTempWriter}. */
export interface TempWriter {
  /** Where the bytes go: `.<name>.<pid>-<random>.part` beside the final path (the pid finds a dead writer's). */
  readonly tempPath: string;
  /** Write the content here (e.g. `body.pipeTo(writer.writable)`); its close() does not commit. */
  readonly writable: WritableStream<Uint8Array>;
  /** Flushes to disk (fsync) and renames the temp file to the final path. Only after `writable` closed. */
  commit(): Promise<void>;
  /** Closes and removes the temp file; safe to call more than once and after a failed write. */
  discard(): Promise<void>;
}

/**
 * Opens a temp file beside `finalPath` for streaming writes; nothing appears under `finalPath` until
 * {@link TempWriter.commit}. Rename within one directory is atomic, so readers see all or nothing.
 *
 * @example
 * ```ts
 * const writer = await createTempWriter("out/blobs/sha256/abc…");
 * try {
 *   await body.pipeTo(writer.writable);
 *   await writer.commit();
 * } catch (err) {
 *   await writer.discard();
 *   throw err;
 * }
 * ```
 */
export async function createTempWriter(finalPath: string): Promise<TempWriter> {
  const tempPath = tempPathFor(finalPath);
  const box: HandleBox = {};
  try {
    box.handle = await open(tempPath, "wx");
  } catch (err) {
    throw fileErrorOf(err, "write", finalPath);
  }
  let closed = false;
  let failed: unknown;
  const closeHandle = () => closeBox(box);
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      try {
        let offset = 0;
        while (offset < chunk.byteLength) {
          offset += (await box.handle!.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
        }
        recycle(chunk); // written: a file read's buffer goes back to be read into again
      } catch (err) {
        failed = fileErrorOf(err, "write", finalPath);
        await closeHandle();
        throw failed;
      }
    },
    close() {
      closed = true;
    },
    async abort(reason) {
      failed = reason ?? new Error("aborted");
      await closeHandle();
    },
  });
  abandoned.register(writable, box);
  return {
    tempPath,
    writable,
    async commit() {
      if (failed !== undefined) throw failed;
      if (!closed || !box.handle) {
        throw new FileError(`Cannot write ${finalPath}: the content did not end cleanly`, { ref: finalPath });
      }
      try {
        await box.handle.sync();
        await closeHandle();
        await replaceFile(tempPath, finalPath);
      } catch (err) {
        await closeHandle();
        await unlink(tempPath).catch(() => {});
        throw fileErrorOf(err, "write", finalPath);
      }
    },
    async discard() {
      await closeHandle();
      await unlink(tempPath).catch(() => {});
    },
  };
}

/**
 * Writes small content (index.json, oci-layout) atomically: temp file, fsync, rename.
 *
 * @example
 * ```ts
 * await writeFileAtomic("out/index.json", new TextEncoder().encode(JSON.stringify(index)));
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const writer = await createTempWriter(path);
  try {
    const w = writer.writable.getWriter();
    await w.write(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes);
    await w.close();
    await writer.commit();
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/** Options of {@link replaceFile}. */
export interface ReplaceFileOptions {
  /** Behave as on this platform (default `process.platform`); the Windows handling applies to `"win32"`. */
  platform?: string;
  /** The rename to use (default `node:fs/promises` rename). */
  rename?: (from: string, to: string) => Promise<void>;
  /** Waits between Windows retries, in ms (default 10, 20, 50, 100, 200, 400, 800: about 1.6 s in all). */
  retryDelaysMs?: number[];
}

/** Codes with which a Windows rename fails while another process holds the file, or the target exists. */
const WINDOWS_RETRY = new Set(["EPERM", "EACCES", "EBUSY", "EEXIST"]);

/**
 * Renames `from` to `to`, replacing a file already at `to`. On POSIX that is one atomic rename. On Windows a rename
 * over an existing file fails with EPERM, EACCES or EBUSY while another process (a virus scanner, the search
 * indexer, a reader) has either file open, and with EEXIST where the runtime does not ask to replace: there it
 * retries for about 1.6 s, then, if the target still exists as a file, removes it and renames once more (readers
 * may then briefly see no file, never a partial one). Errors are the rename's own `node:fs` errors.
 *
 * @example
 * ```ts
 * await replaceFile("out/.index.json.1a2b3c4d5e6f.part", "out/index.json");
 * ```
 */
export async function replaceFile(from: string, to: string, options: ReplaceFileOptions = {}): Promise<void> {
  const move = options.rename ?? rename;
  if ((options.platform ?? process.platform) !== "win32") return await move(from, to);
  const delays = options.retryDelaysMs ?? [10, 20, 50, 100, 200, 400, 800];
  for (let attempt = 0;; attempt++) {
    try {
      return await move(from, to);
    } catch (err) {
      const code = (err as { code?: unknown } | undefined)?.code;
      if (typeof code !== "string" || !WINDOWS_RETRY.has(code)) throw err;
      if (attempt < delays.length) {
        await new Promise((resolve) => setTimeout(resolve, delays[attempt]));
        continue;
      }
      const target = await lstat(to).catch(() => undefined);
      if (!target?.isFile()) throw err;
      await unlink(to).catch(() => {
        throw err;
      });
      return await move(from, to);
    }
  }
}

const TEMP_NAME = /^\..+\.(?:(\d+)-)?[0-9a-f]{12}\.part$/;

/**
 * Whether `name` is a temp file of {@link createTempWriter}: `.<name>.<pid>-<random>.part` (or, written by older
 * ferry builds, `.<name>.<random>.part`).
 */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** The pid of the process writing temp file `name` (see {@link isTempName}); undefined for an old-style name. */
export function tempFileOwner(name: string): number | undefined {
  const pid = TEMP_NAME.exec(name)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

function tempPathFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}-${randomBytes(6).toString("hex")}.part`);
}

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  EISDIR: "is a directory",
  ENOTDIR: "not a directory",
  EDQUOT: "disk quota exceeded",
  EEXIST: "file exists",
  EMFILE: "too many open files",
};

/**
 * Maps a `node:fs` error to ferry's classes: ENOENT → {@link NotFoundError}, anything else →
 * {@link FileError}, with a message `Cannot <verb> <path>: <reason>` and the path as ref.
 * FerryErrors (e.g. an integrity error that ended a write) pass through unchanged.
 */
export function fileErrorOf(err: unknown, verb: string, path: string): FerryError | Error {
  if (err instanceof FerryError) return err;
  const raw = (err as { code?: unknown } | undefined)?.code;
  const code = typeof raw === "string" ? raw : undefined; // DOMException has a numeric code
  const reason = (code && REASONS[code]) ?? (err instanceof Error ? err.message : String(err));
  const message = `Cannot ${verb} ${path}: ${reason}`;
  if (code === "ENOENT") return new NotFoundError(message, { ref: path, cause: err });
  if (code || !(err instanceof Error)) return new FileError(message, { ref: path, cause: err });
  return err; // not a file-system error (e.g. an AbortError): keep it
}
