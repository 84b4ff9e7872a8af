/**
 * One stream of a blob fetched as several `Range` parts at once (the registry end's fetch of a big blob):
 * parts requested a few at a time, their bytes handed on strictly in order, so the consumer (verifyStream,
 * then a monolithic push) sees exactly the concatenation, as from one GET.
 *
 * @module
 */

/** Options of {@link rangedStream}. */
export interface RangedStreamOptions {
  /** Bytes in the blob. */
  size: number;
  /** Bytes per part (the last one shorter). */
  partSize: number;
  /** Parts in flight at once, the one being read included. */
  parallel: number;
  /**
   * A connection at least this fast (bytes/s of part 0's body, from `startedAt`) is not capped: the rest of
   * the blob then comes in one more request, as from a plain GET (parallel parts would only cost memory).
   */
  fastBytesPerSecond: number;
  /** When part 0's answer came (`performance.now()`), its body then still to read. */
  startedAt: number;
  /** Part 0's body, already requested (the probe that showed the source honours Range). */
  first: ReadableStream<Uint8Array>;
  /** Opens `[start, end)` (end exclusive): a stream of exactly those bytes, resumed on a drop by the opener. */
  open(start: number, end: number): Promise<ReadableStream<Uint8Array>>;
}

interface Part {
  start: number;
  end: number;
  /** The part's body once its answer came; read only in its turn, straight into the consumer (backpressure). */
  body: Promise<ReadableStreamDefaultReader<Uint8Array>>;
}

/**
 * The blob as one stream. Part 0 alone first: if it came at `fastBytesPerSecond` or more, the rest follows in
 * one request; otherwise (a capped connection) in parts, `parallel` at a time. The parts ahead of the one being
 * read are requested at once but read only in their turn, so their bytes wait in the connections' buffers (the
 * kernel's, mostly: measured on a 6-platform copy, reading them ahead into memory cost ~45 MiB more peak RSS for
 * no gain in time); the part being read is read as the consumer pulls. A new part is requested each time one has
 * been handed on whole. A failed part errors the stream; cancelling it cancels every part.
 *
 * @example
 * ```ts
 * const body = rangedStream({
 *   size, partSize: 8 << 20, parallel: 8, fastBytesPerSecond: 64 << 20, startedAt: performance.now(),
 *   first: probe.body!, open: (start, end) => fetchRange(start, end),
 * });
 * ```
 */
export function rangedStream(options: RangedStreamOptions): ReadableStream<Uint8Array> {
  const { size, partSize, open } = options;
  let count = Math.max(1, Math.ceil(size / partSize));
  let parallel = 1; // until part 0 shows whether the connection is capped
  const parts: Part[] = [];
  let current = 0;

  const start = () => {
    while (parts.length < count && parts.length < current + parallel) {
      const i = parts.length;
      const begin = i === 0 ? 0 : parts[i - 1].end;
      const end = i === count - 1 ? size : Math.min(size, begin + partSize);
      const body = (i === 0 ? Promise.resolve(options.first) : open(begin, end)).then((b) => b.getReader());
      body.catch(() => {}); // seen when its turn comes (or let go by cancel)
      parts.push({ start: begin, end, body });
    }
  };
  const stop = async (reason?: unknown) => {
    await Promise.all(parts.slice(current).map((p) => p.body.then((r) => r.cancel(reason)).catch(() => {})));
  };

  start();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const part = parts[current];
        let chunk: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;
        try {
          chunk = await (await part.body).read();
        } catch (err) {
          await stop(err);
          throw err;
        }
        if (!chunk.done) return controller.enqueue(chunk.value);
        if (current === 0) {
          const rate = part.end / Math.max(1e-3, (performance.now() - options.startedAt) / 1000);
          if (rate >= options.fastBytesPerSecond) count = Math.min(count, 2); // the rest in one request
          else parallel = options.parallel;
        }
        if (++current === count) return controller.close();
        start();
      }
    },
    cancel: stop,
  }, { highWaterMark: 0 });
}
