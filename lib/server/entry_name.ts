/**
 * Which repository and tag an OCI layout's index.json entry is served under.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import { isRepositoryName, isTag } from "./routes.ts";

/** The image spec's annotation for an entry's name: a tag (`1.0`) or a full name (`app:1.0`, `host/app:1.0`). */
export const REF_NAME = "org.opencontainers.image.ref.name";
/** containerd's full image name (ferry's docker-archive exports carry it too). */
export const CONTAINERD_NAME = "io.containerd.image.name";
/** The repository of an untagged entry that ferry serve stored for a push by digest. */
export const FERRY_REPOSITORY = "dev.ferry.repository";

/** Where an entry is served. */
export interface EntryName {
  repository: string;
  /** Undefined for an untagged entry (reachable by digest only). */
  tag?: string;
}

/**
 * The repository and tag for an index.json entry, in this order: `forced` (a `--repo` flag) with the
 * entry's tag; ferry's own repository annotation; a full name in ref.name (`app:1.0`); containerd's
 * name annotation; else `defaultRepo` with ref.name as the tag. Registry hosts are dropped from full
 * names (`docker.io/library/app:1.0` → `app`, `127.0.0.1:5000/x/app:1` → `x/app`).
 *
 * @example
 * ```ts
 * entryName({ ...desc, annotations: { [REF_NAME]: "1.0" } }, "app"); // { repository: "app", tag: "1.0" }
 * ```
 */
export function entryName(entry: Descriptor, defaultRepo: string, forced?: string): EntryName {
  const annotations = entry.annotations ?? {};
  const refName = annotations[REF_NAME];
  const full = refName !== undefined && /[/:@]/.test(refName) ? splitName(refName) : undefined;
  const containerd = annotations[CONTAINERD_NAME] ? splitName(annotations[CONTAINERD_NAME]) : undefined;
  const tag = validTag(full ? full.tag : refName ?? containerd?.tag);
  if (forced !== undefined) return { repository: forced, tag };
  const own = annotations[FERRY_REPOSITORY];
  if (own && isRepositoryName(own)) return { repository: own, tag };
  for (const named of [full, containerd]) {
    if (named?.repository && isRepositoryName(named.repository)) return { repository: named.repository, tag };
  }
  return { repository: defaultRepo, tag };
}

function validTag(tag: string | undefined): string | undefined {
  return tag !== undefined && isTag(tag) ? tag : undefined;
}

/** `[host/]path[:tag][@digest]` → repository path without the host (and docker.io's `library/`) and tag. */
function splitName(name: string): { repository?: string; tag?: string } {
  const at = name.indexOf("@");
  const base = at < 0 ? name : name.slice(0, at);
  const colon = base.lastIndexOf(":");
  const hasTag = colon > base.lastIndexOf("/");
  let path = hasTag ? base.slice(0, colon) : base;
  const tag = hasTag ? base.slice(colon + 1) : undefined;
  const slash = path.indexOf("/");
  const first = slash < 0 ? "" : path.slice(0, slash);
  if (first && (first.includes(".") || first.includes(":") || first === "localhost")) {
    path = path.slice(slash + 1);
    if (first === "docker.io" || first === "index.docker.io") path = path.replace(/^library\//, "");
  }
  return { repository: path || undefined, tag };
}
