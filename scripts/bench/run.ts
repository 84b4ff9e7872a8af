/**
 * ferry against skopeo on the same work, in one run (issues #3 and #4). Not a test: nothing is
 * asserted; it prints a table and writes dist/bench.json.
 *
 *   node_modules/.bin/bun scripts/bench/run.ts [copy|export|rss|all] [--runs N] [--big-mib N]
 *
 * copy:   a ~100 MiB image of 6 platforms (64 MiB shared base layer + 6 MiB per platform) in one real
 *         registry, copied into a fresh second registry: `ferry copy` (compiled) vs `skopeo copy --all
 *         --preserve-digests`, alternating; then ferry's `--jobs` 4/6/8/12.
 * export: the same image: `ferry export` vs per-platform `skopeo copy … docker-archive:` + gzip/gzip -1/pigz.
 * rss:    `ferry export` of a single-platform image with one 1 GiB layer: peak RSS and time.
 *
 * Needs docker-registry, skopeo, gzip (pigz optional) and, for RSS, /usr/bin/time (package `time`;
 * without it RSS is sampled from /proc). Only 127.0.0.1; only processes it starts.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { access, mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DEFAULT_CONCURRENCY } from "../../lib/graph/copy.ts";
import { platformLabel } from "../../lib/ref/platform.ts";
import { startRegistry, type TestRegistry } from "../../tests/helpers/registry.ts";
import { pushSampleImage } from "../../tests/helpers/sample.ts";
import { pushBigImage } from "./big_image.ts";
import { copyBench, type CopyBenchResult } from "./copy_bench.ts";
import { exportBench, type ExportBenchResult, rssBench, type RssBenchResult } from "./export_bench.ts";
import { hasGnuTime, type Summary } from "./measure.ts";

const MiB = 1024 * 1024;
const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le", "linux/s390x"];
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const { mode, runs, bigMiB } = parseArgs(process.argv.slice(2));
const log = (line: string) => console.log(line);

const registries: TestRegistry[] = [];
process.once("SIGINT", async () => {
  await Promise.all(registries.map((r) => r.stop()));
  process.exit(130);
});

try {
  await requireTools();
  const ferry = join(ROOT, "dist", "ferry-bench");
  log(`building ${ferry}`);
  const built = spawnSync(process.execPath, ["build", "--compile", "cli.ts", "--outfile", ferry], { cwd: ROOT, stdio: "inherit" });
  if (built.status !== 0) throw new Error("Cannot build dist/ferry-bench: bun build failed");

  const src = await startRegistry();
  registries.push(src);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memMiB: Math.round(totalmem() / MiB) },
    versions: { bun: process.versions.bun, skopeo: versionOf("skopeo", ["--version"]) },
    rssMethod: (await hasGnuTime()) ? "/usr/bin/time -v" : "/proc VmHWM sampling",
    runs,
  };
  let copy: CopyBenchResult | undefined;
  let exp: ExportBenchResult | undefined;
  let rss: RssBenchResult | undefined;

  if (mode === "copy" || mode === "export" || mode === "all") {
    const source = `${src.host}/bench/app:1.0`;
    log(`pushing the 6-platform sample image to ${source}`);
    const sample = await pushSampleImage(source, { platforms: PLATFORMS, baseLayerSize: 64 * MiB, layerSize: 6 * MiB });
    const imageBytes = [...sample.store.blobs.values()].reduce((n, b) => n + b.bytes.byteLength, 0);
    report.image = { platforms: PLATFORMS, digest: sample.root.digest, bytes: imageBytes };
    log(`  ${(imageBytes / MiB).toFixed(1)} MiB, ${sample.root.digest}`);
    if (mode !== "export") {
      copy = await copyBench({ ferry, source, digest: sample.root.digest, runs, jobs: [4, 6, 8, 12], log });
      report.copy = copy;
    }
    if (mode !== "copy") {
      const platforms = sample.manifests.map((m) => ({ digest: m.digest, label: platformLabel(m.platform!) }));
      const pigz = await access("/usr/bin/pigz").then(() => true, () => false);
      exp = await exportBench({ ferry, source, platforms, runs, pigz, log });
      report.export = exp;
    }
  }
  if (mode === "rss" || mode === "all") {
    const source = `${src.host}/bench/big:1.0`;
    log(`pushing a single-platform image with one ${bigMiB} MiB layer to ${source}`);
    await pushBigImage(source, bigMiB * MiB);
    rss = await rssBench({ ferry, source, layerBytes: bigMiB * MiB, runs: Math.min(runs, 2), log });
    report.rss = rss;
  }

  const table = formatTable(copy, exp, rss);
  log("\n" + table);
  report.table = table;
  await mkdir(join(ROOT, "dist"), { recursive: true });
  await writeFile(join(ROOT, "dist", "bench.json"), JSON.stringify(report, null, 2) + "\n");
  log(`\nwrote ${join(ROOT, "dist", "bench.json")}`);
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : err}`);
  process.exitCode = 1;
} finally {
  await Promise.all(registries.map((r) => r.stop()));
}

function formatTable(copy?: CopyBenchResult, exp?: ExportBenchResult, rss?: RssBenchResult): string {
  const rows: string[][] = [["bench", "variant", "median s", "min–max s", "peak RSS MiB", "ferry/this", "target"]];
  const row = (bench: string, s: Summary, ratio = "", target = "") =>
    rows.push([
      bench,
      s.name,
      s.medianSeconds.toFixed(2),
      `${s.minSeconds.toFixed(2)}–${s.maxSeconds.toFixed(2)}`,
      s.rssMiB.toFixed(0),
      ratio,
      target,
    ]);
  if (copy) {
    row("copy", copy.ferry, "", `RSS < 100: ${copy.ferry.rssMiB < 100 ? "ok" : "MISSED"}`);
    row("copy", copy.skopeo, copy.ratio.toFixed(2), `≤ 0.80: ${copy.ratio <= 0.8 ? "ok" : "MISSED"}`);
    for (const j of copy.jobs) {
      row("copy", j, "", j.name.endsWith(` ${copy.fastestJobs}`) ? "fastest" : "");
    }
  }
  if (exp) {
    row("export", exp.ferry, "", `RSS < 100: ${exp.ferry.rssMiB < 100 ? "ok" : "MISSED"}`);
    for (const b of exp.baselines) {
      const r = exp.ratios[b.name];
      row("export", b, r.toFixed(2), b.name === "skopeo + gzip" ? `≤ 0.35: ${r <= 0.35 ? "ok" : "MISSED"}` : "");
    }
  }
  if (rss) {
    const gib = `${(rss.layerBytes / 2 ** 30).toFixed(rss.layerBytes % 2 ** 30 ? 2 : 0)} GiB`;
    row(`rss ${gib}`, rss.ferry, "", `RSS < 100: ${rss.ferry.rssMiB < 100 ? "ok" : "MISSED"}`);
    row(`rss ${gib}`, rss.skopeo, (rss.ferry.medianSeconds / rss.skopeo.medianSeconds).toFixed(2));
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return lines.join("\n") + `\n(DEFAULT_CONCURRENCY = ${DEFAULT_CONCURRENCY})`;
}

function parseArgs(argv: string[]): { mode: string; runs: number; bigMiB: number } {
  let mode = "all";
  let runs = 3;
  let bigMiB = 1024;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--runs") runs = Number(argv[++i]);
    else if (a === "--big-mib") bigMiB = Number(argv[++i]);
    else if (["copy", "export", "rss", "all"].includes(a)) mode = a;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(runs) || runs < 1) usage("--runs takes a positive integer");
  if (!Number.isInteger(bigMiB) || bigMiB < 1) usage("--big-mib takes a positive integer");
  return { mode, runs, bigMiB };
}

function usage(message: string): never {
  console.error(`bench: ${message}\nusage: bun scripts/bench/run.ts [copy|export|rss|all] [--runs N] [--big-mib N]`);
  process.exit(2);
}

async function requireTools(): Promise<void> {
  for (const [tool, pkg] of [["skopeo", "skopeo"], ["gzip", "gzip"], ["docker-registry", "docker-registry"]]) {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
    if (!found) throw new Error(`${tool} not found: run \`npm test\` once (or apt-get install ${pkg})`);
  }
}

function versionOf(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { encoding: "utf8" }).stdout?.trim() ?? "";
}
