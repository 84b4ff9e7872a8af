/**
 * The live display on a terminal: one line per task (platform, image, file) with a bar, bytes done/total, rate and
 * ETA, and a total line, redrawn in place ten times a second. Every line is cut to the terminal's width (read at each
 * redraw, so a resize is followed); after a narrowing, the rows the terminal re-wrapped the last frame into are
 * cleared too. At most the terminal's height minus one rows: the rest of the tasks are counted in one line.
 *
 * @module
 */
import {
  formatBytes,
  formatDuration,
  formatElapsed,
  formatPair,
  formatRate,
  truncate,
  truncateStart,
  visibleLength,
} from "./format.ts";
import { isFinished, isHidden, type Task, taskRate, type Tracker } from "./tracker.ts";

/** Options of {@link TtyRenderer}. */
export interface TtyOptions {
  write(text: string): void;
  /** The terminal's size now. */
  size(): { columns: number; rows: number };
  /** ANSI colours (off with NO_COLOR). */
  color: boolean;
  /** Redraw interval; 0: only on {@link TtyRenderer.render} (tests). */
  intervalMs?: number;
}

const ESC = "\x1b[";

/** Draws a {@link Tracker} on a terminal. */
export class TtyRenderer {
  /** The lines of the frame on screen (no escapes), and the width they were fitted to. */
  #drawn: string[] = [];
  #timer?: ReturnType<typeof setInterval>;
  #ended = false;

  constructor(readonly tracker: Tracker, readonly options: TtyOptions) {
    const interval = options.intervalMs ?? 100;
    if (interval > 0) {
      this.#timer = setInterval(() => this.render(), interval);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  /** Redraws the frame in place. */
  render(final = false) {
    if (this.#ended) return;
    const { columns, rows } = this.options.size();
    const width = Math.max(1, columns - 1);
    const lines = this.frame(width, final ? Infinity : Math.max(1, rows - 1));
    if (lines.length === 0 && this.#drawn.length === 0) return;
    let out = this.#erase(columns);
    for (const line of lines) out += `\r${ESC}2K${this.#paint(line)}\n`;
    out += `${ESC}J`;
    this.options.write(out);
    this.#drawn = lines;
  }

  /** Clears the frame (before other output); the next render draws it again below. */
  pause() {
    if (this.#drawn.length === 0) return;
    this.options.write(`${this.#erase(this.options.size().columns)}${ESC}J`);
    this.#drawn = [];
  }

  /** Draws the final frame (every task, however many) and leaves it; a frame of only a total line is cleared. */
  end() {
    if (this.#ended) return;
    if (this.#timer) clearInterval(this.#timer);
    const visible = [...this.tracker.tasks.values()].filter((t) => !isHidden(this.tracker, t, true));
    if (visible.length === 0) this.pause();
    else this.render(true);
    this.#ended = true;
  }

  /** Cursor up over the rows the last frame takes now (re-wrapped at `columns` by a terminal that reflows). */
  #erase(columns: number): string {
    let rows = 0;
    for (const line of this.#drawn) rows += Math.max(1, Math.ceil(visibleLength(line) / columns));
    return rows > 0 ? `\r${ESC}${rows}A` : "\r";
  }

  #paint(line: string): string {
    if (!this.options.color) return line;
    return line
      .replace(/^✓/, `${ESC}32m✓${ESC}0m`)
      .replace(/^✗/, `${ESC}31m✗${ESC}0m`)
      .replace(/\[(=*>?)( *)\]/, `[${ESC}36m$1${ESC}0m$2]`)
      .replace(/ (queued)( |$)/, ` ${ESC}2m$1${ESC}0m$2`);
  }

  /** The frame's lines, each at most `width` columns, at most `maxRows` of them. */
  frame(width: number, maxRows: number): string[] {
    const now = this.tracker.now();
    const final = maxRows === Infinity;
    const tasks = [...this.tracker.tasks.values()].filter((t) => !isHidden(this.tracker, t, final));
    const showTotal = tasks.length > 1 || (final && tasks.length === 0 && this.tracker.tasks.size > 0);
    const labelWidth = Math.min(
      Math.max(0, ...tasks.map((t) => visibleLength(t.label))),
      Math.max(8, Math.floor(width * 0.4)),
    );
    let shown = tasks;
    let more = "";
    const room = maxRows - (showTotal ? 1 : 0);
    if (tasks.length > room) {
      // Running first, then queued, then finished; one row says what is left out.
      const order = (t: Task) => (t.status === "running" ? 0 : t.status === "queued" ? 1 : 2);
      const sorted = [...tasks].sort((a, b) => order(a) - order(b));
      shown = sorted.slice(0, Math.max(0, room - 1));
      const rest = sorted.slice(shown.length);
      const done = rest.filter((t) => isFinished(t.status)).length;
      const queued = rest.filter((t) => t.status === "queued").length;
      const running = rest.length - done - queued;
      more = `… ${rest.length} more: ${
        [running && `${running} running`, queued && `${queued} queued`, done && `${done} finished`]
          .filter(Boolean).join(", ")
      }`;
      shown = tasks.filter((t) => shown.includes(t)); // back in their order
    }
    const lines = shown.map((t) => taskLine(t, labelWidth, width, now));
    if (more && room > 0) lines.push(truncate(more, width));
    if (showTotal) lines.push(totalLine(this.tracker, width, now, final, labelWidth));
    return lines.slice(0, maxRows === Infinity ? undefined : maxRows);
  }
}

/** One task's line, fitted to `width`. */
export function taskLine(task: Task, labelWidth: number, width: number, now: number): string {
  const label = truncateStart(task.label, labelWidth).padEnd(labelWidth);
  const elapsed = ((task.endedAt ?? now) - (task.startedAt ?? now)) / 1000;
  switch (task.status) {
    case "queued":
      return fit([`  ${label}`, "queued", task.total ? formatBytes(task.total) : ""], [], width);
    case "running": {
      const rate = taskRate(task, now);
      const eta = rate && rate > 0 ? `ETA ${formatDuration((task.total - task.done) / rate)}` : "";
      const blobs = task.kind === "copy" && task.blobs > 1 ? `${task.blobsDone}/${task.blobs} blobs` : "";
      return withBar(
        `  ${label}`,
        [formatPair(task.done, task.total)],
        [rate ? formatRate(rate) : "", eta, blobs],
        task,
        width,
      );
    }
    case "done": {
      const rate = elapsed > 0 && task.moved > 0 ? formatRate(task.moved / elapsed) : "";
      const present = task.present > 0 ? `${formatBytes(task.present)} present` : "";
      return fit(
        [`✓ ${label}`, "done", formatBytes(task.total)],
        [`in ${formatElapsed(elapsed)}`, rate, present],
        width,
      );
    }
    case "present":
      return fit([`✓ ${label}`, "already present", formatBytes(task.total)], [], width);
    case "skipped":
      return fit([`  ${label}`, "skipped"], [task.detail ?? ""], width);
    case "failed":
    case "stopped":
      return fit([`✗ ${label}`, task.status, `at ${formatPair(task.done, task.total)}`], [task.detail ?? ""], width);
  }
}

/** The total line: tasks finished, bytes, rate and ETA; at the end, what moved in how long. */
export function totalLine(tracker: Tracker, width: number, now: number, final: boolean, labelWidth = 5): string {
  const label = `  ${"total".padEnd(labelWidth)}`;
  const t = tracker.totals();
  const visible = [...tracker.tasks.values()].filter((task) => !isHidden(tracker, task) || task.printed);
  t.tasks = visible.length;
  t.finished = visible.filter((task) => isFinished(task.status)).length;
  const elapsed = (now - tracker.startedAt) / 1000;
  if (final || tracker.idle) {
    const rate = elapsed > 0 && t.moved > 0 ? formatRate(t.moved / elapsed) : "";
    const present = t.present > 0 ? `${formatBytes(t.present)} already present` : "";
    return fit([label, `${t.finished}/${t.tasks} finished`, `${formatBytes(t.moved)} moved`], [
      `in ${formatElapsed(elapsed)}`,
      rate,
      present,
    ], width);
  }
  const rate = tracker.meter.rate(now) ?? (elapsed > 0.5 ? t.moved / elapsed : undefined);
  const eta = rate && rate > 0 ? `ETA ${formatDuration((t.total - t.done) / rate)}` : "";
  const pseudo = { total: t.total, done: t.done } as Task;
  return withBar(
    label,
    [formatPair(t.done, t.total)],
    [
      rate ? formatRate(rate) : "",
      eta,
      `${t.finished}/${t.tasks} done`,
      `${formatDuration(elapsed)}`,
    ],
    pseudo,
    width,
  );
}

/** `head` pieces always (cut if they must be), then as many `extra` pieces as fit. */
function fit(head: string[], extra: string[], width: number): string {
  let line = head.filter(Boolean).join("  ");
  for (const piece of extra) {
    if (piece && visibleLength(line) + 2 + visibleLength(piece) <= width) line += `  ${piece}`;
  }
  return truncate(line, width);
}

/** `start [bar] pieces extras`: the bar takes what room is left (none below 7 columns). */
function withBar(
  start: string,
  pieces: string[],
  extra: string[],
  task: Pick<Task, "done" | "total">,
  width: number,
): string {
  const text = fit([start, ...pieces], extra, width);
  const room = width - visibleLength(text) - 2;
  if (room < 7) return text;
  const inner = Math.min(room, 40) - 2;
  const ratio = task.total > 0 ? Math.min(1, task.done / task.total) : 0;
  const full = Math.floor(ratio * inner);
  const bar = `[${"=".repeat(full)}${full < inner ? ">" : ""}${" ".repeat(Math.max(0, inner - full - 1))}]`;
  const at = visibleLength(start);
  return truncate(`${text.slice(0, at)}  ${bar}${text.slice(at)}`, width);
}
