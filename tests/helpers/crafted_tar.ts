/**
 * Builds tar files byte by byte for tests, including the hostile kinds real tools refuse to write
 * (absolute and `..` names, duplicate entries, links out of the archive).
 *
 * @module
 */
import { gzipSync } from "node:zlib";

/** One entry: a file (data), a symlink or hard link (link), or a directory. */
export interface CraftedEntry {
  name: string;
  data?: Uint8Array | string;
  type?: "file" | "symlink" | "hardlink" | "dir" | "fifo";
  link?: string;
}

const TYPES = { file: "0", hardlink: "1", symlink: "2", dir: "5", fifo: "6" } as const;

/** A POSIX tar of `entries` (gzipped with `gzip`), names written verbatim (GNU long-name entries past 100 bytes). */
export function tarFile(entries: CraftedEntry[], options: { gzip?: boolean } = {}): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const header = (name: string, size: number, type: string, link = "") => {
    const h = new Uint8Array(512);
    const text = (v: string, o: number) => h.set(enc.encode(v), o);
    const octal = (v: number, o: number, w: number) => text(v.toString(8).padStart(w - 1, "0") + "\0", o);
    text(name, 0);
    octal(0o644, 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(size, 124, 12);
    octal(0, 136, 12);
    text(type, 156);
    text(link, 157);
    text("ustar\u000000", 257);
    h.fill(0x20, 148, 156);
    text(h.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ", 148);
    return h;
  };
  const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data ?? new Uint8Array();
    if (enc.encode(e.name).byteLength > 100) {
      const long = enc.encode(e.name);
      parts.push(header("././@LongLink", long.byteLength, "L"), long, pad(long.byteLength));
    }
    parts.push(header(e.name.slice(0, 100), data.byteLength, TYPES[e.type ?? "file"], e.link), data, pad(data.byteLength));
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
