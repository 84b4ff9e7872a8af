/**
 * Protocol tests derived from the OCI distribution spec's conformance suite (opencontainers/distribution-spec
 * conformance/: pull, push, content discovery, content management, error codes), run over real HTTP against
 * a writable OCI layout served by registryHandler.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { digestOf } from "../oci/digest.ts";
import { MediaType } from "../oci/media_types.ts";
import { serve, type Server } from "../runtime.ts";
import { basicAuthenticator } from "./basic_auth.ts";
import { registryHandler, type RequestLogEntry } from "./handler.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { layoutBackend } from "./layouts.ts";

let dir: string;
let server: Server;
let base: string;
const log: RequestLogEntry[] = [];

const enc = (s: string) => new TextEncoder().encode(s);
const config = enc(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
const layer = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
const configDesc = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.byteLength };
const layerDesc = { mediaType: MediaType.OciLayerGzip, digest: digestOf(layer), size: layer.byteLength };
const manifest = enc(
  JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [layerDesc] }),
);
const manifestDigest = digestOf(manifest);
const UNKNOWN = `sha256:${"0".repeat(64)}`;

let parent: string;
beforeAll(async () => {
  // The layout sits in a private parent, so "nothing outside the layout touched" looks at a directory no one else uses.
  parent = await mkdtemp(join(tmpdir(), "ferry-protocol-"));
  dir = join(parent, "layout");
  const store = await OciLayoutStore.open(dir, { create: true });
  const backend = layoutBackend([{ store, defaultRepo: "default" }], { writable: true });
  server = await serve(registryHandler(backend, { maxBlobBytes: 1_000_000, onRequest: (e) => log.push(e) }));
  base = `http://${server.host}`;
});
afterAll(async () => {
  await server?.stop();
  await rm(parent, { recursive: true, force: true });
});

function req(
  method: string,
  path: string,
  init: { body?: Uint8Array | string; headers?: Record<string, string> } = {},
) {
  return fetch(path.startsWith("http") ? path : `${base}${path}`, {
    method,
    body: init.body as BodyInit,
    headers: init.headers,
  });
}

async function expectError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  const body = await res.json();
  expect(body.errors[0].code).toBe(code);
  expect(body.errors[0].message).toStartWith("Cannot ");
}

async function pushBlob(name: string, bytes: Uint8Array): Promise<string> {
  const res = await req("POST", `/v2/${name}/blobs/uploads/?digest=${digestOf(bytes)}`, { body: bytes });
  expect(res.status).toBe(201);
  return res.headers.get("Location")!;
}

async function pushManifest(name: string, ref: string, bytes: Uint8Array, type: string = MediaType.OciManifest) {
  return await req("PUT", `/v2/${name}/manifests/${ref}`, { body: bytes, headers: { "Content-Type": type } });
}

describe("push", () => {
  test("monolithic POST ?digest= → 201 with Location; GET returns the blob", async () => {
    const location = await pushBlob("proto/a", config);
    expect(location).toBe(`/v2/proto/a/blobs/${configDesc.digest}`);
    const res = await req("GET", location);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(config);
  });

  test("POST then PUT with the body → 202 with a session, then 201", async () => {
    const start = await req("POST", "/v2/proto/a/blobs/uploads/");
    expect(start.status).toBe(202);
    expect(start.headers.get("Location")).toMatch(/^\/v2\/proto\/a\/blobs\/uploads\/[0-9a-f]{32}$/);
    expect(start.headers.get("Docker-Upload-UUID")).toMatch(/^[0-9a-f]{32}$/);
    const put = await req("PUT", `${start.headers.get("Location")}?digest=${layerDesc.digest}`, { body: layer });
    expect(put.status).toBe(201);
    expect(put.headers.get("Docker-Content-Digest")).toBe(layerDesc.digest);
  });

  test("streamed PATCH without Content-Range, then PUT ?digest= without a body", async () => {
    const bytes = enc("streamed blob");
    const start = await req("POST", "/v2/proto/a/blobs/uploads/");
    const patch = await req("PATCH", start.headers.get("Location")!, {
      body: bytes,
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(patch.status).toBe(202);
    expect(patch.headers.get("Range")).toBe(`0-${bytes.byteLength - 1}`);
    const put = await req("PUT", `${patch.headers.get("Location")}?digest=${digestOf(bytes)}`);
    expect(put.status).toBe(201);
  });

  test("chunked: out-of-order chunk → 416; in order → 202s, status GET 204 with Range, final PUT 201", async () => {
    const a = layer.subarray(0, 100_000);
    const b = layer.subarray(100_000, 200_000);
    const c = layer.subarray(200_000);
    const start = await req("POST", "/v2/proto/chunked/blobs/uploads/", { headers: { "Content-Length": "0" } });
    const at = start.headers.get("Location")!;
    const wrong = await req("PATCH", at, { body: b, headers: { "Content-Range": "100000-199999" } });
    expect(wrong.status).toBe(416);
    const first = await req("PATCH", at, { body: a, headers: { "Content-Range": "0-99999" } });
    expect(first.status).toBe(202);
    expect(first.headers.get("Range")).toBe("0-99999");
    const second = await req("PATCH", at, { body: b, headers: { "Content-Range": "100000-199999" } });
    expect(second.status).toBe(202);
    const status = await req("GET", at);
    expect(status.status).toBe(204);
    expect(status.headers.get("Range")).toBe("0-199999");
    const put = await req("PUT", `${at}?digest=${layerDesc.digest}`, {
      body: c,
      headers: { "Content-Range": "200000-299999" },
    });
    expect(put.status).toBe(201);
    // The session is gone once committed.
    await expectError(await req("GET", at), 404, "BLOB_UPLOAD_UNKNOWN");
  });

  test("a digest that does not match the bytes → 400 DIGEST_INVALID, nothing stored", async () => {
    const res = await req("POST", `/v2/proto/a/blobs/uploads/?digest=${UNKNOWN}`, { body: enc("not that") });
    await expectError(res, 400, "DIGEST_INVALID");
    expect((await req("HEAD", `/v2/proto/a/blobs/${UNKNOWN}`)).status).toBe(404);
    await expectError(
      await req("POST", "/v2/proto/a/blobs/uploads/?digest=sha256:xyz", { body: enc("x") }),
      400,
      "DIGEST_INVALID",
    );
    expect(readdirSync(join(dir, ".ferry-uploads"))).toEqual([]);
  });

  test("an upload past the size bound → 413 SIZE_INVALID; cancelled and unknown sessions", async () => {
    const big = new Uint8Array(1_000_001);
    await expectError(
      await req("POST", `/v2/proto/a/blobs/uploads/?digest=${digestOf(big)}`, { body: big }),
      413,
      "SIZE_INVALID",
    );
    const start = await req("POST", "/v2/proto/a/blobs/uploads/");
    const at = start.headers.get("Location")!;
    expect((await req("DELETE", at)).status).toBe(204);
    await expectError(await req("PATCH", at, { body: enc("x") }), 404, "BLOB_UPLOAD_UNKNOWN");
    await expectError(await req("PATCH", "/v2/proto/a/blobs/uploads/../../etc"), 404, "NOT_FOUND");
    await expectError(
      await req("PATCH", "/v2/proto/a/blobs/uploads/..%2F..%2Fx", { body: enc("x") }),
      404,
      "BLOB_UPLOAD_UNKNOWN",
    );
    // A session belongs to its repository.
    const other = await req("POST", "/v2/proto/a/blobs/uploads/");
    const id = other.headers.get("Docker-Upload-UUID");
    await expectError(await req("GET", `/v2/proto/b/blobs/uploads/${id}`), 404, "BLOB_UPLOAD_UNKNOWN");
    await req("DELETE", other.headers.get("Location")!);
  });

  test("cross-repository mount: 201 for a known blob, a new session (202) for an unknown one", async () => {
    const mounted = await req("POST", `/v2/proto/mounted/blobs/uploads/?mount=${configDesc.digest}&from=proto/a`);
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get("Location")).toBe(`/v2/proto/mounted/blobs/${configDesc.digest}`);
    const fallback = await req("POST", `/v2/proto/mounted/blobs/uploads/?mount=${UNKNOWN}&from=proto/a`);
    expect(fallback.status).toBe(202);
    await req("DELETE", fallback.headers.get("Location")!);
  });

  test("concurrent uploads of the same blob are harmless", async () => {
    const bytes = new Uint8Array(200_000).fill(7);
    const results = await Promise.all(
      Array.from(
        { length: 6 },
        () => req("POST", `/v2/proto/c/blobs/uploads/?digest=${digestOf(bytes)}`, { body: bytes }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
    const got = await req("GET", `/v2/proto/c/blobs/${digestOf(bytes)}`);
    expect(digestOf(new Uint8Array(await got.arrayBuffer()))).toBe(digestOf(bytes));
  });

  test("manifest PUT by tag → 201 with Location and digest; GET by tag and digest return the exact bytes", async () => {
    const res = await pushManifest("proto/a", "v1", manifest);
    expect(res.status).toBe(201);
    expect(res.headers.get("Location")).toBe(`/v2/proto/a/manifests/${manifestDigest}`);
    expect(res.headers.get("Docker-Content-Digest")).toBe(manifestDigest);
    for (const ref of ["v1", manifestDigest]) {
      const got = await req("GET", `/v2/proto/a/manifests/${ref}`, { headers: { Accept: MediaType.OciManifest } });
      expect(got.status).toBe(200);
      expect(got.headers.get("Content-Type")).toBe(MediaType.OciManifest);
      expect(got.headers.get("Docker-Content-Digest")).toBe(manifestDigest);
      expect(new Uint8Array(await got.arrayBuffer())).toEqual(manifest);
    }
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.manifests.map((m: { annotations?: Record<string, string> }) => m.annotations)).toContainEqual({
      "org.opencontainers.image.ref.name": "proto/a:v1",
    });
  });

  test("manifest PUT errors: missing blob, bad JSON, type mismatch, digest mismatch, too large, bad tag", async () => {
    const missing = enc(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDesc,
        layers: [{ ...layerDesc, digest: UNKNOWN }],
      }),
    );
    await expectError(await pushManifest("proto/a", "bad", missing), 400, "MANIFEST_BLOB_UNKNOWN");
    const index = enc(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: MediaType.OciManifest, digest: UNKNOWN, size: 10 }],
      }),
    );
    await expectError(await pushManifest("proto/a", "bad", index, MediaType.OciIndex), 400, "MANIFEST_BLOB_UNKNOWN");
    await expectError(await pushManifest("proto/a", "bad", enc("{not json")), 400, "MANIFEST_INVALID");
    await expectError(await pushManifest("proto/a", "bad", manifest, MediaType.OciIndex), 400, "MANIFEST_INVALID");
    await expectError(
      await pushManifest(
        "proto/a",
        "bad",
        enc(JSON.stringify({ schemaVersion: 1, name: "x" })),
        MediaType.DockerManifestV1,
      ),
      400,
      "MANIFEST_INVALID",
    );
    await expectError(await pushManifest("proto/a", UNKNOWN, manifest), 400, "DIGEST_INVALID");
    await expectError(await pushManifest("proto/a", "bad", new Uint8Array(5 * 1024 * 1024)), 413, "SIZE_INVALID");
    await expectError(await pushManifest("proto/a", ".bad", manifest), 400, "MANIFEST_INVALID");
    await expectError(await req("GET", "/v2/proto/a/manifests/bad"), 404, "MANIFEST_UNKNOWN");
  });

  test("manifest PUT by digest: stored untagged, reachable by digest only", async () => {
    const other = enc(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDesc,
        layers: [],
        annotations: { x: "1" },
      }),
    );
    expect((await pushManifest("proto/d", digestOf(other), other)).status).toBe(201);
    expect((await req("GET", `/v2/proto/d/manifests/${digestOf(other)}`)).status).toBe(200);
    expect(await (await req("GET", "/v2/proto/d/tags/list")).json()).toEqual({ name: "proto/d", tags: [] });
  });
});

describe("pull", () => {
  test("GET /v2/ is 200 {} with the API version header", async () => {
    const res = await req("GET", "/v2/");
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
  });

  test("blob GET over real HTTP carries a correct Content-Length (not chunked)", async () => {
    const res = await req("GET", `/v2/proto/a/blobs/${layerDesc.digest}`);
    expect(res.headers.get("Content-Length")).toBe(String(layer.byteLength));
    expect(res.headers.get("Transfer-Encoding")).toBeNull();
    expect(digestOf(new Uint8Array(await res.arrayBuffer()))).toBe(layerDesc.digest);
    const head = await req("HEAD", `/v2/proto/a/blobs/${layerDesc.digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get("Content-Length")).toBe(String(layer.byteLength));
    expect(head.headers.get("Docker-Content-Digest")).toBe(layerDesc.digest);
  });

  test("Range requests: 206 with Content-Range; suffix ranges; out of bounds → 416", async () => {
    const url = `/v2/proto/a/blobs/${layerDesc.digest}`;
    const part = await req("GET", url, { headers: { Range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("Content-Range")).toBe(`bytes 10-19/${layer.byteLength}`);
    expect(part.headers.get("Content-Length")).toBe("10");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(layer.subarray(10, 20));
    const tail = await req("GET", url, { headers: { Range: "bytes=-5" } });
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(layer.subarray(layer.byteLength - 5));
    const open = await req("GET", url, { headers: { Range: `bytes=${layer.byteLength - 3}-` } });
    expect(open.status).toBe(206);
    expect((await open.arrayBuffer()).byteLength).toBe(3);
    const out = await req("GET", url, { headers: { Range: `bytes=${layer.byteLength}-` } });
    expect(out.status).toBe(416);
    expect(out.headers.get("Content-Range")).toBe(`bytes */${layer.byteLength}`);
    await out.body?.cancel();
  });

  test("unknown things are 404 with the spec's codes", async () => {
    await expectError(await req("GET", `/v2/proto/a/blobs/${UNKNOWN}`), 404, "BLOB_UNKNOWN");
    await expectError(await req("GET", "/v2/proto/a/manifests/nope"), 404, "MANIFEST_UNKNOWN");
    await expectError(await req("GET", `/v2/proto/a/manifests/${UNKNOWN}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await req("GET", "/v2/proto/nope/manifests/v1"), 404, "NAME_UNKNOWN");
    await expectError(await req("GET", "/v2/proto/nope/tags/list"), 404, "NAME_UNKNOWN");
    // A manifest of another repository is not served by digest here.
    await expectError(await req("GET", `/v2/proto/chunked/manifests/${manifestDigest}`), 404, "NAME_UNKNOWN");
  });

  test("invalid names and digests → 400; traversal attempts → 4xx, nothing outside the layout touched", async () => {
    await expectError(await req("GET", "/v2/Proto/A/manifests/v1"), 400, "NAME_INVALID");
    await expectError(await req("GET", "/v2/a..b/tags/list"), 400, "NAME_INVALID");
    await expectError(await req("GET", "/v2/a/..%2F..%2Fetc/tags/list"), 400, "NAME_INVALID");
    await expectError(await req("GET", "/v2/proto/a/blobs/sha256:..%2F..%2Fetc%2Fpasswd"), 400, "DIGEST_INVALID");
    await expectError(await req("GET", "/v2/proto/a/blobs/sha256%3A..%2F..%2Findex.json"), 400, "DIGEST_INVALID");
    await expectError(await req("GET", "/v2/proto/a/manifests/..%2F..%2Findex.json"), 404, "MANIFEST_UNKNOWN");
    await expectError(
      await req("PUT", "/v2/proto/a/manifests/..%2Fx", {
        body: manifest,
        headers: { "Content-Type": MediaType.OciManifest },
      }),
      400,
      "MANIFEST_INVALID",
    );
    await expectError(
      await req("POST", "/v2/proto/a/blobs/uploads/?digest=sha256:../../x", { body: enc("x") }),
      400,
      "DIGEST_INVALID",
    );
    const raw = await fetch(`${base}/v2/proto/a/blobs/sha256:%00`);
    expect(raw.status).toBe(400);
    await raw.body?.cancel();
    expect(existsSync(join(dir, "..", "x"))).toBe(false);
  });
});

describe("content discovery", () => {
  test("tags list: lexical order, n/last pagination with a Link header", async () => {
    for (const tag of ["b", "a", "c"]) expect((await pushManifest("proto/tags", tag, manifest)).status).toBe(201);
    expect(await (await req("GET", "/v2/proto/tags/tags/list")).json()).toEqual({
      name: "proto/tags",
      tags: ["a", "b", "c"],
    });
    const page = await req("GET", "/v2/proto/tags/tags/list?n=2");
    expect(await page.json()).toEqual({ name: "proto/tags", tags: ["a", "b"] });
    expect(page.headers.get("Link")).toBe('</v2/proto/tags/tags/list?n=2&last=b>; rel="next"');
    expect(await (await req("GET", "/v2/proto/tags/tags/list?n=2&last=b")).json()).toEqual({
      name: "proto/tags",
      tags: ["c"],
    });
    expect(await (await req("GET", "/v2/proto/tags/tags/list?n=0")).json()).toEqual({ name: "proto/tags", tags: [] });
    await expectError(await req("GET", "/v2/proto/tags/tags/list?n=-1"), 400, "PAGINATION_NUMBER_INVALID");
  });

  test("referrers: manifests whose subject is the digest, with OCI-Subject on push and artifactType filtering", async () => {
    const empty = enc("{}");
    await pushBlob("proto/a", empty);
    const emptyDesc = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 };
    const subject = { mediaType: MediaType.OciManifest, digest: manifestDigest, size: manifest.byteLength };
    const artifact = (type: string) =>
      enc(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: type,
          config: emptyDesc,
          layers: [emptyDesc],
          subject,
          annotations: { t: type },
        }),
      );
    const sbom = artifact("application/spdx+json");
    const sig = artifact("application/vnd.dev.cosign.simplesigning.v1+json");
    const pushed = await pushManifest("proto/a", digestOf(sbom), sbom);
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get("OCI-Subject")).toBe(manifestDigest);
    await pushManifest("proto/a", digestOf(sig), sig);
    const all = await req("GET", `/v2/proto/a/referrers/${manifestDigest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get("Content-Type")).toBe(MediaType.OciIndex);
    const body = await all.json();
    expect(body.mediaType).toBe(MediaType.OciIndex);
    expect(body.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual(
      [digestOf(sbom), digestOf(sig)].sort(),
    );
    expect(body.manifests.find((m: { digest: string }) => m.digest === digestOf(sbom)).artifactType).toBe(
      "application/spdx+json",
    );
    const filtered = await req("GET", `/v2/proto/a/referrers/${manifestDigest}?artifactType=application/spdx%2Bjson`);
    expect(filtered.headers.get("OCI-Filters-Applied")).toBe("artifactType");
    expect((await filtered.json()).manifests.map((m: { digest: string }) => m.digest)).toEqual([digestOf(sbom)]);
    expect((await (await req("GET", `/v2/proto/a/referrers/${UNKNOWN}`)).json()).manifests).toEqual([]);
    await expectError(await req("GET", "/v2/proto/a/referrers/sha256:bad"), 400, "DIGEST_INVALID");
  });
});

describe("content management", () => {
  test("DELETE a tag → 202, gone from tags/list; DELETE by digest → 202, then GET 404", async () => {
    expect((await pushManifest("proto/m", "t1", manifest)).status).toBe(201);
    expect((await pushManifest("proto/m", "t2", manifest)).status).toBe(201);
    expect((await req("DELETE", "/v2/proto/m/manifests/t1")).status).toBe(202);
    expect((await (await req("GET", "/v2/proto/m/tags/list")).json()).tags).toEqual(["t2"]);
    await expectError(await req("DELETE", "/v2/proto/m/manifests/t1"), 404, "MANIFEST_UNKNOWN");
    expect((await req("DELETE", `/v2/proto/m/manifests/${manifestDigest}`)).status).toBe(202);
    await expectError(await req("GET", "/v2/proto/m/manifests/t2"), 404, "NAME_UNKNOWN");
    // Still served where another repository holds it.
    expect((await req("GET", `/v2/proto/a/manifests/${manifestDigest}`)).status).toBe(200);
  });

  // 403 DENIED was answered before; the spec allows only 400 or 405 for a delete the registry will not do.
  test("DELETE a blob: refused while a manifest uses it (405 UNSUPPORTED), 202 once unreferenced, then 404", async () => {
    const lonely = enc("lonely blob");
    await pushBlob("proto/z", lonely);
    await expectError(await req("DELETE", `/v2/proto/a/blobs/${configDesc.digest}`), 405, "UNSUPPORTED");
    expect((await req("DELETE", `/v2/proto/z/blobs/${digestOf(lonely)}`)).status).toBe(202);
    await expectError(await req("GET", `/v2/proto/z/blobs/${digestOf(lonely)}`), 404, "BLOB_UNKNOWN");
    await expectError(await req("DELETE", `/v2/proto/z/blobs/${digestOf(lonely)}`), 404, "BLOB_UNKNOWN");
  });

  test("unsupported methods are 405 with Allow", async () => {
    const res = await req("PATCH", "/v2/proto/a/manifests/v1");
    expect(res.headers.get("Allow")).toBe("GET, HEAD, PUT, DELETE");
    await expectError(res, 405, "UNSUPPORTED");
    await expectError(await req("POST", "/v2/proto/a/tags/list"), 405, "UNSUPPORTED");
  });

  test("the layout stays readable by the image spec's rules: index.json valid, no temp files left", () => {
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(index.schemaVersion).toBe(2);
    for (const m of index.manifests) expect(existsSync(join(dir, "blobs", "sha256", m.digest.slice(7)))).toBe(true);
    expect(readdirSync(join(dir, "blobs", "sha256")).filter((n) => n.startsWith("."))).toEqual([]);
    expect(log.length).toBeGreaterThan(50);
    expect(log[0]).toMatchObject({ method: expect.any(String), status: expect.any(Number) });
  });
});

describe("blobs belong to repositories", () => {
  const own = enc("a blob pushed into proto/own only");
  const ownDigest = digestOf(own);
  const head = async (name: string, digest = ownDigest) => (await req("HEAD", `/v2/${name}/blobs/${digest}`)).status;

  test("a blob is found only in the repository it was pushed into, or whose manifests use it", async () => {
    await pushBlob("proto/own", own);
    expect(await head("proto/own")).toBe(200);
    expect(await head("proto/a")).toBe(404);
    await expectError(await req("GET", `/v2/proto/a/blobs/${ownDigest}`), 404, "BLOB_UNKNOWN");
    await expectError(await req("GET", `/v2/proto/never/blobs/${ownDigest}`), 404, "BLOB_UNKNOWN");
    // proto/a's layer was pushed there; a manifest pushed into proto/uses makes it that repository's too.
    expect(await head("proto/uses", layerDesc.digest)).toBe(404);
    expect((await pushManifest("proto/uses", "1", manifest)).status).toBe(201);
    expect(await head("proto/uses", layerDesc.digest)).toBe(200);
    expect(await head("proto/uses", manifestDigest)).toBe(200);
  });

  test("a mount succeeds only from a repository holding the blob; otherwise (or without from) an upload starts", async () => {
    for (const query of [`mount=${ownDigest}&from=proto/a`, `mount=${ownDigest}`, `mount=${ownDigest}&from=Bad..`]) {
      const res = await req("POST", `/v2/proto/m2/blobs/uploads/?${query}`);
      expect(res.status).toBe(202);
      await req("DELETE", res.headers.get("Location")!);
    }
    expect(await head("proto/m2")).toBe(404);
    const mounted = await req("POST", `/v2/proto/m2/blobs/uploads/?mount=${ownDigest}&from=proto/own`);
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get("Location")).toBe(`/v2/proto/m2/blobs/${ownDigest}`);
    expect(await head("proto/m2")).toBe(200);
    // Held through a manifest counts too.
    const viaManifest = await req("POST", `/v2/proto/m3/blobs/uploads/?mount=${layerDesc.digest}&from=proto/uses`);
    expect(viaManifest.status).toBe(201);
  });

  test("DELETE removes a blob from one repository; the file goes once no repository holds it", async () => {
    const file = join(dir, "blobs", "sha256", ownDigest.slice(7));
    await expectError(await req("DELETE", `/v2/proto/a/blobs/${ownDigest}`), 404, "BLOB_UNKNOWN");
    expect((await req("DELETE", `/v2/proto/own/blobs/${ownDigest}`)).status).toBe(202);
    expect(await head("proto/own")).toBe(404);
    expect(await head("proto/m2")).toBe(200);
    expect(existsSync(file)).toBe(true);
    expect((await req("DELETE", `/v2/proto/m2/blobs/${ownDigest}`)).status).toBe(202);
    expect(existsSync(file)).toBe(false);
    // A blob a manifest of the repository uses stays: 405, the spec's answer for a delete not done.
    const used = await req("DELETE", `/v2/proto/uses/blobs/${layerDesc.digest}`);
    await expectError(used, 405, "UNSUPPORTED");
    // proto/m3 holds the layer by its mount only: deleted there, the file stays for proto/a and proto/uses.
    expect((await req("DELETE", `/v2/proto/m3/blobs/${layerDesc.digest}`)).status).toBe(202);
    expect(await head("proto/m3", layerDesc.digest)).toBe(404);
    expect(await head("proto/a", layerDesc.digest)).toBe(200);
  });

  test("what each repository holds survives a restart of the server, recorded outside index.json", async () => {
    const kept = enc("a blob that outlives its server");
    await pushBlob("proto/keep", kept);
    const again = registryHandler(
      layoutBackend([{ store: await OciLayoutStore.open(dir), defaultRepo: "default" }], { writable: true }),
    );
    const status = async (name: string) =>
      (await again(new Request(`http://x/v2/${name}/blobs/${digestOf(kept)}`, { method: "HEAD" }))).status;
    expect(await status("proto/keep")).toBe(200);
    expect(await status("proto/a")).toBe(404);
    expect(readFileSync(join(dir, "index.json"), "utf8")).not.toContain(digestOf(kept));
  });

  test("a PUT with the wrong digest is 400 DIGEST_INVALID and leaves the session as it was: the PUT can be retried", async () => {
    const bytes = enc("the first part, then the second part");
    const start = await req("POST", "/v2/proto/retry/blobs/uploads/");
    const at = start.headers.get("Location")!;
    expect((await req("PATCH", at, { body: bytes.subarray(0, 15) })).status).toBe(202);
    const wrong = await req("PUT", `${at}?digest=${UNKNOWN}`, { body: bytes.subarray(15) });
    expect(wrong.headers.get("Range")).toBe("0-14");
    await expectError(wrong, 400, "DIGEST_INVALID");
    const status = await req("GET", at);
    expect(status.status).toBe(204);
    expect(status.headers.get("Range")).toBe("0-14");
    const right = await req("PUT", `${at}?digest=${digestOf(bytes)}`, { body: bytes.subarray(15) });
    expect(right.status).toBe(201);
    expect(new Uint8Array(await (await req("GET", `/v2/proto/retry/blobs/${digestOf(bytes)}`)).arrayBuffer()))
      .toEqual(bytes);
    await expectError(await req("GET", at), 404, "BLOB_UPLOAD_UNKNOWN");
  });
});

describe("basic auth", () => {
  test("401 UNAUTHORIZED with a Basic challenge without credentials; 200 with them; wrong password 401", async () => {
    const users = new Map([["ferry", bcrypt.hashSync("s3cret", 4)]]);
    const backend = layoutBackend([{ store: await OciLayoutStore.open(dir), defaultRepo: "default" }]);
    const secured = await serve(registryHandler(backend, { authenticate: basicAuthenticator(users) }));
    try {
      const url = `http://${secured.host}/v2/proto/a/tags/list`;
      const anon = await fetch(url);
      expect(anon.headers.get("WWW-Authenticate")).toBe('Basic realm="ferry"');
      await expectError(anon, 401, "UNAUTHORIZED");
      const auth = (p: string) => ({ Authorization: `Basic ${btoa(`ferry:${p}`)}` });
      expect((await fetch(url, { headers: auth("s3cret") })).status).toBe(200);
      expect((await fetch(url, { headers: auth("s3cret") })).status).toBe(200); // cached
      await expectError(await fetch(url, { headers: auth("wrong") }), 401, "UNAUTHORIZED");
      // Read-only: pushes are refused even with credentials.
      await expectError(
        await fetch(`http://${secured.host}/v2/proto/a/blobs/uploads/`, { method: "POST", headers: auth("s3cret") }),
        405,
        "UNSUPPORTED",
      );
    } finally {
      await secured.stop();
    }
  });
});
