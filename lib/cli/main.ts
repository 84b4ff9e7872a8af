/**
 * The CLI: the command table, global flags, SIGINT → abort, every error → one line and its exit code.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { AbortError, exitCodeOf, formatError, UsageError } from "../errors.ts";
import { collectGarbageWhileStreaming, onSignal } from "../runtime.ts";
import { VERSION } from "../version.ts";
import type { Command, FlagSpec, ParsedArgs } from "./command.ts";
import { buildCommand } from "./commands/build.ts";
import { copyCommand } from "./commands/copy.ts";
import { demoCommand } from "./commands/demo.ts";
import { exportCommand } from "./commands/export.ts";
import { importCommand } from "./commands/import.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { loginCommand } from "./commands/login.ts";
import { logoutCommand } from "./commands/logout.ts";
import { mirrorCommand } from "./commands/mirror.ts";
import { manifestCommand } from "./commands/manifest.ts";
import { serveCommand } from "./commands/serve.ts";
import { splitCommand } from "./commands/split.ts";
import { verifyCommand } from "./commands/verify.ts";
import { credentialWarnings, takeBooleanValues } from "./flags.ts";
import { completionCommand } from "./commands/completion.ts";
import { lsCommand } from "./commands/ls.ts";
import { rmCommand } from "./commands/rm.ts";
import { receiptCommand } from "./commands/receipt.ts";
import { closestName, translateArgs, understoodBy, unknownFlagHint } from "./compat.ts";
import { Output, progressModeOf } from "./output.ts";
import { env } from "../runtime.ts";

/** Every subcommand, in the order `ferry --help` lists them. */
export const commands: Command[] = [
  copyCommand,
  exportCommand,
  importCommand,
  inspectCommand,
  verifyCommand,
  lsCommand,
  rmCommand,
  splitCommand,
  manifestCommand,
  mirrorCommand,
  receiptCommand,
  serveCommand,
  buildCommand,
  loginCommand,
  logoutCommand,
  demoCommand,
  completionCommand(() => ({ commands, globalFlags })),
];

/** The location forms, for the help of the commands that take images. */
export const LOCATION_FORMS: [string, string][] = [
  ["HOST/REPO[:TAG|@DIGEST]", "a registry (also docker://HOST/REPO:TAG); Docker Hub names work: alpine:3"],
  ["oci:DIR[:TAG]", "an OCI image layout directory"],
  ["oci-archive:FILE[:TAG]", "an OCI layout in a tar (or .tar.gz)"],
  ["docker-archive:FILE[:REF]", "a docker save / docker load tarball"],
  ["docker-daemon:REF", "the local Docker engine (destination of import/copy)"],
];

/** Flags every command takes (listed in each command's help and in the README's CLI reference). */
export const globalFlags: Record<string, FlagSpec> = {
  help: { type: "boolean", short: "h", description: "Show help" },
  quiet: { type: "boolean", short: "q", description: "No progress output (--progress none)" },
  progress: {
    type: "string",
    value: "MODE",
    description:
      "auto (default: tty on a terminal, else plain), tty, plain (lines for logs), json (events on stderr), none",
  },
  debug: { type: "boolean", description: "Print the error chain on failure" },
};

/** Finds a command by name or alias. */
export function findCommand(name: string): Command | undefined {
  return commands.find((c) => c.name === name || c.aliases?.includes(name));
}

/** The top-level help text. */
export function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `ferry ${VERSION}: carry multi-arch container images between registries, files and air-gapped hosts`,
    "",
    "usage: ferry COMMAND [flags] ...",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'ferry COMMAND --help' for a command's flags.",
  ].join("\n");
}

/** The help text of one command. */
export function commandHelp(command: Command): string {
  const flags = { ...command.flags, ...globalFlags };
  const rows = Object.entries(flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`;
    return [left, f.description + (f.multiple ? " (repeatable)" : "")];
  });
  const understood = understoodBy(command).map(([l, r]) => [`    ${l}`, r]);
  const width = Math.max(...rows.map(([l]) => l.length), ...understood.map(([l]) => l.length));
  const takesLocations = command.locations ??
    ["copy", "export", "import", "inspect", "mirror", "split"].includes(command.name);
  const formWidth = Math.max(...LOCATION_FORMS.map(([f]) => f.length));
  return [
    `${command.summary}`,
    "",
    `usage: ${command.usage}`,
    ...(command.aliases?.length ? [`aliases: ${command.aliases.join(", ")}`] : []),
    ...(command.examples?.length ? ["", "examples:", ...command.examples.map((e) => `  ${e}`)] : []),
    ...(takesLocations ? ["", "locations:", ...LOCATION_FORMS.map(([f, d]) => `  ${f.padEnd(formWidth)}  ${d}`)] : []),
    "",
    "flags:",
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`),
    ...(understood.length
      ? ["", "also understood (other tools' flags):", ...understood.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`)]
      : []),
  ].join("\n");
}

function closest(name: string): string | undefined {
  return closestName(name, commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]));
}

function parse(command: Command, argv: string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries({ ...command.flags, ...globalFlags }).map(([name, f]) => [
      name,
      { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) },
    ]),
  );
  const booleans = new Set(Object.entries(options).filter(([, o]) => o.type === "boolean").map(([n]) => n));
  const taken = takeBooleanValues(translateArgs(command, argv), booleans); // --retry-times N, --tls-verify=false
  try {
    const { values, positionals } = parseArgs({ args: taken.argv, options, allowPositionals: true, strict: true });
    return { values: { ...values, ...taken.values } as ParsedArgs["values"], positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const message = (err as Error).message.replace(/\.? ?To specify a positional argument.*$/s, "");
    const unknown = /Unknown option '([^']+)'/.exec(message)?.[1];
    const hint = unknown ? unknownFlagHint(command, unknown, { ...command.flags, ...globalFlags }) : undefined;
    throw new UsageError(
      `Cannot parse arguments: ${message}${hint ? `; ${hint}` : ""} (see 'ferry ${command.name} --help')`,
    );
  }
}

/**
 * Runs the CLI with `argv` (without the program name) and returns the exit code.
 *
 * @example
 * ```ts
 * const code = await main(["copy", "127.0.0.1:5000/app:1.0", "oci:out"]);
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  const stopListening = onSignal(() => controller.abort(new AbortError()));
  collectGarbageWhileStreaming();
  let debug = argv.includes("--debug");
  const out = new Output();
  try {
    const [first, ...rest] = argv;
    if (first === undefined || first === "help" || first === "--help" || first === "-h") {
      const topic = first === "help" && rest[0] ? findCommand(rest[0]) : undefined;
      out.print(topic ? commandHelp(topic) : mainHelp());
      return 0;
    }
    if (first === "--version" || first === "version" || first === "-v") {
      out.print(`ferry ${VERSION}`);
      return 0;
    }
    const command = findCommand(first);
    if (!command) {
      const hint = closest(first);
      throw new UsageError(
        `Cannot run "${first}": unknown command${hint ? `; did you mean "${hint}"?` : ""} (see 'ferry --help')`,
      );
    }
    const args = parse(command, rest);
    debug = args.values.debug === true;
    if (args.values.help) {
      out.print(commandHelp(command));
      return 0;
    }
    for (const warning of credentialWarnings(args)) out.warn(warning);
    out.start(progressModeOf(args.values.progress, {
      quiet: args.values.quiet === true,
      json: args.values.json === true,
      tty: Boolean(process.stderr.isTTY),
      env: env("FERRY_PROGRESS"),
    }));
    const tracker = out.tracker;
    await command.run(args, {
      signal: controller.signal,
      print: (t) => out.print(t),
      write: (data) => out.write(data),
      warn: (t) => out.warn(t),
      tracker,
      progress: (label) => tracker.copyFeed({ task: label, byPlatform: true }),
      fileProgress: (label, done, total) => {
        const file = tracker.file(label);
        if (done >= total && total > 0) file.end(total);
        else file.progress(done, total);
      },
    });
    out.end(true);
    return 0;
  } catch (err) {
    out.end(false);
    out.warn(formatError(controller.signal.aborted ? new AbortError() : err));
    if (debug && err instanceof Error) out.warn(String(err.stack ?? err));
    return exitCodeOf(controller.signal.aborted ? new AbortError() : err);
  } finally {
    stopListening();
  }
}
