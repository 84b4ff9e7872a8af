/**
 * `--progress json`: one JSON object per line on stderr, for tools. Every object has `type` and `t` (seconds since
 * the start); blob events carry `task`, `digest`, `size` and `kind` (`blob` or `manifest`):
 *
 * - `{"type":"task","status":"queued"|"done"|"present"|"failed"|"skipped"|"stopped",…}` a task (platform, image,
 *   file) queued or ended, with `total`, `moved`, `present` bytes (and `path`, `detail` where there are);
 * - `{"type":"plan","task","total","blobs"}` a task's bytes and blobs, before its first blob moves;
 * - `{"type":"start"}`, `{"type":"progress","bytes"}` (at most twice a second per blob or file),
 *   `{"type":"copied"|"skipped"|"mounted"}` per blob; the `size` of the `copied` blobs sums to the bytes moved;
 * - `{"type":"summary","ok","total","moved","present","seconds"}` last.
 *
 * @module
 */
import { isHidden, type Task, type Tracker, type TrackerEvent } from "./tracker.ts";

/** Prints a {@link Tracker}'s changes as JSON lines. */
export class JsonRenderer {
  readonly #last = new Map<string, number>();

  constructor(readonly tracker: Tracker, readonly line: (text: string) => void) {
    tracker.listen((e) => this.#on(e));
  }

  #out(value: Record<string, unknown>) {
    const t = Math.round(this.tracker.now() - this.tracker.startedAt) / 1000;
    this.line(JSON.stringify({ ...value, t }));
  }

  #on(e: TrackerEvent) {
    const task = e.task.label;
    switch (e.type) {
      case "queued":
        this.#out({ type: "task", status: "queued", task, total: e.task.total, ...where(e.task) });
        return;
      case "plan":
        if (isHidden(this.tracker, e.task)) return;
        this.#out({ type: "plan", task, total: e.task.total, blobs: e.task.blobs, ...where(e.task) });
        return;
      case "blob-start":
        this.#out({ type: "start", task, digest: e.blob.digest, size: e.blob.size, kind: "blob" });
        return;
      case "blob-progress": {
        const key = `${e.task.id}\0${e.blob.digest}`;
        if (!this.#due(key)) return;
        this.#out({ type: "progress", task, digest: e.blob.digest, bytes: e.blob.bytes, size: e.blob.size });
        return;
      }
      case "progress":
        if (!this.#due(e.task.id)) return;
        this.#out({ type: "progress", task, bytes: e.task.done, total: e.task.total });
        return;
      case "blob-end":
        this.#out({
          type: e.how,
          task,
          digest: e.blob.digest,
          size: e.blob.size,
          kind: e.blob.manifest ? "manifest" : "blob",
        });
        return;
      case "task-end":
        if (isHidden(this.tracker, e.task) && !e.task.printed) return;
        this.#out({
          type: "task",
          status: e.task.status,
          task,
          total: e.task.total,
          moved: e.task.moved,
          present: e.task.present,
          ...where(e.task),
          ...(e.task.detail ? { detail: e.task.detail } : {}),
        });
        return;
    }
  }

  #due(key: string): boolean {
    const now = this.tracker.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < 500) return false;
    this.#last.set(key, now);
    return true;
  }

  /** The summary object. */
  end(ok: boolean) {
    if (this.tracker.tasks.size === 0) return;
    const t = this.tracker.totals();
    const seconds = (this.tracker.now() - this.tracker.startedAt) / 1000;
    this.#out({ type: "summary", ok, total: t.total, moved: t.moved, present: t.present, seconds });
  }
}

function where(task: Task): Record<string, string> {
  return task.path ? { path: task.path } : {};
}
