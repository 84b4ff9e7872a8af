/**
 * `ferry manifest create|annotate|push|rm` and `push from-spec|from-args`: docker's and manifest-tool's manifest-list
 * workflows, daemonless. `create` resolves every component in its registry now and keeps a small draft (descriptors
 * only); `annotate` edits it with the pure index edits; `push` copies (or mounts) components from other
 * repositories and registries into the list's repository, pushes the new index, tags it and removes the draft.
 *
 * @module
 */
import { NotFoundError, UsageError } from "../../errors.ts";
import { type CopyEvent, copyGraph } from "../../engine/copy_graph.ts";
import { commit } from "../../engine/transfer.ts";
import { fetchManifest } from "../../engine/fetch.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { annotateEntry, buildIndex, type SerializedIndex, setPlatform } from "../../oci/index_edit.ts";
import { type Index, isAttestation } from "../../oci/manifest.ts";
import { MediaType } from "../../oci/media_types.ts";
import { formatPlatform } from "../../oci/platform.ts";
import { formatReference, type Reference, withTag } from "../../ref/reference.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { streamOf } from "../../stream/read_limited.ts";
import { openRegistryStore, type RegistryStore } from "../../ends/registry.ts";
import { bare } from "../../oci/descriptor.ts";
import { parseImageReference, resolveComponent } from "./component.ts";
import { type DraftEntry, type DraftOptions, loadDraft, removeDraft, saveDraft } from "./draft.ts";
import type { ManifestSpec } from "./spec.ts";
import { checkSpelling, type LintOptions, lintPlatforms, platformKey } from "./platform_lint.ts";

/**
 * Options every manifest-list verb takes.
 *
 * @example
 * ```ts
 * const options: ManifestListOptions = { draftDir: "/tmp/drafts", registry: { plainHttp: true } };
 * await createManifestList("registry.lan:5000/app:1.0", ["registry.lan:5000/app:1.0-amd64"], options);
 * ```
 */
export interface ManifestListOptions extends DraftOptions {
  /** Registry access (credentials, plain HTTP, TLS, retries) for the list and its components. */
  registry?: RegistryOptions;
  /** Aborts the requests. */
  signal?: AbortSignal;
}

/**
 * A list's entry as results report it.
 *
 * @example
 * ```ts
 * const { manifests } = await pushManifestList("127.0.0.1:5000/app:1.0");
 * const entry: ManifestListEntry = manifests[0];
 * console.log(entry.platform, entry.digest, entry.image);
 * ```
 */
export interface ManifestListEntry {
  /** The image the entry came from, as given. */
  image: string;
  /** Digest of the entry's manifest. */
  digest: string;
  /** Media type of the entry's manifest. */
  mediaType: string;
  /** The entry's platform, `os/arch[/variant]`. */
  platform?: string;
  /** The platform's `os.version` (Windows), when it has one. */
  osVersion?: string;
}

/**
 * What `create` and `annotate` leave behind.
 *
 * @example
 * ```ts
 * const draft: ManifestDraftResult = await createManifestList("127.0.0.1:5000/app:1.0", ["127.0.0.1:5000/app:1.0-amd64"]);
 * for (const warning of draft.warnings) console.error(warning);
 * ```
 */
export interface ManifestDraftResult {
  /** The list, normalised. */
  list: string;
  /** The draft file. */
  draft: string;
  /** The list's entries. */
  entries: ManifestListEntry[];
  /** Platform problems and notes, one line each (the CLI prints them as warnings). */
  warnings: string[];
}

/**
 * Options of {@link createManifestList}.
 *
 * @example
 * ```ts
 * const options: CreateManifestListOptions = { amend: true, type: "oci" };
 * await createManifestList("127.0.0.1:5000/app:1.0", ["127.0.0.1:5000/app:1.0-riscv64"], options);
 * ```
 */
export interface CreateManifestListOptions extends ManifestListOptions {
  /**
   * Add to the existing draft (without it, a second create of a drafted list is refused, as docker does); when
   * there is no draft, start from the list the registry holds now. New components replace entries of the same
   * image reference or platform.
   */
  amend?: boolean;
  /** OCI index or Docker manifest list; default Docker when every entry is a Docker manifest, else OCI. */
  type?: "oci" | "docker";
}

/**
 * `ferry manifest create LIST IMAGE...`: resolves every component now (platforms from the image configs; an
 * index component contributes its platform images) and writes a draft for `push`. Like docker's local manifest
 * store, a list that already has a draft is refused unless `amend` is given, which adds to that draft.
 *
 * @example
 * ```ts
 * await createManifestList("127.0.0.1:5000/app:1.0", ["127.0.0.1:5000/app:1.0-amd64", "127.0.0.1:5000/app:1.0-arm64"]);
 * await pushManifestList("127.0.0.1:5000/app:1.0");
 * ```
 */
export async function createManifestList(
  list: string,
  images: string[],
  options: CreateManifestListOptions = {},
): Promise<ManifestDraftResult> {
  const target = listReference(list, "create");
  const name = formatReference(target);
  if (images.length === 0 && !options.amend) throw new UsageError(`Cannot create ${name}: no images given`);
  const warnings: string[] = [];
  const existing = await loadDraft(name, options);
  if (existing && !options.amend) {
    // docker's words: its local manifest store refuses the same way.
    throw new UsageError(
      `Cannot create ${name}: refusing to amend an existing manifest list with no --amend flag (a draft from an earlier 'ferry manifest create'; add --amend, or run 'ferry manifest rm ${name}' first)`,
      { ref: name },
    );
  }
  let entries: DraftEntry[] = existing
    ? existing.entries
    : options.amend
    ? await currentEntries(target, options, warnings)
    : [];
  const added: DraftEntry[] = [];
  for (const image of images) {
    const resolved = await resolveComponent(image, options);
    warnings.push(...resolved.notes);
    for (const e of resolved.entries) {
      // One entry per component and manifest: naming an image twice adds it once; two images of one digest stay two.
      const same = (a: DraftEntry) => a.image === e.image && a.descriptor.digest === e.descriptor.digest;
      if (!added.some(same)) added.push(e);
    }
  }
  // An added component replaces the entries it had before (docker keys its store by image reference) and any
  // entry of the same platform (the amended list's old arm64 image, say).
  const replaced = (e: DraftEntry) =>
    added.some((a) =>
      a.image === e.image ||
      (!isAttestation(e.descriptor) && e.descriptor.platform && a.descriptor.platform &&
        platformKey(a.descriptor.platform) === platformKey(e.descriptor.platform))
    );
  entries = [...entries.filter((e) => !replaced(e)), ...added];
  warnings.push(...lintOf(entries));
  const mediaType = options.type === undefined
    ? existing?.mediaType
    : options.type === "oci"
    ? MediaType.OciIndex
    : MediaType.DockerManifestList;
  const draft = await saveDraft({ list: name, ...(mediaType ? { mediaType } : {}), entries }, options);
  return { list: name, draft, entries: entries.map(report), warnings };
}

/**
 * Options of {@link annotateManifestList}: docker's flags.
 *
 * @example
 * ```ts
 * const options: AnnotateManifestListOptions = { os: "linux", arch: "arm", variant: "v7" };
 * await annotateManifestList("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app:1.0-arm", options);
 * ```
 */
export interface AnnotateManifestListOptions extends ManifestListOptions {
  /** Operating system to set, e.g. `linux`. */
  os?: string;
  /** Architecture to set, e.g. `arm`. */
  arch?: string;
  /** Variant to set, e.g. `v7`. */
  variant?: string;
  /** `os.version` to set (Windows). */
  osVersion?: string;
  /** `os.features` to set. */
  osFeatures?: string[];
  /** Annotations to merge into the entry (an empty value removes the key). */
  annotations?: Record<string, string>;
}

/**
 * `ferry manifest annotate LIST IMAGE --os/--arch/--variant/...`: sets the platform of IMAGE's entry in the draft.
 * IMAGE is named as given to `create`, or as `REPO@DIGEST` to pick one image of an index component.
 *
 * @example
 * ```ts
 * await annotateManifestList("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app:1.0-arm", { arch: "arm", variant: "v7" });
 * ```
 */
export async function annotateManifestList(
  list: string,
  image: string,
  options: AnnotateManifestListOptions = {},
): Promise<ManifestDraftResult> {
  const name = formatReference(listReference(list, "annotate"));
  const draft = await loadDraft(name, options);
  if (!draft) {
    throw new NotFoundError(`Cannot annotate ${name}: no such manifest list draft; run 'ferry manifest create' first`, {
      ref: name,
    });
  }
  // Addressed as docker does: by the image reference as given to create; REPO@DIGEST picks one image of an
  // index component (or an entry amended from the registry's list).
  const wanted = parseImageReference(image);
  const asGiven = formatReference(wanted);
  let at = draft.entries.flatMap((e, i) => (e.image === asGiven ? [i] : []));
  if (at.length === 0 && wanted.digest) {
    const repo = formatReference({ registry: wanted.registry, repository: wanted.repository });
    at = draft.entries.flatMap((e, i) => {
      const r = parseImageReference(e.image);
      const sameRepo = formatReference({ registry: r.registry, repository: r.repository }) === repo;
      return sameRepo && e.descriptor.digest === wanted.digest ? [i] : [];
    });
  }
  if (at.length === 0) {
    throw new NotFoundError(`Cannot annotate ${name}: ${image} is not in the list`, { ref: name });
  }
  if (at.length > 1) {
    throw new UsageError(
      `Cannot annotate ${name}: ${image} contributes ${at.length} images; name one as REPO@DIGEST`,
      { ref: name },
    );
  }
  const old = draft.entries[at[0]].descriptor;
  const platform: Platform = {
    ...old.platform,
    os: options.os ?? old.platform?.os ?? "",
    architecture: options.arch ?? old.platform?.architecture ?? "",
  };
  if (options.variant !== undefined) platform.variant = options.variant;
  if (options.osVersion !== undefined) platform["os.version"] = options.osVersion;
  if (options.osFeatures !== undefined) platform["os.features"] = options.osFeatures;
  if (!platform.os || !platform.architecture) {
    throw new UsageError(`Cannot annotate ${image}: give both --os and --arch`, { ref: name });
  }
  const spelling = checkSpelling(platform);
  if (spelling.length > 0) {
    throw new UsageError(`Cannot annotate ${image}: ${spelling.map((s) => s.message).join("; ")}`, { ref: name });
  }
  // The index edits on this one entry: another entry of the same digest keeps its own platform.
  let index: Index = { schemaVersion: 2, manifests: [old] };
  index = setPlatform(index, old.digest, platform);
  if (options.annotations) {
    const edits = Object.fromEntries(
      Object.entries(options.annotations).map(([k, v]) => [k, v === "" ? undefined : v]),
    );
    index = annotateEntry(index, old.digest, edits);
  }
  draft.entries[at[0]] = { ...draft.entries[at[0]], descriptor: index.manifests[0] };
  const path = await saveDraft(draft, options);
  return { list: name, draft: path, entries: draft.entries.map(report), warnings: lintOf(draft.entries) };
}

/**
 * What a push did.
 *
 * @example
 * ```ts
 * const result: PushManifestListResult = await pushManifestList("127.0.0.1:5000/app:1.0");
 * console.log(result.digest, result.tags, result.manifests.map((m) => m.platform));
 * ```
 */
export interface PushManifestListResult {
  /** The list, normalised. */
  list: string;
  /** Digest of the list pushed. */
  digest: string;
  /** Media type of the list pushed. */
  mediaType: string;
  /** Size of the list in bytes. */
  size: number;
  /** Every tag pointed at the list. */
  tags: string[];
  /** The list's entries. */
  manifests: ManifestListEntry[];
  /** Components copied from other repositories or registries (blobs and manifests), mounted, already present. */
  copied: number;
  /** Components mounted from another repository of the same registry. */
  mounted: number;
  /** Components the list's repository already had. */
  skipped: number;
  /** Bytes streamed. */
  bytes: number;
  /** Platform problems and notes, one line each. */
  warnings: string[];
}

/**
 * Options of the push verbs.
 *
 * @example
 * ```ts
 * const options: PushManifestListOptions = { concurrency: 4, onEvent: (event) => console.error(event.type) };
 * await pushManifestList("127.0.0.1:5000/app:1.0", options);
 * ```
 */
export interface PushManifestListOptions extends ManifestListOptions {
  /** Accepted for docker compatibility: the draft is always removed after a push. */
  purge?: boolean;
  /** Blobs copied at once. */
  concurrency?: number;
  /** Progress of components copied into the list's repository. */
  onEvent?: (event: CopyEvent) => void;
}

/**
 * `ferry manifest push LIST`: pushes the draft `create`/`annotate` left, then removes it.
 *
 * @example
 * ```ts
 * const { digest } = await pushManifestList("127.0.0.1:5000/app:1.0");
 * ```
 */
export async function pushManifestList(
  list: string,
  options: PushManifestListOptions = {},
): Promise<PushManifestListResult> {
  const target = listReference(list, "push");
  const name = formatReference(target);
  const draft = await loadDraft(name, options);
  if (!draft) {
    throw new NotFoundError(`Cannot push ${name}: no such manifest list draft; run 'ferry manifest create' first`, {
      ref: name,
    });
  }
  const result = await pushEntries(target, draft.entries, { ...options, mediaType: draft.mediaType, tags: [] });
  await removeDraft(name, options);
  return result;
}

/**
 * `ferry manifest rm LIST`: deletes the draft; a {@link NotFoundError} when there is none.
 *
 * @example
 * ```ts
 * await removeManifestList("127.0.0.1:5000/app:1.0");
 * ```
 */
export async function removeManifestList(list: string, options: DraftOptions = {}): Promise<void> {
  const name = formatReference(listReference(list, "remove"));
  if (!await removeDraft(name, options)) {
    throw new NotFoundError(`Cannot remove ${name}: no such manifest list draft`, { ref: name });
  }
}

/**
 * Options of {@link pushManifestSpec}.
 *
 * @example
 * ```ts
 * const options: PushManifestSpecOptions = { ignoreMissing: true, type: "docker" };
 * await pushManifestSpec(parseManifestSpec("image: 127.0.0.1:5000/app:1.0\nmanifests: []\n"), options);
 * ```
 */
export interface PushManifestSpecOptions extends PushManifestListOptions {
  /** Warn about components that do not exist instead of failing (manifest-tool's flag). */
  ignoreMissing?: boolean;
  /** OCI index or Docker manifest list; default Docker when every entry is a Docker manifest, else OCI. */
  type?: "oci" | "docker";
}

/**
 * `ferry manifest push from-spec|from-args`: resolves every component of `spec` now and pushes the list with all
 * its tags, copying components that live elsewhere into the list's repository first. No draft is involved.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 *
 * const spec = parseManifestSpec(await readFile("app.yaml", "utf8"), { file: "app.yaml" });
 * await pushManifestSpec(spec);
 * ```
 */
export async function pushManifestSpec(
  spec: ManifestSpec,
  options: PushManifestSpecOptions = {},
): Promise<PushManifestListResult> {
  const target = listReference(spec.image, "push");
  const warnings: string[] = [];
  const entries: DraftEntry[] = [];
  for (const m of spec.manifests) {
    try {
      const resolved = await resolveComponent(m.image, { ...options, platform: m.platform });
      warnings.push(...resolved.notes);
      entries.push(...resolved.entries);
    } catch (err) {
      if (!(options.ignoreMissing && err instanceof NotFoundError)) throw err;
      warnings.push(`${m.image} does not exist: left out (--ignore-missing)`);
    }
  }
  if (entries.length === 0) {
    throw new NotFoundError(`Cannot push ${formatReference(target)}: none of its images exist`, {
      ref: formatReference(target),
    });
  }
  const mediaType = options.type === undefined
    ? undefined
    : options.type === "oci"
    ? MediaType.OciIndex
    : MediaType.DockerManifestList;
  const result = await pushEntries(target, entries, {
    ...options,
    mediaType,
    tags: spec.tags,
    annotations: spec.annotations,
    hint: spec.origin === "args" ? "args" : "spec",
  });
  return { ...result, warnings: [...warnings, ...result.warnings] };
}

/**
 * Checks every entry, makes sure every component is (or gets) into the list's repository, then pushes and tags
 * the index. Nothing is written before every check has passed, and the list's tags are written last.
 */
async function pushEntries(
  target: Reference,
  all: DraftEntry[],
  options: PushManifestListOptions & {
    mediaType?: string;
    tags: string[];
    annotations?: Record<string, string>;
    hint?: LintOptions["source"];
  },
): Promise<PushManifestListResult> {
  const name = formatReference(target);
  const { entries, images, index } = listDocument(all, options);
  if (images.length === 0) throw new UsageError(`Cannot push ${name}: the list has no images`, { ref: name });
  const fatal = lintPlatforms(images.map(lintEntry)).filter((i) => i.kind === "duplicate" || i.kind === "missing");
  if (fatal.length > 0) {
    throw new UsageError(`Cannot push ${name}: ${fatal[0].image ?? fatal[0].digest}: ${fatal[0].message}`, {
      ref: name,
    });
  }
  const dst = openRegistryStore(target, options.registry);
  const opts = { signal: options.signal };
  const sources = new Map<string, RegistryStore>();
  const foreign: { store: RegistryStore; entry: DraftEntry }[] = [];
  for (const entry of entries) {
    const ref = parseImageReference(entry.image);
    const home = ref.registry === target.registry && ref.repository === target.repository;
    const key = `${ref.registry}/${ref.repository}`;
    const store = home ? dst : sources.get(key) ?? openRegistryStore(ref, options.registry);
    sources.set(key, store);
    if (!await store.exists(bare(entry.descriptor), opts)) {
      throw new NotFoundError(`Cannot push ${name}: ${entry.image} (${entry.descriptor.digest}) no longer exists`, {
        ref: name,
      });
    }
    if (!home) foreign.push({ store, entry });
  }
  const totals = { copied: 0, mounted: 0, skipped: 0, bytes: 0 };
  const tags = [...new Set([target.tag ?? "latest", ...options.tags])];
  // One commit: the components from other repositories, the list, its tags; close() on success, abort() on failure.
  await commit(dst, options.signal, async () => {
    for (const { store, entry } of foreign) {
      const r = await copyGraph(store, dst, bare(entry.descriptor), {
        ...opts,
        concurrency: options.concurrency,
        onEvent: options.onEvent,
      });
      totals.copied += r.copied;
      totals.mounted += r.mounted;
      totals.skipped += r.skipped;
      totals.bytes += r.bytes;
    }
    await dst.push(index.desc, streamOf(index.bytes), opts);
    for (const tag of tags) await dst.tag(index.desc, tag, opts);
  });
  return {
    list: name,
    digest: index.desc.digest,
    mediaType: index.desc.mediaType,
    size: index.desc.size,
    tags,
    manifests: entries.map(report),
    ...totals,
    warnings: lintOf(images, options.hint),
  };
}

/**
 * The list document a draft (or spec) stands for, exactly as push sends it: attestations kept only while the
 * image they describe is in the list; Docker's manifest list when every entry is a Docker manifest, else an OCI
 * index (unless `mediaType` says). `manifest inspect` of a draft shows these bytes' digest.
 *
 * @example
 * ```ts
 * const draft = await loadDraft("127.0.0.1:5000/app:1.0");
 * const { index } = listDocument(draft!.entries, { mediaType: draft!.mediaType });
 * console.log(index.desc.digest); // what `pushManifestList` will push
 * ```
 */
export function listDocument(
  all: DraftEntry[],
  options: { mediaType?: string; annotations?: Record<string, string> } = {},
): { entries: DraftEntry[]; images: DraftEntry[]; index: SerializedIndex } {
  const images = all.filter((e) => !isAttestation(e.descriptor));
  // Attestations (from an amended buildx index) stay only while the image they describe does.
  const entries = all.filter((e) =>
    !isAttestation(e.descriptor) ||
    images.some((i) => i.descriptor.digest === e.descriptor.annotations?.["vnd.docker.reference.digest"])
  );
  const mediaType = options.mediaType ??
    (entries.length > 0 && entries.every((e) => e.descriptor.mediaType === MediaType.DockerManifest)
      ? MediaType.DockerManifestList
      : MediaType.OciIndex);
  const index = buildIndex(entries.map((e) => e.descriptor), {
    mediaType: mediaType as typeof MediaType.OciIndex,
    annotations: options.annotations,
  });
  return { entries, images, index };
}

/** The entries of the list the registry holds now (for `--amend`); none when it does not exist yet. */
async function currentEntries(
  target: Reference,
  options: ManifestListOptions,
  warnings: string[],
): Promise<DraftEntry[]> {
  const store = openRegistryStore(target, options.registry);
  const name = formatReference(target);
  let root: Descriptor;
  try {
    root = await store.resolve(target.tag ?? "latest", { signal: options.signal });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    warnings.push(`${name} does not exist yet: --amend starts from an empty list`);
    return [];
  }
  const top = await fetchManifest(store, root, { signal: options.signal });
  if (top.parsed.kind === "manifest") return (await resolveComponent(name, options)).entries;
  const repo = formatReference({ registry: target.registry, repository: target.repository });
  return top.parsed.index.manifests.map((d) => ({ image: `${repo}@${d.digest}`, descriptor: d }));
}

function listReference(list: string, verb: string): Reference {
  const ref = parseImageReference(list);
  if (ref.digest) throw new UsageError(`Cannot ${verb} manifest list ${list}: name it by tag, not digest`);
  return withTag(ref, ref.tag ?? "latest");
}

function lintEntry(e: DraftEntry) {
  return {
    digest: e.descriptor.digest,
    image: e.image,
    platform: e.descriptor.platform,
    configPlatform: e.configPlatform,
  };
}

function lintOf(entries: DraftEntry[], source?: LintOptions["source"]): string[] {
  return lintPlatforms(entries.filter((e) => !isAttestation(e.descriptor)).map(lintEntry), { source })
    .map((i) => `${i.image ?? i.digest}: ${i.message}`);
}

function report(e: DraftEntry): ManifestListEntry {
  const p = e.descriptor.platform;
  return {
    image: e.image,
    digest: e.descriptor.digest,
    mediaType: e.descriptor.mediaType,
    ...(p ? { platform: formatPlatform(p) } : {}),
    ...(p?.["os.version"] ? { osVersion: p["os.version"] } : {}),
  };
}
