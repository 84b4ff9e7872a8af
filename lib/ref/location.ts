/**
 * Locations: one end of a copy, written with skopeo's transport prefixes (`docker://`, `oci:`,
 * `oci-archive:`, `docker-archive:`, `docker-daemon:`), a plain registry reference, or a local path.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { isDigest } from "../oci/digest.ts";
import { formatReference, type FormatReferenceOptions, parseReference, type Reference } from "./reference.ts";

/**
 * Where images are read from or written to.
 *
 * @example
 * ```ts
 * const location: Location = parseLocation("oci:out:1.0");
 * if (location.kind === "oci") console.log(location.path, location.tag);
 * ```
 */
export type Location =
  | { kind: "registry"; reference: Reference }
  | { kind: "oci"; path: string; tag?: string }
  | { kind: "oci-archive"; path: string; tag?: string }
  | { kind: "docker-archive"; path: string; reference?: Reference }
  | { kind: "docker-daemon"; reference?: Reference };

/** The transports ferry understands, as written before the colon. */
export const TRANSPORTS = ["docker", "oci", "oci-archive", "docker-archive", "docker-daemon"] as const;

// skopeo's other transports: recognised so the user hears "not supported" rather than a
// baffling reference error (`dir:/tmp/x` is otherwise a valid Docker Hub name `dir` with a bad tag).
const OTHER_TRANSPORTS = new Set(["dir", "containers-storage", "ostree", "sif", "tarball"]);
const SUPPORTED = "docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF], " +
  "docker-daemon:[REF], a plain reference, or a path starting with /, ./ or ../";

// The OCI image spec's grammar for `org.opencontainers.image.ref.name` (annotations.md).
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/**
 * Parses one end of a copy. Transports follow skopeo (`oci:DIR[:TAG]` splits at the first colon); a plain
 * string is a registry reference, except a path starting with `/`, `./` or `../`, which is an OCI layout
 * directory, or an `oci-archive` when it ends in `.tar`, `.tar.gz` or `.tgz` (decided by syntax only).
 * Throws a {@link UsageError} for unsupported transports and malformed parts.
 *
 * @example
 * ```ts
 * parseLocation("127.0.0.1:5000/app:1.0"); // { kind: "registry", reference: { registry: "127.0.0.1:5000", … } }
 * parseLocation("oci:./layout:1.0"); // { kind: "oci", path: "./layout", tag: "1.0" }
 * parseLocation("./images.tar"); // { kind: "oci-archive", path: "./images.tar" }
 * ```
 */
export function parseLocation(text: string): Location {
  const fail = (reason: string) => new UsageError(`Cannot parse location "${text}": ${reason}`);
  if (text === "") throw fail(`empty; expected ${SUPPORTED}`);
  if (isLocalPath(text)) return localPath(text, fail);
  const m = /^([a-z][a-z0-9-]*):(.*)$/s.exec(text);
  const transport = m?.[1];
  const rest = m?.[2] ?? "";
  if (transport === "docker" && rest.startsWith("//")) {
    return { kind: "registry", reference: parseReference(rest.slice(2)) };
  }
  if (transport === "oci" || transport === "oci-archive") return layout(transport, rest, fail);
  if (transport === "docker-archive") {
    const [path, ref] = splitPath(rest, fail);
    if (ref === undefined) return { kind: "docker-archive", path };
    if (/^@[0-9]+$/.test(ref)) throw fail("selecting an image by @INDEX is not supported; name it by REF");
    const reference = parseReference(ref);
    if (reference.digest) throw fail("a docker-archive names images by tag, not digest");
    return { kind: "docker-archive", path, reference };
  }
  if (transport === "docker-daemon") {
    if (rest === "") return { kind: "docker-daemon" };
    if (isDigest(rest)) throw fail("image IDs are not supported; name the image by REPOSITORY:TAG");
    return { kind: "docker-daemon", reference: parseReference(rest) };
  }
  if (transport !== undefined && (OTHER_TRANSPORTS.has(transport) || rest.startsWith("//"))) {
    throw fail(`transport "${transport}:" is not supported; use ${SUPPORTED}`);
  }
  const plain: Location = { kind: "registry", reference: parseReference(text) };
  typed.set(plain, text);
  return plain;
}

// The text of each plain reference parseLocation returned (no docker:// prefix), kept beside the
// location rather than in it, so a Location stays plain data.
const typed = new WeakMap<Location, string>();

/**
 * The text a registry location was parsed from when it was written as a plain reference (no
 * `docker://`): `out/image-amd64.tar.gz` could also be a relative path, which opening the location
 * checks (`lib/ends/local_name.ts`). Undefined for every other location, and for copies of one.
 *
 * @example
 * ```ts
 * plainReferenceText(parseLocation("out/app.tar")); // "out/app.tar"
 * plainReferenceText(parseLocation("docker://out/app.tar")); // undefined
 * ```
 */
export function plainReferenceText(location: Location): string | undefined {
  return typed.get(location);
}

function isLocalPath(text: string): boolean {
  return text.startsWith("/") || text.startsWith("./") || text.startsWith("../") || text === "." ||
    text === "..";
}

function isArchivePath(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(path);
}

function localPath(text: string, fail: (reason: string) => UsageError): Location {
  const [path, tag] = splitPath(text, fail);
  checkTag(tag, fail);
  const kind = isArchivePath(path) ? "oci-archive" : "oci";
  return tag === undefined ? { kind, path } : { kind, path, tag };
}

function layout(kind: "oci" | "oci-archive", rest: string, fail: (reason: string) => UsageError): Location {
  const [path, tag] = splitPath(rest, fail);
  checkTag(tag, fail);
  return tag === undefined ? { kind, path } : { kind, path, tag };
}

/**
 * Splits `PATH[:REST]` at the first colon, as skopeo does; paths with colons cannot be named. A Windows drive
 * letter (`C:\out`, `C:/out`) is part of the path, as containers/image reads it on Windows: no tag or reference
 * starts with a slash or backslash, so `X:\` and `X:/` are never a one-letter path and a tag.
 */
function splitPath(text: string, fail: (reason: string) => UsageError): [string, string | undefined] {
  const drive = /^[A-Za-z]:[\\/]/.test(text) ? 2 : 0;
  const colon = text.indexOf(":", drive);
  const path = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? undefined : text.slice(colon + 1);
  if (path === "") throw fail("empty path");
  if (rest === "") throw fail('empty tag after ":"');
  return [path, rest];
}

function checkTag(tag: string | undefined, fail: (reason: string) => UsageError): void {
  if (tag !== undefined && !REF_NAME_RE.test(tag)) {
    throw fail(`invalid tag "${tag}" (letters and digits separated by one of - . _ : @ + / or --)`);
  }
}

/**
 * The string form of a location, which {@link parseLocation} reads back: a registry as its canonical
 * reference (or, with `short`, the familiar one, prefixed `docker://` where it would read as a transport),
 * others with their transport prefix.
 *
 * @example
 * ```ts
 * formatLocation(parseLocation("./out.tar:1.0")); // "oci-archive:./out.tar:1.0"
 * formatLocation(parseLocation("alpine:3.19")); // "docker.io/library/alpine:3.19"
 * ```
 */
export function formatLocation(location: Location, options: FormatReferenceOptions = {}): string {
  switch (location.kind) {
    case "registry": {
      const text = formatReference(location.reference, options);
      const transport = /^([a-z][a-z0-9-]*):/.exec(text)?.[1];
      const ambiguous = transport !== undefined &&
        ((TRANSPORTS as readonly string[]).includes(transport) || OTHER_TRANSPORTS.has(transport));
      return ambiguous ? `docker://${text}` : text;
    }
    case "oci":
    case "oci-archive":
      return `${location.kind}:${location.path}${location.tag !== undefined ? `:${location.tag}` : ""}`;
    case "docker-archive":
      return `docker-archive:${location.path}${
        location.reference ? `:${formatReference(location.reference, options)}` : ""
      }`;
    case "docker-daemon":
      return `docker-daemon:${location.reference ? formatReference(location.reference, options) : ""}`;
  }
}
