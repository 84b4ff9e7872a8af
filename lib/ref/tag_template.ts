/**
 * The one tag-template language of `export --tag`, `split --tag-template` and `manifest push from-args
 * --template`: `{name}` placeholders filled from a platform (and, where the verb has them, a repository and
 * a tag). A template is parsed, and so validated, before any work starts; an unknown placeholder is a
 * {@link UsageError} naming the valid ones.
 *
 * | placeholder   | value                                                                  | linux/arm64/v8 | linux/arm/v7 | windows/amd64 10.0.17763.1 |
 * | ------------- | ---------------------------------------------------------------------- | -------------- | ------------ | -------------------------- |
 * | `{os}`        | the OS, normalised (`macos` → `darwin`)                                | `linux`        | `linux`      | `windows`                  |
 * | `{arch}`      | the architecture, normalised (`aarch64` → `arm64`, `x86_64` → `amd64`) | `arm64`        | `arm`        | `amd64`                    |
 * | `{variant}`   | the variant, normalised; empty for the default (arm64 v8, amd64 v1)    | ``             | `v7`         | ``                         |
 * | `{label}`     | `{arch}{variant}`, prefixed `{os}-` off Linux                          | `arm64`        | `armv7`      | `windows-amd64`            |
 * | `{osversion}` | the platform's `os.version` (Windows), else empty                      | ``             | ``           | `10.0.17763.1`             |
 * | `{repo}`      | the repository (export: the source's; from-args: `--target`'s)         |                |              |                            |
 * | `{tag}`       | the tag (export, split: the source's; from-args: `--target`'s)         |                |              |                            |
 *
 * `push from-args` also takes manifest-tool's bare `OS`, `ARCH` and `VARIANT`: `OS` and `ARCH` are `{os}` and
 * `{arch}`, while `VARIANT` is manifest-tool's own, the variant exactly as written in `--platforms` (so
 * `linux/arm64/v8` with `ARCHVARIANT` names `arm64v8`, as manifest-tool does, and `{arch}{variant}` names `arm64`).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Platform } from "../oci/descriptor.ts";
import { normalizePlatform, platformLabel } from "../oci/platform.ts";
import { parseReference } from "./reference.ts";

/** Every placeholder, in the order error messages list them. */
export const TAG_PLACEHOLDERS = ["repo", "tag", "label", "os", "arch", "variant", "osversion"] as const;

/** One placeholder's name, without the braces. */
export type TagPlaceholder = typeof TAG_PLACEHOLDERS[number];

/** `export`'s RepoTags of each file unless `--tag` says otherwise: `127.0.0.1:5000/app:1.0-arm64`. */
export const DEFAULT_EXPORT_REPO_TAG = "{repo}:{tag}-{label}";

/** `split`'s tag of each platform unless `--tag-template` says otherwise: `1.0-amd64`, `1.0-arm64`, `1.0-armv7`. */
export const DEFAULT_SPLIT_TAG = "{tag}-{arch}{variant}";

/**
 * What a verb tells {@link parseTagTemplate}.
 *
 * @example
 * ```ts
 * const options: TagTemplateOptions = { flag: "--tag-template", available: ["tag", "label", "os", "arch", "variant", "osversion"] };
 * parseTagTemplate("{tag}-{label}", options);
 * ```
 */
export interface TagTemplateOptions {
  /** The flag the template came from, for messages (`--tag`, `--tag-template`, `--template`). */
  flag: string;
  /** The placeholders this verb fills; the others are refused as not available here. Default: all. */
  available?: readonly TagPlaceholder[];
  /** Also read manifest-tool's bare `OS`, `ARCH` and `VARIANT` (`push from-args`). */
  manifestTool?: boolean;
}

/**
 * The values of one expansion besides the platform's.
 *
 * @example
 * ```ts
 * const values: TagTemplateValues = { repo: "127.0.0.1:5000/app", tag: "1.0" };
 * parseTagTemplate("{repo}:{tag}-{label}", { flag: "--tag" }).expand({ os: "linux", architecture: "amd64" }, values);
 * ```
 */
export interface TagTemplateValues {
  /** `{repo}`. */
  repo?: string;
  /** `{tag}`. */
  tag?: string;
  /** `{label}` instead of the platform's own (export's label made unique with a digest prefix). */
  label?: string;
}

/**
 * A parsed template: which placeholders it uses and how to fill it.
 *
 * @example
 * ```ts
 * const template: TagTemplate = parseTagTemplate("{tag}-{arch}{variant}", { flag: "--tag-template" });
 * template.expand({ os: "linux", architecture: "arm", variant: "v7" }, { tag: "1.0" }); // "1.0-armv7"
 * ```
 */
export interface TagTemplate {
  /** The template as given. */
  source: string;
  /** The placeholders it uses (manifest-tool's `OS`/`ARCH` count as `os`/`arch`, `VARIANT` as `variant`). */
  placeholders: TagPlaceholder[];
  /** The template filled for `platform`. */
  expand(platform: Platform, values?: TagTemplateValues): string;
}

type Token = { text: string } | { key: TagPlaceholder } | { key: "VARIANT" };

/**
 * Parses (and so validates) a tag template: an unknown placeholder, or one the verb does not fill, is a
 * {@link UsageError} naming the valid ones.
 *
 * @example
 * ```ts
 * parseTagTemplate("{tag}-{arch}{variant}", { flag: "--tag-template" })
 *   .expand({ os: "linux", architecture: "arm64", variant: "v8" }, { tag: "1.0" }); // "1.0-arm64"
 * parseTagTemplate("{tag}-{cpu}", { flag: "--tag-template" }); // UsageError: unknown placeholder {cpu} (use {repo} …)
 * ```
 */
export function parseTagTemplate(template: string, options: TagTemplateOptions): TagTemplate {
  const available = options.available ?? TAG_PLACEHOLDERS;
  const valid = available.map((p) => `{${p}}`).join(" ");
  const tokens: Token[] = [];
  const placeholders = new Set<TagPlaceholder>();
  const re = options.manifestTool ? /\{([^{}]*)\}|OS|ARCH|VARIANT/g : /\{([^{}]*)\}/g;
  let last = 0;
  for (const m of template.matchAll(re)) {
    if (m.index > last) tokens.push({ text: template.slice(last, m.index) });
    last = m.index + m[0].length;
    if (m[1] === undefined) {
      const key = m[0] === "OS" ? "os" : m[0] === "ARCH" ? "arch" : "VARIANT";
      tokens.push({ key });
      placeholders.add(key === "VARIANT" ? "variant" : key);
      continue;
    }
    const key = m[1] as TagPlaceholder;
    if (!(TAG_PLACEHOLDERS as readonly string[]).includes(key)) {
      throw new UsageError(`Cannot use ${options.flag} "${template}": unknown placeholder {${m[1]}} (use ${valid})`);
    }
    if (!available.includes(key)) {
      throw new UsageError(`Cannot use ${options.flag} "${template}": {${key}} is not available here (use ${valid})`);
    }
    tokens.push({ key });
    placeholders.add(key);
  }
  if (last < template.length) tokens.push({ text: template.slice(last) });
  return {
    source: template,
    placeholders: [...placeholders],
    expand(platform: Platform, values: TagTemplateValues = {}): string {
      const filled = platformValues(platform);
      const all: Record<TagPlaceholder | "VARIANT", string> = {
        ...filled,
        repo: values.repo ?? "",
        tag: values.tag ?? "",
        label: values.label ?? filled.label,
        VARIANT: platform.variant ?? "",
      };
      return tokens.map((t) => ("text" in t ? t.text : all[t.key])).join("");
    },
  };
}

/**
 * The platform's placeholders as a template fills them (see the module's table).
 *
 * @example
 * ```ts
 * platformValues({ os: "linux", architecture: "aarch64" }); // { os: "linux", arch: "arm64", variant: "", label: "arm64", osversion: "" }
 * ```
 */
export function platformValues(platform: Platform): Record<"os" | "arch" | "variant" | "label" | "osversion", string> {
  const p = normalizePlatform(platform);
  const isDefault = (p.architecture === "arm64" && p.variant === "v8") ||
    (p.architecture === "amd64" && p.variant === "v1");
  return {
    os: p.os,
    arch: p.architecture,
    variant: isDefault ? "" : p.variant ?? "",
    label: platformLabel(p),
    osversion: p["os.version"] ?? "",
  };
}

/**
 * Checks that `name`, a RepoTags entry a template gave, is a docker reference with a tag (`team/app:1.0-arm64`),
 * so a bad template is found when the export starts, not by `docker load` on the air-gapped host.
 *
 * @example
 * ```ts
 * checkRepoTag("team/app:1.0-arm64", "{repo}:{tag}-{label}", "--tag"); // "team/app:1.0-arm64"
 * checkRepoTag("Team/app:1.0+arm64", "{repo}:{tag}+{label}", "--tag"); // throws a UsageError
 * ```
 */
export function checkRepoTag(name: string, template: string, flag: string): string {
  let reason: string | undefined;
  try {
    const ref = parseReference(name);
    if (ref.digest !== undefined) reason = "it names a digest";
    else if (ref.tag === undefined) reason = "it has no tag";
  } catch (err) {
    reason = (err as Error).message.replace(/^Cannot parse reference "[^"]*": /, "");
  }
  if (reason === undefined) return name;
  throw new UsageError(
    `Cannot use ${flag} "${template}": it gives "${name}", which docker load cannot take (${reason})`,
  );
}
