/**
 * Garbage collection by bytes streamed. Every chunk a stream passes on is a fresh buffer; a runtime whose
 * collector runs by allocation count rather than by bytes (Bun) lets them pile up, so resident memory grows with
 * concurrency and blob size. Streams call {@link noteStreamedBytes}; once a collector is set (the CLI sets Bun's
 * through `collectGarbageWhileStreaming` in lib/runtime.ts) it runs every so many bytes.
 *
 * @module
 */

let collect: (() => void) | undefined;
let every = Infinity;
let since = 0;

/**
 * Runs `collector` every `bytes` streamed bytes from now on (`undefined` stops it).
 *
 * @example
 * ```ts
 * setCollector(() => Bun.gc(true), 16 * 1024 * 1024);
 * ```
 */
export function setCollector(collector: (() => void) | undefined, bytes = 16 * 1024 * 1024): void {
  collect = collector;
  every = collector ? bytes : Infinity;
  since = 0;
}

/**
 * Counts `n` bytes a stream has passed on, running the collector when enough have gone by.
 *
 * @example
 * ```ts
 * noteStreamedBytes(chunk.byteLength);
 * ```
 */
export function noteStreamedBytes(n: number): void {
  since += n;
  if (since < every) return;
  since = 0;
  collect?.();
}
