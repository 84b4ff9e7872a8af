/**
 * The source side of every verb: open a location, resolve it, and narrow it to the chosen platforms (the whole
 * index with its digest, a new index of the chosen entries, or a single image checked against the filter).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { formatPlatform, matchPlatform, parsePlatformList } from "../oci/platform.ts";
import type { Location } from "../ref/location.ts";
import { MemoryStore } from "../ends/memory.ts";
import { type OpenedSource, type OpenOptions, openSource } from "../ends/open.ts";
import { OverlayStore } from "../ends/overlay.ts";
import type { ReadableStore } from "../ends/store.ts";
import { fetchManifest, platformOfImage } from "./fetch.ts";
import { filterIndex, selectPlatforms } from "./select.ts";

/**
 * How copyGraph treats foreign layers for a destination: copied when allowed, else left out, except
 * where every layer must be in the destination (a docker-load file, the Docker engine): refused.
 */
export function foreignLayersMode(
  allowNondistributable: boolean | undefined,
  destination: Location["kind"] | "docker-load",
): "skip" | "copy" | "refuse" {
  if (allowNondistributable) return "copy";
  return destination === "docker-archive" || destination === "docker-daemon" || destination === "docker-load"
    ? "refuse"
    : "skip";
}

/** A source resolved and narrowed to the chosen platforms. */
export interface SelectedSource {
  store: ReadableStore;
  root: Descriptor;
  filtered: boolean;
  platforms: { desc: Descriptor; platform: Platform }[];
  repository: string;
  tag?: string;
  /** Releases what opening the source took (an archive's spool directory); call once, when done. */
  dispose(): Promise<void>;
}

/**
 * Resolves `location` and narrows it to `platforms`: the whole index (digest kept), a new index of the
 * chosen entries, or a single-platform image checked against the filter.
 */
export async function selectSource(
  location: Location,
  platforms: string[] | undefined,
  options: OpenOptions & { signal?: AbortSignal } = {},
): Promise<SelectedSource> {
  const want = parsePlatformList(platforms);
  const opened = await openSource(location, { registry: options.registry });
  const dispose = () => opened.dispose?.() ?? Promise.resolve();
  try {
    return { ...await narrow(opened, want, options.signal), dispose };
  } catch (err) {
    await dispose().catch(() => {});
    throw err;
  }
}

async function narrow(
  opened: OpenedSource,
  want: Platform[] | "all",
  signal?: AbortSignal,
): Promise<Omit<SelectedSource, "dispose">> {
  const root = await opened.store.resolve(opened.target, { signal });
  const top = await fetchManifest(opened.store, root, { signal });
  const base = { repository: opened.repository, tag: opened.tag };
  if (top.parsed.kind === "manifest") {
    const platform = await platformOfImage(opened.store, top, { signal });
    if (want !== "all" && !(platform && want.some((w) => matchPlatform(w, platform)))) {
      throw new NotFoundError(
        `Cannot find platform ${want.map(formatPlatform).join(", ")}: the image is ${
          platform ? formatPlatform(platform) : "of unknown platform"
        } only`,
        { ref: opened.store.ref },
      );
    }
    return {
      ...base,
      store: opened.store,
      root,
      filtered: false,
      platforms: platform ? [{ desc: root, platform }] : [],
    };
  }
  const index = top.parsed.index;
  const chosen = selectPlatforms(index, want);
  const entries = chosen.map((desc) => ({ desc, platform: desc.platform! }));
  if (want === "all") return { ...base, store: opened.store, root, filtered: false, platforms: entries };
  const narrowed = filterIndex(top.bytes, index, chosen);
  if (narrowed.desc.digest === root.digest) {
    return { ...base, store: opened.store, root, filtered: false, platforms: entries };
  }
  const extra = new MemoryStore();
  extra.put(narrowed.bytes, narrowed.desc.mediaType);
  return {
    ...base,
    store: new OverlayStore(opened.store, extra),
    root: narrowed.desc,
    filtered: true,
    platforms: entries,
  };
}
