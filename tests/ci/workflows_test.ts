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
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, { "runs-on": string; "timeout-minutes"?: number; steps: Step[] }>;
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

test("test.yml runs npm test on pushes and pull requests within 10 minutes", () => {
  const workflow = load("test.yml");
  expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push"]);
  const job = Object.values(workflow.jobs)[0];
  expect(job["timeout-minutes"]).toBeLessThanOrEqual(10);
  expect(job.steps.some((s) => /\bnpm test\b/.test(s.run ?? ""))).toBe(true);
});

test("release.yml, on a version tag: installs, tests, builds every target, attaches binaries and SHA256SUMS", () => {
  const workflow = load("release.yml");
  expect((workflow.on.push as { tags: string[] }).tags).toEqual(["v*.*.*"]);
  const runs = Object.values(workflow.jobs)[0].steps.map((s) => s.run ?? "");
  const order = [/install_deps\.sh/, /\bnpm test\b/, /\bnpm run build\b/, /\bgh release create\b/].map((re) =>
    runs.findIndex((r) => re.test(r))
  );
  expect(order.every((i) => i >= 0)).toBe(true);
  expect([...order].sort((a, b) => a - b)).toEqual(order);
  const upload = runs[order[3]];
  const build = readFileSync(join(root, "scripts/build.ts"), "utf8");
  const targets = JSON.parse(build.match(/const targets = (\[[^\]]*\])/)![1]) as string[];
  expect(targets.length).toBe(5);
  for (const t of targets) expect(upload).toContain(`dist/ferry-${t}${t.startsWith("windows") ? ".exe" : ""}`);
  expect(upload).toContain("dist/SHA256SUMS");
});
