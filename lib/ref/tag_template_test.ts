import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSampleImage } from "../testing/sample_image.ts";
import { exportFromStore } from "../engine/platform_files.ts";
import { exportImage } from "../verbs/export/export.ts";
import { UsageError } from "../errors.ts";
import type { Platform } from "../oci/descriptor.ts";
import { checkRepoTag, DEFAULT_EXPORT_REPO_TAG, DEFAULT_SPLIT_TAG, parseTagTemplate } from "./tag_template.ts";

const p = (os: string, architecture: string, variant?: string, osVersion?: string): Platform => ({
  os,
  architecture,
  ...(variant ? { variant } : {}),
  ...(osVersion ? { "os.version": osVersion } : {}),
});

test("one variant rule: {variant} is empty for arm64/v8 and amd64/v1, kept otherwise", () => {
  const t = parseTagTemplate("{arch}{variant}", { flag: "--tag" });
  expect(t.expand(p("linux", "arm64", "v8"))).toBe("arm64");
  expect(t.expand(p("linux", "arm64"))).toBe("arm64");
  expect(t.expand(p("linux", "aarch64"))).toBe("arm64");
  expect(t.expand(p("linux", "amd64", "v1"))).toBe("amd64");
  expect(t.expand(p("linux", "amd64", "v3"))).toBe("amd64v3");
  expect(t.expand(p("linux", "arm", "v7"))).toBe("armv7");
  expect(t.expand(p("linux", "arm64", "v9"))).toBe("arm64v9");
});

test("the defaults of export and split, {label}, {os}, {osversion}", () => {
  const exp = parseTagTemplate(DEFAULT_EXPORT_REPO_TAG, { flag: "--tag" });
  expect(exp.expand(p("linux", "arm64", "v8"), { repo: "r/app", tag: "1.0" })).toBe("r/app:1.0-arm64");
  expect(exp.expand(p("linux", "arm", "v7"), { repo: "r/app", tag: "1.0", label: "armv7-0123" })).toBe(
    "r/app:1.0-armv7-0123",
  );
  const split = parseTagTemplate(DEFAULT_SPLIT_TAG, { flag: "--tag-template" });
  expect(split.expand(p("linux", "arm64", "v8"), { tag: "1.0" })).toBe("1.0-arm64");
  expect(split.expand(p("linux", "arm", "v7"), { tag: "1.0" })).toBe("1.0-armv7");
  const win = p("windows", "amd64", undefined, "10.0.17763.1");
  expect(parseTagTemplate("{tag}-{label}-{osversion}", { flag: "-t" }).expand(win, { tag: "2" })).toBe(
    "2-windows-amd64-10.0.17763.1",
  );
  expect(parseTagTemplate("{os}-{osversion}.", { flag: "-t" }).expand(p("linux", "amd64"))).toBe("linux-.");
});

test("unknown placeholders and ones the verb does not fill are usage errors naming the valid ones", () => {
  expect(() => parseTagTemplate("{tag}-{cpu}", { flag: "--tag" })).toThrow(
    'Cannot use --tag "{tag}-{cpu}": unknown placeholder {cpu} (use {repo} {tag} {label} {os} {arch} {variant} {osversion})',
  );
  expect(() => parseTagTemplate("{repo}-{arch}", { flag: "--tag-template", available: ["tag", "arch"] })).toThrow(
    UsageError,
  );
  expect(() => parseTagTemplate("{repo}-{arch}", { flag: "--tag-template", available: ["tag", "arch"] })).toThrow(
    /\{repo\} is not available here \(use \{tag\} \{arch\}\)/,
  );
  expect(parseTagTemplate("{tag}-{arch}", { flag: "x" }).placeholders).toEqual(["tag", "arch"]);
});

test("manifest-tool's OS, ARCH and VARIANT (VARIANT as written), mixed with placeholders", () => {
  const t = parseTagTemplate("r/app:{tag}-OS-ARCHVARIANT", { flag: "--template", manifestTool: true });
  expect(t.expand(p("linux", "arm64", "v8"), { tag: "1.0" })).toBe("r/app:1.0-linux-arm64v8");
  expect(t.expand(p("linux", "arm", "v7"), { tag: "1.0" })).toBe("r/app:1.0-linux-armv7");
  expect(t.expand(p("linux", "amd64"), { tag: "1.0" })).toBe("r/app:1.0-linux-amd64");
  expect(t.placeholders).toEqual(["tag", "os", "arch", "variant"]);
  // Without manifestTool the bare words are text.
  expect(parseTagTemplate("OS-{arch}", { flag: "--tag" }).expand(p("linux", "amd64"))).toBe("OS-amd64");
});

// Moved from lib/verbs/split_test.ts (split's own expandTagTemplate is gone), assertions unchanged.
test("the default template drops default variants and keeps the others", () => {
  const split = parseTagTemplate(DEFAULT_SPLIT_TAG, { flag: "--tag-template" });
  const tag = (architecture: string, variant?: string, os = "linux") =>
    split.expand({ os, architecture, ...(variant ? { variant } : {}) }, { tag: "1.0" });
  expect(tag("amd64")).toBe("1.0-amd64");
  expect(tag("arm64", "v8")).toBe("1.0-arm64");
  expect(tag("arm", "v7")).toBe("1.0-armv7");
  expect(tag("aarch64")).toBe("1.0-arm64");
  expect(tag("amd64", "v3")).toBe("1.0-amd64v3");
});

test("{os} and {label}; unknown placeholders are usage errors", () => {
  const win = { os: "windows", architecture: "amd64" };
  const expand = (t: string) => parseTagTemplate(t, { flag: "--tag-template" }).expand(win, { tag: "2" });
  expect(expand("{tag}-{os}-{arch}")).toBe("2-windows-amd64");
  expect(expand("{label}")).toBe("windows-amd64");
  expect(() => expand("{tag}-{cpu}")).toThrow(UsageError);
});

test("export uses the same language: {arch}{variant} is arm64 for arm64/v8; {cpu} is refused before any file", async () => {
  const sample = buildSampleImage({ platforms: ["linux/arm64/v8", "windows/amd64"] });
  const dir = await mkdtemp(join(tmpdir(), "ferry-tag-template-"));
  try {
    const base = { repository: "r/app", tag: "1.0" };
    await expect(exportFromStore(sample.store, sample.root, join(dir, "bad"), { ...base, tagTemplate: "{repo}:{cpu}" }))
      .rejects.toThrow('Cannot use --tag "{repo}:{cpu}": unknown placeholder {cpu}');
    expect(await readdir(dir)).toEqual([]);
    // The string facade refuses it before reading the source (there is no registry on port 1).
    await expect(exportImage("127.0.0.1:1/nothing:1.0", join(dir, "bad"), { tagTemplate: "{cpu}" })).rejects.toThrow(
      UsageError,
    );
    const { files } = await exportFromStore(sample.store, sample.root, dir, {
      ...base,
      tagTemplate: "{repo}:{tag}-{os}-{arch}{variant}",
    });
    const repoTags = files.map((f) =>
      JSON.parse(execFileSync("tar", ["-xzOf", f.path, "manifest.json"], { encoding: "utf8" }))[0].RepoTags[0]
    );
    expect(repoTags).toEqual(["r/app:1.0-linux-arm64", "r/app:1.0-windows-amd64"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("checkRepoTag: an expanded RepoTags name must be a docker reference with a tag", () => {
  expect(checkRepoTag("team/app:1.0-arm64", "{repo}:{tag}-{label}", "--tag")).toBe("team/app:1.0-arm64");
  expect(checkRepoTag("127.0.0.1:5000/team/app:1.0-amd64", "t", "--tag")).toBe("127.0.0.1:5000/team/app:1.0-amd64");
  expect(() => checkRepoTag("team/app:1.0+arm64", "t", "--tag")).toThrow(/invalid tag "1\.0\+arm64"/);
  expect(() => checkRepoTag("team/app", "{repo}", "--tag")).toThrow(/it has no tag/);
  expect(() => checkRepoTag("team/App_:1", "t", "--tag")).toThrow(UsageError);
  expect(() => checkRepoTag("team/app:1 x", "t", "--tag")).toThrow(/whitespace/);
});
