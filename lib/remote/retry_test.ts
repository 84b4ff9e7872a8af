import { describe, expect, test } from "bun:test";
import { AbortError } from "../errors.ts";
import { backoffDelay, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter, sleep } from "./retry.ts";

describe("parseRetryAfter", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  test.each(
    [
      ["1", 1000],
      [" 120 ", 120_000],
      ["0", 0],
      ["Wed, 21 Oct 2015 07:28:05 GMT", 5000],
      ["Wed, 21 Oct 2015 07:27:00 GMT", 0], // in the past: no wait
      ["1.5", undefined],
      ["-1", undefined],
      ["soon", undefined],
      ["", undefined],
    ] as const,
  )("%p → %p", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
  test("absent", () => expect(parseRetryAfter(null)).toBeUndefined());
});

describe("backoffDelay", () => {
  test("doubles from the base, stays in the upper half, never exceeds the cap", () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(10_000, 200 * 2 ** attempt);
      expect(backoffDelay(attempt, DEFAULT_RETRY_POLICY, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(attempt, DEFAULT_RETRY_POLICY, () => 0.999999)).toBe(ceiling);
      const d = backoffDelay(attempt);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });
});

test("retryable statuses", () => {
  expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
  expect([200, 400, 401, 403, 404, 413, 501].some(isRetryableStatus)).toBe(false);
});

describe("sleep", () => {
  test("waits", async () => {
    const t = Date.now();
    await sleep(50);
    expect(Date.now() - t).toBeGreaterThanOrEqual(45);
  });
  test("an abort stops the wait at once", async () => {
    const controller = new AbortController();
    const t = Date.now();
    setTimeout(() => controller.abort(), 20);
    await expect(sleep(10_000, controller.signal)).rejects.toBeInstanceOf(AbortError);
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
