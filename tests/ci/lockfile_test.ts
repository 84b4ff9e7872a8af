/**
 * `npm ci` installs exactly package-lock.json, and refuses a lock that is out of sync with package.json or that lacks
 * a package some platform needs. So the lock records, for bun, deno and typescript, the native package of every
 * platform a developer or CI uses, and the install scripts use `npm ci` (which never rewrites the lock).
 */
import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

interface Locked {
  version?: string;
  integrity?: string;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
interface Lock {
  lockfileVersion: number;
  packages: Record<string, Locked>;
}

/** The platforms (node's `process.platform`-`process.arch`) that must install from the lock. */
const platforms = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"];
/** Packages that ship their binary as one optional package per platform. */
const native = ["bun", "deno", "typescript"];

/** What `npm ci` on `platform` would miss in `lock`: one line per missing or incomplete entry. */
function problemsOf(lock: Lock, platform: string): string[] {
  const [os, cpu] = platform.split("-");
  const problems: string[] = [];
  for (const name of native) {
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry) {
      problems.push(`${name}: not in the lock`);
      continue;
    }
    const candidates = Object.keys(entry.optionalDependencies ?? {}).map((dep) => ({
      dep,
      locked: lock.packages[`node_modules/${dep}`],
    }));
    const fits = candidates.filter(({ locked }) => locked?.os?.includes(os) && locked?.cpu?.includes(cpu));
    if (fits.length === 0) problems.push(`${name}: no locked optional package for ${platform}`);
    for (const { dep, locked } of fits) {
      if (!locked.version || !locked.integrity) problems.push(`${dep}: no version or integrity`);
    }
  }
  return problems;
}

const lock: Lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));

test("the lock is in sync with package.json (npm ci's own check)", () => {
  expect(lock.lockfileVersion).toBe(3);
  const top = lock.packages[""];
  expect(top.dependencies ?? {}).toEqual(pkg.dependencies ?? {});
  expect(top.devDependencies ?? {}).toEqual(pkg.devDependencies ?? {});
  for (const name of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]) {
    expect(lock.packages[`node_modules/${name}`]?.integrity, name).toBeString();
  }
});

for (const platform of platforms) {
  test(`the lock records the native packages of ${native.join(", ")} for ${platform}`, () => {
    expect(problemsOf(lock, platform)).toEqual([]);
  });
}

test("a lock written on one platform only is caught", () => {
  // What `npm install` leaves when it prunes the other platforms' optional packages.
  const pruned: Lock = structuredClone(lock);
  for (const key of Object.keys(pruned.packages)) {
    if (pruned.packages[key].optional && !pruned.packages[key].os?.includes("linux")) delete pruned.packages[key];
  }
  expect(problemsOf(pruned, "linux-x64")).toEqual([]);
  expect(problemsOf(pruned, "darwin-arm64")).toEqual(native.map((n) => `${n}: no locked optional package for darwin-arm64`));
});

test("the install scripts and CI use npm ci, never npm install (which may rewrite the lock)", () => {
  const files = ["scripts/install_deps.sh", "scripts/demo.sh", ".ci/run"];
  const tracked = execFileSync("git", ["ls-files", ".github/workflows"], { cwd: root, encoding: "utf8" })
    .split("\n")
    .filter(Boolean);
  const offenders: string[] = [];
  let installs = 0;
  for (const file of [...files, ...tracked]) {
    readFileSync(join(root, file), "utf8").split("\n").forEach((line, i) => {
      const code = line.replace(/#.*$/, "");
      if (/\bnpm\s+(install|i|add)\b/.test(code)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      if (/\bnpm\s+ci\b/.test(code)) installs++;
    });
  }
  expect(offenders).toEqual([]);
  expect(installs).toBeGreaterThan(0);
});
