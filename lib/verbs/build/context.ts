/**
 * The build context of `ferry build`: a directory, minus what `.dockerignore` excludes. COPY and ADD
 * sources are resolved here (globs included) and can never leave it: `..` that climbs out, or a
 * symlinked source that points outside, is refused.
 *
 * @module
 */
import { lstat, readdir, readFile, readlink, realpath, stat } from "node:fs/promises";
import { join, posix, relative, resolve, sep } from "node:path";
import { NotFoundError, UsageError } from "../../errors.ts";
import { fileErrorOf } from "../../stream/files.ts";
import { IgnoreRules, PathPattern } from "./glob.ts";

/** A file, directory or symlink found under a COPY source. */
export interface ContextEntry {
  /** Path relative to the matched source (`""` for the source itself). */
  rel: string;
  /** Absolute path on disk. */
  abs: string;
  type: "file" | "dir" | "symlink";
  /** Permission bits (and setuid/setgid/sticky) from disk. */
  mode: number;
  size: number;
  linkname?: string;
}

/** One COPY source as matched in the context: its path and everything under it. */
export interface ContextMatch {
  /** Path relative to the context root (`bin/app-arm64`). */
  path: string;
  /** The source itself first, then (for a directory) its contents, sorted by path. */
  entries: ContextEntry[];
}

/**
 * A build context directory with its `.dockerignore` rules.
 *
 * @example
 * ```ts
 * const context = await BuildContext.open("app");
 * const [match] = await context.match(["bin/app-amd64"]);
 * match.entries[0].abs; // "/…/app/bin/app-amd64"
 * ```
 */
export class BuildContext {
  private constructor(readonly dir: string, readonly real: string, readonly ignore: IgnoreRules) {}

  /** Opens `dir` as a context, reading its `.dockerignore` if there is one. */
  static async open(dir: string): Promise<BuildContext> {
    const abs = resolve(dir);
    const info = await stat(abs).catch((err) => {
      throw fileErrorOf(err, "open build context", dir);
    });
    if (!info.isDirectory()) throw new UsageError(`Cannot open build context ${dir}: not a directory`, { ref: dir });
    const real = await realpath(abs);
    const text = await readFile(join(abs, ".dockerignore"), "utf8").catch((err) => {
      if ((err as { code?: string }).code === "ENOENT") return "";
      throw fileErrorOf(err, "read", join(dir, ".dockerignore"));
    });
    return new BuildContext(abs, real, new IgnoreRules(text));
  }

  /**
   * Resolves COPY sources (globs per segment) to what they match, each with its contents. Throws a
   * {@link UsageError} for a source outside the context and a {@link NotFoundError} for one that matches
   * nothing (both with messages the caller prefixes with the instruction's line).
   */
  async match(sources: string[]): Promise<ContextMatch[]> {
    const out: ContextMatch[] = [];
    for (const source of sources) {
      const clean = cleanSource(source);
      const pattern = new PathPattern(clean);
      const paths = pattern.isGlob ? await this.#glob(clean) : [clean];
      if (paths.length === 0) throw new NotFoundError(`no file in the context matches "${source}"`);
      for (const path of paths) out.push({ path, entries: await this.#entries(path, source) });
    }
    return out;
  }

  /** Paths of the context (not excluded) that match a glob, sorted. */
  async #glob(pattern: string): Promise<string[]> {
    const segments = pattern.split("/").filter((s) => s !== "");
    let current = [""];
    for (const [i, segment] of segments.entries()) {
      const matcher = new PathPattern(segment);
      const next: string[] = [];
      for (const dir of current) {
        const names = await readdir(join(this.dir, dir)).catch(() => [] as string[]);
        for (const name of names.sort()) {
          const path = dir === "" ? name : `${dir}/${name}`;
          if (!matcher.matches(name) || this.ignore.excludes(path)) continue;
          if (i < segments.length - 1 && !(await stat(join(this.dir, path)).catch(() => undefined))?.isDirectory()) {
            continue;
          }
          next.push(path);
        }
      }
      current = next;
    }
    return current;
  }

  async #entries(path: string, source: string): Promise<ContextEntry[]> {
    const abs = path === "" ? this.dir : join(this.dir, ...path.split("/"));
    if (path !== "" && this.ignore.excludes(path)) {
      throw new NotFoundError(`"${source}" is excluded by .dockerignore`);
    }
    let info = await lstat(abs).catch((err) => {
      if ((err as { code?: string }).code === "ENOENT") {
        throw new NotFoundError(`"${source}" does not exist in the context`);
      }
      throw fileErrorOf(err, "read", abs);
    });
    let real = abs;
    if (info.isSymbolicLink()) {
      // A symlink named as a source is followed (as Docker does), but only to somewhere inside the context.
      real = await realpath(abs).catch(() => {
        throw new NotFoundError(`"${source}" is a dangling symlink`);
      });
      if (!isInside(this.real, real)) {
        throw new UsageError(`"${source}" is a symlink to ${real}, outside the build context`);
      }
      info = await stat(real);
    }
    const root: ContextEntry = entryOf("", real, info);
    if (root.type !== "dir") return [root];
    const out = [root];
    await this.#walk(real, path, "", out);
    return out;
  }

  async #walk(absDir: string, contextDir: string, relDir: string, out: ContextEntry[]): Promise<void> {
    const names = (await readdir(absDir).catch((err) => {
      throw fileErrorOf(err, "read", absDir);
    })).sort();
    for (const name of names) {
      const rel = relDir === "" ? name : `${relDir}/${name}`;
      const contextPath = contextDir === "" ? rel : `${contextDir}/${rel}`;
      const abs = join(absDir, name);
      const info = await lstat(abs);
      const excluded = this.ignore.excludes(contextPath);
      if (excluded && !(info.isDirectory() && this.ignore.hasExceptions)) continue;
      const entry = entryOf(rel, abs, info);
      if (info.isSymbolicLink()) {
        entry.linkname = await readlink(abs);
      } else if (!info.isFile() && !info.isDirectory()) continue; // sockets, fifos, devices: never copied
      if (!excluded) out.push(entry);
      if (entry.type === "dir") await this.#walk(abs, contextDir, rel, out);
    }
  }
}

function entryOf(rel: string, abs: string, info: Awaited<ReturnType<typeof lstat>>): ContextEntry {
  const type = info.isDirectory() ? "dir" : info.isSymbolicLink() ? "symlink" : "file";
  return { rel, abs, type, mode: Number(info.mode) & 0o7777, size: type === "file" ? Number(info.size) : 0 };
}

/** A COPY source relative to the context root; a `..` that climbs out of it is refused. */
function cleanSource(source: string): string {
  const normal = posix.normalize(source.replace(/^\/+/, "") || ".");
  if (normal === ".." || normal.startsWith("../")) {
    throw new UsageError(`"${source}" is outside the build context`);
  }
  return normal === "." ? "" : normal.replace(/\/+$/, "");
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep));
}
