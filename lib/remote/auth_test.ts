import { describe, expect, test } from "bun:test";
import { AuthError } from "../errors.ts";
import { Authenticator, parseWwwAuthenticate, scopeCovers, type Sender } from "./auth.ts";

describe("parseWwwAuthenticate", () => {
  test.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      [{
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/alpine:pull",
        },
      }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    ["Basic", [{ scheme: "basic", params: {} }]],
    [
      'Bearer realm="r", error="insufficient_scope", scope="repository:a:pull,push repository:b:pull"',
      [{
        scheme: "bearer",
        params: { realm: "r", error: "insufficient_scope", scope: "repository:a:pull,push repository:b:pull" },
      }],
    ],
    ['Basic realm="a, \\"b\\"", Bearer realm=x', [
      { scheme: "basic", params: { realm: 'a, "b"' } },
      { scheme: "bearer", params: { realm: "x" } },
    ]],
    ["", []],
  ])("%p", (header, expected) => {
    expect(parseWwwAuthenticate(header)).toEqual(expected);
  });
});

test("scopeCovers", () => {
  expect(scopeCovers(["repository:a:pull,push"], ["repository:a:pull"])).toBe(true);
  expect(scopeCovers(["repository:a:pull"], ["repository:a:pull,push"])).toBe(false);
  expect(scopeCovers(["repository:a:pull,push"], ["repository:a:pull,push", "repository:b:pull"])).toBe(false);
  expect(scopeCovers(["repository:a:*"], ["repository:a:push"])).toBe(true);
  expect(scopeCovers([], [])).toBe(true);
});

/** A token endpoint as a plain function: records its requests and hands out numbered tokens. */
function tokenEndpoint(expiresIn = 300) {
  const calls: { url: URL; init: RequestInit }[] = [];
  const send: Sender = (url, init) => {
    calls.push({ url: new URL(url), init });
    if (new Headers(init.headers).get("authorization") === "Basic dTp3cm9uZw==") {
      return Promise.resolve(
        Response.json({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }, { status: 401 }),
      );
    }
    return Promise.resolve(Response.json({ access_token: `tok${calls.length}`, expires_in: expiresIn }));
  };
  return { calls, send };
}

const challenge = 'Bearer realm="https://auth.example/token",service="reg",scope="repository:app:pull"';

describe("Authenticator", () => {
  test("anonymous until challenged; then one token per scope, reused while it lasts", async () => {
    const { calls, send } = tokenEndpoint();
    const auth = new Authenticator("reg.example", send, () => Promise.resolve(undefined));
    expect(await auth.headerFor(["repository:app:pull"])).toBeUndefined();
    expect(await auth.authenticate(challenge, ["repository:app:pull"])).toBe("Bearer tok1");
    expect(calls[0].url.toString()).toBe("https://auth.example/token?service=reg&scope=repository%3Aapp%3Apull");
    expect(new Headers(calls[0].init.headers).has("authorization")).toBe(false);
    expect(await auth.headerFor(["repository:app:pull"])).toBe("Bearer tok1");
    // A new scope knows the realm now: fetched up front, no anonymous round trip.
    expect(await auth.headerFor(["repository:app:pull,push"])).toBe("Bearer tok2");
    expect(await auth.headerFor(["repository:app:pull"])).toBe("Bearer tok1");
    expect(calls).toHaveLength(2);
  });

  test("concurrent requests share one token fetch", async () => {
    const { calls, send } = tokenEndpoint();
    const auth = new Authenticator("reg.example", send, () => Promise.resolve(undefined));
    await auth.authenticate(challenge, ["repository:app:pull"]);
    const headers = await Promise.all([1, 2, 3].map(() => auth.headerFor(["repository:other:pull"])));
    expect(headers).toEqual(["Bearer tok2", "Bearer tok2", "Bearer tok2"]);
    expect(calls).toHaveLength(2);
  });

  test("expired tokens are fetched again", async () => {
    const { calls, send } = tokenEndpoint(0.001);
    const auth = new Authenticator("reg.example", send, () => Promise.resolve(undefined));
    await auth.authenticate(challenge, ["repository:app:pull"]);
    await new Promise((r) => setTimeout(r, 5));
    expect(await auth.headerFor(["repository:app:pull"])).toBe("Bearer tok2");
    expect(calls).toHaveLength(2);
  });

  test("credentials go to the realm as basic auth; an identity token as a refresh-token POST", async () => {
    const a = tokenEndpoint();
    await new Authenticator("r", a.send, () => Promise.resolve({ username: "u", password: "p" })).authenticate(
      challenge,
      [],
    );
    expect(new Headers(a.calls[0].init.headers).get("authorization")).toBe("Basic dTpw");
    const b = tokenEndpoint();
    await new Authenticator("r", b.send, () => Promise.resolve({ identityToken: "refresh" })).authenticate(
      challenge,
      [],
    );
    expect(b.calls[0].init.method).toBe("POST");
    expect(Object.fromEntries(new URLSearchParams(String(b.calls[0].init.body)))).toEqual({
      grant_type: "refresh_token",
      client_id: "ferry",
      refresh_token: "refresh",
      service: "reg",
      scope: "repository:app:pull",
    });
  });

  test("a refused token request is an AuthError without the password", async () => {
    const { send } = tokenEndpoint();
    const auth = new Authenticator("reg.example", send, () => Promise.resolve({ username: "u", password: "wrong" }));
    const err = await auth.authenticate(challenge, []).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toBe("Cannot authenticate to reg.example: UNAUTHORIZED: bad credentials");
    expect(err.message).not.toContain("wrong");
  });

  test("basic challenges answer with the credentials, or nothing without them", async () => {
    const { send } = tokenEndpoint();
    const auth = new Authenticator("r", send, () => Promise.resolve({ username: "u", password: "p" }));
    expect(await auth.authenticate('Basic realm="x"', [])).toBe("Basic dTpw");
    expect(await auth.headerFor(["repository:a:pull"])).toBe("Basic dTpw");
    const anonymous = new Authenticator("r", send, () => Promise.resolve(undefined));
    expect(await anonymous.authenticate('Basic realm="x"', [])).toBeUndefined();
    expect(await anonymous.authenticate("Negotiate", [])).toBeUndefined();
  });
});
