/**
 * The state every progress display draws from: tasks (one per platform, image, output file or push), the blobs in
 * flight under each, byte counts and rates. Fed by copyGraph's {@link CopyEvent}s (whose `planned` events give the
 * totals before the first blob moves) and by file-level progress; renderers (tty, plain, json) listen to it.
 *
 * @module
 */
import type { CopyEvent } from "../../engine/copy_graph.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { isManifest } from "../../oci/media_types.ts";
import { formatPlatform } from "../../oci/platform.ts";

/** Where a task is. `present`: nothing had to move; `stopped`: the run ended (failed or interrupted) before it did. */
export type TaskStatus = "queued" | "running" | "done" | "present" | "failed" | "skipped" | "stopped";

/** Bytes over the last few seconds → a rate. */
export class RateMeter {
  readonly #samples: [number, number][] = [];
  constructor(readonly windowMs = 5000) {}

  /** Records that `bytes` (a running total) were done at `now`. */
  add(now: number, bytes: number) {
    const last = this.#samples.at(-1);
    if (last && now - last[0] < 100) last[1] = bytes;
    else this.#samples.push([now, bytes]);
    while (this.#samples.length > 2 && now - this.#samples[1][0] > this.windowMs) this.#samples.shift();
  }

  /** Bytes per second over the window, or undefined before there is half a second of it. */
  rate(now: number): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last) return undefined;
    const span = Math.max(now, last[0]) - first[0];
    if (span < 500) return undefined;
    return (last[1] - first[1]) / (span / 1000);
  }
}

/** One blob (or manifest) being copied. */
export interface BlobState {
  digest: string;
  size: number;
  manifest: boolean;
  bytes: number;
  startedAt: number;
}

/** One line of the display. */
export interface Task {
  id: string;
  label: string;
  /** `copy`: fed by copy events; `file`: by byte counts of one output file. */
  kind: "copy" | "file";
  status: TaskStatus;
  /** Bytes in the task, known up front (planned). */
  total: number;
  /** Bytes accounted for: moved, or found present at the destination. */
  done: number;
  /** Bytes streamed. */
  moved: number;
  /** Bytes the destination already had (skipped or mounted). */
  present: number;
  /** Blobs (not manifests) planned and finished. */
  blobs: number;
  blobsDone: number;
  /** Descriptors planned and accounted for; the task is done when they meet. */
  planned: number;
  resolved: number;
  /** The output file or destination (file tasks), or a result line (mirror). */
  path?: string;
  detail?: string;
  /** The task of the descriptors above the platforms (an index) in a copy split by platform. */
  scope?: boolean;
  /** The line of this task is printed by the command when it ends (mirror): a display drops it then. */
  printed?: boolean;
  startedAt?: number;
  endedAt?: number;
  meter: RateMeter;
  inFlight: Map<string, BlobState>;
}

/** What changed, for renderers that print as things happen (plain, json). */
export type TrackerEvent =
  | { type: "queued"; task: Task }
  | { type: "plan"; task: Task }
  | { type: "blob-start"; task: Task; blob: BlobState }
  | { type: "blob-progress"; task: Task; blob: BlobState }
  | { type: "blob-end"; task: Task; blob: BlobState; how: "copied" | "skipped" | "mounted" }
  | { type: "progress"; task: Task }
  | { type: "task-end"; task: Task };

/** A file-level task (one output file, a push): start, byte counts, end. */
export interface FileTask {
  /** Known before it starts (shown as queued). */
  queue(total: number, path?: string): void;
  start(total: number, path?: string): void;
  progress(bytes: number, total?: number): void;
  end(size?: number, path?: string): void;
}

/** Options of {@link Tracker.copyFeed}. */
export interface FeedOptions {
  /** The task of descriptors with no platform (the index itself, a single-platform image). */
  task: string;
  /** One task per platform (copy, import, an OCI export); else everything goes to `task` (a mirror image). */
  byPlatform?: boolean;
}

/** Progress state of one CLI run. */
export class Tracker {
  readonly tasks = new Map<string, Task>();
  readonly meter = new RateMeter();
  readonly startedAt: number;
  #listeners: ((event: TrackerEvent) => void)[] = [];
  #moved = 0;

  constructor(readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  /** Calls `listener` on every change. */
  listen(listener: (event: TrackerEvent) => void) {
    this.#listeners.push(listener);
  }

  #emit(event: TrackerEvent) {
    for (const l of this.#listeners) l(event);
  }

  /** The task `id`, made (queued, empty) if new. */
  task(id: string, label = id, kind: Task["kind"] = "copy"): Task {
    let task = this.tasks.get(id);
    if (!task) {
      task = {
        id,
        label,
        kind,
        status: "queued",
        total: 0,
        done: 0,
        moved: 0,
        present: 0,
        blobs: 0,
        blobsDone: 0,
        planned: 0,
        resolved: 0,
        meter: new RateMeter(),
        inFlight: new Map(),
      };
      this.tasks.set(id, task);
    }
    return task;
  }

  /** Shows `id` as queued before anything happens to it (a mirror's images, an export's files). */
  queue(id: string, label = id, options: { printed?: boolean } = {}): Task {
    const task = this.task(id, label);
    if (options.printed) task.printed = true;
    this.#emit({ type: "queued", task });
    return task;
  }

  /** Ends `id` with `status` (and a line for it, e.g. a mirror's result) whatever its byte counts say. */
  finish(id: string, status: TaskStatus, detail?: string) {
    const task = this.task(id);
    if (detail !== undefined) task.detail = detail;
    this.#end(task, status);
  }

  /** Moved bytes of the whole run, and its rate. */
  get moved(): number {
    return this.#moved;
  }

  /** Sums over every task. */
  totals() {
    let total = 0, done = 0, present = 0, finished = 0;
    for (const t of this.tasks.values()) {
      total += t.total;
      done += t.done;
      present += t.present;
      if (isFinished(t.status)) finished++;
    }
    return { total, done, present, moved: this.#moved, tasks: this.tasks.size, finished };
  }

  /** Whether every task has ended. */
  get idle(): boolean {
    for (const t of this.tasks.values()) if (!isFinished(t.status)) return false;
    return true;
  }

  /** Marks what has not ended as stopped (the run failed or was interrupted). */
  stopAll() {
    for (const t of this.tasks.values()) if (!isFinished(t.status)) this.#end(t, "stopped");
  }

  #start(task: Task) {
    if (task.status !== "queued") return;
    task.status = "running";
    task.startedAt = this.now();
  }

  #end(task: Task, status: TaskStatus) {
    if (isFinished(task.status)) {
      // Already ended (a mirror image whose copy finished): the caller's word on how, without a second event.
      if (task.status === "done") task.status = status;
      return;
    }
    if (task.startedAt === undefined) task.startedAt = this.now();
    task.status = status;
    task.endedAt = this.now();
    task.inFlight.clear();
    this.#emit({ type: "task-end", task });
  }

  #addMoved(task: Task, delta: number) {
    const now = this.now();
    task.moved += delta;
    task.done += delta;
    this.#moved += delta;
    task.meter.add(now, task.moved);
    this.meter.add(now, this.#moved);
  }

  /** A CopyEvent handler: descriptors go to tasks by platform (or all to `options.task`). */
  copyFeed(options: FeedOptions): (event: CopyEvent) => void {
    const owner = new Map<string, Task>();
    let planning = false;
    const touched = new Set<Task>();
    const taskOf = (desc: Descriptor, platform?: Platform): Task => {
      const known = owner.get(desc.digest);
      if (known) return known;
      let task: Task;
      if (options.byPlatform && platform) {
        const label = platform.os === "unknown" ? "attestations" : formatPlatform(platform);
        task = this.task(`${options.task}\0${label}`, label);
      } else {
        task = this.task(options.task);
        if (options.byPlatform) task.scope = true;
      }
      owner.set(desc.digest, task);
      return task;
    };
    const flushPlan = () => {
      if (!planning) return;
      planning = false;
      for (const task of touched) {
        this.#start(task);
        this.#emit({ type: "plan", task });
      }
      touched.clear();
    };
    const add = (task: Task, desc: Descriptor) => {
      task.total += desc.size;
      task.planned++;
      if (!isManifest(desc.mediaType)) task.blobs++;
    };
    const resolve = (task: Task, desc: Descriptor, how: "copied" | "skipped" | "mounted", blob?: BlobState) => {
      const state = blob ??
        { digest: desc.digest, size: desc.size, manifest: isManifest(desc.mediaType), bytes: 0, startedAt: this.now() };
      // Moved bytes are blob bytes (what copy reports as transferred); a manifest written counts as done only.
      if (how === "copied" && !state.manifest) this.#addMoved(task, desc.size - state.bytes);
      else if (how === "copied") task.done += desc.size;
      else {
        task.done += desc.size;
        task.present += desc.size;
      }
      state.bytes = desc.size;
      task.resolved++;
      if (!state.manifest) task.blobsDone++;
      task.inFlight.delete(desc.digest);
      this.#emit({ type: "blob-end", task, blob: state, how });
      if (task.resolved >= task.planned && task.status === "running") {
        this.#end(task, task.moved === 0 && task.present === task.total ? "present" : "done");
      }
    };
    return (event) => {
      if (event.type === "planned") {
        planning = true;
        const task = taskOf(event.desc, event.platform);
        add(task, event.desc);
        touched.add(task);
        return;
      }
      flushPlan();
      let task = owner.get(event.desc.digest);
      if (!task) {
        // Not planned (a caller's own copy loop): counted as it comes.
        task = taskOf(event.desc);
        add(task, event.desc);
      }
      this.#start(task);
      switch (event.type) {
        case "start": {
          const blob = {
            digest: event.desc.digest,
            size: event.desc.size,
            manifest: false,
            bytes: 0,
            startedAt: this.now(),
          };
          task.inFlight.set(blob.digest, blob);
          this.#emit({ type: "blob-start", task, blob });
          break;
        }
        case "progress": {
          const blob = task.inFlight.get(event.desc.digest);
          if (!blob) break;
          this.#addMoved(task, event.bytes - blob.bytes);
          blob.bytes = event.bytes;
          this.#emit({ type: "blob-progress", task, blob });
          break;
        }
        case "copied":
        case "skipped":
        case "mounted":
          resolve(task, event.desc, event.type, task.inFlight.get(event.desc.digest));
          break;
      }
    };
  }

  /** A file-level task `id`. */
  file(id: string, label = id): FileTask {
    const task = this.task(id, label, "file");
    task.kind = "file";
    return {
      queue: (total, path) => {
        task.total = total;
        if (path) task.path = path;
        this.#emit({ type: "queued", task });
      },
      start: (total, path) => {
        task.total = total;
        if (path) task.path = path;
        if (task.status !== "queued") return;
        this.#start(task);
        this.#emit({ type: "plan", task });
      },
      progress: (bytes, total) => {
        if (total !== undefined) task.total = total;
        if (task.status === "queued") {
          this.#start(task);
          this.#emit({ type: "plan", task });
        }
        if (bytes > task.moved) this.#addMoved(task, bytes - task.moved);
        this.#emit({ type: "progress", task });
      },
      end: (size, path) => {
        if (path) task.path = path;
        if (size !== undefined) {
          if (size > task.moved) this.#addMoved(task, size - task.moved);
          task.total = size;
          task.done = size;
        }
        this.#end(task, "done");
      },
    };
  }
}

/** Whether a task in `status` has ended. */
export function isFinished(status: TaskStatus): boolean {
  return status !== "queued" && status !== "running";
}

/**
 * Whether a display leaves `task` out: a task of manifests only (the index above the platforms) when there are
 * others, and a finished task whose line the command prints itself (a mirror image).
 */
export function isHidden(tracker: Tracker, task: Task, _final = false): boolean {
  if (task.printed && isFinished(task.status)) return true;
  if (!task.scope || task.blobs > 0) return false;
  for (const other of tracker.tasks.values()) {
    if (other !== task && (other.kind === "file" || other.blobs > 0)) return true;
  }
  return false;
}

/** A task's bytes per second: over the last seconds, or since it started. */
export function taskRate(task: Task, now: number): number | undefined {
  const recent = task.meter.rate(now);
  if (recent !== undefined) return recent;
  const elapsed = (now - (task.startedAt ?? now)) / 1000;
  return elapsed >= 0.5 && task.moved > 0 ? task.moved / elapsed : undefined;
}
