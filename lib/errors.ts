/**
 * ferry's error classes and exit codes. Every error ferry throws on purpose is a
 * {@link FerryError}; anything else is a bug and exits 1.
 *
 * @module
 */

/**
 * Exit codes, documented in the README's "Exit codes" table; scripts rely on them.
 *
 * @example
 * ```ts
 * try {
 *   await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0");
 * } catch (err) {
 *   if (exitCodeOf(err) === ExitCode.NotFound) console.error("no such image");
 * }
 * ```
 */
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
  Verification: 10,
  Interrupted: 130,
} as const;
/** One of the values of {@link ExitCode}. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** Options every ferry error accepts. */
export interface FerryErrorOptions {
  /** The image, file or registry the failed step was about, credentials redacted. */
  ref?: string;
  /** The underlying error, kept for `--debug`. */
  cause?: unknown;
}

/**
 * Base class of every error ferry throws on purpose; anything else is a bug (exit 1).
 *
 * @example
 * ```ts
 * try {
 *   await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0");
 * } catch (err) {
 *   if (err instanceof FerryError) console.error(err.ref, err.message, err.exitCode);
 *   else throw err; // a bug
 * }
 * ```
 */
export abstract class FerryError extends Error {
  /** The process exit code for this error (see {@link ExitCode}). */
  abstract readonly exitCode: ExitCode;
  /** The image, file or registry the failed step was about, credentials redacted. */
  ref?: string;
  /** An error with a message of the shape "Cannot <do X>: <reason>". */
  constructor(message: string, options: FerryErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.ref = options.ref;
  }
}

/**
 * A bad flag or argument, or an unparsable reference, platform or location.
 *
 * @example
 * ```ts
 * throw new UsageError("Cannot parse platform \"linux/\": missing architecture");
 * ```
 */
export class UsageError extends FerryError {
  /** `"UsageError"`, set explicitly so that it survives minification. */
  override readonly name = "UsageError";
  /** {@link ExitCode}.Usage: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Usage = ExitCode.Usage;
}

/**
 * A manifest, blob, repository, platform or file that does not exist.
 *
 * @example
 * ```ts
 * try {
 *   await inspect("127.0.0.1:5000/app:nope");
 * } catch (err) {
 *   if (err instanceof NotFoundError) console.error(formatError(err));
 * }
 * ```
 */
export class NotFoundError extends FerryError {
  /** `"NotFoundError"`, set explicitly so that it survives minification. */
  override readonly name = "NotFoundError";
  /** {@link ExitCode}.NotFound: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.NotFound = ExitCode.NotFound;
}

/**
 * 401/403 from a registry, a failed token exchange or credential helper. Never carries the secret.
 *
 * @example
 * ```ts
 * try {
 *   await inspect("registry.example.com/private/app:1.0");
 * } catch (err) {
 *   if (err instanceof AuthError) console.error("log in first: ferry login registry.example.com");
 * }
 * ```
 */
export class AuthError extends FerryError {
  /** `"AuthError"`, set explicitly so that it survives minification. */
  override readonly name = "AuthError";
  /** {@link ExitCode}.Auth: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Auth = ExitCode.Auth;
}

/**
 * One error entry of the distribution spec's error JSON.
 *
 * @example
 * ```ts
 * const entry: RegistryErrorEntry = { code: "MANIFEST_UNKNOWN", message: "manifest unknown" };
 * new RegistryError("Cannot fetch app:1.0", { status: 404, errors: [entry] });
 * ```
 */
export interface RegistryErrorEntry {
  /** The spec's error code, e.g. `MANIFEST_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`. */
  code: string;
  /** The registry's message. */
  message?: string;
  /** Free-form detail the registry added. */
  detail?: unknown;
}

/**
 * Any other non-2xx answer from a registry after retries, or a malformed response.
 *
 * @example
 * ```ts
 * try {
 *   await copy("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/app:1.0");
 * } catch (err) {
 *   if (err instanceof RegistryError) console.error(err.status, err.errors.map((e) => e.code));
 * }
 * ```
 */
export class RegistryError extends FerryError {
  /** `"RegistryError"`, set explicitly so that it survives minification. */
  override readonly name: string = "RegistryError";
  /** {@link ExitCode}.Registry: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Registry = ExitCode.Registry;
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /** The registry's own `errors` entries. */
  readonly errors: RegistryErrorEntry[];
  /** An error for a registry answer, with its HTTP status and the registry's own error entries. */
  constructor(
    message: string,
    options: FerryErrorOptions & { status?: number; errors?: RegistryErrorEntry[] } = {},
  ) {
    super(message, options);
    this.status = options.status;
    this.errors = options.errors ?? [];
  }
}

/**
 * 429 TOOMANYREQUESTS that outlasted the retries.
 *
 * @example
 * ```ts
 * const err = new RateLimitError("Cannot pull alpine: rate limited", { status: 429, errors: [{ code: "TOOMANYREQUESTS" }] });
 * console.log(err instanceof RegistryError, err.exitCode); // true 5
 * ```
 */
export class RateLimitError extends RegistryError {
  /** `"RateLimitError"`, set explicitly so that it survives minification. */
  override readonly name = "RateLimitError";
}

/**
 * DNS failure, refused connection, TLS failure or timeout, after retries.
 *
 * @example
 * ```ts
 * throw new NetworkError("Cannot connect to registry.example.com: connection refused", { ref: "registry.example.com" });
 * ```
 */
export class NetworkError extends FerryError {
  /** `"NetworkError"`, set explicitly so that it survives minification. */
  override readonly name = "NetworkError";
  /** {@link ExitCode}.Registry: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Registry = ExitCode.Registry;
}

/**
 * Bytes that do not match their descriptor.
 *
 * @example
 * ```ts
 * try {
 *   await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0");
 * } catch (err) {
 *   if (err instanceof IntegrityError) console.error("corrupt content:", err.message); // digest or size
 * }
 * ```
 */
export class IntegrityError extends FerryError {
  /** `"IntegrityError"`, set explicitly so that it survives minification. */
  override readonly name: string = "IntegrityError";
  /** {@link ExitCode}.Integrity: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Integrity = ExitCode.Integrity;
}

/**
 * The bytes read do not hash to the digest their descriptor names.
 *
 * @example
 * ```ts
 * const err = new DigestMismatchError("sha256:" + "a".repeat(64), "sha256:" + "b".repeat(64), { ref: "app:1.0" });
 * console.log(err.exitCode, err.expected, err.actual); // 6 …
 * ```
 */
export class DigestMismatchError extends IntegrityError {
  /** `"DigestMismatchError"`, set explicitly so that it survives minification. */
  override readonly name = "DigestMismatchError";
  /** The error for content expected to hash to `expected` that hashed to `actual`. */
  constructor(readonly expected: string, readonly actual: string, options?: FerryErrorOptions) {
    super(`Cannot verify blob: expected digest ${expected}, got ${actual}`, options);
  }
}

/**
 * More or fewer bytes than the descriptor's size.
 *
 * @example
 * ```ts
 * const err = new SizeMismatchError(1024, 2048, { ref: "app:1.0" });
 * err.message; // "Cannot verify blob: expected 1024 bytes, got more than 2048"
 * ```
 */
export class SizeMismatchError extends IntegrityError {
  /** `"SizeMismatchError"`, set explicitly so that it survives minification. */
  override readonly name = "SizeMismatchError";
  /** The error for content expected to be `expected` bytes that was `actual` bytes (or more). */
  constructor(readonly expected: number, readonly actual: number, options?: FerryErrorOptions) {
    super(
      `Cannot verify blob: expected ${expected} bytes, got ${actual > expected ? "more than " : ""}${actual}`,
      options,
    );
  }
}

/**
 * Schema 1, an unknown media type whose structure is needed, and the like.
 *
 * @example
 * ```ts
 * throw new UnsupportedError("Cannot copy app:old: Docker schema 1 manifests are not supported", { ref: "app:old" });
 * ```
 */
export class UnsupportedError extends FerryError {
  /** `"UnsupportedError"`, set explicitly so that it survives minification. */
  override readonly name = "UnsupportedError";
  /** {@link ExitCode}.Unsupported: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Unsupported = ExitCode.Unsupported;
}

/**
 * ENOENT, EACCES, ENOSPC on a local path.
 *
 * @example
 * ```ts
 * throw new FileError("Cannot write out/image-amd64.tar.gz: no space left on device", { ref: "out" });
 * ```
 */
export class FileError extends FerryError {
  /** `"FileError"`, set explicitly so that it survives minification. */
  override readonly name = "FileError";
  /** {@link ExitCode}.Io: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Io = ExitCode.Io;
}

/**
 * A malformed archive, layout or manifest.
 *
 * @example
 * ```ts
 * throw new FormatError("Cannot read image.tar: manifest.json is not JSON", { ref: "image.tar" });
 * ```
 */
export class FormatError extends FerryError {
  /** `"FormatError"`, set explicitly so that it survives minification. */
  override readonly name = "FormatError";
  /** {@link ExitCode}.Io: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Io = ExitCode.Io;
}

/**
 * Some items of a batch (mirror --keep-going) failed.
 *
 * @example
 * ```ts
 * const err = new PartialError("Cannot mirror 1 of 3 images", [{ ref: "alpine:3.20", error: "not found" }]);
 * console.log(err.exitCode, err.failures); // 9 [ … ]
 * ```
 */
export class PartialError extends FerryError {
  /** `"PartialError"`, set explicitly so that it survives minification. */
  override readonly name = "PartialError";
  /** {@link ExitCode}.Partial: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Partial = ExitCode.Partial;
  /** The error for a batch whose `failures` (one line each, never a credential) did not finish. */
  constructor(message: string, readonly failures: { ref: string; error: string }[], options?: FerryErrorOptions) {
    super(message, options);
  }
}

/**
 * The operation was interrupted (SIGINT, SIGTERM, an aborted signal).
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const copying = copy("127.0.0.1:5000/app:1.0", "oci:out:1.0", { signal: controller.signal });
 * controller.abort();
 * await copying.catch((err) => console.log(err instanceof AbortError, exitCodeOf(err))); // true 130
 * ```
 */
export class AbortError extends FerryError {
  /** `"AbortError"`, set explicitly so that it survives minification. */
  override readonly name = "AbortError";
  /** {@link ExitCode}.Interrupted: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Interrupted = ExitCode.Interrupted;
  /** The error for an interrupted operation. */
  constructor(message = "Interrupted", options?: FerryErrorOptions) {
    super(message, options);
  }
}

/**
 * The exit code for `err`: its own for a {@link FerryError}, 130 for an abort, else 1.
 *
 * @example
 * ```ts
 * exitCodeOf(new UsageError("Cannot parse reference: empty")); // 2
 * exitCodeOf(new Error("a bug")); // 1
 * ```
 */
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
