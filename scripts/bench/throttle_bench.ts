/**
 * Benchmark: one big layer over connections that are each capped (throttle.ts in front of the source registry,
 * e.g. 20 MiB/s per connection, as S3, CDNs and many WANs cap them): `ferry copy` (parallel Range parts) against
 * `skopeo copy` (one stream per blob), each into a fresh registry, alternating.
 *
 * @module
 */
import { startRegistry } from "../../tests/helpers/registry.ts";
import { type Measurement, measure, type Summary, summarize } from "./measure.ts";
import { startThrottleProxy } from "./throttle.ts";

/** What the throttled benchmark needs to know. */
export interface ThrottleBenchOptions {
  ferry: string;
  /** The source registry (holding `repo:1.0`). */
  registryHost: string;
  repo: string;
  /** Per-connection cap in bytes/s. */
  bytesPerSecond: number;
  runs: number;
  log: (line: string) => void;
}

/** Results of {@link throttleBench}. */
export interface ThrottleBenchResult {
  bytesPerSecond: number;
  ferry: Summary;
  skopeo: Summary;
  /** Median ferry time / median skopeo time. */
  ratio: number;
  /** Connections each tool opened to the source in its last run. */
  connections: { ferry: number; skopeo: number };
}

/** Runs ferry and skopeo through one throttling proxy, alternating (order swapped each round). */
export async function throttleBench(options: ThrottleBenchOptions): Promise<ThrottleBenchResult> {
  const results = new Map<string, Measurement[]>([["ferry", []], ["skopeo", []]]);
  const connections = { ferry: 0, skopeo: 0 };
  const once = async (name: "ferry" | "skopeo") => {
    const proxy = await startThrottleProxy(options.registryHost, options.bytesPerSecond);
    const dst = await startRegistry();
    try {
      const src = `${proxy.host}/${options.repo}:1.0`;
      const target = `${dst.host}/bench/throttled:1.0`;
      const m = name === "ferry"
        ? await measure(options.ferry, ["copy", src, target])
        : await measure("skopeo", [
          "--insecure-policy",
          "copy",
          "--preserve-digests",
          "--src-tls-verify=false",
          "--dest-tls-verify=false",
          `docker://${src}`,
          `docker://${target}`,
        ]);
      connections[name] = proxy.connections();
      results.get(name)!.push(m);
      options.log(`  throttle  ${name.padEnd(8)} ${m.seconds.toFixed(2)} s  ${m.rssMiB.toFixed(0)} MiB  ${proxy.connections()} connections`);
    } finally {
      await Promise.all([proxy.stop(), dst.stop()]);
    }
  };
  for (let round = 0; round < options.runs; round++) {
    for (const name of round % 2 ? ["skopeo", "ferry"] as const : ["ferry", "skopeo"] as const) await once(name);
  }
  const ferry = summarize("ferry copy", results.get("ferry")!);
  const skopeo = summarize("skopeo copy", results.get("skopeo")!);
  return { bytesPerSecond: options.bytesPerSecond, ferry, skopeo, ratio: ferry.medianSeconds / skopeo.medianSeconds, connections };
}
