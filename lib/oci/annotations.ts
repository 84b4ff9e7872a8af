/**
 * Every annotation key ferry reads or writes, and the one rule that says what an index.json entry is named
 * (its repository and tag): {@link NAME_KEYS} in order, applied by {@link entryName}.
 *
 * @module
 */
import type { Descriptor } from "./descriptor.ts";

/** The image spec's annotation for an entry's name: a tag (`1.0`) or a full name (`app:1.0`, `host/app:1.0`). */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** containerd's full image name, normalised (`docker.io/library/app:1.0`); every ferry export writes it. */
export const CONTAINERD_NAME = "io.containerd.image.name";
/** go-containerregistry's (older crane's) full image name. */
export const GGCR_NAME = "dev.ggcr.image.name";
/**
 * The name keys, in the order that decides: the first key with a value gives the tag, the first holding a full
 * name (`[host/]repo:tag`) gives the repository. ref.name comes first because the image spec and skopeo use it.
 */
export const NAME_KEYS: readonly string[] = [REF_NAME, CONTAINERD_NAME, GGCR_NAME];
/** The repository of an untagged entry that ferry serve stored for a push by digest. */
export const FERRY_REPOSITORY = "dev.ferry.repository";
/**
 * The index.json annotation ferry puts on the image entry of a per-platform export file cut from an index: the
 * digest (`sha256:<hex>`) of that index. The index's exact bytes are in the file as `blobs/sha256/<hex>`,
 * together with the attestation manifests (and their blobs) of this platform, all written but listed in neither
 * index.json nor manifest.json, so `docker load` and containerd see one image, while the files of one export
 * together hold every child of the index: `ferry import` pushes it back byte for byte (its digest kept) and
 * `ferry serve` serves it (under {@link SOURCE_INDEX_NAME}). Reverse-DNS key, as the OCI image spec asks of
 * annotations outside its own namespace.
 */
export const SOURCE_INDEX = "dev.ferry.source-index";
/**
 * Beside {@link SOURCE_INDEX}: the index's full name as exported, in {@link CONTAINERD_NAME}'s form
 * (`127.0.0.1:5000/team/app:1.0`), so a server of the files can serve the index under it.
 */
export const SOURCE_INDEX_NAME = "dev.ferry.source-index.name";
/**
 * The cosign tag (`sha256-<hex>.sig|.att|.sbom`) of a referrer listed in an archive's index.json. Kept out of
 * ref.name, from which containerd's importer (and so `docker load` with the containerd image store) would make
 * an image `import-<date>:sha256-….sig`; ferry reads it back as the tag, and `ferry serve` lists it.
 */
export const REFERRER_TAG = "dev.ferry.referrer.tag";
/** buildx's annotation on an attestation manifest: the digest of the image it describes. */
export const REFERENCE_DIGEST = "vnd.docker.reference.digest";
/** buildx's annotation on an attestation manifest: `attestation-manifest`. */
export const REFERENCE_TYPE = "vnd.docker.reference.type";

/**
 * Where an index.json entry is served: its repository, and its tag (undefined: by digest only).
 *
 * @example
 * ```ts
 * const name: EntryName = { repository: "team/app", tag: "1.0" };
 * ```
 */
export interface EntryName {
  /** Repository path without a registry host, e.g. `team/app`. */
  repository: string;
  /** Undefined for an untagged entry (reachable by digest only). */
  tag?: string;
}

/**
 * The repository and tag an index.json entry is named. The tag: the first of {@link NAME_KEYS} with a value
 * (a bare tag, or the tag of a full name). The repository, in this order: `forced` (a `--repo` flag); ferry's
 * own {@link FERRY_REPOSITORY}; the first full name among {@link NAME_KEYS}; else `defaultRepo` (a file's or
 * directory's name). Registry hosts are dropped (`docker.io/library/app:1.0` → `app`,
 * `127.0.0.1:5000/x/app:1` → `x/app`); invalid names and tags are ignored.
 *
 * @example
 * ```ts
 * const desc = { mediaType: "application/vnd.oci.image.index.v1+json", digest: "sha256:" + "a".repeat(64), size: 1 };
 * entryName({ ...desc, annotations: { [REF_NAME]: "1.0" } }, "app"); // { repository: "app", tag: "1.0" }
 * entryName({ ...desc, annotations: { [REF_NAME]: "1.0", [CONTAINERD_NAME]: "docker.io/team/app:1.0" } }, "x");
 * // { repository: "team/app", tag: "1.0" }
 * ```
 */
export function entryName(entry: Descriptor, defaultRepo: string, forced?: string): EntryName {
  const values = NAME_KEYS.map((key) => entry.annotations?.[key]).filter((v): v is string => !!v);
  const names = values.map((v) => (isFullName(v) ? splitName(v) : { tag: v }));
  const tag = validTag(names[0]?.tag);
  if (forced !== undefined) return { repository: forced, tag };
  const own = entry.annotations?.[FERRY_REPOSITORY];
  if (own && isRepositoryName(own)) return { repository: own, tag };
  const named = names.find((n) => n.repository !== undefined && isRepositoryName(n.repository));
  return { repository: named?.repository ?? defaultRepo, tag };
}

/**
 * `host/path` of a full image name (`docker.io/library/nginx:1.27` → `docker.io/library/nginx`, `index.docker.io`
 * as `docker.io`, Docker Hub's `library/` kept as registry mirrors are asked); undefined for a bare tag or a name
 * without a registry host (`team/app:1.0`).
 *
 * @example
 * ```ts
 * registryPathOf("ghcr.io/team/app:1.0@sha256:" + "a".repeat(64)); // "ghcr.io/team/app"
 * ```
 */
export function registryPathOf(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const { host, path } = nameParts(name);
  return host ? path.replace(/^index\.docker\.io\//, "docker.io/") : undefined;
}

/**
 * Where the images of one served set go (a bundle as it is written, `ferry serve A B` as it reads): each image's
 * {@link entryName} repository (`team/app`), unless an image of another registry took that path first; then its
 * full `host/path` (`quay.io/team/app`), so that no name answers with another registry's image. The first keeps
 * the short path. A full name that is no repository name (a host with a port, `127.0.0.1:5000/team/app`) cannot
 * be asked for by clients and shares the short path, where the first image's tags win.
 *
 * @example
 * ```ts
 * const names = new ServedNames();
 * names.place("team/app", "ghcr.io/team/app"); // "team/app"
 * names.place("team/app", "quay.io/team/app"); // "quay.io/team/app"
 * names.place("team/app", "ghcr.io/team/app"); // "team/app"
 * ```
 */
export class ServedNames {
  readonly #owners = new Map<string, string>();

  /** The repository of an image named `repository` by its entry, whose full name's `host/path` is `full`. */
  place(repository: string, full: string | undefined): string {
    if (full === undefined) return repository;
    const owner = this.#owners.get(repository);
    if (owner === undefined) {
      this.#owners.set(repository, full);
      return repository;
    }
    return owner === full || !isRepositoryName(full) ? repository : full;
  }
}

/**
 * Every name annotation of an entry, full names first (`docker.io/library/app:1.0`, then `1.0`), deduplicated:
 * the names an archive's images are listed and tagged by.
 *
 * @example
 * ```ts
 * entryNames({ ...desc, annotations: { [REF_NAME]: "1.0", [CONTAINERD_NAME]: "docker.io/library/app:1.0" } });
 * // ["docker.io/library/app:1.0", "1.0"]
 * ```
 */
export function entryNames(entry: Descriptor): string[] {
  const values = NAME_KEYS.map((key) => entry.annotations?.[key]).filter((v): v is string => !!v);
  return [...new Set([...values.filter(isFullName), ...values.filter((v) => !isFullName(v))])];
}

/**
 * Whether an entry is named `reference`: exactly by one of {@link NAME_KEYS} (skopeo, crane, containerd), or as
 * the tag of a full name (`app:1.0` answers to `1.0`). `exactOnly` looks at ref.name alone, verbatim, as skopeo
 * does; OciLayoutStore tries that first.
 *
 * @example
 * ```ts
 * isNamed({ ...desc, annotations: { [CONTAINERD_NAME]: "docker.io/library/app:2.0" } }, "2.0"); // true
 * ```
 */
export function isNamed(entry: Descriptor, reference: string, exactOnly = false): boolean {
  if (exactOnly) return entry.annotations?.[REF_NAME] === reference;
  return NAME_KEYS.some((key) => {
    const name = entry.annotations?.[key];
    if (!name) return false;
    if (name === reference) return true;
    return isFullName(name) && splitName(name).tag === reference;
  });
}

/**
 * containerd's form of a `repo:tag` name, as `ctr import` and Docker's containerd image store take it verbatim:
 * `app:1` → `docker.io/library/app:1`, `me/app:1` → `docker.io/me/app:1`; names with a registry unchanged.
 *
 * @example
 * ```ts
 * containerdName("team/app:1.0"); // "docker.io/team/app:1.0"
 * ```
 */
export function containerdName(name: string): string {
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  if (isHost(first)) return name;
  return `docker.io/${slash < 0 ? "library/" : ""}${name}`;
}

// The distribution spec's grammar: path components of lowercase alphanumerics joined by
// ".", "_", "__" or runs of "-"; tags are at most 128 characters.
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution's limit on the repository name (it counts the host too; we only see the path). */
const MAX_NAME_LENGTH = 255;

/**
 * Whether `name` is a valid repository name (`sample/app`), by the distribution spec's grammar.
 *
 * @example
 * ```ts
 * isRepositoryName("team/app"); // true
 * ```
 */
export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

/**
 * Whether `tag` is a valid tag (`1.0`, `latest`).
 *
 * @example
 * ```ts
 * isTag("1.0-amd64"); // true
 * ```
 */
export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

function isFullName(value: string): boolean {
  return /[/:@]/.test(value);
}

function isHost(first: string): boolean {
  return first !== "" && (first.includes(".") || first.includes(":") || first === "localhost");
}

function validTag(tag: string | undefined): string | undefined {
  return tag !== undefined && isTag(tag) ? tag : undefined;
}

/** `[host/]path[:tag][@digest]` → the registry host (`""` when the first component is none), the path with it, the tag. */
function nameParts(name: string): { host: string; path: string; tag?: string } {
  const at = name.indexOf("@");
  const base = at < 0 ? name : name.slice(0, at);
  const colon = base.lastIndexOf(":");
  const hasTag = colon > base.lastIndexOf("/");
  const path = hasTag ? base.slice(0, colon) : base;
  const slash = path.indexOf("/");
  const first = slash < 0 ? "" : path.slice(0, slash);
  return { host: isHost(first) ? first : "", path, tag: hasTag ? base.slice(colon + 1) : undefined };
}

/** `[host/]path[:tag][@digest]` → repository path without the host (and docker.io's `library/`) and tag. */
function splitName(name: string): { repository?: string; tag?: string } {
  const { host, path, tag } = nameParts(name);
  let repository = host ? path.slice(host.length + 1) : path;
  if (host === "docker.io" || host === "index.docker.io") repository = repository.replace(/^library\//, "");
  return { repository: repository || undefined, tag };
}
