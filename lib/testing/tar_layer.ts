/**
 * Deterministic tar layers for fixtures: the sample image, tests and benchmarks, written with lib/tar/write.ts
 * (the writer `ferry build` uses). Holds the whole layer in memory, so it is for test-sized content only.
 *
 * @module
 */
import process from "node:process";
import { UsageError } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import { tarEnd, tarEntryHeader, tarPadding } from "../tar/write.ts";

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
    if (body.byteLength > 0) blocks.push(body, tarPadding(body.byteLength));
  }
  blocks.push(tarEnd());
  const tar = concat(blocks);
  // node:zlib writes mtime 0 and no FNAME; the OS byte is zlib's build default, so pin it to
  // 255 ("unknown", as Go's compress/gzip writes) for the same bytes on every host.
  const buf = process.getBuiltinModule("node:zlib").gzipSync(tar, { level: options.gzipLevel ?? 6 });
  // A view, not a copy (copying 100 MiB costs more than gzip level 0); a Buffer's store is an ArrayBuffer.
  const gz = new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
  gz[9] = 255;
  return { tar, gz, diffId: digestOf(tar), digest: digestOf(gz) };
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

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
