/**
 * The commit protocol, written once: copy a graph into a writable end, name it, then `close()` on success or
 * `abort()` on any failure, so a destination is either complete under its names or holds nothing new under
 * a final name. Every verb that writes goes through here.
 *
 * @module
 */
import { abortErrorOf } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { ReadableStore, WritableStore } from "../ends/store.ts";
import { copyGraph, type CopyGraphOptions, type CopyResult } from "./copy_graph.ts";

/**
 * Options of {@link transfer}: copyGraph's, plus the names to give the root once everything arrived.
 *
 * @example
 * ```ts
 * const options: TransferOptions = { tags: ["1.0", "latest"], concurrency: 4 };
 * await transfer(sample.store, new MemoryStore(), sample.root, options);
 * ```
 */
export interface TransferOptions extends CopyGraphOptions {
  /** Names pointing at the root after the copy (a tag, or `repo:tag` for archives); none by default. */
  tags?: string[];
  /**
   * Runs after the tags and before `close()`: more writes to the same end that belong to the same commit
   * (another root, a second name). A failure here aborts the whole destination.
   */
  beforeClose?: (result: CopyResult) => Promise<void>;
}

/**
 * Copies `root` from `src` into `dst`, tags it, and commits: `dst.close()` on success, `dst.abort()` when
 * anything failed (copy, tag, close, or an abort of `options.signal`); the first error is thrown.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const dst = await OciLayoutStore.open("out", { create: true });
 * const result = await transfer(sample.store, dst, sample.root, { tags: ["1.0"] });
 * console.log(result.copied, result.bytes);
 * ```
 */
export async function transfer(
  src: ReadableStore,
  dst: WritableStore,
  root: Descriptor,
  options: TransferOptions = {},
): Promise<CopyResult> {
  return await commit(dst, options.signal, async () => {
    const result = await copyGraph(src, dst, root, options);
    if (options.signal?.aborted) throw abortErrorOf(options.signal);
    for (const tag of options.tags ?? []) await dst.tag(root, tag, { signal: options.signal });
    await options.beforeClose?.(result);
    return result;
  });
}

/**
 * Runs `work` against `dst` and commits it: `close()` when `work` succeeded (and `signal` is not aborted),
 * else `abort()` (its own failure ignored) and the error rethrown. For writes that are not one graph copy.
 *
 * @example
 * ```ts
 * const dst = await OciLayoutStore.open("out", { create: true });
 * await commit(dst, undefined, async () => {
 *   await copyGraph(a.store, dst, a.root);
 *   await copyGraph(b.store, dst, b.root);
 * });
 * ```
 */
export async function commit<T>(
  dst: WritableStore,
  signal: AbortSignal | undefined,
  work: () => Promise<T>,
): Promise<T> {
  try {
    const value = await work();
    if (signal?.aborted) throw abortErrorOf(signal);
    await dst.close();
    return value;
  } catch (err) {
    await dst.abort().catch(() => {});
    throw err;
  }
}
