/**
 * The one directory ferry spools to: `$FERRY_TMPDIR`, by default `ferry/` in the OS temp dir (`$TMPDIR`, else
 * `/tmp`). Each process that spools gets its own run directory in it, `<host>-<pid>-<random>`, removed when the
 * process exits; the first use in a process removes the run directories this host's dead processes left (a
 * `kill -9`, a power cut), found by their pid (`process.kill(pid, 0)`), and leaves live runs alone.
 *
 * Temp files beside their final path (`.<name>.<pid>-<random>.part` in an OCI layout) are swept by
 * {@link sweepTempFiles} when the layout is opened for writing.
 *
 * What goes there: gzipped archives' referenced blobs while `ferry import`/`copy` reads them (`import-*`),
 * layers gzipped on import (`gzip-*`), and archives `ferry serve` unpacks (`serve-*`).
 *
 * @module
 */
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileErrorOf, isTempName, tempFileOwner } from "./files.ts";

/** Environment variable naming ferry's temp directory. */
export const FERRY_TMPDIR = "FERRY_TMPDIR";

/**
 * `$FERRY_TMPDIR`, else `<os temp dir>/ferry`.
 *
 * @example
 * ```ts
 * ferryTempRoot(); // "/tmp/ferry"
 * ```
 */
export function ferryTempRoot(): string {
  return process.env[FERRY_TMPDIR] || join(tmpdir(), "ferry");
}

let run: Promise<string> | undefined;
/** This process's run directory once made. */
let runDir: string | undefined;

/**
 * This process's run directory under {@link ferryTempRoot}, created on the first call (which also removes the
 * run directories of dead processes) and removed when the process exits.
 *
 * @example
 * ```ts
 * const spool = await mkdtemp(join(await ferryTempDir(), "import-"));
 * ```
 */
export function ferryTempDir(): Promise<string> {
  run ??= (async () => {
    const root = ferryTempRoot();
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
      await sweepDeadRuns(root);
      const dir = await mkdtemp(join(root, `${hostTag()}-${process.pid}-`));
      runDir = dir;
      process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
      return dir;
    } catch (err) {
      run = undefined;
      throw fileErrorOf(err, "create a temp directory in", root);
    }
  })();
  return run;
}

/**
 * Removes the run directories in `root` whose process is gone: this host's, with a pid that no longer runs
 * (or that is this process's own pid but not its run: a container's pid 1 restarted). Returns their names.
 *
 * @example
 * ```ts
 * await sweepDeadRuns(ferryTempRoot()); // ["build-host-4242-Ab12Cd"]
 * ```
 */
export async function sweepDeadRuns(root: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const owner = runOwner(name);
    if (owner === undefined || (isAlive(owner) && owner !== process.pid) || join(root, name) === runDir) continue;
    await rm(join(root, name), { recursive: true, force: true }).catch(() => {});
    removed.push(name);
  }
  return removed;
}

/** The pid of a run directory's name made on this host, else undefined. */
function runOwner(name: string): number | undefined {
  const prefix = `${hostTag()}-`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(\d+)-[A-Za-z0-9]{6,}$/.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : undefined;
}

function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9.]+/g, "_") || "host";
}

/**
 * Whether process `pid` runs (on this host): `process.kill(pid, 0)` succeeds, or fails with EPERM (another
 * user's process).
 *
 * @example
 * ```ts
 * isAlive(process.pid); // true
 * ```
 */
export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string })?.code === "EPERM";
  }
}

/** Temp files ({@link isTempName}) with no live writer recorded are removed once idle this long. */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Removes the temp files of {@link createTempWriter} (`.<name>.<pid>-<random>.part`) in `dirs` that a dead
 * process left: its pid no longer runs, or (an old-style name without a pid) it was not written for
 * `staleMs` (default an hour). Live writers' files stay. Returns the paths removed; errors are ignored (best effort).
 *
 * @example
 * ```ts
 * await sweepTempFiles(["out", "out/blobs/sha256"]); // when a layout is opened for writing
 * ```
 */
export async function sweepTempFiles(dirs: string[], staleMs = STALE_TEMP_MS): Promise<string[]> {
  const removed: string[] = [];
  const now = Date.now();
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!isTempName(name)) continue;
      const path = join(dir, name);
      const owner = tempFileOwner(name);
      if (owner !== undefined) {
        if (owner === process.pid || isAlive(owner)) continue; // a live writer (this process's own too)
      } else {
        const info = await stat(path).catch(() => undefined);
        if (!info || now - info.mtimeMs < staleMs) continue;
      }
      await rm(path, { force: true }).catch(() => {});
      removed.push(path);
    }
  }
  return removed;
}
