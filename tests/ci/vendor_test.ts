/**
 * lib/vendor/*.js are what scripts/vendor.ts makes from the npm packages package.json pins (so a version bump
 * that forgets to re-vendor fails here), they keep their licences, and the library imports nothing from npm.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { run } from "../helpers/tools.ts";

const root = join(import.meta.dir, "../..");
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "ferry-vendor-"));
  await run(process.execPath, [join(root, "scripts/vendor.ts"), out], { cwd: root });
}, 60_000);
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

for (const name of ["yaml", "bcryptjs"]) {
  test(`lib/vendor/${name}.js is scripts/vendor.ts's output for the pinned ${name}, with its licence`, async () => {
    const committed = await readFile(join(root, `lib/vendor/${name}.js`), "utf8");
    expect(committed).toBe(await readFile(join(out, `${name}.js`), "utf8"));
    const version = JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
    expect(committed.split("\n")[0]).toBe(`// @ts-self-types="./${name}.d.ts"`);
    expect(committed).toContain(` * ${name} ${version} (`);
    expect(committed).toContain(name === "yaml" ? "Copyright Eemeli Aro" : "Copyright (c) 2012 Nevins Bartolomeo");
  });
}

test("library code (mod.ts, cli.ts, lib/) imports no npm package: only relative paths and node: built-ins", () => {
  const files = ["mod.ts", "cli.ts", ...listTs(join(root, "lib"))];
  const bad: string[] = [];
  for (const file of files) {
    if (file.endsWith("_test.ts")) continue;
    const text = readFileSync(join(root, file), "utf8");
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gms)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith("./") && !spec.startsWith("../") && !spec.startsWith("node:")) bad.push(`${file}: ${spec}`);
    }
  }
  expect(files.length).toBeGreaterThan(50);
  expect(bad).toEqual([]);
});

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}
