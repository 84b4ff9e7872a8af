/**
 * RegistryStore against the real CNCF distribution registry (and skopeo as an independent reader);
 * error paths through tests/helpers/faulty.ts in front of that same registry.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import process from "node:process";
import { promisify } from "node:util";
import { AuthError, DigestMismatchError, FileError, NotFoundError, RateLimitError, RegistryError } from "../../lib/errors.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import type { Reference } from "../../lib/ref/reference.ts";
import { uploadBlob } from "../../lib/remote/upload.ts";
import { clientFor, type RegistryOptions } from "../../lib/remote/client.ts";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { openRegistryStore, type RegistryStore } from "../../lib/ends/registry.ts";
import { readLimited, streamOf } from "../../lib/stream/read_limited.ts";
import { verifyStream } from "../../lib/stream/verify.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";

setDefaultTimeout(30_000);
const exec = promisify(execFile);
const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

let registry: TestRegistry;
let secured: TestRegistry;
const proxies: FaultyProxy[] = [];
const creds = { username: "ferry", password: "s3cret-pass" };

beforeAll(async () => {
  [registry, secured] = await Promise.all([startRegistry(), startRegistry({ htpasswd: creds })]);
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all([registry?.stop(), secured?.stop()]);
});

async function proxy(...faults: Parameters<typeof startFaultyProxy>[1]): Promise<FaultyProxy> {
  const p = await startFaultyProxy(registry.host, faults);
  proxies.push(p);
  return p;
}

function store(host: string, repository: string, options?: RegistryOptions): RegistryStore {
  const reference: Reference = { registry: host, repository, tag: "1.0" };
  return openRegistryStore(reference, options);
}

/** A two-platform index with a shared layer, built in memory. */
function sampleGraph(seed: string): { src: MemoryStore; root: Descriptor; layer: Descriptor; blobs: Descriptor[] } {
  const src = new MemoryStore();
  const layer = src.put(enc.encode(`shared layer ${seed}`), MediaType.OciLayerGzip);
  const blobs = [layer];
  const manifests = ["amd64", "arm64"].map((arch) => {
    const config = src.put(json({ architecture: arch, os: "linux", seed, rootfs: { type: "layers", diff_ids: [] } }), MediaType.OciConfig);
    const own = src.put(enc.encode(`layer of ${arch} ${seed}`), MediaType.OciLayerGzip);
    blobs.push(config, own);
    const m = src.put(json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer, own] }), MediaType.OciManifest);
    return { ...m, platform: { os: "linux", architecture: arch } };
  });
  const root = src.put(json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }), MediaType.OciIndex);
  return { src, root, layer, blobs };
}

async function pushSample(dst: RegistryStore, seed: string) {
  const graph = sampleGraph(seed);
  const result = await copyGraph(graph.src, dst, graph.root);
  await dst.tag(graph.root, "1.0");
  return { ...graph, result };
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new TextDecoder().decode(await readLimited(stream));
}

describe("RegistryStore against docker-registry", () => {
  test("push an index with copyGraph, then resolve, fetch and list it back; skopeo reads the same bytes", async () => {
    const dst = store(registry.host, "push/app");
    const { src, root, layer, result } = await pushSample(dst, "push");
    expect(result.copied).toBe(src.blobs.size);
    expect(dst.ref).toBe(`${registry.host}/push/app:1.0`);
    expect(dst.origin).toEqual({ registry: registry.host, repository: "push/app" });

    const reader = store(registry.host, "push/app");
    expect(await reader.resolve("1.0")).toEqual({ mediaType: MediaType.OciIndex, digest: root.digest, size: root.size });
    expect(await text(await reader.fetch(root))).toBe(new TextDecoder().decode(src.get(root.digest)));
    expect(await text(await reader.fetch(layer))).toBe("shared layer push");
    expect(await reader.exists(layer)).toBe(true);
    expect(await reader.listTags()).toEqual(["1.0"]);

    const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/push/app:1.0`]);
    expect(stdout).toBe(new TextDecoder().decode(src.get(root.digest)));
  });

  test("tags are listed across pages (Link headers)", async () => {
    const dst = store(registry.host, "pages/app");
    const { root } = await pushSample(dst, "pages");
    for (const tag of ["a", "b", "c", "d"]) await dst.tag(root, tag);
    expect((await dst.listTags({ pageSize: 2 })).sort()).toEqual(["1.0", "a", "b", "c", "d"]);
  });

  test("a missing tag, blob or repository is a NotFoundError with the registry's code", async () => {
    const dst = store(registry.host, "push/app");
    await expect(dst.resolve("nope")).rejects.toThrow("Cannot find manifest nope: MANIFEST_UNKNOWN: manifest unknown");
    await expect(dst.resolve("nope")).rejects.toBeInstanceOf(NotFoundError);
    const missing = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${"0".repeat(64)}`, size: 1 };
    expect(await dst.exists(missing)).toBe(false);
    await expect(dst.fetch(missing)).rejects.toThrow(/^Cannot find blob sha256:000000000000: BLOB_UNKNOWN/);
    await expect(store(registry.host, "no/such/repo").listTags()).rejects.toThrow(/NAME_UNKNOWN/);
  });

  test("mount between two repositories: no blob is read", async () => {
    const p = await proxy();
    const from = store(p.host, "mount/src");
    const { root, blobs } = await pushSample(from, "mount");
    p.requests.length = 0;
    const to = store(p.host, "mount/dst");
    const result = await copyGraph(from, to, root);
    await to.tag(root, "1.0");
    expect(result.mounted).toBe(blobs.length);
    expect(p.requests.filter((r) => r.method === "GET" && r.path.includes("/blobs/"))).toEqual([]);
    expect(p.requests.filter((r) => r.method === "POST" && r.path.includes("mount="))).toHaveLength(blobs.length);
    expect((await to.resolve("1.0")).digest).toBe(root.digest);
  });

  test("uploads in chunks and in one streaming PUT", async () => {
    const bytes = new Uint8Array(10_000).map((_, i) => (i * 7) % 251);
    const src = new MemoryStore();
    const desc = src.put(bytes, MediaType.OciLayer);
    const client = clientFor(registry.host);
    await uploadBlob(client, "upload/chunked", desc, streamOf(bytes), { chunkSize: 3000 });
    await uploadBlob(client, "upload/put", desc, streamOf(bytes), { mode: "put" });
    for (const repo of ["upload/chunked", "upload/put"]) {
      expect(await readLimited(await store(registry.host, repo).fetch(desc))).toEqual(bytes);
    }
  });
});

describe("authentication", () => {
  test("htpasswd registry: the right credentials push and pull", async () => {
    const dst = store(secured.host, "auth/app", creds);
    const { root } = await pushSample(dst, "auth");
    expect((await store(secured.host, "auth/app", creds).resolve("1.0")).digest).toBe(root.digest);
  });

  test("htpasswd registry: wrong or no credentials are an AuthError (exit 4) without the password", async () => {
    const wrong = store(secured.host, "auth/app", { username: "ferry", password: "wrong-pass" });
    const err = await wrong.resolve("1.0").catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.exitCode).toBe(4);
    expect(err.message).toBe(`Cannot authenticate to ${secured.host}: UNAUTHORIZED: authentication required`);
    expect(JSON.stringify({ m: err.message, r: err.ref, s: String(err.stack) })).not.toContain("wrong-pass");
    // A missing --authfile is an error of its own (it used to mean anonymous access, then this AuthError).
    await expect(store(secured.host, "auth/app", { authFile: "/nonexistent" }).resolve("1.0")).rejects.toBeInstanceOf(FileError);
  });

  test("bearer tokens: fetched from the realm once per scope and reused", async () => {
    const p = await proxy({ kind: "bearer", token: "tok-123", username: "u", password: "p" });
    const dst = store(p.host, "bearer/app", { username: "u", password: "p" });
    const { root } = await pushSample(dst, "bearer");
    const reader = store(p.host, "bearer/app", { username: "u", password: "p" });
    expect((await reader.resolve("1.0")).digest).toBe(root.digest);
    const tokenRequests = p.requests.filter((r) => r.path.startsWith("/token"));
    expect(tokenRequests.length).toBeLessThanOrEqual(2); // pull,push for the copy; the pull read reuses it
    const bad = store(p.host, "bearer/app", { username: "u", password: "nope" });
    const err = await bad.resolve("1.0").catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toBe(`Cannot authenticate to ${p.host}: UNAUTHORIZED: bad credentials`);
  });
});

describe("faults", () => {
  test("429 with Retry-After is waited for, then the request succeeds", async () => {
    const p = await proxy({ kind: "status", status: 429, times: 2, method: "HEAD", retryAfter: "1" });
    await pushSample(store(registry.host, "retry/app"), "retry");
    const started = Date.now();
    const desc = await store(p.host, "retry/app").resolve("1.0");
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(desc.mediaType).toBe(MediaType.OciIndex);
    expect(p.requests.filter((r) => r.method === "HEAD")).toHaveLength(3);
  });

  test("503s are retried with backoff; past the retries a RegistryError names the status and code", async () => {
    const p = await proxy({ kind: "status", status: 503, times: 2, path: /manifests/ });
    await pushSample(store(registry.host, "retry/app"), "retry");
    expect((await store(p.host, "retry/app").resolve("1.0")).mediaType).toBe(MediaType.OciIndex);
    const q = await proxy({ kind: "status", status: 429, times: 5, path: /tags/ }, { kind: "status", status: 503, times: 5 });
    const err = await store(q.host, "retry/app", { retries: 1 }).resolve("1.0").catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(503);
    expect(err.message).toBe(
      `Cannot resolve manifest 1.0: HEAD http://${q.host}/v2/retry/app/manifests/1.0 answered 503: HTTP 503 Service Unavailable`,
    );
    const limited = await store(q.host, "retry/app", { retries: 0 }).listTags().catch((e) => e);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited.message).toBe(
      `Cannot list tags of retry/app: GET http://${q.host}/v2/retry/app/tags/list answered 429: TOOMANYREQUESTS: injected fault`,
    );
  });

  test("a corrupted blob fails the copy with DigestMismatchError and nothing is tagged", async () => {
    const { layer, root } = await pushSample(store(registry.host, "corrupt/src"), "corrupt");
    const p = await proxy({ kind: "corrupt", digest: layer.digest });
    const src = store(p.host, "corrupt/src");
    expect((await src.resolve("1.0")).digest).toBe(root.digest);
    const dst = store(registry.host, "corrupt/dst");
    await expect(copyGraph(src, dst, root)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await dst.exists(layer)).toBe(false);
    expect(await dst.exists(root)).toBe(false);
    await expect(dst.resolve("1.0")).rejects.toBeInstanceOf(NotFoundError);
  });

  test("a blob body cut mid-stream is resumed with a Range request", async () => {
    const bytes = new Uint8Array(200_000).map((_, i) => i % 253);
    const desc = new MemoryStore().put(bytes, MediaType.OciLayer);
    await uploadBlob(clientFor(registry.host), "cut/app", desc, streamOf(bytes));
    const p = await proxy({ kind: "cut", times: 2 });
    expect(await readLimited(await store(p.host, "cut/app").fetch(desc), 1 << 20)).toEqual(bytes);
    expect(p.requests.filter((r) => r.method === "GET" && r.path.includes(desc.digest))).toHaveLength(3);
  });

  test("an unreachable registry is a NetworkError after the retries", async () => {
    const p = await proxy();
    await p.stop();
    await expect(store(p.host, "gone/app", { retries: 1 }).resolve("1.0")).rejects.toThrow(`Cannot reach ${p.host}: `);
  });
});

describe("streaming", () => {
  const MiB = 1 << 20;
  const SIZE = 256 * MiB;
  /** 256 MiB generated 1 MiB at a time (each chunk numbered, so none repeats); never held whole. */
  function generated(): ReadableStream<Uint8Array> {
    const base = new Uint8Array(MiB).map((_, i) => (i * 2654435761) >>> 24);
    let i = 0;
    return new ReadableStream({
      pull(controller) {
        if (i * MiB >= SIZE) return controller.close();
        const chunk = base.slice();
        new DataView(chunk.buffer).setUint32(0, i++);
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
  }

  test("a 256 MiB blob is pushed and pulled back, verified, with peak RSS far below its size", async () => {
    const hash = createHash("sha256");
    for await (const chunk of generated()) hash.update(chunk);
    const desc = { mediaType: MediaType.OciLayer, digest: `sha256:${hash.digest("hex")}`, size: SIZE };
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const dst = store(registry.host, "big/blob");
      await dst.push(desc, generated().pipeThrough(verifyStream(desc)));
      let pulled = 0;
      for await (const chunk of (await dst.fetch(desc)).pipeThrough(verifyStream(desc))) pulled += chunk.byteLength;
      expect(pulled).toBe(SIZE);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(SIZE / 4);
  }, 120_000);
});
