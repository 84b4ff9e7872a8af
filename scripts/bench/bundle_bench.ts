/**
 * Benchmark of issue #19: a bundle of 10 images of 6 platforms (the mirror benchmark's images) written by one
 * `ferry export REF... -o bundle.tar` against what skopeo users do today: one `skopeo copy --all … oci:DIR:REF` per
 * image into one layout, and `skopeo sync --all --dest dir`. Target: ferry ≤ 0.5× their wall time, peak RSS < 100 MiB.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Measurement, measure, type Summary, summarize } from "./measure.ts";
import type { MirrorImage } from "./mirror_bench.ts";

/** What the bundle benchmark needs to know. */
export interface BundleBenchOptions {
  ferry: string;
  sourceHost: string;
  images: MirrorImage[];
  runs: number;
  log: (line: string) => void;
}

/** Results of {@link bundleBench}. */
export interface BundleBenchResult {
  images: number;
  ferry: Summary;
  baselines: Summary[];
  /** ferry's median time / each baseline's, by name. */
  ratios: Record<string, number>;
}

/** Runs each variant (order rotated every round, one warm-up each), each into a fresh directory. */
export async function bundleBench(options: BundleBenchOptions): Promise<BundleBenchResult> {
  const { ferry, sourceHost, images, runs, log } = options;
  const work = await mkdtemp(join(tmpdir(), "ferry-bench-bundle-"));
  try {
    const yaml = join(work, "sync.yaml");
    await writeFile(
      yaml,
      `${sourceHost}:\n  tls-verify: false\n  images:\n` + images.map((i) => `    ${i.repo}:\n      - "1.0"\n`).join(""),
    );
    const refs = images.map((i) => `${sourceHost}/${i.repo}:1.0`);
    const loop = 'set -e; dir="$1"; shift; for ref in "$@"; do ' +
      'skopeo --insecure-policy copy --quiet --all --preserve-digests --src-tls-verify=false ' +
      '"docker://$ref" "oci:$dir:$ref"; done';
    const variants: Record<string, (dir: string) => Promise<Measurement>> = {
      "ferry export (bundle)": (dir) => measure(ferry, ["export", "--plain-http", "-o", join(dir, "bundle.tar"), ...refs]),
      "skopeo copy --all oci: loop": (dir) => measure("sh", ["-c", loop, "sh", join(dir, "layout"), ...refs]),
      "skopeo sync --all --dest dir": (dir) =>
        measure("skopeo", [
          "--insecure-policy",
          "sync",
          "--all",
          "--preserve-digests",
          "--src",
          "yaml",
          "--dest",
          "dir",
          yaml,
          join(dir, "sync"),
        ]),
    };
    const names = Object.keys(variants);
    const results = new Map<string, Measurement[]>(names.map((n) => [n, []]));
    const once = async (name: string, warmUp: boolean) => {
      const dir = await mkdtemp(join(work, "run-"));
      try {
        const m = await variants[name](dir);
        log(`  bundle  ${name.padEnd(28)} ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB${warmUp ? "  (warm-up)" : ""}`);
        if (!warmUp) results.get(name)!.push(m);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    for (const name of names) await once(name, true);
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < names.length; i++) await once(names[(i + round) % names.length], false);
    }
    const ferrySummary = summarize(names[0], results.get(names[0])!);
    const baselines = names.slice(1).map((n) => summarize(n, results.get(n)!));
    return {
      images: images.length,
      ferry: ferrySummary,
      baselines,
      ratios: Object.fromEntries(baselines.map((b) => [b.name, ferrySummary.medianSeconds / b.medianSeconds])),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
