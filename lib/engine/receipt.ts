/**
 * Receipts (issue #20): what an air-gapped location holds, written there and carried back out, so the next export
 * sends only what it lacks (`ferry export --since receipt.json`, see lib/engine/bundle_write.ts). A receipt lists the
 * index digest of every tag, every manifest reachable from them and every blob they name (digest and size, from the
 * descriptors: blobs are not read, only checked with HEAD when asked), and its own `sha256` over the canonical JSON
 * without that field. Reading one is defensive: size cap, every field checked, the checksum verified.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { abortErrorOf, FormatError, IntegrityError, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { childrenOf } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { entryName } from "../oci/annotations.ts";
import { parsePrefix } from "../ref/image_list.ts";
import { parseLocation } from "../ref/location.ts";
import { formatReference, parseReference } from "../ref/reference.ts";
import { isBundle, openBundleSet } from "../ends/bundle_set.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import type { RegistryOptions } from "../ends/open.ts";
import { openRegistryStore } from "../ends/registry.ts";
import type { ReadableStore } from "../ends/store.ts";
import { fileErrorOf } from "../stream/files.ts";
import { Limiter } from "../stream/limiter.ts";
import { fetchManifest } from "./fetch.ts";

/** The largest receipt file read (a registry of a million blobs is ~100 MB of JSON). */
export const MAX_RECEIPT_BYTES = 256 * 1024 * 1024;

/** Manifests fetched (or blobs checked) at once. */
const AT_ONCE = 8;

/**
 * A receipt: what a location held when it was taken.
 *
 * @example
 * ```ts
 * const receipt: Receipt = await takeReceipt(["127.0.0.1:5000/team/app"]);
 * console.log(Object.keys(receipt.tags).length, receipt.blobs.length, receipt.sha256);
 * ```
 */
export interface Receipt {
  /** The format's version: 1. */
  version: 1;
  /** When it was taken (RFC 3339). */
  created: string;
  /** The locations it describes, as given. */
  source: string;
  /** Each tag (`host/repo:tag`, or a file's name for it) → its root digest. */
  tags: Record<string, string>;
  /** Every manifest (and index) digest reachable from the tags, sorted. */
  manifests: string[];
  /** Every blob the manifests name (foreign layers left out), sorted by digest. */
  blobs: { digest: string; size: number }[];
  /** `sha256:<hex>` of the canonical JSON of the other fields (see {@link receiptChecksum}). */
  sha256: string;
}

/**
 * Options of {@link takeReceipt}.
 *
 * @example
 * ```ts
 * const options: TakeReceiptOptions = { repositories: ["team/app"], check: true, registry: { plainHttp: true } };
 * ```
 */
export interface TakeReceiptOptions {
  /** Registry access. */
  registry?: RegistryOptions;
  /** For a registry given without a repository: these repositories (paths under it); default its catalog. */
  repositories?: string[];
  /** HEAD every blob and list only those present (default: trust the manifests). */
  check?: boolean;
  /** The `created` time (default now). */
  now?: Date;
  signal?: AbortSignal;
}

/**
 * Takes a receipt of `locations`: registries (`REGISTRY` with its catalog or `repositories`, `REGISTRY/REPO` with
 * every tag, `REGISTRY/REPO:TAG`), OCI layouts and archives (`oci:DIR`, `oci-archive:FILE`, or a path), bundles and
 * volumes (`ferry export` of many images).
 *
 * @example
 * ```ts
 * const receipt = await takeReceipt(["127.0.0.1:5000"], { repositories: ["team/app", "team/db"] });
 * await writeFile("receipt.json", serializeReceipt(receipt));
 * ```
 */
export async function takeReceipt(locations: string[], options: TakeReceiptOptions = {}): Promise<Receipt> {
  if (locations.length === 0) throw new UsageError("Cannot take a receipt: name a registry, layout, bundle or volumes");
  const acc = new Accumulator(options);
  const bundles: string[] = [];
  for (const location of locations) {
    if (await isPath(location)) {
      if (await isBundle(location)) bundles.push(location);
      else await layoutRoots(location, acc);
      continue;
    }
    const parsed = /^(oci|oci-archive):/.test(location) ? parseLocation(location) : undefined;
    if (parsed && (parsed.kind === "oci" || parsed.kind === "oci-archive")) {
      await layoutRoots(parsed.path, acc, parsed.kind === "oci-archive");
      continue;
    }
    if (/^(docker-archive|docker-daemon):/.test(location)) {
      throw new UsageError(
        `Cannot take a receipt of ${location}: name a registry, an OCI layout or archive, a bundle or volumes`,
      );
    }
    await registryRoots(location.replace(/^docker:\/\//, ""), acc, options);
  }
  if (bundles.length > 0) {
    const set = await openBundleSet(bundles, { signal: options.signal });
    try {
      for (const image of set.images) {
        const root = { mediaType: image.mediaType, digest: image.digest, size: image.size };
        if (!(await set.store.exists(root))) continue; // an image all in volumes not given
        if (!image.name.includes("@")) acc.tags[image.name] = image.digest;
        await acc.walk(set.store, [root, ...(image.roots ?? [])], true);
      }
    } finally {
      await set.dispose();
    }
  }
  const body = {
    version: 1 as const,
    created: (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z"),
    source: locations.join(" "),
    tags: Object.fromEntries(Object.entries(acc.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    manifests: [...acc.manifests].sort(),
    blobs: await acc.presentBlobs(),
  };
  return { ...body, sha256: receiptChecksum(body) };
}

async function isPath(location: string): Promise<boolean> {
  if (/^[a-z-]+:/.test(location) && !/^[^/]*:\d+/.test(location)) return false; // a transport
  if (!(location.startsWith("/") || location.startsWith(".") || !location.includes(":"))) return false;
  return (await stat(location).catch(() => undefined)) !== undefined;
}

/** What the walk found: tags, manifests and blobs (each once). */
class Accumulator {
  readonly tags: Record<string, string> = {};
  readonly manifests = new Set<string>();
  readonly #blobs = new Map<string, { desc: Descriptor; store: ReadableStore }>();
  readonly #limit = new Limiter(AT_ONCE);
  constructor(readonly options: TakeReceiptOptions) {}

  /**
   * Walks each root's graph in `store`: manifests fetched (and verified), blobs recorded from their descriptors.
   * `tolerant`: a manifest the store lacks is left out (a volume given alone) instead of failing.
   */
  async walk(store: ReadableStore, roots: Descriptor[], tolerant = false): Promise<void> {
    const signal = this.options.signal;
    const visit = async (desc: Descriptor): Promise<void> => {
      if (signal?.aborted) throw abortErrorOf(signal);
      if (!isManifest(desc.mediaType)) {
        if (!isNondistributable(desc.mediaType) && !this.#blobs.has(desc.digest)) {
          this.#blobs.set(desc.digest, { desc, store });
        }
        return;
      }
      if (this.manifests.has(desc.digest)) return;
      this.manifests.add(desc.digest);
      let children: Descriptor[];
      try {
        children = childrenOf((await this.#limit.run(() => fetchManifest(store, desc, { signal }))).parsed);
      } catch (err) {
        if (!tolerant) throw err;
        this.manifests.delete(desc.digest);
        return;
      }
      await Promise.all(children.map(visit));
    };
    await Promise.all(roots.map(visit));
  }

  /** The blobs found, sorted; with `check`, only those their store answers HEAD for. */
  async presentBlobs(): Promise<{ digest: string; size: number }[]> {
    const all = [...this.#blobs.values()];
    let kept = all;
    if (this.options.check) {
      const signal = this.options.signal;
      const present = await Promise.all(
        all.map(({ desc, store }) => this.#limit.run(() => store.exists(desc, { signal }))),
      );
      kept = all.filter((_, i) => present[i]);
    }
    return kept.map(({ desc }) => ({ digest: desc.digest, size: desc.size }))
      .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }
}

/** A layout directory or archive: every index.json entry, named as `ferry serve` names it. */
async function layoutRoots(path: string, acc: Accumulator, archive?: boolean): Promise<void> {
  const isDir = archive ? false : (await stat(path).catch((err) => {
    throw fileErrorOf(err, "read", path);
  })).isDirectory();
  const store = isDir ? await OciLayoutStore.open(path) : await OciLayoutStore.openArchive(path);
  const entries = store.entries();
  for (const entry of entries) {
    const { repository, tag } = entryName(entry, "");
    if (tag !== undefined) acc.tags[repository ? `${repository}:${tag}` : tag] = entry.digest;
  }
  await acc.walk(store, entries.map((e) => ({ mediaType: e.mediaType, digest: e.digest, size: e.size })));
}

/** A registry: the repositories (given, or the catalog), each tag (or the one named). */
async function registryRoots(location: string, acc: Accumulator, options: TakeReceiptOptions): Promise<void> {
  const signal = options.signal;
  const at = location.indexOf("@");
  const base = at < 0 ? location : location.slice(0, at);
  const tagged = base.includes("/") && base.slice(base.lastIndexOf("/") + 1).includes(":");
  const { registry, path } = parsePrefix(tagged ? base.slice(0, base.lastIndexOf(":")) : base);
  if (at >= 0 || tagged) {
    // One image: REGISTRY/REPO:TAG or REGISTRY/REPO@DIGEST.
    const ref = parseReference(location);
    const store = openRegistryStore(ref, options.registry);
    const root = await store.resolve(ref.digest ?? ref.tag!, { signal });
    if (ref.tag !== undefined) {
      acc.tags[formatReference({ registry, repository: ref.repository, tag: ref.tag })] = root.digest;
    }
    await acc.walk(store, [root]);
    return;
  }
  let repositories: string[];
  if (path) repositories = [path, ...(options.repositories ?? []).map((r) => `${path}/${r}`)];
  else if (options.repositories?.length) repositories = options.repositories;
  else {
    const catalog = await openRegistryStore(parseReference(`${registry}/x`), options.registry)
      .listRepositories({ signal });
    if (catalog === undefined) {
      throw new UsageError(
        `Cannot list the repositories of ${registry}: it offers no catalog (/v2/_catalog); name them with ` +
          `--repository R or -f images.yaml, or give REGISTRY/REPO`,
        { ref: registry },
      );
    }
    repositories = catalog;
  }
  for (const repository of [...new Set(repositories)]) {
    const store = openRegistryStore(parseReference(`${registry}/${repository}`), options.registry);
    const tags = await store.listTags({ signal });
    const limit = new Limiter(AT_ONCE);
    const roots = await Promise.all(
      tags.map((tag) => limit.run(async () => ({ tag, root: await store.resolve(tag, { signal }) }))),
    );
    for (const { tag, root } of roots) acc.tags[formatReference({ registry, repository, tag })] = root.digest;
    await acc.walk(store, roots.map((r) => r.root));
  }
}

/**
 * The canonical JSON of a receipt without its `sha256`: keys sorted at every level, no whitespace.
 *
 * @example
 * ```ts
 * const { sha256: _, ...body } = receipt;
 * console.log(canonicalJson(body));
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${
      keys.filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

/**
 * `sha256:<hex>` of the canonical JSON of `body` (a receipt without its `sha256`).
 *
 * @example
 * ```ts
 * const { sha256, ...body } = receipt;
 * console.log(receiptChecksum(body) === sha256);
 * ```
 */
export function receiptChecksum(body: Omit<Receipt, "sha256">): string {
  return `sha256:${createHash("sha256").update(canonicalJson(body)).digest("hex")}`;
}

/**
 * A receipt as its file holds it: pretty JSON, then a newline.
 *
 * @example
 * ```ts
 * await writeFile("receipt.json", serializeReceipt(await takeReceipt(["127.0.0.1:5000/team/app"])));
 * ```
 */
export function serializeReceipt(receipt: Receipt): string {
  return JSON.stringify(receipt, null, 2) + "\n";
}

/**
 * Parses a receipt (`what` names it in errors): a {@link FormatError} for anything malformed, an
 * {@link IntegrityError} when its `sha256` does not match its content.
 *
 * @example
 * ```ts
 * const receipt = parseReceipt(await readFile("receipt.json"), "receipt.json");
 * ```
 */
export function parseReceipt(bytes: Uint8Array, what: string): Receipt {
  const bad = (reason: string) => new FormatError(`Cannot read receipt ${what}: ${reason}`, { ref: what });
  if (bytes.byteLength > MAX_RECEIPT_BYTES) throw bad(`larger than ${MAX_RECEIPT_BYTES} bytes`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw bad("not a JSON object");
  if (doc.version !== 1) throw bad(`version ${JSON.stringify(doc.version ?? null)} is not 1`);
  if (typeof doc.created !== "string" || Number.isNaN(Date.parse(doc.created))) throw bad("created is not a time");
  if (typeof doc.source !== "string") throw bad("source is not a string");
  const tags = doc.tags;
  if (!tags || typeof tags !== "object" || Array.isArray(tags)) throw bad("tags is not an object");
  for (const [name, digest] of Object.entries(tags)) {
    if (typeof digest !== "string" || !isDigest(digest)) throw bad(`tag ${JSON.stringify(name)} has no digest`);
  }
  if (!Array.isArray(doc.manifests) || doc.manifests.some((d) => typeof d !== "string" || !isDigest(d))) {
    throw bad("manifests is not a list of digests");
  }
  if (
    !Array.isArray(doc.blobs) ||
    doc.blobs.some((b) =>
      !b || typeof b !== "object" || typeof b.digest !== "string" || !isDigest(b.digest) ||
      !Number.isSafeInteger(b.size) || b.size < 0
    )
  ) throw bad("blobs is not a list of {digest, size}");
  if (typeof doc.sha256 !== "string" || !isDigest(doc.sha256)) throw bad("no sha256");
  const known = new Set(["version", "created", "source", "tags", "manifests", "blobs", "sha256"]);
  const extra = Object.keys(doc).find((k) => !known.has(k));
  if (extra !== undefined) throw bad(`unknown field ${JSON.stringify(extra)}`);
  const receipt: Receipt = {
    version: 1,
    created: doc.created,
    source: doc.source,
    tags: tags as Record<string, string>,
    manifests: doc.manifests as string[],
    blobs: (doc.blobs as { digest: string; size: number }[]).map((b) => ({ digest: b.digest, size: b.size })),
    sha256: doc.sha256,
  };
  const { sha256, ...body } = receipt;
  const actual = receiptChecksum(body);
  if (actual !== sha256) {
    throw new IntegrityError(
      `Cannot use receipt ${what}: its content hashes to ${actual}, not the ${sha256} it records; it was changed or ` +
        `damaged, take it again`,
      { ref: what },
    );
  }
  return receipt;
}

/**
 * Reads and checks the receipt file at `path` (see {@link parseReceipt}).
 *
 * @example
 * ```ts
 * const receipt = await readReceipt("receipt.json");
 * console.log(receipt.source, receipt.blobs.length);
 * ```
 */
export async function readReceipt(path: string): Promise<Receipt> {
  const info = await stat(path).catch((err) => {
    throw fileErrorOf(err, "read", path);
  });
  if (info.size > MAX_RECEIPT_BYTES) {
    throw new FormatError(`Cannot read receipt ${path}: larger than ${MAX_RECEIPT_BYTES} bytes`, { ref: path });
  }
  const bytes = await readFile(path).catch((err) => {
    throw fileErrorOf(err, "read", path);
  });
  return parseReceipt(new Uint8Array(bytes), path);
}
