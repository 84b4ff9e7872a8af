import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NetworkError } from "../errors.ts";
import { serve, type Server } from "../runtime.ts";
import { clientFor, isLoopback, RegistryClient, wireHost } from "./client.ts";

test.each([
  ["localhost", true],
  ["localhost:5000", true],
  ["127.0.0.1:5000", true],
  ["127.1.2.3", true],
  ["[::1]:5000", true],
  ["[::1]", true],
  ["localhost.example.com", false],
  ["127.0.0.1.nip.io:80", false],
  ["ghcr.io", false],
])("isLoopback(%p) = %p", (host, expected) => expect(isLoopback(host)).toBe(expected));

test("hosts and schemes", () => {
  expect(wireHost("docker.io")).toBe("registry-1.docker.io");
  expect(wireHost("quay.io")).toBe("quay.io");
  expect(new RegistryClient("docker.io").baseUrl).toBe("https://registry-1.docker.io");
  // HTTPS first for loopback too (as docker does); http only after a plain-HTTP answer to the handshake.
  expect(new RegistryClient("localhost:5000").baseUrl).toBe("https://localhost:5000");
  expect(new RegistryClient("reg.lan:5000", { plainHttp: true }).baseUrl).toBe("http://reg.lan:5000");
  expect(clientFor("a.example")).toBe(clientFor("a.example"));
  expect(clientFor("a.example", { username: "x", password: "y" })).not.toBe(clientFor("a.example"));
});

test("Location headers resolve against the registry, keeping their query", () => {
  const client = new RegistryClient("127.0.0.1:5000");
  expect(client.url("/v2/app/blobs/uploads/abc?_state=xyz").toString()).toBe(
    "https://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=xyz",
  );
  expect(client.url("https://storage.example/up?sig=1").toString()).toBe("https://storage.example/up?sig=1");
});

// Registries themselves (docker-registry in the integration tests) never redirect blob GETs to another
// host or fail on cue, so these two small servers stand in for a storage backend and a flaky registry.
describe("send", () => {
  let registry: Server;
  let storage: Server;
  const seen: { path: string; authorization: string | null }[] = [];
  let flaky = 0;
  beforeAll(async () => {
    storage = await serve((req) => {
      seen.push({ path: new URL(req.url).pathname, authorization: req.headers.get("authorization") });
      return Promise.resolve(new Response("blob bytes"));
    });
    registry = await serve(async (req) => {
      const url = new URL(req.url);
      seen.push({ path: url.pathname, authorization: req.headers.get("authorization") });
      if (req.headers.get("authorization") !== "Basic dTpw") {
        return new Response(null, { status: 401, headers: { "WWW-Authenticate": 'Basic realm="test"' } });
      }
      if (url.pathname === "/v2/app/blobs/away") {
        // Another origin: `localhost` instead of `127.0.0.1`.
        return new Response(null, {
          status: 307,
          headers: { Location: `http://localhost:${storage.port}/signed?sig=abc` },
        });
      }
      if (url.pathname === "/v2/app/blobs/near") {
        return new Response(null, { status: 302, headers: { Location: "/v2/app/blobs/here" } });
      }
      if (url.pathname === "/v2/app/blobs/here") return new Response("near bytes");
      if (url.pathname === "/v2/flaky") {
        await req.arrayBuffer();
        return ++flaky % 3 === 0 ? new Response("ok") : new Response(null, { status: 503 });
      }
      return new Response(null, { status: 404 });
    });
  });
  afterAll(async () => {
    await registry.stop();
    await storage.stop();
  });

  test("a redirect to another host does not carry the Authorization header; one to the same host does", async () => {
    const client = new RegistryClient(registry.host, { username: "u", password: "p" });
    seen.length = 0;
    expect(await (await client.send("/v2/app/blobs/away")).text()).toBe("blob bytes");
    expect(seen).toEqual([
      { path: "/v2/app/blobs/away", authorization: null },
      { path: "/v2/app/blobs/away", authorization: "Basic dTpw" },
      { path: "/signed", authorization: null },
    ]);
    seen.length = 0;
    expect(await (await client.send("/v2/app/blobs/near")).text()).toBe("near bytes");
    expect(seen.map((s) => s.authorization)).toEqual(["Basic dTpw", "Basic dTpw"]); // basic sent up front once known
  });

  test("transient failures are retried for replayable bodies only", async () => {
    const client = new RegistryClient(registry.host, { username: "u", password: "p", retries: 3 });
    await client.send("/v2/");
    flaky = 0;
    expect((await client.send("/v2/flaky", { method: "PUT", body: "x" })).status).toBe(200);
    expect(flaky).toBe(3);
    flaky = 0;
    const stream = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) });
    expect((await client.send("/v2/flaky", { method: "PUT", body: stream })).status).toBe(503);
    expect(flaky).toBe(1);
  });

  test("an aborted signal stops a request waiting between retries", async () => {
    const client = new RegistryClient(registry.host, { username: "u", password: "p", retries: 3 });
    flaky = 1; // next answer 503, then a backoff wait
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(client.send("/v2/flaky", { signal: controller.signal, method: "PUT", body: "x" })).rejects.toThrow(
      "Interrupted",
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test("no answer at all is a NetworkError naming the host", async () => {
    const gone = await serve(() => Promise.resolve(new Response()));
    await gone.stop();
    const err = await new RegistryClient(gone.host, { retries: 1 }).send("/v2/").catch((e) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err.message).toStartWith(`Cannot reach ${gone.host}: `);
  });
});
