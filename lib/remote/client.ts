/**
 * The HTTP client of one registry host, over `fetch`: authentication on challenge, retries of
 * transient failures, redirects that never carry credentials to another host. One client per
 * host and options is shared by every store of that host, so tokens are fetched once.
 *
 * @module
 */
import { abortErrorOf, FerryError, NetworkError } from "../errors.ts";
import { canSkipTlsVerify, runtimeName, tlsFetchInit } from "../runtime.ts";
import { Authenticator } from "./auth.ts";
import { checkAuthFile, resolveCredentials } from "./credentials.ts";
import { drain, errorFromResponse } from "./errors.ts";
import { parseRateLimit, type RegistryEvent } from "./rate_limit.ts";
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  describeNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
  sleep,
} from "./retry.ts";
import { DEFAULT_TIMEOUTS, fetchWithTimeouts, probeConnect, TimeoutError, type Timeouts } from "./timeouts.ts";
import { describeTlsFailure, probeTls, tlsFailureOf, tlsSettingsFor } from "./tls.ts";

/**
 * How to reach and authenticate to a registry.
 *
 * @example
 * ```ts
 * const options: RegistryOptions = { username: "ci", password: "secret", retries: 5, certDir: "/etc/ferry/certs" };
 * await copy("registry.lan:5000/app:1.0", "oci:out:1.0", { source: options });
 * ```
 */
export interface RegistryOptions {
  /** Explicit credentials (`--src-creds USER:PASS`); they win over the docker config file. */
  username?: string;
  /** Password or token for basic auth and token exchange; never printed. */
  password?: string;
  /**
   * Speak plain HTTP. Without it every host is tried over HTTPS first; loopback hosts (and hosts with
   * `tlsVerify: false`) fall back to HTTP when the server answers the TLS handshake in plain HTTP.
   */
  plainHttp?: boolean;
  /** Skip TLS certificate verification (`--insecure`): the same as `tlsVerify: false`. */
  insecure?: boolean;
  /**
   * Verify the registry's TLS certificate (default true; `--tls-verify=false` as skopeo spells it).
   * Bun skips verification per request; Deno cannot, run it with `--unsafely-ignore-certificate-errors`.
   */
  tlsVerify?: boolean;
  /**
   * A directory of certificates (`--cert-dir`): every `*.crt` is a CA trusted besides the system's,
   * `client.cert` + `client.key` a client certificate for mutual TLS. Without it the registry's
   * `certs.d/HOST:PORT/` (or `certs.d/HOST/`) directory of docker or containers is used when there is one.
   */
  certDir?: string;
  /** PEM certificates given directly: extra CAs, and a client certificate with its key. */
  tls?: { ca?: string[]; cert?: string; key?: string };
  /** A docker-style config/auth file to take credentials from. */
  authFile?: string;
  /** Retries of transient failures (default 3). */
  retries?: number;
  /** The User-Agent header (default `ferry`). */
  userAgent?: string;
  /** Upload blobs in PATCH chunks of this many bytes instead of one streaming request. */
  chunkSize?: number;
  /** How long opening a connection may take (`--connect-timeout`; default 30 000 ms, 0 for none). */
  connectTimeoutMs?: number;
  /**
   * How long a request may wait for the answer's headers once its body is sent, and a credential
   * helper for its answer (`--timeout`; default 60 000 ms, 0 for none).
   */
  timeoutMs?: number;
  /** How long a body may stall between two chunks, either way (`--idle-timeout`; default 60 000 ms, 0 for none). */
  idleTimeoutMs?: number;
}

/**
 * One request to the registry.
 *
 * @example
 * ```ts
 * const client = new RegistryClient("127.0.0.1:5000");
 * const options: SendOptions = { method: "GET", scopes: ["repository:app:pull"] };
 * const response = await client.send("/v2/app/tags/list", options);
 * ```
 */
export interface SendOptions {
  /** HTTP method (default GET). */
  method?: string;
  /** Request headers. */
  headers?: Record<string, string>;
  /** A streaming body is sent once: it is neither retried nor replayed after a challenge. */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  /** Token scopes the request needs, e.g. `repository:app:pull`. */
  scopes?: string[];
  /** Aborts the request and its retries. */
  signal?: AbortSignal;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** `docker.io` and its aliases are served by `registry-1.docker.io`; every other registry by its own name. */
export function wireHost(registry: string): string {
  return registry === "docker.io" || registry === "index.docker.io" ? "registry-1.docker.io" : registry;
}

/** Whether `host` (with or without a port) is a loopback name: `localhost`, `127.*`, `[::1]`. */
export function isLoopback(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "[::1]" || /^127(\.\d{1,3}){3}$/.test(name);
}

/**
 * A client for one registry host.
 *
 * @example
 * ```ts
 * const client = new RegistryClient("127.0.0.1:5000", { retries: 5 });
 * const res = await client.send("/v2/app/tags/list", { scopes: ["repository:app:pull"] });
 * ```
 */
export class RegistryClient {
  /** The host on the wire, e.g. `registry-1.docker.io` for `docker.io`. */
  readonly host: string;
  /** `https://host`, or `http://host` with `plainHttp` or once a loopback server answered in plain HTTP. */
  get baseUrl(): string {
    return `${this.#scheme ?? "https"}://${this.host}`;
  }
  /** How requests are retried (408/429/5xx, network errors). */
  readonly retry: RetryPolicy;
  /** The connect, response and idle timeouts. */
  readonly #timeouts: Timeouts;
  /** Set after a registry refused a monolithic upload with 413: later uploads go in chunks. */
  preferChunked = false;
  readonly #auth: Authenticator;
  /** Known once the host answered: `http` (forced, or the fallback) or `https`. */
  #scheme?: "http" | "https";
  /** Whether a plain-HTTP answer to the TLS handshake may switch this host to `http://`. */
  readonly #mayFallBack: boolean;
  #fetchInit?: Promise<RequestInit>;
  #probe?: Promise<void>;
  #authFileChecked?: Promise<void>;
  /** Whether a TCP connection opened lately; until then (and after a network error) it is probed first. */
  #connected = false;
  readonly #listeners = new Set<(event: RegistryEvent) => void>();

  /** A client for `registry` (a host as users write it, e.g. `docker.io`, `127.0.0.1:5000`). */
  constructor(readonly registry: string, readonly options: RegistryOptions = {}) {
    this.host = wireHost(registry);
    if (options.plainHttp) this.#scheme = "http";
    this.#mayFallBack = isLoopback(this.host) || !this.#verify;
    this.retry = { ...DEFAULT_RETRY_POLICY, retries: options.retries ?? DEFAULT_RETRY_POLICY.retries };
    this.#timeouts = {
      connectMs: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectMs,
      responseMs: options.timeoutMs ?? DEFAULT_TIMEOUTS.responseMs,
      idleMs: options.idleTimeoutMs ?? DEFAULT_TIMEOUTS.idleMs,
    };
    this.#auth = new Authenticator(
      this.host,
      (url, init) => this.#withRetries(url, init, true),
      () => resolveCredentials(registry, { ...options, helperTimeoutMs: this.#timeouts.responseMs }),
    );
  }

  /**
   * Calls `listener` with what this client reports (rate-limit announcements, retries); the
   * client is shared per host, so every user of the host hears them. Returns the unsubscriber.
   */
  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: RegistryEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  /** `path` (e.g. `/v2/app/manifests/1.0`) or a `Location` header resolved against the registry URL, query kept. */
  url(pathOrLocation: string | URL): URL {
    return new URL(String(pathOrLocation), `${this.baseUrl}/`);
  }

  /**
   * Sends a request: anonymously first, then with a token or basic credentials after a 401
   * (once; only to the registry's own host, never to another one a Location points at); retrying transient failures when the body can be replayed; following redirects of
   * body-less requests without sending credentials to another host. Returns the final answer
   * whatever its status; throws NetworkError or AbortError when there was none.
   */
  async send(pathOrUrl: string | URL, options: SendOptions = {}): Promise<Response> {
    this.#authFileChecked ??= checkAuthFile(this.options);
    await this.#authFileChecked;
    const url = this.url(pathOrUrl).toString();
    const scopes = options.scopes ?? [];
    const replayable = !(options.body instanceof ReadableStream);
    // Credentials keep to their origin (as docker's authorizer does): an absolute URL of another host
    // (an upload Location at a storage service, say) gets neither the token nor the password.
    const own = new URL(url).host === this.host;
    let authorization = own ? await this.#auth.headerFor(scopes, options.signal) : undefined;
    for (let challenged = !own;;) {
      const headers: Record<string, string> = { ...options.headers };
      if (authorization) headers["Authorization"] = authorization;
      const init: RequestInit & { signal?: AbortSignal } = {
        method: options.method ?? "GET",
        headers,
        body: options.body as BodyInit | undefined,
        signal: options.signal,
      };
      const res = await this.#withRetries(url, init, replayable);
      const limit = this.#listeners.size > 0 ? parseRateLimit(res.headers) : undefined;
      if (limit) this.#emit({ type: "ratelimit", host: this.host, ...limit });
      if (res.status !== 401 || challenged || !replayable) return res;
      challenged = true;
      const next = await this.#auth.authenticate(res.headers.get("www-authenticate"), scopes, options.signal);
      if (!next || next === authorization) return res;
      await drain(res);
      authorization = next;
    }
  }

  /** `GET /v2/`: whether the registry answers the distribution API, authenticating if it asks to. */
  async ping(options: { signal?: AbortSignal } = {}): Promise<{ apiVersion?: string }> {
    const res = await this.send("/v2/", { signal: options.signal });
    if (!res.ok) {
      throw await errorFromResponse(res, {
        verb: "reach",
        what: "the registry API",
        host: this.host,
        method: "GET",
        url: res.url || this.url("/v2/"),
      });
    }
    await drain(res);
    return { apiVersion: res.headers.get("docker-distribution-api-version") ?? undefined };
  }

  async #withRetries(
    url: string,
    init: RequestInit & { signal?: AbortSignal },
    replayable: boolean,
  ): Promise<Response> {
    const signal = init.signal ?? undefined;
    for (let attempt = 0;; attempt++) {
      const canRetry = replayable && attempt < this.retry.retries;
      let res: Response;
      try {
        if (!this.#connected) await this.#probeConnect(url);
        res = await this.#follow(url, init);
        this.#connected = true;
      } catch (err) {
        if (signal?.aborted) throw abortErrorOf(signal);
        this.#connected = false;
        if (err instanceof FerryError && !(err instanceof TimeoutError)) throw err;
        if (!canRetry) {
          if (err instanceof TimeoutError) throw err;
          throw new NetworkError(`Cannot reach ${this.host}: ${describeNetworkError(err)}`, { cause: err });
        }
        const waitMs = backoffDelay(attempt, this.retry);
        this.#emit({ type: "retry", host: this.host, waitMs, attempt, retryAfter: false });
        await sleep(waitMs, signal);
        continue;
      }
      if (!canRetry || !isRetryableStatus(res.status)) return res;
      const asked = parseRetryAfter(res.headers.get("retry-after"));
      if (asked !== undefined && asked > this.retry.maxRetryAfterMs) return res;
      await drain(res);
      const waitMs = asked ?? backoffDelay(attempt, this.retry);
      this.#emit({
        type: "retry",
        host: this.host,
        status: res.status,
        waitMs,
        attempt,
        retryAfter: asked !== undefined,
      });
      await sleep(waitMs, signal);
    }
  }

  /** A connection to the host of `url` opens within the connect timeout, or a TimeoutError. */
  #probeConnect(url: string): Promise<void> {
    const u = new URL(url);
    if (u.host !== this.host) return Promise.resolve();
    const port = u.port ? Number(u.port) : u.protocol === "http:" || this.#scheme === "http" ? 80 : 443;
    return probeConnect(u.hostname, port, this.#timeouts.connectMs, this.host);
  }

  get #verify(): boolean {
    return this.options.tlsVerify !== false && !this.options.insecure;
  }

  /** The runtime's fetch options for this registry's TLS settings, read once (cert files included). */
  #tlsInit(): Promise<RequestInit> {
    this.#fetchInit ??= tlsSettingsFor(this.host, {
      certDir: this.options.certDir,
      tlsVerify: this.#verify,
      ...this.options.tls,
    }).then((settings) => tlsFetchInit(settings));
    return this.#fetchInit;
  }

  /**
   * One fetch. An `https://` URL of this host that meets a plain-HTTP server switches the host to
   * `http://` where that is allowed (loopback, or verification off) and is sent again that way;
   * every other TLS failure is a NetworkError saying what is wrong with the certificate.
   */
  async #fetch(url: URL, init: RequestInit): Promise<Response> {
    const tlsInit = await this.#tlsInit();
    const own = url.host === this.host;
    if (own && url.protocol === "https:" && this.#scheme === "http") url = withProtocol(url, "http:");
    if (
      own && url.protocol === "https:" && this.#scheme === undefined && this.#mayFallBack &&
      init.body instanceof ReadableStream
    ) {
      // A streaming body cannot be sent twice: find out the scheme with a body-less request first.
      this.#probe ??= this.#fetch(this.url("/v2/"), { method: "GET", signal: init.signal }).then(drain, () => {})
        .finally(() => (this.#probe = undefined));
      await this.#probe;
      if (this.#scheme === "http") url = withProtocol(url, "http:");
    }
    const label = url.host;
    try {
      const res = await fetchWithTimeouts(init, this.#timeouts, label, (i) => fetch(url, { ...tlsInit, ...i }));
      if (own) this.#scheme ??= url.protocol === "https:" ? "https" : "http";
      return res;
    } catch (err) {
      if (err instanceof FerryError) throw err;
      if (url.protocol !== "https:" || (init.signal as AbortSignal | undefined)?.aborted) throw err;
      let failure = tlsFailureOf(err);
      if (!failure) throw err;
      if (failure === "handshake") failure = await probeTls(url.hostname, Number(url.port || 443));
      if (failure === "plain-http" && own && this.#mayFallBack && this.#scheme !== "https") {
        const res = await fetchWithTimeouts(init, this.#timeouts, label, (i) => fetch(withProtocol(url, "http:"), i));
        this.#scheme = "http";
        return res;
      }
      const detail = describeNetworkError(err);
      const runtime = canSkipTlsVerify ? "bun" : runtimeName;
      throw new NetworkError(`Cannot reach ${url.host}: ${describeTlsFailure(failure, url.host, detail, runtime)}`, {
        cause: err,
      });
    }
  }

  /** One exchange, following redirects of GET/HEAD by hand so Authorization never leaves its origin. */
  async #follow(url: string, init: RequestInit & { signal?: AbortSignal }): Promise<Response> {
    const method = init.method ?? "GET";
    const headers = new Headers(init.headers);
    headers.set("User-Agent", this.options.userAgent ?? "ferry");
    let current = new URL(url);
    for (let hops = 0;; hops++) {
      const res = await this.#fetch(current, {
        ...init,
        headers,
        redirect: "manual",
        // Streaming request bodies need half duplex in Deno and Node; Bun accepts it.
        ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}),
      } as RequestInit);
      const location = res.headers.get("location");
      if (!REDIRECTS.has(res.status) || !location || (method !== "GET" && method !== "HEAD") || hops >= 10) return res;
      await drain(res);
      const next = new URL(location, current);
      // Pre-signed storage URLs carry their own credentials; ours must not follow them to another host.
      if (next.origin !== current.origin) headers.delete("Authorization");
      current = next;
    }
  }
}

function withProtocol(url: URL, protocol: "http:" | "https:"): URL {
  const next = new URL(url);
  next.protocol = protocol;
  return next;
}

const clients = new Map<string, RegistryClient>();

/** The shared client for `registry` (as the user names it) with these options; created on first use. */
export function clientFor(registry: string, options: RegistryOptions = {}): RegistryClient {
  const key = JSON.stringify([
    registry,
    options.username,
    options.password,
    !!options.plainHttp,
    !!options.insecure,
    options.tlsVerify,
    options.certDir,
    options.tls,
    options.authFile,
    options.retries,
    options.userAgent,
    options.chunkSize,
    options.connectTimeoutMs,
    options.timeoutMs,
    options.idleTimeoutMs,
  ]);
  let client = clients.get(key);
  if (!client) {
    client = new RegistryClient(registry, options);
    clients.set(key, client);
  }
  return client;
}

/**
 * Checks that `registry` answers the distribution API (`GET /v2/`), authenticating if asked.
 *
 * @example
 * ```ts
 * await pingRegistry("127.0.0.1:5000"); // { apiVersion: "registry/2.0" }
 * ```
 */
export function pingRegistry(
  registry: string,
  options: RegistryOptions & { signal?: AbortSignal } = {},
): Promise<{ apiVersion?: string }> {
  const { signal, ...rest } = options;
  return clientFor(registry, rest).ping({ signal });
}
