/**
 * The distribution spec's responses: JSON bodies with exact lengths, the error JSON, and the mapping from
 * ferry's error classes to status codes and registry error codes.
 *
 * @module
 */
import { FerryError, NotFoundError, RegistryError } from "../errors.ts";

/** The header every response carries (Docker clients check it on `/v2/`). */
export const API_VERSION = { "Docker-Distribution-API-Version": "registry/2.0" } as const;

/** A JSON response with Content-Length; `head` sends the headers only. */
export function json(body: unknown, head: boolean, extra: Record<string, string> = {}, status = 200): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  return new Response(head ? null : bytes, {
    status,
    headers: {
      ...API_VERSION,
      "Content-Type": "application/json",
      "Content-Length": String(bytes.byteLength),
      ...extra,
    },
  });
}

/** The spec's error JSON: `{"errors":[{"code","message","detail"}]}` with `status`. */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  head: boolean,
  extra: Record<string, string> = {},
): Response {
  return json({ errors: [{ code, message, detail: null }] }, head, extra, status);
}

/**
 * A {@link RegistryError} that the handler answers as `status` with the registry error `code`,
 * e.g. `httpError(400, "DIGEST_INVALID", "Cannot …")`.
 */
export function httpError(
  status: number,
  code: string,
  message: string,
  extra?: Record<string, string>,
): RegistryError {
  const err = new RegistryError(message, { status, errors: [{ code, message }] });
  if (extra) (err as RegistryError & { headers?: Record<string, string> }).headers = extra;
  return err;
}

/** What a request was about, for the code of a plain {@link NotFoundError}. */
export type Subject = "manifest" | "blob" | "upload" | "repository";

const NOT_FOUND_CODES: Record<Subject, string> = {
  manifest: "MANIFEST_UNKNOWN",
  blob: "BLOB_UNKNOWN",
  upload: "BLOB_UPLOAD_UNKNOWN",
  repository: "NAME_UNKNOWN",
};

/**
 * The response for an error thrown while serving: a {@link RegistryError} from {@link httpError} as given,
 * a {@link NotFoundError} as 404 with the subject's code, anything else (including stored content that
 * fails its digest: the server's fault, never served as good) as 500 `UNKNOWN`.
 */
export function responseOf(err: unknown, subject: Subject, head: boolean): Response {
  if (err instanceof RegistryError && err.status && err.errors[0]) {
    const extra = (err as RegistryError & { headers?: Record<string, string> }).headers ?? {};
    return errorResponse(err.status, err.errors[0].code, err.message, head, extra);
  }
  if (err instanceof NotFoundError) return errorResponse(404, NOT_FOUND_CODES[subject], err.message, head);
  const message = err instanceof FerryError
    ? err.message
    : `Cannot serve the request: ${(err as Error)?.message ?? err}`;
  return errorResponse(500, "UNKNOWN", message, head);
}
