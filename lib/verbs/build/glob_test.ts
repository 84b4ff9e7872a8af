import { describe, expect, test } from "bun:test";
import { IgnoreRules, PathPattern } from "./glob.ts";

describe("PathPattern", () => {
  const table: [string, string, boolean][] = [
    ["bin/app-*", "bin/app-amd64", true],
    ["bin/app-*", "bin/sub/app-amd64", false],
    ["bin/app-*", "bin/app-", true],
    ["*.txt", "a.txt", true],
    ["*.txt", "dir/a.txt", false],
    ["a?c", "abc", true],
    ["a?c", "a/c", false],
    ["[ab]*", "beta", true],
    ["[!ab]*", "beta", false],
    ["[^ab]*", "cat", true],
    ["[a-c]x", "bx", true],
    ["\\*", "*", true],
    ["\\*", "a", false],
    ["a.b", "axb", false],
    ["**/*.md", "a/b/c.md", true],
    ["**/*.md", "c.md", true],
    ["docs/**", "docs/a/b", true],
    ["a/**/z", "a/z", true],
    ["a/**/z", "a/b/c/z", true],
  ];
  for (const [pattern, path, want] of table) {
    test(`${pattern} ${want ? "matches" : "does not match"} ${path}`, () => {
      expect(new PathPattern(pattern).matches(path)).toBe(want);
    });
  }
  test("isGlob", () => {
    expect(new PathPattern("a/b").isGlob).toBe(false);
    expect(new PathPattern("a/*").isGlob).toBe(true);
    expect(new PathPattern("a\\*").isGlob).toBe(false);
  });
});

describe("IgnoreRules", () => {
  const rules = new IgnoreRules("# comment\n*.log\n!keep.log\n/node_modules\n./build/\n**/secret*\n\n");
  const table: [string, boolean][] = [
    ["a.log", true],
    ["keep.log", false],
    ["dir/a.log", false], // `*.log` is anchored at the root, as in Docker
    ["node_modules", true],
    ["node_modules/x/y.js", true],
    ["build/out", true],
    ["src/deep/secret.key", true],
    ["secret", true],
    ["src/app.ts", false],
  ];
  for (const [path, want] of table) {
    test(`${path} ${want ? "is" : "is not"} excluded`, () => expect(rules.excludes(path)).toBe(want));
  }
  test("exceptions", () => {
    expect(rules.hasExceptions).toBe(true);
    expect(new IgnoreRules("a\n").hasExceptions).toBe(false);
    const r = new IgnoreRules("dist\n!dist/keep\n");
    expect(r.excludes("dist/other")).toBe(true);
    expect(r.excludes("dist/keep")).toBe(false);
  });
});
