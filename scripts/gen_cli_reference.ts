/**
 * Generates the README's CLI reference from the command table (lib/cli/main.ts: every command, its usage, aliases
 * and flags) and its exit-code table from `ExitCode` (lib/errors.ts), so neither can drift from the code.
 *
 *   bun scripts/gen_cli_reference.ts           rewrites the marked sections of README.md
 *   bun scripts/gen_cli_reference.ts --check   exits 1 if README.md is stale
 *
 * The sections sit between `<!-- BEGIN GENERATED: NAME -->` and `<!-- END GENERATED: NAME -->` lines.
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import type { Command, FlagSpec } from "../lib/cli/command.ts";
import { commands, globalFlags } from "../lib/cli/main.ts";
import { ExitCode } from "../lib/errors.ts";

/** What each exit code means; every key of `ExitCode` must have a line (the generator refuses otherwise). */
const EXIT_MEANINGS: Record<keyof typeof ExitCode, string> = {
  Failure: "internal error (a bug; `--debug` shows the stack)",
  Usage: "usage: bad flag, argument, reference, platform or location",
  NotFound: "not found: manifest, blob, repository, tag, platform or file",
  Auth: "authentication or authorization failed (401/403, token exchange, credential helper)",
  Registry: "registry or network error after retries (5xx, 429, DNS, refused connection, TLS)",
  Integrity: "integrity: bytes do not match their digest or size",
  Unsupported: "unsupported content (Docker schema 1, unknown manifest types)",
  Io: "local file error: permission, no space, malformed archive or layout",
  Partial: "partial failure (some images of a batch failed)",
  Verification: "verification failed: `ferry verify` found a problem (a blob, manifest, platform or signature)",
  Interrupted: "interrupted (SIGINT/SIGTERM); nothing is left under a final name",
};

/** Prose for Markdown: `<arch>` would be read as an HTML tag. */
function prose(text: string): string {
  return text.replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** A table cell: pipes escaped (also inside code spans, as GitHub's tables require). */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function flagName(name: string, flag: FlagSpec): string {
  const value = flag.type === "string" ? ` ${flag.value ?? "VALUE"}` : "";
  return `${flag.short ? `-${flag.short}, ` : ""}--${name}${value}`;
}

function flagTable(flags: Record<string, FlagSpec>): string[] {
  return [
    "| Flag | Meaning |",
    "|---|---|",
    ...Object.entries(flags).map(([name, flag]) =>
      `| \`${cell(flagName(name, flag))}\` | ${cell(prose(flag.description))}${flag.multiple ? " (repeatable)" : ""} |`
    ),
  ];
}

function commandSection(command: Command): string[] {
  const aliases = command.aliases?.length ? ` (alias ${command.aliases.map((a) => `\`${a}\``).join(", ")})` : "";
  const usage = command.usage.split("\n").map((line) => line.trim());
  return [
    `### \`ferry ${command.name}\`${aliases}`,
    "",
    prose(`${command.summary}.`).replace(/\.\.$/, "."),
    "",
    "```",
    ...usage,
    "```",
    "",
    ...(Object.keys(command.flags).length ? flagTable(command.flags) : ["No flags of its own."]),
    "",
  ];
}

/** The CLI reference: one section per command of the table, in `ferry --help` order, then the global flags. */
export function renderCliReference(): string {
  return [
    "`ferry --help` lists the commands, `ferry COMMAND --help` a command's flags, `ferry --version` the version.",
    "Every command also takes these flags:",
    "",
    ...flagTable(globalFlags),
    "",
    ...commands.flatMap(commandSection),
  ].join("\n").trimEnd();
}

/** The exit-code table, one row per value of `ExitCode` plus 0. */
export function renderExitCodes(): string {
  const rows = Object.entries(ExitCode).map(([name, code]) => {
    const meaning = EXIT_MEANINGS[name as keyof typeof ExitCode];
    if (!meaning) throw new Error(`Cannot document exit code ${name} (${code}): add it to EXIT_MEANINGS`);
    return `| ${code} | \`${name}\` | ${cell(meaning)} |`;
  });
  return ["| Code | `ExitCode` | Meaning |", "|---|---|---|", "| 0 | | success |", ...rows].join("\n");
}

/** Every generated section, by marker name. */
export function generatedSections(): Record<string, string> {
  return { cli: renderCliReference(), "exit-codes": renderExitCodes() };
}

/** `readme` with every marked section replaced by its generated text; throws when a marker pair is missing. */
export function updateReadme(readme: string): string {
  let out = readme;
  for (const [name, body] of Object.entries(generatedSections())) {
    const begin = `<!-- BEGIN GENERATED: ${name} (scripts/gen_cli_reference.ts; do not edit by hand) -->`;
    const end = `<!-- END GENERATED: ${name} -->`;
    const start = out.indexOf(begin);
    const stop = out.indexOf(end);
    if (start < 0 || stop < start) throw new Error(`Cannot update README.md: no "${begin}" … "${end}" section`);
    out = `${out.slice(0, start + begin.length)}\n${body}\n${out.slice(stop)}`;
  }
  return out;
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  const readme = await readFile(path, "utf8");
  const updated = updateReadme(readme);
  if (process.argv.includes("--check")) {
    if (updated !== readme) {
      console.error("README.md is stale: run `bun scripts/gen_cli_reference.ts`");
      process.exit(1);
    }
  } else if (updated !== readme) {
    await writeFile(path, updated);
    console.log("README.md: CLI reference and exit codes regenerated");
  }
}
