/**
 * Where each file of an uncompressed tar is: read header by header (skipping the data), so an OCI archive
 * can be served in place, each blob a byte range of the tar.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { FormatError } from "../errors.ts";
import { fileErrorOf } from "../stream/files.ts";

/** A regular file inside a tar: its data is bytes `[offset, offset + size)` of the tar file. */
export interface TarEntry {
  offset: number;
  size: number;
}

const BLOCK = 512;

/**
 * The regular files of the tar at `path`, by name (a leading `./` removed). Understands ustar names with a
 * prefix, GNU long names (`L`), pax `path`/`size` records (`x`) and GNU base-256 sizes.
 *
 * @example
 * ```ts
 * const entries = await indexTar("image.oci.tar");
 * entries.get("index.json"); // { offset: 1536, size: 402 }
 * ```
 */
export async function indexTar(path: string): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw fileErrorOf(err, "open", path);
  }
  try {
    const total = (await fh.stat()).size;
    const header = new Uint8Array(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    let pax: Record<string, string> = {};
    while (offset + BLOCK <= total) {
      const { bytesRead } = await fh.read(header, 0, BLOCK, offset);
      if (bytesRead < BLOCK) break;
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      if (!checksumOk(header)) {
        throw new FormatError(`Cannot read ${path}: bad tar header at byte ${offset}`, { ref: path });
      }
      const type = String.fromCharCode(header[156] || 0x30);
      let size = pax.size !== undefined ? Number(pax.size) : sizeOf(header);
      const data = offset + BLOCK;
      if (type === "L" || type === "x") {
        const body = new Uint8Array(size);
        await fh.read(body, 0, size, data);
        if (type === "L") longName = text(body);
        else pax = { ...pax, ...parsePax(body) };
        size = sizeOf(header); // the extension's own size, not the next file's
      } else {
        if (type === "0" || type === "7") {
          const name = (pax.path ?? longName ?? ustarName(header)).replace(/^\.\//, "");
          if (data + size > total) throw new FormatError(`Cannot read ${path}: "${name}" is truncated`, { ref: path });
          entries.set(name, { offset: data, size });
        }
        longName = undefined;
        pax = {};
      }
      offset = data + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await fh.close().catch(() => {});
  }
  return entries;
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function ustarName(h: Uint8Array): string {
  const name = text(h.subarray(0, 100));
  const magic = text(h.subarray(257, 263));
  const prefix = magic.startsWith("ustar") ? text(h.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function sizeOf(h: Uint8Array): number {
  if (h[124] & 0x80) {
    let v = 0;
    for (let i = 125; i < 136; i++) v = v * 256 + h[i];
    return v;
  }
  return parseInt(text(h.subarray(124, 136)).trim() || "0", 8);
}

function checksumOk(h: Uint8Array): boolean {
  const stored = parseInt(text(h.subarray(148, 156)).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === stored;
}

/** pax records: `<len> <key>=<value>\n`. */
function parsePax(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const s = new TextDecoder().decode(body);
  let i = 0;
  while (i < s.length) {
    const space = s.indexOf(" ", i);
    if (space < 0) break;
    const len = Number(s.slice(i, space));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = s.slice(space + 1, i + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}
