/**
 * The one module that knows which runtime ferry runs on (Bun or Deno; Node for what costs nothing).
 * Everything else uses web-standard APIs and `node:` built-ins.
 *
 * @module
 */
import process from "node:process";
import { readFileStream } from "./stream/files.ts";
import { setCollector } from "./stream/reclaim.ts";
import { setCrc32 } from "./stream/gzip.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/**
 * A `node:` built-in loaded when first used rather than at start-up: under Bun each costs resident memory once
 * loaded (measured on a compiled ferry: node:zlib 10 MiB, node:http 9, node:tls 7, node:net 6, node:stream 4),
 * and most runs need none of the rarely used ones.
 *
 * @example
 * ```ts
 * const { rootCertificates } = builtin("node:tls");
 * ```
 */
export const builtin: typeof process.getBuiltinModule = (id: string) => process.getBuiltinModule(id);

/** Which runtime this is. */
export const runtimeName: "bun" | "deno" | "node" = g.Bun ? "bun" : g.Deno ? "deno" : "node";

// Bun's own CRC-32 (native, zlib's polynomial and chaining): level-0 gzip then needs no node:zlib.
if (runtimeName === "bun") setCrc32((data, value) => g.Bun.hash.crc32(data, value));

/** Command-line arguments after the script (or compiled binary) name. */
export function args(): string[] {
  if (runtimeName === "deno") return [...g.Deno.args];
  return process.argv.slice(2);
}

/** An environment variable, or undefined. */
export function env(name: string): string | undefined {
  return process.env[name];
}

/** Ends the process with `code`. */
export function exit(code: number): never {
  process.exit(code);
}

/** A running HTTP server started by {@link serve}. */
export interface Server {
  /** `127.0.0.1:PORT` as bound. */
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes connections. */
  stop(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  hostname?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Serve HTTPS with this PEM certificate chain and private key (the contents, not paths). */
  tls?: { cert: string; key: string };
  /**
   * Largest request body accepted, in bytes (default: no limit of the runtime's own; the handler
   * bounds bodies itself). Bun's default of 128 MiB would refuse large layer uploads.
   */
  maxRequestBodySize?: number;
}

/**
 * Serves a web-standard `(Request) => Promise<Response>` handler over HTTP.
 *
 * @example
 * ```ts
 * const server = await serve((req) => Promise.resolve(new Response("ok")), { port: 0 });
 * await fetch(`http://${server.host}/`);
 * await server.stop();
 * ```
 */
// deno-lint-ignore require-await -- async so that a bind failure (thrown by Bun.serve/Deno.serve) rejects
export async function serve(handler: (req: Request) => Promise<Response>, options: ServeOptions = {}): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  if (runtimeName === "bun") {
    const server = g.Bun.serve({
      hostname,
      port,
      fetch: handler,
      idleTimeout: 0,
      maxRequestBodySize: options.maxRequestBodySize ?? Number.MAX_SAFE_INTEGER,
      ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
    });
    return {
      host: `${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.port}`,
      port: server.port,
      stop: async () => {
        await server.stop(true);
      },
    };
  }
  if (runtimeName === "deno") {
    const tls = options.tls ? { cert: options.tls.cert, key: options.tls.key } : {};
    // As Deno's default, except that a response body aborted with no reason (its handler reported why,
    // see registryHandler's onError) is not printed as "undefined".
    const onError = (err: unknown) => {
      if (err !== undefined) console.error(err);
      return new Response("Internal Server Error", { status: 500 });
    };
    const server = g.Deno.serve({ hostname, port, onListen: () => {}, onError, ...tls }, handler);
    const bound = server.addr.port as number;
    return {
      host: `${hostname.includes(":") ? `[${hostname}]` : hostname}:${bound}`,
      port: bound,
      stop: async () => {
        await server.shutdown();
      },
    };
  }
  throw new Error("ferry serve needs Bun or Deno");
}

/**
 * A response body with the bytes `[start, end)` of the file at `path` that the server sends with its
 * Content-Length. Bun drops Content-Length from streamed bodies (oven-sh/bun#10507) but keeps it for a
 * file slice (sent with sendfile); Deno keeps the header on a stream, so there it is a plain file stream.
 *
 * @example
 * ```ts
 * new Response(fileBody("blobs/sha256/abc…", 0, size), { headers: { "Content-Length": String(size) } });
 * ```
 */
export function fileBody(path: string, start: number, end: number): BodyInit {
  if (runtimeName === "bun") return g.Bun.file(path).slice(start, end);
  return readFileStream(path, { start, end });
}

/**
 * Calls `listener` on SIGINT and SIGTERM; returns a function that removes it.
 */
export function onSignal(listener: (signal: "SIGINT" | "SIGTERM") => void): () => void {
  const int = () => listener("SIGINT");
  const term = () => listener("SIGTERM");
  process.on("SIGINT", int);
  process.on("SIGTERM", term);
  return () => {
    process.off("SIGINT", int);
    process.off("SIGTERM", term);
  };
}

/**
 * A fetch that can reach a unix socket (the Docker engine API), as `fetch` with an extra `unix` option.
 * Bun and Deno both support this, each in its own way.
 */
export function fetchUnix(socketPath: string, url: string, init: RequestInit = {}): Promise<Response> {
  if (runtimeName === "bun") return fetch(url, { ...init, unix: socketPath } as RequestInit);
  if (runtimeName === "deno") {
    const client = g.Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
    return fetch(url, { ...init, client } as RequestInit);
  }
  throw new Error("talking to the Docker engine needs Bun or Deno");
}

/**
 * A fetch over a local socket through `node:http`'s `socketPath`, which reaches a Windows named pipe
 * (`\\.\pipe\docker_engine`, the Docker engine's `npipe://` endpoint) as well as a unix socket, under Bun, Deno
 * and Node alike. Streams a ReadableStream request body with back-pressure; `init.signal` aborts the request.
 *
 * @example
 * ```ts
 * const res = await fetchLocalSocket("\\\\.\\pipe\\docker_engine", "http://docker/_ping");
 * ```
 */
export function fetchLocalSocket(socketPath: string, url: string, init: RequestInit = {}): Promise<Response> {
  const target = new URL(url);
  const headers: Record<string, string> = { host: target.host };
  new Headers(init.headers).forEach((value, key) => (headers[key] = value));
  const method = init.method ?? "GET";
  const signal = init.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const { request: httpRequest } = builtin("node:http");
    const { Readable } = builtin("node:stream");
    const req = httpRequest({ socketPath, method, path: target.pathname + target.search, headers }, (res) => {
      const responseHeaders = new Headers();
      for (const [key, value] of Object.entries(res.headers)) {
        for (const v of value === undefined ? [] : [value].flat()) responseHeaders.append(key, v);
      }
      const status = res.statusCode ?? 0;
      const empty = method === "HEAD" || status === 204 || status === 304;
      if (empty) res.resume();
      const body = empty ? null : Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
      resolve(new Response(body, { status, statusText: res.statusMessage, headers: responseHeaders }));
    });
    const onAbort = () => req.destroy(signal!.reason instanceof Error ? signal!.reason : new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("close", () => signal?.removeEventListener("abort", onAbort));
    req.once("error", reject);
    const body = init.body;
    if (body instanceof ReadableStream) {
      void (async () => {
        const reader = (body as ReadableStream<Uint8Array>).getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (!req.write(value)) await new Promise<void>((r) => req.once("drain", () => r()));
          }
          req.end();
        } catch (err) {
          req.destroy(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    } else if (typeof body === "string" || body instanceof Uint8Array) req.end(body);
    else if (body == null) req.end();
    else req.destroy(new TypeError("fetchLocalSocket: body must be a ReadableStream, a string or a Uint8Array"));
  });
}

/**
 * The TLS settings of one registry: extra CA certificates (PEM, trusted in addition to the system's),
 * a client certificate and key (PEM) for mutual TLS, and whether to verify the server's certificate.
 */
export interface TlsFetchOptions {
  ca?: string[];
  cert?: string;
  key?: string;
  /** False skips certificate verification (Bun; Deno cannot per request, see {@link canSkipTlsVerify}). */
  verify?: boolean;
}

/**
 * Whether this runtime can skip certificate verification per request. Deno cannot: it needs
 * `--unsafely-ignore-certificate-errors[=HOST]` on its own command line.
 */
export const canSkipTlsVerify: boolean = runtimeName === "bun";

/**
 * Extra fetch options that apply `tls` to requests: Bun's `tls: { ca, cert, key, rejectUnauthorized }`
 * (the system CAs kept alongside the extra ones), Deno's `client: Deno.createHttpClient({ caCerts, cert,
 * key })` (built once per call: call this once per registry and reuse the result). Empty when there is
 * nothing to change.
 */
export function tlsFetchInit(tls: TlsFetchOptions): RequestInit {
  const hasCa = (tls.ca?.length ?? 0) > 0;
  const hasCert = tls.cert !== undefined && tls.key !== undefined;
  if (runtimeName === "bun") {
    if (!hasCa && !hasCert && tls.verify !== false) return {};
    return {
      tls: {
        ...(hasCa ? { ca: [...builtin("node:tls").rootCertificates, ...tls.ca!] } : {}),
        ...(hasCert ? { cert: tls.cert, key: tls.key } : {}),
        ...(tls.verify === false ? { rejectUnauthorized: false } : {}),
      },
    } as RequestInit;
  }
  if (runtimeName === "deno") {
    if (!hasCa && !hasCert) return {};
    const client = g.Deno.createHttpClient({
      ...(hasCa ? { caCerts: tls.ca } : {}),
      ...(hasCert ? { cert: tls.cert, key: tls.key } : {}),
    });
    return { client } as RequestInit;
  }
  return {};
}

/**
 * Makes streams collect garbage by bytes moved (see `noteStreamedBytes`): on Bun a full collection every
 * `mib` MiB (default 16, `FERRY_GC_MIB` overrides; 0 turns it off). Each streamed chunk is a fresh buffer that
 * Bun's collector frees late, so without this a copy's resident memory grows with its concurrency and blob sizes
 * (measured on the 100 MiB 6-platform image: copy 105 → 87 MiB peak RSS, export 150 → 94). The CLI turns it on;
 * a library user with a large heap of their own may not want a full collection that often. Elsewhere a no-op.
 *
 * @example
 * ```ts
 * collectGarbageWhileStreaming();
 * ```
 */
export function collectGarbageWhileStreaming(mib?: number): void {
  if (runtimeName !== "bun") return;
  const step = mib ?? Number(process.env.FERRY_GC_MIB ?? 16);
  if (!(step > 0)) return;
  setCollector(() => g.Bun.gc(true), step * 1024 * 1024);
}
