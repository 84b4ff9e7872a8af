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
import {
  checkObject as object,
  checkPlatforms as platforms,
  checkReference,
  type Fail,
  type ImageSource,
  parsePrefix,
  validateImageSource,
} from "../../ref/image_list.ts";
export { type MirrorPrefix, parsePrefix } from "../../ref/image_list.ts";

/**
 * One source: a single image (`image`) or every tag of a repository (`repository`) passing `tags`; the shape
 * lives in lib/ref/image_list.ts, as `ferry export -f` reads the same list.
 *
 * @example
 * ```ts
 * const source: MirrorSource = { repository: "area51/jenkins", tags: { allow: ["^2\\."] }, target: "ci/jenkins" };
 * await mirror({ target: "127.0.0.1:5000/mirror", sources: [source] });
 * ```
 */
export type MirrorSource = ImageSource;

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

const SPEC_KEYS = ["target", "sources", "platforms", "concurrency", "jobs", "retries", "rateLimit"];
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
  const registry = out.target.split("/")[0];
  spec.sources.forEach((raw: unknown, i: number) => {
    out.sources.push(validateImageSource(raw, `sources[${i}]`, fail, (target, where, fail) => {
      checkReference(`${registry}/${target}`, where, fail);
      return target.replace(/^\/+|\/+$/g, "");
    }));
  });
  return out;
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

function integer(value: unknown, where: string, min: number, max: number, fail: Fail): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw fail(where, `expected a whole number from ${min} to ${max}`);
  }
  return value;
}
