import { expect, test } from "bun:test";
import { copyGraph } from "../../engine/copy_graph.ts";
import { RateLimitPacer } from "../../remote/rate_limit.ts";
import { buildSampleImage } from "../../testing/sample_image.ts";
import { MemoryStore } from "../../ends/memory.ts";
import { PacedSource } from "./paced_source.ts";

test("counts each manifest fetched once, blobs not at all", async () => {
  const sample = buildSampleImage();
  const source = new PacedSource(sample.store);
  await copyGraph(source, new MemoryStore(), sample.root);
  expect(source.manifestRequests).toBe(4); // the index and three platform manifests
  await source.fetch(sample.root);
  expect(source.manifestRequests).toBe(4);
  expect(source.ref).toBe(sample.store.ref);
});

test("paces manifest fetches only", async () => {
  const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64"] });
  const pacer = new RateLimitPacer({ reserve: 10, maxDelayMs: 1000 });
  pacer.observe({ remaining: 5, windowSeconds: 0.2 }); // 40 ms between manifest requests
  const source = new PacedSource(sample.store, pacer);
  const started = Date.now();
  await copyGraph(source, new MemoryStore(), sample.root, { concurrency: 8 });
  // 3 manifests: the 2nd and 3rd wait 40 ms each; the 5 blobs do not wait.
  expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  expect(Date.now() - started).toBeLessThan(1000);
});
