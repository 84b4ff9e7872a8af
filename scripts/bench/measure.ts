/**
 * Runs one command for the benchmarks and measures its wall time and peak RSS: under
 * `/usr/bin/time -v` (its "Maximum resident set size") when that exists, else by sampling the
 * process's `VmHWM` (the kernel's own high-water mark) from /proc every 20 ms.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** One measured run. */
export interface Measurement {
  /** Wall time in seconds, measured around the whole process. */
  seconds: number;
  /** Peak resident set size in MiB. */
  rssMiB: number;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

const TIME = "/usr/bin/time";
let timeAvailable: Promise<boolean> | undefined;

/** Whether `/usr/bin/time` (Debian package `time`) is installed. */
export function hasGnuTime(): Promise<boolean> {
  timeAvailable ??= access(TIME).then(() => true, () => false);
  return timeAvailable;
}

/**
 * Runs `cmd args` to completion (stdout discarded, stderr kept for the error message) and returns its
 * wall time and peak RSS; a non-zero exit throws with the end of its stderr.
 *
 * @example
 * ```ts
 * const { seconds, rssMiB } = await measure("skopeo", ["copy", "--all", src, dst]);
 * ```
 */
export async function measure(cmd: string, args: string[], options: MeasureOptions = {}): Promise<Measurement> {
  const env = { ...process.env, ...options.env };
  if (await hasGnuTime()) {
    const dir = await mkdtemp(join(tmpdir(), "ferry-bench-time-"));
    try {
      const out = join(dir, "time.txt");
      const start = performance.now();
      await run(TIME, ["-v", "-o", out, cmd, ...args], { cwd: options.cwd, env }, `${cmd} ${args.join(" ")}`);
      const seconds = (performance.now() - start) / 1000;
      const text = await readFile(out, "utf8");
      const kib = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1]);
      if (!Number.isFinite(kib)) throw new Error(`Cannot read peak RSS from ${TIME} -v output: ${text.slice(0, 200)}`);
      return { seconds, rssMiB: kib / 1024 };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  let peakKiB = 0;
  const start = performance.now();
  await run(cmd, args, { cwd: options.cwd, env }, `${cmd} ${args.join(" ")}`, (pid) => {
    const sample = () =>
      readFile(`/proc/${pid}/status`, "utf8").then((s) => {
        peakKiB = Math.max(peakKiB, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0));
      }, () => {});
    const timer = setInterval(sample, 20);
    return () => clearInterval(timer);
  });
  return { seconds: (performance.now() - start) / 1000, rssMiB: peakKiB / 1024 };
}

function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string | undefined> },
  what: string,
  watch?: (pid: number) => () => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "ignore", "pipe"] });
    const unwatch = child.pid && watch ? watch(child.pid) : () => {};
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.once("error", (err) => {
      unwatch();
      reject(new Error(`Cannot run ${what}: ${err.message}`));
    });
    child.once("close", (code, signal) => {
      unwatch();
      if (code === 0) resolve();
      else reject(new Error(`Cannot run ${what}: exit ${code ?? signal}\n${stderr.trim().slice(-1500)}`));
    });
  });
}

/**
 * Waits for the disk to write back what earlier runs left dirty (`sync`, not timed): a tool that fsyncs its files
 * (ferry) would otherwise wait behind the previous run's write-back, one that does not (skopeo) would not.
 *
 * @example
 * ```ts
 * await settleDisk();
 * ```
 */
export async function settleDisk(): Promise<void> {
  await run("sync", [], { env: process.env }, "sync");
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Summary of several runs of one variant: median time, min/max, max peak RSS. */
export interface Summary {
  name: string;
  runs: number;
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  /** Largest peak RSS over the runs (for a multi-step variant, the largest step). */
  rssMiB: number;
  samples: number[];
}

/** Summarises the measurements of one variant. */
export function summarize(name: string, runs: Measurement[]): Summary {
  const samples = runs.map((r) => r.seconds);
  return {
    name,
    runs: runs.length,
    medianSeconds: median(samples),
    minSeconds: Math.min(...samples),
    maxSeconds: Math.max(...samples),
    rssMiB: Math.max(...runs.map((r) => r.rssMiB)),
    samples,
  };
}
