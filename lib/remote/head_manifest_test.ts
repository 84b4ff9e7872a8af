import { afterAll, beforeAll, expect, test } from "bun:test";
import { AuthError } from "../errors.ts";
import { serve, type Server } from "../runtime.ts";
import { digestOf } from "../oci/digest.ts";
import { RegistryClient } from "./client.ts";
import { headManifest } from "./head_manifest.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;
let server: Server;
const seen: string[] = [];
beforeAll(async () => {
  server = await serve((req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${req.method} ${path}`);
    if (path.endsWith("/present")) {
      return Promise.resolve(
        new Response(null, {
          headers: {
            "Docker-Content-Digest": DIGEST,
            "Content-Type": "application/vnd.oci.image.index.v1+json",
            "Content-Length": "321",
          },
        }),
      );
    }
    if (path.endsWith("/nodigest")) {
      return Promise.resolve(new Response(null, { headers: { "Content-Type": "application/json" } }));
    }
    if (path.endsWith("/denied")) return Promise.resolve(new Response(null, { status: 403 }));
    return Promise.resolve(new Response(null, { status: 404 }));
  });
});
afterAll(() => server?.stop());

test("one HEAD: the descriptor fields of a present manifest", async () => {
  seen.length = 0;
  const head = await headManifest(new RegistryClient(server.host), "app", "present");
  expect(head).toEqual({
    exists: true,
    digest: DIGEST,
    mediaType: "application/vnd.oci.image.index.v1+json",
    size: 321,
  });
  expect(seen).toEqual(["HEAD /v2/app/manifests/present"]);
});

test("a 404 is an answer, with no GET to follow", async () => {
  seen.length = 0;
  expect(await headManifest(new RegistryClient(server.host), "app", "missing")).toEqual({ exists: false });
  expect(seen).toEqual(["HEAD /v2/app/manifests/missing"]);
});

test("no digest header: present, digest unknown (or the reference when it is a digest)", async () => {
  const client = new RegistryClient(server.host);
  const head = await headManifest(client, "app", "nodigest");
  expect(head.exists).toBe(true);
  expect(head.digest).toBeUndefined();
  expect(head.mediaType).toBeUndefined();
  seen.length = 0;
  expect((await headManifest(client, "app", DIGEST)).exists).toBe(false);
});

test("other failures throw the registry's error", async () => {
  const failing = headManifest(new RegistryClient(server.host), "app", "denied", { ref: "x/app:denied" });
  await expect(failing).rejects.toThrow(AuthError);
});

test("a registry that refuses HEAD (405): one GET instead, the digest computed from the bytes", async () => {
  const body = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
  const digest = digestOf(body);
  const methods: string[] = [];
  const noHead = await serve((req) => {
    methods.push(req.method);
    if (req.method === "HEAD") return Promise.resolve(new Response(null, { status: 405 }));
    if (new URL(req.url).pathname.endsWith("/gone")) return Promise.resolve(new Response(null, { status: 404 }));
    return Promise.resolve(
      new Response(body, { headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" } }),
    );
  });
  try {
    const client = new RegistryClient(noHead.host);
    expect(await headManifest(client, "app", "1.0")).toEqual({
      exists: true,
      digest,
      mediaType: "application/vnd.oci.image.index.v1+json",
      size: body.byteLength,
    });
    expect(methods).toEqual(["HEAD", "GET"]);
    expect(await headManifest(client, "app", "gone")).toEqual({ exists: false });
  } finally {
    await noHead.stop();
  }
});
