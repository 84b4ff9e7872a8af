/**
 * One tar header, decoded and encoded: POSIX ustar (with the name prefix), pax extended headers (`x`; global
 * `g` headers are read and ignored), GNU long names and link targets (`L`, `K`), GNU base-256 numbers, and the
 * header checksum (signed and unsigned sums both accepted, as GNU tar does). The only tar codec ferry has:
 * the readers (`read.ts`, `index.ts`) and the writer (`write.ts`) are built on it.
 *
 * @module
 */

/** The tar block size: headers are one block, contents are padded to whole blocks. */
export const TAR_BLOCK = 512;

/** What an entry is, from its type flag. */
export type TarKind = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo" | "other";

/** One entry's header, extensions (pax, GNU long names) applied. */
export interface TarHeader {
  /** The path as stored (ustar prefix joined, or the pax/GNU long name); drivers normalise it per policy. */
  name: string;
  kind: TarKind;
  /** The raw ustar type flag (`0` file, `1` hard link, `2` symlink, `5` directory, …). */
  typeflag: string;
  /** Permission bits with setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow the header. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Target of a link (as stored). */
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** A failure while decoding: the drivers turn the reason into their policy's error. */
export type Bad = (reason: string) => Error;

const KINDS: Record<string, TarKind> = {
  "0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

const dec = new TextDecoder();
const enc = new TextEncoder();

/** Whether a block is all zeros (the end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.byteLength; i++) if (block[i] !== 0) return false;
  return true;
}

/** Whether a type flag is an extension header (pax `x`/`g`, GNU `L`/`K`) describing the next entry. */
export function isExtension(typeflag: string): boolean {
  return typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K";
}

/**
 * Decodes one 512-byte header block (not the zero end marker: test {@link isZeroBlock} first). `at` is the
 * block's byte offset, for the error. A bad checksum or an unreadable size is `bad(…)`.
 *
 * @example
 * ```ts
 * const header = decodeHeader(block, 0, (reason) => new Error(reason));
 * header.kind; // "file"
 * ```
 */
export function decodeHeader(block: Uint8Array, at: number, bad: Bad): TarHeader {
  if (!checksumOk(block)) throw bad(`corrupt tar header at byte ${at}`);
  const typeflag = String.fromCharCode(block[156] || 0x30);
  const size = number(block, 124, 12);
  if (!Number.isSafeInteger(size) || size < 0) throw bad("corrupt tar header (size)");
  const name = cString(block, 0, 100);
  const ustar = cString(block, 257, 6).startsWith("ustar");
  const prefix = ustar ? cString(block, 345, 155) : "";
  return {
    name: prefix ? `${prefix}/${name}` : name,
    kind: KINDS[typeflag] ?? "other",
    typeflag,
    mode: (number(block, 100, 8) || 0) & 0o7777,
    uid: number(block, 108, 8) || 0,
    gid: number(block, 116, 8) || 0,
    size,
    mtime: number(block, 136, 12) || 0,
    linkname: cString(block, 157, 100),
    devmajor: ustar ? number(block, 329, 8) || 0 : 0,
    devminor: ustar ? number(block, 337, 8) || 0 : 0,
  };
}

/**
 * The extension headers seen since the last entry: {@link TarExtensions.add} each one's data, then
 * {@link TarExtensions.apply} them to the entry header that follows (pax records win over GNU long names,
 * which win over the ustar fields).
 *
 * @example
 * ```ts
 * const ext = new TarExtensions();
 * ext.add("L", new TextEncoder().encode("a/very/long/name\0"), bad);
 * const header = ext.apply(decodeHeader(block, 512, bad), bad);
 * ```
 */
export class TarExtensions {
  #pax: Record<string, string> = {};
  #longName?: string;
  #longLink?: string;

  /** Records one extension header's data (`x` pax, `L` long name, `K` long link; `g` is ignored). */
  add(typeflag: string, data: Uint8Array, bad: Bad): void {
    if (typeflag === "x") Object.assign(this.#pax, parsePax(data, bad));
    else if (typeflag === "L") this.#longName = dec.decode(data).replace(/\0+$/, "");
    else if (typeflag === "K") this.#longLink = dec.decode(data).replace(/\0+$/, "");
  }

  /** `header` with the pending extensions applied; they are then cleared. */
  apply(header: TarHeader, bad: Bad): TarHeader {
    const pax = this.#pax;
    const out = { ...header };
    out.name = pax.path ?? this.#longName ?? header.name;
    out.linkname = pax.linkpath ?? this.#longLink ?? header.linkname;
    const numeric = (key: string, fallback: number, negative = false): number => {
      if (pax[key] === undefined) return fallback;
      const value = Number(pax[key]);
      if (!Number.isFinite(value) || (value < 0 && !negative)) throw bad(`corrupt pax record (${key}=${pax[key]})`);
      return value;
    };
    out.size = numeric("size", header.size);
    if (!Number.isSafeInteger(out.size)) throw bad("corrupt tar header (size)");
    out.uid = numeric("uid", header.uid);
    out.gid = numeric("gid", header.gid);
    out.mtime = Math.floor(numeric("mtime", header.mtime, true)); // pax times may be fractional or before 1970
    this.#pax = {};
    this.#longName = this.#longLink = undefined;
    return out;
  }
}

/**
 * pax records, `<len> <key>=<value>\n` (len counts the whole record, in bytes). A malformed record is `bad`.
 *
 * @example
 * ```ts
 * parsePax(new TextEncoder().encode("16 path=a/b/c.d\n"), bad); // { path: "a/b/c.d" }
 * ```
 */
export function parsePax(data: Uint8Array, bad: Bad): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.byteLength) {
    if (data[at] === 0) break; // padding after the last record
    const space = data.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(dec.decode(data.subarray(at, space)));
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > data.byteLength) {
      throw bad("corrupt pax header");
    }
    const record = dec.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/** The fields {@link encodeHeader} writes; everything but the name, kind and size has a default. */
export interface TarHeaderFields {
  /** The entry's path (a directory's trailing `/` is added when missing). Any length: long ones get a pax record. */
  name: string;
  kind: Exclude<TarKind, "other">;
  /** Bytes of data that follow (0 for anything but a file). */
  size: number;
  /** Default 0o644. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default 0. */
  mtime?: number;
  /** Target of a link. Any length. */
  linkname?: string;
  /** Device numbers; written (octal) only when given. */
  devmajor?: number;
  devminor?: number;
}

const TYPEFLAGS: Record<TarHeaderFields["kind"], string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

/**
 * The header block(s) of one entry: a pax extended header first when the name or link target does not fit
 * ustar's fields (the name is split at a `/` into ustar's prefix when that suffices) or an owner id or mtime is
 * too large for octal, then the ustar header (empty uname/gname). Sizes of 8 GiB and more are GNU base-256.
 * The data and its padding ({@link tarPadding} in write.ts) follow.
 *
 * @example
 * ```ts
 * const head = encodeHeader({ name: "app", kind: "file", mode: 0o755, size: 3, uid: 1000, gid: 1000 });
 * ```
 */
export function encodeHeader(fields: TarHeaderFields): Uint8Array {
  const name = fields.kind === "dir" && !fields.name.endsWith("/") ? `${fields.name}/` : fields.name;
  const pax: Record<string, string> = {};
  const split = splitName(name);
  if (!split) pax.path = name;
  const linkname = fields.linkname ?? "";
  if (enc.encode(linkname).byteLength > 100) pax.linkpath = linkname;
  const uid = fields.uid ?? 0;
  const gid = fields.gid ?? 0;
  const mtime = fields.mtime ?? 0;
  if (uid > MAX_OCTAL_8) pax.uid = String(uid);
  if (gid > MAX_OCTAL_8) pax.gid = String(gid);
  if (mtime > MAX_OCTAL_12 || mtime < 0) pax.mtime = String(mtime);
  const main = block({
    name: split?.name ?? "long-name",
    prefix: split?.prefix ?? "",
    typeflag: TYPEFLAGS[fields.kind],
    mode: fields.mode ?? 0o644,
    uid: uid > MAX_OCTAL_8 ? 0 : uid,
    gid: gid > MAX_OCTAL_8 ? 0 : gid,
    size: fields.size,
    mtime: pax.mtime ? 0 : mtime,
    linkname: pax.linkpath ? "long-link" : linkname,
    devmajor: fields.devmajor,
    devminor: fields.devminor,
  });
  if (Object.keys(pax).length === 0) return main;
  const records = paxRecords(pax);
  const padded = Math.ceil(records.byteLength / TAR_BLOCK) * TAR_BLOCK;
  const out = new Uint8Array(TAR_BLOCK + padded + TAR_BLOCK);
  const { devmajor, devminor } = fields;
  out.set(
    block({
      name: "PaxHeaders/entry",
      prefix: "",
      typeflag: "x",
      mode: 0o644,
      size: records.byteLength,
      devmajor,
      devminor,
    }),
  );
  out.set(records, TAR_BLOCK);
  out.set(main, TAR_BLOCK + padded);
  return out;
}

interface BlockFields {
  name: string;
  prefix: string;
  typeflag: string;
  mode: number;
  size: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function block(f: BlockFields): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(TAR_BLOCK);
  const text = (value: string, offset: number) => b.set(enc.encode(value), offset);
  const octal = (value: number, offset: number, width: number) =>
    text(value.toString(8).padStart(width - 1, "0") + "\0", offset);
  text(f.name, 0);
  octal(f.mode & 0o7777777, 100, 8);
  octal(f.uid ?? 0, 108, 8);
  octal(f.gid ?? 0, 116, 8);
  if (f.size <= MAX_OCTAL_12) octal(f.size, 124, 12);
  else {
    // GNU base-256: high bit set, big-endian binary in the remaining 11 bytes (files of 8 GiB and more).
    b[124] = 0x80;
    let v = BigInt(f.size);
    for (let i = 135; i > 124; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  }
  octal(f.mtime ?? 0, 136, 12);
  b[156] = f.typeflag.charCodeAt(0);
  text(f.linkname ?? "", 157);
  text("ustar\u000000", 257);
  if (f.devmajor !== undefined) octal(f.devmajor, 329, 8);
  if (f.devminor !== undefined) octal(f.devminor, 337, 8);
  text(f.prefix, 345);
  b.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += b[i];
  text(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return b;
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

/** pax records: `"<len> key=value\n"`, where len counts the whole record. */
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

function cString(b: Uint8Array, offset: number, length: number): string {
  const field = b.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return dec.decode(end < 0 ? field : field.subarray(0, end));
}

/** An octal field (NUL/space terminated), or GNU base-256 when the high bit is set; NaN when unreadable. */
function number(b: Uint8Array, offset: number, length: number): number {
  if (b[offset] & 0x80) {
    if (b[offset] === 0xff) return NaN; // negative base-256
    let v = b[offset] & 0x7f;
    for (let i = offset + 1; i < offset + length; i++) v = v * 256 + b[i];
    return v;
  }
  const text = cString(b, offset, length).trim();
  if (text === "") return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

/** The stored checksum against the unsigned sum (POSIX) or the signed sum (old Sun and GNU tars). */
function checksumOk(b: Uint8Array): boolean {
  const stored = number(b, 148, 8);
  if (Number.isNaN(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}
