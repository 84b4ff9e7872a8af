import { afterAll, beforeAll, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { digestOf } from "../oci/digest.ts";
import { serve, type Server } from "../runtime.ts";
import { streamOf } from "../stream/read_limited.ts";
import { RegistryClient } from "./client.ts";
import { uploadBlob } from "./upload.ts";

// Three origins on 127.0.0.1 (different ports are different origins): a registry that wants a bearer
// token, its token realm, and a storage host (a CDN for blob GETs, an upload target). Each records the
// Authorization header it got.
let registry: Server;
let realm: Server;
let storage: Server;
const seen: { at: string; method: string; path: string; authorization: string | null }[] = [];
const basic = `Basic ${Buffer.from("u:p").toString("base64")}`;

beforeAll(async () => {
  const record = (at: string, req: Request) =>
    seen.push({
      at,
      method: req.method,
      path: new URL(req.url).pathname,
      authorization: req.headers.get("authorization"),
    });
  storage = await serve(async (req) => {
    record("storage", req);
    await req.arrayBuffer();
    const path = new URL(req.url).pathname;
    if (req.method === "PATCH") {
      return new Response(null, { status: 202, headers: { Location: `http://${storage.host}/upload/1` } });
    }
    if (req.method === "PUT") return new Response(null, { status: 201 });
    return new Response(path === "/cdn/blob" ? "cdn bytes" : "?");
  });
  realm = await serve((req) => {
    record("realm", req);
    if (req.headers.get("authorization") !== basic) return Promise.resolve(new Response(null, { status: 401 }));
    return Promise.resolve(Response.json({ token: "registry-token", expires_in: 300 }));
  });
  registry = await serve((req) => {
    record("registry", req);
    const path = new URL(req.url).pathname;
    if (req.headers.get("authorization") !== "Bearer registry-token") {
      return Promise.resolve(
        new Response(null, {
          status: 401,
          headers: { "WWW-Authenticate": `Bearer realm="http://${realm.host}/token",service="test"` },
        }),
      );
    }
    if (path === "/v2/app/blobs/uploads/") {
      return Promise.resolve(
        new Response(null, { status: 202, headers: { Location: `http://${storage.host}/upload/1` } }),
      );
    }
    if (path.startsWith("/v2/app/blobs/")) {
      return Promise.resolve(
        new Response(null, { status: 307, headers: { Location: `http://${storage.host}/cdn/blob` } }),
      );
    }
    return Promise.resolve(new Response(null, { status: 404 }));
  });
});
afterAll(async () => {
  await Promise.all([registry?.stop(), realm?.stop(), storage?.stop()]);
});

test("a blob GET redirected to another origin carries no Authorization there; the realm gets basic credentials only", async () => {
  seen.length = 0;
  const client = new RegistryClient(registry.host, { username: "u", password: "p" });
  const res = await client.send(`/v2/app/blobs/${digestOf("x")}`, { scopes: ["repository:app:pull"] });
  expect(await res.text()).toBe("cdn bytes");
  expect(seen.filter((s) => s.at === "storage").map((s) => s.authorization)).toEqual([null]);
  expect(seen.filter((s) => s.at === "realm").map((s) => s.authorization)).toEqual([basic]);
  expect(seen.filter((s) => s.at === "registry").map((s) => s.authorization)).toEqual([null, "Bearer registry-token"]);
});

test("an upload Location on another origin gets neither the bearer token nor the credentials", async () => {
  seen.length = 0;
  const client = new RegistryClient(registry.host, { username: "u", password: "p" });
  const bytes = new TextEncoder().encode("layer");
  const desc = { mediaType: "application/octet-stream", digest: digestOf(bytes), size: bytes.byteLength };
  await uploadBlob(client, "app", desc, streamOf(bytes));
  const atStorage = seen.filter((s) => s.at === "storage");
  expect(atStorage.map((s) => s.method)).toEqual(["PATCH", "PUT"]);
  expect(atStorage.map((s) => s.authorization)).toEqual([null, null]);
  expect(seen.some((s) => s.at !== "registry" && s.authorization?.startsWith("Bearer"))).toBe(false);
});
