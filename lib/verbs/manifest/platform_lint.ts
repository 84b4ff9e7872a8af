/**
 * Platform hygiene for manifest lists: entries whose platform disagrees with the image config, ARM entries
 * without a variant (`architecture: arm` and no `v7`, the common mistake), unknown os/arch spellings and two
 * entries for one platform. Pure functions; `ferry manifest inspect --check`, `create` and `push from-spec` use them.
 *
 * @module
 */
import type { Platform } from "../../oci/descriptor.ts";
import { formatPlatform, KNOWN_ARCH, KNOWN_OS, normalizePlatform } from "../../oci/platform.ts";

/**
 * What kind of problem an issue is.
 *
 * @example
 * ```ts
 * const kinds: PlatformIssueKind[] = lintPlatforms([]).map((issue) => issue.kind);
 * ```
 */
export type PlatformIssueKind = "missing" | "unknown-os" | "unknown-arch" | "arm-variant" | "mismatch" | "duplicate";

/**
 * One problem found by {@link lintPlatforms}.
 *
 * @example
 * ```ts
 * const issues: PlatformIssue[] = lintPlatforms([{ digest: "sha256:" + "0".repeat(64), platform: { os: "linux", architecture: "arm" } }]);
 * for (const issue of issues) console.error(`${issue.kind}: ${issue.message}`);
 * ```
 */
export interface PlatformIssue {
  /** What kind of problem it is. */
  kind: PlatformIssueKind;
  /** The entry's digest. */
  digest: string;
  /** The component it came from, when known. */
  image?: string;
  /** One line, e.g. `linux/arm without a variant: add one (v7?)`. */
  message: string;
}

/**
 * One entry to check: its platform in the list and, when known, what its config says.
 *
 * @example
 * ```ts
 * const entry: LintEntry = { digest: "sha256:" + "0".repeat(64), platform: { os: "linux", architecture: "arm" } };
 * lintPlatforms([entry]); // [{ kind: "arm-variant", … }]
 * ```
 */
export interface LintEntry {
  /** The entry's digest. */
  digest: string;
  /** The component it came from, when known. */
  image?: string;
  /** Its platform in the list. */
  platform?: Platform;
  /** The platform its image config names, when known. */
  configPlatform?: Platform;
}

/**
 * Where the list's platforms come from, so a hint names what the user can change: docker's flags (`annotate
 * --variant`, the default), manifest-tool's YAML spec (`variant: v7`) or `from-args --platforms`.
 *
 * @example
 * ```ts
 * const options: LintOptions = { source: "spec" };
 * lintPlatforms([{ digest: "sha256:" + "0".repeat(64), platform: { os: "linux", architecture: "arm" } }], options);
 * // [{ kind: "arm-variant", message: 'linux/arm without a variant: add "variant: v7" (or v6 …) to its platform in the spec' }]
 * ```
 */
export interface LintOptions {
  /** `flags` (default), `spec` or `args`. */
  source?: "flags" | "spec" | "args";
}

/** The spelling problems of one platform (unknown os or architecture), as issue kinds and messages. */
export function checkSpelling(platform: Platform): { kind: PlatformIssueKind; message: string }[] {
  const out: { kind: PlatformIssueKind; message: string }[] = [];
  if (!KNOWN_OS.has(platform.os)) {
    const norm = normalizePlatform(platform).os;
    const hint = norm !== platform.os && KNOWN_OS.has(norm) ? ` (did you mean ${norm}?)` : "";
    out.push({ kind: "unknown-os", message: `unknown os "${platform.os}"${hint}` });
  }
  if (!KNOWN_ARCH.has(platform.architecture)) {
    const norm = normalizePlatform({ os: "linux", architecture: platform.architecture });
    const hint = norm.architecture !== platform.architecture && KNOWN_ARCH.has(norm.architecture)
      ? ` (did you mean ${norm.architecture}${norm.variant ? ` with variant ${norm.variant}` : ""}?)`
      : "";
    out.push({ kind: "unknown-arch", message: `unknown architecture "${platform.architecture}"${hint}` });
  }
  return out;
}

/**
 * The platform problems of a list's entries, in entry order (attestations should be left out by the caller).
 *
 * @example
 * ```ts
 * lintPlatforms([{ digest: "sha256:…", platform: { os: "linux", architecture: "arm" } }]);
 * // [{ kind: "arm-variant", message: "linux/arm without a variant: …" }]
 * ```
 */
export function lintPlatforms(entries: LintEntry[], options: LintOptions = {}): PlatformIssue[] {
  const issues: PlatformIssue[] = [];
  const seen = new Map<string, LintEntry>();
  for (const e of entries) {
    const add = (kind: PlatformIssueKind, message: string) =>
      issues.push({ kind, digest: e.digest, ...(e.image ? { image: e.image } : {}), message });
    const p = e.platform;
    if (!p || !p.os || !p.architecture) {
      add("missing", "no platform: set one with --os and --arch");
      continue;
    }
    for (const s of checkSpelling(p)) add(s.kind, `${formatPlatform(p)}: ${s.message}`);
    if (p.architecture === "arm" && !p.variant) {
      add("arm-variant", `linux/arm without a variant: ${armHint(e, options)}`);
    }
    const c = e.configPlatform;
    if (c && c.os && c.architecture) {
      const a = normalizePlatform(p);
      const b = normalizePlatform(c);
      const variantsDiffer = a.variant !== undefined && b.variant !== undefined && canonical(a) !== canonical(b);
      if (a.os !== b.os || a.architecture !== b.architecture || variantsDiffer) {
        add("mismatch", `the list says ${formatPlatform(p)} but the image config says ${formatPlatform(c)}`);
      }
    }
    const key = platformKey(p);
    const other = seen.get(key);
    if (other) {
      const who = other.image ?? other.digest;
      add("duplicate", `a second entry for ${formatPlatform(p)} (also ${who})`);
    } else seen.set(key, e);
  }
  return issues;
}

function armHint(e: LintEntry, options: LintOptions): string {
  const said = e.configPlatform?.variant;
  const config = said ? ` (the image config says ${said})` : "";
  switch (options.source) {
    case "spec":
      return `add "variant: ${said ?? "v7"}"${said ? "" : " (or v6 …)"} to its platform in the spec${config}`;
    case "args":
      return `name it in --platforms, e.g. linux/arm/${said ?? "v7"}${config}`;
    default:
      return `add one with --variant${said ? config : " (v7? v6?)"}`;
  }
}

/**
 * A key equal for platforms a runtime cannot tell apart: normalised os/arch/variant (arm64's v8 and amd64's v1
 * are their defaults) plus os.version.
 */
export function platformKey(p: Platform): string {
  const n = normalizePlatform(p);
  return `${canonical(n)}|${n["os.version"] ?? ""}`;
}

function canonical(p: Platform): string {
  const v = p.variant;
  const isDefault = (p.architecture === "arm64" && v === "v8") || (p.architecture === "amd64" && v === "v1");
  return `${p.os}/${p.architecture}/${isDefault ? "" : v ?? ""}`;
}
