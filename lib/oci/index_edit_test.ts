import { describe, expect, test } from "bun:test";
import { NotFoundError, UsageError } from "../errors.ts";
import type { Descriptor } from "./descriptor.ts";
import { digestOf } from "./digest.ts";
import { addEntry, annotateEntry, buildIndex, removeEntry, serializeIndex, setPlatform } from "./index_edit.ts";
import { type Index, parseManifest } from "./manifest.ts";
import { MediaType } from "./media_types.ts";

const dig = (s: string) => digestOf(s);
const entry = (name: string, architecture: string, variant?: string): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: dig(name),
  size: 100 + name.length,
  platform: variant ? { architecture, os: "linux", variant } : { architecture, os: "linux" },
});
const amd64 = entry("amd64", "amd64");
const arm64 = entry("arm64", "arm64", "v8");
const att: Descriptor = {
  mediaType: MediaType.OciManifest,
  digest: dig("att-arm64"),
  size: 50,
  annotations: { "vnd.docker.reference.digest": arm64.digest, "vnd.docker.reference.type": "attestation-manifest" },
  platform: { architecture: "unknown", os: "unknown" },
};
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("buildIndex", () => {
  test("compact OCI index, parseable, descriptor matches the bytes", () => {
    const { bytes, desc } = buildIndex([amd64, arm64]);
    expect(text(bytes)).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.OciIndex}","manifests":[` +
        `{"mediaType":"${MediaType.OciManifest}","digest":"${amd64.digest}","size":105,"platform":{"architecture":"amd64","os":"linux"}},` +
        `{"mediaType":"${MediaType.OciManifest}","digest":"${arm64.digest}","size":105,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}`,
    );
    expect(desc).toEqual({ mediaType: MediaType.OciIndex, digest: digestOf(bytes), size: bytes.byteLength });
    const parsed = parseManifest(bytes, desc.mediaType);
    expect(parsed.kind).toBe("index");
  });

  test("Docker manifest list and annotations", () => {
    const { bytes, desc } = buildIndex([amd64], {
      mediaType: MediaType.DockerManifestList,
      annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
    });
    expect(desc.mediaType).toBe(MediaType.DockerManifestList);
    const doc = JSON.parse(text(bytes));
    expect(Object.keys(doc)).toEqual(["schemaVersion", "mediaType", "manifests", "annotations"]);
    expect(doc.mediaType).toBe(MediaType.DockerManifestList);
  });

  test("is deterministic whatever the key order of the entries", () => {
    const shuffled: Descriptor = {
      platform: { variant: "v8", os: "linux", architecture: "arm64" },
      size: arm64.size,
      digest: arm64.digest,
      mediaType: arm64.mediaType,
    };
    expect(buildIndex([amd64, shuffled]).desc).toEqual(buildIndex([amd64, arm64]).desc);
  });

  test("empty index and bad media type", () => {
    expect(text(buildIndex([]).bytes)).toBe(`{"schemaVersion":2,"mediaType":"${MediaType.OciIndex}","manifests":[]}`);
    expect(() => buildIndex([], { mediaType: MediaType.OciManifest as never })).toThrow(UsageError);
  });
});

describe("edits", () => {
  const base: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd64, arm64, att] };

  test("addEntry appends, and replaces an entry with the same digest in place", () => {
    const riscv = entry("riscv", "riscv64");
    expect(addEntry(base, riscv).manifests).toEqual([amd64, arm64, att, riscv]);
    const relabelled = { ...amd64, annotations: { a: "b" } };
    expect(addEntry(base, relabelled).manifests).toEqual([relabelled, arm64, att]);
    expect(base.manifests).toEqual([amd64, arm64, att]); // immutable
  });

  test("removeEntry drops the entry and its attestations", () => {
    expect(removeEntry(base, arm64.digest).manifests).toEqual([amd64]);
    expect(removeEntry(base, amd64.digest).manifests).toEqual([arm64, att]);
    expect(() => removeEntry(base, dig("nope"))).toThrow(NotFoundError);
    expect(() => removeEntry(base, dig("nope"))).toThrow(/^Cannot find sha256:[0-9a-f]{12} in the index$/);
  });

  test("setPlatform replaces the platform, dropping empty fields", () => {
    const out = setPlatform(base, amd64.digest, { os: "linux", architecture: "amd64", variant: "" });
    expect(out.manifests[0].platform).toEqual({ os: "linux", architecture: "amd64" });
    const v3 = setPlatform(base, amd64.digest, { os: "linux", architecture: "amd64", variant: "v3" });
    expect(v3.manifests[0].platform).toEqual({ os: "linux", architecture: "amd64", variant: "v3" });
    expect(base.manifests[0].platform).toEqual({ architecture: "amd64", os: "linux" });
    expect(() => setPlatform(base, dig("x"), { os: "linux", architecture: "amd64" })).toThrow(NotFoundError);
  });

  test("annotateEntry merges, and undefined removes", () => {
    const a = annotateEntry(base, amd64.digest, { "x.y": "1", "z": "2" });
    expect(a.manifests[0].annotations).toEqual({ "x.y": "1", z: "2" });
    const b = annotateEntry(a, amd64.digest, { z: undefined, w: "3" });
    expect(b.manifests[0].annotations).toEqual({ "x.y": "1", w: "3" });
    const c = annotateEntry(b, amd64.digest, { "x.y": undefined, w: undefined });
    expect(c.manifests[0]).toEqual(amd64);
    expect(() => annotateEntry(base, dig("x"), { a: "b" })).toThrow(NotFoundError);
  });

  test("serializeIndex keeps top-level fields and unknown keys, known keys first", () => {
    const subject = { size: 2, digest: dig("s"), mediaType: MediaType.OciManifest };
    const index = {
      annotations: { k: "v" },
      manifests: [{ ...amd64, "x-extra": true } as Descriptor],
      subject,
      mediaType: MediaType.OciIndex,
      schemaVersion: 2,
      "x-top": 1,
    } as Index;
    const { bytes, desc } = serializeIndex(index);
    const doc = JSON.parse(text(bytes));
    expect(Object.keys(doc)).toEqual(["schemaVersion", "mediaType", "manifests", "subject", "annotations", "x-top"]);
    expect(Object.keys(doc.subject)).toEqual(["mediaType", "digest", "size"]);
    expect(Object.keys(doc.manifests[0])).toEqual(["mediaType", "digest", "size", "platform", "x-extra"]);
    expect(desc.mediaType).toBe(MediaType.OciIndex);
  });

  test("serializeIndex of an index without mediaType describes it as an OCI index", () => {
    const { bytes, desc } = serializeIndex({ schemaVersion: 2, manifests: [amd64] });
    expect(desc.mediaType).toBe(MediaType.OciIndex);
    expect(JSON.parse(text(bytes)).mediaType).toBeUndefined();
  });
});
