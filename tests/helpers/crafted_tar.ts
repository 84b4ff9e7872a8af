/**
 * Builds tar files byte by byte for tests, including the hostile kinds real tools refuse to write
 * (absolute and `..` names, duplicate entries, links out of the archive, devices, bad checksums) and the
 * encodings real tools write only sometimes (GNU long names, pax paths, base-256 sizes, signed checksums).
 *
 * @module
 */
import { gzipSync } from "node:zlib";

/** One entry: a file (data), a symlink or hard link (link), a directory, a fifo or a device. */
export interface CraftedEntry {
  name: string;
  data?: Uint8Array | string;
  type?: "file" | "symlink" | "hardlink" | "dir" | "fifo" | "char" | "block";
  link?: string;
  /** How the header is written; by default ustar, octal, unsigned checksum, a GNU `L` entry past 100 bytes. */
  encoding?: {
    /** Carry the name in a GNU `L` entry or a pax `path` record even when it fits (the ustar name is a decoy). */
    name?: "gnu" | "pax";
    /** The size in GNU base-256 instead of octal. */
    size?: "base256";
    /** A signed checksum (old Sun and GNU tars) or a wrong one. */
    checksum?: "signed" | "bad";
  };
}

const TYPES = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" } as const;
const enc = new TextEncoder();

function header(
  name: string,
  size: number,
  type: string,
  link = "",
  encoding: CraftedEntry["encoding"] = {},
): Uint8Array {
  const h = new Uint8Array(512);
  const text = (v: string, o: number) => h.set(enc.encode(v), o);
  const octal = (v: number, o: number, w: number) => text(v.toString(8).padStart(w - 1, "0") + "\0", o);
  text(name, 0);
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  if (encoding.size === "base256") {
    h[124] = 0x80;
    for (let i = 135, v = size; i > 124; i--, v = Math.floor(v / 256)) h[i] = v % 256;
  } else octal(size, 124, 12);
  octal(0, 136, 12);
  text(type, 156);
  text(link, 157);
  text("ustar\u000000", 257);
  h.fill(0x20, 148, 156);
  let sum = h.reduce((a, b) => a + (encoding.checksum === "signed" && b > 127 ? b - 256 : b), 0);
  if (encoding.checksum === "bad") sum += 1;
  text(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

function pax(records: Record<string, string>): Uint8Array {
  let out = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let n = enc.encode(body).byteLength + 1;
    while (String(n).length + enc.encode(body).byteLength !== n) n++;
    out += `${n}${body}`;
  }
  return enc.encode(out);
}

const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);

/** A POSIX tar of `entries` (gzipped with `gzip`), names written verbatim (GNU long-name entries past 100 bytes). */
export function tarFile(entries: CraftedEntry[], options: { gzip?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
    let stored = e.name.slice(0, 100);
    if (e.encoding?.name === "pax") {
      const records = pax({ path: e.name });
      parts.push(header("PaxHeaders/entry", records.byteLength, "x"), records, pad(records.byteLength));
      stored = "pax-decoy";
    } else if (e.encoding?.name === "gnu" || enc.encode(e.name).byteLength > 100) {
      const long = enc.encode(e.name);
      parts.push(header("././@LongLink", long.byteLength, "L"), long, pad(long.byteLength));
      if (e.encoding?.name === "gnu") stored = "gnu-decoy";
    }
    parts.push(header(stored, data.byteLength, TYPES[e.type ?? "file"], e.link, e.encoding), data, pad(data.byteLength));
  }
  parts.push(new Uint8Array(1024));
  const tar = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    tar.set(p, offset);
    offset += p.byteLength;
  }
  return options.gzip ? new Uint8Array(gzipSync(tar)) : tar;
}

/**
 * The 512-byte header of a regular file of `size` bytes (GNU base-256 past 8 GiB), for tars too large to build in
 * memory: write it, then the data (zeros, possibly a sparse hole), then padding to 512.
 */
export function tarHeader(name: string, size: number): Uint8Array {
  return header(name, size, TYPES.file, "", size >= 8 * 1024 ** 3 ? { size: "base256" } : {});
}
