/**
 * Platforms: `os/arch[/variant]` strings and short aliases (`arm64`, `armv7`), normalised like
 * containerd's `platforms` package, formatted, labelled for file names and matched against index entries.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Platform } from "./descriptor.ts";

/** Bare names users type without an OS (all Linux), as `[architecture, variant?]`. */
const ALIASES: Record<string, [string, string?]> = {
  amd64: ["amd64"],
  x86_64: ["amd64"],
  "x86-64": ["amd64"],
  arm64: ["arm64"],
  aarch64: ["arm64"],
  arm64v8: ["arm64", "v8"],
  arm: ["arm"],
  armv7: ["arm", "v7"],
  armv6: ["arm", "v6"],
  armv5: ["arm", "v5"],
  armhf: ["arm", "v7"],
  armel: ["arm", "v6"],
  arm32v7: ["arm", "v7"],
  arm32v6: ["arm", "v6"],
  arm32v5: ["arm", "v5"],
  "386": ["386"],
  i386: ["386"],
  i686: ["386"],
  ppc64le: ["ppc64le"],
  s390x: ["s390x"],
  riscv64: ["riscv64"],
  mips64le: ["mips64le"],
  loong64: ["loong64"],
};

const COMPONENT_RE = /^[a-z0-9_.-]+$/;

/** The wildcard a platform filter may have as its OS, architecture or variant (`linux/*`: every Linux image). */
export const ANY = "*";

/**
 * Options of {@link parsePlatform} and {@link parsePlatformList}.
 *
 * @example
 * ```ts
 * const filter: ParsePlatformOptions = { wildcards: true };
 * matchPlatform(parsePlatform("*\/arm64", filter), { os: "windows", architecture: "arm64" }); // true
 * ```
 */
export interface ParsePlatformOptions {
  /** Accept `*` as the OS, architecture or variant (`linux/*`): a filter, for {@link matchPlatform}. */
  wildcards?: boolean;
}

/**
 * Parses `os/arch[/variant]` or a bare Linux alias (`amd64`, `arm64`, `armv7`, `aarch64`, `x86_64`,
 * `armhf`, `i386`, …) into a normalised {@link Platform}. `linux/arm` keeps no variant, so it matches every
 * ARM variant; `windows-amd64` (a {@link platformLabel}) parses too. With `wildcards`, any part may be `*`
 * (`linux/*`: every Linux image). Throws a {@link UsageError} otherwise.
 *
 * @example
 * ```ts
 * parsePlatform("linux/arm/v7"); // { os: "linux", architecture: "arm", variant: "v7" }
 * parsePlatform("aarch64"); // { os: "linux", architecture: "arm64" }
 * parsePlatform("linux/*", { wildcards: true }); // { os: "linux", architecture: "*" }
 * ```
 */
export function parsePlatform(text: string, options: ParsePlatformOptions = {}): Platform {
  const fail = (reason: string) => new UsageError(`Cannot parse platform "${text}": ${reason}`);
  const lower = text.trim().toLowerCase();
  if (lower === "") throw fail("empty platform");
  if (!lower.includes("/")) {
    const label = parseLabel(lower);
    if (label) return label;
    throw fail("expected OS/ARCH[/VARIANT] like linux/arm64, or a short name like amd64, arm64, armv7, 386");
  }
  const parts = lower.split("/");
  if (parts.length > 3) throw fail("expected OS/ARCH[/VARIANT], got more than three parts");
  for (const part of parts) {
    if (part === "") throw fail("expected OS/ARCH[/VARIANT], got an empty part");
    if (part === ANY) {
      if (!options.wildcards) throw fail("a wildcard (*) is only for filters, this needs an exact platform");
      continue;
    }
    if (!COMPONENT_RE.test(part)) throw fail(`invalid characters in "${part}"`);
  }
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

/** A bare alias (`aarch64`), label (`armv7`, `amd64v3`) or OS-prefixed label (`windows-amd64`); undefined if none. */
function parseLabel(text: string): Platform | undefined {
  let os = "linux";
  let arch = text;
  const dash = text.indexOf("-");
  if (!ALIASES[text] && dash > 0 && KNOWN_OS.has(text.slice(0, dash))) {
    os = text.slice(0, dash);
    arch = text.slice(dash + 1);
  }
  const alias = ALIASES[arch];
  if (alias) return normalizePlatform({ os, architecture: alias[0], variant: alias[1] });
  const m = /^([a-z0-9_]+?)(v[0-9]+(?:\.[0-9]+)?)$/.exec(arch);
  const base = m ? ALIASES[m[1]] : undefined;
  if (m && base && base[1] === undefined) return normalizePlatform({ os, architecture: base[0], variant: m[2] });
  return undefined;
}

/** Operating systems as Go (and so the OCI image spec) spells them: `GOOS` values. */
export const KNOWN_OS: ReadonlySet<string> = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "wasip1",
  "windows",
  "zos",
]);

/** Architectures as Go spells them: `GOARCH` values. */
export const KNOWN_ARCH: ReadonlySet<string> = new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "arm64",
  "arm64be",
  "armbe",
  "loong64",
  "mips",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "mipsle",
  "ppc",
  "ppc64",
  "ppc64le",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
]);

/**
 * Normalises spelling like containerd (`aarch64`→`arm64`, `x86_64`→`amd64`, `armhf`→`arm/v7`, variant `7`→`v7`,
 * `macos`→`darwin`) without inventing a variant: `arm` with none stays unconstrained. Other fields are kept.
 */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase() === "macos" ? "darwin" : platform.os.toLowerCase();
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase() || undefined;
  const alias = ALIASES[architecture];
  if (alias) {
    architecture = alias[0];
    variant = alias[1] ?? variant;
  }
  if (variant !== undefined && /^[0-9]/.test(variant)) variant = `v${variant}`;
  if (architecture === "arm64" && variant === "v8.0") variant = "v8";
  if (architecture === "arm64" && variant === "v9.0") variant = "v9";
  const out: Platform = { ...platform, os, architecture };
  delete out.variant;
  if (variant !== undefined) out.variant = variant;
  return out;
}

/**
 * The `os/arch[/variant]` string of a platform.
 *
 * @example
 * ```ts
 * formatPlatform({ os: "linux", architecture: "arm64", variant: "v8" }); // "linux/arm64/v8"
 * ```
 */
export function formatPlatform(platform: Platform): string {
  const variant = platform.variant ? `/${platform.variant}` : "";
  return `${platform.os}/${platform.architecture}${variant}`;
}

/**
 * The `os(os.version)/arch[/variant]` string of a platform (containerd's `FormatAll`): {@link formatPlatform}
 * plus the Windows `os.version` when there is one, so entries that differ only in it read differently.
 *
 * @example
 * ```ts
 * formatPlatformAll({ os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" }); // "windows(10.0.17763.1)/amd64"
 * formatPlatformAll({ os: "linux", architecture: "arm", variant: "v7" }); // "linux/arm/v7"
 * ```
 */
export function formatPlatformAll(platform: Platform): string {
  const version = platform["os.version"] ? `(${platform["os.version"]})` : "";
  const variant = platform.variant ? `/${platform.variant}` : "";
  return `${platform.os}${version}/${platform.architecture}${variant}`;
}

/**
 * The short name users know, for file names and tags: `amd64`, `arm64` (with or without v8), `armv7`,
 * `386`, `ppc64le`; otherwise architecture plus variant (`amd64v3`, `arm64v9`); a non-Linux OS is prefixed
 * (`windows-amd64`).
 *
 * @example
 * ```ts
 * platformLabel({ os: "linux", architecture: "arm", variant: "v7" }); // "armv7"
 * platformLabel({ os: "linux", architecture: "arm64", variant: "v8" }); // "arm64"
 * ```
 */
export function platformLabel(platform: Platform): string {
  const p = normalizePlatform(platform);
  const variant = p.variant === undefined || isDefaultVariant(p.architecture, p.variant) ? "" : p.variant;
  const arch = `${p.architecture}${variant}`;
  return p.os === "linux" ? arch : `${p.os}-${arch}`;
}

/**
 * Whether an index entry's platform `have` satisfies the wanted platform `want`: same OS and architecture
 * after normalisation; a wanted variant must equal `have`'s (arm64's missing variant counts as v8, amd64's
 * as v1); a want without a variant matches every variant; a `*` part of `want` matches anything there.
 *
 * @example
 * ```ts
 * matchPlatform(parsePlatform("linux/arm"), { os: "linux", architecture: "arm", variant: "v6" }); // true
 * matchPlatform(parsePlatform("arm64"), { os: "linux", architecture: "arm64", variant: "v8" }); // true
 * matchPlatform(parsePlatform("linux/*", { wildcards: true }), { os: "windows", architecture: "amd64" }); // false
 * ```
 */
export function matchPlatform(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if ((w.os !== ANY && w.os !== h.os) || (w.architecture !== ANY && w.architecture !== h.architecture)) return false;
  if (w.variant === undefined || w.variant === ANY) return true;
  return canonicalVariant(w.architecture, w.variant) === canonicalVariant(h.architecture, h.variant);
}

function isDefaultVariant(architecture: string, variant: string): boolean {
  return (architecture === "arm64" && variant === "v8") || (architecture === "amd64" && variant === "v1");
}

function canonicalVariant(architecture: string, variant: string | undefined): string | undefined {
  return variant !== undefined && isDefaultVariant(architecture, variant) ? undefined : variant;
}

/**
 * Parses repeatable `--platform` flag values, each a comma list, into distinct platforms (first
 * occurrence order), or `"all"` when nothing or `all` is given. A filter, so `*` may stand for the OS,
 * architecture or variant (`linux/*`, or `*` before `/arm64`) unless `wildcards` is false. Throws a {@link UsageError}
 * for a bad entry.
 *
 * @example
 * ```ts
 * parsePlatformList(["linux/amd64,arm64", "amd64"]); // [{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" }]
 * parsePlatformList(["linux/*"]); // [{ os: "linux", architecture: "*" }]: every Linux image
 * parsePlatformList(undefined); // "all"
 * ```
 */
export function parsePlatformList(
  values: string[] | undefined,
  options: ParsePlatformOptions = {},
): Platform[] | "all" {
  if (!values || values.length === 0) return "all";
  const out = new Map<string, Platform>();
  let all = false;
  for (const value of values) {
    const items = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (items.length === 0) throw new UsageError(`Cannot parse platform "${value}": empty platform`);
    for (const item of items) {
      if (item.toLowerCase() === "all") {
        all = true;
        continue;
      }
      const p = parsePlatform(item, { wildcards: options.wildcards ?? true });
      const key = `${p.os}/${p.architecture}/${canonicalVariant(p.architecture, p.variant) ?? ""}`;
      if (!out.has(key)) out.set(key, p);
    }
  }
  return all ? "all" : [...out.values()];
}

/**
 * The platform an image config declares (os, architecture, variant, os.version, os.features), or undefined
 * when it names no os and architecture (an artifact's empty config, a malformed one). The one reading of a
 * config's platform: copy, export, import, manifest lists and build all use it.
 *
 * @example
 * ```ts
 * platformOfConfig({ os: "linux", architecture: "arm", variant: "v7" }); // { os: "linux", architecture: "arm", variant: "v7" }
 * platformOfConfig({}); // undefined
 * ```
 */
export function platformOfConfig(config: object): Platform | undefined {
  const fields = config as Record<string, unknown>;
  const text = (
    key: string,
  ) => (typeof fields[key] === "string" && fields[key] !== "" ? fields[key] as string : undefined);
  const os = text("os");
  const architecture = text("architecture");
  if (!os || !architecture) return undefined;
  const platform: Platform = { os, architecture };
  const variant = text("variant");
  if (variant) platform.variant = variant;
  const osVersion = text("os.version");
  if (osVersion) platform["os.version"] = osVersion;
  const features = fields["os.features"];
  if (Array.isArray(features) && features.length > 0 && features.every((f) => typeof f === "string")) {
    platform["os.features"] = features as string[];
  }
  return platform;
}
