/**
 * `ferry build`: a multi-arch image from a Dockerfile without RUN, with no daemon and no emulation —
 * each platform's base resolved from a multi-arch index, local files copied into new deterministic
 * layers, config instructions applied; then one index pushed to a registry (optionally with per-platform
 * tags) or written to files.
 *
 * @module
 */
import { platformOfConfig } from "../../oci/platform.ts";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AbortError, FormatError, UsageError } from "../../errors.ts";
import type { CopyEvent } from "../../engine/copy_graph.ts";
import { transfer } from "../../engine/transfer.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { buildIndex } from "../../oci/index_edit.ts";
import { MediaType } from "../../oci/media_types.ts";
import { parseLocation } from "../../ref/location.ts";
import { formatPlatform, parsePlatformList } from "../../oci/platform.ts";
import { formatReference, type Reference } from "../../ref/reference.ts";
import type { RegistryOptions } from "../../remote/client.ts";
import { hostPlatform } from "../../ends/docker_engine.ts";
import { OciLayoutStore } from "../../ends/oci_layout.ts";
import { openRegistryStore } from "../../ends/registry.ts";
import { fileErrorOf } from "../../stream/files.ts";
import { BaseImages } from "./base_image.ts";
import { BuildStore } from "./build_store.ts";
import { BuildContext } from "./context.ts";
import { type Dockerfile, parseDockerfile } from "./dockerfile.ts";
import { type BuiltStage, StageRunner } from "./stage.ts";
import { type ExportEvent, exportFromStore } from "../../engine/platform_files.ts";
import { parseTagTemplate } from "../../ref/tag_template.ts";

/**
 * Where a build goes besides its digest.
 *
 * @example
 * ```ts
 * const format: BuildOutputFormat = "oci";
 * await build("ctx", { output: "out", format });
 * ```
 */
export type BuildOutputFormat = "docker" | "oci" | "oci-archive";

/**
 * Options of {@link build}.
 *
 * @example
 * ```ts
 * const options: BuildOptions = {
 *   platforms: ["linux/amd64", "linux/arm64"],
 *   tags: ["127.0.0.1:5000/app:1"],
 *   push: true,
 *   buildArgs: { VERSION: "1.0" },
 * };
 * await build("ctx", options);
 * ```
 */
export interface BuildOptions {
  /** The Dockerfile (default `CONTEXT/Dockerfile`). */
  file?: string;
  /** Platforms (`linux/amd64`, `arm64`, comma lists); default the `# dockerma archs:` comment, else the host's. */
  platforms?: string[];
  /** Image references (`host/repo:tag`) to push to and name outputs by. */
  tags?: string[];
  /** Push the index to every tag. */
  push?: boolean;
  /** Also tag each platform's image `TAG-<label>` (`1.0-amd64`, `1.0-armv7`) when pushing. */
  split?: boolean;
  /** Write files here: `image-<label>.tar.gz` per platform (docker), an OCI layout (oci) or `image.tar` (oci-archive). */
  output?: string;
  /** Format of `output` (default docker). */
  format?: BuildOutputFormat;
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** The stage to build (default the last). */
  target?: string;
  /** SOURCE_DATE_EPOCH: mtime of new files and the images' `created` (default 0). */
  sourceDateEpoch?: number;
  /** gzip level of new layers (default 6). */
  gzipLevel?: number;
  /** Registry access for bases and pushes. */
  registry?: RegistryOptions;
  /** Blobs pushed at once. */
  concurrency?: number;
  /** Aborts the build; nothing is left under a final name. */
  signal?: AbortSignal;
  /** Progress of the pushes (copy events). */
  onEvent?: (event: CopyEvent) => void;
  /** Progress of the files written with `output`. */
  onExportEvent?: (event: ExportEvent) => void;
}

/**
 * One platform's image of a build.
 *
 * @example
 * ```ts
 * const { images } = await build("ctx", { tags: ["127.0.0.1:5000/app:1"], push: true, split: true });
 * const image: BuiltImage = images[0];
 * console.log(image.platform, image.digest, image.tags);
 * ```
 */
export interface BuiltImage {
  /** The platform built, `os/arch[/variant]`. */
  platform: string;
  /** Digest of its image manifest. */
  digest: string;
  /** `TAG-<label>` per pushed tag, with `split`. */
  tags: string[];
}

/**
 * What {@link build} produced, as `--json` prints it.
 *
 * @example
 * ```ts
 * const result: BuildResult = await build("ctx", { output: "out" });
 * console.log(result.digest, result.files, result.images.map((i) => i.platform));
 * ```
 */
export interface BuildResult {
  /** Digest of the multi-arch index. */
  digest: string;
  /** Media type of the root (an OCI index, or a manifest for one platform). */
  mediaType: string;
  /** One entry per platform built. */
  images: BuiltImage[];
  /** References pushed (`host/repo:tag`). */
  pushed: string[];
  /** Files or the layout written with `output`. */
  files: string[];
}

/**
 * Builds a multi-arch image from a Dockerfile that needs no RUN.
 *
 * @example
 * ```ts
 * const result = await build("app", {
 *   platforms: ["linux/amd64,linux/arm64"],
 *   tags: ["127.0.0.1:5000/app:1"],
 *   push: true,
 * });
 * result.digest; // the index; result.images[i].digest per platform
 * ```
 */
export async function build(contextDir: string, options: BuildOptions = {}): Promise<BuildResult> {
  const tags = (options.tags ?? []).map(parseTag);
  if (options.push && tags.length === 0) throw new UsageError("Cannot push the build: name the image with -t REF");
  if (options.split && !options.push) throw new UsageError("Cannot split the build: --split tags what --push pushes");
  const format = options.format ?? "docker";
  if (!["docker", "oci", "oci-archive"].includes(format)) {
    throw new UsageError(`Cannot write the build as "${format}": use docker, oci or oci-archive`);
  }
  const file = options.file ?? join(contextDir, "Dockerfile");
  const text = await readFile(file, "utf8").catch((err) => {
    throw fileErrorOf(err, "read", file);
  });
  const dockerfile = parseDockerfile(text, { name: file });
  const platforms = platformsOf(dockerfile, options.platforms);
  const target = targetOf(dockerfile, options.target);
  const context = await BuildContext.open(contextDir);
  const workDir = await mkdtemp(join(tmpdir(), "ferry-build-"));
  const bases = new BaseImages(options.registry, options.signal);
  try {
    const store = new BuildStore();
    const images: { desc: Descriptor; platform: Platform }[] = [];
    // Platforms one after another: each spools its own layers, and COPY --from trees are per platform.
    for (const platform of platforms) {
      if (options.signal?.aborted) throw new AbortError();
      const runner = new StageRunner({
        dockerfile,
        context,
        bases,
        buildArgs: options.buildArgs ?? {},
        workDir,
        epoch: options.sourceDateEpoch ?? 0,
        platform,
        buildPlatform: hostPlatform(),
        gzipLevel: options.gzipLevel,
        signal: options.signal,
      });
      images.push(assemble(store, await runner.run(target), options.sourceDateEpoch ?? 0));
    }
    const duplicate = images.find((a, i) => images.findIndex((b) => b.desc.digest === a.desc.digest) !== i);
    if (duplicate) {
      throw new UsageError(
        `Cannot build ${platforms.map(formatPlatform).join(", ")}: two of them resolve to the same ${
          formatPlatform(duplicate.platform)
        } image`,
      );
    }
    const index = buildIndex(images.map((i) => ({ ...i.desc, platform: i.platform })));
    const root = store.put(index.bytes, MediaType.OciIndex);
    store.settleOrigin();
    const result: BuildResult = {
      digest: root.digest,
      mediaType: root.mediaType,
      images: images.map((i) => ({ platform: formatPlatform(i.platform), digest: i.desc.digest, tags: [] })),
      pushed: [],
      files: [],
    };
    if (options.output !== undefined) await writeOutput(store, root, options.output, format, tags[0], result, options);
    if (options.push) {
      for (const tag of tags) await pushTag(store, root, images, tag, result, options);
    }
    return result;
  } finally {
    await bases.dispose();
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
  }
}

function parseTag(tag: string): Reference {
  const location = parseLocation(tag);
  if (location.kind !== "registry" || location.reference.digest) {
    throw new UsageError(`Cannot tag the build "${tag}": -t takes a registry reference like host/repo:tag`);
  }
  return location.reference;
}

function platformsOf(dockerfile: Dockerfile, given: string[] | undefined): Platform[] {
  const exact = { wildcards: false };
  const list = given && given.length > 0
    ? parsePlatformList(given, exact)
    : dockerfile.archs
    ? parsePlatformList(dockerfile.archs.length > 0 ? [dockerfile.archs.join(",")] : undefined, exact)
    : [hostPlatform()];
  if (list === "all") {
    throw new UsageError("Cannot build for all platforms: name them with --platform (e.g. linux/amd64,linux/arm64)");
  }
  return list;
}

function targetOf(dockerfile: Dockerfile, target: string | undefined): number {
  if (target === undefined) return dockerfile.stages.length - 1;
  const stage = dockerfile.stages.find((s) => s.name === target.toLowerCase());
  if (!stage) throw new UsageError(`Cannot build target "${target}": no stage has that name`);
  return stage.index;
}

/** The image manifest and config of a built stage, added to `store`. */
function assemble(store: BuildStore, stage: BuiltStage, epoch: number): { desc: Descriptor; platform: Platform } {
  const layers: Descriptor[] = stage.layers.map((l) => {
    if (l.kind === "new") store.addFile(l.desc.digest, l.layer.path);
    else store.addFrom(l.desc.digest, l.store);
    // Same bytes under the OCI name of the Docker media type: nothing is recompressed.
    const mediaType = l.desc.mediaType === MediaType.DockerLayerGzip ? MediaType.OciLayerGzip : l.desc.mediaType;
    return { mediaType, digest: l.desc.digest, size: l.desc.size, ...(l.desc.urls ? { urls: l.desc.urls } : {}) };
  });
  const config = store.put(stage.config.toBytes(epoch), MediaType.OciConfig);
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers };
  const desc = store.put(new TextEncoder().encode(JSON.stringify(manifest)), MediaType.OciManifest);
  const platform = platformOfConfig(stage.config.doc);
  if (!platform) throw new FormatError(`Cannot build ${desc.digest}: its config names no os/architecture`);
  return { desc, platform };
}

async function pushTag(
  store: BuildStore,
  root: Descriptor,
  images: { desc: Descriptor; platform: Platform }[],
  ref: Reference,
  result: BuildResult,
  options: BuildOptions,
): Promise<void> {
  const dst = openRegistryStore(ref, options.registry);
  const tag = ref.tag ?? "latest";
  await transfer(store, dst, root, {
    tags: [tag],
    concurrency: options.concurrency,
    signal: options.signal,
    onEvent: options.onEvent,
    async beforeClose() {
      result.pushed.push(formatReference({ ...ref, tag }));
      if (!options.split) return;
      for (const [i, image] of images.entries()) {
        const perArch = parseTagTemplate("{tag}-{label}", { flag: "--split" }).expand(image.platform, { tag });
        await dst.tag(image.desc, perArch, { signal: options.signal });
        result.images[i].tags.push(formatReference({ ...ref, tag: perArch }));
      }
    },
  });
}

async function writeOutput(
  store: BuildStore,
  root: Descriptor,
  output: string,
  format: BuildOutputFormat,
  tag: Reference | undefined,
  result: BuildResult,
  options: BuildOptions,
): Promise<void> {
  const repository = tag
    ? formatReference({ registry: tag.registry, repository: tag.repository }, { short: true })
    : "ferry-build";
  const name = tag?.tag ?? "latest";
  if (format === "oci") {
    const layout = await OciLayoutStore.open(output, { create: true });
    await transfer(store, layout, root, {
      tags: [name],
      concurrency: options.concurrency,
      signal: options.signal,
      onEvent: options.onEvent,
    });
    result.files.push(resolve(output));
    return;
  }
  const { files } = await exportFromStore(store, root, output, {
    format: format === "oci-archive" ? "oci-archive" : "docker",
    repository,
    tag: name,
    output: format === "oci-archive" ? join(output, "image.tar") : undefined,
    concurrency: options.concurrency,
    signal: options.signal,
    onEvent: options.onExportEvent,
  });
  result.files.push(...files.map((f) => f.path));
}
