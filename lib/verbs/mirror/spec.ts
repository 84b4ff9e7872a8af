/**
 * The mirror spec: which images go where, read from a YAML file (`ferry mirror -c mirror.yaml`) or
 * built from a prefix and a list of images (`ferry mirror -d PREFIX IMAGE...`). Validated strictly:
 * an unknown key is an error, so a typo never silently mirrors the wrong thing.
 *
 * @module
 */
// deno-lint-ignore no-sloppy-imports -- a .js with its .d.ts beside it, which deno lint takes for sloppy
import { parse as parseYaml } from "../../vendor/yaml.js";
import { UsageError } from "../../errors.ts";
import { parsePlatformList } from "../../oci/platform.ts";
import { parseReference, type Reference } from "../../ref/reference.ts";

/**
 * One source: a single image (`image`) or every tag of a repository (`repository`) passing `tags`.
 *
 * @example
 * ```ts
 * const source: MirrorSource = { repository: "area51/jenkins", tags: { allow: ["^2\\."] }, target: "ci/jenkins" };
 * await mirror({ target: "127.0.0.1:5000/mirror", sources: [source] });
 * ```
 */
export interface MirrorSource {
  /** `alpine:3.19`, `ghcr.io/org/app@sha256:…`; without tag or digest, `latest`. */
  image?: string;
  /** `area51/jenkins`: every tag (from `tags/list`) that `tags` lets through. */
  repository?: string;
  /** Tag filters of a repository source (JavaScript regular expressions, unanchored). */
  tags?: { allow?: string[]; deny?: string[] };
  /** Platforms to keep (`linux/amd64`, `arm64`); default the spec's `platforms`, else all. */
  platforms?: string[];
  /** Repository path under the target prefix; default the source's path (`library/alpine`). */
  target?: string;
}

/**
 * Rate-limit settings, applied per source registry.
 *
 * @example
 * ```ts
 * const rateLimit: MirrorRateLimit = { reserve: 10, perMinute: 100, maxDelay: 30 };
 * await mirror({ target: "127.0.0.1:5000/mirror", sources: [{ image: "alpine" }], rateLimit });
 * ```
 */
export interface MirrorRateLimit {
  /** Slow down once a registry's `RateLimit-Remaining` is at or below this; default 10. */
  reserve?: number;
  /** At most this many manifest requests per minute to one source registry. */
  perMinute?: number;
  /** The longest pause between two paced requests, in seconds; default 30. */
  maxDelay?: number;
}

/**
 * A whole mirror job, as the YAML file spells it.
 *
 * @example
 * ```ts
 * const spec: MirrorSpec = {
 *   target: "127.0.0.1:5000/mirror",
 *   platforms: ["linux/amd64", "linux/arm64"],
 *   sources: [{ image: "hello-world" }, { image: "ghcr.io/org/app:1.2" }],
 * };
 * await mirror(spec);
 * ```
 */
export interface MirrorSpec {
  /** `registry.example.com/mirror`: a registry host and an optional path every target goes under. */
  target: string;
  /** The images and repositories to mirror. */
  sources: MirrorSource[];
  /** Default platforms of every source. */
  platforms?: string[];
  /** Images mirrored at once (default 3). */
  concurrency?: number;
  /** Blobs transferred at once per image (default 6). */
  jobs?: number;
  /** Retries of failed registry requests (default 3). */
  retries?: number;
  /** Pacing of manifest requests per source registry. */
  rateLimit?: MirrorRateLimit;
}

/** A target prefix split into its registry and repository path. */
export interface MirrorPrefix {
  registry: string;
  /** Path under the registry, without slashes at either end; "" for the registry's root. */
  path: string;
}

const SPEC_KEYS = ["target", "sources", "platforms", "concurrency", "jobs", "retries", "rateLimit"];
const SOURCE_KEYS = ["image", "repository", "tags", "platforms", "target"];
const TAGS_KEYS = ["allow", "deny"];
const RATE_KEYS = ["reserve", "perMinute", "maxDelay"];

/**
 * Parses and validates a mirror spec written in YAML; `name` (the file) prefixes error messages.
 *
 * @example
 * ```ts
 * const spec = parseMirrorSpec(`
 * target: 127.0.0.1:5000/mirror
 * sources:
 *   - image: alpine:3.19
 *   - repository: area51/jenkins
 *     tags: { allow: ['^2\\.'] }
 * `);
 * ```
 */
export function parseMirrorSpec(text: string, name = "mirror spec"): MirrorSpec {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new UsageError(`Cannot read ${name}: invalid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  return validateMirrorSpec(data, name);
}

/** Checks a spec object (parsed YAML or built in code) and returns it typed; throws a UsageError naming the first problem. */
export function validateMirrorSpec(data: unknown, name = "mirror spec"): MirrorSpec {
  const fail = (where: string, reason: string) => new UsageError(`Cannot read ${name}: ${where}: ${reason}`);
  const spec = object(data, "the top level", SPEC_KEYS, fail);
  if (typeof spec.target !== "string") {
    throw fail("target", "expected a registry prefix like registry.example.com/mirror");
  }
  try {
    parsePrefix(spec.target);
  } catch (err) {
    throw fail("target", (err as Error).message);
  }
  if (!Array.isArray(spec.sources) || spec.sources.length === 0) throw fail("sources", "expected a non-empty list");
  const out: MirrorSpec = { target: spec.target, sources: [] };
  if (spec.platforms !== undefined) out.platforms = platforms(spec.platforms, "platforms", fail);
  for (const key of ["concurrency", "jobs", "retries"] as const) {
    if (spec[key] !== undefined) out[key] = integer(spec[key], key, key === "retries" ? 0 : 1, 64, fail);
  }
  if (spec.rateLimit !== undefined) {
    const rate = object(spec.rateLimit, "rateLimit", RATE_KEYS, fail);
    out.rateLimit = {};
    if (rate.reserve !== undefined) out.rateLimit.reserve = integer(rate.reserve, "rateLimit.reserve", 0, 1e9, fail);
    if (rate.perMinute !== undefined) {
      out.rateLimit.perMinute = integer(rate.perMinute, "rateLimit.perMinute", 1, 1e9, fail);
    }
    if (rate.maxDelay !== undefined) {
      out.rateLimit.maxDelay = integer(rate.maxDelay, "rateLimit.maxDelay", 0, 3600, fail);
    }
  }
  spec.sources.forEach((raw: unknown, i: number) => {
    const where = `sources[${i}]`;
    const s = object(raw, where, SOURCE_KEYS, fail);
    if ((s.image === undefined) === (s.repository === undefined)) {
      throw fail(where, 'expected exactly one of "image" and "repository"');
    }
    const source: MirrorSource = {};
    if (s.image !== undefined) {
      if (typeof s.image !== "string") throw fail(`${where}.image`, "expected a string");
      checkReference(s.image, `${where}.image`, fail);
      if (s.tags !== undefined) throw fail(`${where}.tags`, 'tag filters apply to a "repository" source');
      source.image = s.image;
    } else {
      if (typeof s.repository !== "string") throw fail(`${where}.repository`, "expected a string");
      const ref = checkReference(s.repository, `${where}.repository`, fail);
      if (ref.tag !== undefined || ref.digest !== undefined) {
        throw fail(`${where}.repository`, "a repository has no tag or digest");
      }
      source.repository = s.repository;
    }
    if (s.tags !== undefined) {
      const tags = object(s.tags, `${where}.tags`, TAGS_KEYS, fail);
      source.tags = {};
      for (const key of ["allow", "deny"] as const) {
        if (tags[key] !== undefined) source.tags[key] = regexes(tags[key], `${where}.tags.${key}`, fail);
      }
    }
    if (s.platforms !== undefined) source.platforms = platforms(s.platforms, `${where}.platforms`, fail);
    if (s.target !== undefined) {
      if (typeof s.target !== "string" || s.target === "") throw fail(`${where}.target`, "expected a repository path");
      checkReference(`${out.target.split("/")[0]}/${s.target}`, `${where}.target`, fail);
      source.target = s.target.replace(/^\/+|\/+$/g, "");
    }
    out.sources.push(source);
  });
  return out;
}

/**
 * Splits a target prefix (`registry.example.com/mirror`, `127.0.0.1:5000`) into registry and path.
 * The first component must name a registry (contain `.` or `:`, or be `localhost`).
 */
export function parsePrefix(prefix: string): MirrorPrefix {
  const trimmed = prefix.replace(/^docker:\/\//, "").replace(/\/+$/, "");
  const slash = trimmed.indexOf("/");
  const registry = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const path = slash < 0 ? "" : trimmed.slice(slash + 1);
  const fail = (reason: string) => new UsageError(`Cannot use "${prefix}" as a target prefix: ${reason}`);
  if (!/[.:]/.test(registry) && registry !== "localhost") {
    throw fail("it must start with a registry host, e.g. registry.example.com/mirror");
  }
  try {
    parseReference(`${registry}/${path || "x"}`);
  } catch (err) {
    throw fail((err as Error).message);
  }
  return { registry, path };
}

/**
 * The spec of `ferry mirror -d PREFIX IMAGE...`: each image (or, with `allTags`, each repository's
 * tags through the filters) under the prefix.
 */
export function specFromImages(
  prefix: string,
  images: string[],
  options: { allTags?: boolean; allow?: string[]; deny?: string[]; platforms?: string[] } = {},
): MirrorSpec {
  const tags = options.allow || options.deny ? { allow: options.allow, deny: options.deny } : undefined;
  const sources = images.map((image) => options.allTags ? { repository: image, ...(tags ? { tags } : {}) } : { image });
  return validateMirrorSpec(
    JSON.parse(
      JSON.stringify({ target: prefix, sources, ...(options.platforms ? { platforms: options.platforms } : {}) }),
    ),
    "the arguments",
  );
}

type Fail = (where: string, reason: string) => UsageError;

function object(value: unknown, where: string, keys: string[], fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail(where, "expected a mapping");
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      const hint = keys.find((k) => k.toLowerCase() === key.toLowerCase() || similar(k, key));
      throw fail(where, `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}; expected ${keys.join(", ")}`);
    }
  }
  return value as Record<string, unknown>;
}

function similar(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  let same = 0;
  for (const ch of new Set(a)) if (b.includes(ch)) same++;
  return same >= Math.max(a.length, b.length) - 2;
}

function integer(value: unknown, where: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw fail(where, `expected a whole number from ${min} to ${max}`);
  }
  return value;
}

function strings(value: unknown, where: string, fail: Fail): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) throw fail(where, "expected a list of strings");
  return list as string[];
}

function platforms(value: unknown, where: string, fail: Fail): string[] {
  const list = strings(value, where, fail);
  try {
    parsePlatformList(list);
  } catch (err) {
    throw fail(where, (err as Error).message);
  }
  return list;
}

function regexes(value: unknown, where: string, fail: Fail): string[] {
  const list = strings(value, where, fail);
  for (const re of list) {
    try {
      new RegExp(re);
    } catch (err) {
      throw fail(where, `invalid regular expression /${re}/: ${(err as Error).message}`);
    }
  }
  return list;
}

function checkReference(text: string, where: string, fail: Fail): Reference {
  try {
    return parseReference(text);
  } catch (err) {
    throw fail(where, (err as Error).message);
  }
}
