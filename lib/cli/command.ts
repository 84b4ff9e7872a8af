/**
 * The shape of one CLI subcommand: its flags (also the source of the README's CLI reference) and its run().
 *
 * @module
 */
import type { CopyEvent } from "../engine/copy_graph.ts";
import type { Tracker } from "./progress/tracker.ts";

/** One flag of a command, as node:util parseArgs takes it plus a description for help. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Placeholder for the value in help, e.g. `OS/ARCH`. */
  value?: string;
  description: string;
}

/** What a command gets to talk to the outside world. */
export interface CommandIo {
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** A line to stdout. */
  print(text: string): void;
  /** Exact bytes to stdout, nothing added (`inspect --raw`). */
  write(data: Uint8Array): void;
  /** A line to stderr. */
  warn(text: string): void;
  /** The run's progress state (tasks queued, files, results), drawn in the --progress mode. */
  tracker: Tracker;
  /** A handler of copy events, shown one task per platform (under `label` when there is none). */
  progress(label: string): ((event: CopyEvent) => void) | undefined;
  /** Byte progress of one output file (done when `done` reaches `total`). */
  fileProgress(label: string, done: number, total: number): void;
}

/** Parsed arguments handed to a command. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** One subcommand of the ferry CLI. */
export interface Command {
  name: string;
  aliases?: string[];
  /** `ferry copy [flags] SRC DST` */
  usage: string;
  /** One sentence for the command list. */
  summary: string;
  /** 2-3 command lines shown under "examples:" in its help. */
  examples?: string[];
  /** Whether it takes image locations (its help lists the forms). */
  locations?: boolean;
  flags: Record<string, FlagSpec>;
  run(args: ParsedArgs, io: CommandIo): Promise<void>;
}
