import { expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import { DEFAULT_TAG_TEMPLATE, expandTagTemplate } from "./split.ts";

test("the default template drops default variants and keeps the others", () => {
  const tag = (architecture: string, variant?: string, os = "linux") =>
    expandTagTemplate(DEFAULT_TAG_TEMPLATE, "1.0", { os, architecture, ...(variant ? { variant } : {}) });
  expect(tag("amd64")).toBe("1.0-amd64");
  expect(tag("arm64", "v8")).toBe("1.0-arm64");
  expect(tag("arm", "v7")).toBe("1.0-armv7");
  expect(tag("aarch64")).toBe("1.0-arm64");
  expect(tag("amd64", "v3")).toBe("1.0-amd64v3");
});

test("{os} and {label}; unknown placeholders are usage errors", () => {
  const win = { os: "windows", architecture: "amd64" };
  expect(expandTagTemplate("{tag}-{os}-{arch}", "2", win)).toBe("2-windows-amd64");
  expect(expandTagTemplate("{label}", "2", win)).toBe("windows-amd64");
  expect(() => expandTagTemplate("{tag}-{cpu}", "2", win)).toThrow(UsageError);
});
