import { describe, expect, test } from "bun:test";
import { MemoryStore } from "../ends/memory.ts";
import { parsePublicKey } from "../oci/cosign.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { parsePlatform } from "../oci/platform.ts";
import { schemaTag } from "../oci/referrers.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { addCosignSignature, addSpdxSbom, generateSigningKey } from "../testing/referrers.ts";
import { verifyImages } from "./verify.ts";

const key = generateSigningKey();
const pub = parsePublicKey(key.publicPem, "cosign.pub");

function signedSample() {
  const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
  const sig = addCosignSignature(sample.store, sample.root, { reference: "127.0.0.1/app", key });
  const sbom = addSpdxSbom(sample.store, sample.manifests[0], { name: "app" });
  return { ...sample, sig, sbom, roots: [{ desc: sample.root, name: "memory:app:1.0" }] };
}

function layerOf(store: MemoryStore, manifest: Descriptor): Descriptor {
  return JSON.parse(new TextDecoder().decode(store.get(manifest.digest)!)).layers.at(-1);
}

describe("verifyImages", () => {
  test("a signed image with an SBOM: no problems, platforms and the signature reported", async () => {
    const s = signedSample();
    const report = await verifyImages(s.store, s.roots, { keys: [pub] });
    expect(report.problems).toEqual([]);
    expect(report.images).toHaveLength(1);
    expect(report.images[0]).toMatchObject({
      ref: "memory:app:1.0",
      digest: s.root.digest,
      platforms: ["linux/amd64", "linux/arm64/v8"],
      referrers: 2,
      signed: true,
    });
    expect(report.images[0].signatures).toEqual([
      { subject: s.root.digest, signature: s.sig.desc.digest, format: "cosign", verified: true, key: "cosign.pub" },
    ]);
    // index, 2 manifests, the signature and the SBOM; configs and layers (one shared base) and referrer blobs
    expect(report.manifests).toBe(5);
    expect(report.blobs).toBeGreaterThanOrEqual(7);
  });

  test("a corrupt layer, a short one and a missing one: each named with its platform, all reported", async () => {
    const s = signedSample();
    const amd = layerOf(s.store, s.manifests[0]);
    const arm = layerOf(s.store, s.manifests[1]);
    const bytes = s.store.get(amd.digest)!.slice();
    bytes[bytes.length - 1] ^= 0xff;
    s.store.blobs.set(amd.digest, { desc: amd, bytes });
    s.store.blobs.set(arm.digest, { desc: arm, bytes: s.store.get(arm.digest)!.slice(1) });
    const config = JSON.parse(new TextDecoder().decode(s.store.get(s.sbom.desc.digest)!)).layers[0] as Descriptor;
    s.store.blobs.delete(config.digest);
    const report = await verifyImages(s.store, s.roots, { keys: [pub], concurrency: 2 });
    expect(report.problems.map((p) => [p.ref, p.kind, p.message.replace(/\(it hashes to .*\)/, "(…)")])).toEqual([
      ["memory:app:1.0", "digest", `linux/amd64 layer ${amd.digest}: content does not match its digest (…)`],
      [
        "memory:app:1.0",
        "size",
        `linux/arm64/v8 layer ${arm.digest}: ${arm.size - 1} bytes, its descriptor says ${arm.size}`,
      ],
      ["memory:app:1.0", "missing", `sbom layer ${config.digest}: not found`],
    ]);
  });

  test("a manifest the index names is missing: a dangling reference", async () => {
    const s = signedSample();
    s.store.blobs.delete(s.manifests[1].digest);
    const report = await verifyImages(s.store, s.roots);
    expect(report.problems).toEqual([{
      ref: "memory:app:1.0",
      kind: "missing",
      message: `linux/arm64/v8 manifest ${s.manifests[1].digest}: not found`,
      digest: s.manifests[1].digest,
    }]);
  });

  test("an expected platform is not there", async () => {
    const s = signedSample();
    const report = await verifyImages(s.store, s.roots, {
      platforms: [parsePlatform("linux/s390x"), parsePlatform("arm64")],
    });
    expect(report.problems).toEqual([{
      ref: "memory:app:1.0",
      kind: "platform",
      message: "platform linux/s390x: not in the image (it has linux/amd64, linux/arm64/v8)",
    }]);
  });

  test("a wrong key, a tampered signature annotation, a missing signature", async () => {
    const s = signedSample();
    const other = parsePublicKey(generateSigningKey().publicPem, "other.pub");
    const wrong = await verifyImages(s.store, s.roots, { keys: [other] });
    expect(wrong.problems).toEqual([{
      ref: "memory:app:1.0",
      kind: "signature",
      message: `signature ${s.sig.desc.digest} of the index ${s.root.digest}: does not verify with other.pub`,
      digest: s.sig.desc.digest,
    }]);
    expect(wrong.images[0].signed).toBe(false);

    // The annotation edited (a signature of other bytes): a new signature manifest under the same cosign tag.
    const manifest = JSON.parse(new TextDecoder().decode(s.store.get(s.sig.desc.digest)!));
    const forged = generateSigningKey();
    const { sign } = await import("node:crypto");
    manifest.layers[0].annotations["dev.cosignproject.cosign/signature"] = sign(
      "sha256",
      s.sig.payload,
      forged.privateKey,
    )
      .toString("base64");
    const tampered = s.store.put(new TextEncoder().encode(JSON.stringify(manifest)), manifest.mediaType);
    s.store.tags.set(schemaTag(s.root.digest, "sig"), tampered);
    const bad = await verifyImages(s.store, s.roots, { keys: [pub] });
    expect(bad.problems.map((p) => p.message)).toEqual([
      `signature ${tampered.digest} of the index ${s.root.digest}: does not verify with cosign.pub`,
    ]);

    s.store.tags.delete(schemaTag(s.root.digest, "sig"));
    const unsigned = await verifyImages(s.store, s.roots, { keys: [pub] });
    expect(unsigned.problems).toEqual([{
      ref: "memory:app:1.0",
      kind: "unsigned",
      message: `no signature that verifies with cosign.pub: none on the index ${s.root.digest} or on linux/amd64 ${
        s.manifests[0].digest
      } or on linux/arm64/v8 ${s.manifests[1].digest}`,
    }]);
    // Without keys nothing is required, unless asked.
    expect((await verifyImages(s.store, s.roots)).problems).toEqual([]);
    expect((await verifyImages(s.store, s.roots, { requireSignature: true })).problems[0].message).toBe(
      `no signature: none on the index ${s.root.digest} or on linux/amd64 ${
        s.manifests[0].digest
      } or on linux/arm64/v8 ${s.manifests[1].digest}`,
    );
  });

  test("signatures on each platform manifest (not the index) are enough; one unsigned platform is named", async () => {
    const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
    addCosignSignature(sample.store, sample.manifests[0], { reference: "r/app", key });
    const roots = [{ desc: sample.root, name: "app" }];
    const half = await verifyImages(sample.store, roots, { keys: [pub] });
    expect(half.problems.map((p) => p.message)).toEqual([
      `no signature that verifies with cosign.pub: none on the index ${sample.root.digest} or on linux/arm64/v8 ${
        sample.manifests[1].digest
      }`,
    ]);
    addCosignSignature(sample.store, sample.manifests[1], { reference: "r/app", key });
    expect((await verifyImages(sample.store, roots, { keys: [pub] })).problems).toEqual([]);
  });

  for (const kind of ["ed25519", "rsa"] as const) {
    test(`a ${kind} key verifies its signature, and only its`, async () => {
      const k = generateSigningKey(kind);
      const sample = buildSampleImage({ platforms: ["linux/amd64"] });
      addCosignSignature(sample.store, sample.root, { reference: "r/app", key: k });
      const roots = [{ desc: sample.root, name: "app" }];
      const report = await verifyImages(sample.store, roots, {
        keys: [pub, parsePublicKey(k.publicPem, `${kind}.pub`)],
      });
      expect(report.problems).toEqual([]);
      expect(report.images[0].signatures[0]).toMatchObject({ verified: true, key: `${kind}.pub` });
      expect((await verifyImages(sample.store, roots, { keys: [pub] })).problems[0].kind).toBe("signature");
    });
  }

  test("a set of ends, and an index carried by a subset of them (partial)", async () => {
    const s = signedSample();
    // Two ends: the arm64 manifest's graph lives in the second only, the index in the first.
    const first = new MemoryStore("first"), second = new MemoryStore("second");
    for (const [digest, entry] of s.store.blobs) {
      (digest === s.manifests[1].digest ? second : first).blobs.set(digest, entry);
    }
    for (const [tag, desc] of s.store.tags) first.tags.set(tag, desc);
    const roots = [{ desc: s.root, name: "files", partial: true }];
    expect((await verifyImages([first, second], roots, { keys: [pub] })).problems).toEqual([]);
    const alone = await verifyImages([first], roots, { keys: [pub] });
    expect(alone.problems.map((p) => p.message)).toEqual([
      `linux/arm64/v8 manifest ${
        s.manifests[1].digest
      }: not among the inputs (pass every file of the export, or name the platforms expected with --platform)`,
    ]);
    expect(alone.images[0].platforms).toEqual(["linux/amd64"]);
    expect((await verifyImages([first], roots, { keys: [pub], platforms: [parsePlatform("linux/amd64")] })).problems)
      .toEqual([]);
    expect(
      (await verifyImages([first], roots, { platforms: [parsePlatform("linux/arm64")] })).problems.map((p) => p.kind),
    ).toEqual(["missing", "platform"]);
  });

  test("aborted: throws, does not report", async () => {
    const s = signedSample();
    const controller = new AbortController();
    controller.abort();
    await expect(verifyImages(s.store, s.roots, { signal: controller.signal })).rejects.toThrow();
  });
});
