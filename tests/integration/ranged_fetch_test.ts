/**
 * The registry end's fetch of a big blob in parallel `Range` parts, against the real CNCF registry: the parts
 * requested (several at once), the bytes handed on in order (verified whole), one stream when the source ignores
 * Range or does not announce `Accept-Ranges`, parts resumed after a drop, a corrupt part caught by verification.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { DigestMismatchError } from "../../lib/errors.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { serve } from "../../lib/runtime.ts";
import { streamOf } from "../../lib/stream/read_limited.ts";
import { verifyStream } from "../../lib/stream/verify.ts";
import { seededBytes } from "../../lib/testing/sample_image.ts";
import { startThrottleProxy } from "../../scripts/bench/throttle.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";

setDefaultTimeout(60_000);
const MiB = 1024 * 1024;
const PART = 8 * MiB;
const SIZE = 5 * PART - 12345; // five parts, the last one short

let registry: TestRegistry;
let blob: Descriptor;
let bytes: Uint8Array;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  bytes = seededBytes(SIZE, 42);
  blob = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: SIZE };
  await openRegistryStore({ registry: registry.host, repository: "ranged/app" }).push(blob, streamOf(bytes));
});
afterAll(async () => {
  await Promise.all(stops.map((s) => s()));
  await registry?.stop();
});

interface Recorded {
  host: string;
  gets: { range: string | null; status: number }[];
  peak: number;
}

/** A proxy recording every blob GET's Range and status and the most GETs open at once; optionally strips headers. */
async function recordingProxy(
  options: { stripRange?: boolean; stripAcceptRanges?: boolean; upstream?: string } = {},
): Promise<Recorded> {
  const upstream = options.upstream ?? registry.host;
  const rec: Recorded = { host: "", gets: [], peak: 0 };
  let open = 0;
  const server = await serve(async (req: Request) => {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    if (options.stripRange) headers.delete("range");
    const res = await fetch(`http://${upstream}${url.pathname}${url.search}`, { method: req.method, headers, redirect: "manual" });
    const out = new Headers(res.headers);
    if (options.stripAcceptRanges) out.delete("accept-ranges");
    if (req.method !== "GET" || !url.pathname.includes("/blobs/") || !res.body) return new Response(res.body, { status: res.status, headers: out });
    rec.gets.push({ range: req.headers.get("range"), status: res.status });
    rec.peak = Math.max(rec.peak, ++open);
    const body = res.body.pipeThrough(
      new TransformStream({
        flush: () => void open--,
      }),
    );
    return new Response(body, { status: res.status, headers: out });
  });
  rec.host = server.host;
  stops.push(() => server.stop());
  return rec;
}

async function fetchThrough(host: string): Promise<string> {
  const store = openRegistryStore({ registry: host, repository: "ranged/app" });
  const body = (await store.fetch(blob)).pipeThrough(verifyStream(blob));
  const hash = createHash("sha256");
  for await (const chunk of body) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

describe("RegistryStore.fetch of a big blob", () => {
  test("over capped connections: parallel Range parts, several at once, handed on in order (the whole verifies)", async () => {
    const throttle = await startThrottleProxy(registry.host, 16 * MiB);
    stops.push(() => throttle.stop());
    const rec = await recordingProxy({ upstream: throttle.host });
    expect(await fetchThrough(rec.host)).toBe(blob.digest);
    const ranges = rec.gets.map((g) => g.range).sort((a, b) => Number(/=(\d+)/.exec(a!)![1]) - Number(/=(\d+)/.exec(b!)![1]));
    expect(ranges).toEqual([0, 1, 2, 3, 4].map((i) => `bytes=${i * PART}-${Math.min(SIZE, (i + 1) * PART) - 1}`));
    expect(rec.gets.every((g) => g.status === 206)).toBe(true);
    expect(rec.peak).toBeGreaterThan(1);
  });

  test("over an uncapped connection (part 0 fast): the rest in one more request", async () => {
    const rec = await recordingProxy();
    expect(await fetchThrough(rec.host)).toBe(blob.digest);
    expect(rec.gets).toEqual([
      { range: `bytes=0-${PART - 1}`, status: 206 },
      { range: `bytes=${PART}-${SIZE - 1}`, status: 206 },
    ]);
  });

  test("a source that ignores Range (answers 200): one stream, one request", async () => {
    const rec = await recordingProxy({ stripRange: true });
    expect(await fetchThrough(rec.host)).toBe(blob.digest);
    expect(rec.gets).toEqual([{ range: `bytes=0-${PART - 1}`, status: 200 }]);
  });

  test("a 206 without Accept-Ranges: one stream, the first part and then the rest in one request", async () => {
    const rec = await recordingProxy({ stripAcceptRanges: true });
    expect(await fetchThrough(rec.host)).toBe(blob.digest);
    expect(rec.gets).toEqual([
      { range: `bytes=0-${PART - 1}`, status: 206 },
      { range: `bytes=${PART}-`, status: 206 },
    ]);
  });

  test("parts cut short are resumed; a corrupt part fails the digest check", async () => {
    const throttle = await startThrottleProxy(registry.host, 16 * MiB);
    stops.push(() => throttle.stop());
    const cut: FaultyProxy = await startFaultyProxy(throttle.host, [{ kind: "cut", times: 3 }]);
    stops.push(() => cut.stop());
    expect(await fetchThrough(cut.host)).toBe(blob.digest);
    expect(cut.requests.filter((r) => r.method === "GET" && r.path.includes("/blobs/")).length).toBe(5 + 3);

    const corrupt: FaultyProxy = await startFaultyProxy(registry.host, [{ kind: "corrupt" }]);
    stops.push(() => corrupt.stop());
    const src = openRegistryStore({ registry: corrupt.host, repository: "ranged/app" });
    const dst = new MemoryStore();
    await expect(copyGraph(src, dst, blob)).rejects.toThrow(DigestMismatchError);
  });
});
