/**
 * Import: archives and OCI layouts (ferry exports, `docker save` tarballs, OCI archives) back into a
 * registry or layout as one multi-arch image, or into the local Docker engine. An import is a copyGraph
 * out of file stores; uncompressed layers are gzipped on the way (spooled, hashed while written).
 *
 * @module
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import { AbortError, FormatError, NotFoundError, UsageError } from "../../errors.ts";
import { type CopyEvent, copyGraph } from "../../engine/copy_graph.ts";
import { commit } from "../../engine/transfer.ts";
import { copyReferrers, discoverReferrers, referrerSummaries, type ReferrerSummary } from "../../engine/referrers.ts";
import { fetchConfig, type FetchedManifest, fetchManifest } from "../../engine/fetch.ts";
import { filterIndex } from "../../engine/select.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { buildIndex } from "../../oci/index_edit.ts";
import { childrenOf, isAttestation } from "../../oci/manifest.ts";
import { isDigest } from "../../oci/digest.ts";
import { isImageManifest, isIndex, isManifest, MediaType } from "../../oci/media_types.ts";
import { formatLocation, parseLocation } from "../../ref/location.ts";
import { formatPlatform, matchPlatform, normalizePlatform, parsePlatformList } from "../../oci/platform.ts";
import { formatReference } from "../../ref/reference.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { ArchiveStore } from "../../ends/archive_reader.ts";
import type { ArchiveEntry } from "../../ends/archive_scan.ts";
import { entryNames, SOURCE_INDEX as SOURCE_INDEX_ANNOTATION } from "../../oci/annotations.ts";
import { DockerEngineStore, hostPlatform } from "../../ends/docker_engine.ts";
import { MemoryStore } from "../../ends/memory.ts";
import { OciLayoutStore } from "../../ends/oci_layout.ts";
import { openDestination } from "../../ends/open.ts";
import {
  type CopyPlan,
  type DryRunPlan,
  dryRunPlan,
  emptyPlan,
  mergePlans,
  planCopy,
  planReferrers,
  probeDestination,
} from "../../engine/plan_copy.ts";
import type { ReadableStore } from "../../ends/store.ts";
import { fileErrorOf } from "../../stream/files.ts";
import { GZIP_LEVEL_FOR_UNCOMPRESSED } from "../../stream/gzip.ts";
import { ferryTempDir } from "../../stream/temp.ts";
import { MAX_MANIFEST_BYTES } from "../../stream/read_limited.ts";
import { compressLayers, needsCompression } from "./compress.ts";
import { UnionStore } from "./union.ts";

/**
 * Options of {@link importImage}.
 *
 * @example
 * ```ts
 * const options: ImportOptions = { type: "docker", platforms: ["linux/amd64"], signal: AbortSignal.timeout(60_000) };
 * await importImage(["saved.tar"], "127.0.0.1:5000/app:1.0", options);
 * ```
 */
export interface ImportOptions {
  /**
   * Resume after a crash (default true): a rerun continues the blobs a killed run left half written beside the
   * output (`.ferry-resume/`, removed on success). false (`--no-resume`) removes that state first.
   */
  resume?: boolean;
  /** Media type of a rebuilt index: OCI image index (default) or Docker manifest list. */
  type?: "oci" | "docker";
  /** Platforms to import (`amd64`, `linux/arm/v7`, comma lists); all by default. */
  platforms?: string[];
  /** Inputs that win when two inputs hold different images of one platform. */
  prefer?: string[];
  /** gzip level for layers stored uncompressed (default 6). */
  gzipLevel?: number;
  /** Blobs moved at once. */
  concurrency?: number;
  /** Registry access for the destination. */
  destination?: RegistryOptions;
  /**
   * Where gzipped archives' referenced blobs and converted layers are spooled (default: this run's directory
   * under `$FERRY_TMPDIR`, by default `<os temp>/ferry`; see lib/stream/temp.ts).
   */
  tempDir?: string;
  /** Aborts the import; the destination tag is written only after everything under it. */
  signal?: AbortSignal;
  /** Called for every blob and manifest skipped, mounted, started, copied, and as bytes stream. */
  onEvent?: (event: CopyEvent) => void;
  /**
   * Restore the referrers the inputs list beside their images (signatures, attestations, SBOMs that `ferry export`
   * carried) for what is pushed, digests preserved (default true). Not into the Docker engine.
   */
  referrers?: boolean;
  /** Only referrers of these artifact types (and what refers to them); all by default. */
  artifactTypes?: string[];
  /**
   * Write nothing: read the inputs' indexes and manifests and report what would be pushed (`plan`), and what the
   * destination has. Layers the import would gzip are not: they are counted as they are (`estimated`).
   */
  dryRun?: boolean;
}

/**
 * One image imported.
 *
 * @example
 * ```ts
 * const { images } = await importImage(["out/image-amd64.tar.gz"], "127.0.0.1:5000/app:1.0");
 * const image: ImportedImage = images[0];
 * console.log(image.platform, image.digest, image.source);
 * ```
 */
export interface ImportedImage {
  /** Its platform, `os/arch[/variant]`. */
  platform: string;
  /** Manifest digest as pushed (the input's own unless layers were compressed). */
  digest: string;
  /** The input it came from. */
  source: string;
  /** Whether uncompressed layers were gzipped (so the manifest is new). */
  converted: boolean;
}

/**
 * What {@link importImage} did, as `--json` prints it.
 *
 * @example
 * ```ts
 * const result: ImportResult = await importImage(["out/image-amd64.tar.gz", "out/image-arm64.tar.gz"], "oci:layout:1.0");
 * console.log(result.digest, result.index, result.images.map((i) => i.platform));
 * ```
 */
export interface ImportResult {
  /** The destination as given. */
  destination: string;
  /** The root pushed: an index (or the one image); empty for the Docker engine. */
  digest: string;
  /** Media type of the root pushed. */
  mediaType: string;
  /**
   * `original`: an input's own index byte for byte (an OCI layout/archive's, or the one a set of ferry
   * export files carries when every child of it is among the inputs); `filtered`: that index narrowed to
   * the images imported (as `ferry copy --platform` narrows it: its other fields and the kept images'
   * attestations stay); `built`: a new index from the configs' platforms; `none`: one image, no index.
   */
  index: "original" | "filtered" | "built" | "none";
  /** Every image pushed, one per platform. */
  images: ImportedImage[];
  /** The Docker engine's report (`Loaded image: app:1.0`). */
  loaded?: string[];
  /** Blobs and manifests copied. */
  copied: number;
  /** Blobs and manifests the destination already had. */
  skipped: number;
  /** Blobs mounted from another repository of the same registry. */
  mounted: number;
  /** Bytes streamed. */
  bytes: number;
  /** The referrers restored (of the root pushed and of its images), parents first. */
  referrers: ReferrerSummary[];
  /** Set by a `dryRun`: nothing was written, and the counts above are what the import would do. */
  dryRun?: true;
  /** With `dryRun`: what would be written and what is there already. */
  plan?: DryRunPlan;
  /**
   * With `dryRun`: some layers would be gzipped first (`converted` images), so their bytes, the manifests' and the
   * index's digests are the inputs' own, not what the import will push.
   */
  estimated?: true;
}

interface Image {
  desc: Descriptor;
  platform: Platform;
  source: string;
  names: string[];
  converted?: boolean;
}

interface Candidate {
  fetched: FetchedManifest;
  names: string[];
}

/**
 * Imports `paths` (archives and OCI layout directories) into `dst` (a registry reference, `oci:DIR`,
 * or `docker-daemon:[REF]`). Every image found is pushed, then one index over them: an input's own
 * index when it covers them (digest preserved), else a new one from each config's platform. Nothing is
 * tagged unless every blob and manifest arrived.
 *
 * @example
 * ```ts
 * const result = await importImage(["out/image-amd64.tar.gz", "out/image-arm64.tar.gz"], "127.0.0.1:5000/app:1.0");
 * console.log(result.digest, result.images.map((i) => i.platform));
 * ```
 */
export async function importImage(paths: string[], dst: string, options: ImportOptions = {}): Promise<ImportResult> {
  if (paths.length === 0) throw new UsageError("Cannot import: no input files");
  const location = parseLocation(dst);
  if (location.kind === "oci-archive" || location.kind === "docker-archive") {
    throw new UsageError(`Cannot import into ${formatLocation(location)}: use ferry copy or export to write archives`);
  }
  const signal = options.signal;
  const tempBase = options.tempDir; // default: this run's directory under $FERRY_TMPDIR (lib/stream/temp.ts)
  const union = new UnionStore();
  const archives: ArchiveStore[] = [];
  const known = new Map<string, ArchiveEntry>(); // blobs verified in earlier archives: spooled once
  let workDir: string | undefined;
  try {
    const candidates: Candidate[] = [];
    const images = new Map<string, Image>();
    const artifacts = new Set<string>();
    for (const path of paths) {
      const { store, roots, carried } = await openInput(path, tempBase, signal, archives, known);
      union.add(store);
      // An index a ferry export file carries: a candidate like an index.json root, its children spread over the files.
      for (const desc of carried) {
        if (candidates.some((c) => c.fetched.desc.digest === desc.digest)) continue;
        const fetched = await fetchManifest(store, desc, { signal });
        candidates.push({ fetched, names: [] });
        if (fetched.parsed.kind !== "index") continue;
        for (const child of fetched.parsed.index.manifests) {
          // An artifact the export carried in this file (it has no file of its own), as in an index.json root below.
          if (child.platform || isAttestation(child) || !isImageManifest(child.mediaType)) continue;
          if (!(await store.exists(child, { signal }))) continue;
          if (!(await addImage(images, store, child, path, [], signal, true))) artifacts.add(child.digest);
        }
      }
      for (const root of roots) {
        const fetched = await fetchManifest(store, root.desc, { signal });
        if (fetched.parsed.kind === "index") {
          candidates.push({ fetched, names: root.names });
          for (const child of fetched.parsed.index.manifests) {
            if (isAttestation(child) || !isImageManifest(child.mediaType) || !(await store.exists(child, { signal }))) {
              continue;
            }
            // An OCI artifact (a signature, an SBOM: no os/architecture) is no image: it travels with its index.
            if (!(await addImage(images, store, child, path, [], signal, true))) artifacts.add(child.digest);
          }
        } else await addImage(images, store, root.desc, path, root.names, signal);
      }
    }
    const chosen = choose([...images.values()], options);
    const extra = new MemoryStore("import:");
    const compress = await Promise.all(chosen.map((i) => needsCompression(union, i.desc, signal)));
    if (options.dryRun) {
      chosen.forEach((image, i) => compress[i] && (image.converted = true));
      union.add(extra);
      return await planImport(union, chosen, candidates, extra, location, options, artifacts);
    }
    if (compress.some(Boolean)) {
      const parent = tempBase ?? await ferryTempDir();
      workDir = await mkdtemp(join(parent, "gzip-")).catch((err) => {
        throw fileErrorOf(err, "create a temp directory in", parent);
      });
      for (const image of chosen) {
        const converted = await compressLayers(union, image.desc, workDir, {
          type: options.type ?? "oci",
          gzipLevel: options.gzipLevel ?? GZIP_LEVEL_FOR_UNCOMPRESSED,
          signal,
        });
        if (!converted) continue;
        union.add(converted.blobs);
        image.desc = { ...converted.manifest, platform: image.platform };
        extra.put(converted.bytes, converted.manifest.mediaType);
        image.converted = true;
      }
    }
    union.add(extra);
    if (location.kind === "docker-daemon") return await load(union, chosen, location.reference, options);
    const { root, index } = await rootOf(chosen, candidates, union, extra, options, artifacts);
    const opened = await openDestination(location, undefined, {
      registry: options.destination,
      resume: options.resume === false ? "restart" : "continue",
    });
    // One commit: the image, its referrers, the tag; close() on success, abort() on any failure.
    return await commit(opened.store, signal, async () => {
      const copyOptions = { concurrency: options.concurrency, signal, onEvent: options.onEvent };
      const result = await copyGraph(union, opened.store, root, copyOptions);
      const referrers = options.referrers === false
        ? []
        : await discoverReferrers(union, root, { signal, artifactTypes: options.artifactTypes });
      const extra = await copyReferrers(union, opened.store, referrers, copyOptions);
      if (signal?.aborted) throw new AbortError();
      if (opened.tag !== undefined) await opened.store.tag(root, opened.tag, { signal });
      return {
        destination: formatLocation(location),
        digest: root.digest,
        mediaType: root.mediaType,
        index,
        images: chosen.map(report),
        copied: result.copied + extra.copied,
        skipped: result.skipped + extra.skipped,
        mounted: result.mounted + extra.mounted,
        bytes: result.bytes + extra.bytes,
        referrers: referrerSummaries(referrers),
      };
    });
  } finally {
    await Promise.all(archives.map((a) => a.dispose()));
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

/** The dry run of an import: the root and its referrers planned against the destination, which is only asked. */
async function planImport(
  union: UnionStore,
  chosen: Image[],
  candidates: Candidate[],
  extra: MemoryStore,
  location: import("../../ref/location.ts").Location,
  options: ImportOptions,
  artifacts: ReadonlySet<string>,
): Promise<ImportResult> {
  const signal = options.signal;
  const estimated = chosen.some((i) => i.converted);
  const probe = location.kind === "docker-daemon"
    ? { store: { ref: "docker-daemon:", exists: () => Promise.resolve(false) }, exists: true }
    : await probeDestination(location, undefined, { registry: options.destination });
  const planOptions = { concurrency: options.concurrency, signal };
  const totals = (plan: CopyPlan) => ({
    copied: plan.toWrite.length,
    skipped: plan.present.length,
    mounted: plan.mounted.length,
    bytes: plan.bytes,
  });
  if (location.kind === "docker-daemon") {
    const seen = new Set<string>();
    const loaded = loadChoice(chosen, location.reference);
    let plan = emptyPlan(loaded[0].desc);
    for (const image of loaded) {
      plan = mergePlans(plan, await planCopy(union, probe.store, image.desc, { ...planOptions, seen }));
    }
    return {
      destination: "docker-daemon:",
      digest: "",
      mediaType: "",
      index: "none",
      images: loaded.map(report),
      ...totals(plan),
      referrers: [],
      dryRun: true,
      plan: await dryRunPlan(plan, probe, [], signal),
      ...(estimated ? { estimated: true as const } : {}),
    };
  }
  // As the run would: an input's index is kept only when no layer is gzipped (converted images make a new one).
  const { root, index } = await rootOf(chosen, candidates, union, extra, options, artifacts);
  const seen = new Set<string>();
  let plan = await planCopy(union, probe.store, root, { ...planOptions, seen });
  const referrers = options.referrers === false
    ? []
    : await discoverReferrers(union, root, { signal, artifactTypes: options.artifactTypes });
  plan = await planReferrers(union, probe.store, plan, referrers, { ...planOptions, seen });
  return {
    destination: formatLocation(location),
    digest: root.digest,
    mediaType: root.mediaType,
    index,
    images: chosen.map(report),
    ...totals(plan),
    referrers: referrerSummaries(referrers),
    dryRun: true,
    plan: await dryRunPlan(plan, probe, probe.tag === undefined ? [] : [probe.tag], signal),
    ...(estimated ? { estimated: true as const } : {}),
  };
}

async function openInput(
  path: string,
  tempDir: string | undefined,
  signal: AbortSignal | undefined,
  archives: ArchiveStore[],
  known: Map<string, ArchiveEntry>,
): Promise<{ store: ReadableStore; roots: { desc: Descriptor; names: string[] }[]; carried: Descriptor[] }> {
  const info = await stat(path).catch((err) => {
    throw fileErrorOf(err, "read", path);
  });
  if (info.isDirectory()) {
    const store = await OciLayoutStore.open(path);
    const index = { manifests: await store.imageEntries() }; // referrers beside them are found by referrers()
    return {
      store,
      carried: await carriedInLayout(path, index.manifests),
      roots: index.manifests.map((d) => ({
        desc: { mediaType: d.mediaType, digest: d.digest, size: d.size },
        names: entryNames(d),
      })),
    };
  }
  const archive = await ArchiveStore.open(path, { tempDir, signal, known });
  archives.push(archive);
  return { store: archive, roots: archive.roots, carried: archive.carried };
}

/** The indexes an unpacked ferry export (a layout directory) carries: see {@link SOURCE_INDEX_ANNOTATION}. */
async function carriedInLayout(path: string, entries: Descriptor[]): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for (const digest of new Set(entries.map((d) => d.annotations?.[SOURCE_INDEX_ANNOTATION]))) {
    if (typeof digest !== "string" || !isDigest(digest)) continue;
    const file = join(path, "blobs", ...digest.split(":"));
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile() || info.size > MAX_MANIFEST_BYTES) continue; // not carried after all: the index is rebuilt
    let mediaType: unknown;
    try {
      mediaType = (JSON.parse(await readFile(file, "utf8")) as { mediaType?: unknown })?.mediaType ??
        MediaType.OciIndex;
    } catch {
      continue; // unreadable or not JSON: not an index to keep; fetchManifest would refuse it anyway
    }
    if (typeof mediaType === "string" && isIndex(mediaType)) out.push({ mediaType, digest, size: info.size });
  }
  return out;
}

async function addImage(
  images: Map<string, Image>,
  store: ReadableStore,
  desc: Descriptor,
  source: string,
  names: string[],
  signal?: AbortSignal,
  inIndex = false,
): Promise<boolean> {
  const known = images.get(desc.digest);
  if (known) {
    known.names.push(...names.filter((n) => !known.names.includes(n)));
    return true;
  }
  const fetched = await fetchManifest(store, desc, { signal });
  if (fetched.parsed.kind !== "manifest") return true;
  const config = await fetchConfig(store, fetched.parsed.manifest.config, { signal });
  if (!config?.os || !config?.architecture) {
    if (inIndex) return false;
    throw new FormatError(`Cannot import ${desc.digest}: its config names no os/architecture`, { ref: source });
  }
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant) platform.variant = config.variant;
  if (config["os.version"]) platform["os.version"] = config["os.version"];
  images.set(desc.digest, {
    desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size },
    platform,
    source,
    names: [...names],
  });
  return true;
}

/** Applies --platform, then refuses (or, with --prefer, resolves) two different images of one platform. */
function choose(all: Image[], options: ImportOptions): Image[] {
  if (all.length === 0) throw new FormatError("Cannot import: the inputs hold no container images");
  const want = parsePlatformList(options.platforms);
  let images = all;
  if (want !== "all") {
    for (const w of want) {
      if (!all.some((i) => matchPlatform(w, i.platform))) {
        throw new NotFoundError(
          `Cannot find platform ${formatPlatform(w)} in the inputs; they have ${
            all.map((i) => formatPlatform(i.platform)).join(", ")
          }`,
        );
      }
    }
    images = all.filter((i) => want.some((w) => matchPlatform(w, i.platform)));
  }
  const prefer = new Set((options.prefer ?? []).map((p) => resolvePath(p)));
  const byPlatform = new Map<string, Image[]>();
  for (const image of images) {
    const key = formatPlatform(normalizePlatform(image.platform));
    byPlatform.set(key, [...(byPlatform.get(key) ?? []), image]);
  }
  const out: Image[] = [];
  for (const [key, group] of byPlatform) {
    const preferred = group.filter((i) => prefer.has(resolvePath(i.source)));
    if (group.length === 1 || preferred.length === 1) {
      out.push(group.length === 1 ? group[0] : preferred[0]);
      continue;
    }
    const list = group.map((i) => `${i.source} (${i.desc.digest.slice(0, 19)})`).join(", ");
    throw new UsageError(
      `Cannot import two images for ${key}: ${list}; pass one of them, or choose with --prefer FILE`,
    );
  }
  return images.filter((i) => out.includes(i));
}

/** The root to push: an input's index that covers the images (kept or narrowed), a new index, or the one image. */
async function rootOf(
  images: Image[],
  candidates: Candidate[],
  union: UnionStore,
  extra: MemoryStore,
  options: ImportOptions,
  artifacts: ReadonlySet<string>,
): Promise<{ root: Descriptor; index: ImportResult["index"] }> {
  if (!images.some((i) => i.converted)) {
    // An explicit --type asks for that kind of index: an input's index of the other kind is not kept.
    const wanted = options.type && (options.type === "docker" ? MediaType.DockerManifestList : MediaType.OciIndex);
    for (const { fetched } of candidates) {
      if (fetched.parsed.kind !== "index" || (wanted && fetched.desc.mediaType !== wanted)) continue;
      const index = fetched.parsed.index;
      const entries = index.manifests;
      if (!images.every((i) => entries.some((e) => e.digest === i.desc.digest))) continue;
      // Artifacts (no platform) stay unless --platform narrows the import (as `ferry copy --platform` drops them).
      const all = parsePlatformList(options.platforms) === "all";
      const keep = entries.filter((e) =>
        images.some((i) => i.desc.digest === e.digest) || (all && artifacts.has(e.digest))
      );
      const present = async (ds: Descriptor[]) => (await Promise.all(ds.map((d) => complete(union, d)))).every(Boolean);
      const entriesOf = (n: { bytes: Uint8Array }) =>
        JSON.parse(new TextDecoder().decode(n.bytes)).manifests as Descriptor[];
      // The kept images' attestations stay when they are all here (with every blob), else they all go.
      let narrowed = filterIndex(fetched.bytes, index, keep, { attestations: "keep" });
      if (!(await present(entriesOf(narrowed)))) {
        narrowed = filterIndex(fetched.bytes, index, keep, { attestations: "drop" });
      }
      if (!(await present(entriesOf(narrowed)))) continue;
      if (narrowed.desc.digest === fetched.desc.digest) return { root: fetched.desc, index: "original" };
      extra.put(narrowed.bytes, narrowed.desc.mediaType);
      return { root: narrowed.desc, index: "filtered" };
    }
  }
  if (images.length === 1 && candidates.length === 0) return { root: images[0].desc, index: "none" };
  const mediaType = options.type === "docker" ? MediaType.DockerManifestList : MediaType.OciIndex;
  const built = buildIndex(images.map((i) => ({ ...i.desc, platform: i.platform })), { mediaType });
  extra.put(built.bytes, mediaType);
  return { root: built.desc, index: "built" };
}

/**
 * Whether the whole graph of `desc` is in `store` (manifests fetched and walked, blobs checked), so an
 * index naming it can be pushed; an attestation whose blobs are missing makes the index narrower instead.
 */
async function complete(store: ReadableStore, desc: Descriptor): Promise<boolean> {
  if (!(await store.exists(desc))) return false;
  if (!isManifest(desc.mediaType)) return true;
  const fetched = await fetchManifest(store, desc).catch(() => undefined);
  if (!fetched) return false;
  return (await Promise.all(childrenOf(fetched.parsed).map((c) => complete(store, c)))).every(Boolean);
}

/** Loads every image into the Docker engine in one request; with a REF, the one for this host gets that name. */
async function load(
  union: UnionStore,
  images: Image[],
  reference: import("../../ref/reference.ts").Reference | undefined,
  options: ImportOptions,
): Promise<ImportResult> {
  const chosen = loadChoice(images, reference);
  const engine = new DockerEngineStore();
  return await commit(engine, options.signal, async () => {
    let totals = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
    for (const image of chosen) {
      const r = await copyGraph(union, engine, image.desc, { signal: options.signal, onEvent: options.onEvent });
      totals = {
        copied: totals.copied + r.copied,
        skipped: totals.skipped + r.skipped,
        mounted: 0,
        bytes: totals.bytes + r.bytes,
      };
      const names = reference
        ? [formatReference({ ...reference, digest: undefined, tag: reference.tag ?? "latest" }, { short: true })]
        : image.names.filter((n) => n.includes(":") || n.includes("/"));
      for (const name of names) await engine.tag(image.desc, name);
    }
    return {
      destination: "docker-daemon:",
      digest: "",
      mediaType: "",
      index: "none",
      images: chosen.map(report),
      loaded: engine.loaded,
      ...totals,
      referrers: [],
    };
  });
}

/** The images a load sends: all, or with a REF the one for this host. */
function loadChoice(images: Image[], reference: import("../../ref/reference.ts").Reference | undefined): Image[] {
  if (!reference) return images;
  const chosen = images.length > 1 ? images.filter((i) => matchPlatform(hostPlatform(), i.platform)) : images;
  if (chosen.length !== 1) {
    throw new UsageError(
      `Cannot load ${images.length} platforms as one name into the Docker engine: no single ${
        formatPlatform(hostPlatform())
      } image; choose one with --platform`,
    );
  }
  return chosen;
}

function report(image: Image): ImportedImage {
  return {
    platform: formatPlatform(image.platform),
    digest: image.desc.digest,
    source: image.source,
    converted: image.converted === true,
  };
}
