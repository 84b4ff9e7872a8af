/**
 * ferry against skopeo on the same work, in one run (issues #3, #4, #5, #7 and #8). Not a test: nothing is
 * asserted; it prints a table and writes dist/bench.json.
 *
 *   node_modules/.bin/bun scripts/bench/run.ts [copy|export|rss|import|mirror|serve|throttle|tiny|bundle|all] [--runs N]
 *     [--image-mib N] [--large-mib N] [--big-mib N] [--cap-mib N]
 *
 * --image-mib sizes the 6-platform image (default 100: a 64 MiB shared base layer + 6 MiB per platform, the
 * same proportions at any size); --large-mib the second 6-platform image that copy and export also run on in
 * `all` and `large` (default 1024, the "1 GiB 6-platform image"; 0 skips it; export against skopeo's plain tars
 * only); --big-mib the one layer of the rss, serve and throttle image (default 1024); --cap-mib the throttle's
 * per-connection cap (default 20). The binary is built as the release builds it (scripts/compile_flags.ts).
 *
 * copy:   a ~100 MiB image of 6 platforms (64 MiB shared base layer + 6 MiB per platform) in one real
 *         registry, copied into a fresh second registry: `ferry copy` (compiled) vs `skopeo copy --all
 *         --preserve-digests`, alternating; then ferry's `--jobs` 4/6/8/12.
 * export: the same image: `ferry export` vs per-platform `skopeo copy … docker-archive:` + gzip/gzip -1/pigz.
 * rss:    `ferry export` of a single-platform image with one 1 GiB layer: peak RSS and time; then the runtime's
 *         floor (scripts/bench/floor_program.ts, compiled alike): one GET; the layer GET → file and GET → PUT,
 *         one stream and six at once.
 * import: the same image exported once by ferry: `ferry import` of the OCI layout vs `skopeo copy --all
 *         oci:`, and of the six `image-<label>.tar.gz` vs per-file gunzip + `skopeo copy docker-archive:`
 *         + a list pushed by `ferry manifest create/push` (no daemonless manifest tool besides ferry here).
 * mirror: 10 images of 6 platforms (~5 MiB each): `ferry mirror -d` vs a `skopeo copy --all` loop and
 *         `skopeo sync --all --src yaml`, each into a fresh registry, then the no-change re-run of each.
 * bundle: the mirror benchmark's 10 images in one `ferry export REF... -o bundle.tar` vs one `skopeo copy --all
 *         … oci:DIR:REF` per image and `skopeo sync --all --dest dir`.
 * serve:  the 6-platform image pulled by `skopeo copy --all docker://… oci:` out of docker-registry and out
 *         of `ferry serve` (OCI layout; oci-archive .tar), alternating; every blob by 8 curl clients at once
 *         (bytes/s); peak RSS of `ferry serve` serving the 1 GiB layer of the rss image (needs curl).
 *
 * throttle: the one-big-layer image behind scripts/bench/throttle.ts (each connection capped at --cap-mib):
 *         `ferry copy` (parallel Range parts) vs `skopeo copy`, each into a fresh registry (target: ≥ 3× faster).
 * tiny:   a busybox-sized image (6 platforms, ~1 MiB each): `ferry copy` vs `skopeo copy --all`, the whole
 *         command with process start (target ≤ 1.0×).
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
import { DEFAULT_CONCURRENCY } from "../../lib/engine/copy_graph.ts";
import { COMPILE_FLAGS } from "../compile_flags.ts";
import { platformLabel } from "../../lib/oci/platform.ts";
import { startRegistry, type TestRegistry } from "../../tests/helpers/registry.ts";
import { pushSampleImage } from "../../tests/helpers/sample.ts";
import { pushBigImage } from "./big_image.ts";
import { copyBench, type CopyBenchResult } from "./copy_bench.ts";
import { exportBench, type ExportBenchResult, rssBench, type RssBenchResult } from "./export_bench.ts";
import { floorBench, type FloorBenchResult } from "./floor_bench.ts";
import { importBench, type ImportBenchResult } from "./import_bench.ts";
import { hasGnuTime, type Summary, summarize } from "./measure.ts";
import { mirrorBench, type MirrorBenchResult, pushMirrorImages } from "./mirror_bench.ts";
import { bundleBench, type BundleBenchResult } from "./bundle_bench.ts";
import { type BenchBlob, serveBench, type ServeBenchResult } from "./serve_bench.ts";
import { throttleBench, type ThrottleBenchResult } from "./throttle_bench.ts";

const MiB = 1024 * 1024;
const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le", "linux/s390x"];
const MODES = ["copy", "export", "rss", "import", "mirror", "serve", "throttle", "tiny", "bundle", "large", "all"];
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const { mode, runs, bigMiB, imageMiB, largeMiB, capMiB } = parseArgs(process.argv.slice(2));
/** Peak RSS every verb must stay under, for any blob size (the issue's; the `rss` mode measures Bun's own floor). */
const RSS_TARGET_MIB = 64;
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
  const built = spawnSync(process.execPath, ["build", ...COMPILE_FLAGS, "cli.ts", "--outfile", ferry], { cwd: ROOT, stdio: "inherit" });
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
  let floor: FloorBenchResult | undefined;
  let imp: ImportBenchResult | undefined;
  let mirror: MirrorBenchResult | undefined;
  let served: ServeBenchResult | undefined;
  let throttled: ThrottleBenchResult | undefined;
  let tiny: CopyBenchResult | undefined;
  let bundled: BundleBenchResult | undefined;
  let large: LargeResult | undefined;
  let sample: Awaited<ReturnType<typeof pushSampleImage>> | undefined;
  let big: Awaited<ReturnType<typeof pushBigImage>> | undefined;

  if (["copy", "export", "import", "serve", "all"].includes(mode)) {
    const source = `${src.host}/bench/app:1.0`;
    log(`pushing the 6-platform sample image to ${source}`);
    const base = Math.round((imageMiB * 64) / 100) * MiB;
    const own = Math.round((imageMiB * 6) / 100) * MiB;
    sample = await pushSampleImage(source, { platforms: PLATFORMS, baseLayerSize: base, layerSize: own });
    const imageBytes = [...sample.store.blobs.values()].reduce((n, b) => n + b.bytes.byteLength, 0);
    report.image = { platforms: PLATFORMS, digest: sample.root.digest, bytes: imageBytes };
    log(`  ${(imageBytes / MiB).toFixed(1)} MiB, ${sample.root.digest}`);
    if (mode === "copy" || mode === "all") {
      copy = await copyBench({ ferry, source, digest: sample.root.digest, runs, jobs: [4, 6, 8, 12], log });
      report.copy = copy;
    }
    if (mode === "export" || mode === "all") {
      const platforms = sample.manifests.map((m) => ({ digest: m.digest, label: platformLabel(m.platform!) }));
      const pigz = await access("/usr/bin/pigz").then(() => true, () => false);
      exp = await exportBench({ ferry, source, platforms, runs, pigz, log });
      report.export = exp;
    }
    if (mode === "import" || mode === "all") {
      imp = await importBench({ ferry, source, digest: sample.root.digest, runs, log });
      report.import = imp;
    }
  }
  if ((mode === "large" || mode === "all") && largeMiB > 0) {
    const source = `${src.host}/bench/large:1.0`;
    log(`pushing the ${largeMiB} MiB 6-platform image to ${source}`);
    const image = await pushSampleImage(source, {
      platforms: PLATFORMS,
      baseLayerSize: Math.round((largeMiB * 64) / 100) * MiB,
      layerSize: Math.round((largeMiB * 6) / 100) * MiB,
    });
    const copied = await copyBench({ ferry, source, digest: image.root.digest, runs, jobs: [], log });
    const platforms = image.manifests.map((m) => ({ digest: m.digest, label: platformLabel(m.platform!) }));
    const exported = await exportBench({ ferry, source, platforms, runs, pigz: false, plainOnly: true, log });
    large = { copy: copied, exp: exported, mib: largeMiB };
    report.large = large;
  }
  if (mode === "rss" || mode === "all") {
    const source = `${src.host}/bench/big:1.0`;
    log(`pushing a single-platform image with one ${bigMiB} MiB layer to ${source}`);
    big = await pushBigImage(source, bigMiB * MiB);
    rss = await rssBench({ ferry, source, layerBytes: bigMiB * MiB, runs: Math.min(runs, 2), log });
    report.rss = rss;
    floor = await floorBench({
      outfile: join(ROOT, "dist", "floor-bench"),
      registryHost: src.host,
      repo: "bench/big",
      digest: big.layer.digest,
      runs: Math.min(runs, 2),
      log,
    });
    report.floor = floor;
  }
  if (mode === "throttle" || mode === "all") {
    if (!big) {
      log(`pushing a single-platform image with one ${bigMiB} MiB layer to ${src.host}/bench/big:1.0`);
      big = await pushBigImage(`${src.host}/bench/big:1.0`, bigMiB * MiB);
    }
    throttled = await throttleBench({
      ferry,
      registryHost: src.host,
      repo: "bench/big",
      bytesPerSecond: capMiB * MiB,
      runs: Math.min(runs, 2), // skopeo needs size / cap (51 s for 1 GiB at 20 MiB/s) each run
      log,
    });
    report.throttle = throttled;
  }
  if (mode === "tiny" || mode === "all") {
    const source = `${src.host}/bench/tiny:1.0`;
    log(`pushing a busybox-sized image of ${PLATFORMS.length} platforms (~1 MiB each) to ${source}`);
    const small = await pushSampleImage(source, { platforms: PLATFORMS, layerSize: MiB });
    tiny = await copyBench({ ferry, source, digest: small.root.digest, runs: Math.max(runs, 5), jobs: [], log });
    report.tiny = tiny;
  }
  if (mode === "mirror" || mode === "all") {
    log(`pushing 10 small images of ${PLATFORMS.length} platforms to ${src.host}/bench/mirror-N:1.0`);
    const images = await pushMirrorImages(src.host, 10, PLATFORMS);
    mirror = await mirrorBench({ ferry, sourceHost: src.host, images, runs, log });
    report.mirror = mirror;
  }
  if (mode === "bundle" || mode === "all") {
    log(`pushing 10 small images of ${PLATFORMS.length} platforms to ${src.host}/bench/mirror-N:1.0`);
    const images = await pushMirrorImages(src.host, 10, PLATFORMS);
    bundled = await bundleBench({ ferry, sourceHost: src.host, images, runs, log });
    report.bundle = bundled;
  }
  if (mode === "serve" || mode === "all") {
    if (!big) {
      log(`pushing a single-platform image with one ${bigMiB} MiB layer to ${src.host}/bench/big:1.0`);
      big = await pushBigImage(`${src.host}/bench/big:1.0`, bigMiB * MiB);
    }
    const blobs = new Map<string, BenchBlob>();
    for (const m of sample!.manifests) {
      const body = JSON.parse(new TextDecoder().decode(sample!.store.blobs.get(m.digest)!.bytes)) as { config: BenchBlob; layers: BenchBlob[] };
      for (const b of [body.config, ...body.layers]) blobs.set(b.digest, { digest: b.digest, size: b.size });
    }
    served = await serveBench({
      ferry,
      registryHost: src.host,
      image: { repo: "bench/app", digest: sample!.root.digest, blobs: [...blobs.values()] },
      big: { repo: "bench/big", layer: big.layer },
      runs,
      clients: 8,
      log,
    });
    report.serve = served;
  }

  let table = formatTable(copy, exp, rss, floor, imp, mirror, served, throttled, tiny, large);
  if (bundled) table += "\n" + bundleTable(bundled);
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

/** Copy and export of the second, large 6-platform image (`--large-mib`). */
interface LargeResult {
  copy: CopyBenchResult;
  exp: ExportBenchResult;
  mib: number;
}

/** The bundle benchmark's rows (targets: ≤ 0.5× each baseline, RSS < 100 MiB). */
function bundleTable(b: BundleBenchResult): string {
  const line = (s: Summary, ratio = "", target = "") =>
    `bundle  ${s.name.padEnd(28)} ${s.medianSeconds.toFixed(2).padStart(7)} s  ${
      Number.isNaN(s.rssMiB) ? "" : `${s.rssMiB.toFixed(0)} MiB`
    }  ${ratio}  ${target}`;
  return [
    line(b.ferry, "", `RSS < 100: ${b.ferry.rssMiB < 100 ? "ok" : "MISSED"}`),
    ...b.baselines.map((s) => {
      const r = b.ratios[s.name];
      return line(s, r.toFixed(2), `≤ 0.50: ${r <= 0.5 ? "ok" : "MISSED"}`);
    }),
  ].join("\n");
}

function formatTable(
  copy?: CopyBenchResult,
  exp?: ExportBenchResult,
  rss?: RssBenchResult,
  floor?: FloorBenchResult,
  imp?: ImportBenchResult,
  mirror?: MirrorBenchResult,
  served?: ServeBenchResult,
  throttled?: ThrottleBenchResult,
  tiny?: CopyBenchResult,
  large?: LargeResult,
): string {
  const rows: string[][] = [["bench", "variant", "median s", "min–max s", "peak RSS MiB", "ferry/this", "target"]];
  const row = (bench: string, s: Summary, ratio = "", target = "") =>
    rows.push([
      bench,
      s.name,
      s.medianSeconds.toFixed(2),
      `${s.minSeconds.toFixed(2)}–${s.maxSeconds.toFixed(2)}`,
      Number.isNaN(s.rssMiB) ? "" : s.rssMiB.toFixed(0),
      ratio,
      target,
    ]);
  const rssOk = (mib: number) => `RSS ≤ ${RSS_TARGET_MIB}: ${mib <= RSS_TARGET_MIB ? "ok" : "MISSED"}`;
  if (copy) {
    row("copy", copy.ferry, "", rssOk(copy.ferry.rssMiB));
    row("copy", copy.skopeo, copy.ratio.toFixed(2), `≤ 0.80: ${copy.ratio <= 0.8 ? "ok" : "MISSED"}`);
    for (const j of copy.jobs) {
      row("copy", j, "", j.name.endsWith(` ${copy.fastestJobs}`) ? "fastest" : "");
    }
  }
  if (exp) {
    row("export", exp.ferry, "", rssOk(exp.ferry.rssMiB));
    for (const b of exp.baselines) {
      const r = exp.ratios[b.name];
      row("export", b, r.toFixed(2), b.name === "skopeo (plain tar)" ? `≤ 0.50: ${r <= 0.5 ? "ok" : "MISSED"}` : "");
    }
  }
  if (large) {
    const size = large.mib % 1024 ? `${large.mib} MiB` : `${large.mib / 1024} GiB`;
    row(`copy ${size}`, large.copy.ferry, "", rssOk(large.copy.ferry.rssMiB));
    row(`copy ${size}`, large.copy.skopeo, large.copy.ratio.toFixed(2), `≤ 0.80: ${large.copy.ratio <= 0.8 ? "ok" : "MISSED"}`);
    row(`export ${size}`, large.exp.ferry, "", rssOk(large.exp.ferry.rssMiB));
    for (const b of large.exp.baselines) {
      const r = large.exp.ratios[b.name];
      row(`export ${size}`, b, r.toFixed(2), `≤ 0.50: ${r <= 0.5 ? "ok" : "MISSED"}`);
    }
  }
  if (rss) {
    const gib = `${(rss.layerBytes / 2 ** 30).toFixed(rss.layerBytes % 2 ** 30 ? 2 : 0)} GiB`;
    row(`rss ${gib}`, rss.ferry, "", rssOk(rss.ferry.rssMiB));
    row(`rss ${gib}`, rss.skopeo, (rss.ferry.medianSeconds / rss.skopeo.medianSeconds).toFixed(2));
  }
  if (floor) {
    // The same layer through a compiled Bun program that does only that: the RSS no Bun program goes below.
    const above = (mib: number, of: number) => `ferry's ${mib.toFixed(0)} is ${(mib - of).toFixed(0)} MiB above`;
    row("floor", floor.fetch, "", "Bun with its HTTP client started");
    row("floor", floor.getFile, "", rss ? above(rss.ferry.rssMiB, floor.getFile.rssMiB) + " (rss export)" : "");
    row("floor", floor.getFile6, "", large ? above(large.exp.ferry.rssMiB, floor.getFile6.rssMiB) + ` (export ${large.mib} MiB)` : "");
    row("floor", floor.getPut);
    row("floor", floor.getPut6, "", large ? above(large.copy.ferry.rssMiB, floor.getPut6.rssMiB) + ` (copy ${large.mib} MiB)` : "");
  }
  const check = (r: number, target: number) => `≤ ${target.toFixed(2)}: ${r <= target ? "ok" : "MISSED"}`;
  if (imp) {
    row("import layout", imp.layout.ferry, "", rssOk(imp.layout.ferry.rssMiB));
    row("import layout", imp.layout.skopeo, imp.layout.ratio.toFixed(2), check(imp.layout.ratio, 1));
    row("import files", imp.archives.ferry, "", rssOk(imp.archives.ferry.rssMiB));
    row("import files", imp.archives.skopeo, imp.archives.ratio.toFixed(2), check(imp.archives.ratio, 0.5));
  }
  if (mirror) {
    row("mirror first", mirror.ferry.first, "", rssOk(mirror.ferry.first.rssMiB));
    for (const b of mirror.baselines) {
      const r = mirror.ferry.first.medianSeconds / b.first.medianSeconds;
      row("mirror first", b.first, r.toFixed(2), b.first.name === mirror.fastestFirst ? check(r, 0.5) : "");
    }
    row("mirror re-run", mirror.ferry.rerun);
    for (const b of mirror.baselines) {
      const r = mirror.ferry.rerun.medianSeconds / b.rerun.medianSeconds;
      row("mirror re-run", b.rerun, r.toFixed(2), b.rerun.name === mirror.fastestRerun ? check(r, 0.3) : "");
    }
  }
  if (served) {
    // Ratios are ferry ÷ registry (times for pulls; bytes/s for blobs); RSS is the serve process's, not skopeo's.
    const p = served.pull;
    const noRss = (x: Summary) => ({ ...x, rssMiB: NaN });
    row("serve pull", noRss(p.registry));
    row("serve pull", { ...p.layout, rssMiB: served.serveRssMiB.layout }, "", `ferry/reg ${check(p.ratioLayout, 1)} (${p.ratioLayout.toFixed(2)}); ${rssOk(served.serveRssMiB.layout)}`);
    row("serve pull", { ...p.archive, rssMiB: served.serveRssMiB.archive }, "", `ferry/reg ${check(p.ratioArchive, 1)} (${p.ratioArchive.toFixed(2)}); ${rssOk(served.serveRssMiB.archive)}`);
    const b = served.blobs;
    const mibs = (x: { bytesPerSecond: number }) => `${(x.bytesPerSecond / MiB).toFixed(0)} MiB/s`;
    row("serve blobs", noRss(b.registry), "", mibs(b.registry));
    row("serve blobs", noRss(b.layout), "", `${mibs(b.layout)}, ${b.ratioLayout.toFixed(2)}× registry's`);
    row("serve blobs", noRss(b.archive), "", `${mibs(b.archive)}, ${b.ratioArchive.toFixed(2)}× registry's`);
    const g = served.big;
    const blob = `serve ${(g.layerBytes / 2 ** 30).toFixed(2)} GiB`;
    const reg = (s: number) => `; docker-registry ${s.toFixed(2)} s`;
    row(blob, summarize("ferry serve, 1 client", [g.one]), "", rssOk(g.one.rssMiB) + reg(g.registrySeconds.one));
    row(blob, summarize(`ferry serve, ${b.clients} clients`, [g.many]), "", rssOk(g.many.rssMiB) + reg(g.registrySeconds.many));
  }
  if (throttled) {
    const cap = `throttle ${(throttled.bytesPerSecond / MiB).toFixed(0)} MiB/s/conn`;
    const c = throttled.connections;
    row(cap, throttled.ferry, "", `${rssOk(throttled.ferry.rssMiB)}; ${c.ferry} connections`);
    row(cap, throttled.skopeo, throttled.ratio.toFixed(2), `≤ 0.33 (3× faster): ${throttled.ratio <= 1 / 3 ? "ok" : "MISSED"}; ${c.skopeo} connections`);
  }
  if (tiny) {
    row("tiny copy", tiny.ferry, "", rssOk(tiny.ferry.rssMiB));
    row("tiny copy", tiny.skopeo, tiny.ratio.toFixed(2), check(tiny.ratio, 1));
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  let notes = `\n(DEFAULT_CONCURRENCY = ${DEFAULT_CONCURRENCY})`;
  if (imp) {
    const st = imp.archives.steps;
    notes += `\n(import files, skopeo side: gunzip ${st.gunzipSeconds.toFixed(2)} s + skopeo ${st.skopeoSeconds.toFixed(2)} s` +
      ` + list ${st.manifestSeconds.toFixed(2)} s, medians; the list is pushed with \`ferry manifest create/push\`:` +
      ` skopeo cannot, and docker/podman manifest need a daemon or local storage)`;
  }
  return lines.join("\n") + notes;
}

function parseArgs(
  argv: string[],
): { mode: string; runs: number; bigMiB: number; imageMiB: number; largeMiB: number; capMiB: number } {
  let mode = "all";
  let runs = 3;
  let bigMiB = 1024;
  let imageMiB = 100;
  let largeMiB = 1024;
  let capMiB = 20;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--runs") runs = Number(argv[++i]);
    else if (a === "--big-mib") bigMiB = Number(argv[++i]);
    else if (a === "--image-mib") imageMiB = Number(argv[++i]);
    else if (a === "--large-mib") largeMiB = Number(argv[++i]);
    else if (a === "--cap-mib") capMiB = Number(argv[++i]);
    else if (MODES.includes(a)) mode = a;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(runs) || runs < 1) usage("--runs takes a positive integer");
  for (const [flag, n] of [["--big-mib", bigMiB], ["--image-mib", imageMiB], ["--cap-mib", capMiB]] as const) {
    if (!Number.isInteger(n) || n < 1) usage(`${flag} takes a positive integer`);
  }
  if (!Number.isInteger(largeMiB) || largeMiB < 0) usage("--large-mib takes a whole number (0 skips the large image)");
  return { mode, runs, bigMiB, imageMiB, largeMiB, capMiB };
}

function usage(message: string): never {
  console.error(`bench: ${message}\nusage: bun scripts/bench/run.ts [${MODES.join("|")}] [--runs N] [--image-mib N] [--large-mib N] [--big-mib N] [--cap-mib N]`);
  process.exit(2);
}

async function requireTools(): Promise<void> {
  const tools = [["skopeo", "skopeo"], ["gzip", "gzip"], ["docker-registry", "docker-registry"]];
  if (mode === "serve" || mode === "all") tools.push(["curl", "curl"]);
  for (const [tool, pkg] of tools) {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
    if (!found) throw new Error(`${tool} not found: run \`npm test\` once (or apt-get install ${pkg})`);
  }
}

function versionOf(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { encoding: "utf8" }).stdout?.trim() ?? "";
}
