/**
 * The GitHub workflows parse, and every step they run names scripts and npm scripts that exist, so a renamed script
 * breaks a test here rather than the release.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";

const root = join(import.meta.dir, "../..");
const dir = join(root, ".github/workflows");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
/** npm's own commands, which need no entry in package.json's scripts. */
const npmBuiltins = new Set(["install", "ci", "i", "exec", "pack", "publish", "version"]);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
}
interface Job {
  "runs-on": string;
  "timeout-minutes"?: number;
  needs?: string | string[];
  strategy?: unknown;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

function load(file: string): Workflow {
  const doc = parseDocument(readFileSync(join(dir, file), "utf8"), { strict: true, uniqueKeys: true });
  expect(doc.errors.map(String)).toEqual([]);
  expect(doc.warnings.map(String)).toEqual([]);
  return doc.toJS() as Workflow;
}

/** Script files (`scripts/x.ts`, `bash scripts/y.sh`) and npm scripts (`npm test`, `npm run build`) a command names. */
function referencesOf(command: string): { files: string[]; npmScripts: string[] } {
  const files = [...command.matchAll(/(?:^|[\s"'=])((?:\.\/)?(?:scripts|examples)\/[\w./-]+\.(?:ts|sh|js))/g)].map((m) =>
    m[1].replace(/^\.\//, "")
  );
  const npmScripts = [...command.matchAll(/\bnpm\s+(?:run(?:-script)?\s+)?([\w:.-]+)/g)]
    .map((m) => m[1])
    .filter((s) => !npmBuiltins.has(s));
  return { files, npmScripts };
}

const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

test("there is a test workflow and a release workflow", () => {
  expect(files).toEqual(["release.yml", "test.yml"]);
});

test("references are found in commands", () => {
  expect(referencesOf("sudo --preserve-env=PATH npm test && npm run build")).toEqual({
    files: [],
    npmScripts: ["test", "build"],
  });
  expect(referencesOf("node_modules/.bin/bun scripts/build.ts linux-x64; bash ./scripts/x.sh").files).toEqual([
    "scripts/build.ts",
    "scripts/x.sh",
  ]);
  expect(referencesOf("npm install --no-audit").npmScripts).toEqual([]);
});

for (const file of files) {
  describe(file, () => {
    test("parses, and every job has a runner, a timeout and steps that use an action or run a command", () => {
      const workflow = load(file);
      expect(typeof workflow.name).toBe("string");
      expect(Object.keys(workflow.on).length).toBeGreaterThan(0);
      for (const [id, job] of Object.entries(workflow.jobs)) {
        expect(job["runs-on"], id).toBeString();
        expect(job["timeout-minutes"], id).toBeNumber();
        expect(job.steps.length, id).toBeGreaterThan(0);
        for (const step of job.steps) expect(typeof step.uses === "string" || typeof step.run === "string").toBe(true);
      }
    });

    test("every script and npm script a step runs exists", () => {
      const workflow = load(file);
      const runs = Object.values(workflow.jobs).flatMap((job) => job.steps.flatMap((s) => s.run ? [s.run] : []));
      expect(runs.length).toBeGreaterThan(0);
      for (const command of runs) {
        const { files, npmScripts } = referencesOf(command);
        for (const f of files) expect(existsSync(join(root, f)), `${file}: ${f}`).toBe(true);
        for (const s of npmScripts) expect(pkg.scripts?.[s], `${file}: npm script ${s}`).toBeString();
        // npm scripts run scripts too: check the files those name.
        for (const s of npmScripts) {
          for (const f of referencesOf(pkg.scripts[s]).files) expect(existsSync(join(root, f)), `${s}: ${f}`).toBe(true);
        }
      }
    });
  });
}

test("test.yml runs npm test on pushes and pull requests within 30 minutes", () => {
  const workflow = load("test.yml");
  expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push"]);
  const job = Object.values(workflow.jobs)[0];
  expect(job["timeout-minutes"]).toBeLessThanOrEqual(30);
  expect(job.steps.some((s) => /\bnpm test\b/.test(s.run ?? ""))).toBe(true);
});

test("release.yml, on a version tag: tests, builds every target, runs each binary on its own OS, attests, releases", () => {
  const workflow = load("release.yml");
  expect((workflow.on.push as { tags: string[] }).tags).toEqual(["v*.*.*"]);
  const jobs = workflow.jobs as Record<string, Job>;
  expect(Object.keys(jobs)).toEqual(["test", "build", "smoke", "release"]);
  const runs = (id: string) => jobs[id].steps.map((s) => s.run ?? "");
  const uses = (id: string) => jobs[id].steps.map((s) => s.uses ?? "");

  // test: the whole suite, before anything is built.
  expect(runs("test").findIndex((r) => /install_deps\.sh/.test(r))).toBeLessThan(
    runs("test").findIndex((r) => /\bnpm test\b/.test(r)),
  );
  expect(jobs.build.needs).toBe("test");
  expect(jobs.smoke.needs).toBe("build");
  expect(jobs.release.needs).toBe("smoke");

  // build: every target of scripts/build.ts, ferry.js and SHA256SUMS, handed on as one artifact.
  const build = readFileSync(join(root, "scripts/build.ts"), "utf8");
  const targets = JSON.parse(build.match(/const targets = (\[[^\]]*\])/)![1]) as string[];
  expect(targets.sort()).toEqual([
    "darwin-arm64",
    "darwin-x64",
    "linux-arm64",
    "linux-arm64-musl",
    "linux-x64",
    "linux-x64-baseline",
    "linux-x64-musl",
    "windows-x64",
  ]);
  const assets = targets.map((t) => `ferry-${t}${t.startsWith("windows") ? ".exe" : ""}`);
  expect(runs("build").some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  expect(runs("build").some((r) => r.includes(`test "$(wc -l < SHA256SUMS)" = ${targets.length + 1}`))).toBe(true);
  expect(uses("build")).toContain("actions/upload-artifact@v4");

  // smoke: each binary once, on a runner of its OS (Linux arm64 and musl in a container of that platform).
  const matrix = (jobs.smoke.strategy as { matrix: { include: Record<string, string>[] } }).matrix.include;
  expect(matrix.map((m) => m.asset).sort()).toEqual([...assets].sort());
  for (const m of matrix) {
    const os = m.asset.split("-")[1];
    const runner = { linux: /^ubuntu-/, darwin: /^macos-/, windows: /^windows-/ }[os]!;
    expect(m.runner, m.asset).toMatch(runner);
    if (/^ferry-linux-(arm64|x64-musl)/.test(m.asset)) {
      expect(m.platform, m.asset).toBe(m.asset.includes("arm64") ? "linux/arm64" : "linux/amd64");
      expect(m.container, m.asset).toMatch(m.asset.includes("musl") ? /^alpine:/ : /^debian:/);
    } else expect(m.container, m.asset).toBeUndefined();
  }
  expect(matrix.filter((m) => m.docker === "docker").map((m) => m.asset).sort()).toEqual([
    "ferry-linux-x64",
    "ferry-linux-x64-baseline",
  ]);
  expect(runs("smoke").filter((r) => r.includes("sh scripts/smoke.sh")).length).toBe(2);
  expect(uses("smoke")).toContain("docker/setup-qemu-action@v3");

  // release: checksums checked, provenance attested, every asset attached.
  const release = jobs.release as Job & { permissions: Record<string, string> };
  expect(release.permissions).toEqual({ contents: "write", "id-token": "write", attestations: "write" });
  expect(workflow.permissions).toEqual({ contents: "read" });
  expect(uses("release")).toContain("actions/attest-build-provenance@v2");
  const upload = runs("release").find((r) => /\bgh release create\b/.test(r))!;
  for (const asset of [...assets, "ferry.js", "ferry.js.sha256", "SHA256SUMS"]) {
    expect(upload).toContain(`dist/${asset} `.trimEnd());
  }
});
