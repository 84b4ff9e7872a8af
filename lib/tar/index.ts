/**
 * The indexed tar reader: where each file of an uncompressed tar is, read header by header with positioned
 * reads (the data is never read), so an OCI archive can be served in place, each blob a byte range of the
 * tar. The same {@link TarPolicy} as the streaming reader: an archive `ferry copy` refuses, `ferry serve`
 * refuses with the same message.
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import { fileErrorOf } from "../stream/files.ts";
import { decodeHeader, isExtension, isZeroBlock, TAR_BLOCK, TarExtensions } from "./header.ts";
import { TarGate, type TarPolicy } from "./policy.ts";

/** A regular file inside a tar: its data is bytes `[offset, offset + size)` of the tar file. */
export interface TarRange {
  offset: number;
  size: number;
}

/** Options of {@link indexTar}. */
export interface IndexTarOptions {
  /** Only image archives are indexed. */
  policy?: Extract<TarPolicy, "archive">;
  /** Names the archive in errors (default the path; a spooled gunzip names its original). */
  ref?: string;
  /** Most entries (default 100 000). */
  maxEntries?: number;
}

/**
 * The regular files of the tar at `path`, by normalised name, with symlinks and hard links (docker save links
 * repeated layers) resolved to their target's range. Refuses what the `"archive"` policy refuses (absolute
 * or `..` names, duplicates, links leaving the archive or dangling, devices and fifos) and a corrupt or
 * truncated tar, with a {@link FormatError} `Cannot read archive <ref>: …`.
 *
 * @example
 * ```ts
 * const entries = await indexTar("image.oci.tar", { policy: "archive" });
 * entries.get("index.json"); // { offset: 1536, size: 402 }
 * ```
 */
export async function indexTar(path: string, options: IndexTarOptions = {}): Promise<Map<string, TarRange>> {
  const ref = options.ref ?? path;
  const gate = new TarGate(options.policy ?? "archive", ref, { maxEntries: options.maxEntries });
  const bad = gate.bad;
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw fileErrorOf(err, "open", path);
  }
  const entries = new Map<string, TarRange>();
  try {
    const total = (await fh.stat()).size;
    const read = async (at: number, n: number): Promise<Uint8Array> => {
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, at + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < n) throw bad(`truncated at byte ${at + got}`);
      return buf;
    };
    const extensions = new TarExtensions();
    let offset = 0;
    while (offset < total) {
      if (offset + TAR_BLOCK > total) throw bad(`truncated at byte ${total}`);
      const block = await read(offset, TAR_BLOCK);
      if (isZeroBlock(block)) break; // end-of-archive marker
      const raw = decodeHeader(block, offset, bad);
      const data = offset + TAR_BLOCK;
      const padded = Math.ceil(raw.size / TAR_BLOCK) * TAR_BLOCK;
      if (isExtension(raw.typeflag)) {
        gate.extension(raw);
        if (data + padded > total) throw bad(`truncated at byte ${total}`);
        extensions.add(raw.typeflag, await read(data, raw.size), bad);
        offset = data + padded;
        continue;
      }
      const applied = extensions.apply(raw, bad);
      const header = gate.admit(applied);
      const name = header?.name ?? applied.name;
      const size = applied.size;
      if (data + size > total) throw bad(`entry "${name}" is truncated (${total - data} of ${size} bytes)`);
      const next = data + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
      if (next > total) throw bad(`truncated at byte ${total}`);
      if (header?.kind === "file") entries.set(name, { offset: data, size });
      offset = next;
    }
  } catch (err) {
    await fh.close().catch(() => {});
    throw fileErrorOf(err, "read", path);
  }
  await fh.close().catch(() => {});
  for (const [alias, target] of gate.links()) entries.set(alias, entries.get(target)!);
  return entries;
}
