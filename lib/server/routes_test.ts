import { describe, expect, test } from "bun:test";
import { isRepositoryName, isTag, parseRoute, type Route } from "./routes.ts";

const D = `sha256:${"a".repeat(64)}`;

describe("parseRoute", () => {
  const cases: [string, Route][] = [
    ["/v2/", { kind: "base" }],
    ["/v2", { kind: "base" }],
    ["/v2/app/manifests/1.0", { kind: "manifest", name: "app", reference: "1.0" }],
    ["/v2/sample/app/manifests/1.0", { kind: "manifest", name: "sample/app", reference: "1.0" }],
    [`/v2/a/b/c/manifests/${D}`, { kind: "manifest", name: "a/b/c", reference: D }],
    [`/v2/a/manifests/b/manifests/${D}`, { kind: "manifest", name: "a/manifests/b", reference: D }],
    [`/v2/a/blobs/${D}`, { kind: "blob", name: "a", digest: D }],
    [`/v2/a/blobs/${D.replace(":", "%3A")}`, { kind: "blob", name: "a", digest: D }],
    ["/v2/a/blobs/uploads/", { kind: "upload", name: "a" }],
    ["/v2/a/blobs/uploads", { kind: "upload", name: "a" }],
    ["/v2/a/b/blobs/uploads/0f6e-uuid", { kind: "upload", name: "a/b", session: "0f6e-uuid" }],
    ["/v2/a/b/tags/list", { kind: "tags", name: "a/b" }],
    [`/v2/a/referrers/${D}`, { kind: "referrers", name: "a", digest: D }],
    ["/v1/a/manifests/1.0", { kind: "unknown" }],
    ["/v2/a/manifests/", { kind: "unknown" }],
    ["/v2/a/tags/list/extra", { kind: "unknown" }],
    ["/v2/a/blobs/%E0%A4%A", { kind: "unknown" }],
    ["/", { kind: "unknown" }],
  ];
  for (const [path, route] of cases) {
    test(path, () => expect(parseRoute(path)).toEqual(route));
  }
});

describe("isRepositoryName / isTag", () => {
  test("names follow the distribution grammar", () => {
    for (const ok of ["a", "sample/app", "a.b_c__d---e/f", "x/y/z9"]) expect(isRepositoryName(ok)).toBe(true);
    for (const bad of ["", "A", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a b", "a/.b", "a".repeat(256)]) {
      expect(isRepositoryName(bad)).toBe(false);
    }
  });
  test("tags are 1–128 of [A-Za-z0-9_.-], not starting with . or -", () => {
    for (const ok of ["1.0", "latest", "_x", "V-1_2.3", "a".repeat(128)]) expect(isTag(ok)).toBe(true);
    for (const bad of ["", ".a", "-a", "a:b", "a/b", "a".repeat(129)]) expect(isTag(bad)).toBe(false);
  });
});
