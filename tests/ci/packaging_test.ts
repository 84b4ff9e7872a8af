/**
 * ferry as a Deno user, an npm user and a JSR user get it: a script anywhere on disk imports the checkout's
 * mod.ts (by path or by URL) under plain `deno run -A` with no config of its own; `deno task cli` and
 * `deno task check` run the real Deno (not node_modules/.bin/deno, an ELF binary `deno task` would run as
 * JavaScript); `deno publish --dry-run` passes and leaves tests, scripts and examples out; `npm pack` ships the
 * library and CLI only; `deno doc mod.ts` prints no type-resolution warnings.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../helpers/tools.ts";

const root = join(import.meta.dir, "../..");
const deno = join(root, "node_modules/.bin/deno");

let outside: string;
beforeAll(async () => {
  outside = await mkdtemp(join(tmpdir(), "ferry-outside-"));
});
afterAll(async () => {
  if (outside) await rm(outside, { recursive: true, force: true });
});

/** A user's script: the sample image into an OCI layout, a manifest-tool YAML spec parsed, a reference parsed. */
function userScript(from: string): string {
  return `import { buildSampleImage, copyGraph, OciLayoutStore, parseManifestSpec, parseReference } from "${from}";
const sample = buildSampleImage();
const layout = await OciLayoutStore.open(Deno.args[0], { create: true });
await copyGraph(sample.store, layout, sample.root);
await layout.tag(sample.root, "1.0");
await layout.close();
const spec = parseManifestSpec("image: 127.0.0.1:5000/app:1.0\\nmanifests:\\n  - image: 127.0.0.1:5000/app:1.0-arm\\n" +
  "    platform: { architecture: arm, os: linux, variant: v7 }\\n");
console.log(parseReference("alpine:3.20").repository, sample.root.digest, spec.manifests[0].platform?.variant);
`;
}

describe("a Deno script outside the checkout, plain deno run -A, no config", () => {
  test("imports the checkout's mod.ts by path", async () => {
    const script = join(outside, "by_path.ts");
    await writeFile(script, userScript(join(root, "mod.ts")));
    const { stdout } = await run(deno, ["run", "-A", script, join(outside, "layout-path")], { cwd: outside });
    expect(stdout).toMatch(/^library\/alpine sha256:[0-9a-f]{64} v7\n$/);
    // and type-checks there, against Deno's own Node types rather than the checkout's @types/node
    await run(deno, ["check", script], { cwd: outside });
  }, 120_000);

  test("imports mod.ts by URL", async () => {
    const types: Record<string, string> = { ts: "application/typescript", js: "application/javascript" };
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        const file = Bun.file(join(root, path));
        return new Response(file, { headers: { "Content-Type": types[path.split(".").pop()!] ?? "text/plain" } });
      },
    });
    try {
      const script = join(outside, "by_url.ts");
      await writeFile(script, userScript(`http://127.0.0.1:${server.port}/mod.ts`));
      const { stdout } = await run(deno, ["run", "-A", "--reload", script, join(outside, "layout-url")], {
        cwd: outside,
        env: { DENO_DIR: join(outside, "deno-dir") },
      });
      expect(stdout).toMatch(/^library\/alpine sha256:[0-9a-f]{64} v7\n$/);
    } finally {
      await server.stop(true);
    }
  }, 120_000);
});

describe("deno tasks run the real Deno", () => {
  const tasks = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).tasks as Record<string, string>;

  test("deno task cli --help prints the usage", async () => {
    const { stdout } = await run(deno, ["task", "cli", "--help"], { cwd: root });
    expect(stdout).toContain("usage: ferry COMMAND");
  }, 120_000);

  test("no task names a bare `deno`, which deno task would resolve to node_modules/.bin/deno and run as JS", () => {
    expect(Object.keys(tasks).sort()).toEqual(["check", "cli", "fmt"]);
    for (const [name, command] of Object.entries(tasks)) {
      for (const part of command.split("&&")) expect(part.trim(), name).toMatch(/^env deno /);
    }
  });
});

describe("deno publish (JSR)", () => {
  test("--dry-run passes: licence, exports, no slow types; tests, scripts and examples are left out", async () => {
    const { stdout, stderr } = await run(deno, ["publish", "--dry-run", "--allow-dirty"], {
      cwd: root,
      timeoutMs: 300_000,
    });
    const output = stdout + stderr;
    expect(output).toContain("Dry run complete");
    const files = [...output.matchAll(/file:\/\/\S+/g)].map((m) => m[0].slice(`file://${root}/`.length)).sort();
    expect(files).toContain("mod.ts");
    expect(files).toContain("cli.ts");
    expect(files).toContain("LICENSE");
    expect(files).toContain("lib/vendor/yaml.js");
    expect(files.filter((f) => /_test\.ts$|^tests\/|^scripts\/|^examples\/|^dist\/|^node_modules\//.test(f)))
      .toEqual([]);
    expect(files.every((f) => /^(mod\.ts|cli\.ts|LICENSE|README\.md|deno\.json|lib\/.+)$/.test(f))).toBe(true);
  }, 300_000);

  test("deno.json names the Apache-2.0 licence that LICENSE holds and package.json names", () => {
    const config = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(config.license).toBe("Apache-2.0");
    expect(pkg.license).toBe("Apache-2.0");
    expect(readFileSync(join(root, "LICENSE"), "utf8")).toContain("Apache License\n                           Version 2.0");
  });
});

test("npm pack ships mod.ts, cli.ts and lib/ (no tests), README, LICENSE and package.json only", async () => {
  const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root });
  const files = (JSON.parse(stdout)[0].files as { path: string }[]).map((f) => f.path).sort();
  expect(files).toContain("lib/vendor/yaml.js");
  expect(files).toContain("lib/cli/main.ts");
  expect(files.filter((f) => !f.startsWith("lib/"))).toEqual(["LICENSE", "README.md", "cli.ts", "mod.ts", "package.json"]);
  expect(files.filter((f) => /_test\.ts$|testdata|fixtures/.test(f))).toEqual([]);
  // The library needs no npm packages at run time: what it uses is vendored under lib/vendor.
  expect(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).dependencies).toBeUndefined();
}, 120_000);

test("deno doc mod.ts prints no warnings (no Bun or Node type packages pulled in through tsconfig.json)", async () => {
  const { stdout, stderr } = await run(deno, ["doc", "mod.ts"], { cwd: root, env: { NO_COLOR: "1" } });
  expect(stdout).toContain("copyGraph");
  expect(stderr).toBe("");
}, 120_000);
