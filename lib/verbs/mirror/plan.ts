/**
 * Mirroring past one machine: `ferry mirror plan` resolves a spec into a versioned JSON plan (every image with its
 * source digest, target, platforms, the manifest requests it will cost, whether the target has it, and the source
 * registries' rate-limit budgets); `ferry mirror run --plan plan.json --shard K/N` executes one shard of it, in as
 * many processes as an engine (Kubernetes Indexed Job, Argo, Tekton, a GitHub Actions matrix) starts; `ferry mirror
 * merge` fans their results in. Plan and run are the two halves of `mirror()`: the same session, split at the file.
 *
 * A shard is the items whose target repository hashes to it: the first 8 bytes of the SHA-256 of `host/path` (e.g.
 * `registry.example.com/mirror/library/alpine`), read as a big-endian unsigned integer, modulo N. Every tag of a
 * repository lands in one shard, so no two workers ever push into the same repository at once.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { FileError, FormatError, UsageError } from "../../errors.ts";
import { fileErrorOf, writeFileAtomic } from "../../stream/files.ts";
import { isDigest } from "../../oci/digest.ts";
import { isManifest } from "../../oci/media_types.ts";
import { parsePlatformList } from "../../oci/platform.ts";
import { parseReference, type Reference, repositoryName } from "../../ref/reference.ts";
import { budgetOf, type MirrorBudget } from "./budget.ts";
import {
  type MirrorImageResult,
  type MirrorItem,
  type MirrorResult,
  namesOf,
  openSession,
  plannedImage,
  type ResolvedItem,
  type SessionOptions,
  summarizeMirror,
} from "./mirror.ts";
import { type MirrorSpec, parsePrefix, validateMirrorSpec } from "./spec.ts";

/** The largest plan or result file ferry reads. */
export const MAX_PLAN_BYTES = 64 * 1024 * 1024;
const MAX_ITEMS = 200_000;
const MAX_STRING = 4096;

/**
 * One shard of N: `{ index: 2, count: 4 }` is `--shard 2/4` (indexes from 0, as `JOB_COMPLETION_INDEX`).
 *
 * @example
 * ```ts
 * const shard: MirrorShard = parseShard("2/4");
 * ```
 */
export interface MirrorShard {
  index: number;
  count: number;
}

/**
 * One image of a plan, as the plan file spells it.
 *
 * @example
 * ```ts
 * const item: MirrorPlanItem = plan.items[0];
 * console.log(item.source, item.sourceDigest, "→", item.target, item.present ? "present" : `${item.manifestRequests} pulls`);
 * ```
 */
export interface MirrorPlanItem {
  /** The source as named in the spec, e.g. `alpine:3.20` or `127.0.0.1:5000/app:1.0`; read by `sourceDigest`. */
  source: string;
  /** What the source tag pointed at when planned: the run copies exactly this. */
  sourceDigest: string;
  /** Media type and size of that root. */
  sourceMediaType: string;
  sourceSize: number;
  /** Where it goes, with its tag: `registry.example.com/mirror/library/alpine:3.20`. */
  target: string;
  /** The root the target gets: `sourceDigest`, or the index narrowed to `platformFilter`. */
  digest: string;
  /** The platforms asked for (spec or `--platform`); absent for all. */
  platformFilter?: string[];
  /** Platforms of the root, when it was fetched (it is not for an image already present). */
  platforms?: string[];
  /** The target had it at plan time (the run checks again). */
  present: boolean;
  /** Manifest GETs to the source the copy will make (0 when present). */
  manifestRequests: number;
}

/**
 * A plan: what `ferry mirror plan --json` writes and `ferry mirror run --plan` reads.
 *
 * @example
 * ```ts
 * const plan: MirrorPlan = await planMirror(parseMirrorSpec(await Deno.readTextFile("mirror.yaml")));
 * await Deno.writeTextFile("plan.json", JSON.stringify(plan, null, 2));
 * ```
 */
export interface MirrorPlan {
  version: 1;
  /** The target prefix. */
  target: string;
  /** The spec's run settings, which `run` uses (its flags win). */
  settings: Pick<MirrorSpec, "concurrency" | "jobs" | "retries" | "rateLimit">;
  /** Set when planned for one shard only (`plan --shard`). */
  shard?: MirrorShard;
  /** The images, in spec order. */
  items: MirrorPlanItem[];
  /** Images or repositories that could not be resolved (not in `items`). */
  failures: { source: string; target: string; error: string }[];
  /** Each source registry that announced a rate limit, against what the items need from it. */
  budgets: MirrorBudget[];
  /** Manifest GETs the run will make, all items together. */
  manifestRequests: number;
}

/**
 * What one `ferry mirror run` wrote: the summary of its shard, and the plan items to retry.
 *
 * @example
 * ```ts
 * const result: MirrorShardResult = await runMirrorPlan(plan, { shard: { index: 0, count: 4 } });
 * if (result.failed > 0) console.log(result.retry.map((i) => i.source));
 * ```
 */
export interface MirrorShardResult extends MirrorResult {
  version: 1;
  /** The identity of the plan run: `sha256:` of its items (see {@link planId}); merge checks results agree. */
  plan: string;
  /** Which shard; `{ index: 0, count: 1 }` for a whole plan. */
  shard: MirrorShard;
  /** The plan items of this shard that failed or were not attempted. */
  retry: MirrorPlanItem[];
}

/**
 * `ferry mirror merge`: the shards' results as one.
 *
 * @example
 * ```ts
 * const merged: MirrorMergeResult = mergeMirrorResults(results);
 * if (merged.failed > 0 || merged.missing.length > 0) await Deno.writeTextFile("retry.json", JSON.stringify(merged.retryPlan));
 * ```
 */
export interface MirrorMergeResult extends MirrorResult {
  plan: string;
  /** Shards of the plan, those merged and those whose result is missing. */
  shards: number;
  merged: number[];
  missing: number[];
  /** A plan of everything not done: the failed and skipped items (and, given the plan, the missing shards' items). */
  retryPlan: MirrorPlan;
}

/**
 * The shard (0 … count−1) a target belongs to: the first 8 bytes of SHA-256 of its repository (`host/path`, no tag),
 * big-endian, modulo `count`.
 *
 * @example
 * ```ts
 * shardOf("registry.example.com/mirror/library/alpine:3.20", 4); // the same for every tag of the repository
 * ```
 */
export function shardOf(target: string | Reference, count: number): number {
  const ref = typeof target === "string" ? parseReference(target) : target;
  const hash = createHash("sha256").update(repositoryName(ref)).digest();
  return Number(hash.readBigUInt64BE(0) % BigInt(count));
}

/**
 * Parses `K/N` (`--shard 2/4`): 0 ≤ K < N ≤ 10 000.
 *
 * @example
 * ```ts
 * parseShard("2/4"); // { index: 2, count: 4 }
 * ```
 */
export function parseShard(text: string, what = "--shard"): MirrorShard {
  const m = /^(\d{1,5})\/(\d{1,5})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || count > 10_000 || index >= count) {
    throw new UsageError(`Cannot parse ${what} "${text}": expected K/N with 0 ≤ K < N ≤ 10000, e.g. 0/4`);
  }
  return { index, count };
}

/**
 * The identity of a plan: `sha256:` of its items as JSON. Results of the same plan carry the same id.
 *
 * @example
 * ```ts
 * console.log(planId(plan)); // sha256:…
 * ```
 */
export function planId(plan: MirrorPlan): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(plan.items)).digest("hex")}`;
}

/** Options of {@link planMirror}. */
export interface PlanMirrorOptions extends SessionOptions {
  /** Plan only the images of this shard (each worker plans its own; the cost is its shard's). */
  shard?: MirrorShard;
}

/**
 * Resolves `spec` into a plan, writing nothing: tag filters applied, each image HEADed at both ends, roots fetched
 * for the images the target lacks (to count their platforms and manifest requests), the sources' announced rate
 * limits read. Images that cannot be resolved are listed in `failures` (the plan goes on past them).
 *
 * @example
 * ```ts
 * const plan = await planMirror({ target: "127.0.0.1:5001/mirror", sources: [{ image: "127.0.0.1:5000/app:1.0" }] });
 * console.log(plan.items.filter((i) => !i.present).length, "to copy,", plan.manifestRequests, "manifest requests");
 * ```
 */
export async function planMirror(spec: MirrorSpec, options: PlanMirrorOptions = {}): Promise<MirrorPlan> {
  spec = validateMirrorSpec(spec);
  const session = openSession(spec, { ...options, keepGoing: true });
  const resolved: ResolvedItem[] = [];
  try {
    let items: MirrorItem[] = await session.expand();
    if (options.shard) {
      items = items.filter((item) => shardOf(item.target, options.shard!.count) === options.shard!.index);
    }
    await session.each(items, namesOf, async (item, i) => {
      resolved[i] = await session.resolve(item, true);
      return plannedImage(resolved[i]);
    });
  } finally {
    session.close();
  }
  const planItems = resolved.filter(Boolean).map(planItemOf);
  const needed = new Map<string, number>();
  for (const r of resolved) {
    if (r && !r.present) needed.set(r.sourceHost, (needed.get(r.sourceHost) ?? 0) + r.manifestRequests);
  }
  const settings: MirrorPlan["settings"] = {};
  for (const key of ["concurrency", "jobs", "retries", "rateLimit"] as const) {
    if (spec[key] !== undefined) (settings as Record<string, unknown>)[key] = spec[key];
  }
  return {
    version: 1,
    target: spec.target,
    settings,
    ...(options.shard ? { shard: options.shard } : {}),
    items: planItems,
    failures: session.images.filter((i) => i.status === "failed").map((i) => ({
      source: i.source,
      target: i.target,
      error: i.error ?? "",
    })),
    budgets: [...session.budgets].map(([host, info]) => budgetOf(host, info, needed.get(host) ?? 0)),
    manifestRequests: planItems.reduce((n, i) => n + i.manifestRequests, 0),
  };
}

function planItemOf(r: ResolvedItem): MirrorPlanItem {
  return {
    source: r.source,
    sourceDigest: r.sourceRoot.digest,
    sourceMediaType: r.sourceRoot.mediaType,
    sourceSize: r.sourceRoot.size,
    target: r.target,
    digest: r.root.digest,
    ...(r.platformFilter ? { platformFilter: r.platformFilter } : {}),
    ...(r.platforms ? { platforms: r.platforms } : {}),
    present: r.present,
    manifestRequests: r.present ? 0 : r.manifestRequests,
  };
}

/** Options of {@link runMirrorPlan}. */
export interface RunMirrorPlanOptions extends SessionOptions {
  /** Run only this shard of the plan (default: all of it, as shard 0/1). */
  shard?: MirrorShard;
}

/**
 * Runs the items of `plan` in `options.shard`: each checked again at the target (present → done, so a rerun after
 * a kill redoes nothing already done), else its planned source digest copied and its tag written last. Returns the
 * shard's result whatever failed (`failed`, `retry`); throws only when interrupted.
 *
 * @example
 * ```ts
 * const result = await runMirrorPlan(plan, { shard: { index: 1, count: 4 }, keepGoing: true });
 * console.log(result.copied, result.present, result.failed);
 * ```
 */
export async function runMirrorPlan(plan: MirrorPlan, options: RunMirrorPlanOptions = {}): Promise<MirrorShardResult> {
  plan = validateMirrorPlan(plan);
  const shard = options.shard ?? { index: 0, count: 1 };
  const spec: MirrorSpec = { target: plan.target, sources: [], ...plan.settings };
  const session = openSession(spec, { budgetShares: shard.count, ...options });
  const items = plan.items.filter((item) => shardOf(item.target, shard.count) === shard.index);
  try {
    await session.each(
      items,
      (item) => ({ source: item.source, target: item.target }),
      (item) => session.execute(resolvedOf(item, session.sourceHostOf), true),
    );
  } catch (err) {
    if (options.signal?.aborted) throw err;
    // The first failure without keepGoing: the images it stopped are recorded skipped, and all go in the result.
  } finally {
    session.close();
  }
  const images = session.images.filter(Boolean);
  const done = new Set(images.filter((i) => i.status === "copied" || i.status === "present").map((i) => i.target));
  return {
    version: 1,
    plan: planId(plan),
    shard,
    ...summarizeMirror(plan.target, images, false),
    retry: items.filter((item) => !done.has(item.target)),
  };
}

function resolvedOf(item: MirrorPlanItem, hostOf: (ref: Reference) => string): ResolvedItem {
  const named = parseReference(item.source);
  const sourceRef: Reference = { registry: named.registry, repository: named.repository, digest: item.sourceDigest };
  const sourceRoot = { mediaType: item.sourceMediaType, digest: item.sourceDigest, size: item.sourceSize };
  return {
    source: item.source,
    target: item.target,
    sourceRef,
    targetRef: parseReference(item.target),
    sourceRoot,
    root: item.platformFilter ? { ...sourceRoot, digest: item.digest } : sourceRoot,
    ...(item.platformFilter ? { platformFilter: item.platformFilter } : {}),
    ...(item.platforms ? { platforms: item.platforms } : {}),
    present: item.present,
    manifestRequests: item.manifestRequests,
    sourceHost: hostOf(sourceRef),
  };
}

/**
 * Fans shard results in: one summary, the shards seen and missing, and a plan of what is left to do. Results of
 * different plans, or two results of one shard, are a {@link UsageError}. Given the `plan`, the items of missing
 * shards go into the retry plan too.
 *
 * @example
 * ```ts
 * const merged = mergeMirrorResults([await readResult("shard-0.json"), await readResult("shard-1.json")]);
 * console.log(merged.copied, merged.failed, merged.missing);
 * ```
 */
export function mergeMirrorResults(results: MirrorShardResult[], plan?: MirrorPlan): MirrorMergeResult {
  if (results.length === 0) throw new UsageError("Cannot merge: no shard results given");
  const id = results[0].plan;
  const count = results[0].shard.count;
  const seen = new Map<number, MirrorShardResult>();
  for (const r of results) {
    if (r.plan !== id || r.target !== results[0].target) {
      throw new UsageError(`Cannot merge the results of two plans (${id.slice(0, 19)}… and ${r.plan.slice(0, 19)}…)`);
    }
    if (r.shard.count !== count) {
      throw new UsageError(`Cannot merge shards of ${count} with shards of ${r.shard.count}`);
    }
    if (seen.has(r.shard.index)) throw new UsageError(`Cannot merge: two results of shard ${r.shard.index}/${count}`);
    seen.set(r.shard.index, r);
  }
  if (plan && planId(plan) !== id) throw new UsageError("Cannot merge: the results are not of the plan given");
  const images: MirrorImageResult[] = [];
  const targets = new Map<string, number>();
  for (const r of [...seen.values()].sort((a, b) => a.shard.index - b.shard.index)) {
    for (const image of r.images) {
      const other = targets.get(image.target);
      if (other !== undefined && other !== r.shard.index) {
        throw new UsageError(`Cannot merge: ${image.target} is in shards ${other} and ${r.shard.index}`);
      }
      targets.set(image.target, r.shard.index);
      images.push(image);
    }
  }
  const missing = [...Array(count).keys()].filter((k) => !seen.has(k));
  const retry = [...seen.values()].flatMap((r) => r.retry);
  if (plan) retry.push(...plan.items.filter((item) => missing.includes(shardOf(item.target, count))));
  return {
    ...summarizeMirror(results[0].target, images, false),
    plan: id,
    shards: count,
    merged: [...seen.keys()].sort((a, b) => a - b),
    missing,
    retryPlan: {
      version: 1,
      target: results[0].target,
      settings: plan?.settings ?? {},
      items: retry,
      failures: [],
      budgets: [],
      manifestRequests: retry.reduce((n, i) => n + i.manifestRequests, 0),
    },
  };
}

// ---- plan and result files: hostile input, every field checked ----

/** The text of a plan or result file, refused past {@link MAX_PLAN_BYTES} before it is read. */
export async function readDocument(file: string): Promise<string> {
  try {
    const { size } = await stat(file);
    if (size > MAX_PLAN_BYTES) throw new FormatError(`Cannot read ${file}: larger than ${MAX_PLAN_BYTES} bytes`);
    return await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FileError(`Cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes a JSON document (plan, result, retry plan) to `file`: a temp file, renamed into place. */
export async function writeDocument(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, `${text}\n`);
  } catch (err) {
    throw fileErrorOf(err, "write", file);
  }
}

type Json = Record<string, unknown>;

class Checker {
  constructor(readonly name: string) {}
  fail(where: string, reason: string): FormatError {
    return new FormatError(`Cannot read ${this.name}: ${where}: ${reason}`);
  }
  object(value: unknown, where: string, required: string[], optional: string[] = []): Json {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw this.fail(where, "expected an object");
    }
    for (const key of Object.keys(value)) {
      if (!required.includes(key) && !optional.includes(key)) throw this.fail(where, `unknown key "${key}"`);
    }
    for (const key of required) if (!(key in value)) throw this.fail(where, `missing "${key}"`);
    return value as Json;
  }
  string(value: unknown, where: string, max = MAX_STRING): string {
    if (typeof value !== "string" || value.length > max) throw this.fail(where, `expected a string (at most ${max})`);
    return value;
  }
  int(value: unknown, where: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw this.fail(where, `expected a whole number from ${min} to ${max}`);
    }
    return value;
  }
  bool(value: unknown, where: string): boolean {
    if (typeof value !== "boolean") throw this.fail(where, "expected true or false");
    return value;
  }
  array(value: unknown, where: string, max = MAX_ITEMS): unknown[] {
    if (!Array.isArray(value) || value.length > max) throw this.fail(where, `expected a list (at most ${max})`);
    return value;
  }
  digest(value: unknown, where: string): string {
    const d = this.string(value, where, 200);
    if (!isDigest(d)) throw this.fail(where, `"${d.slice(0, 80)}" is not a digest`);
    return d;
  }
  reference(value: unknown, where: string): Reference {
    const text = this.string(value, where, 1024);
    try {
      return parseReference(text);
    } catch (err) {
      throw this.fail(where, (err as Error).message);
    }
  }
  platforms(value: unknown, where: string): string[] {
    const list = this.array(value, where, 64).map((p, i) => this.string(p, `${where}[${i}]`, 200));
    try {
      parsePlatformList(list);
    } catch (err) {
      throw this.fail(where, (err as Error).message);
    }
    return list;
  }
  shard(value: unknown, where: string): MirrorShard {
    const s = this.object(value, where, ["index", "count"]);
    const count = this.int(s.count, `${where}.count`, 1, 10_000);
    return { index: this.int(s.index, `${where}.index`, 0, count - 1), count };
  }
}

/** JSON text of at most {@link MAX_PLAN_BYTES}, parsed. */
function parseJson(text: string, name: string): unknown {
  if (text.length > MAX_PLAN_BYTES) throw new FormatError(`Cannot read ${name}: larger than ${MAX_PLAN_BYTES} bytes`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(`Cannot read ${name}: invalid JSON: ${(err as Error).message.split("\n")[0]}`);
  }
}

/**
 * Parses and checks a plan file (`ferry mirror plan --json`); `name` (the file) prefixes error messages.
 *
 * @example
 * ```ts
 * const plan = parseMirrorPlan(await Deno.readTextFile("plan.json"), "plan.json");
 * ```
 */
export function parseMirrorPlan(text: string, name = "the plan"): MirrorPlan {
  return validateMirrorPlan(parseJson(text, name), name);
}

/** Checks a plan object field by field (version, references, digests, that every target is under the prefix). */
export function validateMirrorPlan(data: unknown, name = "the plan"): MirrorPlan {
  const c = new Checker(name);
  const top = c.object(data, "the top level", ["version", "target", "items"], [
    "settings",
    "shard",
    "failures",
    "budgets",
    "manifestRequests",
  ]);
  if (top.version !== 1) throw c.fail("version", `expected 1 (this ferry reads plans of version 1)`);
  const target = c.string(top.target, "target", 1024);
  let prefix;
  try {
    prefix = parsePrefix(target);
  } catch (err) {
    throw c.fail("target", (err as Error).message);
  }
  let settings: MirrorPlan["settings"] = {};
  if (top.settings !== undefined) {
    const raw = c.object(top.settings, "settings", [], ["concurrency", "jobs", "retries", "rateLimit"]);
    try {
      const { target: _t, sources: _s, ...checked } = validateMirrorSpec({ target, sources: [{ image: "x" }], ...raw });
      settings = checked;
    } catch (err) {
      throw c.fail("settings", (err as Error).message.replace(/^Cannot read [^:]*: /, ""));
    }
  }
  const items = c.array(top.items, "items").map((raw, i): MirrorPlanItem => {
    const where = `items[${i}]`;
    const o = c.object(
      raw,
      where,
      ["source", "sourceDigest", "sourceMediaType", "sourceSize", "target", "digest", "present", "manifestRequests"],
      ["platformFilter", "platforms"],
    );
    c.reference(o.source, `${where}.source`);
    const ref = c.reference(o.target, `${where}.target`);
    const under = prefix.path === "" || ref.repository === prefix.path || ref.repository.startsWith(`${prefix.path}/`);
    if (ref.registry !== prefix.registry || !under) {
      throw c.fail(`${where}.target`, `not under the plan's target ${target}`);
    }
    if (ref.tag === undefined && ref.digest === undefined) throw c.fail(`${where}.target`, "expected a tag or digest");
    const mediaType = c.string(o.sourceMediaType, `${where}.sourceMediaType`, 200);
    if (!isManifest(mediaType)) throw c.fail(`${where}.sourceMediaType`, `"${mediaType}" is not a manifest type`);
    const item: MirrorPlanItem = {
      source: o.source as string,
      sourceDigest: c.digest(o.sourceDigest, `${where}.sourceDigest`),
      sourceMediaType: mediaType,
      sourceSize: c.int(o.sourceSize, `${where}.sourceSize`, 1, 64 * 1024 * 1024),
      target: o.target as string,
      digest: c.digest(o.digest, `${where}.digest`),
      present: c.bool(o.present, `${where}.present`),
      manifestRequests: c.int(o.manifestRequests, `${where}.manifestRequests`, 0, 1_000_000),
    };
    if (ref.digest !== undefined && ref.digest !== item.digest) {
      throw c.fail(`${where}.target`, `its digest is not the item's ${item.digest}`);
    }
    if (o.platformFilter !== undefined) item.platformFilter = c.platforms(o.platformFilter, `${where}.platformFilter`);
    else if (item.digest !== item.sourceDigest) {
      throw c.fail(`${where}.digest`, "differs from sourceDigest without a platformFilter");
    }
    if (o.platforms !== undefined) {
      item.platforms = c.array(o.platforms, `${where}.platforms`, 1024).map((p, j) =>
        c.string(p, `${where}.platforms[${j}]`, 200)
      );
    }
    return item;
  });
  const seen = new Set<string>();
  for (const [i, item] of items.entries()) {
    if (seen.has(item.target)) throw c.fail(`items[${i}].target`, `${item.target} is planned twice`);
    seen.add(item.target);
  }
  const plan: MirrorPlan = {
    version: 1,
    target,
    settings,
    items,
    failures: [],
    budgets: [],
    manifestRequests: items.reduce((n, i) => n + i.manifestRequests, 0),
  };
  if (top.shard !== undefined) plan.shard = c.shard(top.shard, "shard");
  if (top.failures !== undefined) {
    plan.failures = c.array(top.failures, "failures").map((raw, i) => {
      const o = c.object(raw, `failures[${i}]`, ["source", "target", "error"]);
      return {
        source: c.string(o.source, `failures[${i}].source`),
        target: c.string(o.target, `failures[${i}].target`),
        error: c.string(o.error, `failures[${i}].error`),
      };
    });
  }
  if (top.budgets !== undefined) {
    plan.budgets = c.array(top.budgets, "budgets", 1000).map((raw, i) => {
      const w = `budgets[${i}]`;
      const o = c.object(raw, w, ["host", "remaining", "needed", "fits"], ["limit", "windowSeconds", "moreWindows"]);
      const b: MirrorBudget = {
        host: c.string(o.host, `${w}.host`, 1024),
        remaining: c.int(o.remaining, `${w}.remaining`),
        needed: c.int(o.needed, `${w}.needed`),
        fits: c.bool(o.fits, `${w}.fits`),
      };
      if (o.limit !== undefined) b.limit = c.int(o.limit, `${w}.limit`);
      if (o.windowSeconds !== undefined) b.windowSeconds = c.int(o.windowSeconds, `${w}.windowSeconds`);
      if (o.moreWindows !== undefined) b.moreWindows = c.int(o.moreWindows, `${w}.moreWindows`);
      return b;
    });
  }
  return plan;
}

const STATUSES = ["copied", "present", "planned", "failed", "skipped"];

/**
 * Parses and checks a shard result file (`ferry mirror run --json` or `-o`).
 *
 * @example
 * ```ts
 * const result = parseMirrorShardResult(await Deno.readTextFile("shard-0.json"), "shard-0.json");
 * ```
 */
export function parseMirrorShardResult(text: string, name = "the result"): MirrorShardResult {
  const c = new Checker(name);
  const data = parseJson(text, name);
  const o = c.object(data, "the top level", [
    "version",
    "plan",
    "shard",
    "target",
    "images",
    "retry",
  ], ["dryRun", "copied", "present", "planned", "failed", "skipped", "bytes", "manifestRequests"]);
  if (o.version !== 1) throw c.fail("version", "expected 1");
  const plan = c.digest(o.plan, "plan");
  const shard = c.shard(o.shard, "shard");
  const target = c.string(o.target, "target", 1024);
  const images = c.array(o.images, "images").map((raw, i): MirrorImageResult => {
    const w = `images[${i}]`;
    const m = c.object(raw, w, [
      "source",
      "target",
      "status",
      "copied",
      "skipped",
      "mounted",
      "bytes",
      "manifestRequests",
    ], [
      "digest",
      "platforms",
      "error",
      "skippedForeignLayers",
      "referrers",
    ]);
    const status = c.string(m.status, `${w}.status`, 20);
    if (!STATUSES.includes(status)) throw c.fail(`${w}.status`, `expected one of ${STATUSES.join(", ")}`);
    const image: MirrorImageResult = {
      source: c.string(m.source, `${w}.source`),
      target: c.string(m.target, `${w}.target`),
      status: status as MirrorImageResult["status"],
      copied: c.int(m.copied, `${w}.copied`),
      skipped: c.int(m.skipped, `${w}.skipped`),
      mounted: c.int(m.mounted, `${w}.mounted`),
      bytes: c.int(m.bytes, `${w}.bytes`),
      manifestRequests: c.int(m.manifestRequests, `${w}.manifestRequests`),
    };
    if (m.digest !== undefined) image.digest = c.digest(m.digest, `${w}.digest`);
    if (m.platforms !== undefined) {
      image.platforms = c.array(m.platforms, `${w}.platforms`, 1024).map((p, j) => c.string(p, `${w}.platforms[${j}]`));
    }
    if (m.error !== undefined) image.error = c.string(m.error, `${w}.error`, 16 * 1024);
    if (m.referrers !== undefined) {
      image.referrers = c.array(m.referrers, `${w}.referrers`).map((raw, j) => {
        const at = `${w}.referrers[${j}]`;
        const r = c.object(raw, at, ["digest", "mediaType", "subject"], ["artifactType", "tag"]);
        return {
          digest: c.digest(r.digest, `${at}.digest`),
          mediaType: c.string(r.mediaType, `${at}.mediaType`, 255),
          subject: c.digest(r.subject, `${at}.subject`),
          ...(r.artifactType !== undefined
            ? { artifactType: c.string(r.artifactType, `${at}.artifactType`, 255) }
            : {}),
          ...(r.tag !== undefined ? { tag: c.string(r.tag, `${at}.tag`, 128) } : {}),
        };
      });
    }
    return image;
  });
  // The retry items are plan items: checked as a plan of the same target.
  const retry = validateMirrorPlan({ version: 1, target, items: o.retry }, `${name} (retry)`).items;
  return { version: 1, plan, shard, retry, ...summarizeMirror(target, images, false) };
}
