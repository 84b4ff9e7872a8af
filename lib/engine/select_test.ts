import { describe, expect, test } from "bun:test";
import { NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { digestOf } from "../oci/digest.ts";
import { type Index, parseManifest } from "../oci/manifest.ts";
import { MediaType } from "../oci/media_types.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { filterIndex, listPlatforms, selectPlatforms } from "./select.ts";

const entry = (architecture: string, variant?: string): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: digestOf(`${architecture}${variant ?? ""}`),
  size: 500,
  platform: variant ? { architecture, os: "linux", variant } : { architecture, os: "linux" },
});
const attestationOf = (d: Descriptor): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: digestOf(`att ${d.digest}`),
  size: 300,
  annotations: { "vnd.docker.reference.digest": d.digest, "vnd.docker.reference.type": "attestation-manifest" },
  platform: { architecture: "unknown", os: "unknown" },
});

const amd64 = entry("amd64");
const arm64 = entry("arm64", "v8");
const armv7 = entry("arm", "v7");
const armv6 = entry("arm", "v6");
const attAmd64 = attestationOf(amd64);
const attArm64 = attestationOf(arm64);

// An index as buildx pushes it: images, then their attestations; pretty-printed so that a
// re-serialisation would change the digest.
const index: Index = {
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [amd64, arm64, armv7, armv6, attAmd64, attArm64],
  annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
};
const indexBytes = new TextEncoder().encode(JSON.stringify(index, null, 3));
const want = (...values: string[]) => parsePlatformList(values);

describe("listPlatforms", () => {
  test("every image entry, attestations excluded, index order", () => {
    expect(listPlatforms(index)).toEqual([amd64, arm64, armv7, armv6]);
  });
});

describe("selectPlatforms", () => {
  const cases: [string[], Descriptor[]][] = [
    [[], [amd64, arm64, armv7, armv6]],
    [["all"], [amd64, arm64, armv7, armv6]],
    [["linux/amd64"], [amd64]],
    [["arm64"], [arm64]],
    [["linux/arm64/v8"], [arm64]],
    [["linux/arm"], [armv7, armv6]],
    [["linux/arm/v6"], [armv6]],
    [["armv6,amd64"], [amd64, armv6]], // index order, not request order
    [["amd64", "x86_64", "linux/amd64"], [amd64]],
  ];
  for (const [values, expected] of cases) {
    test(values.join(" ") || "(none)", () => expect(selectPlatforms(index, want(...values))).toEqual(expected));
  }

  test("a missing platform names what the index has", () => {
    const small: Index = { schemaVersion: 2, manifests: [amd64, arm64, armv7, attAmd64] };
    const run = () => selectPlatforms(small, want("linux/s390x"), { ref: "app:1" });
    expect(run).toThrow(NotFoundError);
    expect(run).toThrow(
      "Cannot find platform linux/s390x in the index; it has linux/amd64, linux/arm64/v8, linux/arm/v7",
    );
    try {
      run();
    } catch (err) {
      expect((err as NotFoundError).ref).toBe("app:1");
    }
    expect(() => selectPlatforms(small, want("s390x,amd64,ppc64le"))).toThrow(
      "Cannot find platforms linux/s390x, linux/ppc64le in the index;",
    );
    expect(() => selectPlatforms(small, want("linux/arm/v6"))).toThrow("Cannot find platform linux/arm/v6");
  });

  test("attestations are never selected, even by unknown/unknown", () => {
    expect(() => selectPlatforms(index, want("unknown/unknown"))).toThrow(NotFoundError);
  });

  test("wildcards select by OS or architecture, attestations still excluded", () => {
    const win: Descriptor = {
      ...entry("amd64"),
      digest: digestOf("win"),
      platform: { os: "windows", architecture: "amd64" },
    };
    const mixed: Index = { schemaVersion: 2, manifests: [win, amd64, armv7, attAmd64] };
    expect(selectPlatforms(mixed, want("linux/*"))).toEqual([amd64, armv7]);
    expect(selectPlatforms(mixed, want("*/amd64"))).toEqual([win, amd64]);
    expect(selectPlatforms(mixed, want("*/*"))).toEqual([win, amd64, armv7]);
    expect(() => selectPlatforms(mixed, want("darwin/*"))).toThrow("Cannot find platform darwin/* in the index");
  });

  test("an index with only attestations says so", () => {
    expect(() => selectPlatforms({ schemaVersion: 2, manifests: [attAmd64] }, want("amd64"))).toThrow(
      "it has no platform images",
    );
  });
});

describe("filterIndex", () => {
  test("keeping every image returns the original bytes and digest", () => {
    const all = selectPlatforms(index, "all");
    const { bytes, desc } = filterIndex(indexBytes, index, all);
    expect(bytes).toBe(indexBytes);
    expect(desc).toEqual({ mediaType: MediaType.OciIndex, digest: digestOf(indexBytes), size: indexBytes.byteLength });
  });

  test("a subset makes a new index with the same top level and the kept images' attestations", () => {
    const { bytes, desc } = filterIndex(indexBytes, index, selectPlatforms(index, want("arm64,armv7")));
    expect(desc.digest).toBe(digestOf(bytes));
    expect(desc.mediaType).toBe(MediaType.OciIndex);
    const parsed = parseManifest(bytes, desc.mediaType);
    if (parsed.kind !== "index") throw new Error("not an index");
    expect(parsed.index.manifests).toEqual([arm64, armv7, attArm64]);
    expect(parsed.index.annotations).toEqual(index.annotations);
    expect(parsed.index.mediaType).toBe(MediaType.OciIndex);
  });

  test("attestations: drop", () => {
    const { bytes } = filterIndex(indexBytes, index, [amd64], { attestations: "drop" });
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as Index;
    expect(doc.manifests).toEqual([amd64]);
    const allImages = filterIndex(indexBytes, index, listPlatforms(index), { attestations: "drop" });
    expect(allImages.bytes).not.toBe(indexBytes);
    expect((JSON.parse(new TextDecoder().decode(allImages.bytes)) as Index).manifests).toHaveLength(4);
  });

  test("a Docker manifest list stays a Docker manifest list", () => {
    const list: Index = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [amd64, arm64] };
    const bytes = new TextEncoder().encode(JSON.stringify(list));
    const out = filterIndex(bytes, list, [arm64]);
    expect(out.desc.mediaType).toBe(MediaType.DockerManifestList);
    expect(JSON.parse(new TextDecoder().decode(out.bytes)).mediaType).toBe(MediaType.DockerManifestList);
    expect(filterIndex(bytes, list, [amd64, arm64]).desc.mediaType).toBe(MediaType.DockerManifestList);
  });

  test("keeping an entry the index does not have is an error", () => {
    expect(() => filterIndex(indexBytes, index, [entry("s390x")])).toThrow(NotFoundError);
  });
});
