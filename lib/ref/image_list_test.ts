import { describe, expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import { parseImageList } from "./image_list.ts";

describe("parseImageList", () => {
  test("a mirror -c file is an image list (its target and settings ignored)", () => {
    const list = parseImageList(
      [
        "target: 127.0.0.1:5000/mirror",
        "concurrency: 2",
        "platforms: [linux/amd64]",
        "sources:",
        "  - image: nginx:1.27",
        "  - repository: ghcr.io/org/app",
        "    tags: { allow: ['^2\\.'] }",
        "    platforms: [arm64]",
      ].join("\n"),
    );
    expect(list).toEqual({
      platforms: ["linux/amd64"],
      sources: [{ image: "nginx:1.27" }, {
        repository: "ghcr.io/org/app",
        tags: { allow: ["^2\\."] },
        platforms: ["arm64"],
      }],
    });
  });
  test("a bare list, with the name an image is carried under", () => {
    expect(parseImageList("- image: 127.0.0.1:5000/app:1\n  target: docker.io/library/nginx\n").sources).toEqual([
      { image: "127.0.0.1:5000/app:1", target: "docker.io/library/nginx" },
    ]);
  });
  test("typos and bad names are refused, naming the key", () => {
    expect(() => parseImageList("sources:\n  - imgae: a\n", "images.yaml")).toThrow(
      'Cannot read images.yaml: sources[0]: unknown key "imgae" (did you mean "image"?)',
    );
    expect(() => parseImageList("sources:\n  - image: a\n    target: x:1\n")).toThrow(
      "sources[0].target: expected a repository name without a tag or digest (the source's tag is kept): x",
    );
    expect(() => parseImageList("sources: []\n")).toThrow(UsageError);
  });
});
