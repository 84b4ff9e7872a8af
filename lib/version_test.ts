import { expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { VERSION } from "./version.ts";

const root = new URL("../", import.meta.url);

test("package.json, deno.json and lib/version.ts name one version", async () => {
  const pkg = JSON.parse(await readFile(new URL("package.json", root), "utf8"));
  const deno = JSON.parse(await readFile(new URL("deno.json", root), "utf8"));
  expect(VERSION).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  expect(pkg.version).toBe(VERSION);
  expect(deno.version).toBe(VERSION);
});
