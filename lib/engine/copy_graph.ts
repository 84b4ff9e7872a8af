/**
 * The one engine: a graph copy of content-addressed descriptors between two stores.
 * copy, export, import, mirror and split are all this function with different ends.
 *
 * @module
 */
import { abortErrorOf, NotFoundError, RegistryError, UnsupportedError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { childrenOf, parseManifest } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { verifiedBody, verifyBytes } from "../stream/verify.ts";
import type { ReadableStore, StoreOptions, WritableStore } from "../ends/store.ts";
import { TaskGroup } from "./task_group.ts";
import { Limiter } from "../stream/limiter.ts";
import { resumeBlob } from "./resumable.ts";

/** How many blobs copyGraph moves at once unless told otherwise. */
export const DEFAULT_CONCURRENCY = 6;

/** Blobs from this size up are big: at most {@link BIG_BLOBS_AT_ONCE} of them move at once. */
export const BIG_BLOB = 32 * 1024 * 1024;

/**
 * How many big blobs move at once (within the concurrency; small blobs keep the other slots). Measured on 2 cores
 * copying a 1 GiB 6-platform image (a 655 MiB base and six 61 MiB layers) between two registries: 6 at once
 * 4.2-4.4 s at 146-162 MiB peak RSS, 3 at once 3.9-4.3 s, 2 at once 3.8-4.0 s at 80-89 MiB (skopeo 4.7-4.9 s).
 */
export const BIG_BLOBS_AT_ONCE = 2;

/**
 * What copyGraph reports along the way (oras-style hooks; the library never prints). `foreign` is a
 * non-distributable layer left out (see {@link CopyGraphOptions.foreignLayers}).
 *
 * @example
 * ```ts
 * const onEvent = (event: CopyEvent) => {
 *   if (event.type === "copied") console.log(`copied ${event.desc.digest} (${event.desc.size} bytes)`);
 * };
 * await copy("127.0.0.1:5000/app:1.0", "oci:out:1.0", { onEvent });
 * ```
 */
export type CopyEvent =
  /**
   * Before the first blob moves, once per descriptor the copy will look at (every manifest it reads, and the
   * children of those the destination lacks), in graph order: so a display knows the total up front. `platform`
   * is that of the nearest index entry above it (the first one, for a blob shared between platforms).
   */
  | { type: "planned"; desc: Descriptor; platform?: Platform }
  | { type: "skipped"; desc: Descriptor }
  | { type: "foreign"; desc: Descriptor }
  | { type: "mounted"; desc: Descriptor }
  | { type: "start"; desc: Descriptor }
  | { type: "progress"; desc: Descriptor; bytes: number }
  | { type: "copied"; desc: Descriptor };

/**
 * Options of {@link copyGraph}.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const options: CopyGraphOptions = { concurrency: 4, signal: AbortSignal.timeout(60_000) };
 * await copyGraph(sample.store, new MemoryStore(), sample.root, options);
 * ```
 */
export interface CopyGraphOptions extends StoreOptions {
  /** Blobs moved at once (default {@link DEFAULT_CONCURRENCY}); capped by `dst.maxConcurrentPushes`. */
  concurrency?: number;
  /** Called for every skipped, mounted and copied descriptor, and as bytes stream. */
  onEvent?: (event: CopyEvent) => void;
  /**
   * What to do with non-distributable ("foreign") layers, e.g. Windows base layers: `skip` (default, as
   * skopeo, crane and docker do) copies the manifest naming them but not their blobs, which clients fetch
   * from the descriptor's `urls`; `copy` copies them like any blob (crane's
   * `--allow-nondistributable-artifacts`), so the source must have the bytes; `refuse` throws an
   * {@link UnsupportedError} naming the first one, for a destination that must hold every layer (a
   * docker-load tarball, the Docker engine).
   */
  foreignLayers?: "skip" | "copy" | "refuse";
}

/**
 * What a copy did.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const result: CopyResult = await copyGraph(sample.store, new MemoryStore(), sample.root);
 * console.log(result.root.digest, result.copied, result.bytes);
 * ```
 */
export interface CopyResult {
  /** The root descriptor, as pushed. */
  root: Descriptor;
  /** Descriptors (blobs and manifests) written to the destination. */
  copied: number;
  /** Descriptors the destination already had. */
  skipped: number;
  /** Blobs mounted from another repository of the same registry. */
  mounted: number;
  /** Blob bytes streamed from source to destination. */
  bytes: number;
  /** Non-distributable layers left out (each digest once), with `foreignLayers: "skip"`. */
  skippedForeignLayers: Descriptor[];
}

/**
 * Copies `root` and everything it references from `src` to `dst`: children before parents, each
 * digest once, skipping what `dst` has (a manifest it has means its whole subtree), mounting inside
 * one registry, every blob verified while it streams. The first error aborts the rest and is thrown.
 * The caller owns the stores: it tags, then `close()`s `dst` on success or `abort()`s it on failure.
 *
 * @example
 * ```ts
 * const src = new MemoryStore();
 * const dst = new MemoryStore();
 * const root = await src.resolve("1.0");
 * const result = await copyGraph(src, dst, root);
 * await dst.tag(root, "1.0");
 * ```
 */
export async function copyGraph(
  src: ReadableStore,
  dst: WritableStore,
  root: Descriptor,
  options: CopyGraphOptions = {},
): Promise<CopyResult> {
  const outer = options.signal;
  if (outer?.aborted) throw abortErrorOf(outer);
  // Blobs (and manifest pushes) at most `concurrency` at once; the first failure aborts the rest.
  const group = new TaskGroup(
    Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, dst.maxConcurrentPushes ?? Infinity)),
    outer,
  );
  const signal = group.signal;
  const bigLane = new Limiter(BIG_BLOBS_AT_ONCE);
  const fail = (err: unknown) => group.fail(err);
  const emit = options.onEvent ?? (() => {});
  const result: CopyResult = { root, copied: 0, skipped: 0, mounted: 0, bytes: 0, skippedForeignLayers: [] };
  const foreignLayers = options.foreignLayers ?? "skip";
  const visits = new Map<string, Promise<void>>();
  const mountFrom = src.origin && dst.mount && dst.origin?.registry === src.origin.registry &&
      dst.origin.repository !== src.origin.repository
    ? src.origin.repository
    : undefined;

  function visit(desc: Descriptor): Promise<void> {
    let visiting = visits.get(desc.digest);
    if (!visiting) {
      visiting = isManifest(desc.mediaType)
        ? copyManifest(desc)
        : isNondistributable(desc.mediaType) && foreignLayers !== "copy"
        ? leaveOut(desc)
        : copyBlob(desc);
      visiting.catch(fail);
      visits.set(desc.digest, visiting);
    }
    return visiting;
  }

  /** Every manifest, read once before any blob moves (planning); undefined when the destination has it. */
  const manifests = new Map<string, Promise<{ bytes: Uint8Array; children: Descriptor[] } | undefined>>();
  function readManifest(desc: Descriptor) {
    let reading = manifests.get(desc.digest);
    if (!reading) {
      reading = (async () => {
        if (await dst.exists(desc, { signal })) return undefined;
        const bytes = await readLimited(await src.fetch(desc, { signal }), MAX_MANIFEST_BYTES);
        verifyBytes(desc, bytes, src.ref);
        const children = childrenOf(parseManifest(bytes, desc.mediaType));
        await Promise.all(children.filter((c) => isManifest(c.mediaType)).map(readManifest));
        return { bytes, children };
      })();
      manifests.set(desc.digest, reading);
    }
    return reading;
  }

  async function plan(desc: Descriptor, platform: Platform | undefined, seen: Set<string>): Promise<void> {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    emit({ type: "planned", desc, ...(platform ? { platform } : {}) });
    const read = isManifest(desc.mediaType) ? await manifests.get(desc.digest) : undefined;
    for (const child of read?.children ?? []) await plan(child, child.platform ?? platform, seen);
  }

  async function copyManifest(desc: Descriptor): Promise<void> {
    const read = await readManifest(desc);
    if (!read) {
      result.skipped++;
      emit({ type: "skipped", desc });
      return;
    }
    const { bytes, children } = read;
    await Promise.all(children.map(visit));
    await group.run(async () => {
      try {
        await dst.push(desc, streamOf(bytes), { signal });
      } catch (err) {
        if (!isBlobUnknown(err)) throw err;
        // The distribution registry can lose a blob's link in a repository when uploads of one blob overlap: it
        // then refuses the manifest (MANIFEST_BLOB_UNKNOWN). Its blobs go again, whatever HEAD says, then it, once.
        for (const child of children) {
          const left = result.skippedForeignLayers.some((d) => d.digest === child.digest);
          if (!isManifest(child.mediaType) && !left) await sendBlob(child);
        }
        await dst.push(desc, streamOf(bytes), { signal });
      }
    });
    result.copied++;
    emit({ type: "copied", desc });
  }

  // Neither end is asked about it: the manifest names it, and clients fetch it from its urls.
  function leaveOut(desc: Descriptor): Promise<void> {
    if (foreignLayers === "refuse") return Promise.reject(foreignLayerRefused(desc, dst.ref));
    result.skippedForeignLayers.push(desc);
    emit({ type: "foreign", desc });
    return Promise.resolve();
  }

  function copyBlob(desc: Descriptor): Promise<void> {
    // A big blob waits for its lane before it takes a slot, so small ones keep the other slots moving.
    if (desc.size >= BIG_BLOB) return bigLane.run(() => copyBlobInSlot(desc));
    return copyBlobInSlot(desc);
  }

  function copyBlobInSlot(desc: Descriptor): Promise<void> {
    return group.run(async () => {
      if (signal.aborted) throw signal.reason;
      if (await dst.exists(desc, { signal })) {
        result.skipped++;
        emit({ type: "skipped", desc });
        return;
      }
      if (mountFrom && await dst.mount!(desc, mountFrom, { signal })) {
        result.mounted++;
        emit({ type: "mounted", desc });
        return;
      }
      emit({ type: "start", desc });
      await sendBlob(desc);
      result.copied++;
      result.bytes += desc.size;
      emit({ type: "copied", desc });
    });
  }

  /** Streams `desc` from `src` into `dst`, verified (continuing what a crashed run left half written). */
  async function sendBlob(desc: Descriptor): Promise<void> {
    // A blob a crashed run left half written in dst continues where it stopped (lib/engine/resumable.ts).
    const resumed = await resumeBlob(src, dst, desc, signal);
    // A store that verified the bytes already (a spool) is not hashed again.
    const body = verifiedBody(desc, resumed?.body ?? await fetchBlob(desc), src.ref)
      .pipeThrough(countBytes(desc, emit));
    try {
      // reopen: a store that retries a failed upload gets the blob again from the source, verified.
      const reopen = async () => verifiedBody(desc, await src.fetch(desc, { signal }), src.ref);
      await dst.push(desc, body, { signal, reopen, ...(resumed ? { resumeFrom: resumed.resumeFrom } : {}) });
    } catch (err) {
      // A store that failed before reading (or let go of) the body leaves it to us: release the source.
      await body.cancel(err).catch(() => {});
      throw err;
    }
  }

  async function fetchBlob(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    try {
      // A destination that keeps what arrives for a resume (partial) wants the bytes in order, none fetched ahead.
      return await src.fetch(desc, { signal, ...(dst.partial ? { sequential: true } : {}) });
    } catch (err) {
      if (!(err instanceof NotFoundError) || !isNondistributable(desc.mediaType)) throw err;
      throw new NotFoundError(
        `Cannot find foreign layer ${desc.digest} in ${src.ref}: the source does not have its bytes (clients ` +
          `fetch it from its urls); copy without --allow-nondistributable-artifacts to leave it out`,
        { ref: src.ref, cause: err },
      );
    }
  }

  try {
    if (isManifest(root.mediaType)) await readManifest(root);
    await plan(root, root.platform, new Set());
    await visit(root);
  } catch (err) {
    fail(err);
  } finally {
    group.release();
  }
  if (group.failure !== undefined) {
    // Let every in-flight transfer see the abort and settle before the caller cleans up the destination.
    await Promise.allSettled([...visits.values(), ...manifests.values()]);
    await group.wait().catch(() => {});
    throw group.failure;
  }
  return result;
}

/** The error of `foreignLayers: "refuse"` (copyGraph's, and planCopy's: a dry run fails where the run would). */
export function foreignLayerRefused(desc: Descriptor, dstRef: string): UnsupportedError {
  return new UnsupportedError(
    `Cannot write foreign layer ${desc.digest} (${desc.mediaType}) to ${dstRef}: the destination needs every layer; ` +
      `add --allow-nondistributable-artifacts if the source has its bytes`,
    { ref: dstRef },
  );
}

function countBytes(desc: Descriptor, emit: (event: CopyEvent) => void): TransformStream<Uint8Array, Uint8Array> {
  let bytes = 0;
  return new TransformStream({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      emit({ type: "progress", desc, bytes });
      controller.enqueue(chunk);
    },
  });
}

/** A registry's answer that a manifest names a blob it does not hold (in that repository). */
function isBlobUnknown(err: unknown): boolean {
  return err instanceof RegistryError && err.errors.some((e) => e.code === "MANIFEST_BLOB_UNKNOWN");
}
