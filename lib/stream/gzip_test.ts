import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { DEFAULT_GZIP_LEVEL, gunzipStream, gzipStream, isGzip, isGzipFile, storedGzipSize } from "./gzip.ts";

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  return chunkedBy(bytes, [size]);
}
/** `bytes` as fresh copies of sizes[0], sizes[1], … bytes, the pattern repeated. */
function chunkedBy(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let offset = 0;
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= bytes.byteLength) return c.close();
      const size = sizes[i++ % sizes.length];
      c.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** 3 MiB alternating 96 KiB runs of pseudo-random bytes (xorshift32) and text: both deflate code paths. */
function mixedInput(): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(3 * 1024 * 1024);
  const text = new TextEncoder().encode(
    "ferry carries multi-arch images; the quick brown fox jumps over the lazy dog\n",
  );
  let x = 0x9e3779b9;
  for (let i = 0; i < out.byteLength; i++) {
    if ((i / 98_304 | 0) % 2 === 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    } else out[i] = text[i % text.byteLength];
  }
  return out;
}

/** Chunkings of the same input that must all give the same gzip bytes. */
const CHUNKINGS = [[65_536], [3 * 1024 * 1024], [1000, 7, 300_000], [1, 13, 100, 4099], [65_535, 65_537, 131_072]];
const LEVELS = [0, 1, 2, 6, 9];

const dir = mkdtempSync(join(tmpdir(), "ferry-gzip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
    for (const level of [DEFAULT_GZIP_LEVEL, 6]) {
      const gz = await collect(chunked(new Uint8Array(), 1).pipeThrough(gzipStream(level)));
      expect(await collect(chunked(gz, 5).pipeThrough(gunzipStream()))).toEqual(new Uint8Array());
      execFileSync("gzip", ["-t"], { input: gz });
    }
    expect((await collect(chunked(new Uint8Array(), 1).pipeThrough(gzipStream(0)))).byteLength).toBe(10 + 5 + 8);
  });

  test("rejects a level outside 0-9", () => {
    expect(() => gzipStream(10)).toThrow(RangeError);
    expect(() => gzipStream(1.5)).toThrow(RangeError);
    expect(() => gzipStream(-1)).toThrow(RangeError);
  });

  test("a chunk that is not a Uint8Array errors the stream", async () => {
    for (const level of [0, 6]) {
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(10));
          c.enqueue("text" as unknown as Uint8Array);
          c.close();
        },
      });
      await expect(collect(source.pipeThrough(gzipStream(level)))).rejects.toThrow(TypeError);
    }
  });

  test("gunzip of corrupt or truncated data errors the stream", async () => {
    const gz = await collect(chunked(random, 65_536).pipeThrough(gzipStream(1)));
    await expect(collect(chunked(gz.subarray(0, gz.byteLength - 20), 4096).pipeThrough(gunzipStream()))).rejects
      .toThrow();
    await expect(collect(chunked(new TextEncoder().encode("not gzip at all"), 4).pipeThrough(gunzipStream()))).rejects
      .toThrow();
    const stored = await collect(chunked(random, 65_536).pipeThrough(gzipStream(0)));
    stored[stored.byteLength - 9] ^= 1; // the last data byte: the CRC-32 no longer matches
    await expect(collect(chunked(stored, 65_536).pipeThrough(gunzipStream()))).rejects.toThrow();
  });

  test("backpressure: a reader that stops reading stops the source", async () => {
    for (const level of [0, 6]) {
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(c) {
          pulled++;
          c.enqueue(randomBytes(65_536));
        },
      }, { highWaterMark: 0 });
      const reader = endless.pipeThrough(gzipStream(level)).getReader();
      for (let i = 0; i < 3; i++) await reader.read();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = pulled;
      expect(before).toBeLessThan(16);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(pulled).toBe(before);
      await reader.cancel();
    }
  });
});

describe("gzipStream output is reproducible", () => {
  const input = mixedInput();
  const inputFile = join(dir, "input.bin");
  writeFileSync(inputFile, input);

  for (const level of LEVELS) {
    test(`level ${level}: the same bytes whatever the chunking, gunzipped back by node:zlib and gzip`, async () => {
      const outputs: Uint8Array[] = [];
      for (const sizes of CHUNKINGS) {
        outputs.push(await collect(chunkedBy(input, sizes).pipeThrough(gzipStream(level))));
      }
      for (const out of outputs.slice(1)) expect(sha256(out)).toBe(sha256(outputs[0]));
      const gz = outputs[0];
      // A fixed header: mtime 0, no flags (no file name), XFL as zlib sets it, OS 3 (Unix).
      expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level === 0 ? 4 : gz[8], 3]);
      expect(new Uint8Array(gunzipSync(gz))).toEqual(input);
      execFileSync("gzip", ["-t"], { input: gz });
      expect(new Uint8Array(execFileSync("gunzip", ["-c"], { input: gz, maxBuffer: 64 << 20 }))).toEqual(input);
    }, 60_000);
  }

  test("level 0: 65535-byte stored blocks whatever the chunking, the last one final", async () => {
    for (const n of [1, 65_535, 65_536, 2 * 65_535, 2 * 65_535 + 1]) {
      const bytes = input.subarray(0, n);
      const gz = await collect(chunkedBy(bytes, [1000, 77_777]).pipeThrough(gzipStream(0)));
      const blocks = Math.ceil(n / 65_535);
      expect(gz.byteLength).toBe(10 + 5 * blocks + n + 8);
      let offset = 10;
      for (let b = 0; b < blocks; b++) {
        const len = Math.min(65_535, n - b * 65_535);
        expect([...gz.subarray(offset, offset + 5)]).toEqual([
          b === blocks - 1 ? 1 : 0,
          len & 0xff,
          len >> 8,
          ~len & 0xff,
          (~len >> 8) & 0xff,
        ]);
        offset += 5 + len;
      }
      expect(new Uint8Array(gunzipSync(gz))).toEqual(bytes);
    }
  });

  test("level 0 sends whole runs of 4 stored blocks (256 KiB), each a plain Uint8Array, whatever the chunking", async () => {
    const bytes = input.subarray(0, 9 * 65_535 + 100);
    const sizes: number[] = [];
    const out = chunkedBy(bytes, [1000, 77_777]).pipeThrough(gzipStream(0)).pipeThrough(
      new TransformStream({
        transform(chunk, c) {
          expect(Object.getPrototypeOf(chunk)).toBe(Uint8Array.prototype); // not a Buffer: slice() copies
          sizes.push(chunk.byteLength);
          c.enqueue(chunk);
        },
      }),
    );
    expect(new Uint8Array(gunzipSync(await collect(out)))).toEqual(bytes);
    const run = 4 * (5 + 65_535);
    expect(sizes).toEqual([10, run, run, 5 + 65_535 + 5 + 100, 8]);
  });

  test("under Deno too: every chunking gives the same bytes, level 0 the same as Bun's", async () => {
    // A script written here and run by Deno: gzips input.bin with each chunking and level, checks one
    // output per level with gunzipStream, prints the sha256s as JSON.
    const script = join(dir, "deno_check.ts");
    const gzipUrl = new URL("./gzip.ts", import.meta.url).href;
    writeFileSync(
      script,
      `import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipStream, gzipStream } from ${JSON.stringify(gzipUrl)};
const input = new Uint8Array(readFileSync(${JSON.stringify(inputFile)}));
const chunkings = ${JSON.stringify(CHUNKINGS)};
function chunkedBy(bytes, sizes) {
  let offset = 0, i = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= bytes.byteLength) return c.close();
      const size = sizes[i++ % sizes.length];
      c.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}
const collect = async (s) => new Uint8Array(await new Response(s).arrayBuffer());
const result = { runtime: typeof Deno === "object" ? "deno" : "other", hashes: {}, roundTrip: {} };
for (const level of ${JSON.stringify(LEVELS)}) {
  const outs = [];
  for (const sizes of chunkings) outs.push(await collect(chunkedBy(input, sizes).pipeThrough(gzipStream(level))));
  result.hashes[level] = outs.map((o) => createHash("sha256").update(o).digest("hex"));
  const back = await collect(chunkedBy(outs[0], [4096]).pipeThrough(gunzipStream()));
  result.roundTrip[level] = back.byteLength === input.byteLength && back.every((b, i) => b === input[i]);
}
console.log(JSON.stringify(result));
`,
    );
    const deno = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
    const stdout = execFileSync(deno, ["run", "-A", "--no-config", script], { encoding: "utf8", timeout: 120_000 });
    const result = JSON.parse(stdout) as {
      runtime: string;
      hashes: Record<string, string[]>;
      roundTrip: Record<string, boolean>;
    };
    expect(result.runtime).toBe("deno");
    for (const level of LEVELS) {
      const hashes = result.hashes[level];
      expect(hashes).toHaveLength(CHUNKINGS.length);
      expect(new Set(hashes).size).toBe(1);
      expect(result.roundTrip[level]).toBe(true);
    }
    // Level 0 is this module's own format writer: byte-identical across runtimes. (Levels 1-9 are each
    // runtime's zlib build, which need not agree: Bun's and Deno's level 1 differ.)
    expect(result.hashes[0][0]).toBe(sha256(await collect(chunkedBy(input, [65_536]).pipeThrough(gzipStream(0)))));
  }, 120_000);
});

describe("isGzip and isGzipFile", () => {
  test("tell gzip from anything else by the magic bytes", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    expect(isGzip(new Uint8Array([0x1f, 0x8b, 8]))).toBe(true);
    expect(isGzip(new Uint8Array([0x1f]))).toBe(false);
    expect(isGzip(new TextEncoder().encode("ustar"))).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), "ferry-gz-"));
    try {
      writeFileSync(join(dir, "a.gz"), new Uint8Array([0x1f, 0x8b, 8, 0]));
      writeFileSync(join(dir, "b.tar"), "plain");
      writeFileSync(join(dir, "empty"), "");
      expect(await isGzipFile(join(dir, "a.gz"))).toBe(true);
      expect(await isGzipFile(join(dir, "b.tar"))).toBe(false);
      expect(await isGzipFile(join(dir, "empty"))).toBe(false);
      await expect(isGzipFile(join(dir, "missing"))).rejects.toThrow(/Cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("storedGzipSize", () => {
  test("is gzipStream(0)'s exact output size, at and around the stored-block boundary", async () => {
    for (const n of [0, 1, 65_534, 65_535, 65_536, 131_070, 131_071, 300_000]) {
      const out = await new Response(
        new Blob([new Uint8Array(n)]).stream().pipeThrough(gzipStream(0)),
      ).arrayBuffer();
      expect(storedGzipSize(n)).toBe(out.byteLength);
    }
  });
});
