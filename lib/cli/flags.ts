/**
 * Flags shared by commands that talk to registries, with skopeo's names, and their translation to options.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { cliSecretWarning } from "../verbs/login.ts";
import type { ImageCopyOptions } from "../engine/image_copy.ts";
import type { CommandIo, FlagSpec, ParsedArgs } from "./command.ts";
import { reportCopy } from "./output.ts";

/** Network timeouts (issue #15), in seconds; 0 turns one off. */
export const timeoutFlags: Record<string, FlagSpec> = {
  "connect-timeout": {
    type: "string",
    value: "SECONDS",
    description: "Give up opening a connection to a registry after this long (default 30; 0: never)",
  },
  timeout: {
    type: "string",
    value: "SECONDS",
    description: "Give up waiting for a registry's answer (or a credential helper's) after this long (default 60)",
  },
  "idle-timeout": {
    type: "string",
    value: "SECONDS",
    description: "Give up on a transfer that stalls this long between two chunks (default 60)",
  },
};

/** Flags for commands with a source and a destination. */
export const transferFlags: Record<string, FlagSpec> = {
  "src-creds": { type: "string", value: "USER:PASS", description: "Credentials for the source registry" },
  "dest-creds": { type: "string", value: "USER:PASS", description: "Credentials for the destination registry" },
  "plain-http": {
    type: "boolean",
    description: "Use plain HTTP for registries (else HTTPS first; loopback hosts fall back to HTTP)",
  },
  insecure: { type: "boolean", description: "Skip TLS certificate verification (as --tls-verify=false)" },
  authfile: { type: "string", value: "PATH", description: "Docker config.json to read credentials from" },
  retries: { type: "string", value: "N", description: "Retries for failed registry requests (default 3)" },
  jobs: { type: "string", short: "j", value: "N", description: "Blobs transferred at once (default 6)" },
  ...tlsFlags("both"),
  ...timeoutFlags,
};

/** crane's flag to copy non-distributable (foreign) layers instead of leaving them out. */
export const nondistributableFlags: Record<string, FlagSpec> = {
  "allow-nondistributable-artifacts": {
    type: "boolean",
    description: "Also copy foreign (non-distributable) layers, e.g. Windows base layers; the source must have them",
  },
};

/** `--no-resume`: discard what a crashed run left beside the output (`.ferry-resume/`) and start clean (issue #20). */
export const resumeFlags: Record<string, FlagSpec> = {
  "no-resume": {
    type: "boolean",
    description:
      "Start clean: drop the blobs a killed run left in .ferry-resume/ beside the output (default: continue them)",
  },
};

/** The `resume` option of copy, export and import from `--no-resume`. */
export function resumeOptionOf(args: ParsedArgs): { resume?: false } {
  return args.values["no-resume"] === true ? { resume: false } : {};
}

/** Whether referrers (signatures, attestations, SBOMs) travel with the image, and which (issue #18). */
export const referrerFlags: Record<string, FlagSpec> = {
  referrers: {
    type: "boolean",
    description: "Carry the image's signatures, attestations and SBOMs (referrers API or cosign/fallback tags) " +
      "with it (default true; --referrers=false copies the image only)",
  },
  "artifact-type": {
    type: "string",
    multiple: true,
    value: "TYPE",
    description: "Carry only referrers of this artifact type (and what refers to them), e.g. application/spdx+json",
  },
};

/** `--referrers[=false]` and `--artifact-type T` as verb options. */
export function referrerOptionsOf(args: ParsedArgs): { referrers: boolean; artifactTypes?: string[] } {
  const types = listFlag(args, "artifact-type");
  if (args.values.referrers === false && types) {
    throw new UsageError("Cannot use --artifact-type with --referrers=false: no referrers are carried");
  }
  return { referrers: args.values.referrers !== false, ...(types ? { artifactTypes: types } : {}) };
}

/** Flags for commands that read one registry. */
export const readFlags: Record<string, FlagSpec> = {
  creds: { type: "string", value: "USER:PASS", description: "Credentials for the registry" },
  "plain-http": transferFlags["plain-http"],
  insecure: transferFlags.insecure,
  authfile: transferFlags.authfile,
  retries: transferFlags.retries,
  ...tlsFlags("one"),
  ...timeoutFlags,
};

// --- TLS flags (issue #15): skopeo's names; --src-/--dest- variants where an end has its own. ---

/** `--tls-verify[=false]` and `--cert-dir DIR`, and for two ends also their `--src-`/`--dest-` forms. */
export function tlsFlags(ends: "one" | "both"): Record<string, FlagSpec> {
  const flags: Record<string, FlagSpec> = {
    "tls-verify": {
      type: "boolean",
      description: "Verify TLS certificates (the default; --tls-verify=false skips it, as --insecure does)",
    },
    "cert-dir": {
      type: "string",
      value: "DIR",
      description: "CA certificates (*.crt) and client.cert/client.key for TLS (default: the registry's certs.d " +
        "directory: ~/.docker/certs.d/HOST:PORT, /etc/docker/certs.d, /etc/containers/certs.d)",
    },
  };
  if (ends === "one") return flags;
  for (const end of ["src", "dest"]) {
    const which = end === "src" ? "the source" : "the destination";
    flags[`${end}-tls-verify`] = { type: "boolean", description: `--tls-verify for ${which} only` };
    flags[`${end}-cert-dir`] = { type: "string", value: "DIR", description: `--cert-dir for ${which} only` };
  }
  return flags;
}

/** A duration flag in seconds (fractions allowed) as milliseconds, or undefined. */
export function secondsFlag(args: ParsedArgs, name: string): number | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 86_400) {
    throw new UsageError(`Cannot parse --${name} "${value}": expected seconds from 0 to 86400`);
  }
  return Math.round(n * 1000);
}

/**
 * Takes `--NAME=true` / `--NAME=false` of boolean flags out of `argv` (parseArgs refuses a value on a
 * boolean; skopeo users write `--tls-verify=false`). Returns the other arguments and the values taken.
 */
export function takeBooleanValues(
  argv: string[],
  booleans: Set<string>,
): { argv: string[]; values: Record<string, boolean> } {
  const rest: string[] = [];
  const values: Record<string, boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)=(.*)$/.exec(arg);
    if (!m || !booleans.has(m[1])) {
      rest.push(arg);
      continue;
    }
    if (m[2] !== "true" && m[2] !== "false") {
      throw new UsageError(`Cannot parse --${m[1]}="${m[2]}": expected true or false`);
    }
    values[m[1]] = m[2] === "true";
  }
  return { argv: rest, values };
}

/** The warnings for credentials given on the command line (`--creds`, `--src-creds`, `--dest-creds`). */
export function credentialWarnings(args: ParsedArgs): string[] {
  return ["creds", "src-creds", "dest-creds"].filter((f) => typeof args.values[f] === "string").map((f) =>
    cliSecretWarning(f, "ferry login --password-stdin (or docker login), or --authfile")
  );
}

/** `USER:PASS` → username and password. */
export function parseCreds(value: unknown, flag: string): { username: string; password: string } | undefined {
  if (typeof value !== "string") return undefined;
  const i = value.indexOf(":");
  if (i <= 0) throw new UsageError(`Cannot parse --${flag}: expected USER:PASS`);
  return { username: value.slice(0, i), password: value.slice(i + 1) };
}

/** A non-negative integer flag, or undefined. */
export function intFlag(args: ParsedArgs, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`Cannot parse --${name} "${value}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Registry options for the end `prefix` (`src`, `dest`, or none for single-end commands). */
export function registryOptionsOf(args: ParsedArgs, prefix?: "src" | "dest") {
  const creds = parseCreds(args.values[prefix ? `${prefix}-creds` : "creds"], prefix ? `${prefix}-creds` : "creds");
  const own = (name: string) => (prefix ? args.values[`${prefix}-${name}`] : undefined) ?? args.values[name];
  const verify = own("tls-verify");
  const certDir = own("cert-dir");
  return {
    ...(creds ?? {}),
    plainHttp: args.values["plain-http"] === true,
    insecure: args.values.insecure === true,
    ...(typeof verify === "boolean" ? { tlsVerify: verify && args.values.insecure !== true } : {}),
    ...(typeof certDir === "string" ? { certDir } : {}),
    authFile: typeof args.values.authfile === "string" ? args.values.authfile : undefined,
    retries: intFlag(args, "retries", 0, 20),
    connectTimeoutMs: secondsFlag(args, "connect-timeout"),
    timeoutMs: secondsFlag(args, "timeout"),
    idleTimeoutMs: secondsFlag(args, "idle-timeout"),
  };
}

/** All values of a repeatable string flag. */
export function listFlag(args: ParsedArgs, name: string): string[] | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [String(v)];
}

/**
 * The options copy and split take alike, from their shared flags (`--platform`, `--jobs`, the registry flags of each
 * end, `--allow-nondistributable-artifacts`, `--referrers`/`--artifact-type`, `--dry-run`); progress as `verb`.
 */
export function imageCopyOptionsOf(args: ParsedArgs, io: CommandIo, verb: string): ImageCopyOptions {
  return {
    platforms: listFlag(args, "platform"),
    concurrency: intFlag(args, "jobs", 1, 64),
    source: registryOptionsOf(args, "src"),
    destination: registryOptionsOf(args, "dest"),
    signal: io.signal,
    onEvent: reportCopy(io.progress(verb), io.warn),
    allowNondistributable: args.values["allow-nondistributable-artifacts"] === true,
    ...referrerOptionsOf(args),
    dryRun: args.values["dry-run"] === true,
  };
}
