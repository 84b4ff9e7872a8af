/**
 * Image references: `[registry/]repo[:tag][@digest]`, parsed and normalised the way docker does
 * (distribution/reference's grammar and `ParseNormalizedNamed`).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { isDigest } from "../oci/digest.ts";

/**
 * A parsed, normalised image reference.
 *
 * @example
 * ```ts
 * const ref: Reference = parseReference("ghcr.io/org/app:1.0");
 * console.log(ref.registry, ref.repository, ref.tag); // ghcr.io org/app 1.0
 * ```
 */
export interface Reference {
  /** Registry as the user knows it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `localhost:5000`. */
  registry: string;
  /** Repository path, with `library/` added for official Docker Hub images: `library/alpine`. */
  repository: string;
  /** The tag, e.g. `1.0`; undefined when only a digest was given (or nothing: `latest` is implied). */
  tag?: string;
  /** The digest, `sha256:<hex>`, when given. */
  digest?: string;
}

/** Docker Hub's canonical registry name; `index.docker.io` is normalised to it. */
export const DOCKER_HUB = "docker.io";

// distribution/reference's grammar: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:.]+\\])(?::([0-9]+))?$`,
);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

/**
 * Parses `[registry/]repo[:tag][@digest]` like docker: the first path component is a registry when it
 * contains `.` or `:`, is `localhost` or has uppercase letters; otherwise the registry is `docker.io`
 * and single-component repositories get `library/`. With neither tag nor digest, `tag` stays
 * undefined (see {@link referenceTarget}). Throws a {@link UsageError} for anything else.
 *
 * @example
 * ```ts
 * parseReference("alpine:3.19");
 * // { registry: "docker.io", repository: "library/alpine", tag: "3.19" }
 * parseReference("127.0.0.1:5000/team/app@sha256:e3b0c4…");
 * // { registry: "127.0.0.1:5000", repository: "team/app", digest: "sha256:e3b0c4…" }
 * ```
 */
export function parseReference(text: string): Reference {
  const fail = (reason: string) => new UsageError(`Cannot parse reference "${text}": ${reason}`);
  if (text === "") throw fail("empty reference");
  if (/\s/.test(text)) throw fail("contains whitespace");
  if (text.includes("://")) throw fail('a reference has no scheme; write it without "https://"');
  if (IMAGE_ID_RE.test(text)) throw fail("a 64-character hex string is an image ID, not a reference");

  let name = text;
  let digest: string | undefined;
  const at = name.indexOf("@");
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
    if (digest.includes("@")) throw fail('more than one "@"');
    if (!isDigest(digest)) throw fail(`invalid digest "${digest}" (expected sha256:<64 hex> or sha512:<128 hex>)`);
  }

  let tag: string | undefined;
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/") && !name.endsWith("]")) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw fail(tag === "" ? "empty tag" : `invalid tag "${tag}" (letters, digits, "_", "." and "-", at most 128)`);
    }
  }
  if (name === "") throw fail("empty repository name");

  let registry = DOCKER_HUB;
  let repository = name;
  const slash = name.indexOf("/");
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (/[.:\[]/.test(first) || first === "localhost" || first !== first.toLowerCase()) {
      registry = first;
      repository = name.slice(slash + 1);
    }
  }
  checkRegistry(registry, fail);
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  checkRepository(repository, fail);
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw fail(`name longer than ${MAX_NAME_LENGTH} characters`);
  }
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

function checkRegistry(registry: string, fail: (reason: string) => UsageError): void {
  const m = DOMAIN_RE.exec(registry);
  if (!m) throw fail(`invalid registry "${registry}"`);
  if (m[1] !== undefined && (Number(m[1]) > 65535 || m[1].length > 5)) {
    throw fail(`invalid port ${m[1]} in registry "${registry}"`);
  }
}

function checkRepository(repository: string, fail: (reason: string) => UsageError): void {
  if (repository === "") throw fail("empty repository name");
  for (const component of repository.split("/")) {
    if (component === "") throw fail("empty path component in repository name");
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) throw fail("repository name must be lowercase");
    throw fail(
      `invalid repository component "${component}" (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
    );
  }
}

/** What a reference resolves: its digest if it has one (digest wins), else its tag, else `latest`. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

/**
 * Options of {@link formatReference} and {@link repositoryName}.
 *
 * @example
 * ```ts
 * const options: FormatReferenceOptions = { short: true };
 * formatReference(parseReference("alpine"), options); // "alpine:latest"
 * ```
 */
export interface FormatReferenceOptions {
  /** The familiar form docker prints: no `docker.io/`, no `library/` (`alpine:3.19`). */
  short?: boolean;
}

/**
 * The string form of a reference: canonical (`docker.io/library/alpine:3.19`) or, with `short`, the
 * familiar one (`alpine:3.19`). A missing tag is not filled in, so the result parses back to `ref`.
 *
 * @example
 * ```ts
 * const ref = parseReference("alpine:3.19");
 * formatReference(ref); // "docker.io/library/alpine:3.19"
 * formatReference(ref, { short: true }); // "alpine:3.19"
 * ```
 */
export function formatReference(ref: Reference, options: FormatReferenceOptions = {}): string {
  const tag = ref.tag !== undefined ? `:${ref.tag}` : "";
  const digest = ref.digest !== undefined ? `@${ref.digest}` : "";
  return `${repositoryName(ref, options)}${tag}${digest}`;
}

/**
 * The `registry/repository` part of a reference, without tag or digest: `docker.io/library/alpine`,
 * or with `short` the familiar `alpine` (other registries are the same in both forms).
 */
export function repositoryName(ref: Reference, options: FormatReferenceOptions = {}): string {
  if (options.short && ref.registry === DOCKER_HUB) {
    const rest = ref.repository.slice("library/".length);
    return ref.repository.startsWith("library/") && !rest.includes("/") ? rest : ref.repository;
  }
  return `${ref.registry}/${ref.repository}`;
}

/**
 * The same repository at `tag`. Any digest is dropped: a digest wins over a tag on resolution, so
 * keeping it would make the new tag meaningless. Throws a {@link UsageError} for an invalid tag.
 */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG_RE.test(tag)) {
    throw new UsageError(`Cannot use tag "${tag}": letters, digits, "_", "." and "-", at most 128`);
  }
  return { registry: ref.registry, repository: ref.repository, tag };
}

/** The same reference pinned to `digest`; a tag is kept for naming. Throws a {@link UsageError} for a bad digest. */
export function withDigest(ref: Reference, digest: string): Reference {
  if (!isDigest(digest)) {
    throw new UsageError(`Cannot use digest "${digest}": expected sha256:<64 hex> or sha512:<128 hex>`);
  }
  return { ...ref, digest };
}

/** Whether `tag` is a valid tag in docker's grammar (`[\w][\w.-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
