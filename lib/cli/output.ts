/**
 * The only code that writes to the terminal: lines to stdout/stderr, and progress on stderr in the mode
 * `--progress` chose (lib/cli/progress/: a live display on a TTY, plain lines for logs, JSON lines for tools).
 *
 * @module
 */
import process from "node:process";
import type { CopyEvent } from "../engine/copy_graph.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { UsageError } from "../errors.ts";
import { env } from "../runtime.ts";
import { JsonRenderer } from "./progress/json.ts";
import { PlainRenderer } from "./progress/plain.ts";
import { Tracker } from "./progress/tracker.ts";
import { TtyRenderer } from "./progress/tty.ts";

export { formatBytes } from "./progress/format.ts";

/** skopeo's and crane's line for a non-distributable layer left out of a copy. */
export function foreignLayerLine(desc: Descriptor): string {
  return `Skipping foreign layer ${desc.digest} (${desc.mediaType})`;
}

/**
 * One line for the referrers a verb carried: `4 referrers (signatures, attestations, SBOMs): 1 application/spdx+json, …`.
 */
export function referrersLine(referrers: { artifactType?: string }[]): string {
  const counts = new Map<string, number>();
  for (const r of referrers) {
    counts.set(r.artifactType ?? "unknown type", (counts.get(r.artifactType ?? "unknown type") ?? 0) + 1);
  }
  const kinds = [...counts].map(([type, n]) => `${n} ${type}`).join(", ");
  return `${referrers.length} ${
    referrers.length === 1 ? "referrer" : "referrers"
  } (signatures, attestations, SBOMs): ${kinds}`;
}

/** A copy's onEvent for the CLI: the progress board's (if any), plus one stderr line per foreign layer left out. */
export function reportCopy(
  progress: ((event: CopyEvent) => void) | undefined,
  warn: (text: string) => void,
): (event: CopyEvent) => void {
  const told = new Set<string>();
  return (event) => {
    if (event.type === "foreign" && !told.has(event.desc.digest)) {
      told.add(event.desc.digest);
      warn(foreignLayerLine(event.desc));
    }
    progress?.(event);
  };
}

/** `--progress` values. */
export const PROGRESS_MODES = ["auto", "tty", "plain", "json", "none"] as const;
/** How progress is shown: `auto` is `tty` on a terminal, else `plain`. */
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/**
 * The mode of a run: `--progress`, else `FERRY_PROGRESS`, else auto; `--quiet` is none, and so is auto with
 * `--json` (the result document on stdout is for a program).
 */
export function progressModeOf(
  flag: unknown,
  options: { quiet?: boolean; json?: boolean; tty?: boolean; env?: string } = {},
): Exclude<ProgressMode, "auto"> {
  const check = (value: string, what: string): ProgressMode => {
    if ((PROGRESS_MODES as readonly string[]).includes(value)) return value as ProgressMode;
    throw new UsageError(`Cannot parse ${what} "${value}": expected ${PROGRESS_MODES.join(", ")}`);
  };
  if (options.quiet) return "none";
  const given = typeof flag === "string"
    ? check(flag, "--progress")
    : options.env
    ? check(options.env, "FERRY_PROGRESS")
    : "auto";
  if (given !== "auto") return given;
  if (options.json) return "none";
  return options.tty ? "tty" : "plain";
}

/** Terminal output of one CLI run. */
export class Output {
  /** What the run's progress displays draw from. */
  readonly tracker = new Tracker();
  #tty?: TtyRenderer;
  #plain?: PlainRenderer;
  #json?: JsonRenderer;
  #ended = false;

  /** Starts showing progress in `mode` (`auto` resolved by {@link progressModeOf}). */
  start(mode: Exclude<ProgressMode, "auto">) {
    const line = (text: string) => process.stderr.write(`${text}\n`);
    if (mode === "tty") {
      const noColor = env("NO_COLOR");
      this.#tty = new TtyRenderer(this.tracker, {
        write: (t) => process.stderr.write(t),
        size: terminalSize,
        color: !noColor && env("TERM") !== "dumb",
      });
    } else if (mode === "plain") this.#plain = new PlainRenderer(this.tracker, { line });
    else if (mode === "json") this.#json = new JsonRenderer(this.tracker, line);
  }

  /** Ends progress: the TTY display's final frame stays, plain and json print their summary. */
  end(ok: boolean) {
    if (this.#ended) return;
    this.#ended = true;
    if (!ok) this.tracker.stopAll();
    this.#tty?.end();
    this.#plain?.end();
    this.#json?.end(ok);
    this.#tty = undefined;
  }

  /** Writes around the live display: cleared and drawn again below, or (all tasks finished) left as it is. */
  #around(write: () => void) {
    const tty = this.#tty;
    if (!tty) return write();
    if (this.tracker.tasks.size > 0 && this.tracker.idle) {
      tty.end();
      this.#tty = undefined;
      return write();
    }
    tty.pause();
    write();
    tty.render();
  }

  /** A line to stdout. */
  print(text: string) {
    this.#around(() => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`));
  }

  /** Exact bytes to stdout, no newline added. */
  write(data: Uint8Array) {
    this.#around(() => process.stdout.write(data));
  }

  /** A line to stderr. */
  warn(text: string) {
    this.#around(() => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`));
  }
}

function terminalSize(): { columns: number; rows: number } {
  const stream = process.stderr as { columns?: number; rows?: number };
  return {
    columns: stream.columns || Number(env("COLUMNS")) || 80,
    rows: stream.rows || Number(env("LINES")) || 24,
  };
}
