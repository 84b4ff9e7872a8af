/**
 * The deterministic multi-arch sample image, built in code: the README demo, the tests and the
 * benchmarks all use it, and no blob fixture is checked in.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { MemoryStore } from "../ends/memory.ts";
import { staticProgram } from "./static_program.ts";
import { buildLayer, type BuiltLayer, type LayerFile } from "./tar_layer.ts";

/**
 * Options of {@link buildSampleImage}.
 *
 * @example
 * ```ts
 * const options: SampleOptions = { platforms: ["linux/amd64", "linux/riscv64"], mediaType: "docker", attestations: true };
 * buildSampleImage(options);
 * ```
 */
export interface SampleOptions {
  /** Platforms of the index, in order; default `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`. */
  platforms?: string[];
  /** OCI index and manifests (default), or a Docker manifest list with Docker v2s2 manifests. */
  mediaType?: "oci" | "docker";
  /** Pseudo-random (incompressible) bytes in the base layer every platform shares; 0 (default) → a tiny text layer. */
  baseLayerSize?: number;
  /** Pseudo-random bytes in each platform's own layer; default 1024. */
  layerSize?: number;
  /** Extra files per platform (keyed as in `platforms`), e.g. a static busybox at `/bin/cat`; mode 0755. */
  files?: Record<string, Record<string, Uint8Array>>;
  /** Adds buildx-style `unknown/unknown` attestation manifests (OCI only). */
  attestations?: boolean;
  /** The image's `Cmd`; default `["/hello"]` with `program`, else `["cat", "/platform.txt"]` (runs when a busybox is added as `/bin/cat`). */
  cmd?: string[];
  /**
   * Adds `/hello` to each platform: a tiny static program built in code ({@link staticProgram}) that prints
   * `hello from <platform>`, so `docker run` of any exported platform works (natively or under qemu).
   */
  program?: boolean;
  /** Seed of the pseudo-random bytes; default 1. */
  seed?: number;
  /** Seed of the base layer's bytes; default `seed` (images built with one `baseSeed` share their base layer). */
  baseSeed?: number;
  /**
   * gzip level of every layer. Default: 0 (stored) for a layer with 1 MiB or more of random bytes,
   * which deflate cannot shrink anyway (100 MiB builds in ~0.6 s instead of ~3 s), else 6.
   */
  gzipLevel?: number;
  /**
   * Adds a `windows/amd64` image (after `platforms`) whose base layer is non-distributable, as on
   * Docker Hub's `hello-world`: Docker's foreign layer type (or, for OCI, `nondistributable.v1.tar+gzip`)
   * with `urls`, its blob not in the store (its bytes are in {@link SampleImage.foreignLayers}).
   */
  foreignLayers?: boolean;
}

/**
 * A sample image held in a {@link MemoryStore}, tagged `1.0`.
 *
 * @example
 * ```ts
 * const sample: SampleImage = buildSampleImage();
 * console.log(sample.root.digest, sample.manifests.map((m) => m.platform));
 * ```
 */
export interface SampleImage {
  /** The store holding every blob and manifest, with the tag. */
  store: MemoryStore;
  /** The index (or manifest list). */
  root: Descriptor;
  /** The index's image manifests, each with its platform, in `platforms` order. */
  manifests: Descriptor[];
  /** The attestation manifests (empty unless `attestations`). */
  attestations: Descriptor[];
  /** The tag the index has in `store`. */
  tag: "1.0";
  /** With `foreignLayers`: each non-distributable layer and its bytes, which `store` does not hold. */
  foreignLayers: { desc: Descriptor; bytes: Uint8Array }[];
}

const CREATED = "1970-01-01T00:00:00Z";
const enc = new TextEncoder();
const DEFAULT_PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"];

/**
 * Builds the sample multi-arch image: a shared base layer plus, per platform, a layer whose
 * `/platform.txt` names the platform (ggcr's trick). The same options always give the same digests.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
 * const destination = await OciLayoutStore.open("sample-layout", { create: true });
 * await copyGraph(sample.store, destination, sample.root);
 * await destination.tag(sample.root, sample.tag);
 * await destination.close();
 * ```
 */
export function buildSampleImage(options: SampleOptions = {}): SampleImage {
  const platforms = options.platforms ?? DEFAULT_PLATFORMS;
  const docker = options.mediaType === "docker";
  if (platforms.length === 0) throw new UsageError("Cannot build sample image: no platforms");
  if (new Set(platforms).size !== platforms.length) {
    throw new UsageError("Cannot build sample image: duplicate platform");
  }
  if (docker && options.attestations) {
    throw new UsageError('Cannot build sample image: attestations need mediaType "oci"');
  }
  for (const key of Object.keys(options.files ?? {})) {
    if (!platforms.includes(key)) {
      throw new UsageError(`Cannot build sample image: files for unknown platform "${key}"`);
    }
  }
  const types = docker
    ? {
      index: MediaType.DockerManifestList,
      manifest: MediaType.DockerManifest,
      config: MediaType.DockerConfig,
      layer: MediaType.DockerLayerGzip,
    }
    : {
      index: MediaType.OciIndex,
      manifest: MediaType.OciManifest,
      config: MediaType.OciConfig,
      layer: MediaType.OciLayerGzip,
    };
  const seed = options.seed ?? 1;
  const gzipLevel = (randomSize: number) => options.gzipLevel ?? (randomSize >= 1024 * 1024 ? 0 : 6);
  const store = new MemoryStore("memory:sample/app");

  const baseSize = options.baseLayerSize ?? 0;
  const base = buildLayer(
    baseSize > 0
      ? [{ path: "base/random.bin", content: seededBytes(baseSize, options.baseSeed ?? seed) }]
      : [{ path: "etc/ferry-sample.txt", content: "ferry sample image: base layer\n" }],
    { gzipLevel: gzipLevel(baseSize) },
  );
  const baseDesc = putLayer(store, base, types.layer);

  const manifests = platforms.map((name, i) => {
    const platform = parsePlatform(name);
    const layerSize = options.layerSize ?? 1024;
    const files: LayerFile[] = [
      { path: "platform.txt", content: `${name}\n` },
      { path: "data/random.bin", content: seededBytes(layerSize, seed + i + 1) },
      ...Object.entries(options.files?.[name] ?? {}).map(([path, content]) => ({ path, content, mode: 0o755 })),
      ...(options.program ? [{ path: "hello", content: staticProgram(name), mode: 0o755 }] : []),
    ];
    const own = buildLayer(files, { gzipLevel: gzipLevel(layerSize) });
    const config = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: CREATED,
      config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: options.cmd ?? (options.program ? ["/hello"] : ["cat", "/platform.txt"]),
      },
      rootfs: { type: "layers", diff_ids: [base.diffId, own.diffId] },
      history: [
        { created: CREATED, created_by: "ferry sample: base layer" },
        { created: CREATED, created_by: `ferry sample: ${name} layer` },
      ],
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: types.manifest,
      config: store.put(json(config), types.config),
      layers: [baseDesc, putLayer(store, own, types.layer)],
    };
    return { ...store.put(json(manifest), types.manifest), platform };
  });

  const foreignLayers: SampleImage["foreignLayers"] = [];
  if (options.foreignLayers) {
    if (platforms.includes(WINDOWS)) throw new UsageError(`Cannot build sample image: foreignLayers adds ${WINDOWS}`);
    manifests.push(windowsImage(store, types, seed, foreignLayers, options.cmd));
  }
  const attestations = options.attestations ? manifests.map((m) => attestationFor(store, m)) : [];
  const index = { schemaVersion: 2, mediaType: types.index, manifests: [...manifests, ...attestations] };
  const root = store.put(json(index), types.index);
  store.tags.set("1.0", root);
  return { store, root, manifests, attestations, tag: "1.0", foreignLayers };
}

const WINDOWS = "windows/amd64";

/** The `windows/amd64` image of `foreignLayers`: a foreign base layer (left out of `store`) and a layer of its own. */
function windowsImage(
  store: MemoryStore,
  types: { manifest: string; config: string; layer: string },
  seed: number,
  foreignLayers: SampleImage["foreignLayers"],
  cmd: string[] | undefined,
): Descriptor & { platform: Platform } {
  const docker = types.manifest === MediaType.DockerManifest;
  const base = buildLayer([{ path: "Files/ferry-windows-base.txt", content: "ferry sample: foreign base layer\n" }]);
  const [, hex] = base.digest.split(":");
  const foreign: Descriptor = {
    mediaType: docker ? MediaType.DockerForeignLayerGzip : MediaType.OciLayerNondistributableGzip,
    digest: base.digest,
    size: base.gz.byteLength,
    urls: [`https://mcr.microsoft.com/v2/windows/nanoserver/blobs/sha256:${hex}`],
  };
  foreignLayers.push({ desc: foreign, bytes: base.gz });
  const own = buildLayer([
    { path: "Files/platform.txt", content: `${WINDOWS}\n` },
    { path: "Files/random.bin", content: seededBytes(1024, seed + 1000) },
  ]);
  const platform: Platform = { architecture: "amd64", os: "windows", "os.version": "10.0.20348.2340" };
  const config = {
    ...platform,
    created: CREATED,
    config: { Cmd: cmd ?? ["cmd", "/C", "type C:\\platform.txt"] },
    rootfs: { type: "layers", diff_ids: [base.diffId, own.diffId] },
    history: [
      { created: CREATED, created_by: "ferry sample: foreign base layer" },
      { created: CREATED, created_by: `ferry sample: ${WINDOWS} layer` },
    ],
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: store.put(json(config), types.config),
    layers: [foreign, putLayer(store, own, types.layer)],
  };
  return { ...store.put(json(manifest), types.manifest), platform };
}

/** A buildx-style attestation manifest (an in-toto statement) for the image manifest `subject`. */
function attestationFor(store: MemoryStore, subject: Descriptor): Descriptor {
  const [, hex] = subject.digest.split(":");
  const statement = json({
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: "https://slsa.dev/provenance/v0.2",
    subject: [{ name: "pkg:docker/sample/app@1.0", digest: { sha256: hex } }],
    predicate: { builder: { id: "" }, buildType: "https://mobyproject.org/buildkit@v1", metadata: {} },
  });
  const layer = {
    ...store.put(statement, "application/vnd.in-toto+json"),
    annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" },
  };
  const config = {
    architecture: "unknown",
    os: "unknown",
    config: {},
    rootfs: { type: "layers", diff_ids: [layer.digest] },
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: store.put(json(config), MediaType.OciConfig),
    layers: [layer],
  };
  return {
    ...store.put(json(manifest), MediaType.OciManifest),
    annotations: {
      "vnd.docker.reference.digest": subject.digest,
      "vnd.docker.reference.type": "attestation-manifest",
    },
    platform: { architecture: "unknown", os: "unknown" },
  };
}

/** Stores a layer under the digest buildLayer already computed (no second hash of a large blob). */
function putLayer(store: MemoryStore, layer: BuiltLayer, mediaType: string): Descriptor {
  const desc = { mediaType, digest: layer.digest, size: layer.gz.byteLength };
  store.blobs.set(desc.digest, { desc, bytes: layer.gz });
  return desc;
}

/** `os/arch[/variant]` as written in `platforms`; no normalisation, so the index says what was asked. */
function parsePlatform(name: string): Platform {
  const [os, architecture, variant, ...rest] = name.split("/");
  if (!os || !architecture || variant === "" || rest.length > 0) {
    throw new UsageError(`Cannot build sample image: invalid platform "${name}" (want os/arch[/variant])`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

function json(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/**
 * `size` pseudo-random bytes from `seed`: xorshift32 (seeded through splitmix32), one word per step,
 * about 250 MB/s. Written through a Uint32Array, so the bytes assume a little-endian host (all ferry targets).
 */
export function seededBytes(size: number, seed: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(size) || size < 0) throw new UsageError(`Cannot build sample image: invalid size ${size}`);
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = splitmix32(seed) || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}

function splitmix32(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
