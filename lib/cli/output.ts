/**
 * The only code that writes to the terminal: lines to stdout/stderr and a one-line progress board on a TTY.
 *
 * @module
 */
import process from "node:process";
import type { CopyEvent } from "../engine/copy_graph.ts";
import type { Descriptor } from "../oci/descriptor.ts";

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** skopeo's and crane's line for a non-distributable layer left out of a copy. */
export function foreignLayerLine(desc: Descriptor): string {
  return `Skipping foreign layer ${desc.digest} (${desc.mediaType})`;
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

interface Lane {
  done: number;
  total: number;
  blobs: number;
  inFlight: Map<string, number>;
}

/**
 * Renders copy events of one or more lanes (one per platform in an export) as a single status line on
 * stderr, at most ten times a second, and clears it when done.
 */
export class ProgressBoard {
  readonly #lanes = new Map<string, Lane>();
  #last = 0;
  #shown = false;
  constructor(readonly write: (text: string) => void) {}

  /** An onEvent callback for `label`. */
  lane(label: string): (event: CopyEvent) => void {
    const lane: Lane = { done: 0, total: 0, blobs: 0, inFlight: new Map() };
    this.#lanes.set(label, lane);
    return (event) => {
      switch (event.type) {
        case "start":
          lane.total += event.desc.size;
          lane.inFlight.set(event.desc.digest, 0);
          break;
        case "progress":
          lane.done += event.bytes - (lane.inFlight.get(event.desc.digest) ?? 0);
          lane.inFlight.set(event.desc.digest, event.bytes);
          break;
        case "copied":
        case "skipped":
        case "mounted":
          lane.inFlight.delete(event.desc.digest);
          lane.blobs++;
          break;
      }
      this.#render(false);
    };
  }

  /** Sets a lane's byte counts directly (file-level progress, e.g. one export file per platform). */
  set(label: string, done: number, total: number) {
    const lane = this.#lanes.get(label) ?? { done: 0, total: 0, blobs: 0, inFlight: new Map() };
    lane.done = done;
    lane.total = total;
    this.#lanes.set(label, lane);
    this.#render(false);
  }

  #render(force: boolean) {
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const parts = [...this.#lanes].map(([label, l]) => `${label} ${formatBytes(l.done)}/${formatBytes(l.total)}`);
    this.write(`\r\x1b[K${parts.join("  ")}`);
    this.#shown = true;
  }

  /** Clears the status line. */
  end() {
    if (this.#shown) this.write("\r\x1b[K");
    this.#shown = false;
  }
}

/** Terminal output of one CLI run. */
export class Output {
  readonly board?: ProgressBoard;
  constructor(options: { progress: boolean }) {
    const tty = Boolean(process.stderr.isTTY);
    if (options.progress && tty) this.board = new ProgressBoard((t) => process.stderr.write(t));
  }

  /** A line to stdout. */
  print(text: string) {
    this.board?.end();
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** Exact bytes to stdout, no newline added. */
  write(data: Uint8Array) {
    this.board?.end();
    process.stdout.write(data);
  }

  /** A line to stderr. */
  warn(text: string) {
    this.board?.end();
    process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
  }
}
