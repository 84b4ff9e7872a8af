/**
 * Benchmark 1: `ferry copy` against `skopeo copy --all --preserve-digests` between two real
 * registries, plus a sweep of ferry's `--jobs`. Every run copies into a fresh destination registry
 * (new port, new repository name), so nothing is skipped or mounted and skopeo's blob-info cache
 * cannot turn an upload into a cross-repository mount.
 *
 * @module
 */
import { startRegistry } from "../../tests/helpers/registry.ts";
import { MANIFEST_ACCEPT } from "../../lib/oci/media_types.ts";
import { type Measurement, measure, settleDisk, type Summary, summarize } from "./measure.ts";

/** What the copy benchmark needs to know. */
export interface CopyBenchOptions {
  /** The compiled ferry binary. */
  ferry: string;
  /** Source repository with tag, e.g. `127.0.0.1:5000/bench/app:1.0`. */
  source: string;
  /** Digest the destination's tag must resolve to (the source index). */
  digest: string;
  runs: number;
  /** `--jobs` values to sweep (each `runs` times). */
  jobs: number[];
  log: (line: string) => void;
}

/** Results of {@link copyBench}. */
export interface CopyBenchResult {
  ferry: Summary;
  skopeo: Summary;
  /** Median ferry time / median skopeo time. */
  ratio: number;
  jobs: Summary[];
  /** The `--jobs` value with the lowest median. */
  fastestJobs: number;
}

type Tool = (dst: string) => [string, string[]];

/** Runs the copy benchmark: ferry and skopeo alternating (order swapped every round), then the `--jobs` sweep. */
export async function copyBench(options: CopyBenchOptions): Promise<CopyBenchResult> {
  const { ferry, source, runs, log } = options;
  const tools: Record<string, Tool> = {
    ferry: (dst) => [ferry, ["copy", source, dst]],
    skopeo: (dst) => [
      "skopeo",
      [
        "--insecure-policy",
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        `docker://${source}`,
        `docker://${dst}`,
      ],
    ],
  };
  for (const j of options.jobs) tools[`ferry --jobs ${j}`] = (dst) => [ferry, ["copy", "--jobs", String(j), source, dst]];

  const results = new Map<string, Measurement[]>();
  let n = 0;
  const once = async (name: string, warmUp = false) => {
    const registry = await startRegistry();
    try {
      const repo = `bench/copy-${++n}`;
      const [cmd, args] = tools[name](`${registry.host}/${repo}:1.0`);
      await settleDisk();
      const m = await measure(cmd, args);
      await expectDigest(registry.host, repo, options.digest);
      log(`  copy  ${name.padEnd(16)} ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB${warmUp ? "  (warm-up, not counted)" : ""}`);
      if (!warmUp) results.set(name, [...results.get(name) ?? [], m]);
    } finally {
      await registry.stop();
    }
  };

  // One uncounted run each first: the page cache then holds the binaries and the source blobs for both.
  for (const name of ["ferry", "skopeo"]) await once(name, true);
  for (let round = 0; round < runs; round++) {
    for (const name of round % 2 ? ["skopeo", "ferry"] : ["ferry", "skopeo"]) await once(name);
  }
  const sweep = options.jobs.map((j) => `ferry --jobs ${j}`);
  for (let round = 0; round < runs; round++) {
    // Rotate the order each round so no value always runs first (or right after a registry start).
    for (let i = 0; i < sweep.length; i++) await once(sweep[(i + round) % sweep.length]);
  }

  const ferrySummary = summarize("ferry copy", results.get("ferry")!);
  const skopeoSummary = summarize("skopeo copy --all", results.get("skopeo")!);
  const jobs = options.jobs.map((j) => summarize(`ferry copy --jobs ${j}`, results.get(`ferry --jobs ${j}`)!));
  const best = jobs.reduce<Summary | undefined>((a, b) => (a && a.medianSeconds <= b.medianSeconds ? a : b), undefined);
  return {
    ferry: ferrySummary,
    skopeo: skopeoSummary,
    ratio: ferrySummary.medianSeconds / skopeoSummary.medianSeconds,
    jobs,
    fastestJobs: best ? options.jobs[jobs.indexOf(best)] : NaN,
  };
}

/** Checks that `repo:1.0` on `host` resolves to `digest` (the copy really happened, index intact). */
async function expectDigest(host: string, repo: string, digest: string): Promise<void> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/1.0`, { method: "HEAD", headers: { Accept: MANIFEST_ACCEPT } });
  const got = res.headers.get("docker-content-digest");
  if (!res.ok || got !== digest) {
    throw new Error(`Cannot verify the copy ${host}/${repo}:1.0: HTTP ${res.status}, digest ${got}, want ${digest}`);
  }
}
