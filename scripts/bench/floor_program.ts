/**
 * The runtime's floor for the RSS targets: the least a compiled Bun program needs to do one blob's worth of
 * ferry's work, with none of ferry. scripts/bench/floor_bench.ts compiles it with ferry's own flags
 * (scripts/compile_flags.ts) and measures it as it measures ferry. It collects garbage every 16 MiB streamed,
 * as the ferry CLI does (lib/runtime.ts collectGarbageWhileStreaming), which only lowers the floor.
 *
 *   floor fetch    URL            one GET, body read to the end (Bun's HTTP client, nothing streamed)
 *   floor get-file URL FILE [N]   GET a blob, its body written to FILE (export's one stream); N at once
 *                                 (FILE-1 … FILE-N) as ferry's transfers run side by side
 *   floor get-put  URL UPLOAD [N] GET a blob, its body streamed as the PUT of a monolithic upload started by
 *                                 a POST to UPLOAD (`http://host/v2/<repo>/blobs/uploads/`; copy's one
 *                                 stream); N at once, each its own upload
 *
 * @module
 */
import { open } from "node:fs/promises";
import process from "node:process";

const STEP = 16 * 1024 * 1024;
let streamed = 0;
let nextCollection = STEP;

/** Counts a chunk; a full collection every STEP bytes, as ferry's CLI. */
function note(chunk: Uint8Array): Uint8Array {
  streamed += chunk.byteLength;
  if (streamed >= nextCollection) {
    nextCollection = streamed + STEP;
    Bun.gc(true);
  }
  return chunk;
}

async function get(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`GET ${url}: ${response.status}`);
  return response;
}

async function getFile(url: string, path: string): Promise<void> {
  const file = await open(path, "w");
  const reader = (await get(url)).body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    await file.write(note(value));
  }
  await file.close();
}

async function getPut(url: string, target: string): Promise<void> {
  const digest = url.slice(url.lastIndexOf("/") + 1);
  const started = await fetch(target, { method: "POST" });
  const location = started.headers.get("location");
  if (started.status !== 202 || !location) throw new Error(`POST ${target}: ${started.status}`);
  const put = new URL(location, target);
  put.searchParams.set("digest", digest);
  const body = (await get(url)).body!.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (c, out) => out.enqueue(note(c)) }));
  const done = await fetch(put, { method: "PUT", body, duplex: "half", headers: { "content-type": "application/octet-stream" } } as RequestInit);
  if (done.status !== 201) throw new Error(`PUT ${put}: ${done.status} ${await done.text()}`);
}

const [mode, url, target, count] = process.argv.slice(2);
const n = Number(count ?? 1);
const each = (f: (i: number) => Promise<void>) => Promise.all(Array.from({ length: n }, (_, i) => f(i + 1)));
if (mode === "fetch") {
  await (await get(url)).arrayBuffer();
} else if (mode === "get-file") {
  await each((i) => getFile(url, n === 1 ? target : `${target}-${i}`));
} else if (mode === "get-put") {
  await each(() => getPut(url, target));
} else {
  console.error("usage: floor fetch URL | get-file URL FILE [N] | get-put URL UPLOAD [N]");
  process.exit(2);
}
