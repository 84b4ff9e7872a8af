/**
 * A fault-injecting HTTP proxy in front of a real registry, for the error paths a healthy registry
 * never shows: corrupted or truncated blobs, 429/503 answers, a bearer-token gate. Everything else
 * is forwarded unchanged, so compatibility is still the real registry's. Every request is recorded.
 *
 * @module
 */
import { serve } from "../../lib/runtime.ts";

/** One kind of misbehaviour; several can be combined. */
export type Fault =
  /** Flip the first byte of blob GET bodies (same length): of `digest`, or of every blob. */
  | { kind: "corrupt"; digest?: string }
  /** Answer `status` (e.g. 429 with `Retry-After`, 503) the first `times` times a request matches. */
  | { kind: "status"; status: number; times: number; method?: string; path?: RegExp; retryAfter?: string }
  /** End blob GET bodies (of `digest`, or every blob) after half their bytes, the first `times` times. */
  | { kind: "cut"; digest?: string; times: number }
  /**
   * Demand `Authorization: Bearer <token>`: answer 401 with a Bearer challenge whose realm is this
   * proxy's `/token`, which hands out `token` (to `username`/`password` only, when given).
   */
  | { kind: "bearer"; token: string; username?: string; password?: string; expiresIn?: number }
  /**
   * Hang: blob GET bodies (of `digest`, or every blob) send half their bytes and then nothing more; any other
   * request matching `method`/`path` (an upload PATCH, say) is never answered. Until the proxy stops.
   */
  | { kind: "stall"; digest?: string; method?: string; path?: RegExp }
  /** Pace every blob GET body to at most `bytesPerSecond` (each body on its own), so a test can stop ferry midway. */
  | { kind: "throttle"; bytesPerSecond: number };

/** A running proxy. */
export interface FaultyProxy {
  /** `127.0.0.1:PORT`: use it as the registry host. */
  host: string;
  /** Every request received, in order (token requests included, as `/token?...`). */
  requests: { method: string; path: string }[];
  /** Bytes of blob GET bodies (200 and 206) handed to clients so far (startFaultyProxy only). */
  readonly blobBytes?: number;
  stop(): Promise<void>;
}

const BLOB_GET = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})$/;

/**
 * Starts a proxy on 127.0.0.1 forwarding to `upstream` (`127.0.0.1:PORT`) with `faults` applied.
 *
 * @example
 * ```ts
 * const proxy = await startFaultyProxy(registry.host, [{ kind: "status", status: 503, times: 2 }]);
 * // ... use proxy.host as the registry; count proxy.requests
 * await proxy.stop();
 * ```
 */
export async function startFaultyProxy(upstream: string, faults: Fault[]): Promise<FaultyProxy> {
  const requests: { method: string; path: string }[] = [];
  const remaining = new Map<Fault, number>(faults.map((f) => [f, "times" in f ? f.times : Infinity]));
  const bearer = faults.find((f) => f.kind === "bearer");
  let self = "";
  const stalled = new Set<() => void>();
  const stall = () => new Promise<void>((resolve) => stalled.add(resolve));
  let blobBytes = 0;

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname + url.search;
    requests.push({ method: req.method, path });
    if (bearer) {
      if (url.pathname === "/token") return token(req, bearer);
      if (req.headers.get("authorization") !== `Bearer ${bearer.token}`) {
        const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
        const scope = repo ? `,scope="repository:${repo}:${req.method === "GET" || req.method === "HEAD" ? "pull" : "pull,push"}"` : "";
        return errorResponse(401, "UNAUTHORIZED", "authentication required", {
          "WWW-Authenticate": `Bearer realm="http://${self}/token",service="faulty"${scope}`,
        });
      }
    }
    for (const fault of faults) {
      if (fault.kind !== "status" || remaining.get(fault)! <= 0) continue;
      if ((fault.method && fault.method !== req.method) || (fault.path && !fault.path.test(path))) continue;
      remaining.set(fault, remaining.get(fault)! - 1);
      const headers: Record<string, string> = fault.retryAfter ? { "Retry-After": fault.retryAfter } : {};
      return errorResponse(fault.status, fault.status === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", "injected fault", headers);
    }
    for (const fault of faults) {
      if (fault.kind !== "stall" || (!fault.method && !fault.path)) continue;
      if ((fault.method && fault.method !== req.method) || (fault.path && !fault.path.test(path))) continue;
      await stall();
      return errorResponse(503, "UNAVAILABLE", "stalled");
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    if (bearer) headers.delete("authorization");
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const res = await fetch(`http://${upstream}${path}`, {
      method: req.method,
      headers,
      body: hasBody ? req.body : undefined,
      redirect: "manual",
      ...(hasBody ? { duplex: "half" } : {}),
    } as RequestInit);
    const out = new Headers(res.headers);
    const location = out.get("location");
    if (location?.startsWith(`http://${upstream}`)) out.set("location", `http://${self}${location.slice(upstream.length + 7)}`);
    const digest = req.method === "GET" && (res.status === 200 || res.status === 206) ? BLOB_GET.exec(url.pathname)?.[1] : undefined;
    if (!digest || !res.body) return new Response(res.body, { status: res.status, headers: out });
    let body: ReadableStream<Uint8Array> = res.body;
    const cut = faults.find((f) => f.kind === "cut" && (!f.digest || f.digest === digest) && remaining.get(f)! > 0);
    if (cut) {
      remaining.set(cut, remaining.get(cut)! - 1);
      body = body.pipeThrough(truncate(Math.floor(Number(out.get("content-length") ?? 0) / 2)));
      out.delete("content-length");
    }
    if (faults.some((f) => f.kind === "corrupt" && (!f.digest || f.digest === digest))) body = body.pipeThrough(flipFirstByte());
    if (faults.some((f) => f.kind === "stall" && !f.method && !f.path && (!f.digest || f.digest === digest))) {
      body = body.pipeThrough(halfThenStall(Math.floor(Number(out.get("content-length") ?? 0) / 2), stall));
    }
    const throttle = faults.find((f) => f.kind === "throttle");
    if (throttle) body = body.pipeThrough(pace(throttle.bytesPerSecond));
    body = body.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          blobBytes += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, { status: res.status, headers: out });
  }

  const server = await serve(handle);
  self = server.host;
  return {
    host: server.host,
    requests,
    get blobBytes() {
      return blobBytes;
    },
    stop: async () => {
      for (const release of stalled) release();
      await server.stop();
    },
  };
}

function token(req: Request, fault: Extract<Fault, { kind: "bearer" }>): Response {
  if (fault.username !== undefined) {
    const expected = `Basic ${btoa(`${fault.username}:${fault.password ?? ""}`)}`;
    if (req.headers.get("authorization") !== expected) return errorResponse(401, "UNAUTHORIZED", "bad credentials");
  }
  return Response.json({ token: fault.token, expires_in: fault.expiresIn ?? 300 });
}

function errorResponse(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ errors: [{ code, message }] }, { status, headers });
}

/** Same length, first byte inverted: a digest mismatch the size check cannot see. */
function flipFirstByte(): TransformStream<Uint8Array, Uint8Array> {
  let done = false;
  return new TransformStream({
    transform(chunk, controller) {
      if (!done && chunk.byteLength > 0) {
        chunk = chunk.slice();
        chunk[0] ^= 0xff;
        done = true;
      }
      controller.enqueue(chunk);
    },
  });
}

/** Passes `limit` bytes, then waits on `stall` (the client sees a body that stops coming). */
function halfThenStall(limit: number, stall: () => Promise<void>): TransformStream<Uint8Array, Uint8Array> {
  let sent = 0;
  return new TransformStream({
    async transform(chunk, controller) {
      if (sent >= limit) return await stall();
      const part = chunk.subarray(0, limit - sent);
      sent += part.byteLength;
      controller.enqueue(part);
      if (sent >= limit) await stall();
    },
  });
}

/** Passes at most `rate` bytes a second, in pieces of up to 64 KiB. */
function pace(rate: number): TransformStream<Uint8Array, Uint8Array> {
  const started = performance.now();
  let sent = 0;
  return new TransformStream({
    async transform(chunk, controller) {
      for (let at = 0; at < chunk.byteLength; at += 65536) {
        const piece = chunk.subarray(at, Math.min(chunk.byteLength, at + 65536));
        const due = started + ((sent + piece.byteLength) / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        sent += piece.byteLength;
        controller.enqueue(piece);
      }
    },
  });
}

/** Passes `limit` bytes, then ends the body early (the client sees a short body). */
function truncate(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let sent = 0;
  return new TransformStream({
    transform(chunk, controller) {
      if (sent >= limit) return;
      const part = chunk.subarray(0, limit - sent);
      sent += part.byteLength;
      controller.enqueue(part);
      if (sent >= limit) controller.terminate();
    },
  });
}

/**
 * A fault a registry shows on the wire, below HTTP semantics, for {@link startWireFaultProxy}.
 * Each applies to requests matching `method`/`path` (default: any), the first `times` times (default: always).
 */
export type WireFault = {
  method?: string;
  path?: RegExp;
  times?: number;
} & (
  /** Headers and half the body, then a TCP reset (for a request with a body: after reading half of it). */
  | { kind: "reset" }
  /** A `Content-Length` of the whole body but only half of it, then a clean close. */
  | { kind: "short" }
  /** Headers and half the body (or, with `beforeHeaders`, nothing at all), then silence for `ms` (default: until the client gives up). */
  | { kind: "stall"; beforeHeaders?: boolean; ms?: number }
  /** A status line that is not HTTP, then close. */
  | { kind: "garbage" }
  /** The connection closed before any answer (for a request with a body: after reading part of it). */
  | { kind: "close" }
  /** `status` (e.g. 500, 503) with a spec error body. */
  | { kind: "status"; status: number }
  /** Bytes that are neither HTTP nor TLS, as a server of another protocol would send. */
  | { kind: "not-http" }
);

/** The kinds of {@link WireFault}, for tests that loop over all of them. */
export const WIRE_FAULT_KINDS = ["reset", "short", "stall", "garbage", "close", "status", "not-http"] as const;

/**
 * A proxy on 127.0.0.1 (node:http, so it can misbehave at the socket level) forwarding to `upstream`
 * with `faults` applied. Location headers are rewritten to point back at the proxy.
 *
 * @example
 * ```ts
 * const proxy = await startWireFaultProxy(registry.host, [{ kind: "reset", method: "GET", path: /\/blobs\// }]);
 * ```
 */
export async function startWireFaultProxy(upstream: string, faults: WireFault[]): Promise<FaultyProxy> {
  const { createServer } = await import("node:http");
  const requests: { method: string; path: string }[] = [];
  const left = new Map<WireFault, number>(faults.map((f) => [f, f.times ?? Infinity]));
  const sockets = new Set<import("node:net").Socket>();
  let self = "";
  const server = createServer(async (req, res) => {
    const path = req.url ?? "/";
    const method = req.method ?? "GET";
    requests.push({ method, path });
    const fault = faults.find((f) =>
      left.get(f)! > 0 && (!f.method || f.method === method) && (!f.path || f.path.test(path))
    );
    if (fault) left.set(fault, left.get(fault)! - 1);
    const socket = req.socket;
    const hasBody = method !== "GET" && method !== "HEAD";
    // Faults that need no upstream answer.
    if (fault?.kind === "garbage") return void socket.end("HTXP/9 what\r\n\r\n");
    if (fault?.kind === "not-http") return void socket.end(new Uint8Array([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x50]));
    if (fault?.kind === "status") {
      const body = JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "injected wire fault" }] });
      req.resume();
      return void res.writeHead(fault.status, { "Content-Type": "application/json" }).end(body);
    }
    if (fault?.kind === "close" || (fault?.kind === "stall" && fault.beforeHeaders)) {
      if (hasBody) await readSome(req);
      if (fault.kind === "close") return void socket.destroy();
      if (fault.ms !== undefined) setTimeout(() => socket.destroy(), fault.ms);
      return;
    }
    if (fault?.kind === "reset" && hasBody) {
      await readSome(req);
      return void socket.resetAndDestroy();
    }
    // Forward the request, then maybe spoil the answer.
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string" && k !== "host" && k !== "connection") headers.set(k, v);
    }
    let upstreamRes: Response;
    try {
      upstreamRes = await fetch(`http://${upstream}${path}`, {
        method,
        headers,
        body: hasBody ? (ReadableStreamFrom(req)) : undefined,
        redirect: "manual",
        ...(hasBody ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch {
      return void socket.destroy();
    }
    const out: Record<string, string> = {};
    upstreamRes.headers.forEach((v, k) => (out[k] = v));
    if (out.location?.startsWith(`http://${upstream}`)) out.location = `http://${self}${out.location.slice(upstream.length + 7)}`;
    const body = method === "HEAD" ? new Uint8Array() : new Uint8Array(await upstreamRes.arrayBuffer());
    if (!fault || method === "HEAD" || body.byteLength < 2) {
      delete out["transfer-encoding"];
      if (method !== "HEAD") out["content-length"] = String(body.byteLength);
      return void res.writeHead(upstreamRes.status, out).end(body);
    }
    const half = body.subarray(0, body.byteLength >> 1);
    const head = [`HTTP/1.1 ${upstreamRes.status} X`, ...Object.entries({ ...out, "content-length": String(body.byteLength) })
      .filter(([k]) => k !== "transfer-encoding" && k !== "connection").map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
    socket.write(head);
    socket.write(half);
    if (fault.kind === "reset") setTimeout(() => socket.resetAndDestroy(), 20);
    else if (fault.kind === "short") socket.end();
    else if (fault.kind === "stall" && fault.ms !== undefined) setTimeout(() => socket.destroy(), fault.ms);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  self = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    host: self,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads (and drops) the first chunk of a request body, or waits 50 ms for one. */
function readSome(req: import("node:http").IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 50);
    req.once("data", () => {
      clearTimeout(timer);
      req.pause();
      resolve();
    });
    req.once("end", () => resolve());
  });
}

function ReadableStreamFrom(req: import("node:http").IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Uint8Array) => controller.enqueue(new Uint8Array(chunk)));
      req.on("end", () => controller.close());
      req.on("error", (err) => controller.error(err));
    },
  });
}
