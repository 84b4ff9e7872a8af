/**
 * Puts ferry's deterministic sample image into a real registry for a test.
 */
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage, type SampleImage, type SampleOptions } from "../../lib/testing/sample_image.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";

/** Builds the sample image and pushes it to `ref` (e.g. `127.0.0.1:5000/sample/app:1.0`). */
export async function pushSampleImage(ref: string, options: SampleOptions = {}): Promise<SampleImage> {
  const sample = buildSampleImage(options);
  const reference = parseReference(ref);
  const store = openRegistryStore(reference);
  await copyGraph(sample.store, store, sample.root);
  await store.tag(sample.root, reference.tag ?? "latest");
  return sample;
}
