/**
 * One sequential pass over a tar or tar.gz file: every regular entry hashed (sha256), hostile entries
 * refused, and for a gzipped file every entry spooled to its own temp file (a `.tar.gz` has no random
 * access). A plain `.tar` is not copied: its entries are read in place by byte range.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { FerryError } from "../errors.ts";
import { fileErrorOf, readFileStream } from "../stream/files.ts";
import { gunzipStream, isGzip } from "../stream/gzip.ts";
import { tarError } from "../tar/policy.ts";
import { readTar } from "../tar/read.ts";

/** One regular file of an archive, readable by byte range from `file`. */
export interface ArchiveEntry {
  /** Normalised path inside the archive (`blobs/sha256/…`, `manifest.json`). */
  name: string;
  size: number;
  /** `sha256:<hex>` of the content. */
  sha256: string;
  /** The first bytes of the content (compression sniffing). */
  magic: Uint8Array;
  /** Where the bytes are: the archive itself (plain tar) or a spool file. */
  file: string;
  start: number;
}

/** Options of {@link scanArchive}. */
export interface ScanOptions {
  /** Directory for spool files; needed for a gzipped archive. */
  spoolDir?: () => Promise<string>;
  /** Most entries accepted (default 100 000). */
  maxEntries?: number;
  /**
   * Blobs already scanned from earlier archives of one import, by digest. An entry `blobs/sha256/<hex>` naming
   * one is still hashed, but read from the earlier copy instead of being spooled again (a base layer shared by
   * six export files is written once). A mismatch keeps its own hash, so the blob is refused as usual.
   */
  known?: ReadonlyMap<string, ArchiveEntry>;
  signal?: AbortSignal;
}

/**
 * Scans the archive at `path` (gzip detected by its magic bytes) and returns its entries by name.
 * Throws a {@link FormatError} (message `Cannot read archive <path>: …`) for absolute or `..` names,
 * duplicate names, links that leave the archive or dangle, devices and fifos, and a malformed tar.
 * Relative symlinks and hard links to a regular entry inside the archive (docker save writes those for
 * repeated layers) become aliases of that entry.
 *
 * @example
 * ```ts
 * const entries = await scanArchive("image-amd64.tar.gz", { spoolDir: () => mkdtemp("/tmp/ferry-") });
 * entries.get("manifest.json")?.size;
 * ```
 */
export async function scanArchive(path: string, options: ScanOptions = {}): Promise<Map<string, ArchiveEntry>> {
  const bad = (reason: string) => tarError("archive", path, reason);
  const head = await readHead(path);
  const gzipped = isGzip(head);
  const dir = gzipped ? await options.spoolDir?.() : undefined;
  if (gzipped && !dir) throw bad("a gzipped archive needs a spool directory");
  // One archive is scanned at a time: 1 MiB reads (2.5 s for six export files against 3.0 s at 256 KiB).
  let source = readFileStream(path, { chunkSize: 1024 * 1024 });
  if (gzipped) source = source.pipeThrough(gunzipStream());
  const entries = new Map<string, ArchiveEntry>();
  let count = 0;
  let links: Map<string, string>;
  try {
    ({ links } = await readTar(source, {
      policy: "archive",
      ref: path,
      maxEntries: options.maxEntries,
      signal: options.signal,
    }, async ({ header, offset, body }) => {
      count++;
      if (header.kind !== "file") return; // links: resolved below
      const { name, size } = header;
      const earlier = dir ? options.known?.get(blobDigest(name) ?? "") : undefined;
      if (earlier && earlier.size === size) {
        const entry = await readEntry(body, name, size, undefined);
        entries.set(name, { ...entry, file: earlier.file, start: earlier.start });
      } else {
        const spoolPath = dir ? join(dir, String(count)) : undefined;
        const entry = await readEntry(body, name, size, spoolPath);
        entries.set(name, { ...entry, file: spoolPath ?? path, start: spoolPath ? 0 : offset });
      }
    }));
  } catch (err) {
    if (err instanceof FerryError) throw err;
    const code = String((err as { code?: unknown })?.code ?? "");
    if (gzipped && (code === "" || code.startsWith("Z_") || code.startsWith("ERR_"))) {
      throw bad(`not a valid gzip stream (${(err as Error)?.message ?? err})`);
    }
    throw fileErrorOf(err, "read", path);
  }
  for (const [alias, target] of links) entries.set(alias, { ...entries.get(target)!, name: alias });
  return entries;
}

/** `blobs/sha256/<hex>` → `sha256:<hex>`, or undefined for other names. */
export function blobDigest(name: string): string | undefined {
  const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

async function readHead(path: string): Promise<Uint8Array> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, "r");
    const buf = new Uint8Array(2);
    await fh.read(buf, 0, 2, 0);
    return buf;
  } catch (err) {
    throw fileErrorOf(err, "read", path);
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** Hashes an entry's bytes, writing them to `spoolPath` when given. */
async function readEntry(
  body: AsyncIterable<Uint8Array>,
  name: string,
  size: number,
  spoolPath: string | undefined,
): Promise<Omit<ArchiveEntry, "file" | "start">> {
  const hash = createHash("sha256");
  const magic = new Uint8Array(Math.min(8, size));
  let got = 0;
  const fh = spoolPath ? await open(spoolPath, "wx") : undefined;
  try {
    for await (const chunk of body) {
      if (got < magic.length) magic.set(chunk.subarray(0, magic.length - got), got);
      got += chunk.byteLength;
      hash.update(chunk);
      if (fh) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          offset += (await fh.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
        }
      }
    }
  } finally {
    await fh?.close();
  }
  return { name, size, sha256: `sha256:${hash.digest("hex")}`, magic };
}

/** A stream of an entry's bytes. */
export function entryStream(entry: ArchiveEntry): ReadableStream<Uint8Array> {
  return readFileStream(entry.file, { start: entry.start, end: entry.start + entry.size });
}
