/**
 * Benchmarks 2 and 3: `ferry export` (every platform to `image-<label>.tar.gz`) against the script
 * a user would write today (per platform, sequentially: `skopeo copy …@<digest> docker-archive:`
 * then `gzip`, `gzip -1` or `pigz`), and ferry's peak RSS exporting one very large layer.
 *
 * @module
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Measurement, measure, settleDisk, type Summary, summarize } from "./measure.ts";

/** One platform of the source index. */
export interface PlatformEntry {
  /** Manifest digest. */
  digest: string;
  /** File label, e.g. `armv7`. */
  label: string;
}

/** What the export benchmark needs to know. */
export interface ExportBenchOptions {
  ferry: string;
  /** Source repository with tag, e.g. `127.0.0.1:5000/bench/app:1.0`. */
  source: string;
  platforms: PlatformEntry[];
  runs: number;
  /** Also time pigz (when installed). */
  pigz: boolean;
  /** Only the plain-tar baseline (the 1 GiB image: its gzip baselines take minutes and set no target). */
  plainOnly?: boolean;
  log: (line: string) => void;
}

/** A summary plus the total size of the files written (last run). */
export interface ExportSummary extends Summary {
  outputBytes: number;
}

/** Results of {@link exportBench}. */
export interface ExportBenchResult {
  ferry: ExportSummary;
  baselines: ExportSummary[];
  /** Median ferry time / median time of each baseline, by baseline name. */
  ratios: Record<string, number>;
}

/** Runs ferry and each baseline alternating (the order rotated every round), `runs` times each. */
export async function exportBench(options: ExportBenchOptions): Promise<ExportBenchResult> {
  const { ferry, source, platforms, log } = options;
  const repo = source.slice(0, source.lastIndexOf(":"));
  // "skopeo (plain tar)" writes docker-archive: tars and compresses nothing: the floor of the skopeo side.
  const compressors: [string, string[]][] = [
    ["skopeo (plain tar)", []],
    ["skopeo + gzip", ["gzip"]],
    ["skopeo + gzip -1", ["gzip", "-1"]],
  ];
  if (options.pigz) compressors.push(["skopeo + pigz", ["pigz"]]);
  if (options.plainOnly) compressors.splice(1);

  const variants = new Map<string, (dir: string) => Promise<Measurement>>();
  variants.set("ferry export", (dir) => measure(ferry, ["export", source, "-o", dir]));
  for (const [name, gzip] of compressors) {
    variants.set(name, async (dir) => {
      const start = performance.now();
      let rss = 0;
      for (const { digest, label } of platforms) {
        const tar = join(dir, `image-${label}.tar`);
        const copied = await measure("skopeo", [
          "--insecure-policy",
          "copy",
          "--src-tls-verify=false",
          `docker://${repo}@${digest}`,
          `docker-archive:${tar}:bench/app:1.0-${label}`,
        ]);
        const zipped = gzip.length ? await measure(gzip[0], [...gzip.slice(1), tar]) : copied;
        rss = Math.max(rss, copied.rssMiB, zipped.rssMiB);
      }
      return { seconds: (performance.now() - start) / 1000, rssMiB: rss };
    });
  }

  const names = [...variants.keys()];
  const results = new Map<string, Measurement[]>(names.map((n) => [n, []]));
  const sizes = new Map<string, number>();
  for (let round = 0; round < options.runs; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      const dir = await mkdtemp(join(tmpdir(), "ferry-bench-export-"));
      try {
        await settleDisk();
        const m = await variants.get(name)!(dir);
        const bytes = await gzFilesSize(dir, platforms.length);
        sizes.set(name, bytes);
        results.get(name)!.push(m);
        log(`  export  ${name.padEnd(16)} ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB  ${(bytes / 2 ** 20).toFixed(0)} MiB out`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const summaryOf = (name: string): ExportSummary => ({ ...summarize(name, results.get(name)!), outputBytes: sizes.get(name)! });
  const ferrySummary = summaryOf("ferry export");
  const baselines = names.slice(1).map(summaryOf);
  return {
    ferry: ferrySummary,
    baselines,
    ratios: Object.fromEntries(baselines.map((b) => [b.name, ferrySummary.medianSeconds / b.medianSeconds])),
  };
}

/** Results of {@link rssBench}. */
export interface RssBenchResult {
  layerBytes: number;
  ferry: ExportSummary;
  /** skopeo writing the same image to docker-archive: (no gzip), for reference. */
  skopeo: ExportSummary;
}

/** Exports a single-platform image (one big layer) with ferry `runs` times; skopeo once for reference. */
export async function rssBench(
  options: { ferry: string; source: string; layerBytes: number; runs: number; log: (line: string) => void },
): Promise<RssBenchResult> {
  const runs: Measurement[] = [];
  let bytes = 0;
  for (let i = 0; i < options.runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), "ferry-bench-rss-"));
    try {
      const m = await measure(options.ferry, ["export", options.source, "-o", dir]);
      bytes = await gzFilesSize(dir, 1);
      runs.push(m);
      options.log(`  rss  ferry export     ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const dir = await mkdtemp(join(tmpdir(), "ferry-bench-rss-"));
  let skopeo: ExportSummary;
  try {
    const tar = join(dir, "image-amd64.tar");
    const m = await measure("skopeo", [
      "--insecure-policy",
      "copy",
      "--src-tls-verify=false",
      `docker://${options.source}`,
      `docker-archive:${tar}:bench/big:1.0`,
    ]);
    options.log(`  rss  skopeo (no gzip) ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB`);
    skopeo = { ...summarize("skopeo → docker-archive (no gzip)", [m]), outputBytes: (await stat(tar)).size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { layerBytes: options.layerBytes, ferry: { ...summarize("ferry export", runs), outputBytes: bytes }, skopeo };
}

/** Total size of the `image-*.tar[.gz]` files in `dir`; throws unless there are `expected` of them. */
async function gzFilesSize(dir: string, expected: number): Promise<number> {
  const files = (await readdir(dir)).filter((f) => /^image-.*\.tar(\.gz)?$/.test(f));
  if (files.length !== expected) throw new Error(`Cannot check export output: ${files.length} files in ${dir}, want ${expected}`);
  let total = 0;
  for (const f of files) total += (await stat(join(dir, f))).size;
  return total;
}
