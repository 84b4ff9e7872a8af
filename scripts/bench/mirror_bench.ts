/**
 * Benchmark 5 (issue #7): `ferry mirror -d PREFIX IMAGE...` of 10 small multi-arch images against a
 * shell loop of `skopeo copy --all` and against one `skopeo sync --all --src yaml` (skopeo 1.9.3's way
 * to sync many single images in one process), each into a fresh target registry; then the no-change
 * re-run of each into the same target. Every variant writes the same names (`PREFIX/bench/mirror-N:1.0`)
 * and keeps the digests (`--preserve-digests`), which are checked after every run.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MANIFEST_ACCEPT } from "../../lib/oci/media_types.ts";
import { startRegistry } from "../../tests/helpers/registry.ts";
import { pushSampleImage } from "../../tests/helpers/sample.ts";
import { type Measurement, measure, type Summary, summarize } from "./measure.ts";

/** One source image of the mirror benchmark. */
export interface MirrorImage {
  /** Repository path without registry, e.g. `bench/mirror-0`. */
  repo: string;
  /** Index digest. */
  digest: string;
}

/** What the mirror benchmark needs to know. */
export interface MirrorBenchOptions {
  ferry: string;
  /** Source registry host, e.g. `127.0.0.1:5000`. */
  sourceHost: string;
  images: MirrorImage[];
  runs: number;
  log: (line: string) => void;
}

/** First run and no-change re-run of one variant. */
export interface MirrorVariant {
  first: Summary;
  rerun: Summary;
}

/** Results of {@link mirrorBench}. */
export interface MirrorBenchResult {
  images: number;
  ferry: MirrorVariant;
  baselines: MirrorVariant[];
  /** The baseline with the lowest median first run, and ferry's ratios to its first run and to its re-run. */
  fastestFirst: string;
  firstRatio: number;
  fastestRerun: string;
  rerunRatio: number;
}

const PREFIX = "mirror";

/**
 * Pushes `count` distinct sample images (6 platforms, about 5 MiB each: a 2 MiB base layer plus
 * 0.5 MiB per platform, seeds differing so nothing is shared) to `host/bench/mirror-N:1.0`.
 */
export async function pushMirrorImages(host: string, count: number, platforms: string[]): Promise<MirrorImage[]> {
  const images: MirrorImage[] = [];
  for (let i = 0; i < count; i++) {
    const repo = `bench/mirror-${i}`;
    const sample = await pushSampleImage(`${host}/${repo}:1.0`, {
      platforms,
      baseLayerSize: 2 * 2 ** 20,
      layerSize: 2 ** 19,
      seed: 100 + i,
      gzipLevel: 0,
    });
    images.push({ repo, digest: sample.root.digest });
  }
  return images;
}

/** Runs each variant (order rotated every round): first run into a fresh registry, then the re-run. */
export async function mirrorBench(options: MirrorBenchOptions): Promise<MirrorBenchResult> {
  const { ferry, sourceHost, images, runs, log } = options;
  const work = await mkdtemp(join(tmpdir(), "ferry-bench-mirror-"));
  try {
    const yaml = join(work, "sync.yaml");
    await writeFile(
      yaml,
      `${sourceHost}:\n  tls-verify: false\n  images:\n` + images.map((i) => `    ${i.repo}:\n      - "1.0"\n`).join(""),
    );
    const sources = images.map((i) => `${sourceHost}/${i.repo}:1.0`);
    const loop = 'set -e; src="$1"; dst="$2"; shift 2; for img in "$@"; do ' +
      'skopeo --insecure-policy copy --quiet --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false ' +
      '"docker://$src/$img" "docker://$dst/$img"; done';
    const variants: Record<string, (host: string) => Promise<Measurement>> = {
      "ferry mirror": (host) => measure(ferry, ["mirror", "--quiet", "-d", `${host}/${PREFIX}`, ...sources]),
      "skopeo copy --all loop": (host) =>
        measure("sh", ["-c", loop, "sh", sourceHost, `${host}/${PREFIX}`, ...images.map((i) => `${i.repo}:1.0`)]),
      "skopeo sync --all (yaml)": (host) =>
        measure("skopeo", [
          "--insecure-policy",
          "sync",
          "--all",
          "--preserve-digests",
          "--src",
          "yaml",
          "--dest",
          "docker",
          "--dest-tls-verify=false",
          yaml,
          `${host}/${PREFIX}/bench`, // sync appends the last path element: mirror/bench/mirror-N
        ]),
    };
    const names = Object.keys(variants);
    const first = new Map<string, Measurement[]>(names.map((n) => [n, []]));
    const rerun = new Map<string, Measurement[]>(names.map((n) => [n, []]));
    const once = async (name: string, warmUp: boolean) => {
      const registry = await startRegistry();
      try {
        const a = await variants[name](registry.host);
        await expectMirrored(registry.host, images);
        const b = await variants[name](registry.host);
        await expectMirrored(registry.host, images);
        const note = warmUp ? "  (warm-up, not counted)" : "";
        const rss = Math.max(a.rssMiB, b.rssMiB).toFixed(0);
        log(`  mirror  ${name.padEnd(24)} first ${a.seconds.toFixed(2)} s  re-run ${b.seconds.toFixed(2)} s  ${rss} MiB${note}`);
        if (!warmUp) {
          first.get(name)!.push(a);
          rerun.get(name)!.push(b);
        }
      } finally {
        await registry.stop();
      }
    };
    for (const name of names) await once(name, true);
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < names.length; i++) await once(names[(i + round) % names.length], false);
    }

    const variant = (name: string): MirrorVariant => ({
      first: summarize(name, first.get(name)!),
      rerun: summarize(`${name} (re-run)`, rerun.get(name)!),
    });
    const ferrySummary = variant("ferry mirror");
    const baselines = names.slice(1).map(variant);
    const bestFirst = baselines.reduce((x, y) => (y.first.medianSeconds < x.first.medianSeconds ? y : x));
    const bestRerun = baselines.reduce((x, y) => (y.rerun.medianSeconds < x.rerun.medianSeconds ? y : x));
    return {
      images: images.length,
      ferry: ferrySummary,
      baselines,
      fastestFirst: bestFirst.first.name,
      firstRatio: ferrySummary.first.medianSeconds / bestFirst.first.medianSeconds,
      fastestRerun: bestRerun.rerun.name,
      rerunRatio: ferrySummary.rerun.medianSeconds / bestRerun.rerun.medianSeconds,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Checks that every image is at `host/mirror/<repo>:1.0` with its source digest. */
async function expectMirrored(host: string, images: MirrorImage[]): Promise<void> {
  for (const { repo, digest } of images) {
    const url = `http://${host}/v2/${PREFIX}/${repo}/manifests/1.0`;
    const res = await fetch(url, { method: "HEAD", headers: { Accept: MANIFEST_ACCEPT } });
    const got = res.headers.get("docker-content-digest");
    if (!res.ok || got !== digest) {
      const what = `${host}/${PREFIX}/${repo}:1.0`;
      throw new Error(`Cannot verify the mirror ${what}: HTTP ${res.status}, digest ${got}, want ${digest}`);
    }
  }
}
