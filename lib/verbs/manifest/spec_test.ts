import { describe, expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { manifestSpecFromArgs, parseManifestSpec } from "./spec.ts";

describe("parseManifestSpec", () => {
  test("manifest-tool's README example, canonical references, osversion/osfeatures/features", () => {
    const spec = parseManifestSpec(`
image: myprivreg:5000/someimage:latest
tags: ['1.0', 1.1]
annotations: { org.opencontainers.image.source: https://example.com }
manifests:
  -
    image: myprivreg:5000/someimage:ppc64le
    platform:
      architecture: ppc64le
      os: linux
  -
    image: myprivreg:5000/someimage:windows
    platform: { architecture: amd64, os: windows, osversion: "10.0.17763.1", osfeatures: [win32k], features: [sse4] }
`);
    expect(spec.image).toBe("myprivreg:5000/someimage:latest");
    expect(spec.tags).toEqual(["1.0", "1.1"]);
    expect(spec.annotations).toEqual({ "org.opencontainers.image.source": "https://example.com" });
    expect(spec.manifests[1].platform).toEqual({
      os: "windows",
      architecture: "amd64",
      "os.version": "10.0.17763.1",
      "os.features": ["win32k"],
      features: ["sse4"],
    });
  });

  test("scalars manifest-tool reads into strings: numbers as written (386, 8, 1.10), os.version as an alias", () => {
    const spec = parseManifestSpec(`
image: r.io/app:1.0
tags: [1.10, 2]
manifests:
  - image: r.io/app:386
    platform: { architecture: 386, os: linux }
  - image: r.io/app:arm64
    platform: { architecture: arm64, os: linux, variant: 8 }
  - image: r.io/app:ltsc2019
    platform: { architecture: amd64, os: windows, osversion: 10.0.17763.1 }
  - image: r.io/app:future
    platform: { architecture: amd64, os: windows, os.version: 10.10, os.features: [win32k] }
`);
    expect(spec.tags).toEqual(["1.10", "2"]);
    expect(spec.manifests.map((m) => m.platform)).toEqual([
      { os: "linux", architecture: "386" },
      { os: "linux", architecture: "arm64", variant: "8" },
      { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" },
      { os: "windows", architecture: "amd64", "os.version": "10.10", "os.features": ["win32k"] },
    ]);
    expect(() =>
      parseManifestSpec(
        "image: r/a:1\nmanifests:\n  - image: r/a:x\n    platform: {os: windows, architecture: amd64, osversion: a, os.version: b}\n",
      )
    )
      .toThrow(/both "osversion" and "os.version"/);
  });

  test("Windows entries that differ only in os.version are not duplicates", () => {
    const spec = parseManifestSpec(`
image: r.io/node:1.0
manifests:
  - { image: r.io/node:1.0-linux, platform: { os: linux, architecture: amd64 } }
  - { image: r.io/node-windows:1.0-1809, platform: { os: windows, architecture: amd64, osversion: 10.0.17763.4252 } }
  - { image: r.io/node-windows:1.0-ltsc2022, platform: { os: windows, architecture: amd64, osversion: 10.0.20348.1726 } }
`);
    expect(spec.manifests.length).toBe(3);
  });

  test("a list without a tag gets latest; a component platform is optional", () => {
    const spec = parseManifestSpec("image: reg.io/app\nmanifests:\n  - image: reg.io/app:amd64\n");
    expect(spec.image).toBe("reg.io/app:latest");
    expect(spec.manifests).toEqual([{ image: "reg.io/app:amd64" }]);
  });

  const bad: [string, string, RegExp][] = [
    [
      "unknown top-level key",
      "image: r.io/a:1\nmanifest:\n  - image: r.io/a:x\n",
      /unknown key "manifest" \(expected image, tags, manifests, annotations\)/,
    ],
    [
      "unknown platform key",
      "image: r.io/a:1\nmanifests:\n  - image: r.io/a:x\n    platform: {os: linux, arch: amd64}\n",
      /unknown key "manifests\[0\]\.platform\.arch"/,
    ],
    [
      "half a platform",
      "image: r.io/a:1\nmanifests:\n  - image: r.io/a:x\n    platform: {os: linux}\n",
      /needs both "os" and "architecture"/,
    ],
    [
      "unknown os",
      "image: r.io/a:1\nmanifests:\n  - image: r.io/a:x\n    platform: {os: macos, architecture: arm64}\n",
      /unknown os "macos" \(did you mean darwin\?\)/,
    ],
    [
      "bad reference",
      "image: r.io/a:1\nmanifests:\n  - image: R.io/A\n",
      /manifests\[0\]\.image: Cannot parse reference/,
    ],
    ["list by digest", `image: r.io/a@sha256:${"a".repeat(64)}\nmanifests:\n  - image: r.io/a:x\n`, /must name a tag/],
    ["no manifests", "image: r.io/a:1\n", /lists no images/],
    ["not YAML", "image: [unclosed\n", /not valid YAML/],
    ["duplicate key", "image: r.io/a:1\nimage: r.io/a:2\nmanifests: [{image: r.io/a:x}]\n", /not valid YAML/],
    [
      "two images for one platform",
      "image: r.io/a:1\nmanifests:\n  - {image: r.io/a:x, platform: {os: linux, architecture: arm64}}\n  - {image: r.io/a:y, platform: {os: linux, architecture: arm64, variant: v8}}\n",
      /two images for linux\/arm64\/v8/,
    ],
  ];
  for (const [name, yaml, message] of bad) {
    test(`rejects: ${name}`, () => {
      expect(() => parseManifestSpec(yaml, { file: "f.yaml" })).toThrow(UsageError);
      expect(() => parseManifestSpec(yaml, { file: "f.yaml" })).toThrow(message);
    });
  }
});

describe("manifestSpecFromArgs", () => {
  test("fills OS, ARCH and VARIANT like manifest-tool", () => {
    const spec = manifestSpecFromArgs({
      platforms: ["linux/amd64,linux/arm/v7", "linux/arm64"],
      template: "r.io/app:1.0-OS-ARCHVARIANT",
      target: "r.io/app:1.0",
      tags: ["latest,stable"],
    });
    expect(spec.manifests.map((m) => m.image)).toEqual([
      "r.io/app:1.0-linux-amd64",
      "r.io/app:1.0-linux-armv7",
      "r.io/app:1.0-linux-arm64",
    ]);
    expect(spec.manifests[1].platform).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(spec.tags).toEqual(["latest", "stable"]);
  });

  test("ferry's placeholders too, {repo} and {tag} from --target; VARIANT as written, {variant} by the one rule", () => {
    const spec = manifestSpecFromArgs({
      platforms: ["linux/arm64/v8,linux/arm/v7,linux/amd64"],
      template: "{repo}:{tag}-{arch}{variant}",
      target: "r.io/app:1.0",
    });
    expect(spec.manifests.map((m) => m.image)).toEqual([
      "r.io/app:1.0-arm64",
      "r.io/app:1.0-armv7",
      "r.io/app:1.0-amd64",
    ]);
    const mt = manifestSpecFromArgs({
      platforms: ["linux/arm64/v8"],
      template: "r.io/app:1.0-ARCHVARIANT",
      target: "r.io/app:1.0",
    });
    expect(mt.manifests[0].image).toBe("r.io/app:1.0-arm64v8"); // manifest-tool's strings.Replace of VARIANT
    expect(() => manifestSpecFromArgs({ platforms: ["linux/amd64"], template: "a:{cpu}", target: "a:1" })).toThrow(
      /Cannot use --template "a:\{cpu\}": unknown placeholder \{cpu\}/,
    );
  });

  test("bad platforms and templates are usage errors", () => {
    expect(() => manifestSpecFromArgs({ platforms: ["amd64"], template: "a:ARCH", target: "a:1" })).toThrow(
      /not OS\/ARCH/,
    );
    expect(() => manifestSpecFromArgs({ platforms: ["linux/amd64"], template: "a:1", target: "a:1" })).toThrow(
      /no OS or ARCH/,
    );
    expect(() => manifestSpecFromArgs({ platforms: ["linux/x86_64"], template: "a:ARCH", target: "a:1" })).toThrow(
      /did you mean amd64/,
    );
  });
});
