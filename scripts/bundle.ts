/**
 * Builds dist/ferry.js: the whole library (mod.ts, with the vendored yaml and bcryptjs) as one self-contained ES
 * module that imports only `node:` built-ins, so one file runs under Deno (by path or by its release URL), Bun and
 * Node ≥ 20. Also writes dist/ferry.js.sha256 (`<hex>  ferry.js`, as sha256sum prints it). Attached to each release.
 *
 *   bun scripts/bundle.ts            dist/ferry.js and dist/ferry.js.sha256
 *   bun scripts/bundle.ts OUT.js     OUT.js and OUT.js.sha256
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";

const root = join(import.meta.dirname, "..");
const out = resolve(process.argv[2] ?? join(root, "dist/ferry.js"));
const bun = process.versions.bun ? process.execPath : join(root, "node_modules/.bin/bun");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

mkdirSync(dirname(out), { recursive: true });
// --target=node: built-ins stay `node:` imports (Deno and Bun have them too) and nothing Bun-only is emitted.
const built = spawnSync(bun, ["build", "--target=node", "--format=esm", "mod.ts", "--outfile", out], {
  cwd: root,
  encoding: "utf8",
});
if (built.status !== 0) {
  console.error(built.stderr || built.stdout);
  process.exit(built.status ?? 1);
}
const header = `/*! ferry ${version} (Apache-2.0): the library (mod.ts) bundled into one ES module by scripts/bundle.ts.
 * Runs under Deno, Bun and Node >= 20; the licences of the bundled yaml and bcryptjs follow below. */\n`;
const bytes = Buffer.from(header + readFileSync(out, "utf8"));
writeFileSync(out, bytes);
const line = `${createHash("sha256").update(bytes).digest("hex")}  ${basename(out)}\n`;
writeFileSync(`${out}.sha256`, line);
process.stdout.write(line);
