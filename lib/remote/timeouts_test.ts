import { afterAll, beforeAll, expect, test } from "bun:test";
import { NetworkError } from "../errors.ts";
import { serve, type Server } from "../runtime.ts";
import { RegistryClient } from "./client.ts";
import { TimeoutError } from "./timeouts.ts";

// A registry that never answers /v2/stall and sends half a body of /v2/trickle, then nothing.
let server: Server;
const seen: string[] = [];
beforeAll(async () => {
  server = await serve((req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    if (path === "/v2/stall") return new Promise<Response>(() => {});
    if (path === "/v2/trickle") {
      return Promise.resolve(
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new Uint8Array(10));
            },
          }),
          { headers: { "Content-Length": "20" } },
        ),
      );
    }
    return Promise.resolve(new Response("ok"));
  });
});
afterAll(() => server?.stop());

test("no answer within --timeout: a TimeoutError (exit 5), retried, within timeout × attempts", async () => {
  seen.length = 0;
  const client = new RegistryClient(server.host, { plainHttp: true, timeoutMs: 300, retries: 2 });
  const started = Date.now();
  const err = await client.send("/v2/stall").catch((e) => e);
  expect(err).toBeInstanceOf(TimeoutError);
  expect(err).toBeInstanceOf(NetworkError);
  expect(err.exitCode).toBe(5);
  expect(err.message).toBe(`Cannot reach ${server.host}: no answer for 0.3 s`);
  expect(seen.filter((p) => p === "/v2/stall")).toHaveLength(3);
  expect(Date.now() - started).toBeLessThan(5_000);
});

test("a body that stalls longer than --idle-timeout errors its stream with a TimeoutError", async () => {
  const client = new RegistryClient(server.host, { plainHttp: true, idleTimeoutMs: 300 });
  const res = await client.send("/v2/trickle");
  expect(res.status).toBe(200);
  const err = await res.arrayBuffer().catch((e) => e);
  expect(err).toBeInstanceOf(TimeoutError);
  expect(err.message).toBe(`Cannot reach ${server.host}: no data for 0.3 s`);
  // Healthy answers pass through untouched.
  expect(await (await client.send("/v2/")).text()).toBe("ok");
});
