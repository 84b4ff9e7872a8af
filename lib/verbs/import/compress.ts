/**
 * Gzips the uncompressed layers of an image (as `docker save` stores them) for a registry: each layer
 * streams through gzip into a spool file while its compressed digest is computed, and a new manifest
 * names the gzipped blobs. The config (and so every diff_id) is unchanged.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { NotFoundError } from "../../errors.ts";
import { fetchManifest } from "../../engine/fetch.ts";
import { Limiter } from "../../stream/limiter.ts";
import { type Descriptor, descriptorOf } from "../../oci/descriptor.ts";
import { splitDigest } from "../../oci/digest.ts";
import type { ImageManifest } from "../../oci/manifest.ts";
import { MediaType } from "../../oci/media_types.ts";
import type { ReadableStore, StoreOptions } from "../../ends/store.ts";
import { createTempWriter, readFileStream } from "../../stream/files.ts";
import { gzipStream } from "../../stream/gzip.ts";
import { verifyStream } from "../../stream/verify.ts";

const UNCOMPRESSED = new Set([
  MediaType.OciLayer,
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.docker.image.rootfs.diff.tar",
]);

/** Options of {@link compressLayers}. */
export interface CompressOptions {
  /** Family of the new manifest: OCI (default) or Docker v2s2. */
  type?: "oci" | "docker";
  gzipLevel: number;
  /** Layers compressed at once (default 2). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** A new manifest and the store serving its gzipped layers. */
export interface CompressedImage {
  manifest: Descriptor;
  bytes: Uint8Array;
  blobs: ReadableStore;
}

/** Whether the image manifest `desc` in `src` has a layer stored uncompressed. */
export async function needsCompression(src: ReadableStore, desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
  const { parsed } = await fetchManifest(src, desc, { signal });
  return parsed.kind === "manifest" && parsed.manifest.layers.some((l) => UNCOMPRESSED.has(l.mediaType));
}

/**
 * Gzips the uncompressed layers of `desc` into `dir` and returns the new manifest, or undefined when
 * every layer is already compressed (then the input manifest is pushed as it is).
 *
 * @example
 * ```ts
 * const converted = await compressLayers(archive, manifestDesc, spoolDir, { gzipLevel: 6 });
 * if (converted) await copyGraph(new UnionOf(converted.blobs, archive), dst, converted.manifest);
 * ```
 */
export async function compressLayers(
  src: ReadableStore,
  desc: Descriptor,
  dir: string,
  options: CompressOptions,
): Promise<CompressedImage | undefined> {
  const { parsed } = await fetchManifest(src, desc, { signal: options.signal });
  if (parsed.kind !== "manifest" || !parsed.manifest.layers.some((l) => UNCOMPRESSED.has(l.mediaType))) {
    return undefined;
  }
  const m = parsed.manifest;
  const docker = options.type === "docker";
  const files = new Map<string, { path: string; size: number }>();
  const limit = new Limiter(options.concurrency ?? 2);
  const layers = await Promise.all(m.layers.map((layer) =>
    limit.run(async (): Promise<Descriptor> => {
      const mediaType = layerType(layer.mediaType, docker);
      if (!UNCOMPRESSED.has(layer.mediaType)) return { ...layer, mediaType };
      const path = join(dir, `${splitDigest(layer.digest)[1]}.gz`);
      const hash = createHash("sha256");
      let size = 0;
      const writer = await createTempWriter(path);
      try {
        const body = await src.fetch(layer, { signal: options.signal });
        await body
          .pipeThrough(verifyStream(layer, src.ref))
          .pipeThrough(gzipStream(options.gzipLevel))
          .pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, controller) {
                hash.update(chunk);
                size += chunk.byteLength;
                controller.enqueue(chunk);
              },
            }),
          )
          .pipeTo(writer.writable, { signal: options.signal });
        await writer.commit();
      } catch (err) {
        await writer.discard();
        throw err;
      }
      const digest = `sha256:${hash.digest("hex")}`;
      files.set(digest, { path, size });
      const { annotations } = layer;
      return { mediaType, digest, size, ...(annotations ? { annotations } : {}) };
    })
  ));
  const configType = docker
    ? MediaType.DockerConfig
    : m.config.mediaType === MediaType.DockerConfig
    ? MediaType.OciConfig
    : m.config.mediaType;
  const manifest: ImageManifest = docker
    ? {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: configType, digest: m.config.digest, size: m.config.size },
      layers,
    }
    : {
      ...m,
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { ...m.config, mediaType: configType },
      layers,
    };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return { manifest: descriptorOf(bytes, manifest.mediaType!), bytes, blobs: new FileBlobs(files) };
}

function layerType(mediaType: string, docker: boolean): string {
  const gz = UNCOMPRESSED.has(mediaType) || /gzip$/.test(mediaType);
  if (docker) return gz ? MediaType.DockerLayerGzip : mediaType;
  if (mediaType === MediaType.DockerLayerGzip || UNCOMPRESSED.has(mediaType)) return MediaType.OciLayerGzip;
  return mediaType;
}

/** Spooled gzipped layers by digest. */
class FileBlobs implements ReadableStore {
  readonly ref = "import:gzip";
  constructor(readonly files: Map<string, { path: string; size: number }>) {}
  resolve(reference: string): Promise<Descriptor> {
    return Promise.reject(new NotFoundError(`Cannot resolve ${reference}`, { ref: this.ref }));
  }
  fetch(desc: Descriptor, _options?: StoreOptions): Promise<ReadableStream<Uint8Array>> {
    const file = this.files.get(desc.digest);
    if (!file) return Promise.reject(new NotFoundError(`Cannot find ${desc.digest}`, { ref: this.ref }));
    return Promise.resolve(readFileStream(file.path));
  }
  exists(desc: Descriptor): Promise<boolean> {
    return Promise.resolve(this.files.has(desc.digest));
  }
}
