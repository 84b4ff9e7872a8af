/**
 * Benchmark 4 (issue #5): `ferry import` against what a user would script with skopeo.
 *
 * (a) OCI layout → registry: `ferry import DIR DST` vs `skopeo copy --all --preserve-digests oci:DIR:1.0
 *     docker://DST` (target ≤ 1.0×).
 * (b) six `image-<label>.tar.gz` → registry with a multi-arch index: `ferry import *.tar.gz DST` vs, per
 *     file, `gzip -dc` (skopeo's docker-archive: transport reads plain tars only) and `skopeo copy
 *     docker-archive:… docker://DST:1.0-<label>`, then the list pushed with `ferry manifest create` +
 *     `ferry manifest push`: skopeo cannot push a list it has not copied, and `docker manifest` /
 *     `podman manifest` need a daemon or storage this host lacks, so ferry's daemonless docker-manifest
 *     clone stands in for manifest-tool (target ≤ 0.5×).
 *
 * The inputs are written once by `ferry export` (not timed); every run imports into a fresh registry.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MANIFEST_ACCEPT } from "../../lib/oci/media_types.ts";
import { startRegistry } from "../../tests/helpers/registry.ts";
import { type Measurement, measure, median, type Summary, summarize } from "./measure.ts";

/** What the import benchmark needs to know. */
export interface ImportBenchOptions {
  /** The compiled ferry binary. */
  ferry: string;
  /** Source repository with tag `1.0`, e.g. `127.0.0.1:5000/bench/app:1.0`. */
  source: string;
  /** Digest of the source index (what ferry's imports must reproduce). */
  digest: string;
  runs: number;
  log: (line: string) => void;
}

/** The skopeo script of (b), split into its steps (medians of each step's total per run). */
export interface ArchiveSteps {
  gunzipSeconds: number;
  skopeoSeconds: number;
  manifestSeconds: number;
}

/** Results of {@link importBench}. */
export interface ImportBenchResult {
  layout: { ferry: Summary; skopeo: Summary; ratio: number };
  archives: { ferry: Summary; skopeo: Summary; ratio: number; steps: ArchiveSteps; inputBytes: number };
}

const SKOPEO = ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"];

/** Exports the inputs once, then runs each pair alternating (order swapped every round) after one uncounted warm-up each. */
export async function importBench(options: ImportBenchOptions): Promise<ImportBenchResult> {
  const { ferry, source, digest, runs, log } = options;
  const work = await mkdtemp(join(tmpdir(), "ferry-bench-import-"));
  try {
    const layout = join(work, "layout");
    const files = join(work, "files");
    exportOnce(ferry, ["export", "--quiet", "--format", "oci", "-o", layout, source]);
    exportOnce(ferry, ["export", "--quiet", "-o", files, source]);
    const archives = (await readdir(files)).filter((f) => f.endsWith(".tar.gz")).sort().map((f) => join(files, f));
    if (archives.length !== 6) throw new Error(`Cannot prepare the import bench: ${archives.length} files in ${files}, want 6`);
    let inputBytes = 0;
    for (const f of archives) inputBytes += (await stat(f)).size;
    log(`  inputs: oci layout + ${archives.length} files, ${(inputBytes / 2 ** 20).toFixed(0)} MiB`);

    const steps: ArchiveSteps[] = [];
    // Each variant imports into `host/repo:1.0` and returns its measurement; the caller checks the result.
    const variants: Record<string, (host: string, repo: string) => Promise<Measurement>> = {
      "ferry import (layout)": (host, repo) => measure(ferry, ["import", "--quiet", layout, `${host}/${repo}:1.0`]),
      "skopeo copy oci:": (host, repo) =>
        measure("skopeo", [...SKOPEO, "--all", "--preserve-digests", `oci:${layout}:1.0`, `docker://${host}/${repo}:1.0`]),
      "ferry import (6 files)": (host, repo) => measure(ferry, ["import", "--quiet", ...archives, `${host}/${repo}:1.0`]),
      "gunzip + skopeo + list": async (host, repo) => {
        const tmp = await mkdtemp(join(tmpdir(), "ferry-bench-import-tar-"));
        const step = { gunzipSeconds: 0, skopeoSeconds: 0, manifestSeconds: 0 };
        let rss = 0;
        const start = performance.now();
        try {
          const images: string[] = [];
          for (const file of archives) {
            const label = /image-(.+)\.tar\.gz$/.exec(file)![1];
            const tar = join(tmp, `image-${label}.tar`);
            const unzipped = await measure("sh", ["-c", 'gzip -dc "$0" > "$1"', file, tar]);
            const image = `${host}/${repo}:1.0-${label}`;
            const copied = await measure("skopeo", [...SKOPEO, `docker-archive:${tar}`, `docker://${image}`]);
            step.gunzipSeconds += unzipped.seconds;
            step.skopeoSeconds += copied.seconds;
            rss = Math.max(rss, unzipped.rssMiB, copied.rssMiB);
            images.push(image);
          }
          const env = { FERRY_CONFIG: join(tmp, "ferry-config") }; // drafts stay out of the user's config
          const created = await measure(ferry, ["manifest", "create", "--quiet", `${host}/${repo}:1.0`, ...images], { env });
          const pushed = await measure(ferry, ["manifest", "push", "--quiet", `${host}/${repo}:1.0`], { env });
          step.manifestSeconds = created.seconds + pushed.seconds;
          rss = Math.max(rss, created.rssMiB, pushed.rssMiB);
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
        steps.push(step);
        return { seconds: (performance.now() - start) / 1000, rssMiB: rss };
      },
    };
    // What each variant's tag must resolve to: ferry and skopeo's layout copy keep the source index;
    // the scripted list is a new Docker manifest list over skopeo's v2s2 manifests (6 entries checked).
    const expected: Record<string, string | number> = {
      "ferry import (layout)": digest,
      "skopeo copy oci:": digest,
      "ferry import (6 files)": digest,
      "gunzip + skopeo + list": 6,
    };

    const results = new Map<string, Measurement[]>();
    let n = 0;
    const once = async (name: string, warmUp = false) => {
      const registry = await startRegistry();
      try {
        const repo = `bench/import-${++n}`;
        const m = await variants[name](registry.host, repo);
        await expectImage(registry.host, repo, expected[name]);
        const note = warmUp ? "  (warm-up, not counted)" : "";
        log(`  import  ${name.padEnd(23)} ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB${note}`);
        if (warmUp) steps.length = 0;
        else results.set(name, [...results.get(name) ?? [], m]);
      } finally {
        await registry.stop();
      }
    };
    for (const pair of [["ferry import (layout)", "skopeo copy oci:"], ["ferry import (6 files)", "gunzip + skopeo + list"]]) {
      for (const name of pair) await once(name, true);
      for (let round = 0; round < runs; round++) {
        for (const name of round % 2 ? [...pair].reverse() : pair) await once(name);
      }
    }

    const s = (name: string, label = name) => summarize(label, results.get(name)!);
    const layoutFerry = s("ferry import (layout)", "ferry import DIR");
    const layoutSkopeo = s("skopeo copy oci:", "skopeo copy --all oci:DIR");
    const filesFerry = s("ferry import (6 files)", "ferry import 6×.tar.gz");
    const filesSkopeo = s("gunzip + skopeo + list", "6×(gunzip+skopeo)+list");
    const med = (k: keyof ArchiveSteps) => median(steps.map((x) => x[k]));
    return {
      layout: { ferry: layoutFerry, skopeo: layoutSkopeo, ratio: layoutFerry.medianSeconds / layoutSkopeo.medianSeconds },
      archives: {
        ferry: filesFerry,
        skopeo: filesSkopeo,
        ratio: filesFerry.medianSeconds / filesSkopeo.medianSeconds,
        steps: {
          gunzipSeconds: med("gunzipSeconds"),
          skopeoSeconds: med("skopeoSeconds"),
          manifestSeconds: med("manifestSeconds"),
        },
        inputBytes,
      },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function exportOnce(ferry: string, args: string[]): void {
  const done = spawnSync(ferry, args, { stdio: ["ignore", "ignore", "inherit"] });
  if (done.status !== 0) throw new Error(`Cannot prepare the import bench: ferry ${args.join(" ")} exited ${done.status}`);
}

/**
 * Checks that `repo:1.0` on `host` is there: with digest `want`, or (a number) an index of that many entries.
 */
async function expectImage(host: string, repo: string, want: string | number): Promise<void> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/1.0`, { headers: { Accept: MANIFEST_ACCEPT } });
  const got = res.headers.get("docker-content-digest");
  const body = res.ok ? await res.json() as { manifests?: unknown[] } : undefined;
  const ok = typeof want === "string" ? got === want : body?.manifests?.length === want;
  if (!res.ok || !ok) {
    throw new Error(`Cannot verify the import ${host}/${repo}:1.0: HTTP ${res.status}, digest ${got}, want ${want}`);
  }
}
