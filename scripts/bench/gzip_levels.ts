/**
 * Measures gzip implementations on incompressible data (like the gzip layers inside an export):
 * lib/stream/gzip.ts's gzipStream (level 0: its own stored-block writer; levels 1-9: node:zlib wrapped as a
 * Web TransformStream, input re-chunked for reproducible output) vs the built-in CompressionStream("gzip").
 * Prints output/input ratio and MB/s per variant.
 *
 *   node_modules/.bin/bun scripts/bench/gzip_levels.ts [MiB]
 *   node_modules/.bin/deno run -A scripts/bench/gzip_levels.ts [MiB]
 *
 * @module
 */
import { randomFillSync } from "node:crypto";
import { gzipStream } from "../../lib/stream/gzip.ts";
import { args, runtimeName } from "../../lib/runtime.ts";

const mib = Number(args()[0] ?? 100);
const CHUNK = 64 * 1024;
const pool = randomFillSync(new Uint8Array(8 * 1024 * 1024));
const total = mib * 1024 * 1024;

function source(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const off = sent % pool.byteLength;
      controller.enqueue(pool.subarray(off, off + CHUNK));
      sent += CHUNK;
    },
  }, { highWaterMark: 0 });
}

async function measure(name: string, make: () => TransformStream<Uint8Array, Uint8Array>): Promise<void> {
  const start = performance.now();
  let out = 0;
  await source().pipeThrough(make()).pipeTo(new WritableStream({ write(c) { out += c.byteLength; } }));
  const secs = (performance.now() - start) / 1000;
  console.log(`${runtimeName}\t${name.padEnd(26)}\tratio ${(out / total).toFixed(4)}\t${(total / 1e6 / secs).toFixed(0)} MB/s\t${secs.toFixed(2)} s`);
}

for (const level of [0, 1, 2, 3, 6]) await measure(`gzipStream level ${level}`, () => gzipStream(level));
await measure("CompressionStream(gzip)", () => new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
