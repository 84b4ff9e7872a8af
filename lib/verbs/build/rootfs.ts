/**
 * A stage's file tree as `ferry build` sees it: the base image's layers applied in order (whiteouts,
 * opaque directories, hard links), then the files the stage copied in. Used for `COPY --from` (with
 * contents spooled to disk) and to tell whether a COPY destination is an existing directory (headers only).
 *
 * @module
 */
import { createWriteStream } from "node:fs";
import { join, posix } from "node:path";
import { UnsupportedError } from "../../errors.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { MediaType } from "../../oci/media_types.ts";
import { gunzipStream } from "../../stream/gzip.ts";
import { verifyStream } from "../../stream/verify.ts";
import { readTar } from "../../tar/read.ts";
import type { ReadableStore } from "../../ends/store.ts";
import { PathPattern } from "./glob.ts";

/** One file, directory or symlink of a tree. */
export interface FsEntry {
  type: "file" | "dir" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
  /** A file's content on disk (a context file or a spooled layer entry); absent in a headers-only tree. */
  source?: string;
}

/** A layer to read: where it is and its descriptor. */
export interface LayerSource {
  store: ReadableStore;
  desc: Descriptor;
}

let spooled = 0;

/**
 * A file tree keyed by path (no leading slash).
 *
 * @example
 * ```ts
 * const tree = await FileTree.fromLayers(base.layers, { spoolDir: tmp });
 * tree.get("bin/busybox")?.type; // "file"
 * ```
 */
export class FileTree {
  readonly entries = new Map<string, FsEntry>();

  /**
   * Applies `layers` in order. With `spoolDir`, file contents are written there (one file per entry);
   * without it, only headers are kept. gzip and plain tar layers are read; zstd is unsupported.
   */
  static async fromLayers(
    layers: LayerSource[],
    options: { spoolDir?: string; signal?: AbortSignal } = {},
  ): Promise<FileTree> {
    const tree = new FileTree();
    for (const layer of layers) await tree.#apply(layer, options);
    return tree;
  }

  async #apply(layer: LayerSource, options: { spoolDir?: string; signal?: AbortSignal }): Promise<void> {
    const type = layer.desc.mediaType;
    const gzipped = type.endsWith("gzip");
    if (!gzipped && type !== MediaType.OciLayer && !type.endsWith(".tar")) {
      throw new UnsupportedError(`Cannot read layer ${layer.desc.digest} of media type ${type} for COPY --from`);
    }
    let stream = (await layer.store.fetch(layer.desc, { signal: options.signal }))
      .pipeThrough(verifyStream(layer.desc, layer.store.ref));
    if (gzipped) stream = stream.pipeThrough(gunzipStream());
    await this.applyTar(stream, options.spoolDir, layer.desc.digest);
  }

  /**
   * Applies one (uncompressed) tar stream on top of the tree: a layer, or an archive ADD extracts. `ref` names
   * it in errors (`Cannot read layer <ref>: …`).
   */
  async applyTar(stream: ReadableStream<Uint8Array>, spoolDir?: string, ref?: string): Promise<void> {
    const fromLower = new Set(this.entries.keys());
    await readTar(stream, { policy: "layer", ref }, async ({ header: h, body }) => {
      const dir = posix.dirname(h.name);
      const base = posix.basename(h.name);
      if (base === ".wh..wh..opq") {
        // An opaque directory hides everything the lower layers had under it.
        for (const path of fromLower) if (isUnder(path, dir === "." ? "" : dir)) this.entries.delete(path);
        return;
      }
      if (base.startsWith(".wh.")) {
        this.remove(dir === "." ? base.slice(4) : `${dir}/${base.slice(4)}`);
        return;
      }
      if (h.name === "") return;
      if (h.kind === "hardlink") {
        // The target is an entry before it (in this layer or a lower one); a link to nothing is dropped.
        const target = this.entries.get(h.linkname);
        if (target) this.set(h.name, { ...target });
        return;
      }
      const kind = h.kind === "dir" || h.kind === "symlink" || h.kind === "file" ? h.kind : undefined;
      if (!kind) return; // devices and fifos are never copied
      const entry: FsEntry = { type: kind, mode: h.mode, uid: h.uid, gid: h.gid, size: kind === "file" ? h.size : 0 };
      if (kind === "symlink") entry.linkname = h.linkname;
      if (kind === "file" && spoolDir) {
        entry.source = join(spoolDir, `entry-${++spooled}`);
        await spool(body, entry.source);
      }
      this.set(h.name, entry);
    });
  }

  /** A copy of the tree (entries shared by value). */
  clone(): FileTree {
    const tree = new FileTree();
    for (const [k, v] of this.entries) tree.entries.set(k, v);
    return tree;
  }

  /** The entry at `path` (leading slash optional), if the tree has one. */
  get(path: string): FsEntry | undefined {
    return this.entries.get(trim(path));
  }

  /** Adds or replaces an entry; a non-directory replaces a whole subtree. */
  set(path: string, entry: FsEntry): void {
    const p = trim(path);
    if (entry.type !== "dir") this.remove(p);
    this.entries.set(p, entry);
  }

  /** Removes a path and everything under it. */
  remove(path: string): void {
    const p = trim(path);
    for (const key of [...this.entries.keys()]) if (key === p || key.startsWith(`${p}/`)) this.entries.delete(key);
  }

  #hasChildren(path: string): boolean {
    for (const key of this.entries.keys()) if (key.startsWith(`${path}/`)) return true;
    return false;
  }

  /** Paths matching a glob (or the one path named), sorted. */
  match(pattern: string): string[] {
    const p = trim(pattern);
    const matcher = new PathPattern(p);
    if (!matcher.isGlob) return this.entries.has(p) || p === "" || this.#hasChildren(p) ? [p] : [];
    return [...this.entries.keys()].filter((k) => matcher.matches(k)).sort();
  }

  /** The entry at `path` (following symlinks inside the tree) and, for a directory, its contents sorted. */
  subtree(path: string): { rel: string; entry: FsEntry }[] {
    let p = trim(path);
    let root: FsEntry | undefined = p === ""
      ? { type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0 }
      : this.entries.get(p);
    for (let hops = 0; root?.type === "symlink" && hops < 16; hops++) {
      p = trim(posix.resolve("/", posix.dirname(`/${p}`), root.linkname!));
      root = this.entries.get(p);
    }
    // A directory only implied by its contents (a scratch stage's parents) counts as one.
    if (!root && this.#hasChildren(p)) root = { type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0 };
    if (!root) return [];
    const out = [{ rel: "", entry: root }];
    if (root.type !== "dir") return out;
    const prefix = p === "" ? "" : `${p}/`;
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix) && k !== p).sort();
    for (const k of keys) out.push({ rel: k.slice(prefix.length), entry: this.entries.get(k)! });
    return out;
  }
}

function trim(path: string): string {
  return posix.normalize(`/${path}`).replace(/^\/+/, "").replace(/\/+$/, "");
}

function isUnder(path: string, dir: string): boolean {
  return dir === "" ? true : path.startsWith(`${dir}/`);
}

async function spool(body: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  const out = createWriteStream(path);
  try {
    for await (const chunk of body) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
