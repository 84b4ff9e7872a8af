/**
 * Registry authentication: `WWW-Authenticate` parsing, bearer tokens fetched from the realm and
 * cached per scope until they expire, and basic auth. Secrets never reach an error message.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { AuthError, NetworkError } from "../errors.ts";
import type { Credentials } from "./credentials.ts";
import { errorFromResponse } from "./errors.ts";
import { describeNetworkError } from "./retry.ts";

/** One challenge of a `WWW-Authenticate` header: a lower-case scheme and its parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * The challenges of a `WWW-Authenticate` header, in order.
 *
 * @example
 * ```ts
 * parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"');
 * // [{ scheme: "bearer", params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a:pull" } }]
 * ```
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  const re = /\s*(?:,\s*)?([!#$%&'*+.^_`|~\w-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header)) !== null && m[0] !== "") {
    const [, token, value] = m;
    if (value === undefined) {
      challenges.push({ scheme: token.toLowerCase(), params: {} });
    } else if (challenges.length > 0) {
      const unquoted = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
      challenges[challenges.length - 1].params[token.toLowerCase()] = unquoted;
    }
  }
  return challenges;
}

/**
 * Whether a token granted for `have` also grants `want`: every wanted `type:name:actions`
 * has a granted scope of the same resource with all its actions.
 */
export function scopeCovers(have: string[], want: string[]): boolean {
  const granted = new Map<string, Set<string>>();
  for (const s of have) {
    const [resource, actions] = splitScope(s);
    const set = granted.get(resource) ?? new Set<string>();
    for (const a of actions) set.add(a);
    granted.set(resource, set);
  }
  return want.every((s) => {
    const [resource, actions] = splitScope(s);
    const set = granted.get(resource);
    return set !== undefined && actions.every((a) => set.has(a) || set.has("*"));
  });
}

function splitScope(scope: string): [string, string[]] {
  const i = scope.lastIndexOf(":");
  return i < 0 ? [scope, []] : [scope.slice(0, i), scope.slice(i + 1).split(",").filter(Boolean)];
}

/** Sends a request with retries and TLS options but without authentication (the client's transport). */
export type Sender = (url: string, init: RequestInit & { signal?: AbortSignal }) => Promise<Response>;

interface CachedToken {
  scopes: string[];
  header: string;
  expires: number;
}

/**
 * The authentication state of one registry host: the last challenge it sent, its tokens per scope
 * and the credentials (looked up once, on the first challenge).
 */
export class Authenticator {
  #challenge?: Challenge;
  #tokens: CachedToken[] = [];
  #pending = new Map<string, Promise<string>>();
  #credentials?: Promise<Credentials | undefined>;

  constructor(
    readonly host: string,
    private readonly send: Sender,
    private readonly loadCredentials: () => Promise<Credentials | undefined>,
  ) {}

  /**
   * The Authorization header to send up front for `scopes`, once the host has challenged us:
   * a cached (or, knowing the realm, freshly fetched) token, or basic credentials. Undefined means anonymous.
   */
  async headerFor(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === "basic") return await this.#basic();
    return await this.#token(challenge, scopes, signal);
  }

  /**
   * Answers a 401's `WWW-Authenticate` header: the Authorization header to retry with, or
   * undefined when there is nothing to try (no usable challenge, basic auth without credentials).
   */
  async authenticate(header: string | null, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenges = parseWwwAuthenticate(header ?? "");
    const challenge = challenges.find((c) => c.scheme === "bearer" && c.params.realm) ??
      challenges.find((c) => c.scheme === "basic");
    if (!challenge) return undefined;
    this.#challenge = challenge;
    if (challenge.scheme === "basic") return await this.#basic();
    const extra = challenge.params.scope?.split(" ").filter(Boolean) ?? [];
    const wanted = [...new Set([...scopes, ...extra])];
    // A token we hold for these scopes was just refused: drop it and ask the realm again.
    this.#tokens = this.#tokens.filter((t) => !scopeCovers(t.scopes, wanted));
    return await this.#token(challenge, wanted, signal);
  }

  #creds(): Promise<Credentials | undefined> {
    this.#credentials ??= this.loadCredentials();
    return this.#credentials;
  }

  async #basic(): Promise<string | undefined> {
    const creds = await this.#creds();
    if (!creds || creds.username === undefined) return undefined;
    return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}`;
  }

  #token(challenge: Challenge, scopes: string[], signal?: AbortSignal): Promise<string> {
    const now = Date.now();
    this.#tokens = this.#tokens.filter((t) => t.expires > now);
    const cached = this.#tokens.find((t) => scopeCovers(t.scopes, scopes));
    if (cached) return Promise.resolve(cached.header);
    const key = [...scopes].sort().join(" ");
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(challenge, scopes, signal).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #fetchToken(challenge: Challenge, scopes: string[], signal?: AbortSignal): Promise<string> {
    const creds = await this.#creds();
    const realm = new URL(challenge.params.realm);
    const service = challenge.params.service;
    let res: Response;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as docker does for identity tokens from `docker login`.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        client_id: "ferry",
        refresh_token: creds.identityToken,
      });
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await this.send(realm.toString(), {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        signal,
      });
    } else {
      if (service) realm.searchParams.set("service", service);
      for (const s of scopes) realm.searchParams.append("scope", s);
      const basic = await this.#basic();
      res = await this.send(realm.toString(), {
        method: "GET",
        headers: basic ? { Authorization: basic } : {},
        signal,
      });
    }
    if (!res.ok) {
      throw await errorFromResponse(res, { verb: "get", what: "a token", host: this.host, method: "GET", url: realm });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new NetworkError(
        `Cannot reach ${realm.host}: connection lost while reading a token: ${describeNetworkError(err)}`,
        { cause: err },
      );
    }
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text);
    } catch {
      throw new AuthError(`Cannot authenticate to ${this.host}: the token server did not answer JSON`);
    }
    const token = body.token || body.access_token;
    if (!token) throw new AuthError(`Cannot authenticate to ${this.host}: the token server sent no token`);
    const lifetime = (typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const header = `Bearer ${token}`;
    // Renew a little early so a token never expires between our check and the registry's.
    this.#tokens.push({ scopes, header, expires: Date.now() + Math.max(lifetime / 2, lifetime - 10_000) });
    return header;
  }
}
