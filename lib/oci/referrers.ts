/**
 * Referrers (signatures, attestations, SBOMs that name an image) as plain data: the distribution spec's
 * tag schema fallback (`sha256-<hex>` index tags), cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`), the
 * referrers-API descriptor of a manifest, and the merge of a fallback index. Shared by the ends and the engine.
 *
 * @module
 */
import { FormatError } from "../errors.ts";
import { CONTAINERD_NAME, containerdName, entryName, registryPathOf, ServedNames } from "./annotations.ts";
import type { Descriptor } from "./descriptor.ts";
import { isDigest } from "./digest.ts";
import { MediaType } from "./media_types.ts";

/** cosign's tag suffixes: signatures, attestations, SBOMs attached by tag. */
export const COSIGN_SUFFIXES = ["sig", "att", "sbom"] as const;

const SCHEMA_TAG = /^(sha256)-([a-f0-9]{64})(?:\.(sig|att|sbom))?$/;

/**
 * What a tag of the tag schema says: the subject digest, and whether it is the OCI fallback index
 * (`sha256-<hex>`) or a cosign tag (`sha256-<hex>.sig`) pointing at the referrer itself.
 *
 * @example
 * ```ts
 * parseSchemaTag("sha256-" + "a".repeat(64) + ".sig"); // { subject: "sha256:aaa…", kind: "cosign", suffix: "sig" }
 * parseSchemaTag("1.0"); // undefined
 * ```
 */
export function parseSchemaTag(
  tag: string,
): { subject: string; kind: "index" } | { subject: string; kind: "cosign"; suffix: string } | undefined {
  const m = SCHEMA_TAG.exec(tag);
  if (!m) return undefined;
  const subject = `${m[1]}:${m[2]}`;
  return m[3] ? { subject, kind: "cosign", suffix: m[3] } : { subject, kind: "index" };
}

/**
 * The fallback tag of `digest` (`sha256:<hex>` → `sha256-<hex>`), or a cosign tag with `suffix`.
 *
 * @example
 * ```ts
 * schemaTag("sha256:" + "a".repeat(64), "sig"); // "sha256-aaa….sig"
 * ```
 */
export function schemaTag(digest: string, suffix?: string): string {
  if (!isDigest(digest)) throw new Error(`not a digest: ${digest}`);
  return `${digest.replace(":", "-")}${suffix ? `.${suffix}` : ""}`;
}

/** The fields of a manifest a referrer descriptor is made of. */
interface ReferrerDocument {
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Parses manifest bytes far enough to see their subject and type; undefined when they are not JSON. */
export function referrerDocument(bytes: Uint8Array): ReferrerDocument | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    return doc && typeof doc === "object" && !Array.isArray(doc) ? doc : undefined;
  } catch {
    return undefined;
  }
}

/** The digest a manifest's `subject` names, if it names one. */
export function subjectOf(bytes: Uint8Array): string | undefined {
  const subject = referrerDocument(bytes)?.subject;
  return subject && typeof subject.digest === "string" && isDigest(subject.digest) ? subject.digest : undefined;
}

/**
 * The artifact type of a referrer manifest: its `artifactType`; else, for a manifest whose config is a
 * generic image config or the empty descriptor (cosign's tags), its first layer's media type
 * (`application/vnd.dev.cosign.simplesigning.v1+json`, `application/vnd.dsse.envelope.v1+json`); else its
 * config's media type, as the referrers API reports it.
 *
 * @example
 * ```ts
 * artifactTypeOf(new TextEncoder().encode('{"artifactType":"application/spdx+json"}')); // "application/spdx+json"
 * ```
 */
export function artifactTypeOf(bytes: Uint8Array): string | undefined {
  const doc = referrerDocument(bytes);
  if (!doc) return undefined;
  if (typeof doc.artifactType === "string" && doc.artifactType) return doc.artifactType;
  const config = doc.config?.mediaType;
  const generic = config === MediaType.OciConfig || config === MediaType.OciEmpty;
  const layer = Array.isArray(doc.layers) ? doc.layers[0]?.mediaType : undefined;
  if (generic && typeof layer === "string") return layer;
  return typeof config === "string" ? config : undefined;
}

/**
 * The descriptor the referrers API (and a fallback index) lists for a manifest: its identity, artifactType
 * and annotations.
 *
 * @example
 * ```ts
 * const entry = referrerDescriptor({ mediaType: MediaType.OciManifest, digest, size }, bytes);
 * ```
 */
export function referrerDescriptor(desc: Descriptor, bytes: Uint8Array): Descriptor {
  const doc = referrerDocument(bytes);
  const out: Descriptor = { mediaType: doc?.mediaType ?? desc.mediaType, digest: desc.digest, size: desc.size };
  const artifactType = doc?.artifactType ?? doc?.config?.mediaType;
  if (typeof artifactType === "string") out.artifactType = artifactType;
  if (doc?.annotations && typeof doc.annotations === "object") out.annotations = doc.annotations;
  return out;
}

/**
 * A fallback index (`sha256-<hex>` tag) with `entries` added: the existing index's bytes (undefined: none yet)
 * with each entry not already listed (by digest) appended, everything else kept. Undefined when nothing changed.
 *
 * @example
 * ```ts
 * const merged = mergeFallbackIndex(undefined, [entry]); // a new OCI index listing entry
 * ```
 */
export function mergeFallbackIndex(existing: Uint8Array | undefined, entries: Descriptor[]): Uint8Array | undefined {
  let index: { manifests: Descriptor[] } = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] } as {
    manifests: Descriptor[];
  };
  if (existing) {
    const doc = referrerDocument(existing) as { manifests?: unknown } | undefined;
    if (!doc || !Array.isArray(doc.manifests)) {
      throw new FormatError("Cannot add to the referrers fallback index: the tag holds something that is not an index");
    }
    index = doc as { manifests: Descriptor[] };
  }
  const added = entries.filter((e, i) =>
    !index.manifests.some((m) => m?.digest === e.digest) && entries.findIndex((o) => o.digest === e.digest) === i
  );
  if (added.length === 0 && existing) return undefined;
  return new TextEncoder().encode(JSON.stringify({ ...index, manifests: [...index.manifests, ...added] }));
}

/**
 * Whether an index.json entry (or registry tag) is a referrer by name: a tag of the tag schema.
 *
 * @example
 * ```ts
 * isSchemaTag("sha256-" + "a".repeat(64) + ".att"); // true
 * ```
 */
export function isSchemaTag(tag: string | undefined): boolean {
  return tag !== undefined && parseSchemaTag(tag) !== undefined;
}

/**
 * The repository path a file's image name (`127.0.0.1:5000/team/app:1.0`, `app:1.0`) is served under (host and
 * docker.io's `library/` dropped, as {@link entryName} names entries): what a referrer listed beside it is named into.
 *
 * @example
 * ```ts
 * repositoryOfName("127.0.0.1:5000/team/app:1.0"); // "team/app"
 * ```
 */
export function repositoryOfName(name: string): string | undefined {
  const full = containerdName(name.includes(":") && name.lastIndexOf(":") > name.lastIndexOf("/") ? name : `${name}:x`);
  const { repository } = entryName(
    { mediaType: "", digest: "", size: 0, annotations: { [CONTAINERD_NAME]: full } },
    "",
  );
  return repository || undefined;
}

/**
 * The images of a set (a bundle's, in its order) that `ferry serve` and `ferry import` put under their full name
 * rather than their path ({@link ServedNames}), each with that name: one path from two registries
 * (`ghcr.io/team/app:1`, then `quay.io/team/app:1`) moves the second to `quay.io/team/app`. A bundle records it on
 * the entries (`dev.ferry.repository`), so that its volumes, served in any order, say the same.
 *
 * @example
 * ```ts
 * movedRepositories(["ghcr.io/team/app:1", "quay.io/team/app:1"]); // Map { "quay.io/team/app:1" => "quay.io/team/app" }
 * ```
 */
export function movedRepositories(names: string[]): Map<string, string> {
  const served = new ServedNames();
  const moved = new Map<string, string>();
  for (const name of names) {
    const short = repositoryOfName(name.split("@")[0]);
    if (short === undefined) continue;
    const placed = served.place(short, registryPathOf(name));
    if (placed !== short) moved.set(name, placed);
  }
  return moved;
}
