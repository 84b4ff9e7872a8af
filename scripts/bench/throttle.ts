/**
 * A TCP proxy in front of a registry that caps the bandwidth of EACH connection, as S3, CDNs and many WANs do:
 * bytes from the upstream to the client go out at no more than `bytesPerSecond` per connection (a running
 * schedule, so short timer slips average out); the client's bytes go up unthrottled. Being a byte pipe it
 * forwards everything unchanged (keep-alive, `Range` requests and their 206 answers are the registry's own),
 * and it counts connections, so a benchmark can show how many a client opened.
 *
 * Run alone: `bun scripts/bench/throttle.ts UPSTREAM_HOST:PORT [MiB/s]` prints the proxy's host.
 *
 * @module
 */
import { createConnection, createServer, type Socket } from "node:net";
import process from "node:process";

/** A running proxy. */
export interface ThrottleProxy {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Most connections open at once so far. */
  peakConnections(): number;
  stop(): Promise<void>;
}

/**
 * Starts the proxy on a free 127.0.0.1 port, forwarding to `upstream` (`127.0.0.1:PORT`).
 *
 * @example
 * ```ts
 * const proxy = await startThrottleProxy(registry.host, 20 * 1024 * 1024);
 * // skopeo/ferry copy docker://${proxy.host}/bench/big:1.0 …
 * await proxy.stop();
 * ```
 */
export function startThrottleProxy(upstream: string, bytesPerSecond: number): Promise<ThrottleProxy> {
  const [upHost, upPort] = [upstream.slice(0, upstream.lastIndexOf(":")), Number(upstream.slice(upstream.lastIndexOf(":") + 1))];
  const sockets = new Set<Socket>();
  let count = 0;
  let open = 0;
  let peak = 0;
  const server = createServer((client) => {
    count++;
    peak = Math.max(peak, ++open);
    const up = createConnection({ host: upHost, port: upPort });
    sockets.add(client);
    sockets.add(up);
    let due = performance.now(); // when the bytes sent so far may have left at the cap
    up.on("data", (chunk: Buffer) => {
      client.write(chunk);
      const now = performance.now();
      due = Math.max(due, now) + (chunk.byteLength / bytesPerSecond) * 1000;
      if (due - now > 1) {
        up.pause();
        setTimeout(() => up.resume(), due - now);
      }
    });
    client.pipe(up);
    const close = () => {
      if (!sockets.has(client)) return;
      open--;
      sockets.delete(client);
      sockets.delete(up);
      client.destroy();
      up.destroy();
    };
    up.on("end", () => client.end());
    up.on("error", close);
    up.on("close", close);
    client.on("error", close);
    client.on("close", close);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        host: `127.0.0.1:${port}`,
        connections: () => count,
        peakConnections: () => peak,
        stop: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.main) {
  const [upstream, mibs = "20"] = process.argv.slice(2);
  if (!upstream) {
    console.error("usage: bun scripts/bench/throttle.ts UPSTREAM_HOST:PORT [MiB/s per connection]");
    process.exit(2);
  }
  const proxy = await startThrottleProxy(upstream, Number(mibs) * 1024 * 1024);
  console.log(proxy.host);
  process.once("SIGINT", async () => {
    console.error(`${proxy.connections()} connections, at most ${proxy.peakConnections()} at once`);
    await proxy.stop();
    process.exit(0);
  });
}
