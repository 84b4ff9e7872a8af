/**
 * Registry answers turned into ferry errors: the distribution spec's error JSON
 * (`{"errors":[{"code","message","detail"}]}`) parsed, and the status mapped to
 * NotFoundError, AuthError, RateLimitError or RegistryError with the registry's codes kept.
 *
 * @module
 */
import {
  AuthError,
  type FerryError,
  NotFoundError,
  RateLimitError,
  redactUrl,
  RegistryError,
  type RegistryErrorEntry,
} from "../errors.ts";

/** The most bytes of an error body ferry reads. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * The `errors` entries of a registry error body; empty when the body is not that JSON.
 *
 * @example
 * ```ts
 * parseErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
 * // [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }]
 * ```
 */
export function parseErrorBody(text: string): RegistryErrorEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const list = (parsed as { errors?: unknown })?.errors;
  if (!Array.isArray(list)) return [];
  return list.flatMap((e): RegistryErrorEntry[] => {
    if (typeof e !== "object" || e === null || typeof e.code !== "string") return [];
    const entry: RegistryErrorEntry = { code: e.code };
    if (typeof e.message === "string") entry.message = e.message;
    if (e.detail !== undefined) entry.detail = e.detail;
    return [entry];
  });
}

/** `CODE: message; CODE2: message2`, the registry's words as they appear in ferry's messages. */
export function formatEntries(entries: RegistryErrorEntry[]): string {
  return entries.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join("; ");
}

/** What a failed request was doing, for its error message. */
export interface ResponseErrorContext {
  /** The verb of the message, e.g. `push` in "Cannot push blob sha256:…". */
  verb: string;
  /** What it was about: `manifest 1.0`, `blob sha256:abcdef123456`, `tags`. */
  what: string;
  /** Wire host, for "Cannot authenticate to <host>". */
  host: string;
  method: string;
  url: string | URL;
  /** The store's name for itself (the `ref` of the error). */
  ref?: string;
}

/**
 * The error for a non-2xx answer, reading (a bounded part of) its body:
 * 404 → NotFoundError (`Cannot find manifest 1.0: MANIFEST_UNKNOWN: manifest unknown`),
 * 401/403 → AuthError (`Cannot authenticate to host: UNAUTHORIZED: …`), 429 → RateLimitError,
 * anything else → RegistryError naming the method and the redacted URL.
 */
export async function errorFromResponse(res: Response, ctx: ResponseErrorContext): Promise<FerryError> {
  const entries = parseErrorBody(await readErrorBody(res));
  const registrySays = entries.length > 0
    ? formatEntries(entries)
    : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  const options = { ref: ctx.ref, status: res.status, errors: entries };
  if (res.status === 404) return new NotFoundError(`Cannot find ${ctx.what}: ${registrySays}`, { ref: ctx.ref });
  if (res.status === 401 || res.status === 403) {
    return new AuthError(`Cannot authenticate to ${ctx.host}: ${registrySays}`, { ref: ctx.ref });
  }
  const message = `Cannot ${ctx.verb} ${ctx.what}: ${ctx.method} ${
    redactUrl(ctx.url)
  } answered ${res.status}: ${registrySays}`;
  if (res.status === 429) return new RateLimitError(message, options);
  return new RegistryError(message, options);
}

async function readErrorBody(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < MAX_ERROR_BODY) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } catch {
    // A broken error body still leaves the status to report.
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(bytes.subarray(0, MAX_ERROR_BODY));
}

/** Discards a response body we will not read, so its connection can be reused. */
export async function drain(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}
