import { describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { UsageError } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { type ImageConfig, isAttestation, parseJson, parseManifest } from "../oci/manifest.ts";
import { MediaType } from "../oci/media_types.ts";
import type { MemoryStore } from "../ends/memory.ts";
import { buildSampleImage, seededBytes } from "./sample_image.ts";

function manifestOf(store: MemoryStore, desc: Descriptor) {
  const parsed = parseManifest(store.get(desc.digest)!, desc.mediaType);
  if (parsed.kind !== "manifest") throw new Error("expected an image manifest");
  return parsed.manifest;
}

describe("buildSampleImage", () => {
  test("is deterministic: the same options give the same root digest", () => {
    const a = buildSampleImage({ layerSize: 4096, attestations: true });
    const b = buildSampleImage({ layerSize: 4096, attestations: true });
    expect(b.root).toEqual(a.root);
    expect([...b.store.blobs.keys()].sort()).toEqual([...a.store.blobs.keys()].sort());
    expect(buildSampleImage({ seed: 2 }).root.digest).not.toBe(buildSampleImage().root.digest);
  });

  test("an OCI index of the requested platforms; every blob is stored under its digest", async () => {
    const sample = buildSampleImage();
    expect(await sample.store.resolve("1.0")).toEqual(sample.root);
    expect(sample.root.mediaType).toBe(MediaType.OciIndex);
    const parsed = parseManifest(sample.store.get(sample.root.digest)!, sample.root.mediaType);
    if (parsed.kind !== "index") throw new Error("expected an index");
    expect(parsed.index.manifests).toEqual(sample.manifests);
    expect(parsed.index.manifests.map((m) => m.platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ]);
    for (const [digest, { desc, bytes }] of sample.store.blobs) {
      expect(digestOf(bytes)).toBe(digest);
      expect(desc.size).toBe(bytes.byteLength);
    }
    // The base layer is shared: 3 manifests + 3 configs + 3 own layers + 1 base + the index.
    expect(sample.store.blobs.size).toBe(11);
  });

  test("configs name their platform, diff_ids match the layers, platform.txt names the platform", () => {
    const sample = buildSampleImage({ platforms: ["linux/arm/v7"], cmd: ["/bin/true"] });
    const [desc] = sample.manifests;
    const manifest = manifestOf(sample.store, desc);
    expect(manifest.mediaType).toBe(MediaType.OciManifest);
    const config = parseJson<ImageConfig>(sample.store.get(manifest.config.digest)!, "config");
    expect(config).toMatchObject({ os: "linux", architecture: "arm", variant: "v7", created: "1970-01-01T00:00:00Z" });
    expect(config.config).toMatchObject({ Cmd: ["/bin/true"] });
    expect(config.history).toHaveLength(2);
    const tars = manifest.layers.map((l) => new Uint8Array(gunzipSync(sample.store.get(l.digest)!)));
    expect(config.rootfs.diff_ids).toEqual(tars.map((t) => digestOf(t)));
    expect(new TextDecoder().decode(tars[1])).toContain("linux/arm/v7\n");
  });

  test("docker media types throughout with mediaType docker", () => {
    const sample = buildSampleImage({ mediaType: "docker", platforms: ["linux/amd64"] });
    expect(sample.root.mediaType).toBe(MediaType.DockerManifestList);
    const manifest = manifestOf(sample.store, sample.manifests[0]);
    expect(sample.manifests[0].mediaType).toBe(MediaType.DockerManifest);
    expect(manifest.config.mediaType).toBe(MediaType.DockerConfig);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.DockerLayerGzip, MediaType.DockerLayerGzip]);
  });

  test("attestations add unknown/unknown entries pointing at their image manifests", () => {
    const sample = buildSampleImage({ attestations: true });
    const parsed = parseManifest(sample.store.get(sample.root.digest)!);
    if (parsed.kind !== "index") throw new Error("expected an index");
    const entries = parsed.index.manifests;
    expect(entries).toHaveLength(6);
    const attestations = entries.filter(isAttestation);
    expect(attestations).toEqual(sample.attestations);
    expect(attestations.map((a) => a.annotations?.["vnd.docker.reference.digest"]))
      .toEqual(sample.manifests.map((m) => m.digest));
    for (const a of attestations) {
      expect(a.platform).toEqual({ os: "unknown", architecture: "unknown" });
      expect(manifestOf(sample.store, a).layers[0].mediaType).toBe("application/vnd.in-toto+json");
    }
  });

  test("extra files land in their platform's layer only; baseLayerSize makes a large shared layer", () => {
    const marker = new TextEncoder().encode("BUSYBOX-STAND-IN");
    const sample = buildSampleImage({
      platforms: ["linux/amd64", "linux/arm64"],
      files: { "linux/amd64": { "/bin/cat": marker } },
      baseLayerSize: 3 * 1024 * 1024,
    });
    const [amd, arm] = sample.manifests.map((m) => manifestOf(sample.store, m));
    expect(amd.layers[0]).toEqual(arm.layers[0]);
    expect(amd.layers[0].size).toBeGreaterThan(3 * 1024 * 1024);
    const own = (m: typeof amd) => new TextDecoder().decode(gunzipSync(sample.store.get(m.layers[1].digest)!));
    expect(own(amd)).toContain("BUSYBOX-STAND-IN");
    expect(own(arm)).not.toContain("BUSYBOX-STAND-IN");
    // ustar header of bin/cat: name at 0, mode at 100, so an added binary is executable.
    const tar = own(amd);
    const at = tar.indexOf("bin/cat\0");
    expect(tar.slice(at + 100, at + 107)).toBe("0000755");
  });

  test("seeded bytes are reproducible for any size", () => {
    const a = seededBytes(100 * 1024 * 1024, 42);
    expect(a.byteLength).toBe(100 * 1024 * 1024);
    expect(digestOf(seededBytes(1000, 42))).toBe(digestOf(a.subarray(0, 1000)));
    expect(seededBytes(7, 1)).toHaveLength(7);
  });

  test("rejects bad options", () => {
    expect(() => buildSampleImage({ platforms: [] })).toThrow(UsageError);
    expect(() => buildSampleImage({ platforms: ["linux"] })).toThrow('invalid platform "linux"');
    expect(() => buildSampleImage({ platforms: ["linux/amd64", "linux/amd64"] })).toThrow("duplicate platform");
    expect(() => buildSampleImage({ mediaType: "docker", attestations: true })).toThrow('need mediaType "oci"');
    expect(() => buildSampleImage({ files: { "linux/s390x": {} } })).toThrow('unknown platform "linux/s390x"');
    expect(() => buildSampleImage({ platforms: ["windows/amd64"], foreignLayers: true })).toThrow("adds windows/amd64");
  });

  test("foreignLayers adds windows/amd64 whose base layer is foreign, with urls, and not in the store", () => {
    for (
      const [mediaType, layerType] of [
        ["docker", MediaType.DockerForeignLayerGzip],
        ["oci", MediaType.OciLayerNondistributableGzip],
      ] as const
    ) {
      const sample = buildSampleImage({ mediaType, foreignLayers: true });
      expect(sample.manifests.map((m) => m.platform?.os)).toEqual(["linux", "linux", "linux", "windows"]);
      const windows = sample.manifests[3];
      expect(windows.platform).toEqual({ os: "windows", architecture: "amd64", "os.version": "10.0.20348.2340" });
      const manifest = manifestOf(sample.store, windows);
      const [foreign, own] = manifest.layers;
      expect(foreign.mediaType).toBe(layerType);
      expect(foreign.urls?.[0]).toStartWith("https://");
      expect(sample.store.get(foreign.digest)).toBeUndefined();
      expect(sample.store.get(own.digest)).toBeDefined();
      expect(sample.foreignLayers).toEqual([{ desc: foreign, bytes: expect.any(Uint8Array) }]);
      expect(digestOf(sample.foreignLayers[0].bytes)).toBe(foreign.digest);
      const config = parseJson<ImageConfig>(sample.store.get(manifest.config.digest)!, "config");
      expect(config.os).toBe("windows");
    }
    expect(buildSampleImage().foreignLayers).toEqual([]);
  });
});
