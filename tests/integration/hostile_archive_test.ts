/**
 * Bounded work on hostile input (#15): an archive's work is bounded by what its manifests reference and declare,
 * not by what the file holds. The archives here are built by streaming (a 5 GiB zero-filled entry is ~5 MB of
 * repeated gzip members; a plain tar's big entry is a sparse hole), never held in memory.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { FormatError, NotFoundError } from "../../lib/errors.ts";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { importImage } from "../../lib/verbs/import/import.ts";
import { type CraftedEntry, tarFile, tarHeader } from "../helpers/crafted_tar.ts";

setDefaultTimeout(180_000);
const work = mkdtempSync(join(tmpdir(), "ferry-hostile-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(work, String(n++));
  mkdirSync(dir);
  return dir;
};
const GiB = 1024 ** 3;
const JUNK = `sha256:${"de".repeat(32)}`;
const sample = buildSampleImage({ platforms: ["linux/amd64"], layerSize: 20_000 });
const enc = new TextEncoder();
const json = (d: unknown) => enc.encode(JSON.stringify(d));
const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const blob = (digest: string) => `blobs/sha256/${digest.slice(7)}`;

/** The sample's amd64 image as OCI archive entries (blobs first, index.json last, as ferry and docker write). */
function imageEntries(manifest = sample.manifests[0], extra: { digest: string; bytes: Uint8Array }[] = []) {
  const bytesOf = (d: string) => sample.store.get(d) ?? extra.find((e) => e.digest === d)!.bytes;
  const parsed = JSON.parse(new TextDecoder().decode(bytesOf(manifest.digest)));
  const all: Descriptor[] = [parsed.config, ...parsed.layers, manifest];
  const blobs = all.filter((d) => d.digest !== JUNK).map((d) => ({
    name: blob(d.digest),
    data: bytesOf(d.digest),
  }));
  const index = { schemaVersion: 2, manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": "1.0" } }] };
  return {
    blobs: blobs as CraftedEntry[],
    metadata: [
      { name: "oci-layout", data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: "index.json", data: JSON.stringify(index) },
    ] as CraftedEntry[],
  };
}

/** A tar without its end marker. */
const body = (entries: CraftedEntry[]) => {
  const t = tarFile(entries);
  return t.subarray(0, t.byteLength - 1024);
};

/**
 * Writes `before`, then a `size`-byte zero-filled entry `name`, then `after` (and the end marker): gzipped as
 * concatenated members (1 MiB of zeros compresses to ~1 KiB, written over and over), or plain with a sparse hole.
 */
async function craft(
  path: string,
  before: CraftedEntry[],
  name: string,
  size: number,
  after: CraftedEntry[],
  gzip: boolean,
): Promise<void> {
  const fh = await open(path, "w");
  try {
    const head = new Uint8Array([...body(before), ...tarHeader(name, size)]);
    const tail = new Uint8Array([...new Uint8Array((512 - (size % 512)) % 512), ...tarFile(after)]);
    if (!gzip) {
      await fh.write(head, 0, head.byteLength, 0);
      await fh.write(tail, 0, tail.byteLength, head.byteLength + size);
      return;
    }
    await fh.write(gzipSync(head));
    const MiB = 1024 * 1024;
    const member = gzipSync(new Uint8Array(MiB), { level: 9 });
    for (let left = size; left > 0; left -= MiB) {
      await fh.write(left >= MiB ? member : gzipSync(new Uint8Array(left)));
    }
    await fh.write(gzipSync(tail));
  } finally {
    await fh.close();
  }
}

/** Bytes in regular files under `dir`. */
function usage(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const s = statSync(join(dir, name), { throwIfNoEntry: false });
    if (s?.isFile()) total += s.size;
  }
  return total;
}

/**
 * Runs `fn` with a signal, watching `dir` and the RSS every 50 ms: aborts (and fails) once `dir` holds more than
 * `maxTempBytes`, so the unbounded behaviour fails fast instead of filling the disk. Returns the peaks and time.
 */
async function bounded<T>(
  dir: string,
  maxTempBytes: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<{ result?: T; error?: unknown; peakTemp: number; peakRss: number; seconds: number }> {
  const ac = new AbortController();
  const rss0 = process.memoryUsage().rss;
  let peakTemp = 0;
  let peakRss = 0;
  const timer = setInterval(() => {
    peakTemp = Math.max(peakTemp, usage(dir));
    peakRss = Math.max(peakRss, process.memoryUsage().rss - rss0);
    if (peakTemp > maxTempBytes) ac.abort(new Error(`more than ${maxTempBytes} bytes written to ${dir}`));
  }, 50);
  const t0 = performance.now();
  try {
    const result = await fn(ac.signal);
    return { result, peakTemp, peakRss, seconds: (performance.now() - t0) / 1000 };
  } catch (error) {
    return { error, peakTemp, peakRss, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearInterval(timer);
    peakTemp = Math.max(peakTemp, usage(dir));
  }
}

const LIMIT = 16 * 1024 * 1024;

describe("a .tar.gz: only what the manifests reference is spooled, and no more than they declare", () => {
  test("a 5 GiB zero-filled entry nothing references: import succeeds, nothing of it written, RSS bounded", async () => {
    const { blobs, metadata } = imageEntries();
    const path = join(fresh(), "bomb.tar.gz");
    await craft(path, blobs, blob(JUNK), 5 * GiB, metadata, true);
    expect(statSync(path).size).toBeLessThan(8 * 1024 * 1024);
    const temp = fresh();
    const out = join(fresh(), "layout");
    const run = await bounded(temp, LIMIT, (signal) => importImage([path], `oci:${out}:1.0`, { tempDir: temp, signal }));
    expect(run.error).toBeUndefined();
    expect(run.result!.digest).toBe(sample.manifests[0].digest);
    expect(run.peakTemp).toBeLessThan(LIMIT);
    expect(run.peakRss).toBeLessThan(300 * 1024 * 1024);
    expect(readdirSync(temp)).toEqual([]);
  });

  test("a referenced blob larger than its descriptor declares is refused before a byte of it is spooled", async () => {
    // The manifest declares a 1234-byte layer; the archive's entry for it is 5 GiB.
    const parsed = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[0].digest)));
    const layer = { mediaType: MediaType.OciLayerGzip, digest: JUNK, size: 1234 };
    const bytes = json({ ...parsed, layers: [...parsed.layers, layer] });
    const manifest = { mediaType: MediaType.OciManifest, digest: sha(bytes), size: bytes.byteLength };
    const { blobs, metadata } = imageEntries(manifest, [{ digest: manifest.digest, bytes }]);
    const temp = fresh();
    for (const gzip of [true, false]) {
      const path = join(fresh(), gzip ? "big.tar.gz" : "big.tar");
      await craft(path, blobs, blob(JUNK), 5 * GiB, metadata, gzip);
      const run = await bounded(temp, LIMIT, (signal) =>
        importImage([path], `oci:${join(fresh(), "layout")}`, { tempDir: temp, signal }));
      expect(run.error).toBeInstanceOf(FormatError);
      expect((run.error as Error).message).toBe(
        `Cannot read archive ${path}: entry "${blob(JUNK)}" is ${5 * GiB} bytes, but its descriptor declares 1234`,
      );
      expect(run.peakTemp).toBeLessThan(1024 * 1024); // the image's own small blobs at most, none of the 5 GiB
    }
  });
});

describe("a plain .tar is read in place: an unreferenced entry is never read", () => {
  test("a 64 GiB entry nothing references (a sparse hole) costs nothing", async () => {
    const { blobs, metadata } = imageEntries();
    const path = join(fresh(), "bomb.tar");
    await craft(path, blobs, blob(JUNK), 64 * GiB, metadata, false);
    const temp = fresh();
    const out = join(fresh(), "layout");
    // Reading 64 GiB (even of a hole) takes minutes: a 20 s budget fails if the entry is read at all.
    const ac = AbortSignal.timeout(20_000);
    const run = await bounded(temp, LIMIT, (signal) =>
      importImage([path], `oci:${out}:1.0`, { tempDir: temp, signal: AbortSignal.any([signal, ac]) }));
    expect(run.error).toBeUndefined();
    expect(run.result!.digest).toBe(sample.manifests[0].digest);
    expect(run.peakTemp).toBe(0);
  });
});

describe("an OCI layout directory: a blob of another size than declared is refused unread", () => {
  // (This held before #15: the layout store counts a blob of the wrong size as absent, and verifyStream would
  // refuse one growing past its size while streaming.)
  test("a 64 GiB layer file (a sparse hole) declared as 1234 bytes: refused at once", async () => {
    const parsed = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[0].digest)));
    const layer = { mediaType: MediaType.OciLayerGzip, digest: JUNK, size: 1234 };
    const bytes = json({ ...parsed, layers: [...parsed.layers, layer] });
    const manifest = { mediaType: MediaType.OciManifest, digest: sha(bytes), size: bytes.byteLength };
    const { blobs, metadata } = imageEntries(manifest, [{ digest: manifest.digest, bytes }]);
    const dir = fresh();
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    for (const e of [...blobs, ...metadata]) {
      const fh = await open(join(dir, e.name), "w");
      await fh.write(typeof e.data === "string" ? enc.encode(e.data) : e.data!);
      await fh.close();
    }
    const fh = await open(join(dir, blob(JUNK)), "w");
    await fh.truncate(64 * GiB);
    await fh.close();
    const run = await bounded(fresh(), LIMIT, (signal) =>
      importImage([dir], `oci:${join(fresh(), "layout")}`, { signal: AbortSignal.any([signal, AbortSignal.timeout(20_000)]) }));
    expect(run.error).toBeInstanceOf(NotFoundError);
    expect((run.error as Error).message).toBe(`Cannot find ${JUNK} in the inputs`);
    expect(run.seconds).toBeLessThan(20);
  });
});
