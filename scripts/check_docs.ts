/**
 * Checks that every export of mod.ts has JSDoc with an `@example`, and type-checks every example: each ```ts
 * block becomes a module that imports all of mod.ts's exports (as `deno test --doc` does for a module's own
 * exports) and goes through `deno check`. `deno check --doc mod.ts` alone would only see mod.ts's own JSDoc, not
 * the lib/ modules the exports are declared in.
 *
 *   bun scripts/check_docs.ts       exits 1 listing exports without docs or examples, or examples that fail
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";

const root = join(import.meta.dirname, "..");
const deno = join(root, "node_modules/.bin/deno");

interface JsDoc {
  doc?: string;
  tags?: { kind: string; doc?: string }[];
}
interface DocSymbol {
  name: string;
  declarations: { location: { filename: string; line: number }; jsDoc?: JsDoc; kind: string }[];
}

function denoDoc(): { symbols: DocSymbol[]; moduleDoc?: JsDoc } {
  const result = spawnSync(deno, ["doc", "--json", "mod.ts"], { cwd: root, encoding: "utf8", maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`deno doc --json mod.ts failed: ${result.stderr}`);
  const json = JSON.parse(result.stdout);
  const mod = json.nodes[new URL("../mod.ts", import.meta.url).href];
  return { symbols: mod.symbols, moduleDoc: mod.module_doc };
}

/** The ```ts (or untagged) code blocks of an @example. */
function codeBlocks(example: string): string[] {
  return [...example.matchAll(/```(ts|typescript|)\n([\s\S]*?)```/g)].map((m) => m[2]);
}

const { symbols, moduleDoc } = denoDoc();
const problems: string[] = [];
const snippets: { label: string; code: string }[] = [];
const names = symbols.map((s) => s.name);

for (const symbol of symbols) {
  const where = (d: DocSymbol["declarations"][number]) =>
    `${relative(root, new URL(d.location.filename).pathname)}:${d.location.line}`;
  const examples = symbol.declarations.flatMap((d) =>
    (d.jsDoc?.tags ?? []).filter((t) => t.kind === "example").map((t) => ({ d, doc: t.doc ?? "" }))
  );
  for (const d of symbol.declarations) {
    if (!d.jsDoc?.doc?.trim()) problems.push(`${symbol.name} (${where(d)}): no JSDoc`);
  }
  if (examples.length === 0) problems.push(`${symbol.name} (${where(symbol.declarations[0])}): no @example`);
  for (const { d, doc } of examples) {
    const blocks = codeBlocks(doc);
    if (blocks.length === 0) problems.push(`${symbol.name} (${where(d)}): @example without a \`\`\`ts block`);
    blocks.forEach((code, i) => snippets.push({ label: `${symbol.name} (${where(d)}) example ${i + 1}`, code }));
  }
}
for (const tag of moduleDoc?.tags ?? []) {
  if (tag.kind === "example") {
    for (const code of codeBlocks(tag.doc ?? "")) snippets.push({ label: "mod.ts module example", code });
  }
}

// One module per snippet, in a temp dir under the repository so deno.json (and node_modules) apply.
const dir = mkdtempSync(join(root, ".doc-examples-"));
try {
  const files = snippets.map(({ label, code }, i) => {
    const file = join(dir, `example_${String(i).padStart(3, "0")}.ts`);
    const ownImport = /from "(\.\/mod\.ts|@ferry\/ferry)"/.test(code);
    const body = code.replaceAll(/from "(\.\/mod\.ts|@ferry\/ferry)"/g, 'from "../mod.ts"');
    const header = ownImport ? "" : `import { ${names.join(", ")} } from "../mod.ts";\n`;
    writeFileSync(file, `// ${label}\n${header}${body}\nexport {};\n`);
    return { file, label };
  });
  const result = spawnSync(deno, ["check", "--quiet", ...files.map((f) => f.file)], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`;
    for (const { file, label } of files) {
      const base = file.slice(dir.length + 1);
      const errors = output.split(/\n\n/).filter((block) => block.includes(base));
      if (errors.length) problems.push(`${label} does not type-check:\n${errors.join("\n").replaceAll(/^/gm, "    ")}`);
    }
    if (!problems.length) problems.push(`deno check failed:\n${output}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (problems.length) {
  console.error(problems.join("\n"));
  console.error(`${problems.length} problem(s) in the docs of mod.ts's ${symbols.length} exports`);
  process.exit(1);
}
console.log(`mod.ts: ${symbols.length} exports documented, ${snippets.length} examples type-check`);
