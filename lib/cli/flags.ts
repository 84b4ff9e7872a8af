/**
 * Flags shared by commands that talk to registries, with skopeo's names, and their translation to options.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { FlagSpec, ParsedArgs } from "./command.ts";

/** Flags for commands with a source and a destination. */
export const transferFlags: Record<string, FlagSpec> = {
  "src-creds": { type: "string", value: "USER:PASS", description: "Credentials for the source registry" },
  "dest-creds": { type: "string", value: "USER:PASS", description: "Credentials for the destination registry" },
  "plain-http": { type: "boolean", description: "Use plain HTTP for registries (always on for loopback hosts)" },
  insecure: { type: "boolean", description: "Skip TLS certificate verification" },
  authfile: { type: "string", value: "PATH", description: "Docker config.json to read credentials from" },
  retries: { type: "string", value: "N", description: "Retries for failed registry requests (default 3)" },
  jobs: { type: "string", short: "j", value: "N", description: "Blobs transferred at once (default 6)" },
};

/** crane's flag to copy non-distributable (foreign) layers instead of leaving them out. */
export const nondistributableFlags: Record<string, FlagSpec> = {
  "allow-nondistributable-artifacts": {
    type: "boolean",
    description: "Also copy foreign (non-distributable) layers, e.g. Windows base layers; the source must have them",
  },
};

/** Flags for commands that read one registry. */
export const readFlags: Record<string, FlagSpec> = {
  creds: { type: "string", value: "USER:PASS", description: "Credentials for the registry" },
  "plain-http": transferFlags["plain-http"],
  insecure: transferFlags.insecure,
  authfile: transferFlags.authfile,
  retries: transferFlags.retries,
};

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
  return {
    ...(creds ?? {}),
    plainHttp: args.values["plain-http"] === true,
    insecure: args.values.insecure === true,
    authFile: typeof args.values.authfile === "string" ? args.values.authfile : undefined,
    retries: intFlag(args, "retries", 0, 20),
  };
}

/** All values of a repeatable string flag. */
export function listFlag(args: ParsedArgs, name: string): string[] | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [String(v)];
}
