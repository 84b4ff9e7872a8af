/**
 * Resumable blob files: the state a crashed (`kill -9`, power cut) or failed run leaves so that a rerun continues
 * a blob where it stopped. In a state directory (`DIR/.ferry-resume/` beside the output) each blob being written
 * is `<alg>-<hex>.partial` (its first bytes), `<alg>-<hex>.journal` (how many of them are on disk for sure: the
 * count is written after an fsync, every {@link JOURNAL_EVERY} bytes) and `<alg>-<hex>.lock` (the writer's pid,
 * so two processes never append to one partial). The journal cannot hold the hash midstate (neither WebCrypto
 * nor `node:crypto` serializes it): a resumed blob is re-hashed from its partial bytes, read back from disk, and
 * then from the rest fetched with `Range`, so its digest check stays whole.
 *
 * These names are not `.part` temp files: {@link sweepTempFiles} leaves them alone. A state directory is removed
 * when its run succeeds; state nobody touched for {@link STALE_STATE_MS} is swept when the directory is opened.
 *
 * @module
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileErrorOf, readFileStream } from "./files.ts";
import { isAlive } from "./temp.ts";

/** The state directory's name, beside (or inside) the output. */
export const RESUME_DIR = ".ferry-resume";

/**
 * The journal records the bytes on disk (after an fsync) once this many more were written and
 * {@link JOURNAL_INTERVAL_MS} went by, or {@link JOURNAL_MOST} more were written: a kill loses at most 50 ms of a
 * slow transfer, 16 MiB of a fast one. Every 1 MiB whatever the speed cost a 64 MiB blob 64 fsyncs
 * on the way (export of the 100 MiB sample image, 6 files: 1.23 → 1.20 s).
 */
export const JOURNAL_EVERY = 1024 * 1024;

/** See {@link JOURNAL_EVERY}. */
export const JOURNAL_INTERVAL_MS = 50;

/** See {@link JOURNAL_EVERY}. */
export const JOURNAL_MOST = 16 * 1024 * 1024;

/** State older than this (7 days) is removed when its directory is opened. */
export const STALE_STATE_MS = 7 * 24 * 60 * 60 * 1000;

/** A blob being written into a state directory, see {@link openPartial}. */
export interface PartialBlob {
  /** The partial file (`<alg>-<hex>.partial`), until commit() renames it. */
  readonly path: string;
  /** Bytes a previous run left, already on disk (0 for a fresh blob). */
  readonly offset: number;
  /** The first {@link offset} bytes, read back from disk (to hash them again). */
  prefix(): ReadableStream<Uint8Array>;
  /** Appends after {@link offset}; the journal follows every {@link JOURNAL_EVERY} bytes. */
  readonly writable: WritableStream<Uint8Array>;
  /** Bytes on disk so far. */
  readonly written: number;
  /** fsyncs and renames the whole blob to `finalPath`; its journal and lock go. Only after `writable` closed. */
  commit(finalPath: string): Promise<void>;
  /** Keeps the bytes written so far for a later run (journal updated), releases the lock. */
  release(): Promise<void>;
  /** Removes the partial, its journal and its lock (bytes that failed verification). */
  discard(): Promise<void>;
}

/** The file names of `digest`'s state. */
function namesOf(dir: string, digest: string) {
  const base = join(dir, digest.replace(":", "-"));
  return { partial: `${base}.partial`, journal: `${base}.journal`, lock: `${base}.lock` };
}

interface Journal {
  digest: string;
  size: number;
  bytes: number;
}

/**
 * Opens `digest`'s partial in state directory `dir` (created if missing), continuing the bytes a previous run's
 * journal vouches for. Undefined when another live process holds its lock (the caller then writes without
 * resuming). A `size` that differs from the journal's starts over.
 *
 * @example
 * ```ts
 * const partial = await openPartial("out/.ferry-resume", desc.digest, desc.size);
 * if (partial) {
 *   await rest.pipeTo(partial.writable); // the bytes from partial.offset on
 *   await partial.commit("out/blobs/sha256/" + desc.digest.slice(7));
 * }
 * ```
 */
export async function openPartial(dir: string, digest: string, size: number): Promise<PartialBlob | undefined> {
  const names = namesOf(dir, digest);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fileErrorOf(err, "create", dir);
  }
  if (!(await takeLock(names.lock))) return undefined;
  let handle: FileHandle | undefined;
  try {
    let offset = 0;
    const journal = await readFile(names.journal, "utf8").then((t) => JSON.parse(t) as Journal, () => undefined);
    if (journal && journal.digest === digest && journal.size === size && Number.isSafeInteger(journal.bytes)) {
      const onDisk = await stat(names.partial).then((s) => s.size, () => 0);
      offset = Math.max(0, Math.min(journal.bytes, onDisk, size));
    }
    handle = await open(names.partial, offset > 0 ? "r+" : "w");
    await handle.truncate(offset); // bytes past the journal's count are not vouched for
    return partialOf(names, digest, size, offset, handle);
  } catch (err) {
    await handle?.close().catch(() => {});
    await rm(names.lock, { force: true }).catch(() => {});
    throw fileErrorOf(err, "write", names.partial);
  }
}

function partialOf(
  names: ReturnType<typeof namesOf>,
  digest: string,
  size: number,
  offset: number,
  handle: FileHandle,
): PartialBlob {
  let written = offset;
  let journaled = offset;
  let journaledAt = performance.now();
  let closed = false;
  let fh: FileHandle | undefined = handle;
  const journal = async () => {
    await fh!.sync();
    await writeFile(names.journal, JSON.stringify({ digest, size, bytes: written } satisfies Journal));
    journaled = written;
    journaledAt = performance.now();
  };
  const close = async () => {
    const h = fh;
    fh = undefined;
    await h?.close().catch(() => {});
  };
  const unlock = () => rm(names.lock, { force: true }).catch(() => {});
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let done = 0;
      while (done < chunk.byteLength) {
        done += (await fh!.write(chunk, done, chunk.byteLength - done, written + done)).bytesWritten;
      }
      written += chunk.byteLength;
      const due = written - journaled >= JOURNAL_MOST ||
        (written - journaled >= JOURNAL_EVERY && performance.now() - journaledAt >= JOURNAL_INTERVAL_MS);
      if (due) await journal();
    },
    close() {
      closed = true;
    },
  });
  return {
    path: names.partial,
    offset,
    get written() {
      return written;
    },
    prefix: () => readFileStream(names.partial, { end: offset }),
    writable,
    async commit(finalPath) {
      if (!closed || !fh) throw new Error(`Cannot commit ${names.partial}: the content did not end cleanly`);
      try {
        await fh.sync();
        await close();
        await rename(names.partial, finalPath);
      } catch (err) {
        await close();
        throw fileErrorOf(err, "write", finalPath);
      }
      await rm(names.journal, { force: true }).catch(() => {});
      await unlock();
    },
    async release() {
      if (fh) await journal().catch(() => {});
      await close();
      await unlock();
    },
    async discard() {
      await close();
      await Promise.all([names.partial, names.journal].map((p) => rm(p, { force: true }).catch(() => {})));
      await unlock();
    },
  };
}

/** Creates `path` holding this pid; takes it over from a dead process. False while a live one holds it. */
async function takeLock(path: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw fileErrorOf(err, "write", path);
    }
    const owner = Number(await readFile(path, "utf8").catch(() => ""));
    if (owner !== process.pid && isAlive(owner)) return false;
    if (owner === process.pid) return false; // this process writes it already (another store of one run)
    await rm(path, { force: true }).catch(() => {});
  }
  return false;
}

/**
 * Removes state directory `dir` after a successful run: every partial no live process holds (ours were
 * committed), then the directory if it is empty. Best effort.
 *
 * @example
 * ```ts
 * await removeState("out/.ferry-resume");
 * ```
 */
export async function removeState(dir: string): Promise<void> {
  await sweepState(dir, 0);
  await rmdir(join(dir, "blobs")).catch(() => {});
  await rmdir(dir).catch(() => {});
}

/**
 * Removes the state in `dir` that no live process holds and that was not touched for `staleMs` (default
 * {@link STALE_STATE_MS}); complete blobs (`blobs/`) too. Returns the names removed.
 *
 * @example
 * ```ts
 * await sweepState("out/.ferry-resume"); // state of a run abandoned a week ago
 * ```
 */
export async function sweepState(dir: string, staleMs = STALE_STATE_MS): Promise<string[]> {
  const removed: string[] = [];
  const now = Date.now();
  const held = new Set<string>();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith(".lock")) continue;
    const owner = Number(await readFile(join(dir, name), "utf8").catch(() => ""));
    if (isAlive(owner)) held.add(name.slice(0, -".lock".length));
  }
  const old = async (path: string) => now - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0) >= staleMs;
  for (const name of names) {
    const base = name.replace(/\.(partial|journal|lock)$/, "");
    if (base === name || held.has(base) || !(await old(join(dir, name)))) continue;
    await rm(join(dir, name), { force: true }).catch(() => {});
    removed.push(name);
  }
  for (const name of await readdir(join(dir, "blobs")).catch(() => [] as string[])) {
    const path = join(dir, "blobs", name);
    if (!(await old(path))) continue;
    await rm(path, { force: true }).catch(() => {});
    removed.push(`blobs/${name}`);
  }
  return removed;
}

/**
 * Removes state directory `dir` whole (`--no-resume`: start clean).
 *
 * @example
 * ```ts
 * await clearState("out/.ferry-resume");
 * ```
 */
export async function clearState(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true }).catch((err) => {
    throw fileErrorOf(err, "remove", dir);
  });
}

/**
 * `first`'s bytes, then `second`'s, as one stream; cancelling it cancels both.
 *
 * @example
 * ```ts
 * const whole = concatStreams(readFileStream(partialPath), await src.fetchRange(desc, offset));
 * ```
 */
export function concatStreams(
  first: ReadableStream<Uint8Array>,
  second: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  let reader = first.getReader();
  let onFirst = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const chunk = await reader.read();
        if (!chunk.done) return controller.enqueue(chunk.value);
        if (!onFirst) return controller.close();
        onFirst = false;
        reader = second.getReader();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      if (onFirst) await second.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
