import { describe, expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import {
  formatReference,
  isValidTag,
  parseReference,
  type Reference,
  referenceTarget,
  repositoryName,
  withDigest,
  withTag,
} from "./reference.ts";

const D = `sha256:${"a".repeat(64)}`;
const D512 = `sha512:${"b".repeat(128)}`;

describe("parseReference", () => {
  const cases: [string, Reference][] = [
    ["alpine", { registry: "docker.io", repository: "library/alpine" }],
    ["alpine:3.19", { registry: "docker.io", repository: "library/alpine", tag: "3.19" }],
    ["library/alpine:3.19", { registry: "docker.io", repository: "library/alpine", tag: "3.19" }],
    ["docker.io/alpine", { registry: "docker.io", repository: "library/alpine" }],
    ["index.docker.io/alpine", { registry: "docker.io", repository: "library/alpine" }],
    ["index.docker.io/library/alpine:edge", { registry: "docker.io", repository: "library/alpine", tag: "edge" }],
    ["bitnami/redis:7", { registry: "docker.io", repository: "bitnami/redis", tag: "7" }],
    ["a/b/c", { registry: "docker.io", repository: "a/b/c" }],
    ["ghcr.io/owner/app:v1.2.3", { registry: "ghcr.io", repository: "owner/app", tag: "v1.2.3" }],
    ["ghcr.io/app", { registry: "ghcr.io", repository: "app" }],
    ["localhost/app", { registry: "localhost", repository: "app" }],
    ["localhost:5000/app", { registry: "localhost:5000", repository: "app" }],
    ["127.0.0.1:5000/app:1", { registry: "127.0.0.1:5000", repository: "app", tag: "1" }],
    ["127.0.0.1:5000/team/app:1.0", { registry: "127.0.0.1:5000", repository: "team/app", tag: "1.0" }],
    ["[::1]:5000/app:tag", { registry: "[::1]:5000", repository: "app", tag: "tag" }],
    ["[fe80::1]/app", { registry: "[fe80::1]", repository: "app" }],
    ["Registry/app", { registry: "Registry", repository: "app" }],
    ["registry.example.com:443/a.b/c_d/e__f/g-h/i---j:T_1.x-y", {
      registry: "registry.example.com:443",
      repository: "a.b/c_d/e__f/g-h/i---j",
      tag: "T_1.x-y",
    }],
    [`alpine@${D}`, { registry: "docker.io", repository: "library/alpine", digest: D }],
    [`alpine:3.19@${D}`, { registry: "docker.io", repository: "library/alpine", tag: "3.19", digest: D }],
    [`localhost:5000/app@${D512}`, { registry: "localhost:5000", repository: "app", digest: D512 }],
    ["localhost:5000", { registry: "docker.io", repository: "library/localhost", tag: "5000" }], // docker agrees
    [`app:${"x".repeat(128)}`, { registry: "docker.io", repository: "library/app", tag: "x".repeat(128) }],
  ];
  for (const [text, want] of cases) {
    test(text, () => expect(parseReference(text)).toEqual(want));
  }

  const bad: [string, string][] = [
    ["", "empty reference"],
    [" alpine", "whitespace"],
    ["Alpine", "must be lowercase"],
    ["docker.io/Library/alpine", "must be lowercase"],
    ["alpine:", "empty tag"],
    [":tag", "empty repository"],
    ["alpine:-x", "invalid tag"],
    [`app:${"x".repeat(129)}`, "invalid tag"],
    ["alpine@sha256:abc", "invalid digest"],
    [`alpine@md5:${"a".repeat(32)}`, "invalid digest"],
    [`alpine@${D}@${D}`, "more than one"],
    ["a//b", "empty path component"],
    ["a/", "empty path component"],
    ["ghcr.io/", "empty repository name"],
    ["a/-b", "invalid repository component"],
    ["a/b_", "invalid repository component"],
    ["a/b___c", "invalid repository component"],
    ["a/b..c", "invalid repository component"],
    ["-host.com/app", "invalid registry"],
    ["host.com:99999/app", "invalid port"],
    ["https://ghcr.io/app", "no scheme"],
    ["a".repeat(64).replace(/a/g, "f"), "image ID"],
    [`ghcr.io/${"a".repeat(250)}`, "longer than 255"],
  ];
  for (const [text, reason] of bad) {
    test(`rejects ${JSON.stringify(text.slice(0, 40))}`, () => {
      expect(() => parseReference(text)).toThrow(UsageError);
      expect(() => parseReference(text)).toThrow(`Cannot parse reference "${text}": `);
      expect(() => parseReference(text)).toThrow(reason);
    });
  }
});

describe("formatReference", () => {
  const cases: [string, string, string][] = [
    ["alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19"],
    ["alpine", "docker.io/library/alpine", "alpine"],
    ["bitnami/redis", "docker.io/bitnami/redis", "bitnami/redis"],
    ["library/a/b", "docker.io/library/a/b", "library/a/b"],
    ["localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app:1"],
    [`ghcr.io/o/app:1@${D}`, `ghcr.io/o/app:1@${D}`, `ghcr.io/o/app:1@${D}`],
    [`alpine@${D}`, `docker.io/library/alpine@${D}`, `alpine@${D}`],
  ];
  for (const [text, canonical, short] of cases) {
    test(text, () => {
      const ref = parseReference(text);
      expect(formatReference(ref)).toBe(canonical);
      expect(formatReference(ref, { short: true })).toBe(short);
      expect(parseReference(canonical)).toEqual(ref);
      expect(parseReference(short)).toEqual(ref);
    });
  }

  test("repositoryName", () => {
    expect(repositoryName(parseReference("alpine:3"))).toBe("docker.io/library/alpine");
    expect(repositoryName(parseReference("alpine:3"), { short: true })).toBe("alpine");
    expect(repositoryName(parseReference(`127.0.0.1:5000/a/b:1@${D}`))).toBe("127.0.0.1:5000/a/b");
  });
});

describe("referenceTarget and helpers", () => {
  test("digest wins, then tag, then latest", () => {
    expect(referenceTarget(parseReference("alpine"))).toBe("latest");
    expect(referenceTarget(parseReference("alpine:3"))).toBe("3");
    expect(referenceTarget(parseReference(`alpine:3@${D}`))).toBe(D);
  });

  test("withTag replaces the tag and drops the digest", () => {
    const ref = parseReference(`ghcr.io/o/app:1.0@${D}`);
    expect(withTag(ref, "1.0-arm64")).toEqual({ registry: "ghcr.io", repository: "o/app", tag: "1.0-arm64" });
    expect(ref.digest).toBe(D); // not mutated
    expect(() => withTag(ref, "bad tag")).toThrow(UsageError);
    expect(() => withTag(ref, "")).toThrow(UsageError);
  });

  test("withDigest pins and keeps the tag", () => {
    const ref = parseReference("ghcr.io/o/app:1.0");
    expect(withDigest(ref, D)).toEqual({ registry: "ghcr.io", repository: "o/app", tag: "1.0", digest: D });
    expect(ref.digest).toBeUndefined();
    expect(() => withDigest(ref, "sha256:zz")).toThrow(UsageError);
  });

  test("isValidTag", () => {
    expect(isValidTag("v1.0_rc-1")).toBe(true);
    expect(isValidTag(".hidden")).toBe(false);
    expect(isValidTag("")).toBe(false);
  });
});
