import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArchiveStore } from "../ends/archive_reader.ts";
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { MemoryStore } from "../ends/memory.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import {
  addCosignAttestation,
  addCosignSignature,
  addNotationSignature,
  addSpdxSbom,
  COSIGN_SIMPLESIGNING,
  generateSigningKey,
  NOTATION_SIGNATURE,
  SPDX_JSON,
} from "../testing/referrers.ts";
import { NotFoundError, PartialError } from "../errors.ts";
import { bare } from "../oci/descriptor.ts";
import { planRoots } from "./plan_copy.ts";
import { copyReferrers, discoverReferrers, transferRoots, transferWithReferrers } from "./referrers.ts";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-referrers-"));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function signedSample() {
  const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
  const key = generateSigningKey();
  const sig = addCosignSignature(sample.store, sample.root, { reference: "example.com/app", key });
  const att = addCosignAttestation(sample.store, sample.root, { reference: "example.com/app", key });
  const sbom = addSpdxSbom(sample.store, sample.manifests[0], { name: "app" });
  const sbomSig = addNotationSignature(sample.store, sbom.desc, { key });
  return { sample, key, sig, att, sbom, sbomSig, all: [sig, att, sbom, sbomSig] };
}

const digests = (list: { desc: { digest: string } }[]) => list.map((r) => r.desc.digest).sort();

describe("discoverReferrers", () => {
  test("finds the index's cosign tags, a platform's SBOM and the SBOM's signature, parents first", async () => {
    const { sample, sig, att, sbom, sbomSig, all } = signedSample();
    const found = await discoverReferrers(sample.store, sample.root);
    expect(digests(found)).toEqual(digests(all));
    const bySubject = Object.fromEntries(found.map((r) => [r.desc.digest, r]));
    expect(bySubject[sig.desc.digest]).toMatchObject({ subject: sample.root.digest, tag: sig.tag });
    expect(bySubject[att.desc.digest]).toMatchObject({ subject: sample.root.digest, tag: att.tag });
    expect(bySubject[sbom.desc.digest]).toMatchObject({ subject: sample.manifests[0].digest, artifactType: SPDX_JSON });
    expect(bySubject[sbomSig.desc.digest]).toMatchObject({
      subject: sbom.desc.digest,
      artifactType: NOTATION_SIGNATURE,
    });
    const order = found.map((r) => r.desc.digest);
    expect(order.indexOf(sbom.desc.digest)).toBeLessThan(order.indexOf(sbomSig.desc.digest));
  });

  test("an artifact type filter keeps those referrers and what refers to them", async () => {
    const { sample, sbom, sbomSig, sig } = signedSample();
    expect(digests(await discoverReferrers(sample.store, sample.root, { artifactTypes: [SPDX_JSON] })))
      .toEqual(digests([sbom, sbomSig]));
    expect(digests(await discoverReferrers(sample.store, sample.root, { artifactTypes: [COSIGN_SIMPLESIGNING] })))
      .toEqual(digests([sig]));
  });

  test("an image without referrers has none; a store without referrers() has none", async () => {
    const sample = buildSampleImage();
    expect(await discoverReferrers(sample.store, sample.root)).toEqual([]);
    const bare = {
      ref: "x",
      resolve: sample.store.resolve.bind(sample.store),
      fetch: sample.store.fetch.bind(sample.store),
      exists: sample.store.exists.bind(sample.store),
    };
    expect(await discoverReferrers(bare, sample.root)).toEqual([]);
  });
});

describe("referrers through an OCI layout and an archive", () => {
  test("a layout lists them in index.json (cosign tags as ref.name) and reads them back byte for byte", async () => {
    const { sample, all, sig } = signedSample();
    const dir = await tempDir();
    const dst = await OciLayoutStore.open(dir, { create: true });
    const result = await transferWithReferrers(sample.store, dst, sample.root, { tags: ["1.0"] });
    expect(digests(result.referrers)).toEqual(digests(all));
    const layout = await OciLayoutStore.open(dir);
    expect(layout.listTags().sort()).toEqual(["1.0", sig.tag!, all[1].tag!].sort());
    expect(await layout.resolve("")).toMatchObject({ digest: sample.root.digest }); // the one image, referrers aside
    const back = await discoverReferrers(layout, await layout.resolve("1.0"));
    expect(digests(back)).toEqual(digests(all));
    for (const r of all) {
      const bytes = new Uint8Array(await new Response(await layout.fetch(r.desc)).arrayBuffer());
      expect(bytes).toEqual(new Uint8Array(sample.store.get(r.desc.digest)!));
    }
  });

  test("an archive lists a platform's referrers beside its image: one root, and they read back", async () => {
    const { sample, all } = signedSample();
    const file = join(await tempDir(), "image-amd64.tar");
    const writer = new ArchiveWriter(file);
    const amd64 = sample.manifests[0];
    const referrers = (await discoverReferrers(sample.store, sample.root)).filter((r) =>
      r.subject === amd64.digest || all[2].desc.digest === r.subject
    );
    await transferWithReferrers(sample.store, writer, amd64, {
      tags: ["example.com/app:1.0-amd64"],
      referrers: { repository: "app" },
    });
    const archive = await ArchiveStore.open(file);
    try {
      expect(archive.roots.map((r) => r.desc.digest)).toEqual([amd64.digest]);
      expect(await archive.resolve("")).toMatchObject({ digest: amd64.digest });
      expect(digests(await discoverReferrers(archive, amd64))).toEqual(digests(referrers));
    } finally {
      await archive.dispose();
    }
  });

  test("copyReferrers into a memory store re-creates the cosign tags", async () => {
    const { sample, sig, att } = signedSample();
    const dst = new MemoryStore();
    const found = await discoverReferrers(sample.store, sample.root);
    await copyReferrers(sample.store, dst, found);
    expect(dst.tags.get(sig.tag!)?.digest).toBe(sig.desc.digest);
    expect(dst.tags.get(att.tag!)?.digest).toBe(att.desc.digest);
  });
});

describe("transferRoots", () => {
  test("several roots: each graph, each root's own referrers, then every tag", async () => {
    const { sample, sig, sbom, sbomSig } = signedSample();
    const dst = new MemoryStore();
    const roots = sample.manifests.map((m, i) => ({ desc: bare(m), tags: [`1.0-${i}`] }));
    const done = await transferRoots(sample.store, dst, roots);
    expect(dst.tags.get("1.0-0")?.digest).toBe(sample.manifests[0].digest);
    expect(dst.tags.get("1.0-1")?.digest).toBe(sample.manifests[1].digest);
    // The platform's SBOM and its signature travel; the index's cosign signature does not (the index is no root).
    expect(done.referrers.map((r) => r.desc.digest)).toEqual([sbom.desc.digest, sbomSig.desc.digest]);
    expect(dst.tags.has(sig.tag!)).toBe(false);
    expect(dst.blobs.has(sample.root.digest)).toBe(false);
    expect(done.copied).toBe(dst.blobs.size);
  });

  test("a tag that fails after another was written is a PartialError naming both", async () => {
    const { sample } = signedSample();
    const dst = new MemoryStore();
    const tag = dst.tag.bind(dst);
    dst.tag = (desc, name) => name === "b" ? Promise.reject(new NotFoundError("Cannot tag b: gone")) : tag(desc, name);
    const roots = [{ desc: bare(sample.manifests[0]), tags: ["a"] }, { desc: bare(sample.manifests[1]), tags: ["b"] }];
    const err = await transferRoots(sample.store, dst, roots, { referrers: false }).catch((e) => e);
    expect(err).toBeInstanceOf(PartialError);
    expect(err.message).toBe("Cannot tag b after writing a: Cannot tag b: gone");
    expect(err.failures).toEqual([{ ref: "b", error: "Cannot tag b: gone" }]);
  });

  test("a copy that fails writes no tag", async () => {
    const { sample } = signedSample();
    const second = JSON.parse(new TextDecoder().decode(sample.store.blobs.get(sample.manifests[1].digest)!.bytes));
    const src = new MemoryStore();
    for (const [digest, blob] of sample.store.blobs) if (digest !== second.config.digest) src.blobs.set(digest, blob);
    const dst = new MemoryStore();
    const roots = sample.manifests.map((m, i) => ({ desc: bare(m), tags: [`t${i}`] }));
    await expect(transferRoots(src, dst, roots, { referrers: false })).rejects.toBeInstanceOf(NotFoundError);
    expect(dst.tags.size).toBe(0);
  });

  test("planRoots counts each root under its group and plans what transferRoots writes", async () => {
    const { sample } = signedSample();
    const roots = sample.manifests.map((m, i) => ({ desc: bare(m), tags: [`1.0-${i}`], group: `p${i}` }));
    const plan = await planRoots(sample.store, new MemoryStore(), roots);
    const dst = new MemoryStore();
    const done = await transferRoots(sample.store, dst, roots);
    expect(plan.toWrite.length).toBe(done.copied);
    expect(plan.bytes).toBe(done.bytes);
    expect([...plan.perPlatform.keys()].sort()).toEqual(["p0", "p1", "referrers"]);
    expect(plan.referrers.map((r) => r.desc.digest)).toEqual(done.referrers.map((r) => r.desc.digest));
  });
});
