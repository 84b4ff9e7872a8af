import { describe, expect, test } from "bun:test";
import { FormatError } from "../errors.ts";
import { MediaType } from "./media_types.ts";
import {
  artifactTypeOf,
  mergeFallbackIndex,
  parseSchemaTag,
  repositoryOfName,
  schemaTag,
  subjectOf,
} from "./referrers.ts";

const D = `sha256:${"a".repeat(64)}`;
const E = `sha256:${"b".repeat(64)}`;
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const entry = (digest: string) => ({ mediaType: MediaType.OciManifest, digest, size: 10, artifactType: "x/y" });

describe("the tag schema", () => {
  test("fallback and cosign tags name their subject; other tags are not referrers", () => {
    expect(schemaTag(D)).toBe(`sha256-${"a".repeat(64)}`);
    expect(parseSchemaTag(schemaTag(D))).toEqual({ subject: D, kind: "index" });
    expect(parseSchemaTag(schemaTag(D, "att"))).toEqual({ subject: D, kind: "cosign", suffix: "att" });
    expect(parseSchemaTag("1.0")).toBeUndefined();
    expect(parseSchemaTag(`sha256-${"a".repeat(63)}.sig`)).toBeUndefined();
    expect(parseSchemaTag(`${schemaTag(D)}.other`)).toBeUndefined();
  });

  test("subject and artifact type of a manifest; a cosign manifest's type is its payload layer's", () => {
    expect(subjectOf(enc({ subject: { digest: D } }))).toBe(D);
    expect(subjectOf(enc({ subject: { digest: "md5:x" } }))).toBeUndefined();
    expect(subjectOf(new TextEncoder().encode("not json"))).toBeUndefined();
    expect(artifactTypeOf(enc({ artifactType: "application/spdx+json", config: { mediaType: MediaType.OciEmpty } })))
      .toBe("application/spdx+json");
    expect(
      artifactTypeOf(
        enc({
          config: { mediaType: MediaType.OciConfig },
          layers: [{ mediaType: "application/vnd.dev.cosign.simplesigning.v1+json" }],
        }),
      ),
    ).toBe("application/vnd.dev.cosign.simplesigning.v1+json");
    expect(artifactTypeOf(enc({ config: { mediaType: "application/vnd.example.config" }, layers: [] }))).toBe(
      "application/vnd.example.config",
    );
  });

  test("a fallback index is created, added to (order and other fields kept), and left alone when nothing is new", () => {
    const first = mergeFallbackIndex(undefined, [entry(D)])!;
    expect(JSON.parse(new TextDecoder().decode(first))).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [entry(D)],
    });
    const theirs = enc({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [entry(E)],
      annotations: { a: "b" },
    });
    expect(JSON.parse(new TextDecoder().decode(mergeFallbackIndex(theirs, [entry(D), entry(E)])!))).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [entry(E), entry(D)],
      annotations: { a: "b" },
    });
    expect(mergeFallbackIndex(theirs, [entry(E)])).toBeUndefined();
    expect(() => mergeFallbackIndex(enc({ config: {} }), [entry(D)])).toThrow(FormatError);
  });

  test("the repository a file's image name is served under", () => {
    expect(repositoryOfName("127.0.0.1:5000/team/app:1.0")).toBe("team/app");
    expect(repositoryOfName("app:1.0")).toBe("app");
    expect(repositoryOfName("docker.io/library/alpine:3")).toBe("alpine");
  });
});
