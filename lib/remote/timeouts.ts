/**
 * ferry's own network timeouts, since `fetch` has none worth the name: how long a connection may take
 * to open (`--connect-timeout`, default 30 s), how long a request may wait for the answer's headers once
 * its body is sent (`--timeout`, default 60 s), and how long a body may stall between two chunks, in
 * either direction (`--idle-timeout`, default 60 s). A timeout is a {@link TimeoutError}: a
 * NetworkError (exit 5) that the client retries like a dropped connection.
 *
 * @module
 */
import { connect } from "node:net";
import { NetworkError } from "../errors.ts";

/** The timeouts of one registry client, in milliseconds; 0 turns one off. */
export interface Timeouts {
  connectMs: number;
  responseMs: number;
  idleMs: number;
}

/** 30 s to connect, 60 s for the answer's headers, 60 s between two chunks of a body. */
export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 30_000, responseMs: 60_000, idleMs: 60_000 };

/** A registry that did not connect, answer or send data in time; retried like a dropped connection. */
export class TimeoutError extends NetworkError {
  /** The message without its "Cannot reach HOST: " head, e.g. `no data for 60 s`. */
  readonly reason: string;
  constructor(label: string, reason: string, verb = "reach") {
    super(`Cannot ${verb} ${label}: ${reason}`);
    this.reason = reason;
  }
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * Opens (and closes) a TCP connection to `host:port` within `ms`; a {@link TimeoutError} when it does
 * not open in time. Other failures (refused, DNS) are left for the request itself to report.
 */
export function probeConnect(host: string, port: number, ms: number, label: string): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ""), port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TimeoutError(label, `no connection within ${seconds(ms)} (--connect-timeout)`, "connect to"));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    socket.once("connect", done);
    socket.once("error", done);
  });
}

/**
 * `doFetch(init)` with the response and idle timeouts: the request body (a stream) must be taken at
 * least every `idleMs`; once it is all sent (at once for other bodies) the headers must come within
 * `responseMs`; then each chunk of the answer's body within `idleMs`. A timeout aborts the exchange
 * and rejects (or errors the body) with a {@link TimeoutError} naming `label`.
 */
export async function fetchWithTimeouts(
  init: RequestInit & { signal?: AbortSignal | null },
  timeouts: Timeouts,
  label: string,
  doFetch: (init: RequestInit) => Promise<Response>,
): Promise<Response> {
  const controller = new AbortController();
  const signal = init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fail: (err: TimeoutError) => void = () => {};
  const timedOut = new Promise<never>((_, reject) => (fail = reject));
  timedOut.catch(() => {});
  const arm = (ms: number, what: string) => {
    clearTimeout(timer);
    if (ms <= 0) return;
    timer = setTimeout(() => {
      const err = new TimeoutError(label, `${what} for ${seconds(ms)}`);
      fail(err);
      controller.abort(err);
    }, ms);
  };
  const disarm = () => clearTimeout(timer);
  let body = init.body;
  if (body instanceof ReadableStream) {
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    arm(timeouts.idleMs, "the registry took no request data");
    body = new ReadableStream<Uint8Array>({
      async pull(c) {
        arm(timeouts.idleMs, "the registry took no request data");
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          disarm();
          c.error(err);
          return;
        }
        if (chunk.done) {
          arm(timeouts.responseMs, "no answer");
          c.close();
        } else c.enqueue(chunk.value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  } else arm(timeouts.responseMs, "no answer");
  let res: Response;
  try {
    res = await Promise.race([doFetch({ ...init, body, signal }), timedOut]);
  } catch (err) {
    disarm();
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  }
  disarm();
  if (!res.body || timeouts.idleMs <= 0 || NULL_BODY.has(res.status)) return res;
  const reader = res.body.getReader();
  // One timer per read (never a race against one long-lived promise: its reactions would keep every chunk).
  const read = () =>
    new Promise<Awaited<ReturnType<typeof reader.read>>>((resolve, reject) => {
      const idle = setTimeout(() => {
        const err = new TimeoutError(label, `no data for ${seconds(timeouts.idleMs)}`);
        controller.abort(err);
        reject(err);
      }, timeouts.idleMs);
      reader.read().then((chunk) => {
        clearTimeout(idle);
        resolve(chunk);
      }, (err) => {
        clearTimeout(idle);
        reject(controller.signal.aborted ? controller.signal.reason : err);
      });
    });
  const watched = new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const chunk = await read();
        if (chunk.done) c.close();
        else c.enqueue(chunk.value);
      } catch (err) {
        reader.cancel(err).catch(() => {});
        c.error(err);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  const out = new Response(watched, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperty(out, "url", { value: res.url });
  return out;
}
