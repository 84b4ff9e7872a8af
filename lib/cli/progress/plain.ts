/**
 * Progress for logs (stderr not a terminal, `--progress plain`): a line when each task and blob starts and ends,
 * and every `intervalMs` a line for each blob or file still moving. Nothing is redrawn.
 *
 * @module
 */
import { formatBytes, formatDuration, formatElapsed, formatPair, formatRate, shortDigest } from "./format.ts";
import { isHidden, type Task, taskRate, type Tracker, type TrackerEvent } from "./tracker.ts";

/** Options of {@link PlainRenderer}. */
export interface PlainOptions {
  /** One line (no newline). */
  line(text: string): void;
  /** How often a line is printed for a blob or file still moving (default 10 s). */
  intervalMs?: number;
  /** How often that is checked (default 1 s); 0: only on {@link PlainRenderer.tick} (tests). */
  tickMs?: number;
}

/** Prints a {@link Tracker}'s changes as lines. */
export class PlainRenderer {
  readonly #last = new Map<string, number>();
  #timer?: ReturnType<typeof setInterval>;
  readonly #interval: number;

  constructor(readonly tracker: Tracker, readonly options: PlainOptions) {
    this.#interval = options.intervalMs ?? 10_000;
    tracker.listen((e) => this.#on(e));
    const tick = options.tickMs ?? 1000;
    if (tick > 0) {
      this.#timer = setInterval(() => this.tick(), tick);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #on(e: TrackerEvent) {
    const { task } = e;
    const name = task.label;
    const now = this.tracker.now();
    switch (e.type) {
      case "plan":
        if (isHidden(this.tracker, task)) return;
        this.#last.set(task.id, now);
        if (task.kind === "file") {
          this.options.line(
            `${name}: writing ${task.path ?? ""} (${formatBytes(task.total)})`.replace(" writing  (", " writing ("),
          );
        } else {
          this.options.line(
            `${name}: copying ${task.blobs} blob${task.blobs === 1 ? "" : "s"}, ${formatBytes(task.total)}`,
          );
        }
        return;
      case "blob-start":
        this.#last.set(`${task.id}\0${e.blob.digest}`, now);
        this.options.line(`${name}: blob ${shortDigest(e.blob.digest)} (${formatBytes(e.blob.size)}) started`);
        return;
      case "blob-end": {
        this.#last.delete(`${task.id}\0${e.blob.digest}`);
        const what = `${e.blob.manifest ? "manifest" : "blob"} ${shortDigest(e.blob.digest)}`;
        if (e.how === "skipped") this.options.line(`${name}: ${what} already present`);
        else if (e.how === "mounted") this.options.line(`${name}: ${what} mounted (${formatBytes(e.blob.size)})`);
        else if (e.blob.manifest) this.options.line(`${name}: ${what} written`);
        else {
          const seconds = (now - e.blob.startedAt) / 1000;
          this.options.line(`${name}: ${what} done (${formatBytes(e.blob.size)} in ${formatElapsed(seconds)})`);
        }
        return;
      }
      case "task-end":
        this.#last.delete(task.id);
        // A mirror image's line is the command's own (on stdout).
        if (!isHidden(this.tracker, task) && !task.printed) this.options.line(endLine(task, now));
        return;
    }
  }

  /** Prints a line for each blob and file that has gone `intervalMs` without one. */
  tick() {
    const now = this.tracker.now();
    for (const task of this.tracker.tasks.values()) {
      if (task.status !== "running") continue;
      if (task.kind === "file") {
        const last = this.#last.get(task.id) ?? task.startedAt ?? now;
        if (now - last < this.#interval) continue;
        this.#last.set(task.id, now);
        const rate = taskRate(task, now);
        const eta = rate ? `, ETA ${formatDuration((task.total - task.done) / rate)}` : "";
        this.options.line(
          `${task.label}: ${formatPair(task.done, task.total)} (${percent(task.done, task.total)})${
            rate ? `, ${formatRate(rate)}` : ""
          }${eta}`,
        );
        continue;
      }
      for (const blob of task.inFlight.values()) {
        const key = `${task.id}\0${blob.digest}`;
        if (now - (this.#last.get(key) ?? blob.startedAt) < this.#interval) continue;
        this.#last.set(key, now);
        const seconds = (now - blob.startedAt) / 1000;
        const rate = seconds > 0 ? `, ${formatRate(blob.bytes / seconds)}` : "";
        this.options.line(
          `${task.label}: blob ${shortDigest(blob.digest)} ${formatPair(blob.bytes, blob.size)} (${
            percent(blob.bytes, blob.size)
          })${rate}`,
        );
      }
    }
  }

  /** The summary line; stops the timer. */
  end() {
    if (this.#timer) clearInterval(this.#timer);
    if (this.tracker.tasks.size === 0) return;
    const t = this.tracker.totals();
    const seconds = (this.tracker.now() - this.tracker.startedAt) / 1000;
    const rate = seconds > 0 && t.moved > 0 ? ` (${formatRate(t.moved / seconds)})` : "";
    const present = t.present > 0 ? `, ${formatBytes(t.present)} already present` : "";
    this.options.line(`total: ${formatBytes(t.moved)} moved${present} in ${formatElapsed(seconds)}${rate}`);
  }
}

function percent(done: number, total: number): string {
  return `${total > 0 ? Math.floor((done / total) * 100) : 100}%`;
}

function endLine(task: Task, now: number): string {
  const seconds = ((task.endedAt ?? now) - (task.startedAt ?? now)) / 1000;
  switch (task.status) {
    case "present":
      return `${task.label}: already present (${formatBytes(task.total)})`;
    case "failed":
    case "stopped":
    case "skipped":
      return `${task.label}: ${task.status}${task.detail ? `: ${task.detail}` : ""}`;
    default: {
      const rate = seconds > 0 && task.moved > 0 ? `, ${formatRate(task.moved / seconds)}` : "";
      if (task.kind === "file") {
        return `${task.label}: wrote ${task.path ?? ""} (${formatBytes(task.total)}) in ${
          formatElapsed(seconds)
        }${rate}`
          .replace("wrote  (", "wrote (");
      }
      const present = task.present > 0 ? `, ${formatBytes(task.present)} already present` : "";
      return `${task.label}: done, ${formatBytes(task.moved)} moved${present} in ${formatElapsed(seconds)}${rate}`;
    }
  }
}
