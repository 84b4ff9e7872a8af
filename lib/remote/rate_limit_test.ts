import { afterAll, beforeAll, expect, test } from "bun:test";
import { serve, type Server } from "../runtime.ts";
import { RegistryClient } from "./client.ts";
import { parseRateLimit, RateLimitPacer, type RegistryEvent } from "./rate_limit.ts";

test.each([
  [{ "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600" }, {
    remaining: 76,
    limit: 100,
    windowSeconds: 21600,
  }],
  [{ "ratelimit-remaining": "3" }, { remaining: 3 }],
  [{ "ratelimit-remaining": "0;w=60" }, { remaining: 0, windowSeconds: 60 }],
  [{ "ratelimit-limit": "200;w=3600", "ratelimit-remaining": "5" }, { remaining: 5, limit: 200, windowSeconds: 3600 }],
  [{ "ratelimit-remaining": "9, 100;w=60" }, { remaining: 9 }],
  [{ "ratelimit-remaining": "soon" }, undefined],
  [{ "ratelimit-limit": "100;w=60" }, undefined],
  [{}, undefined],
])("parseRateLimit(%p)", (headers, expected) => {
  expect(parseRateLimit(new Headers(headers as Record<string, string>))).toEqual(expected as never);
});

test("the pacer does not wait while the budget is comfortable", async () => {
  const pacer = new RateLimitPacer({ reserve: 5 });
  pacer.observe({ remaining: 50, windowSeconds: 60 });
  expect(pacer.intervalMs()).toBe(0);
  expect(await pacer.wait()).toBe(0);
  expect(await pacer.wait()).toBe(0);
});

test("the pacer spreads the last of the budget over the window, capped", async () => {
  const pacer = new RateLimitPacer({ reserve: 10, maxDelayMs: 120 });
  pacer.observe({ remaining: 10, windowSeconds: 1 });
  expect(pacer.intervalMs()).toBe(100);
  pacer.observe({ remaining: 0, windowSeconds: 3600 });
  expect(pacer.intervalMs()).toBe(120);
  pacer.observe({ remaining: 2, windowSeconds: 0.1 });
  expect(pacer.intervalMs()).toBe(50);
  const started = Date.now();
  expect(await pacer.wait()).toBe(0);
  const waited = await pacer.wait();
  expect(waited).toBeGreaterThan(30);
  expect(Date.now() - started).toBeGreaterThanOrEqual(45);
});

test("perMinute is a ceiling of our own", () => {
  const pacer = new RateLimitPacer({ perMinute: 600 });
  expect(pacer.intervalMs()).toBe(100);
  pacer.observe({ remaining: 1000 });
  expect(pacer.intervalMs()).toBe(100);
});

test("an aborted wait rejects", async () => {
  const pacer = new RateLimitPacer({ perMinute: 1 });
  await pacer.wait();
  const controller = new AbortController();
  const waiting = pacer.wait(controller.signal);
  controller.abort();
  await expect(waiting).rejects.toThrow("Interrupted");
});

let server: Server;
let busy = 0;
beforeAll(async () => {
  server = await serve((req) => {
    if (new URL(req.url).pathname === "/busy" && busy++ === 0) {
      return Promise.resolve(new Response("", { status: 429, headers: { "Retry-After": "0" } }));
    }
    return Promise.resolve(
      new Response("", { headers: { "RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "7;w=21600" } }),
    );
  });
});
afterAll(() => server?.stop());

test("the client reports rate-limit announcements and retries to its subscribers", async () => {
  const client = new RegistryClient(server.host);
  const events: RegistryEvent[] = [];
  const stop = client.subscribe((e) => events.push(e));
  await client.send("/v2/x/manifests/1");
  await client.send("/busy");
  stop();
  await client.send("/v2/x/manifests/2");
  expect(events).toEqual([
    { type: "ratelimit", host: server.host, remaining: 7, limit: 100, windowSeconds: 21600 },
    { type: "retry", host: server.host, status: 429, waitMs: 0, attempt: 0, retryAfter: true },
    { type: "ratelimit", host: server.host, remaining: 7, limit: 100, windowSeconds: 21600 },
  ]);
});
