import { describe, expect, test } from "bun:test";
import { UnsupportedError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MemoryStore } from "../ends/memory.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { addCosignSignature, addSpdxSbom, generateSigningKey } from "../testing/referrers.ts";
import { copyGraph } from "./copy_graph.ts";
import { planCopy, planWithReferrers } from "./plan_copy.ts";
import { transferWithReferrers } from "./referrers.ts";

/** A memory store that counts writes, so a plan can be shown to write nothing. */
function watched(store: MemoryStore): { store: MemoryStore; writes: () => number } {
  let writes = 0;
  const push = store.push.bind(store);
  store.push = (...args) => {
    writes++;
    return push(...args);
  };
  return { store, writes: () => writes };
}

describe("planCopy", () => {
  test("into an empty store: every node to write, bytes equal to copyGraph's, nothing written", async () => {
    const sample = buildSampleImage({ attestations: true });
    const dst = watched(new MemoryStore());
    const fetched: string[] = [];
    const fetch = sample.store.fetch.bind(sample.store);
    sample.store.fetch = (desc: Descriptor) => {
      fetched.push(desc.mediaType);
      return fetch(desc);
    };
    const plan = await planCopy(sample.store, dst.store, sample.root);
    expect(dst.writes()).toBe(0);
    expect(fetched.every((t) => t.includes("manifest") || t.includes("index"))).toBe(true); // no blob read
    expect(plan.toWrite.length).toBe(sample.store.blobs.size);
    expect(plan.present).toEqual([]);
    expect(plan.toWrite[0].digest).toBe(sample.root.digest); // parents first
    const real = await copyGraph(sample.store, new MemoryStore(), sample.root);
    expect(plan.bytes).toBe(real.bytes);
    expect(plan.toWrite.length).toBe(real.copied);
    // Per platform: each blob counted once, under the first platform naming it; the sum is the total.
    const sum = [...plan.perPlatform.values()].reduce((n, p) => n + p.bytes, 0);
    expect(sum).toBe(plan.bytes);
    expect([...plan.perPlatform.keys()]).toEqual(expect.arrayContaining(["", "linux/amd64", "linux/arm64/v8"]));
    const amd64 = sample.manifests[0];
    expect(plan.toWrite.find((i) => i.digest === amd64.digest)?.platform).toBe("linux/amd64");
  });

  test("a destination with part of it: what it has is present, a manifest it has covers its subtree", async () => {
    const sample = buildSampleImage();
    const dst = new MemoryStore();
    await copyGraph(sample.store, dst, sample.manifests[0]); // amd64, with the shared base layer
    const plan = await planCopy(sample.store, dst, sample.root);
    // amd64's manifest (its subtree not walked), and the base layer arm64 and armv7 share with it.
    const base = (await sample.store.fetch(sample.manifests[0]).then((b) => new Response(b).json())).layers[0];
    expect(plan.present.map((i) => i.digest)).toEqual([sample.manifests[0].digest, base.digest]);
    expect(plan.present[1].platform).toBe("linux/arm64/v8");
    const real = await copyGraph(sample.store, dst, sample.root);
    expect(plan.bytes).toBe(real.bytes);
    expect(plan.toWrite.length).toBe(real.copied);
    expect(plan.present.length).toBe(real.skipped);
    expect((await planCopy(sample.store, dst, sample.root)).toWrite).toEqual([]);
  });

  test("foreign layers: left out, or the refusal copyGraph would throw", async () => {
    const sample = buildSampleImage({ foreignLayers: true });
    const plan = await planCopy(sample.store, new MemoryStore(), sample.root);
    expect(plan.skippedForeignLayers.map((d) => d.digest)).toEqual(sample.foreignLayers.map((f) => f.desc.digest));
    expect(plan.toWrite.some((i) => i.digest === sample.foreignLayers[0].desc.digest)).toBe(false);
    const refused = planCopy(sample.store, new MemoryStore("docker-archive:x.tar"), sample.root, {
      foreignLayers: "refuse",
    });
    await expect(refused).rejects.toBeInstanceOf(UnsupportedError);
    await expect(refused).rejects.toThrow(/Cannot write foreign layer .* to docker-archive:x\.tar/);
  });

  test("with referrers: their graphs are listed under 'referrers', and the bytes match transferWithReferrers", async () => {
    const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
    addCosignSignature(sample.store, sample.root, { reference: "example.com/app", key: generateSigningKey() });
    addSpdxSbom(sample.store, sample.manifests[0], { name: "app" });
    const plan = await planWithReferrers(sample.store, new MemoryStore(), sample.root);
    expect(plan.referrers.length).toBe(2);
    expect(plan.perPlatform.get("referrers")?.blobs).toBeGreaterThan(0);
    const real = await transferWithReferrers(sample.store, new MemoryStore(), sample.root);
    expect(plan.bytes).toBe(real.bytes);
    expect(plan.toWrite.length).toBe(real.copied);
    expect(new Set(plan.toWrite.map((i) => i.digest)).size).toBe(plan.toWrite.length); // each digest once
  });
});
