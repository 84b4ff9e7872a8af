import { expect, test } from "bun:test";
import {
  CONTAINERD_NAME,
  containerdName,
  entryName,
  entryNames,
  FERRY_REPOSITORY,
  GGCR_NAME,
  isNamed,
  REF_NAME,
  registryPathOf,
  ServedNames,
} from "./annotations.ts";
import type { Descriptor } from "./descriptor.ts";

const entry = (annotations?: Record<string, string>): Descriptor => ({
  mediaType: "application/vnd.oci.image.index.v1+json",
  digest: `sha256:${"a".repeat(64)}`,
  size: 1,
  ...(annotations ? { annotations } : {}),
});

test.each([
  [{ [REF_NAME]: "1.0" }, { repository: "dflt", tag: "1.0" }],
  [{ [REF_NAME]: "app:1.0" }, { repository: "app", tag: "1.0" }],
  [{ [REF_NAME]: "team/app:1.0" }, { repository: "team/app", tag: "1.0" }],
  [{ [REF_NAME]: "127.0.0.1:5000/team/app:2" }, { repository: "team/app", tag: "2" }],
  [{ [REF_NAME]: "1.0-amd64", [CONTAINERD_NAME]: "docker.io/library/app:1.0-amd64" }, {
    repository: "app",
    tag: "1.0-amd64",
  }],
  [{ [CONTAINERD_NAME]: "docker.io/me/app:3" }, { repository: "me/app", tag: "3" }],
  [{ [FERRY_REPOSITORY]: "team/app" }, { repository: "team/app", tag: undefined }],
  [{ [REF_NAME]: "Bad/Name:1" }, { repository: "dflt", tag: "1" }],
  [{ [REF_NAME]: ".bad" }, { repository: "dflt", tag: undefined }],
  [{ [GGCR_NAME]: "127.0.0.1:5000/old/crane:4" }, { repository: "old/crane", tag: "4" }],
  [{ [REF_NAME]: "5", [CONTAINERD_NAME]: "docker.io/a/b:5", [GGCR_NAME]: "c/d:5" }, { repository: "a/b", tag: "5" }],
  [undefined, { repository: "dflt", tag: undefined }],
] as [Record<string, string> | undefined, object][])("%j → %j", (annotations, expected) => {
  expect(entryName(entry(annotations), "dflt")).toEqual(expected as never);
});

test("a forced repository wins and keeps the tag", () => {
  expect(entryName(entry({ [REF_NAME]: "team/app:1.0" }), "dflt", "forced")).toEqual({
    repository: "forced",
    tag: "1.0",
  });
});

test("entryNames: full names first, then bare tags", () => {
  expect(entryNames(entry({ [REF_NAME]: "1.0", [CONTAINERD_NAME]: "docker.io/library/app:1.0" }))).toEqual([
    "docker.io/library/app:1.0",
    "1.0",
  ]);
  expect(entryNames(entry())).toEqual([]);
});

test("isNamed: exactly, or as the tag of a full name", () => {
  const e = entry({ [REF_NAME]: "index.docker.io/library/app:1.0", [CONTAINERD_NAME]: "docker.io/x/y:2.0" });
  for (const ref of ["1.0", "2.0", "index.docker.io/library/app:1.0", "docker.io/x/y:2.0"]) {
    expect(isNamed(e, ref)).toBe(true);
  }
  expect(isNamed(e, "3.0")).toBe(false);
  expect(isNamed(e, "1.0", true)).toBe(false);
  expect(isNamed(entry({ [REF_NAME]: "1.0" }), "1.0", true)).toBe(true);
});

test("containerdName normalises like docker", () => {
  expect(containerdName("app:1")).toBe("docker.io/library/app:1");
  expect(containerdName("me/app:1")).toBe("docker.io/me/app:1");
  expect(containerdName("127.0.0.1:5000/team/app:1.0")).toBe("127.0.0.1:5000/team/app:1.0");
  expect(containerdName("localhost/app:1")).toBe("localhost/app:1");
});

test("registryPathOf: host and path of a full name, none without a host", () => {
  expect(registryPathOf("ghcr.io/team/app:1.0")).toBe("ghcr.io/team/app");
  expect(registryPathOf(`index.docker.io/library/nginx@sha256:${"a".repeat(64)}`)).toBe("docker.io/library/nginx");
  expect(registryPathOf("127.0.0.1:5000/team/app")).toBe("127.0.0.1:5000/team/app");
  expect(registryPathOf("localhost/app:1")).toBe("localhost/app");
  expect(registryPathOf("team/app:1.0")).toBeUndefined();
  expect(registryPathOf("1.0")).toBeUndefined();
  expect(registryPathOf(undefined)).toBeUndefined();
});

test("ServedNames: the first registry keeps a path, another's image goes under its full name", () => {
  const names = new ServedNames();
  expect(names.place("team/app", "ghcr.io/team/app")).toBe("team/app");
  expect(names.place("team/app", "quay.io/team/app")).toBe("quay.io/team/app");
  expect(names.place("team/app", "ghcr.io/team/app")).toBe("team/app");
  // A host with a port makes no repository name: such an image shares the path.
  expect(names.place("team/app", "127.0.0.1:5000/team/app")).toBe("team/app");
  // Names without a registry are placed where their entry says.
  expect(names.place("team/app", undefined)).toBe("team/app");
  expect(names.place("other", "127.0.0.1:5000/other")).toBe("other");
  expect(names.place("other", "ghcr.io/other")).toBe("ghcr.io/other");
});
