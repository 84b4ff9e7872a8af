/**
 * Deterministic tar layers for fixtures: the sample image, tests and benchmarks.
 * Holds the whole layer in memory, so it is for test-sized content only.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { UsageError } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";

/** One entry of a layer built by {@link buildLayer}. */
export interface LayerFile {
  /** Path inside the image; a leading `/` or `./` is dropped. */
  path: string;
  /** File content (ignored for directories and symlinks). */
  content?: Uint8Array | string;
  /** Permission bits; defaults 0o644 (file), 0o755 (dir), 0o777 (symlink). */
  mode?: number;
  type?: "file" | "dir" | "symlink";
  /** Target of a symlink. */
  linkname?: string;
}

/** Options of {@link buildLayer}. */
export interface BuildLayerOptions {
  /** zlib level 0–9; default 6. */
  gzipLevel?: number;
}

/** A built layer: the tar, its gzip, and both digests. */
export interface BuiltLayer {
  tar: Uint8Array<ArrayBuffer>;
  gz: Uint8Array<ArrayBuffer>;
  /** sha256 of the uncompressed tar (an image config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** sha256 of the gzip (the manifest's layer digest). */
  digest: string;
}

const BLOCK = 512;
const enc = new TextEncoder();

/**
 * A reproducible ustar layer: entries sorted by path, parent directories emitted, mtime 0,
 * uid/gid 0, empty uname/gname, gzip with a fixed header (mtime 0, no file name).
 *
 * @example
 * ```ts
 * const layer = buildLayer([{ path: "/etc/hello.txt", content: "hi\n" }]);
 * layer.diffId; // "sha256:…", the same on every run
 * ```
 */
export function buildLayer(files: LayerFile[], options: BuildLayerOptions = {}): BuiltLayer {
  const entries = normalise(files);
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const body = e.type === "file" ? e.content : new Uint8Array();
    blocks.push(
      tarEntryHeader({ path: e.path, type: e.type, mode: e.mode, size: body.byteLength, linkname: e.linkname }),
    );
    if (body.byteLength > 0) blocks.push(body, padding(body.byteLength));
  }
  blocks.push(new Uint8Array(BLOCK * 2)); // end-of-archive marker
  const tar = concat(blocks);
  // node:zlib writes mtime 0 and no FNAME; the OS byte is zlib's build default, so pin it to
  // 255 ("unknown", as Go's compress/gzip writes) for the same bytes on every host.
  const buf = gzipSync(tar, { level: options.gzipLevel ?? 6 });
  // A view, not a copy (copying 100 MiB costs more than gzip level 0); a Buffer's store is an ArrayBuffer.
  const gz = new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
  gz[9] = 255;
  return { tar, gz, diffId: digestOf(tar), digest: digestOf(gz) };
}

/** One entry's header fields for {@link tarEntryHeader}. */
export interface TarEntryFields {
  /** Path inside the archive, without a leading `/` and (for a directory) without the trailing `/`. */
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  /** Content bytes that follow (0 for directories and symlinks). */
  size: number;
  linkname?: string;
  /** Owner ids; default 0. */
  uid?: number;
  gid?: number;
  /** Modification time in seconds since the epoch; default 0. */
  mtime?: number;
}

/**
 * The header block(s) of one ustar entry: a PAX record first when the name or link target does not fit
 * ustar's fields, then the 512-byte header (empty uname/gname, devices 0). The content and its padding
 * to 512 bytes follow it; two zero blocks end the archive.
 *
 * @example
 * ```ts
 * const head = tarEntryHeader({ path: "app", type: "file", mode: 0o755, size: 3, uid: 1000, gid: 1000 });
 * ```
 */
export function tarEntryHeader(e: TarEntryFields): Uint8Array {
  const name = e.type === "dir" ? `${e.path}/` : e.path;
  const pax: Record<string, string> = {};
  const split = splitName(name);
  if (!split) pax.path = name;
  if (e.linkname && enc.encode(e.linkname).byteLength > 100) pax.linkpath = e.linkname;
  const blocks: Uint8Array[] = [];
  if (Object.keys(pax).length > 0) {
    const record = paxRecords(pax);
    blocks.push(header({ name: "PaxHeaders/entry", mode: 0o644, size: record.byteLength, type: "x" }));
    blocks.push(record, padding(record.byteLength));
  }
  blocks.push(header({
    name: split?.name ?? "long-name",
    prefix: split?.prefix,
    mode: e.mode,
    size: e.size,
    type: e.type === "dir" ? "5" : e.type === "symlink" ? "2" : "0",
    linkname: pax.linkpath ? "long-link" : e.linkname,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
  }));
  return concat(blocks);
}

/** Zero bytes that pad `size` bytes of content to a whole 512-byte block. */
export function tarPadding(size: number): Uint8Array {
  return padding(size);
}

interface Entry {
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  content: Uint8Array;
  linkname?: string;
}

function normalise(files: LayerFile[]): Entry[] {
  const byPath = new Map<string, Entry>();
  for (const f of files) {
    const path = f.path.replace(/^(\.?\/)+/, "").replace(/\/+$/, "");
    if (path === "" || path.split("/").some((p) => p === "" || p === "." || p === "..")) {
      throw new UsageError(`Cannot build layer: invalid path "${f.path}"`);
    }
    if (byPath.has(path) && byPath.get(path)!.type !== "dir") {
      throw new UsageError(`Cannot build layer: duplicate path "${f.path}"`);
    }
    const type = f.type ?? "file";
    if (type === "symlink" && !f.linkname) {
      throw new UsageError(`Cannot build layer: symlink "${f.path}" has no target`);
    }
    const content = typeof f.content === "string" ? enc.encode(f.content) : f.content ?? new Uint8Array();
    const mode = f.mode ?? (type === "dir" ? 0o755 : type === "symlink" ? 0o777 : 0o644);
    byPath.set(path, { path, type, mode, content, linkname: f.linkname });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const existing = byPath.get(dir);
      if (existing && existing.type !== "dir") throw new UsageError(`Cannot build layer: "${dir}" is not a directory`);
      if (!existing) byPath.set(dir, { path: dir, type: "dir", mode: 0o755, content: new Uint8Array() });
    }
  }
  // Plain code-unit order: a parent is a prefix of its children, so it always comes first.
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Splits a name into ustar's prefix (≤155 bytes) and name (≤100 bytes), or null if it cannot fit. */
function splitName(name: string): { name: string; prefix?: string } | null {
  if (enc.encode(name).byteLength <= 100) return { name };
  for (let i = name.indexOf("/"); i >= 0 && i < name.length - 1; i = name.indexOf("/", i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (enc.encode(prefix).byteLength <= 155 && enc.encode(rest).byteLength <= 100) return { name: rest, prefix };
  }
  return null;
}

/** PAX extended header records: `"<len> key=value\n"`, where len counts the whole record. */
function paxRecords(fields: Record<string, string>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(fields)) {
    const body = ` ${key}=${value}\n`;
    const bodyLength = enc.encode(body).byteLength;
    const digits = String(bodyLength).length;
    // Adding the length's own digits can carry it into one more digit (e.g. 98 + 2 = 100).
    const length = String(bodyLength + digits).length > digits ? bodyLength + digits + 1 : bodyLength + digits;
    text += `${length}${body}`;
  }
  return enc.encode(text);
}

interface HeaderFields {
  name: string;
  prefix?: string;
  mode: number;
  size: number;
  type: string;
  linkname?: string;
  uid?: number;
  gid?: number;
  mtime?: number;
}

function header(h: HeaderFields): Uint8Array {
  if (h.size > 0o77777777777) throw new UsageError(`Cannot build layer: entry "${h.name}" is larger than 8 GiB`);
  const b = new Uint8Array(BLOCK);
  writeString(b, 0, 100, h.name);
  writeOctal(b, 100, 8, h.mode);
  writeOctal(b, 108, 8, h.uid ?? 0);
  writeOctal(b, 116, 8, h.gid ?? 0);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, h.mtime ?? 0);
  b.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  b[156] = h.type.charCodeAt(0);
  writeString(b, 157, 100, h.linkname ?? "");
  writeString(b, 257, 6, "ustar\0");
  writeString(b, 263, 2, "00");
  writeOctal(b, 329, 8, 0); // devmajor
  writeOctal(b, 337, 8, 0); // devminor
  writeString(b, 345, 155, h.prefix ?? "");
  let sum = 0;
  for (const byte of b) sum += byte;
  writeString(b, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return b;
}

function writeString(b: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = enc.encode(value);
  if (bytes.byteLength > length) throw new UsageError(`Cannot build layer: "${value}" does not fit a tar header`);
  b.set(bytes, offset);
}

function writeOctal(b: Uint8Array, offset: number, length: number, value: number): void {
  writeString(b, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
