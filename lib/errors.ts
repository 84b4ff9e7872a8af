/**
 * ferry's error classes and exit codes. Every error ferry throws on purpose is a
 * {@link FerryError}; anything else is a bug and exits 1.
 *
 * @module
 */

/** Exit codes, documented in the README's "Exit codes" table; scripts rely on them. */
export const ExitCode = {
  Failure: 1,
  Usage: 2,
  NotFound: 3,
  Auth: 4,
  Registry: 5,
  Integrity: 6,
  Unsupported: 7,
  Io: 8,
  Partial: 9,
  Interrupted: 130,
} as const;
/** One of the values of {@link ExitCode}. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** Options every ferry error accepts. */
export interface FerryErrorOptions {
  /** The image, file or registry the failed step was about, credentials redacted. */
  ref?: string;
  cause?: unknown;
}

/** Base class of every error ferry throws on purpose; anything else is a bug (exit 1). */
export abstract class FerryError extends Error {
  abstract readonly exitCode: ExitCode;
  /** The image, file or registry the failed step was about, credentials redacted. */
  ref?: string;
  constructor(message: string, options: FerryErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.ref = options.ref;
  }
}

/** A bad flag or argument, or an unparsable reference, platform or location. */
export class UsageError extends FerryError {
  override readonly name = "UsageError";
  readonly exitCode = ExitCode.Usage;
}

/** A manifest, blob, repository, platform or file that does not exist. */
export class NotFoundError extends FerryError {
  override readonly name = "NotFoundError";
  readonly exitCode = ExitCode.NotFound;
}

/** 401/403 from a registry, a failed token exchange or credential helper. Never carries the secret. */
export class AuthError extends FerryError {
  override readonly name = "AuthError";
  readonly exitCode = ExitCode.Auth;
}

/** One error entry of the distribution spec's error JSON. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Any other non-2xx answer from a registry after retries, or a malformed response. */
export class RegistryError extends FerryError {
  override readonly name: string = "RegistryError";
  readonly exitCode = ExitCode.Registry;
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /** The registry's own `errors` entries. */
  readonly errors: RegistryErrorEntry[];
  constructor(
    message: string,
    options: FerryErrorOptions & { status?: number; errors?: RegistryErrorEntry[] } = {},
  ) {
    super(message, options);
    this.status = options.status;
    this.errors = options.errors ?? [];
  }
}

/** 429 TOOMANYREQUESTS that outlasted the retries. */
export class RateLimitError extends RegistryError {
  override readonly name = "RateLimitError";
}

/** DNS failure, refused connection, TLS failure or timeout, after retries. */
export class NetworkError extends FerryError {
  override readonly name = "NetworkError";
  readonly exitCode = ExitCode.Registry;
}

/** Bytes that do not match their descriptor. */
export class IntegrityError extends FerryError {
  override readonly name: string = "IntegrityError";
  readonly exitCode = ExitCode.Integrity;
}

/** The bytes read do not hash to the digest their descriptor names. */
export class DigestMismatchError extends IntegrityError {
  override readonly name = "DigestMismatchError";
  constructor(readonly expected: string, readonly actual: string, options?: FerryErrorOptions) {
    super(`Cannot verify blob: expected digest ${expected}, got ${actual}`, options);
  }
}

/** More or fewer bytes than the descriptor's size. */
export class SizeMismatchError extends IntegrityError {
  override readonly name = "SizeMismatchError";
  constructor(readonly expected: number, readonly actual: number, options?: FerryErrorOptions) {
    super(
      `Cannot verify blob: expected ${expected} bytes, got ${actual > expected ? "more than " : ""}${actual}`,
      options,
    );
  }
}

/** Schema 1, an unknown media type whose structure is needed, and the like. */
export class UnsupportedError extends FerryError {
  override readonly name = "UnsupportedError";
  readonly exitCode = ExitCode.Unsupported;
}

/** ENOENT, EACCES, ENOSPC on a local path. */
export class FileError extends FerryError {
  override readonly name = "FileError";
  readonly exitCode = ExitCode.Io;
}

/** A malformed archive, layout or manifest. */
export class FormatError extends FerryError {
  override readonly name = "FormatError";
  readonly exitCode = ExitCode.Io;
}

/** Some items of a batch (mirror --keep-going) failed. */
export class PartialError extends FerryError {
  override readonly name = "PartialError";
  readonly exitCode = ExitCode.Partial;
  constructor(message: string, readonly failures: { ref: string; error: string }[], options?: FerryErrorOptions) {
    super(message, options);
  }
}

/** The operation was interrupted (SIGINT, SIGTERM, an aborted signal). */
export class AbortError extends FerryError {
  override readonly name = "AbortError";
  readonly exitCode = ExitCode.Interrupted;
  constructor(message = "Interrupted", options?: FerryErrorOptions) {
    super(message, options);
  }
}

/** The exit code for `err`: its own for a {@link FerryError}, 130 for an abort, else 1. */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof FerryError) return err.exitCode;
  if (err instanceof Error && err.name === "AbortError") return ExitCode.Interrupted;
  return ExitCode.Failure;
}

/**
 * One line for stderr, e.g. `ferry: 127.0.0.1:5000/app:1.0: Cannot verify blob: …`.
 *
 * @example
 * ```ts
 * formatError(new NotFoundError("Cannot find manifest", { ref: "app:1.0" }));
 * // "ferry: app:1.0: Cannot find manifest"
 * ```
 */
export function formatError(err: unknown): string {
  if (err instanceof FerryError) {
    return oneLine(`ferry: ${err.ref ? `${err.ref}: ` : ""}${err.message}`);
  }
  if (err instanceof Error && err.name === "AbortError") return "ferry: Interrupted";
  return oneLine(`ferry: internal error: ${err instanceof Error ? err.message : String(err)}`);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Strips userinfo and query parameters (pre-signed blob redirects carry credentials there) from a URL.
 *
 * @example
 * ```ts
 * redactUrl("https://u:p@host/v2/x?X-Amz-Signature=abc"); // "https://host/v2/x"
 * ```
 */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}

/** Turns an aborted signal's reason into an {@link AbortError} (or rethrows a FerryError reason). */
export function abortErrorOf(signal: AbortSignal): FerryError {
  const reason = signal.reason;
  if (reason instanceof FerryError) return reason;
  return new AbortError();
}
