/**
 * Registry rate limits as registries announce them (`RateLimit-Limit: 100;w=21600`,
 * `RateLimit-Remaining: 76;w=21600`, Docker Hub's form of the IETF RateLimit headers), and a pacer
 * that spaces requests out once the remaining budget runs low, so a long job slows down instead of
 * running into 429s.
 *
 * @module
 */
import { sleep } from "./retry.ts";

/**
 * What a registry said about its rate limit in one response.
 *
 * @example
 * ```ts
 * const onEvent = (event: MirrorEvent) => {
 *   if (event.type === "ratelimit") {
 *     const info: RateLimitInfo = event;
 *     console.log(`${event.host}: ${info.remaining} of ${info.limit ?? "?"} pulls left`);
 *   }
 * };
 * ```
 */
export interface RateLimitInfo {
  /** Requests left in the current window. */
  remaining: number;
  /** Requests allowed per window, when announced. */
  limit?: number;
  /** The window in seconds (`w=`), when announced. */
  windowSeconds?: number;
}

/**
 * Something the registry client reports while it works (subscribe with `RegistryClient.subscribe`).
 *
 * @example
 * ```ts
 * const onEvent = (event: MirrorEvent) => {
 *   if (event.type === "retry") console.error(`retrying ${event.host} in ${event.waitMs} ms`);
 * };
 * await mirror({ target: "127.0.0.1:5000/mirror", sources: [{ image: "alpine" }] }, { onEvent });
 * ```
 */
export type RegistryEvent =
  | ({ type: "ratelimit"; host: string } & RateLimitInfo)
  /** A transient failure (status, or a network error when `status` is undefined), retried after `waitMs`. */
  | { type: "retry"; host: string; status?: number; waitMs: number; attempt: number; retryAfter: boolean };

function parseQuota(value: string | null): { n: number; w?: number } | undefined {
  if (value === null) return undefined;
  // `76;w=21600`, `76`, or a list of quota policies (`76, 100;w=60`): the first is the binding one.
  const m = /^\s*(\d+)\s*(?:;(.*?))?(?:,|$)/.exec(value);
  if (!m) return undefined;
  const w = /(?:^|;)\s*w\s*=\s*(\d+)/.exec(m[2] ?? "");
  return { n: Number(m[1]), ...(w ? { w: Number(w[1]) } : {}) };
}

/**
 * The rate limit announced by `headers`, or undefined when there is no `RateLimit-Remaining`.
 *
 * @example
 * ```ts
 * parseRateLimit(new Headers({ "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600" }));
 * // { remaining: 76, limit: 100, windowSeconds: 21600 }
 * ```
 */
export function parseRateLimit(headers: Headers): RateLimitInfo | undefined {
  const remaining = parseQuota(headers.get("ratelimit-remaining"));
  if (!remaining) return undefined;
  const limit = parseQuota(headers.get("ratelimit-limit"));
  const windowSeconds = remaining.w ?? limit?.w;
  return {
    remaining: remaining.n,
    ...(limit ? { limit: limit.n } : {}),
    ...(windowSeconds !== undefined ? { windowSeconds } : {}),
  };
}

/** Options of {@link RateLimitPacer}. */
export interface RateLimitPacerOptions {
  /** Start spacing requests out when the registry says this many (or fewer) are left; default 10. */
  reserve?: number;
  /** The longest pause between two paced requests, in milliseconds; default 30 000. */
  maxDelayMs?: number;
  /** A fixed ceiling of our own: at most this many requests per minute, whatever the registry says. */
  perMinute?: number;
}

/**
 * Spaces out requests against one registry. With `perMinute`, requests start at least
 * `60 s / perMinute` apart. Once the registry's `RateLimit-Remaining` reaches `reserve`, they start at
 * least `window / remaining` apart (capped at `maxDelayMs`), so the last of the budget is spread over
 * what is left of the window instead of being spent at once.
 *
 * @example
 * ```ts
 * const pacer = new RateLimitPacer({ reserve: 10 });
 * pacer.observe({ remaining: 4, windowSeconds: 60 });
 * await pacer.wait(); // the next request may start 15 s after the previous one
 * ```
 */
export class RateLimitPacer {
  readonly reserve: number;
  readonly maxDelayMs: number;
  readonly perMinute?: number;
  #last?: RateLimitInfo;
  #lastStart = -Infinity;

  constructor(options: RateLimitPacerOptions = {}) {
    this.reserve = options.reserve ?? 10;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.perMinute = options.perMinute;
  }

  /** The last announcement seen. */
  get last(): RateLimitInfo | undefined {
    return this.#last;
  }

  /** Takes note of an announcement. */
  observe(info: RateLimitInfo): void {
    this.#last = info;
  }

  /** The least gap between two request starts right now, in milliseconds. */
  intervalMs(): number {
    let gap = this.perMinute ? 60_000 / this.perMinute : 0;
    const info = this.#last;
    if (info && info.remaining <= this.reserve) {
      const windowMs = (info.windowSeconds ?? 60) * 1000;
      gap = Math.max(gap, Math.min(this.maxDelayMs, windowMs / Math.max(1, info.remaining)));
    }
    return gap;
  }

  /**
   * Waits until the next request may start (the gap after the previous start, as the latest
   * announcement sets it), and books that slot; returns the milliseconds waited.
   */
  async wait(signal?: AbortSignal): Promise<number> {
    const now = Date.now();
    const start = Math.max(now, this.#lastStart + this.intervalMs());
    this.#lastStart = start;
    const delay = start - now;
    if (delay > 0) await sleep(delay, signal);
    return delay;
  }
}
