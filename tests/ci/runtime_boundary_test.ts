/**
 * Only lib/runtime.ts knows which runtime ferry runs on: no other library module (tests included) touches the
 * Bun or Deno globals, so the library runs wherever web-standard APIs and `node:` built-ins exist.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "../..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  );
}

test("no Bun.* or Deno.* outside lib/runtime.ts (mod.ts, cli.ts, lib/, examples/)", () => {
  const files = [join(root, "mod.ts"), join(root, "cli.ts"), ...tsFiles(join(root, "lib")), ...tsFiles(join(root, "examples"))]
    .filter((f) => relative(root, f) !== "lib/runtime.ts");
  expect(files.length).toBeGreaterThan(50);
  const offenders: string[] = [];
  for (const file of files) {
    readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      const code = line.trim();
      if (code.startsWith("*") || code.startsWith("//") || code.startsWith("/*")) return; // docs may name them
      if (/\b(Bun|Deno)\s*\.|globalThis\s*\.\s*(Bun|Deno)\b|from "bun"/.test(code)) {
        offenders.push(`${relative(root, file)}:${i + 1}: ${code}`);
      }
    });
  }
  expect(offenders).toEqual([]);
});
