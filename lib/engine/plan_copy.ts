/**
 * Dry runs: what {@link copyGraph} would write, without writing anything. {@link planCopy} walks the graph as
 * copyGraph does (manifests are fetched, they are small; blobs never are, their sizes come from the descriptors),
 * asks the destination `exists` for each with copyGraph's rules (a manifest it has means its whole subtree; foreign
 * layers per `foreignLayers`; inside one registry a blob is mounted, not streamed), and lists what is to write,
 * what is there, and the bytes, in total and per platform. {@link planWithReferrers} adds the referrers the copy
 * would carry; {@link probeDestination} opens a destination only to ask it (no directory created, no upload).
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { abortErrorOf, FerryError, NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { childrenOf } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { Location } from "../ref/location.ts";
import { formatReference } from "../ref/reference.ts";
import { refuseLocalName } from "../ends/local_name.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import type { OpenOptions } from "../ends/open.ts";
import { openRegistryStore } from "../ends/registry.ts";
import type { ReadableStore, StoreOptions, WritableStore } from "../ends/store.ts";
import { Limiter } from "../stream/limiter.ts";
import { DEFAULT_CONCURRENCY, foreignLayerRefused } from "./copy_graph.ts";
import { fetchManifest } from "./fetch.ts";
import { type Referrer, type ReferrersChoice, referrersOfRoots } from "./referrers.ts";

/**
 * What a dry run asks of a destination: only whether it has a descriptor (and whether it could mount one).
 *
 * @example
 * ```ts
 * const probe: PlanDestination = { ref: "oci:new", exists: () => Promise.resolve(false) };
 * await planCopy(buildSampleImage().store, probe, buildSampleImage().root);
 * ```
 */
export type PlanDestination = Pick<WritableStore, "ref" | "exists"> & Partial<Pick<WritableStore, "origin" | "mount">>;

/**
 * One blob or manifest of a dry run.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const plan = await planCopy(sample.store, new MemoryStore(), sample.root);
 * const first: PlannedItem = plan.toWrite[0];
 * console.log(first.digest, first.size, first.platform ?? "index");
 * ```
 */
export interface PlannedItem {
  /** Its digest. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** Its size in bytes. */
  size: number;
  /** The platform of the nearest index entry above it (the first, for a blob platforms share), or `referrers`. */
  platform?: string;
}

/**
 * Bytes and blobs of one platform in a dry run (each blob counted under the first platform that names it).
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const plan = await planCopy(sample.store, new MemoryStore(), sample.root);
 * const amd64: PlatformPlan | undefined = plan.perPlatform.get("linux/amd64");
 * ```
 */
export interface PlatformPlan {
  /** Blob bytes to stream. */
  bytes: number;
  /** Blobs to write (manifests not counted). */
  blobs: number;
  /** Blobs and manifests the destination already has. */
  present: number;
  /** Bytes of those. */
  presentBytes: number;
}

/**
 * What {@link planCopy} found: the copy it would make.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const plan: CopyPlan = await planCopy(sample.store, new MemoryStore(), sample.root);
 * console.log(`${plan.toWrite.length} to write, ${plan.bytes} bytes, ${plan.present.length} already there`);
 * ```
 */
export interface CopyPlan {
  /** The root planned. */
  root: Descriptor;
  /** Manifests and blobs the destination lacks, parents first. */
  toWrite: PlannedItem[];
  /** Those it has: a manifest stands for its whole subtree, which is not walked (as copyGraph does not). */
  present: PlannedItem[];
  /** Blobs mounted from the source's repository of the same registry: no bytes streamed. */
  mounted: PlannedItem[];
  /** Non-distributable layers left out (`foreignLayers: "skip"`). */
  skippedForeignLayers: Descriptor[];
  /** Blob bytes to stream: what the real run reports as `bytes`. */
  bytes: number;
  /** Bytes of the manifests to write (not part of `bytes`, as in the real run's). */
  manifestBytes: number;
  /** By platform (see {@link PlannedItem.platform}; `""` for what sits above every platform, e.g. the index). */
  perPlatform: Map<string, PlatformPlan>;
}

/**
 * Options of {@link planCopy}.
 *
 * @example
 * ```ts
 * const options: PlanCopyOptions = { foreignLayers: "refuse", seen: new Set() };
 * ```
 */
export interface PlanCopyOptions extends StoreOptions {
  /** As copyGraph's; `refuse` throws its error, so a dry run fails where the run would. */
  foreignLayers?: "skip" | "copy" | "refuse";
  /** Requests at once (default copyGraph's). */
  concurrency?: number;
  /**
   * Digests an earlier plan into the same destination covers (filled in as this one plans): treated as there,
   * listed nowhere, as a later copyGraph into the same store finds them written.
   */
  seen?: Set<string>;
  /** Label for every item not under an index entry with a platform (default none); `referrers` for their graphs. */
  group?: string;
}

type State = "write" | "present" | "mounted" | "foreign" | "seen";
interface Node {
  desc: Descriptor;
  state: State;
  children: Descriptor[];
}

/**
 * Plans copying `root` from `src` to `dst` with copyGraph's rules, writing nothing: manifests the destination
 * lacks are fetched from `src` (verified), blobs are only asked about at `dst`.
 *
 * @example
 * ```ts
 * const { store, root } = buildSampleImage();
 * const plan = await planCopy(store, new MemoryStore(), root);
 * const real = await copyGraph(store, new MemoryStore(), root);
 * console.log(plan.bytes === real.bytes); // true
 * ```
 */
export async function planCopy(
  src: ReadableStore,
  dst: PlanDestination,
  root: Descriptor,
  options: PlanCopyOptions = {},
): Promise<CopyPlan> {
  const signal = options.signal;
  if (signal?.aborted) throw abortErrorOf(signal);
  const seen = options.seen ?? new Set<string>();
  const foreignLayers = options.foreignLayers ?? "skip";
  const limit = new Limiter(Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY));
  const mountFrom = src.origin && dst.mount && dst.origin?.registry === src.origin.registry &&
    dst.origin.repository !== src.origin.repository;
  const nodes = new Map<string, Promise<Node>>();

  function visit(desc: Descriptor): Promise<Node> {
    let node = nodes.get(desc.digest);
    if (!node) {
      node = classify(desc);
      nodes.set(desc.digest, node);
    }
    return node;
  }

  async function classify(desc: Descriptor): Promise<Node> {
    const node: Node = { desc, state: "write", children: [] };
    if (seen.has(desc.digest)) return { ...node, state: "seen" };
    if (!isManifest(desc.mediaType) && isNondistributable(desc.mediaType) && foreignLayers !== "copy") {
      if (foreignLayers === "refuse") throw foreignLayerRefused(desc, dst.ref);
      return { ...node, state: "foreign" };
    }
    if (await limit.run(() => dst.exists(desc, { signal }))) return { ...node, state: "present" };
    if (!isManifest(desc.mediaType)) return mountFrom ? { ...node, state: "mounted" } : node;
    const fetched = await limit.run(() => fetchManifest(src, desc, { signal }));
    node.children = childrenOf(fetched.parsed);
    await Promise.all(node.children.map(visit));
    return node;
  }

  await visit(root);
  const plan: CopyPlan = {
    root,
    toWrite: [],
    present: [],
    mounted: [],
    skippedForeignLayers: [],
    bytes: 0,
    manifestBytes: 0,
    perPlatform: new Map(),
  };
  // In graph order, parents first, each digest once, under the platform of the first path reaching it.
  const done = new Set<string>();
  const walk = async (desc: Descriptor, platform: string | undefined): Promise<void> => {
    if (done.has(desc.digest)) return;
    done.add(desc.digest);
    const node = await nodes.get(desc.digest)!;
    if (node.state === "seen") return;
    seen.add(desc.digest);
    const item: PlannedItem = {
      digest: desc.digest,
      mediaType: desc.mediaType,
      size: desc.size,
      ...(platform !== undefined ? { platform } : {}),
    };
    const key = platform ?? "";
    const group = plan.perPlatform.get(key) ?? { bytes: 0, blobs: 0, present: 0, presentBytes: 0 };
    plan.perPlatform.set(key, group);
    const manifest = isManifest(desc.mediaType);
    switch (node.state) {
      case "foreign":
        plan.skippedForeignLayers.push(desc);
        break;
      case "present":
        plan.present.push(item);
        group.present++;
        group.presentBytes += desc.size;
        break;
      case "mounted":
        plan.mounted.push(item);
        break;
      case "write":
        plan.toWrite.push(item);
        if (manifest) plan.manifestBytes += desc.size;
        else {
          plan.bytes += desc.size;
          group.bytes += desc.size;
          group.blobs++;
        }
    }
    for (const child of node.children) {
      await walk(child, child.platform?.os ? formatPlatform(child.platform) : platform);
    }
  };
  await walk(root, root.platform?.os ? formatPlatform(root.platform) : options.group);
  return plan;
}

/**
 * Adds plan `b` (of the same destination, planned with the same `seen`) to `a`, which keeps its root.
 *
 * @example
 * ```ts
 * const seen = new Set<string>();
 * const both = mergePlans(await planCopy(src, dst, a, { seen }), await planCopy(src, dst, b, { seen }));
 * ```
 */
export function mergePlans(a: CopyPlan, b: CopyPlan): CopyPlan {
  const perPlatform = new Map([...a.perPlatform].map(([k, v]) => [k, { ...v }]));
  for (const [key, p] of b.perPlatform) {
    const q = perPlatform.get(key) ?? { bytes: 0, blobs: 0, present: 0, presentBytes: 0 };
    perPlatform.set(key, {
      bytes: q.bytes + p.bytes,
      blobs: q.blobs + p.blobs,
      present: q.present + p.present,
      presentBytes: q.presentBytes + p.presentBytes,
    });
  }
  return {
    root: a.root,
    toWrite: [...a.toWrite, ...b.toWrite],
    present: [...a.present, ...b.present],
    mounted: [...a.mounted, ...b.mounted],
    skippedForeignLayers: [...a.skippedForeignLayers, ...b.skippedForeignLayers],
    bytes: a.bytes + b.bytes,
    manifestBytes: a.manifestBytes + b.manifestBytes,
    perPlatform,
  };
}

/**
 * An empty plan of `root`, to merge others into.
 *
 * @example
 * ```ts
 * let plan = emptyPlan(root);
 * for (const desc of roots) plan = mergePlans(plan, await planCopy(src, dst, desc, { seen }));
 * ```
 */
export function emptyPlan(root: Descriptor): CopyPlan {
  return {
    root,
    toWrite: [],
    present: [],
    mounted: [],
    skippedForeignLayers: [],
    bytes: 0,
    manifestBytes: 0,
    perPlatform: new Map(),
  };
}

/**
 * Options of {@link planWithReferrers}.
 *
 * @example
 * ```ts
 * const options: PlanWithReferrersOptions = { referrers: { artifactTypes: ["application/spdx+json"] } };
 * ```
 */
export interface PlanWithReferrersOptions extends PlanCopyOptions {
  /** Which referrers travel (default all), as `transferWithReferrers`'s. */
  referrers?: ReferrersChoice;
}

/**
 * The dry run of `transferWithReferrers`: `root`'s plan, then each referrer's graph (labelled `referrers`).
 *
 * @example
 * ```ts
 * const { store, root } = buildSampleImage();
 * const plan = await planWithReferrers(store, new MemoryStore(), root);
 * console.log(plan.referrers.length, plan.bytes);
 * ```
 */
export async function planWithReferrers(
  src: ReadableStore,
  dst: PlanDestination,
  root: Descriptor,
  options: PlanWithReferrersOptions = {},
): Promise<CopyPlan & { referrers: Referrer[] }> {
  return await planRoots(src, dst, [{ desc: root }], options);
}

/**
 * One root of {@link planRoots}: a manifest or index, and the platform its plan is counted under when it is not
 * an index's child (a platform manifest planned on its own, as split does).
 *
 * @example
 * ```ts
 * const root: PlanRoot = { desc: buildSampleImage().manifests[0], group: "linux/amd64" };
 * ```
 */
export interface PlanRoot {
  /** The manifest or index planned (with everything under it). */
  desc: Descriptor;
  /** See {@link PlanCopyOptions.group}. */
  group?: string;
}

/**
 * The dry run of `transferRoots` (lib/engine/referrers.ts): each root's plan, each digest once, then the
 * referrers' graphs (labelled `referrers`). The plan's `root` is the first root.
 *
 * @example
 * ```ts
 * const { store, manifests } = buildSampleImage();
 * const plan = await planRoots(store, new MemoryStore(), manifests.map((m) => ({ desc: m, group: formatPlatform(m.platform!) })));
 * console.log(plan.perPlatform);
 * ```
 */
export async function planRoots(
  src: ReadableStore,
  dst: PlanDestination,
  roots: PlanRoot[],
  options: PlanWithReferrersOptions = {},
): Promise<CopyPlan & { referrers: Referrer[] }> {
  if (roots.length === 0) throw new UsageError("Cannot plan a copy of nothing: no root given");
  const seen = options.seen ?? new Set<string>();
  let plan: CopyPlan | undefined;
  for (const root of roots) {
    const one = await planCopy(src, dst, root.desc, { ...options, seen, ...(root.group ? { group: root.group } : {}) });
    plan = plan ? mergePlans(plan, one) : one;
  }
  const choice = options.referrers ?? {};
  const referrers = choice === false ? [] : await referrersOfRoots(src, roots.map((r) => r.desc), {
    signal: options.signal,
    artifactTypes: choice.artifactTypes,
  });
  return { ...await planReferrers(src, dst, plan!, referrers, { ...options, seen }), referrers };
}

/**
 * Adds the graphs of `referrers` (labelled `referrers`) to `plan`.
 *
 * @example
 * ```ts
 * const seen = new Set<string>();
 * const plan = await planReferrers(src, dst, await planCopy(src, dst, root, { seen }), referrers, { seen });
 * ```
 */
export async function planReferrers(
  src: ReadableStore,
  dst: PlanDestination,
  plan: CopyPlan,
  referrers: Referrer[],
  options: PlanCopyOptions = {},
): Promise<CopyPlan> {
  let total = plan;
  for (const r of referrers) {
    total = mergePlans(total, await planCopy(src, dst, r.desc, { ...options, group: "referrers" }));
  }
  return total;
}

/**
 * A destination opened only to be asked (see {@link probeDestination}).
 *
 * @example
 * ```ts
 * const probe: ProbedDestination = await probeDestination(parseLocation("oci:new-dir"), "1.0");
 * console.log(probe.exists, probe.tag); // false "1.0"
 * ```
 */
export interface ProbedDestination {
  /** The destination's `exists` (a registry's HEADs, a layout's files), or one that has nothing. */
  store: PlanDestination;
  /** The tag the run would write, as `openDestination` gives it. */
  tag?: string;
  /** Whether the destination is there already (a layout directory, an archive file that would be replaced). */
  exists: boolean;
  /** Reads a tag's current target, where the destination has tags (a registry, a layout). */
  resolve?: (tag: string, options?: StoreOptions) => Promise<Descriptor>;
}

const NOTHING_THERE = (ref: string): PlanDestination => ({ ref, exists: () => Promise.resolve(false) });

/**
 * Opens `location` to ask what it holds, writing nothing: a registry repository (no upload session), an existing
 * OCI layout (no directory created; a missing one has nothing), or, for an archive file or the Docker engine
 * (which the run writes whole), a destination that has nothing.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const { store, tag } = await probeDestination(parseLocation("127.0.0.1:5000/app"), "1.0");
 * const plan = await planCopy(sample.store, store, sample.root);
 * ```
 */
export async function probeDestination(
  location: Location,
  sourceTag: string | undefined,
  options: OpenOptions = {},
): Promise<ProbedDestination> {
  switch (location.kind) {
    case "registry": {
      await refuseLocalName(location);
      const ref = location.reference;
      const store = openRegistryStore(ref, options.registry);
      return {
        store,
        tag: ref.tag ?? (ref.digest ? undefined : sourceTag ?? "latest"),
        exists: true,
        resolve: (tag, o) => store.resolve(tag, o),
      };
    }
    case "oci": {
      const tag = location.tag ?? sourceTag ?? "latest";
      const isDir = await stat(location.path).then((s) => s.isDirectory(), () => false);
      if (!isDir) return { store: NOTHING_THERE(`oci:${location.path}`), tag, exists: false };
      const layout = await OciLayoutStore.open(location.path).catch((err) => {
        if (err instanceof FerryError) return undefined; // a directory that is no layout yet: the run makes one
        throw err;
      });
      if (!layout) return { store: NOTHING_THERE(`oci:${location.path}`), tag, exists: true };
      return { store: layout, tag, exists: true, resolve: (t, o) => layout.resolve(t, o) };
    }
    case "oci-archive":
    case "docker-archive": {
      const exists = await stat(location.path).then(() => true, () => false);
      return { store: NOTHING_THERE(location.path), exists };
    }
    case "docker-daemon": {
      const ref = location.reference;
      if (!ref) {
        throw new UsageError("Cannot load into docker-daemon: without a name: write docker-daemon:REPOSITORY[:TAG]");
      }
      return {
        store: NOTHING_THERE("docker-daemon:"),
        tag: formatReference({ ...ref, digest: undefined, tag: ref.tag ?? "latest" }, { short: true }),
        exists: true,
      };
    }
  }
}

/**
 * A plan as `--json` prints it (`perPlatform` as a list).
 *
 * @example
 * ```ts
 * const result = await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0", { dryRun: true });
 * const json: CopyPlanJson | undefined = result.plan;
 * ```
 */
export interface CopyPlanJson {
  /** See {@link CopyPlan.toWrite}. */
  toWrite: PlannedItem[];
  /** See {@link CopyPlan.present}. */
  present: PlannedItem[];
  /** See {@link CopyPlan.mounted}. */
  mounted: PlannedItem[];
  /** See {@link CopyPlan.skippedForeignLayers}. */
  skippedForeignLayers: Descriptor[];
  /** Blob bytes to stream: what the real run reports as `bytes`. */
  bytes: number;
  /** Bytes of the manifests to write. */
  manifestBytes: number;
  /** {@link CopyPlan.perPlatform} as a list (`platform` `""`: above every platform). */
  perPlatform: ({ platform: string } & PlatformPlan)[];
}

/**
 * The `--json` form of a plan.
 *
 * @example
 * ```ts
 * const json: CopyPlanJson = planJson(await planCopy(src, new MemoryStore(), root));
 * ```
 */
export function planJson(plan: CopyPlan): CopyPlanJson {
  return {
    toWrite: plan.toWrite,
    present: plan.present,
    mounted: plan.mounted,
    skippedForeignLayers: plan.skippedForeignLayers,
    bytes: plan.bytes,
    manifestBytes: plan.manifestBytes,
    perPlatform: [...plan.perPlatform].map(([platform, p]) => ({ platform, ...p })),
  };
}

/**
 * A dry run's `plan`, as verbs put it in their `--json` result: the lists and totals, the tags, and whether the
 * destination is there.
 *
 * @example
 * ```ts
 * const result = await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0", { dryRun: true });
 * const plan: DryRunPlan | undefined = result.plan;
 * console.log(plan?.bytes, plan?.present.length, plan?.tags);
 * ```
 */
export interface DryRunPlan extends CopyPlanJson {
  /** Whether the destination is there already (a registry always is; a layout directory; a file it would replace). */
  destinationExists: boolean;
  /** The tags the run would write, each with the digest it names now (absent: a new tag). */
  tags: { tag: string; current?: string }[];
}

/**
 * `plan` with the state of the `tags` the run would write at `probe`.
 *
 * @example
 * ```ts
 * const probe = await probeDestination(parseLocation("oci:out:1.0"), undefined);
 * const plan = await planCopy(src, probe.store, root);
 * const json = await dryRunPlan(plan, probe, probe.tag ? [probe.tag] : []);
 * ```
 */
export async function dryRunPlan(
  plan: CopyPlan,
  probe: ProbedDestination,
  tags: string[],
  signal?: AbortSignal,
): Promise<DryRunPlan> {
  const states: DryRunPlan["tags"] = [];
  for (const tag of tags) {
    const current = await probe.resolve?.(tag, { signal }).catch((err) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    states.push({ tag, ...(current ? { current: current.digest } : {}) });
  }
  return { ...planJson(plan), destinationExists: probe.exists, tags: states };
}
