/**
 * Content digests (`sha256:<hex>`, `sha512:<hex>`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { FormatError, UsageError } from "../errors.ts";

const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

/** Whether `value` is a well-formed digest ferry can verify. */
export function isDigest(value: string): boolean {
  const m = DIGEST_RE.exec(value);
  return m !== null && m[2].length === HEX_LENGTH[m[1]];
}

/** What the image spec allows, for error messages. */
export const DIGEST_FORMS = "sha256: and 64 lower-case hex digits, or sha512: and 128";

/**
 * Returns `value` when it is a well-formed digest; otherwise a {@link FormatError} naming `what` (a
 * digest from content — an index, a manifest, a registry header — never reaches a path or URL unchecked).
 *
 * @example
 * ```ts
 * checkDigest("sha256:../../etc/passwd", "index entry"); // throws FormatError: … invalid digest …
 * ```
 */
export function checkDigest(value: unknown, what: string): string {
  if (typeof value === "string" && isDigest(value)) return value;
  throw new FormatError(`Cannot use ${what}: invalid digest ${quoteDigest(value)} (expected ${DIGEST_FORMS})`);
}

/** A would-be digest quoted for a message, cut to 80 characters. */
export function quoteDigest(value: unknown): string {
  if (typeof value !== "string") return typeof value;
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * Splits a digest into algorithm and hex, throwing a {@link UsageError} if it is malformed.
 *
 * @example
 * ```ts
 * splitDigest("sha256:e3b0c4…"); // ["sha256", "e3b0c4…"]
 * ```
 */
export function splitDigest(digest: string): [algorithm: string, hex: string] {
  const m = DIGEST_RE.exec(digest);
  if (!m || m[2].length !== HEX_LENGTH[m[1]]) throw new UsageError(`Cannot parse digest "${digest}"`);
  return [m[1], m[2]];
}

/**
 * The sha256 digest of `bytes`.
 *
 * @example
 * ```ts
 * digestOf(new Uint8Array()); // "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function digestOf(bytes: Uint8Array | string, algorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}
