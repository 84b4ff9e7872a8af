/**
 * The folder layering of lib/, as a test (go-containerregistry's depcheck, for folders): each folder imports only
 * the folders below it, verbs never import another verb's folder, and the engine knows the ends only through
 * their interfaces. A new edge that breaks the map fails here, not in review.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, posix, relative } from "node:path";

const root = join(import.meta.dir, "../..");
const lib = join(root, "lib");

/**
 * What each folder of lib/ may import, besides itself and the leaves: errors.ts, version.ts, and vendor/ (third-party
 * ESM copies, imported by nothing of ferry's own but yaml and bcrypt users).
 */
const ALLOWED: Record<string, string[]> = {
  oci: [],
  ref: ["oci"],
  stream: ["oci"],
  tar: ["oci", "stream"],
  remote: ["oci", "ref", "stream", "runtime"],
  ends: ["oci", "ref", "stream", "tar", "remote", "runtime"],
  engine: ["oci", "ref", "stream", "ends"],
  server: ["oci", "stream", "tar", "ends", "runtime"],
  testing: ["oci", "tar", "stream", "ends"],
  verbs: ["oci", "ref", "stream", "tar", "remote", "ends", "engine", "server", "testing", "runtime"],
  cli: ["verbs", "engine", "oci", "ref", "runtime"],
  runtime: ["stream"],
};
const LEAVES = ["errors", "version", "vendor"];

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(join(dir, e.name))
      : e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")
      ? [join(dir, e.name)]
      : []
  );
}

/**
 * `lib/verbs/export/x.ts` → ["verbs", "export"]; a one-file verb `lib/verbs/copy.ts` → ["verbs", "copy"];
 * `lib/errors.ts` → ["errors"]; `lib/oci/x.ts` → ["oci"].
 */
function placeOf(path: string): string[] {
  const parts = path.split("/").slice(1);
  parts[parts.length - 1] = parts[parts.length - 1].replace(/\.ts$/, "");
  if (parts[0] === "verbs") return parts.slice(0, 2);
  return parts.length === 1 ? parts : parts.slice(0, -1);
}

function importEdges(): { from: string; to: string }[] {
  const edges: { from: string; to: string }[] = [];
  for (const file of tsFiles(lib)) {
    const from = relative(root, file);
    for (const m of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      edges.push({ from, to: posix.normalize(posix.join(posix.dirname(from), m[1])) });
    }
  }
  return edges;
}

test("each lib/ folder imports only the folders it may", () => {
  const edges = importEdges();
  expect(edges.length).toBeGreaterThan(300);
  const offenders = edges.filter(({ from, to }) => {
    const [a] = placeOf(from), [b] = placeOf(to);
    return a !== b && !LEAVES.includes(b) && !ALLOWED[a]?.includes(b);
  }).map(({ from, to }) => `${from} → ${to}`);
  expect(offenders).toEqual([]);
});

test("a verb family never imports another family's folder (shared pieces live lower down)", () => {
  const offenders = importEdges().filter(({ from, to }) => {
    const a = placeOf(from), b = placeOf(to);
    return a[0] === "verbs" && b[0] === "verbs" && a.join("/") !== b.join("/");
  }).map(({ from, to }) => `${from} → ${to}`);
  expect(offenders).toEqual([]);
});

test("the engine's copy knows the ends only through their interfaces (ends/store.ts)", () => {
  const offenders = importEdges().filter(({ from, to }) =>
    /^lib\/engine\/(copy_graph|transfer|task_group)\.ts$/.test(from) && to.startsWith("lib/ends/") &&
    to !== "lib/ends/store.ts"
  ).map(({ from, to }) => `${from} → ${to}`);
  expect(offenders).toEqual([]);
});

/**
 * `node:` built-ins that cost resident memory once loaded under Bun (measured on a compiled ferry: node:zlib 10 MiB,
 * node:http 9, node:tls 7, node:stream 4, node:child_process 2) and that most runs never use: lib/ loads them
 * where they are used, with `process.getBuiltinModule` (lib/runtime.ts's `builtin`), never by a static import.
 */
const LAZY_BUILTINS = ["node:zlib", "node:http", "node:https", "node:tls", "node:stream", "node:child_process"];

test("lib/ loads the heavy node: built-ins only when it uses them", () => {
  const offenders = tsFiles(lib).flatMap((file) =>
    [...readFileSync(file, "utf8").matchAll(/^import\s+(?!type\b)[^;]*?from\s+"(node:[a-z_/]+)"/gm)]
      .filter((m) => LAZY_BUILTINS.includes(m[1]))
      .map((m) => `${relative(root, file)}: ${m[1]}`)
  );
  expect(offenders).toEqual([]);
});
