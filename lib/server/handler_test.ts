import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestOf } from "../oci/digest.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { serve, type Server } from "../runtime.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { MemoryStore } from "../ends/memory.ts";
import { registryHandler, type ServedRepository } from "./handler.ts";

const sample = buildSampleImage({ attestations: true });
const docker = buildSampleImage({ mediaType: "docker", platforms: ["linux/amd64", "linux/arm64/v8"] });
const many: ServedRepository = { store: sample.store, tags: () => ["b", "a", "1.0", "c", "d"] };
const handler = registryHandler(
  new Map<string, ServedRepository | MemoryStore>([
    ["sample/app", sample.store],
    ["sample/docker", docker.store],
    ["many", many],
  ]),
);
const BASE = "http://registry.test";
const UNKNOWN = `sha256:${"0".repeat(64)}`;

function get(path: string, method = "GET"): Promise<Response> {
  return handler(new Request(`${BASE}${path}`, { method }));
}

async function expectError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get("Content-Type")).toBe("application/json");
  const body = await res.json();
  expect(body.errors[0].code).toBe(code);
  expect(body.errors[0].message).toStartWith("Cannot ");
}

function firstLayer(store: MemoryStore, manifest: Descriptor): Descriptor {
  return JSON.parse(new TextDecoder().decode(store.get(manifest.digest)!)).layers[0];
}

describe("registryHandler", () => {
  test("GET /v2/ answers {} with the API version header", async () => {
    const res = await get("/v2/");
    expect(res.status).toBe(200);
    expect(res.headers.get("Docker-Distribution-API-Version")).toBe("registry/2.0");
    expect(await res.json()).toEqual({});
  });

  test("GET and HEAD a manifest by tag and by digest: exact bytes, type, digest, length", async () => {
    const bytes = sample.store.get(sample.root.digest)!;
    for (const ref of ["1.0", sample.root.digest]) {
      const res = await get(`/v2/sample/app/manifests/${ref}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toBe(MediaType.OciIndex);
      expect(res.headers.get("Docker-Content-Digest")).toBe(sample.root.digest);
      expect(res.headers.get("Content-Length")).toBe(String(bytes.byteLength));
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
      const head = await get(`/v2/sample/app/manifests/${ref}`, "HEAD");
      expect(head.status).toBe(200);
      expect(head.headers.get("Docker-Content-Digest")).toBe(sample.root.digest);
      expect(head.headers.get("Content-Length")).toBe(String(bytes.byteLength));
      expect(head.body).toBeNull();
    }
    const child = await get(`/v2/sample/app/manifests/${sample.manifests[1].digest}`);
    expect(child.headers.get("Content-Type")).toBe(MediaType.OciManifest);
    const list = await get("/v2/sample/docker/manifests/1.0", "HEAD");
    expect(list.headers.get("Content-Type")).toBe(MediaType.DockerManifestList);
  });

  test("GET and HEAD a blob, streamed with its digest and length", async () => {
    const layer = firstLayer(sample.store, sample.manifests[0]);
    const res = await get(`/v2/sample/app/blobs/${layer.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("application/octet-stream");
    expect(res.headers.get("Docker-Content-Digest")).toBe(layer.digest);
    expect(res.headers.get("Content-Length")).toBe(String(layer.size));
    expect(digestOf(new Uint8Array(await res.arrayBuffer()))).toBe(layer.digest);
    const head = await get(`/v2/sample/app/blobs/${layer.digest}`, "HEAD");
    expect(head.headers.get("Content-Length")).toBe(String(layer.size));
    expect(head.body).toBeNull();
  });

  test("tags/list sorts lexically and paginates with n, last and a Link header", async () => {
    expect(await (await get("/v2/sample/app/tags/list")).json()).toEqual({ name: "sample/app", tags: ["1.0"] });
    const all = await get("/v2/many/tags/list");
    expect(all.headers.get("Link")).toBeNull();
    expect((await all.json()).tags).toEqual(["1.0", "a", "b", "c", "d"]);
    const page = await get("/v2/many/tags/list?n=2");
    expect(await page.json()).toEqual({ name: "many", tags: ["1.0", "a"] });
    expect(page.headers.get("Link")).toBe('</v2/many/tags/list?n=2&last=a>; rel="next"');
    const next = await get("/v2/many/tags/list?n=2&last=a");
    expect((await next.json()).tags).toEqual(["b", "c"]);
    const last = await get("/v2/many/tags/list?n=2&last=c");
    expect((await last.json()).tags).toEqual(["d"]);
    expect(last.headers.get("Link")).toBeNull();
    expect((await (await get("/v2/many/tags/list?n=0")).json()).tags).toEqual([]);
    await expectError(await get("/v2/many/tags/list?n=-1"), 400, "PAGINATION_NUMBER_INVALID");
    await expectError(await get("/v2/many/tags/list?n=x"), 400, "PAGINATION_NUMBER_INVALID");
  });

  test("unknown names, manifests and blobs are 404 with the spec's codes", async () => {
    await expectError(await get("/v2/nope/manifests/1.0"), 404, "NAME_UNKNOWN");
    await expectError(await get("/v2/nope/tags/list"), 404, "NAME_UNKNOWN");
    await expectError(await get(`/v2/nope/blobs/${UNKNOWN}`), 404, "NAME_UNKNOWN");
    await expectError(await get("/v2/sample/app/manifests/2.0"), 404, "MANIFEST_UNKNOWN");
    await expectError(await get(`/v2/sample/app/manifests/${UNKNOWN}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await get("/v2/sample/app/manifests/.bad-tag"), 404, "MANIFEST_UNKNOWN");
    await expectError(await get(`/v2/sample/app/blobs/${UNKNOWN}`), 404, "BLOB_UNKNOWN");
    // A layer is a blob, not a manifest.
    const layer = firstLayer(sample.store, sample.manifests[0]);
    await expectError(await get(`/v2/sample/app/manifests/${layer.digest}`), 404, "MANIFEST_UNKNOWN");
    await expectError(await get("/v3/whatever"), 404, "NOT_FOUND");
    const head = await get("/v2/sample/app/manifests/2.0", "HEAD");
    expect(head.status).toBe(404);
    expect(head.body).toBeNull();
  });

  test("bad names and digests are 400, checked before any store is touched", async () => {
    await expectError(await get("/v2/Sample/App/manifests/1.0"), 400, "NAME_INVALID");
    await expectError(await get("/v2/a..b/tags/list"), 400, "NAME_INVALID");
    await expectError(await get("/v2/sample/app/blobs/sha256:1234"), 400, "DIGEST_INVALID");
    await expectError(await get("/v2/sample/app/blobs/latest"), 400, "DIGEST_INVALID");
    await expectError(await get(`/v2/sample/app/manifests/md5:${"a".repeat(32)}`), 400, "DIGEST_INVALID");
    await expectError(await get(`/v2/sample/app/blobs/sha256:${"A".repeat(64)}`), 400, "DIGEST_INVALID");
  });

  test("writes are refused with 405 UNSUPPORTED", async () => {
    for (const method of ["PUT", "POST", "PATCH", "DELETE"]) {
      const res = await get("/v2/sample/app/manifests/1.0", method);
      expect(res.headers.get("Allow")).toBe("GET, HEAD");
      await expectError(res, 405, "UNSUPPORTED");
    }
    await expectError(await get("/v2/sample/app/blobs/uploads/", "POST"), 405, "UNSUPPORTED");
    await expectError(await get(`/v2/sample/app/blobs/${sample.root.digest}`, "DELETE"), 405, "UNSUPPORTED");
    await expectError(await get("/v2/sample/app/blobs/uploads/some-session"), 405, "UNSUPPORTED");
  });

  test("a store whose bytes do not match their digest is never served as good content", async () => {
    const store = new MemoryStore();
    const small = buildSampleImage({ platforms: ["linux/amd64"] });
    for (const [digest, entry] of small.store.blobs) store.blobs.set(digest, { ...entry, bytes: entry.bytes.slice() });
    store.tags.set("1.0", small.root);
    const layer = firstLayer(store, small.manifests[0]);
    store.blobs.get(small.root.digest)!.bytes[5] ^= 1;
    store.blobs.get(layer.digest)!.bytes[20] ^= 1;
    const h = registryHandler(new Map([["bad", store]]));
    await expectError(await h(new Request(`${BASE}/v2/bad/manifests/1.0`)), 500, "UNKNOWN");
    const res = await h(new Request(`${BASE}/v2/bad/blobs/${layer.digest}`));
    expect(res.status).toBe(200); // headers are out before the last byte is hashed...
    await expect(res.arrayBuffer()).rejects.toThrow("Cannot verify blob"); // ...so the body errors instead
  });

  test("a store that does not know a manifest's media type: the body's own mediaType is served", async () => {
    const blind: ServedRepository = {
      store: {
        ref: "blind",
        resolve: async (ref) => ({ ...(await sample.store.resolve(ref)), mediaType: "application/octet-stream" }),
        fetch: (desc) => sample.store.fetch(desc),
        exists: (desc) => sample.store.exists(desc),
      },
      tags: () => ["1.0"],
    };
    const h = registryHandler(new Map([["blind", blind]]));
    for (const method of ["GET", "HEAD"]) {
      const res = await h(new Request(`${BASE}/v2/blind/manifests/${sample.manifests[0].digest}`, { method }));
      expect(res.headers.get("Content-Type")).toBe(MediaType.OciManifest);
    }
  });
});

// Independent readers: skopeo (containers/image) and umoci pull from the handler over real HTTP.
describe("registryHandler served over HTTP", () => {
  let server: Server;
  let dir: string;
  beforeAll(async () => {
    server = await serve(handler, { port: 0 });
    dir = await mkdtemp(join(tmpdir(), "ferry-handler-"));
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function run(cmd: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
  }

  test("skopeo inspect --raw returns the exact index bytes", async () => {
    const raw = await run("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${server.host}/sample/app:1.0`,
    ]);
    expect(digestOf(raw)).toBe(sample.root.digest);
    const tags = JSON.parse(await run("skopeo", ["list-tags", "--tls-verify=false", `docker://${server.host}/many`]));
    expect(tags.Tags.sort()).toEqual(["1.0", "a", "b", "c", "d"]);
  }, 30_000);

  test("skopeo copy --all --preserve-digests to an OCI layout keeps the index digest", async () => {
    const out = join(dir, "oci");
    await run("skopeo", [
      "copy",
      "--quiet",
      "--all",
      "--preserve-digests",
      "--src-tls-verify=false",
      `docker://${server.host}/sample/app:1.0`,
      `oci:${out}:1.0`,
    ]);
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(sample.root.digest);
    for (const digest of sample.store.blobs.keys()) {
      expect(digestOf(await readFile(join(out, "blobs", ...digest.split(":"))))).toBe(digest);
    }
  }, 60_000);

  test("skopeo copy --all --preserve-digests of a Docker manifest list keeps its digest", async () => {
    // An OCI layout cannot hold a Docker list unchanged (skopeo would convert it), so use dir:.
    const out = join(dir, "docker");
    await run("skopeo", [
      "copy",
      "--quiet",
      "--all",
      "--preserve-digests",
      "--src-tls-verify=false",
      `docker://${server.host}/sample/docker:1.0`,
      `dir:${out}`,
    ]);
    expect(digestOf(await readFile(join(out, "manifest.json")))).toBe(docker.root.digest);
    for (const digest of docker.store.blobs.keys()) {
      if (digest === docker.root.digest) continue;
      const [, hex] = digest.split(":");
      const manifest = docker.manifests.some((m) => m.digest === digest);
      expect(digestOf(await readFile(join(out, manifest ? `${hex}.manifest.json` : hex)))).toBe(digest);
    }
  }, 60_000);

  test("umoci unpacks one platform pulled by skopeo: /platform.txt names it", async () => {
    const arm = sample.manifests[1];
    const layout = join(dir, "arm64");
    await run("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${server.host}/sample/app@${arm.digest}`,
      `oci:${layout}:arm64`,
    ]);
    const bundle = join(dir, "bundle");
    const rootless = process.getuid?.() === 0 ? [] : ["--rootless"];
    await run("umoci", ["unpack", ...rootless, "--image", `${layout}:arm64`, bundle]);
    expect(await readFile(join(bundle, "rootfs", "platform.txt"), "utf8")).toBe("linux/arm64/v8\n");
    expect((await readFile(join(bundle, "rootfs", "data", "random.bin"))).byteLength).toBe(1024);
  }, 60_000);
});
