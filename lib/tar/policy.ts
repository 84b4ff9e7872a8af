/**
 * The one answer to "may a tar contain this entry?", for every tar ferry reads. Two policies:
 *
 * - `"archive"`: an image archive (OCI archive, `docker save` tarball), imported, copied or served. No absolute
 *   or `..` names, no duplicate names, no devices, fifos or unknown types; symlinks and hard links must resolve
 *   to a regular file inside the archive and become aliases of it (docker save links repeated layers); at most
 *   `maxEntries` entries (default 100 000). Directories are skipped.
 * - `"layer"`: a filesystem layer (`ferry build` reading a base image or an ADDed archive). Names are normalised
 *   and confined to the root (`a/../../etc` is `etc`); every kind is passed on (the build keeps files,
 *   directories, symlinks and hard links, and drops devices and fifos); symlink targets are data (absolute ones
 *   point inside the rootfs); hard-link targets are confined like names and resolved by the build against the
 *   entries before them; no entry limit unless given.
 *
 * Both cap an extension header (pax, GNU long name) at 1 MiB. Errors are {@link FormatError}s:
 * `Cannot read archive <ref>: <reason>` or `Cannot read layer <ref>: <reason>`.
 *
 * @module
 */
import { posix } from "node:path";
import { FormatError } from "../errors.ts";
import type { TarHeader } from "./header.ts";

/** Which entries a tar may hold: an image archive's, or a filesystem layer's. */
export type TarPolicy = "archive" | "layer";

/** Most entries an image archive may hold unless told otherwise. */
export const DEFAULT_MAX_ENTRIES = 100_000;

/** Largest extension header (pax records, GNU long name or link) accepted. */
export const MAX_EXTENSION_BYTES = 1024 * 1024;

/**
 * The error for a tar the policy refuses: `Cannot read archive <ref>: <reason>` (or `layer`).
 *
 * @example
 * ```ts
 * throw tarError("archive", "x.tar", 'duplicate entry "index.json"');
 * ```
 */
export function tarError(policy: TarPolicy, ref: string | undefined, reason: string): FormatError {
  return new FormatError(`Cannot read ${policy}${ref ? ` ${ref}` : ""}: ${reason}`, { ref });
}

/** Options of {@link TarGate}. */
export interface TarGateOptions {
  /** Most entries (extension headers not counted); default 100 000 for an archive, unlimited for a layer. */
  maxEntries?: number;
}

/**
 * The policy applied to one tar, entry by entry, by the readers (`read.ts`, `index.ts`): each header goes
 * through {@link TarGate.admit}, and at the end {@link TarGate.links} resolves an archive's links.
 *
 * @example
 * ```ts
 * const gate = new TarGate("archive", "x.tar");
 * const entry = gate.admit(header); // undefined: skip it (a directory)
 * ```
 */
export class TarGate {
  /** The policy's error for a reason. */
  readonly bad: (reason: string) => FormatError;
  readonly #maxEntries: number;
  #count = 0;
  readonly #seen = new Set<string>();
  readonly #files = new Set<string>();
  readonly #links: { name: string; target: string; raw: string }[] = [];

  constructor(readonly policy: TarPolicy, readonly ref: string | undefined, options: TarGateOptions = {}) {
    this.bad = (reason) => tarError(policy, ref, reason);
    this.#maxEntries = options.maxEntries ?? (policy === "archive" ? DEFAULT_MAX_ENTRIES : Infinity);
  }

  /** Checks an extension header (pax, GNU long name) before its data is read. */
  extension(header: TarHeader): void {
    if (header.size > MAX_EXTENSION_BYTES) throw this.bad("oversized tar extension header");
  }

  /**
   * The entry as the policy admits it (name normalised; a layer's hard-link target confined), or undefined
   * when it is to be skipped (an archive's directories). Throws the policy's error for a refused entry.
   */
  admit(header: TarHeader): TarHeader | undefined {
    if (++this.#count > this.#maxEntries) throw this.bad(`more than ${this.#maxEntries} entries`);
    return this.policy === "archive" ? this.#admitArchive(header) : this.#admitLayer(header);
  }

  #admitArchive(header: TarHeader): TarHeader | undefined {
    const name = archiveName(header.name, this.bad);
    if (header.kind === "dir") return undefined;
    if (name === "") throw this.bad(`entry "${header.name}" has an empty name`);
    if (this.#seen.has(name)) throw this.bad(`duplicate entry "${name}"`);
    this.#seen.add(name);
    if (header.kind === "hardlink" || header.kind === "symlink") {
      const raw = header.linkname;
      const joined = header.kind === "hardlink" ? raw : posix.join(posix.dirname(name), raw);
      const normal = posix.normalize(joined);
      if (raw.startsWith("/") || normal === ".." || normal.startsWith("../")) {
        throw this.bad(`link "${name}" points outside the archive (${raw})`);
      }
      const target = archiveName(normal, this.bad);
      this.#links.push({ name, target, raw });
      return { ...header, name, linkname: target };
    }
    if (header.kind !== "file") {
      throw this.bad(`entry "${name}" is a device, fifo or unknown type "${header.typeflag}"`);
    }
    this.#files.add(name);
    return { ...header, name };
  }

  #admitLayer(header: TarHeader): TarHeader {
    const out = { ...header, name: confine(header.name) };
    if (header.kind === "hardlink") out.linkname = confine(header.linkname);
    else if (header.kind === "symlink") out.linkname = header.linkname.replace(/^\.\//, "");
    return out;
  }

  /**
   * An archive's links, each resolved to the regular file it names (following links to links): alias → file.
   * Throws for a link that dangles. Empty for a layer (the build resolves its hard links itself).
   */
  links(): Map<string, string> {
    const out = new Map<string, string>();
    const byName = new Map(this.#links.map((l) => [l.name, l]));
    for (const link of this.#links) {
      let target = link.target;
      for (let hops = 0; !this.#files.has(target) && byName.has(target) && hops < 40; hops++) {
        target = byName.get(target)!.target;
      }
      if (!this.#files.has(target)) {
        throw this.bad(`link "${link.name}" points at "${link.raw}", which is not a file in the archive`);
      }
      out.set(link.name, target);
    }
    return out;
  }
}

/** `./a//b` → `a/b`; absolute names and `..` components are refused. */
function archiveName(raw: string, bad: (reason: string) => FormatError): string {
  if (raw.startsWith("/")) throw bad(`entry "${raw}" has an absolute path`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw bad(`entry "${raw}" has a ".." path component`);
  return parts.join("/");
}

/** A layer path confined to the root, without leading or trailing slashes: `./a/../../b/` → `b`. */
function confine(raw: string): string {
  return posix.normalize(`/${raw}`).replace(/^\/+/, "").replace(/\/+$/, "");
}
