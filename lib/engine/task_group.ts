/**
 * Bounded, fail-fast concurrency as a value (Go's errgroup with SetLimit): what copyGraph, export and mirror
 * use to run many tasks with "the first failure cancels the rest".
 *
 * @module
 */
import { abortErrorOf } from "../errors.ts";
import { Limiter } from "../stream/limiter.ts";

/**
 * Runs at most `limit` tasks at once. The first failure (or an abort of `outer`) aborts {@link TaskGroup.signal}
 * for every other task and is what {@link TaskGroup.wait} throws, after every task has settled.
 *
 * @example
 * ```ts
 * const group = new TaskGroup(3, options.signal);
 * for (const file of files) group.go((signal) => writeFile(file, { signal }));
 * await group.wait(); // throws the first failure, once all tasks have stopped
 * ```
 */
export class TaskGroup {
  readonly #controller = new AbortController();
  readonly #tasks: Promise<void>[] = [];
  readonly #limit: Limiter;
  readonly #outer?: AbortSignal;
  readonly #onOuterAbort = () => this.fail(abortErrorOf(this.#outer!));
  #first: { error: unknown } | undefined;

  constructor(limit: number, outer?: AbortSignal) {
    this.#limit = new Limiter(limit);
    this.#outer = outer;
    if (outer?.aborted) this.#onOuterAbort();
    else outer?.addEventListener("abort", this.#onOuterAbort, { once: true });
  }

  /** Aborted once any task fails or the outer signal aborts; pass it to every call a task makes. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The first failure, if any task failed (or the outer signal aborted). */
  get failure(): unknown {
    return this.#first?.error;
  }

  /** Starts `task` once a slot is free; a task that would start after a failure does not run. */
  go(task: (signal: AbortSignal) => Promise<void>): void {
    this.#tasks.push(
      this.#limit.run(async () => {
        if (this.signal.aborted) return;
        // Failing inside the slot: the abort is visible before the next waiting task is let in.
        await task(this.signal).catch((err) => this.fail(err));
      }),
    );
  }

  /**
   * Runs `task` in a slot like {@link TaskGroup.go} and returns its result, for work whose value or completion
   * others wait on; its failure is the group's too. Rejects at once (with the failure) after a failure.
   */
  run<T>(task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const result = this.#limit.run(async () => {
      if (this.signal.aborted) throw this.signal.reason;
      try {
        return await task(this.signal);
      } catch (err) {
        this.fail(err);
        throw err;
      }
    });
    this.#tasks.push(result.then(() => {}, () => {}));
    return result;
  }

  /** Records `err` as the group's failure (the first one wins) and aborts the other tasks. */
  fail(err: unknown): void {
    if (this.#first) return;
    this.#first = { error: this.#outer?.aborted ? abortErrorOf(this.#outer) : err };
    this.#controller.abort(this.#first.error);
  }

  /**
   * Waits for every task started so far (including ones started while waiting); throws the first failure. A group
   * can be waited on again after more tasks (a session running phase after phase); the failure stays.
   */
  async wait(): Promise<void> {
    for (let settled = 0; settled < this.#tasks.length;) {
      const batch = this.#tasks.slice(settled);
      await Promise.all(batch);
      settled += batch.length;
    }
    if (this.#first) throw this.#first.error;
  }

  /** Stops listening to the outer signal (once no more tasks will be started). */
  release(): void {
    this.#outer?.removeEventListener("abort", this.#onOuterAbort);
  }
}
