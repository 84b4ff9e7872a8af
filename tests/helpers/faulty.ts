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
  | { kind: "stall"; digest?: string; method?: string; path?: RegExp };

/** A running proxy. */
export interface FaultyProxy {
  /** `127.0.0.1:PORT`: use it as the registry host. */
  host: string;
  /** Every request received, in order (token requests included, as `/token?...`). */
  requests: { method: string; path: string }[];
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
    return new Response(body, { status: res.status, headers: out });
  }

  const server = await serve(handle);
  self = server.host;
  return {
    host: server.host,
    requests,
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
