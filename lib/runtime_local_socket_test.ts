/**
 * fetchLocalSocket, the Docker engine's transport on Windows named pipes, driven here over a unix socket (the same
 * `node:http` socketPath code; only the path differs): a streamed POST body arrives whole and in order, the
 * response streams back with status and headers, an abort ends it, and it works under Deno as under Bun.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchLocalSocket } from "./runtime.ts";
import { run } from "../tests/helpers/tools.ts";

let dir: string;
let socket: string;
let server: Server;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-sock-"));
  socket = join(dir, "engine.sock");
  server = createServer(async (req, res) => {
    if (req.url === "/hang") return; // never answers
    let bytes = 0;
    const hash = createHash("sha256");
    for await (const chunk of req) {
      bytes += chunk.length;
      hash.update(chunk);
    }
    res.writeHead(req.url?.startsWith("/created") ? 201 : 200, {
      "Content-Type": "application/json",
      "X-Seen": req.headers["content-type"] ?? "",
    });
    res.end(
      JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, bytes, sha256: hash.digest("hex") }),
    );
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server ? server.close(() => resolve()) : resolve());
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a streamed POST arrives whole; status, headers and body come back", async () => {
  const chunks = Array.from({ length: 64 }, (_, i) => new Uint8Array(64 * 1024).fill(i));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  const init = {
    method: "POST",
    body,
    duplex: "half",
    headers: { "Content-Type": "application/x-tar" },
  } as RequestInit;
  const res = await fetchLocalSocket(socket, "http://docker/created?quiet=1", init);
  expect(res.status).toBe(201);
  expect(res.headers.get("x-seen")).toBe("application/x-tar");
  const answer = await res.json();
  const all = createHash("sha256");
  for (let i = 0; i < 64; i++) all.update(new Uint8Array(64 * 1024).fill(i));
  expect(answer).toEqual({
    method: "POST",
    url: "/created?quiet=1",
    host: "docker",
    bytes: 64 * 64 * 1024,
    sha256: all.digest("hex"),
  });
});

test("an abort ends a request the engine never answers", async () => {
  const controller = new AbortController();
  const pending = fetchLocalSocket(socket, "http://docker/hang", { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("stop")), 50);
  await expect(pending).rejects.toThrow("stop");
});

test("a missing socket rejects with the socket error", async () => {
  await expect(fetchLocalSocket(join(dir, "none.sock"), "http://docker/_ping")).rejects.toMatchObject({
    code: "ENOENT",
  });
});

test("under Deno too", async () => {
  const script = join(dir, "deno_fetch.ts");
  await writeFile(
    script,
    `import process from "node:process";
import { fetchLocalSocket } from ${JSON.stringify(join(import.meta.dir, "runtime.ts"))};
const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("hello ")); c.enqueue(new TextEncoder().encode("pipe")); c.close(); } });
const res = await fetchLocalSocket(process.argv[2], "http://docker/images/load?quiet=1", { method: "POST", body, duplex: "half" } as RequestInit);
const j = await res.json();
console.log(res.status, j.url, j.bytes);
`,
  );
  const deno = join(import.meta.dir, "../node_modules/.bin/deno");
  const { stdout } = await run(deno, ["run", "-A", script, socket], { cwd: dir });
  expect(stdout).toBe("200 /images/load?quiet=1 10\n");
}, 60_000);
