import { expect, test } from "bun:test";
import type { Descriptor } from "../oci/descriptor.ts";
import { CONTAINERD_NAME, entryName, FERRY_REPOSITORY, REF_NAME } from "./entry_name.ts";

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
