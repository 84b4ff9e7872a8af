import { expect, test } from "bun:test";
import { checkSpelling, lintPlatforms, platformKey } from "./platform_lint.ts";

const d = (n: number) => `sha256:${String(n).repeat(64)}`;

test("a clean list has no issues; a variant the config lacks is fine", () => {
  expect(lintPlatforms([
    {
      digest: d(1),
      platform: { os: "linux", architecture: "amd64" },
      configPlatform: { os: "linux", architecture: "amd64" },
    },
    {
      digest: d(2),
      platform: { os: "linux", architecture: "arm", variant: "v7" },
      configPlatform: { os: "linux", architecture: "arm" },
    },
    {
      digest: d(3),
      platform: { os: "linux", architecture: "arm64" },
      configPlatform: { os: "linux", architecture: "arm64", variant: "v8" },
    },
  ])).toEqual([]);
});

test("arm without variant, mismatch, unknown spellings, duplicates, missing platform", () => {
  const issues = lintPlatforms([
    {
      digest: d(1),
      image: "a:arm",
      platform: { os: "linux", architecture: "arm" },
      configPlatform: { os: "linux", architecture: "arm", variant: "v6" },
    },
    {
      digest: d(2),
      image: "a:x",
      platform: { os: "linux", architecture: "ppc64le" },
      configPlatform: { os: "linux", architecture: "amd64" },
    },
    { digest: d(3), image: "a:y", platform: { os: "Linux", architecture: "aarch64" } },
    { digest: d(4), image: "a:z", platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    { digest: d(5), image: "a:w" },
  ]);
  expect(issues.map((i) => [i.image, i.kind])).toEqual([
    ["a:arm", "arm-variant"],
    ["a:x", "mismatch"],
    ["a:y", "unknown-os"],
    ["a:y", "unknown-arch"],
    ["a:z", "duplicate"],
    ["a:w", "missing"],
  ]);
  expect(issues[0].message).toBe("linux/arm without a variant: add one with --variant (the image config says v6)");
  expect(issues[3].message).toBe('Linux/aarch64: unknown architecture "aarch64" (did you mean arm64?)');
  expect(issues[4].message).toBe("a second entry for linux/arm64/v8 (also a:y)");
});

test("platformKey treats default variants as equal and os.version as distinct", () => {
  expect(platformKey({ os: "linux", architecture: "arm64" })).toBe(
    platformKey({ os: "linux", architecture: "arm64", variant: "v8" }),
  );
  expect(platformKey({ os: "linux", architecture: "arm", variant: "v6" })).not.toBe(
    platformKey({ os: "linux", architecture: "arm", variant: "v7" }),
  );
  expect(platformKey({ os: "windows", architecture: "amd64", "os.version": "10.0.1" }))
    .not.toBe(platformKey({ os: "windows", architecture: "amd64", "os.version": "10.0.2" }));
});

test("checkSpelling suggests the canonical name", () => {
  expect(checkSpelling({ os: "linux", architecture: "x86_64" })[0].message).toBe(
    'unknown architecture "x86_64" (did you mean amd64?)',
  );
  expect(checkSpelling({ os: "linux", architecture: "armhf" })[0].message).toBe(
    'unknown architecture "armhf" (did you mean arm with variant v7?)',
  );
  expect(checkSpelling({ os: "linux", architecture: "riscv64" })).toEqual([]);
});

test("the arm-variant hint names what the platforms came from: --variant, the spec's key, --platforms", () => {
  const arm = [{ digest: `sha256:${"1".repeat(64)}`, platform: { os: "linux", architecture: "arm" } }];
  const message = (source?: "flags" | "spec" | "args") => lintPlatforms(arm, { source })[0].message;
  expect(message()).toBe("linux/arm without a variant: add one with --variant (v7? v6?)");
  expect(message("spec")).toBe('linux/arm without a variant: add "variant: v7" (or v6 …) to its platform in the spec');
  expect(message("args")).toBe("linux/arm without a variant: name it in --platforms, e.g. linux/arm/v7");
  const configured = [{ ...arm[0], configPlatform: { os: "linux", architecture: "arm", variant: "v6" } }];
  expect(lintPlatforms(configured, { source: "spec" })[0].message).toBe(
    'linux/arm without a variant: add "variant: v6" to its platform in the spec (the image config says v6)',
  );
});
