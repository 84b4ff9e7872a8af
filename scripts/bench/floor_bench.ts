/**
 * The runtime floor next to ferry's peak RSS: scripts/bench/floor_program.ts compiled with ferry's flags and
 * measured on the RSS benchmark's one big layer, so the table shows how much of a peak is Bun's own (its
 * executable's code pages once the HTTP client runs, its fetch buffers) and how much is ferry's.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { startRegistry } from "../../tests/helpers/registry.ts";
import { COMPILE_FLAGS } from "../compile_flags.ts";
import { type Measurement, measure, settleDisk, type Summary, summarize } from "./measure.ts";

/** What {@link floorBench} needs to know. */
export interface FloorBenchOptions {
  /** Where to write the compiled floor program. */
  outfile: string;
  /** Registry holding the blob, e.g. `127.0.0.1:5000`. */
  registryHost: string;
  repo: string;
  /** The blob to stream (the RSS image's layer). */
  digest: string;
  runs: number;
  log: (line: string) => void;
}

/** Results of {@link floorBench}: one summary per mode of the floor program. */
export interface FloorBenchResult {
  /** One GET read to the end: Bun with its HTTP client started. */
  fetch: Summary;
  /** The blob streamed to a file (export's one stream). */
  getFile: Summary;
  /** Six such streams at once (ferry's default concurrency). */
  getFile6: Summary;
  /** The blob streamed from one registry into another (copy's one stream). */
  getPut: Summary;
  /** Six such streams at once. */
  getPut6: Summary;
}

/** Compiles the floor program and measures each of its modes `runs` times. */
export async function floorBench(options: FloorBenchOptions): Promise<FloorBenchResult> {
  const { outfile, registryHost, repo, digest, log } = options;
  const root = join(import.meta.dirname, "..", "..");
  const built = spawnSync(process.execPath, ["build", ...COMPILE_FLAGS, "scripts/bench/floor_program.ts", "--outfile", outfile], {
    cwd: root,
    stdio: "inherit",
  });
  if (built.status !== 0) throw new Error("Cannot build the floor program: bun build failed");
  const blob = `http://${registryHost}/v2/${repo}/blobs/${digest}`;
  const runs: Record<keyof FloorBenchResult, Measurement[]> = { fetch: [], getFile: [], getFile6: [], getPut: [], getPut6: [] };
  const once = async (name: keyof FloorBenchResult, args: string[]) => {
    await settleDisk();
    const m = await measure(outfile, args);
    log(`  floor ${name.padEnd(8)} ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB`);
    runs[name].push(m);
  };
  for (let i = 0; i < options.runs; i++) {
    await once("fetch", ["fetch", `http://${registryHost}/v2/`]);
    for (const [name, n] of [["getFile", "1"], ["getFile6", "6"]] as const) {
      const dir = await mkdtemp(join(tmpdir(), "ferry-bench-floor-"));
      try {
        await once(name, ["get-file", blob, join(dir, "blob"), n]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    for (const [name, n] of [["getPut", "1"], ["getPut6", "6"]] as const) {
      const dst = await startRegistry();
      try {
        await once(name, ["get-put", blob, `http://${dst.host}/v2/floor/blob/blobs/uploads/`, n]);
      } finally {
        await dst.stop();
      }
    }
  }
  return {
    fetch: summarize("bun: one GET", runs.fetch),
    getFile: summarize("bun: GET → file", runs.getFile),
    getFile6: summarize("bun: 6 × GET → file", runs.getFile6),
    getPut: summarize("bun: GET → PUT", runs.getPut),
    getPut6: summarize("bun: 6 × GET → PUT", runs.getPut6),
  };
}
