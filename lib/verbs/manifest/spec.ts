/**
 * manifest-tool's YAML spec (`manifest-tool push from-spec`), parsed and validated: unknown keys, bad
 * references and bad platforms are one-line errors before anything touches a registry. `from-args` builds the
 * same spec from `--platforms`, `--template`, `--target` and `--tags`.
 *
 * @module
 */
// deno-lint-ignore no-sloppy-imports -- a .js with its .d.ts beside it, which deno lint takes for sloppy
import { isScalar, parseDocument, visit } from "../../vendor/yaml.js";
import { UsageError } from "../../errors.ts";
import type { Platform } from "../../oci/descriptor.ts";
import { formatPlatform } from "../../oci/platform.ts";
import { formatReference, isValidTag, parseReference } from "../../ref/reference.ts";
import { parseTagTemplate } from "../../ref/tag_template.ts";
import { checkSpelling, platformKey } from "./platform_lint.ts";

/**
 * One component of a spec: an image and, optionally, the platform the list should give it.
 *
 * @example
 * ```ts
 * const entry: ManifestSpecEntry = { image: "127.0.0.1:5000/app:1.0-armv7", platform: { os: "linux", architecture: "arm", variant: "v7" } };
 * ```
 */
export interface ManifestSpecEntry {
  /** Canonical reference of the component image. */
  image: string;
  /** The platform for the list; taken from the image config when absent. */
  platform?: Platform;
}

/**
 * A parsed spec: the list to push, extra tags, components, index annotations.
 *
 * @example
 * ```ts
 * const spec: ManifestSpec = {
 *   image: "127.0.0.1:5000/app:1.0",
 *   tags: ["latest"],
 *   manifests: [{ image: "127.0.0.1:5000/app:1.0-amd64", platform: { os: "linux", architecture: "amd64" } }],
 * };
 * await pushManifestSpec(spec);
 * ```
 */
export interface ManifestSpec {
  /** Canonical reference of the list, with its tag (`latest` when none was given). */
  image: string;
  /** More tags for the same list. */
  tags: string[];
  /** The images of the list and their platforms. */
  manifests: ManifestSpecEntry[];
  /** Annotations of the list itself. */
  annotations?: Record<string, string>;
  /** `args` when built by {@link manifestSpecFromArgs} (hints then name `--platforms`), else a YAML spec. */
  origin?: "spec" | "args";
}

const TOP_KEYS = ["image", "tags", "manifests", "annotations"];
const ENTRY_KEYS = ["image", "platform"];
// Go's yaml lowercases ocispec.Platform's field names: OSVersion → osversion, OSFeatures → osfeatures. The OCI
// JSON names (os.version, os.features) are taken too: manifest-tool would silently drop them.
const PLATFORM_KEYS = [
  "architecture",
  "os",
  "variant",
  "features",
  "osversion",
  "osfeatures",
  "os.version",
  "os.features",
];

/**
 * Parses and validates manifest-tool YAML. Throws a {@link UsageError} naming the file and the key at fault.
 *
 * @example
 * ```ts
 * const spec = parseManifestSpec(`
 * image: 127.0.0.1:5000/app:1.0
 * tags: [latest]
 * manifests:
 *   - image: 127.0.0.1:5000/app:1.0-arm
 *     platform: { architecture: arm, os: linux, variant: v7 }
 * `);
 * spec.manifests[0].platform; // { os: "linux", architecture: "arm", variant: "v7" }
 * ```
 */
export function parseManifestSpec(text: string, options: { file?: string } = {}): ManifestSpec {
  const where = options.file ?? "the spec";
  const fail = (reason: string) => new UsageError(`Cannot read ${where}: ${reason}`);
  let doc: unknown;
  try {
    doc = parseStrings(text);
  } catch (err) {
    throw fail(`not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const top = object(doc, "the document", fail);
  keysOf(top, TOP_KEYS, "", fail);
  const image = reference(top.image, "image", fail, true);
  const tags = list(top.tags, "tags", fail).map((t, i) => {
    const tag = String(t);
    if (!isValidTag(tag)) throw fail(`tags[${i}]: invalid tag "${tag}"`);
    return tag;
  });
  const items = list(top.manifests, "manifests", fail);
  if (items.length === 0) throw fail('"manifests" lists no images');
  const manifests = items.map((item, i) => {
    const entry = object(item, `manifests[${i}]`, fail);
    keysOf(entry, ENTRY_KEYS, `manifests[${i}].`, fail);
    const out: ManifestSpecEntry = { image: reference(entry.image, `manifests[${i}].image`, fail, false) };
    if (entry.platform !== undefined && entry.platform !== null) {
      out.platform = platformOf(entry.platform, `manifests[${i}].platform`, fail);
    }
    return out;
  });
  checkDuplicates(manifests, fail);
  const spec: ManifestSpec = { image, tags, manifests };
  if (top.annotations !== undefined && top.annotations !== null) {
    const a = object(top.annotations, "annotations", fail);
    spec.annotations = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, String(v)]));
  }
  return spec;
}

/**
 * Inputs of `push from-args`, as manifest-tool names them.
 *
 * @example
 * ```ts
 * const args: ManifestArgs = {
 *   platforms: ["linux/amd64", "linux/arm64"],
 *   template: "127.0.0.1:5000/app:1.0-ARCH",
 *   target: "127.0.0.1:5000/app:1.0",
 *   tags: ["latest"],
 * };
 * await pushManifestSpec(manifestSpecFromArgs(args));
 * ```
 */
export interface ManifestArgs {
  /** `linux/amd64,linux/arm/v7` (comma lists, repeatable). */
  platforms: string[];
  /**
   * Component reference per platform: manifest-tool's `OS`, `ARCH`, `VARIANT` (the variant as written in
   * `platforms`), or ferry's tag-template placeholders (lib/ref/tag_template.ts), `{repo}` and `{tag}` being
   * `target`'s: `repo:1.0-ARCHVARIANT`, `{repo}:{tag}-{label}`.
   */
  template: string;
  /** The list to push. */
  target: string;
  /** More tags for the list. */
  tags?: string[];
}

/**
 * The spec `push from-args` stands for: one component per platform, named by the template.
 *
 * @example
 * ```ts
 * manifestSpecFromArgs({ platforms: ["linux/amd64,linux/arm/v7"], template: "r/app:1.0-ARCHVARIANT", target: "r/app:1.0" });
 * // manifests: r/app:1.0-amd64 (linux/amd64), r/app:1.0-armv7 (linux/arm/v7)
 * ```
 */
export function manifestSpecFromArgs(args: ManifestArgs): ManifestSpec {
  const fail = (reason: string) => new UsageError(`Cannot push from-args: ${reason}`);
  const template = parseTagTemplate(args.template, { flag: "--template", manifestTool: true });
  if (!template.placeholders.some((p) => p !== "repo" && p !== "tag")) {
    throw fail(
      `--template "${args.template}" has no OS or ARCH placeholder (nor {os} {arch} {variant} {label} {osversion})`,
    );
  }
  const image = reference(args.target, "--target", fail, true);
  const target = parseReference(image);
  const values = { repo: formatReference({ ...target, tag: undefined }), tag: target.tag };
  const platforms = args.platforms.flatMap((p) => p.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  if (platforms.length === 0) throw fail("--platforms lists no platforms");
  const manifests = platforms.map((text) => {
    const parts = text.split("/");
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
      throw fail(`platform "${text}" is not OS/ARCH[/VARIANT]`);
    }
    const [os, architecture, variant] = parts;
    const platform: Platform = { os, architecture, ...(variant ? { variant } : {}) };
    const spelling = checkSpelling(platform);
    if (spelling.length > 0) throw fail(`platform "${text}": ${spelling[0].message}`);
    return { image: reference(template.expand(platform, values), `--template for ${text}`, fail, false), platform };
  });
  checkDuplicates(manifests, fail);
  const tags = (args.tags ?? []).flatMap((t) => t.split(",")).map((t) => t.trim()).filter((t) => t !== "");
  for (const tag of tags) if (!isValidTag(tag)) throw fail(`--tags: invalid tag "${tag}"`);
  return { image, tags, manifests, origin: "args" };
}

type Fail = (reason: string) => UsageError;

/**
 * YAML → JS with every number and boolean read as its source text, as Go's yaml does for manifest-tool's string
 * fields: `architecture: 386` is "386", `variant: 8` is "8", `osversion: 1.10` stays "1.10" (not 1.1). Nulls stay.
 */
function parseStrings(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, keepSourceTokens: true });
  if (doc.errors.length > 0) throw doc.errors[0];
  visit(doc, {
    Scalar(_key, node) {
      if (!isScalar(node) || (typeof node.value !== "number" && typeof node.value !== "boolean")) return;
      const source = node.srcToken && "source" in node.srcToken ? node.srcToken.source : undefined;
      node.value = source ?? String(node.value);
    },
  });
  return doc.toJS();
}

function object(value: unknown, what: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail(`${what} must be a mapping`);
  return value as Record<string, unknown>;
}

function list(value: unknown, what: string, fail: Fail): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fail(`"${what}" must be a list`);
  return value;
}

function keysOf(obj: Record<string, unknown>, allowed: string[], prefix: string, fail: Fail): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw fail(`unknown key "${prefix}${key}" (expected ${allowed.join(", ")})`);
  }
}

function reference(value: unknown, what: string, fail: Fail, withTag: boolean): string {
  if (typeof value !== "string" || value === "") throw fail(`"${what}" must be an image reference`);
  let ref;
  try {
    ref = parseReference(value);
  } catch (err) {
    throw fail(`${what}: ${(err as Error).message}`);
  }
  if (withTag && ref.digest) throw fail(`${what} "${value}" must name a tag, not a digest`);
  return formatReference(withTag && ref.tag === undefined ? { ...ref, tag: "latest" } : ref);
}

function platformOf(value: unknown, what: string, fail: Fail): Platform {
  const p = object(value, what, fail);
  keysOf(p, PLATFORM_KEYS, `${what}.`, fail);
  for (const [go, oci] of [["osversion", "os.version"], ["osfeatures", "os.features"]]) {
    if (p[go] !== undefined && p[oci] !== undefined) throw fail(`${what} has both "${go}" and "${oci}"`);
    if (p[oci] !== undefined) p[go] = p[oci];
  }
  for (const key of ["architecture", "os", "variant", "osversion"]) {
    if (p[key] !== undefined && p[key] !== null && typeof p[key] !== "string") {
      throw fail(`${what}.${key} must be a string`);
    }
  }
  if (!p.os || !p.architecture) throw fail(`${what} needs both "os" and "architecture"`);
  const platform: Platform = { os: p.os as string, architecture: p.architecture as string };
  if (p.variant) platform.variant = p.variant as string;
  if (p.osversion) platform["os.version"] = p.osversion as string;
  for (const [key, field] of [["osfeatures", "os.features"], ["features", "features"]] as const) {
    if (p[key] === undefined || p[key] === null) continue;
    if (!Array.isArray(p[key]) || !(p[key] as unknown[]).every((f) => typeof f === "string")) {
      throw fail(`${what}.${key} must be a list of strings`);
    }
    platform[field] = p[key] as string[];
  }
  const spelling = checkSpelling(platform);
  if (spelling.length > 0) throw fail(`${what}: ${spelling[0].message}`);
  return platform;
}

function checkDuplicates(entries: ManifestSpecEntry[], fail: Fail): void {
  const seen = new Map<string, string>();
  for (const e of entries) {
    if (!e.platform) continue;
    const key = platformKey(e.platform);
    const other = seen.get(key);
    if (other) throw fail(`two images for ${formatPlatform(e.platform)}: ${other} and ${e.image}`);
    seen.set(key, e.image);
  }
}
