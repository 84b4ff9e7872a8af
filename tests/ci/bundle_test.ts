/**
 * dist/ferry.js, the release's one-file library (scripts/bundle.ts): it imports only `node:` built-ins, its
 * .sha256 matches, and one script that imports it runs under Deno (by path and by URL, from a directory outside
 * the checkout), Bun and Node ≥ 20, with the same results.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../helpers/tools.ts";

const root = join(import.meta.dir, "../..");
const deno = join(root, "node_modules/.bin/deno");
let dir: string;
let bundle: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-bundle-"));
  bundle = join(dir, "ferry.js");
  await run(process.execPath, [join(root, "scripts/bundle.ts"), bundle], { cwd: root, timeoutMs: 120_000 });
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** JavaScript any of the three runtimes runs: the sample image into a layout, a YAML spec, a typed error. */
const script = (from: string) => `import * as ferry from "${from}";
const out = (globalThis.Deno ? Deno.args : process.argv.slice(2))[0];
const sample = ferry.buildSampleImage();
const layout = await ferry.OciLayoutStore.open(out, { create: true });
await ferry.copyGraph(sample.store, layout, sample.root);
await layout.tag(sample.root, "1.0");
await layout.close();
const spec = ferry.parseManifestSpec("image: 127.0.0.1:5000/app:1.0\\nmanifests:\\n  - image: 127.0.0.1:5000/app:1.0-arm\\n" +
  "    platform: { architecture: arm, os: linux, variant: v7 }\\n");
let code;
try { ferry.parseLocation("dir:/tmp/x"); } catch (err) { code = ferry.exitCodeOf(err); }
const index = JSON.parse(await (await import("node:fs/promises")).readFile(out + "/index.json", "utf8"));
console.log(index.manifests[0].annotations["org.opencontainers.image.ref.name"], spec.manifests[0].platform.variant, code);
`;
const expected = "1.0 v7 2\n";

test("the bundle imports only node: built-ins and its .sha256 is sha256sum's line for it", async () => {
  const text = await readFile(bundle, "utf8");
  const imports = [...text.matchAll(/^\s*import\b[^;]*?\bfrom\s*"([^"]+)"/gms)].map((m) => m[1]);
  expect(imports.length).toBeGreaterThan(0);
  expect(imports.filter((s) => !s.startsWith("node:"))).toEqual([]);
  // Nothing Bun-only (Bun.*/Deno.* calls stay behind lib/runtime.ts's runtime checks, which are bundled as they are).
  expect(["// @bun", "import.meta.require", "createRequire"].filter((s) => text.includes(s))).toEqual([]);
  expect(text.includes("Copyright Eemeli Aro") && text.includes("Nevins Bartolomeo")).toBe(true); // licences kept
  const hex = createHash("sha256").update(await readFile(bundle)).digest("hex");
  expect(await readFile(`${bundle}.sha256`, "utf8")).toBe(`${hex}  ferry.js\n`);
  expect((await run("sha256sum", ["--check", "ferry.js.sha256"], { cwd: dir })).stdout).toBe("ferry.js: OK\n");
});

test("under Deno from outside the checkout, by path and by URL", async () => {
  await writeFile(join(dir, "by_path.mjs"), script("./ferry.js"));
  expect((await run(deno, ["run", "-A", "by_path.mjs", join(dir, "deno-path")], { cwd: dir })).stdout).toBe(expected);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response(Bun.file(bundle), { headers: { "Content-Type": "application/javascript" } }),
  });
  try {
    await writeFile(join(dir, "by_url.mjs"), script(`http://127.0.0.1:${server.port}/ferry.js`));
    const { stdout } = await run(deno, ["run", "-A", "--reload", "by_url.mjs", join(dir, "deno-url")], {
      cwd: dir,
      env: { DENO_DIR: join(dir, "deno-dir") },
    });
    expect(stdout).toBe(expected);
  } finally {
    await server.stop(true);
  }
}, 120_000);

test("under Bun", async () => {
  await writeFile(join(dir, "bun.mjs"), script("./ferry.js"));
  expect((await run(process.execPath, ["bun.mjs", join(dir, "bun-out")], { cwd: dir })).stdout).toBe(expected);
}, 60_000);

test("under Node (the machine's, ≥ 20)", async () => {
  const { stdout: version } = await run("node", ["--version"]);
  expect(Number(/^v(\d+)/.exec(version)![1])).toBeGreaterThanOrEqual(20);
  await writeFile(join(dir, "node.mjs"), script("./ferry.js"));
  expect((await run("node", ["node.mjs", join(dir, "node-out")], { cwd: dir })).stdout).toBe(expected);
}, 60_000);
