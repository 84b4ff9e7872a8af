/**
 * `ferry demo`: ferry's main job on an embedded default. Starts ferry's own read-only registry on 127.0.0.1,
 * seeded with the deterministic sample multi-arch image (each platform runs: a tiny static `/hello`), and exports
 * every platform from it to `image-<arch>.tar.gz` files tagged with a stable name, ready for `docker load`.
 *
 * @module
 */
import { serve } from "../../runtime.ts";
import { registryHandler } from "../../server/handler.ts";
import { buildSampleImage } from "../../testing/sample_image.ts";
import { hostPlatform } from "../../ends/docker_engine.ts";
import type { Descriptor } from "../../oci/descriptor.ts";
import { formatPlatform, parsePlatform, platformLabel } from "../../oci/platform.ts";
import { exportImage, type ExportImageResult } from "./export.ts";

/** The repository the demo image is exported as: `docker load` names it `sample/app:1.0-<arch>`. */
export const DEMO_REPOSITORY = "sample/app";

/**
 * Options of {@link demo}.
 *
 * @example
 * ```ts
 * const options: DemoOptions = { output: "ferry-demo", onServing: (ref) => console.log(ref) };
 * await demo(options);
 * ```
 */
export interface DemoOptions {
  /** Where the files go (default `ferry-demo`). */
  output?: string;
  /** Called once the embedded registry serves the sample, with its reference and the index's entries. */
  onServing?: (ref: string, entries: DemoEntry[]) => void;
  signal?: AbortSignal;
}

/**
 * One entry of the sample's index, as the demo lists it.
 *
 * @example
 * ```ts
 * const entry: DemoEntry = { platform: "linux/amd64", digest: "sha256:…", attestation: false };
 * ```
 */
export interface DemoEntry {
  platform: string;
  digest: string;
  /** A buildx-style attestation manifest (`unknown/unknown`): not exported to docker-load files. */
  attestation: boolean;
}

/**
 * What {@link demo} did: the reference it exported from, the export's result, and the `docker` lines that load
 * and run this machine's platform (`hostFile` is undefined when the sample has no file for it).
 *
 * @example
 * ```ts
 * const result: DemoResult = await demo({ output: "ferry-demo" });
 * console.log(result.dockerLoad, result.dockerRun);
 * ```
 */
export interface DemoResult {
  source: string;
  export: ExportImageResult;
  /** The file for this machine's platform, if the sample has one. */
  hostFile?: string;
  /** `docker load -i <hostFile>`. */
  dockerLoad?: string;
  /** `docker run --rm sample/app:1.0-<arch>`: prints `hello from linux/<arch>`. */
  dockerRun?: string;
}

/**
 * Serves the sample image from the embedded registry, exports every platform, stops the registry.
 *
 * @example
 * ```ts
 * const { export: exported } = await demo({ output: "ferry-demo" });
 * for (const file of exported.files) console.log(file.path, file.platform);
 * ```
 */
export async function demo(options: DemoOptions = {}): Promise<DemoResult> {
  const dir = options.output ?? "ferry-demo";
  const sample = buildSampleImage({ attestations: true, layerSize: 256 * 1024, program: true });
  const server = await serve(registryHandler(new Map([[DEMO_REPOSITORY, sample.store]])));
  try {
    const ref = `${server.host}/${DEMO_REPOSITORY}:${sample.tag}`;
    const entry = (desc: Descriptor, attestation: boolean): DemoEntry => ({
      platform: desc.platform ? formatPlatform(desc.platform) : "",
      digest: desc.digest,
      attestation,
    });
    options.onServing?.(ref, [
      ...sample.manifests.map((m) => entry(m, false)),
      ...sample.attestations.map((m) => entry(m, true)),
    ]);
    const exported = await exportImage(ref, dir, {
      signal: options.signal,
      repository: DEMO_REPOSITORY,
    });
    const label = platformLabel(hostPlatform());
    const hostFile = exported.files.find((f) => f.platform && platformLabel(parsePlatform(f.platform)) === label)?.path;
    return {
      source: ref,
      export: exported,
      hostFile,
      dockerLoad: hostFile ? `docker load -i ${hostFile}` : undefined,
      dockerRun: hostFile ? `docker run --rm ${DEMO_REPOSITORY}:${sample.tag}-${label}` : undefined,
    };
  } finally {
    await server.stop();
  }
}
