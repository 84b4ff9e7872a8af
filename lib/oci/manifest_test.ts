import { expect, test } from "bun:test";
import { FormatError } from "../errors.ts";
import { checkDigest } from "./digest.ts";
import { parseManifest } from "./manifest.ts";
import { MediaType } from "./media_types.ts";

const enc = new TextEncoder();
const good = `sha256:${"a".repeat(64)}`;

test.each([
  "sha256:../../../../etc/passwd",
  `md5:${"a".repeat(32)}`,
  `sha256:${"A".repeat(64)}`,
  `sha256:${"a".repeat(63)}`,
  `sha512:${"a".repeat(64)}`,
  `sha256:${"a".repeat(64)}/../x`,
  "",
])("digest %p is refused wherever a descriptor is parsed, with a FormatError", (digest) => {
  const bad = { mediaType: MediaType.OciManifest, digest, size: 1 };
  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [bad] };
  const config = { mediaType: MediaType.OciConfig, digest: good, size: 2 };
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config,
    layers: [{ ...bad, mediaType: MediaType.OciLayerGzip }],
  };
  const withSubject = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [], subject: bad };
  const badConfig = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...config, digest }, layers: [] };
  for (const doc of [index, manifest, withSubject, badConfig]) {
    expect(() => parseManifest(enc.encode(JSON.stringify(doc)))).toThrow(FormatError);
    expect(() => parseManifest(enc.encode(JSON.stringify(doc)))).toThrow(/invalid digest/);
  }
  expect(() => checkDigest(digest, "a blob")).toThrow(FormatError);
});

test("sha256 and sha512 digests pass; sizes must be whole and not negative", () => {
  expect(checkDigest(good, "x")).toBe(good);
  expect(checkDigest(`sha512:${"0".repeat(128)}`, "x")).toBe(`sha512:${"0".repeat(128)}`);
  const index = (size: number) =>
    enc.encode(
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: good, size }] }),
    );
  expect(parseManifest(index(10)).kind).toBe("index");
  expect(() => parseManifest(index(-1))).toThrow(/invalid size/);
  expect(() => parseManifest(index(1.5))).toThrow(/invalid size/);
});
