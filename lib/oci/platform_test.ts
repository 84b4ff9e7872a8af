import { describe, expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import type { Platform } from "./descriptor.ts";
import {
  formatPlatform,
  matchPlatform,
  normalizePlatform,
  parsePlatform,
  parsePlatformList,
  platformLabel,
  platformOfConfig,
} from "./platform.ts";

const linux = (architecture: string, variant?: string): Platform =>
  variant === undefined ? { os: "linux", architecture } : { os: "linux", architecture, variant };

describe("parsePlatform", () => {
  const cases: [string, Platform][] = [
    ["linux/amd64", linux("amd64")],
    ["linux/arm64", linux("arm64")],
    ["linux/arm64/v8", linux("arm64", "v8")],
    ["linux/arm64/8", linux("arm64", "v8")],
    ["linux/arm64/v8.0", linux("arm64", "v8")],
    ["linux/arm", linux("arm")],
    ["linux/arm/v7", linux("arm", "v7")],
    ["linux/arm/7", linux("arm", "v7")],
    ["linux/arm/v6", linux("arm", "v6")],
    ["linux/aarch64", linux("arm64")],
    ["linux/x86_64", linux("amd64")],
    ["linux/armhf", linux("arm", "v7")],
    ["linux/i386", linux("386")],
    ["Linux/AMD64", linux("amd64")],
    ["windows/amd64", { os: "windows", architecture: "amd64" }],
    ["macos/arm64", { os: "darwin", architecture: "arm64" }],
    ["linux/amd64/v3", linux("amd64", "v3")],
    ["foo/bar", { os: "foo", architecture: "bar" }],
    ["amd64", linux("amd64")],
    ["x86_64", linux("amd64")],
    ["x86-64", linux("amd64")],
    ["arm64", linux("arm64")],
    ["aarch64", linux("arm64")],
    ["arm64v8", linux("arm64", "v8")],
    ["arm", linux("arm")],
    ["armv7", linux("arm", "v7")],
    ["armv6", linux("arm", "v6")],
    ["armv5", linux("arm", "v5")],
    ["armhf", linux("arm", "v7")],
    ["armel", linux("arm", "v6")],
    ["arm32v7", linux("arm", "v7")],
    ["386", linux("386")],
    ["i386", linux("386")],
    ["ppc64le", linux("ppc64le")],
    ["s390x", linux("s390x")],
    ["riscv64", linux("riscv64")],
    ["mips64le", linux("mips64le")],
    [" arm64 ", linux("arm64")],
    ["windows-amd64", { os: "windows", architecture: "amd64" }],
    ["darwin-arm64", { os: "darwin", architecture: "arm64" }],
    ["amd64v3", linux("amd64", "v3")],
    ["linux-armv7", linux("arm", "v7")],
    ["arm64v9", linux("arm64", "v9")],
    ["windows-amd64v2", { os: "windows", architecture: "amd64", variant: "v2" }],
  ];
  for (const [text, want] of cases) {
    test(text, () => expect(parsePlatform(text)).toEqual(want));
  }

  const bad: [string, string][] = [
    ["", "empty platform"],
    ["linux/", "empty part"],
    ["/amd64", "empty part"],
    ["linux//v7", "empty part"],
    ["foo/bar/baz/qux", "more than three parts"],
    ["linux", "expected OS/ARCH"],
    ["all", "expected OS/ARCH"],
    ["sparc", "expected OS/ARCH"],
    ["plan10-amd64", "expected OS/ARCH"],
    ["armv7v7", "expected OS/ARCH"],
    ["foov1", "expected OS/ARCH"],
    ["linux/amd 64", "invalid characters"],
  ];
  for (const [text, reason] of bad) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parsePlatform(text)).toThrow(UsageError);
      expect(() => parsePlatform(text)).toThrow(`Cannot parse platform "${text}": `);
      expect(() => parsePlatform(text)).toThrow(reason);
    });
  }
});

describe("normalizePlatform", () => {
  test("keeps other fields and never invents a variant", () => {
    const p = { os: "Windows", architecture: "x86_64", "os.version": "10.0.17763.1" };
    expect(normalizePlatform(p)).toEqual({ os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" });
    expect(normalizePlatform({ os: "linux", architecture: "arm", variant: "" })).toEqual(linux("arm"));
    expect(normalizePlatform({ os: "linux", architecture: "aarch64", variant: "8" })).toEqual(linux("arm64", "v8"));
  });
});

describe("formatPlatform and platformLabel", () => {
  const cases: [Platform, string, string][] = [
    [linux("amd64"), "linux/amd64", "amd64"],
    [linux("amd64", "v1"), "linux/amd64/v1", "amd64"],
    [linux("amd64", "v3"), "linux/amd64/v3", "amd64v3"],
    [linux("arm64"), "linux/arm64", "arm64"],
    [linux("arm64", "v8"), "linux/arm64/v8", "arm64"],
    [linux("arm64", "v9"), "linux/arm64/v9", "arm64v9"],
    [linux("arm", "v7"), "linux/arm/v7", "armv7"],
    [linux("arm", "v6"), "linux/arm/v6", "armv6"],
    [linux("arm"), "linux/arm", "arm"],
    [linux("386"), "linux/386", "386"],
    [linux("ppc64le"), "linux/ppc64le", "ppc64le"],
    [linux("s390x"), "linux/s390x", "s390x"],
    [linux("riscv64"), "linux/riscv64", "riscv64"],
    [{ os: "windows", architecture: "amd64" }, "windows/amd64", "windows-amd64"],
    [{ os: "linux", architecture: "aarch64" }, "linux/aarch64", "arm64"],
  ];
  for (const [p, formatted, label] of cases) {
    test(formatted, () => {
      expect(formatPlatform(p)).toBe(formatted);
      expect(platformLabel(p)).toBe(label);
      // A label parses back to a platform that matches the original.
      expect(matchPlatform(parsePlatform(label), p)).toBe(true);
    });
  }
});

describe("matchPlatform", () => {
  const cases: [string, Platform | undefined, boolean][] = [
    ["linux/amd64", linux("amd64"), true],
    ["linux/amd64", linux("amd64", "v3"), true],
    ["linux/amd64/v1", linux("amd64"), true],
    ["linux/amd64/v1", linux("amd64", "v3"), false],
    ["linux/amd64", linux("arm64"), false],
    ["linux/amd64", { os: "windows", architecture: "amd64" }, false],
    ["arm64", linux("arm64", "v8"), true],
    ["arm64", linux("arm64"), true],
    ["linux/arm64/v8", linux("arm64"), true],
    ["linux/arm64/v8", linux("arm64", "v8"), true],
    ["linux/arm64/v8", linux("arm64", "v9"), false],
    ["linux/arm", linux("arm", "v6"), true],
    ["linux/arm", linux("arm", "v7"), true],
    ["linux/arm", linux("arm"), true],
    ["linux/arm/v7", linux("arm", "v7"), true],
    ["linux/arm/v7", linux("arm", "v6"), false],
    ["linux/arm/v7", linux("arm"), false],
    ["armv7", { os: "linux", architecture: "arm", variant: "7" }, true],
    ["aarch64", { os: "linux", architecture: "aarch64" }, true],
    ["linux/amd64", undefined, false],
    ["linux/amd64", { os: "unknown", architecture: "unknown" }, false],
  ];
  for (const [want, have, expected] of cases) {
    test(`${want} vs ${have ? formatPlatform(have) : "none"}`, () => {
      expect(matchPlatform(parsePlatform(want), have)).toBe(expected);
    });
  }
});

describe("parsePlatformList", () => {
  test("nothing or all means all", () => {
    expect(parsePlatformList(undefined)).toBe("all");
    expect(parsePlatformList([])).toBe("all");
    expect(parsePlatformList(["all"])).toBe("all");
    expect(parsePlatformList(["linux/amd64", "ALL"])).toBe("all");
  });

  test("repeated flags and comma lists, deduplicated in order", () => {
    expect(parsePlatformList(["linux/amd64,arm64", "x86_64", "linux/arm/v7, armhf", "linux/arm64/v8"])).toEqual([
      linux("amd64"),
      linux("arm64"),
      linux("arm", "v7"),
    ]);
    expect(parsePlatformList(["linux/arm", "linux/arm/v7"])).toEqual([linux("arm"), linux("arm", "v7")]);
    expect(parsePlatformList(["amd64,"])).toEqual([linux("amd64")]);
  });

  test("bad entries are usage errors", () => {
    expect(() => parsePlatformList([""])).toThrow(UsageError);
    expect(() => parsePlatformList([","])).toThrow(`Cannot parse platform ",": empty platform`);
    expect(() => parsePlatformList(["linux/amd64,linux/"])).toThrow(`Cannot parse platform "linux/"`);
  });
});

describe("wildcards in platform filters", () => {
  test("parsePlatformList takes * as the OS, architecture or variant", () => {
    expect(parsePlatformList(["linux/*"])).toEqual([{ os: "linux", architecture: "*" }]);
    expect(parsePlatformList(["*/arm64", "linux/arm/*"])).toEqual([
      { os: "*", architecture: "arm64" },
      linux("arm", "*"),
    ]);
    expect(parsePlatformList(["linux/*,linux/*"])).toEqual([{ os: "linux", architecture: "*" }]);
  });

  test("parsePlatform takes no wildcard unless asked (a build, a FROM --platform need an exact one)", () => {
    expect(() => parsePlatform("linux/*")).toThrow(
      `Cannot parse platform "linux/*": a wildcard (*) is only for filters`,
    );
    expect(parsePlatform("linux/*", { wildcards: true })).toEqual({ os: "linux", architecture: "*" });
    expect(() => parsePlatformList(["linux/*"], { wildcards: false })).toThrow(UsageError);
  });

  test("* only as a whole part", () => {
    expect(() => parsePlatformList(["linux/arm*"])).toThrow(`invalid characters in "arm*"`);
    expect(() => parsePlatformList(["*"])).toThrow(UsageError);
  });

  const cases: [string, Platform | undefined, boolean][] = [
    ["linux/*", linux("amd64"), true],
    ["linux/*", linux("arm", "v7"), true],
    ["linux/*", { os: "windows", architecture: "amd64", "os.version": "10.0.20348.2227" }, false],
    ["linux/*", { os: "unknown", architecture: "unknown" }, false],
    ["linux/*", undefined, false],
    ["*/arm64", linux("arm64", "v8"), true],
    ["*/arm64", { os: "windows", architecture: "arm64" }, true],
    ["*/arm64", linux("amd64"), false],
    ["*/*", { os: "freebsd", architecture: "riscv64" }, true],
    ["linux/arm/*", linux("arm", "v6"), true],
    ["linux/*/v7", linux("arm", "v7"), true],
    ["linux/*/v7", linux("arm", "v6"), false],
  ];
  for (const [want, have, expected] of cases) {
    test(`${want} vs ${have ? formatPlatform(have) : "none"}`, () => {
      expect(matchPlatform(parsePlatform(want, { wildcards: true }), have)).toBe(expected);
    });
  }
});

describe("platformOfConfig", () => {
  test("reads os, architecture, variant, os.version and os.features; undefined without os and architecture", () => {
    expect(platformOfConfig({ os: "linux", architecture: "arm", variant: "v7", created: "x" })).toEqual({
      os: "linux",
      architecture: "arm",
      variant: "v7",
    });
    expect(
      platformOfConfig({
        os: "windows",
        architecture: "amd64",
        "os.version": "10.0.17763.1",
        "os.features": ["win32k"],
      }),
    )
      .toEqual({ os: "windows", architecture: "amd64", "os.version": "10.0.17763.1", "os.features": ["win32k"] });
    expect(platformOfConfig({})).toBeUndefined();
    expect(platformOfConfig({ os: "linux" })).toBeUndefined();
    expect(platformOfConfig({ os: 1, architecture: ["amd64"] })).toBeUndefined();
  });
});
