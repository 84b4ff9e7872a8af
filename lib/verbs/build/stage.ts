/**
 * Runs the stages of a parsed Dockerfile for ONE target platform: FROM (an image resolved for the
 * platform, `scratch`, or an earlier stage), ARG scoping with BuildKit's automatic platform ARGs,
 * COPY/ADD (context, `--from` a stage or image, `--chown`, `--chmod`, ADD's local tar extraction)
 * into new deterministic layers, and the config instructions.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { posix } from "node:path";
import { FerryError, FileError, FormatError, NotFoundError, UnsupportedError, UsageError } from "../../errors.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { formatPlatform, normalizePlatform, parsePlatform } from "../../oci/platform.ts";
import { readFileStream } from "../../stream/files.ts";
import { gunzipStream, isGzipFile } from "../../stream/gzip.ts";
import type { ReadableStore } from "../../ends/store.ts";
import type { BaseImage, BaseImages } from "./base_image.ts";
import type { BuildContext } from "./context.ts";
import { type Dockerfile, type Instruction, lineError, type Stage } from "./dockerfile.ts";
import { expanderOf, ImageConfigBuilder } from "./image_config.ts";
import { type LayerEntry, writeLayer, type WrittenLayer } from "./layer.ts";
import { FileTree, type FsEntry, type LayerSource } from "./rootfs.ts";
import { expandWord } from "./shell_words.ts";

/** One layer of a built stage: a base image's (unchanged) or a new one on disk. */
export type StageLayer =
  | { kind: "base"; desc: Descriptor; store: ReadableStore }
  | { kind: "new"; desc: Descriptor; layer: WrittenLayer };

/** A stage built for one platform. */
export interface BuiltStage {
  /** The platform of the image (the base's own, or the target for scratch). */
  platform: Platform;
  layers: StageLayer[];
  config: ImageConfigBuilder;
  /** Layers of base images, in order (what the new files sit on). */
  baseLayers: LayerSource[];
  /** Files the build added, in order. */
  added: [string, FsEntry][];
  /** The base image (for single-registry mounts and messages). */
  base?: BaseImage;
}

/** Options of {@link StageRunner}. */
export interface StageRunnerOptions {
  dockerfile: Dockerfile;
  context: BuildContext;
  bases: BaseImages;
  /** `--build-arg` values. */
  buildArgs: Record<string, string>;
  /** Temp directory for new layers and spooled files. */
  workDir: string;
  /** SOURCE_DATE_EPOCH: mtime of new files and `created`. */
  epoch: number;
  /** The platform being built (TARGETPLATFORM). */
  platform: Platform;
  /** The platform ferry runs on (BUILDPLATFORM). */
  buildPlatform: Platform;
  gzipLevel?: number;
  signal?: AbortSignal;
}

/** Error classes whose constructor is (message, options): rewrapped with the instruction's line. */
const REWRAPPED = new Set<unknown>([UsageError, NotFoundError, FileError, FormatError, UnsupportedError]);

const COPY_FLAGS = new Set(["from", "chown", "chmod", "link"]);
const ADD_FLAGS = new Set(["chown", "chmod", "link"]);

/**
 * Builds stages of one Dockerfile for one platform, each stage at most once.
 *
 * @example
 * ```ts
 * const runner = new StageRunner({ dockerfile, context, bases, buildArgs: {}, workDir, epoch: 0, platform, buildPlatform });
 * const final = await runner.run(dockerfile.stages.length - 1);
 * ```
 */
export class StageRunner {
  readonly #built = new Map<number, Promise<BuiltStage>>();
  readonly #trees = new Map<string, Promise<FileTree>>();
  readonly #globals: Record<string, string>;
  readonly #auto: Record<string, string>;

  constructor(readonly options: StageRunnerOptions) {
    this.#auto = { ...platformArgs("TARGET", options.platform), ...platformArgs("BUILD", options.buildPlatform) };
    this.#globals = { ...this.#auto };
    for (const ins of options.dockerfile.globalArgs) this.#declare(ins, this.#globals, this.#globals);
  }

  /** The stage at `index`, built (memoised). */
  run(index: number): Promise<BuiltStage> {
    let built = this.#built.get(index);
    if (!built) {
      built = this.#run(this.options.dockerfile.stages[index]);
      this.#built.set(index, built);
    }
    return built;
  }

  #fail(ins: Instruction, reason: string): UsageError {
    return lineError(this.options.dockerfile.name, ins, reason);
  }

  /** Wraps a context or base error with the instruction's line, keeping its class. */
  #at(ins: Instruction, err: unknown): unknown {
    if (!(err instanceof FerryError) || err.message.startsWith("Cannot build ") || !REWRAPPED.has(err.constructor)) {
      return err;
    }
    const text = ins.text.length > 60 ? `${ins.text.slice(0, 57)}...` : ins.text;
    const Cls = err.constructor as new (message: string, options: { ref?: string; cause?: unknown }) => FerryError;
    const reason = /^Cannot [^:]*: /.test(err.message)
      ? err.message.replace(/^Cannot [^:]*: /, "")
      : err.message.replace(/^Cannot /, "cannot ");
    return new Cls(`Cannot build ${this.options.dockerfile.name} line ${ins.line} (${text}): ${reason}`, {
      cause: err,
    });
  }

  /** ARG NAME[=default] into `scope`, with --build-arg and then `globals` taking precedence over the default. */
  #declare(ins: Instruction, scope: Record<string, string>, vars: Record<string, string>): void {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=([\s\S]*))?$/.exec(ins.args);
    if (!m) throw this.#fail(ins, "expected ARG NAME[=DEFAULT]");
    const [, name, fallback] = m;
    const given = this.options.buildArgs[name] ?? this.#globals[name] ?? this.#auto[name];
    if (given !== undefined) scope[name] = given;
    else if (fallback !== undefined) {
      scope[name] = expandWord(fallback, vars, { escape: this.options.dockerfile.escape });
    }
  }

  async #run(stage: Stage): Promise<BuiltStage> {
    const { dockerfile } = this.options;
    const from = stage.from;
    const name = expandWord(from.args, this.#globals, { escape: dockerfile.escape, where: `line ${from.line}` });
    for (const flag of Object.keys(from.flags)) {
      if (flag !== "platform") throw this.#fail(from, `unknown flag --${flag}`);
    }
    const platform = from.flags.platform
      ? parsePlatform(expandWord(from.flags.platform, this.#globals, { escape: dockerfile.escape }))
      : this.options.platform;
    const state = await this.#from(stage, name, platform).catch((err) => {
      throw this.#at(from, err);
    });
    const args: Record<string, string> = {};
    for (const ins of stage.instructions) {
      const vars = { ...args, ...state.config.env };
      const expand = expanderOf(vars, dockerfile.escape, `line ${ins.line}`);
      try {
        if (ins.keyword === "ARG") this.#declare(ins, args, vars);
        else if (ins.keyword === "COPY" || ins.keyword === "ADD") await this.#copy(ins, state, vars);
        else state.config.apply(ins, expand);
      } catch (err) {
        throw this.#at(ins, err);
      }
    }
    return state;
  }

  async #from(stage: Stage, name: string, platform: Platform): Promise<BuiltStage> {
    const parent = this.options.dockerfile.stages.find((s) => s.name === name.toLowerCase() && s.index < stage.index);
    if (parent) {
      const built = await this.run(parent.index);
      return { ...built, layers: [...built.layers], added: [...built.added], config: built.config.clone() };
    }
    if (name === "scratch") {
      const p = normalizePlatform(platform);
      return {
        platform: p,
        layers: [],
        config: ImageConfigBuilder.scratch(p, this.options.dockerfile.name),
        baseLayers: [],
        added: [],
      };
    }
    if (name === "") throw new UsageError("Cannot use FROM: the image name is empty (an unset ARG?)");
    const base = await this.options.bases.get(name, platform);
    const layers: StageLayer[] = base.manifest.layers.map((desc) => ({ kind: "base", desc, store: base.store }));
    return {
      platform: base.platform,
      layers,
      config: ImageConfigBuilder.fromBase(base.config, this.options.dockerfile.name),
      baseLayers: base.manifest.layers.map((desc) => ({ desc, store: base.store })),
      added: [],
      base,
    };
  }

  /** The file tree of `state` (base layers plus added files); with `contents`, file bodies spooled to disk. */
  async #tree(state: BuiltStage, contents: boolean): Promise<FileTree> {
    const key = `${contents}:${state.baseLayers.map((l) => l.desc.digest).join(",")}`;
    let base = this.#trees.get(key);
    if (!base) {
      base = FileTree.fromLayers(state.baseLayers, {
        spoolDir: contents ? this.options.workDir : undefined,
        signal: this.options.signal,
      });
      this.#trees.set(key, base);
    }
    const tree = (await base).clone();
    for (const [path, entry] of state.added) tree.set(path, entry);
    return tree;
  }

  /** The tree `COPY --from=X` reads: an earlier stage (by name or index) or an image for this platform. */
  async #fromTree(ins: Instruction, ref: string, current: Stage | undefined): Promise<FileTree> {
    const stages = this.options.dockerfile.stages;
    const byName = stages.find((s) => s.name === ref.toLowerCase());
    const byIndex = /^\d+$/.test(ref) ? stages[Number(ref)] : undefined;
    const stage = byName ?? byIndex;
    if (stage) {
      if (current && stage.index >= current.index) throw this.#fail(ins, `--from=${ref} names this or a later stage`);
      return this.#tree(await this.run(stage.index), true);
    }
    const base = await this.options.bases.get(ref, this.options.platform);
    return this.#tree({
      platform: base.platform,
      layers: [],
      config: ImageConfigBuilder.fromBase(base.config),
      baseLayers: base.manifest.layers.map((desc) => ({ desc, store: base.store })),
      added: [],
    }, true);
  }

  async #copy(ins: Instruction, state: BuiltStage, vars: Record<string, string>): Promise<void> {
    const { dockerfile, context } = this.options;
    const isAdd = ins.keyword === "ADD";
    for (const flag of Object.keys(ins.flags)) {
      if (!(isAdd ? ADD_FLAGS : COPY_FLAGS).has(flag)) throw this.#fail(ins, `unknown or unsupported flag --${flag}`);
    }
    const opts = { escape: dockerfile.escape, where: `line ${ins.line}` };
    const expand = expanderOf(vars, dockerfile.escape, `line ${ins.line}`);
    const words = ins.json ? ins.json.map((w) => expandWord(w, vars, opts)) : expand.words(ins.args);
    if (words.some((w) => w.startsWith("<<"))) throw this.#fail(ins, "heredocs are not supported");
    if (words.length < 2) throw this.#fail(ins, `${ins.keyword} needs a source and a destination`);
    const sources = words.slice(0, -1);
    const rawDest = words[words.length - 1];
    const owner = ins.flags.chown === undefined
      ? undefined
      : chownOf(expand.word(ins.flags.chown), (r) => this.#fail(ins, r));
    const chmod = ins.flags.chmod === undefined
      ? undefined
      : chmodOf(expand.word(ins.flags.chmod), (r) => this.#fail(ins, r));
    if (isAdd && sources.some((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith("git@"))) {
      throw this.#fail(
        ins,
        "ADD from a URL needs the network at build time, which ferry build does not do: download the file into the context and COPY it",
      );
    }

    // What the sources name: [path, entries relative to it].
    const found: { path: string; entries: { rel: string; entry: FsEntry }[] }[] = [];
    let glob = false;
    if (ins.flags.from !== undefined) {
      const tree = await this.#fromTree(
        ins,
        expand.word(ins.flags.from),
        this.options.dockerfile.stages.find((s) => s.instructions.includes(ins)),
      );
      for (const source of sources) {
        const paths = tree.match(source);
        glob ||= /[*?[]/.test(source);
        if (paths.length === 0) throw new NotFoundError(`"${source}" does not exist in --from=${ins.flags.from}`);
        for (const path of paths) found.push({ path, entries: tree.subtree(path) });
      }
    } else {
      glob = sources.some((s) => /[*?[]/.test(s));
      for (const m of await context.match(sources)) {
        found.push({
          path: m.path,
          entries: m.entries.map((e) => ({
            rel: e.rel,
            entry: {
              type: e.type,
              mode: e.mode,
              uid: 0,
              gid: 0,
              size: e.size,
              linkname: e.linkname,
              source: e.type === "file" ? e.abs : undefined,
            },
          })),
        });
      }
    }

    let dest = posix.resolve(state.config.workdir, rawDest);
    let destIsDir = rawDest.endsWith("/") || found.length > 1 || glob || rawDest === "." || rawDest.endsWith("/.");
    const single = found.length === 1 && found[0].entries[0]?.entry.type !== "dir";
    if (single && !destIsDir && state.baseLayers.length + state.added.length > 0) {
      // `COPY app /usr/local/bin` puts app INTO an existing directory, as Docker does.
      destIsDir = (await this.#tree(state, false)).subtree(dest.slice(1))[0]?.entry.type === "dir";
    }
    const layerEntries: LayerEntry[] = [];
    const added: [string, FsEntry][] = [];
    const put = (path: string, e: FsEntry) => {
      const entry: FsEntry = {
        ...e,
        mode: chmod !== undefined && e.type !== "symlink" ? chmod : e.mode,
        ...(owner ?? {}),
      };
      const rel = path.replace(/^\/+/, "");
      if (rel === "") return; // the root directory itself
      layerEntries.push({ path: rel, ...entry, size: entry.type === "file" ? entry.size : 0 });
      added.push([rel, entry]);
    };
    for (const { path, entries } of found) {
      if (isAdd && entries.length === 1 && entries[0].entry.type === "file" && await isTar(entries[0].entry.source!)) {
        await this.#extract(entries[0].entry.source!, dest, put);
        continue;
      }
      for (const { rel, entry } of entries) {
        if (rel === "") {
          if (entry.type === "dir") continue; // a directory's contents go into dest; dest keeps its own metadata
          put(destIsDir ? posix.join(dest, posix.basename(path)) : dest, entry);
        } else put(posix.join(dest, rel), entry);
      }
    }
    dest = dest.replace(/\/+$/, "");
    const layer = await writeLayer(layerEntries, this.options.workDir, {
      mtime: this.options.epoch,
      gzipLevel: this.options.gzipLevel,
      signal: this.options.signal,
    });
    state.layers.push({
      kind: "new",
      desc: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
      layer,
    });
    state.added.push(...added);
    state.config.addLayer(layer.diffId, ins.text);
  }

  /** ADD of a local tar (plain or gzip): its entries under `dest`. */
  async #extract(archive: string, dest: string, put: (path: string, e: FsEntry) => void): Promise<void> {
    const tree = new FileTree();
    let stream = readFileStream(archive);
    if (await isGzipFile(archive)) stream = stream.pipeThrough(gunzipStream());
    await tree.applyTar(stream, this.options.workDir, archive);
    for (const [path, entry] of [...tree.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      put(posix.join(dest, path), entry);
    }
  }
}

/** TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT (or the BUILD… ones) of a platform. */
function platformArgs(prefix: string, platform: Platform): Record<string, string> {
  const p = normalizePlatform(platform);
  return {
    [`${prefix}PLATFORM`]: formatPlatform(p),
    [`${prefix}OS`]: p.os,
    [`${prefix}ARCH`]: p.architecture,
    [`${prefix}VARIANT`]: p.variant ?? "",
  };
}

/** `--chown=UID[:GID]` with numeric ids (or root). */
function chownOf(value: string, fail: (reason: string) => Error): { uid: number; gid: number } {
  const [user, group = user] = value.split(":");
  const id = (s: string) => (s === "root" ? 0 : /^\d+$/.test(s) ? Number(s) : NaN);
  const uid = id(user);
  const gid = id(group);
  if (Number.isNaN(uid) || Number.isNaN(gid)) {
    throw fail(`--chown=${value}: use numeric ids (UID[:GID]); ferry build does not look up user names in the image`);
  }
  return { uid, gid };
}

/** `--chmod=0755` (octal). */
function chmodOf(value: string, fail: (reason: string) => Error): number {
  if (!/^[0-7]{3,4}$/.test(value)) throw fail(`--chmod=${value}: expected octal permissions like 0755`);
  return parseInt(value, 8);
}

async function head(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const buffer = new Uint8Array(n);
    const { bytesRead } = await fh.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Whether a file is a tar archive, plain or gzipped (what ADD extracts). */
async function isTar(path: string): Promise<boolean> {
  let bytes: Uint8Array;
  if (await isGzipFile(path)) {
    const reader = readFileStream(path).pipeThrough(gunzipStream()).getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      while (total < 512) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        total += value.byteLength;
      }
    } catch {
      return false;
    } finally {
      await reader.cancel().catch(() => {});
    }
    bytes = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
  } else bytes = await head(path, 512);
  return bytes.byteLength >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar";
}
