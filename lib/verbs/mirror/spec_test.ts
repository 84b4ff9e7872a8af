import { expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { parseMirrorSpec, parsePrefix, specFromImages, validateMirrorSpec } from "./spec.ts";

const FULL = `
target: registry.example.com/mirror
concurrency: 4
jobs: 8
retries: 5
platforms: [linux/amd64, linux/arm64]
rateLimit:
  reserve: 20
  perMinute: 100
  maxDelay: 10
sources:
  - image: hello-world
  - image: ghcr.io/org/app:1.2@sha256:${"a".repeat(64)}
    platforms: linux/arm/v7
  - repository: area51/jenkins
    tags:
      allow: ['^2\\.']
      deny: ['-rc\\d*$', alpine]
    target: ci/jenkins
`;

test("a full spec parses into its typed form", () => {
  expect(parseMirrorSpec(FULL)).toEqual({
    target: "registry.example.com/mirror",
    concurrency: 4,
    jobs: 8,
    retries: 5,
    platforms: ["linux/amd64", "linux/arm64"],
    rateLimit: { reserve: 20, perMinute: 100, maxDelay: 10 },
    sources: [
      { image: "hello-world" },
      { image: `ghcr.io/org/app:1.2@sha256:${"a".repeat(64)}`, platforms: ["linux/arm/v7"] },
      { repository: "area51/jenkins", tags: { allow: ["^2\\."], deny: ["-rc\\d*$", "alpine"] }, target: "ci/jenkins" },
    ],
  });
});

test.each([
  ["target: r.io/m\nsorces: []", 'the top level: unknown key "sorces" (did you mean "sources"?)'],
  [
    "target: r.io/m\nsources:\n  - image: a\n    platform: [amd64]",
    'sources[0]: unknown key "platform" (did you mean "platforms"?)',
  ],
  [
    "target: r.io/m\nsources:\n  - repository: a\n    tags: { allow: [x], only: [y] }",
    'sources[0].tags: unknown key "only"',
  ],
  ["target: r.io/m\nrateLimit: { reserve: 1, burst: 2 }\nsources: [{ image: a }]", 'rateLimit: unknown key "burst"'],
  ["sources: [{ image: a }]", "target: expected a registry prefix"],
  [
    "target: mirror\nsources: [{ image: a }]",
    'target: Cannot use "mirror" as a target prefix: it must start with a registry host',
  ],
  ["target: r.io/m\nsources: []", "sources: expected a non-empty list"],
  [
    "target: r.io/m\nsources: [{ image: a, repository: b }]",
    'sources[0]: expected exactly one of "image" and "repository"',
  ],
  ["target: r.io/m\nsources: [{ image: 'UPPER:1' }]", "sources[0].image: Cannot parse reference"],
  [
    "target: r.io/m\nsources: [{ image: a, tags: { allow: [x] } }]",
    'sources[0].tags: tag filters apply to a "repository" source',
  ],
  ["target: r.io/m\nsources: [{ repository: 'a:1.0' }]", "sources[0].repository: a repository has no tag or digest"],
  [
    "target: r.io/m\nsources: [{ repository: a, tags: { deny: ['(('] } }]",
    "sources[0].tags.deny: invalid regular expression /((/",
  ],
  [
    "target: r.io/m\nsources: [{ image: a, platforms: [linux/amd64/v9/x] }]",
    "sources[0].platforms: Cannot parse platform",
  ],
  ["target: r.io/m\nconcurrency: 0\nsources: [{ image: a }]", "concurrency: expected a whole number from 1 to 64"],
  ["target: r.io/m\njobs: two\nsources: [{ image: a }]", "jobs: expected a whole number"],
  ["- just\n- a list", "the top level: expected a mapping"],
  ["target: [unclosed", "invalid YAML"],
])("rejects %p", (text, message) => {
  expect(() => parseMirrorSpec(text, "m.yaml")).toThrow(UsageError);
  expect(() => parseMirrorSpec(text, "m.yaml")).toThrow(message);
});

test("errors name the file", () => {
  expect(() => parseMirrorSpec("target: r.io/m\nsources: []", "conf/mirror.yaml")).toThrow(
    "Cannot read conf/mirror.yaml: sources:",
  );
});

test.each([
  ["registry.example.com/mirror", { registry: "registry.example.com", path: "mirror" }],
  ["127.0.0.1:5000", { registry: "127.0.0.1:5000", path: "" }],
  ["localhost/a/b/", { registry: "localhost", path: "a/b" }],
  ["docker://r.io:443/m", { registry: "r.io:443", path: "m" }],
])("parsePrefix(%p)", (text, expected) => expect(parsePrefix(text)).toEqual(expected));

test("parsePrefix rejects a path without a registry and bad paths", () => {
  expect(() => parsePrefix("mirror/x")).toThrow("it must start with a registry host");
  expect(() => parsePrefix("r.io/Mirror")).toThrow("must be lowercase");
});

test("specFromImages: images, or repositories with tag filters", () => {
  expect(specFromImages("r.io/m", ["hello-world", "area51/jenkins"])).toEqual({
    target: "r.io/m",
    sources: [{ image: "hello-world" }, { image: "area51/jenkins" }],
  });
  expect(specFromImages("r.io/m", ["alpine"], { allTags: true, allow: ["^3\\."], platforms: ["arm64"] })).toEqual({
    target: "r.io/m",
    platforms: ["arm64"],
    sources: [{ repository: "alpine", tags: { allow: ["^3\\."] } }],
  });
  expect(() => specFromImages("r.io/m", ["alpine:3.19"], { allTags: true })).toThrow(
    "a repository has no tag or digest",
  );
});

test("validateMirrorSpec checks specs built in code too", () => {
  expect(() => validateMirrorSpec({ target: "r.io", sources: [{ image: "a", extra: 1 }] })).toThrow(
    'unknown key "extra"',
  );
});
