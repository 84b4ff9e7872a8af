/**
 * Route matching for the distribution spec's `/v2/` API: pull, push (upload sessions), tags, referrers, catalog.
 *
 * @module
 */

/** What a request path asks for; names and references are percent-decoded but not yet validated. */
export type Route =
  | { kind: "base" }
  /** `/v2/_catalog`: every repository (distribution's catalog API, with `n`/`last` pagination). */
  | { kind: "catalog" }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  /** `session` is the upload id of `/blobs/uploads/<id>`, undefined for `/blobs/uploads/` (a new upload). */
  | { kind: "upload"; name: string; session?: string }
  | { kind: "tags"; name: string }
  | { kind: "referrers"; name: string; digest: string }
  | { kind: "unknown" };

// Repository names may contain slashes (and even a component called "manifests"), so each
// pattern anchors on the END of the path and the greedy `(.+)` takes everything before it.
const PATTERNS: [RegExp, (m: string[]) => Route][] = [
  [/^\/v2\/?$/, () => ({ kind: "base" })],
  [/^\/v2\/_catalog$/, () => ({ kind: "catalog" })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: "manifest", name: m[1], reference: m[2] })],
  [/^\/v2\/(.+)\/blobs\/uploads(?:\/([^/]*))?$/, (m) => ({ kind: "upload", name: m[1], session: m[2] || undefined })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: "blob", name: m[1], digest: m[2] })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: "tags", name: m[1] })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: "referrers", name: m[1], digest: m[2] })],
];

/**
 * The route a URL path names.
 *
 * @example
 * ```ts
 * parseRoute("/v2/sample/app/manifests/1.0"); // { kind: "manifest", name: "sample/app", reference: "1.0" }
 * ```
 */
export function parseRoute(pathname: string): Route {
  for (const [re, make] of PATTERNS) {
    const m = re.exec(pathname);
    if (!m) continue;
    try {
      return make(m.map((part) => (part === undefined ? part : decodeURIComponent(part))));
    } catch {
      return { kind: "unknown" }; // malformed percent-encoding
    }
  }
  return { kind: "unknown" };
}

export { isRepositoryName, isTag } from "../oci/annotations.ts";
