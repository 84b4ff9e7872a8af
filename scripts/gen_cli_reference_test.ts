import { expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { commands } from "../lib/cli/main.ts";
import { ExitCode } from "../lib/errors.ts";
import { renderCliReference, renderExitCodes, updateReadme } from "./gen_cli_reference.ts";

test("README.md's CLI reference and exit codes match the command table (else: bun scripts/gen_cli_reference.ts)", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  expect(updateReadme(readme)).toBe(readme);
});

test("the reference names every command, alias and flag, and the table every exit code", () => {
  const reference = renderCliReference();
  for (const command of commands) {
    expect(reference).toContain(`### \`ferry ${command.name}\``);
    for (const alias of command.aliases ?? []) expect(reference).toContain(`\`${alias}\``);
    for (const flag of Object.keys(command.flags)) expect(reference).toContain(`--${flag}`);
  }
  const codes = renderExitCodes();
  for (const [name, code] of Object.entries(ExitCode)) expect(codes).toContain(`| ${code} | \`${name}\` |`);
});

test("a README without the markers is refused", () => {
  expect(() => updateReadme("# nothing generated here\n")).toThrow(/Cannot update README.md/);
});
