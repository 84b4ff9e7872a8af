/**
 * The retry policy of the registry client: which answers are worth another try, how long to wait
 * (capped exponential backoff with jitter, or the registry's own `Retry-After`), and an abortable sleep.
 *
 * @module
 */
import { abortErrorOf } from "../errors.ts";

/**
 * How a request is retried; see {@link DEFAULT_RETRY_POLICY}.
 *
 * @example
 * ```ts
 * const retry: RetryPolicy = new RegistryClient("127.0.0.1:5000", { retries: 5 }).retry;
 * console.log(retry.retries, retry.capMs);
 * ```
 */
export interface RetryPolicy {
  /** Extra attempts after the first one. */
  retries: number;
  /** First backoff delay in milliseconds; doubles per attempt. */
  baseMs: number;
  /** No computed backoff delay exceeds this. */
  capMs: number;
  /** A `Retry-After` longer than this is not waited for: the request fails at once (e.g. Docker Hub's hourly limit). */
  maxRetryAfterMs: number;
}

/** 3 retries, 200 ms doubling up to 10 s; `Retry-After` honoured up to 60 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, baseMs: 200, capMs: 10_000, maxRetryAfterMs: 60_000 };

/** Whether an HTTP status is transient: 408, 429, 500, 502, 503, 504. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/**
 * The wait a `Retry-After` header asks for, in milliseconds: delta-seconds or an HTTP date.
 * Undefined when absent or unparsable; never negative.
 *
 * @example
 * ```ts
 * parseRetryAfter("2"); // 2000
 * parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("Wed, 21 Oct 2015 07:27:58 GMT")); // 2000
 * ```
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined; // "1.5", "-1": not valid forms
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * The backoff before retry number `attempt` (0-based): `min(cap, base * 2^attempt)`, with jitter
 * that keeps it in the upper half of that, so parallel clients spread out but never retry instantly.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Waits `ms` milliseconds; rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortErrorOf(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortErrorOf(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A one-line cause for a failed `fetch`: its code (ECONNREFUSED, ECONNRESET…) or message. */
export function describeNetworkError(err: unknown): string {
  if (err instanceof Error && typeof (err as { reason?: unknown }).reason === "string") {
    return (err as unknown as { reason: string }).reason; // a TimeoutError: "no data for 60 s"
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    const message = err.message.replace(/\s*For more information, pass `verbose: true`.*$/s, ""); // Bun's advice to developers
    return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : `${message}${cause}`;
  }
  return String(err);
}
