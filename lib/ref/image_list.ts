/**
 * A list of images, as YAML: the `sources` of a `ferry mirror -c` spec, which `ferry export -f` reads too, so one
 * file serves both. Each entry is a single image (`image`) or every tag of a repository (`repository`) passing tag
 * filters, with optional `platforms` and `target` (mirror: the path under the target prefix; a bundle: the name the
 * image is carried under). Validated strictly: an unknown key is an error, so a typo never silently picks the wrong
 * thing.
 *
 * @module
 */
// deno-lint-ignore no-sloppy-imports -- a .js with its .d.ts beside it, which deno lint takes for sloppy
import { parse as parseYaml } from "../vendor/yaml.js";
import { UsageError } from "../errors.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { formatReference, parseReference, type Reference } from "./reference.ts";

/**
 * One source: a single image (`image`) or every tag of a repository (`repository`) passing `tags`.
 *
 * @example
 * ```ts
 * const source: ImageSource = { repository: "area51/jenkins", tags: { allow: ["^2\\."] }, target: "ci/jenkins" };
 * ```
 */
export interface ImageSource {
  /** `alpine:3.19`, `ghcr.io/org/app@sha256:…`; without tag or digest, `latest`. */
  image?: string;
  /** `area51/jenkins`: every tag (from `tags/list`) that `tags` lets through. */
  repository?: string;
  /** Tag filters of a repository source (JavaScript regular expressions, unanchored). */
  tags?: { allow?: string[]; deny?: string[] };
  /** Platforms to keep (`linux/amd64`, `arm64`); default the list's `platforms`, else all. */
  platforms?: string[];
  /** Mirror: the repository path under the target prefix; export: the name the image is carried under. */
  target?: string;
}

/**
 * A list of images with its default platforms, see {@link parseImageList}.
 *
 * @example
 * ```ts
 * const list: ImageList = { sources: [{ image: "alpine:3.20" }], platforms: ["linux/amd64"] };
 * ```
 */
export interface ImageList {
  /** The images and repositories. */
  sources: ImageSource[];
  /** Default platforms of every source. */
  platforms?: string[];
}

/** Builds the error of a check: `where` is the key path (`sources[2].image`). */
export type Fail = (where: string, reason: string) => UsageError;

const SOURCE_KEYS = ["image", "repository", "tags", "platforms", "target"];
const TAGS_KEYS = ["allow", "deny"];
/** The other keys of a mirror spec: a mirror file is an image list too (export ignores them). */
const MIRROR_KEYS = ["target", "concurrency", "jobs", "retries", "rateLimit"];

/**
 * Parses a list of images written in YAML: a mapping with `sources` (and optional `platforms`; a `ferry mirror -c`
 * spec's other keys are allowed and ignored), or a bare list of sources. `name` (the file) prefixes error messages.
 *
 * @example
 * ```ts
 * const list = parseImageList(`
 * platforms: [linux/amd64, linux/arm64]
 * sources:
 *   - image: nginx:1.27
 *   - repository: ghcr.io/org/app
 *     tags: { allow: ['^2\\.'] }
 * `, "images.yaml");
 * console.log(list.sources.length); // 2
 * ```
 */
export function parseImageList(text: string, name = "image list"): ImageList {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new UsageError(`Cannot read ${name}: invalid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const fail: Fail = (where, reason) => new UsageError(`Cannot read ${name}: ${where}: ${reason}`);
  const top = Array.isArray(data) ? { sources: data } : checkObject(data, "the top level", [
    "sources",
    "platforms",
    ...MIRROR_KEYS,
  ], fail);
  if (!Array.isArray(top.sources) || top.sources.length === 0) throw fail("sources", "expected a non-empty list");
  const out: ImageList = { sources: [] };
  if (top.platforms !== undefined) out.platforms = checkPlatforms(top.platforms, "platforms", fail);
  top.sources.forEach((raw: unknown, i: number) => {
    out.sources.push(validateImageSource(raw, `sources[${i}]`, fail, checkBundleName));
  });
  return out;
}

/** A bundle's `target`: a repository name (`docker.io/library/nginx`, `team/app`), no tag or digest. */
function checkBundleName(target: string, where: string, fail: Fail): string {
  const ref = checkReference(target, where, fail);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    const name = formatReference({ ...ref, tag: undefined, digest: undefined }, { short: true });
    throw fail(where, `expected a repository name without a tag or digest (the source's tag is kept): ${name}`);
  }
  return target;
}

/**
 * Checks one source entry (parsed YAML or built in code); `checkTarget` validates its `target` (and returns it
 * normalised), as mirror and export read it differently.
 */
export function validateImageSource(
  raw: unknown,
  where: string,
  fail: Fail,
  checkTarget: (target: string, where: string, fail: Fail) => string,
): ImageSource {
  const s = checkObject(raw, where, SOURCE_KEYS, fail);
  if ((s.image === undefined) === (s.repository === undefined)) {
    throw fail(where, 'expected exactly one of "image" and "repository"');
  }
  const source: ImageSource = {};
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
    const tags = checkObject(s.tags, `${where}.tags`, TAGS_KEYS, fail);
    source.tags = {};
    for (const key of ["allow", "deny"] as const) {
      if (tags[key] !== undefined) source.tags[key] = regexes(tags[key], `${where}.tags.${key}`, fail);
    }
  }
  if (s.platforms !== undefined) source.platforms = checkPlatforms(s.platforms, `${where}.platforms`, fail);
  if (s.target !== undefined) {
    if (typeof s.target !== "string" || s.target === "") throw fail(`${where}.target`, "expected a repository path");
    source.target = checkTarget(s.target, `${where}.target`, fail);
  }
  return source;
}

/** `value` as a mapping whose keys are all among `keys` (an unknown one is refused, with a hint). */
export function checkObject(value: unknown, where: string, keys: string[], fail: Fail): Record<string, unknown> {
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

function strings(value: unknown, where: string, fail: Fail): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) throw fail(where, "expected a list of strings");
  return list as string[];
}

/** A list of platforms (`linux/amd64`, `arm64`, comma lists), each checked. */
export function checkPlatforms(value: unknown, where: string, fail: Fail): string[] {
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

/** `text` parsed as a docker reference, or the check's error. */
export function checkReference(text: string, where: string, fail: Fail): Reference {
  try {
    return parseReference(text);
  } catch (err) {
    throw fail(where, (err as Error).message);
  }
}

/** A target prefix split into its registry and repository path. */
export interface MirrorPrefix {
  registry: string;
  /** Path under the registry, without slashes at either end; "" for the registry's root. */
  path: string;
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
