import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { DEFAULT_GZIP_LEVEL, gunzipStream, gzipStream } from "./gzip.ts";

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= bytes.byteLength) return c.close();
      c.enqueue(bytes.subarray(offset, offset + size));
      offset += size;
    },
  });
}

describe("gzipStream", () => {
  const text = new TextEncoder().encode("ferry ".repeat(200_000));
  const random = new Uint8Array(randomBytes(3 * 1024 * 1024 + 7));

  for (const level of [0, 1, 6, 9]) {
    test(`level ${level} round-trips through gunzipStream and the gzip tool`, async () => {
      for (const input of [text, random]) {
        const gz = await collect(chunked(input, 65_536).pipeThrough(gzipStream(level)));
        expect(gz[0]).toBe(0x1f);
        expect(gz[1]).toBe(0x8b);
        expect(await collect(chunked(gz, 10_000).pipeThrough(gunzipStream()))).toEqual(input);
        expect(new Uint8Array(execFileSync("gzip", ["-dc"], { input: gz, maxBuffer: 64 << 20 }))).toEqual(input);
      }
    });
  }

  test("compresses text at level 1 and stores at level 0; same input, same bytes", async () => {
    const l0 = await collect(chunked(text, 65_536).pipeThrough(gzipStream(0)));
    const l1 = await collect(chunked(text, 65_536).pipeThrough(gzipStream(1)));
    expect(l0.byteLength).toBeGreaterThan(text.byteLength);
    expect(l1.byteLength).toBeLessThan(text.byteLength / 50);
    expect(await collect(chunked(text, 1000).pipeThrough(gzipStream(1)))).toEqual(l1);
  });

  test("an empty input is a valid empty gzip", async () => {
    const gz = await collect(chunked(new Uint8Array(), 1).pipeThrough(gzipStream(DEFAULT_GZIP_LEVEL)));
    expect(await collect(chunked(gz, 5).pipeThrough(gunzipStream()))).toEqual(new Uint8Array());
  });

  test("rejects a level outside 0-9", () => {
    expect(() => gzipStream(10)).toThrow(RangeError);
    expect(() => gzipStream(1.5)).toThrow(RangeError);
  });

  test("gunzip of corrupt or truncated data errors the stream", async () => {
    const gz = await collect(chunked(random, 65_536).pipeThrough(gzipStream(1)));
    await expect(collect(chunked(gz.subarray(0, gz.byteLength - 20), 4096).pipeThrough(gunzipStream()))).rejects
      .toThrow();
    await expect(collect(chunked(new TextEncoder().encode("not gzip at all"), 4).pipeThrough(gunzipStream()))).rejects
      .toThrow();
  });
});
