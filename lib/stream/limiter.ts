/**
 * A counting semaphore for bounding concurrent transfers.
 *
 * @module
 */

/**
 * Limits how many async tasks run at once; waiters are served in order.
 *
 * @example
 * ```ts
 * const limit = new Limiter(4);
 * await Promise.all(urls.map((u) => limit.run(() => fetch(u))));
 * ```
 */
export class Limiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`Limiter needs max >= 1, got ${max}`);
  }

  /** Runs `task` once a slot is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    // A released slot is handed straight to the next waiter, so a newcomer cannot overtake it.
    if (this.#active >= this.max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
