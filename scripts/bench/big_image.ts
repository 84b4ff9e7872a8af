/**
 * The fixture of the RSS benchmark: a single-platform image with one large layer, generated as a
 * stream (never held in memory): a one-file tar, gzipped into a temp file while both digests are
 * hashed, then pushed from that file into a registry.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { seededBytes } from "../../lib/testing/sample_image.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { readFileStream } from "../../lib/stream/files.ts";
import { gzipStream } from "../../lib/stream/gzip.ts";
import { streamOf } from "../../lib/stream/read_limited.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();

/** The pushed image: its manifest and layer descriptors. */
export interface BigImage {
  manifest: Descriptor;
  layer: Descriptor;
}

/**
 * Pushes `ref` (e.g. `127.0.0.1:5000/bench/big:1.0`): a linux/amd64 image whose one gzip layer
 * holds a file of `size` bytes (a multiple of 512), gzip level 0 as the sample image uses for random data.
 *
 * @example
 * ```ts
 * await pushBigImage(`${registry.host}/bench/big:1.0`, 1024 * 1024 * 1024);
 * ```
 */
export async function pushBigImage(ref: string, size: number): Promise<BigImage> {
  if (size % 512 !== 0) throw new RangeError(`layer size must be a multiple of 512, got ${size}`);
  const dir = await mkdtemp(join(tmpdir(), "ferry-bench-big-"));
  try {
    const path = join(dir, "layer.tar.gz");
    const diffHash = createHash("sha256");
    const gzHash = createHash("sha256");
    let gzSize = 0;
    const file = await open(path, "w");
    try {
      await tarStream(size)
        .pipeThrough(tap((c) => diffHash.update(c)))
        .pipeThrough(gzipStream(0))
        .pipeTo(
          new WritableStream({
            async write(chunk) {
              gzHash.update(chunk);
              gzSize += chunk.byteLength;
              await file.write(chunk);
            },
          }),
        );
    } finally {
      await file.close();
    }
    const layer = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${gzHash.digest("hex")}`, size: gzSize };
    const reference = parseReference(ref);
    const store = openRegistryStore(reference);
    await store.push(layer, readFileStream(path));
    const config = json({
      architecture: "amd64",
      os: "linux",
      created: "1970-01-01T00:00:00Z",
      config: { Cmd: ["true"] },
      rootfs: { type: "layers", diff_ids: [`sha256:${diffHash.digest("hex")}`] },
    });
    const configDesc = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.byteLength };
    await store.push(configDesc, streamOf(config));
    const manifestBytes = json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [layer] });
    const manifest = { mediaType: MediaType.OciManifest, digest: digestOf(manifestBytes), size: manifestBytes.byteLength };
    await store.push(manifest, streamOf(manifestBytes));
    await store.tag(manifest, reference.tag ?? "latest");
    return { manifest, layer };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A ustar stream of one file `big.bin` with `size` pseudo-random bytes (an 8 MiB pattern, 1 MiB chunks). */
function tarStream(size: number): ReadableStream<Uint8Array> {
  const pool = seededBytes(8 * MiB, 7);
  const parts: (() => Uint8Array)[] = [() => header("big.bin", size)];
  for (let off = 0; off < size; off += MiB) {
    const at = off % pool.byteLength;
    const n = Math.min(MiB, size - off);
    parts.push(() => pool.subarray(at, at + n));
  }
  parts.push(() => new Uint8Array(1024)); // end-of-archive marker
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i === parts.length) return controller.close();
      controller.enqueue(parts[i++]());
    },
  }, { highWaterMark: 0 });
}

/** A ustar header block for a regular file (mode 0644, uid/gid 0, mtime 0). */
function header(name: string, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const put = (text: string, at: number) => block.set(enc.encode(text), at);
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0");
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(size, 12), 124);
  put(octal(0, 12), 136);
  put("        ", 148); // checksum field counts as spaces while summing
  put("0", 156);
  put("ustar\u0000", 257);
  put("00", 263);
  const sum = block.reduce((a, b) => a + b, 0);
  put(`${octal(sum, 7)}\u0000 `, 148);
  return block;
}

function tap(fn: (chunk: Uint8Array) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      fn(chunk);
      controller.enqueue(chunk);
    },
  });
}

function json(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}
