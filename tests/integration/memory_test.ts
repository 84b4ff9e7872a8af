/**
 * Memory independent of blob size: peak RSS of the ferry CLI (a child process, `/usr/bin/time -v` or /proc
 * VmHWM sampling, scripts/bench/measure.ts) exporting and copying a one-layer image of 64 MiB and of 512 MiB
 * against the real registry. Whatever the floor, eight times the bytes must not cost more memory than the
 * noise of the runtime's GC (a blob buffered whole, or in proportion to its size, shows as hundreds of MiB).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pushBigImage } from "../../scripts/bench/big_image.ts";
import { measure } from "../../scripts/bench/measure.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

setDefaultTimeout(120_000);
const MiB = 1024 * 1024;
const SMALL = 64 * MiB;
const LARGE = 512 * MiB;
/**
 * The most peak RSS may grow from SMALL to LARGE. Measured with the CLI's collection by bytes streamed
 * (lib/stream/reclaim.ts): 1-7 MiB; without it, an export grew 18-23 MiB from 16 to 256 MiB.
 */
const SLACK_MIB = 12;

const ROOT = join(import.meta.dir, "..", "..");
const ferry = (args: string[]) =>
  process.env.FERRY_BIN ? [process.env.FERRY_BIN, args] as const : [process.execPath, [join(ROOT, "cli.ts"), ...args]] as const;

let src: TestRegistry;
let dst: TestRegistry;
let dir: string;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  dir = await mkdtemp(join(tmpdir(), "ferry-memory-"));
  await pushBigImage(`${src.host}/mem/small:1.0`, SMALL);
  await pushBigImage(`${src.host}/mem/large:1.0`, LARGE);
  const platforms = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/ppc64le", "linux/s390x"];
  await pushSampleImage(`${src.host}/mem/six-small:1.0`, { platforms, layerSize: 6 * MiB });
  await pushSampleImage(`${src.host}/mem/six-large:1.0`, { platforms, layerSize: 48 * MiB });
});
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The lower peak RSS of two runs: the GC's timing alone moves one run's peak by 10-20 MiB. */
async function peakMiB(args: (run: number) => string[], cleanup: () => Promise<void> = async () => {}): Promise<number> {
  const peaks: number[] = [];
  for (let run = 0; run < 2; run++) {
    const [cmd, argv] = ferry(args(run));
    peaks.push((await measure(cmd, [...argv])).rssMiB);
    await cleanup();
  }
  return Math.min(...peaks);
}

describe("peak RSS does not grow with the blob size", () => {
  test("export of one layer: 64 MiB vs 512 MiB", async () => {
    const out = join(dir, "out");
    const clean = () => rm(out, { recursive: true, force: true });
    const small = await peakMiB(() => ["export", `${src.host}/mem/small:1.0`, "-o", out], clean);
    const large = await peakMiB(() => ["export", `${src.host}/mem/large:1.0`, "-o", out], clean);
    console.log(`export peak RSS: ${small.toFixed(0)} MiB (64 MiB layer), ${large.toFixed(0)} MiB (512 MiB layer)`);
    expect(large - small).toBeLessThan(SLACK_MIB);
  });

  test("copy registry to registry of one layer: 64 MiB vs 512 MiB", async () => {
    // A new repository each run: nothing is skipped (the registry links blobs per repository).
    const small = await peakMiB((run) => ["copy", `${src.host}/mem/small:1.0`, `${dst.host}/mem/small-${run}:1.0`]);
    const large = await peakMiB((run) => ["copy", `${src.host}/mem/large:1.0`, `${dst.host}/mem/large-${run}:1.0`]);
    console.log(`copy peak RSS: ${small.toFixed(0)} MiB (64 MiB layer), ${large.toFixed(0)} MiB (512 MiB layer)`);
    expect(large - small).toBeLessThan(SLACK_MIB);
  });

  test("copy of 6 platforms: layers of 6 MiB vs 48 MiB (big blobs move at most 2 at once)", async () => {
    const small = await peakMiB((run) => ["copy", `${src.host}/mem/six-small:1.0`, `${dst.host}/mem/six-small-${run}:1.0`]);
    const large = await peakMiB((run) => ["copy", `${src.host}/mem/six-large:1.0`, `${dst.host}/mem/six-large-${run}:1.0`]);
    console.log(`6-platform copy peak RSS: ${small.toFixed(0)} MiB (6 MiB layers), ${large.toFixed(0)} MiB (48 MiB layers)`);
    expect(large - small).toBeLessThan(SLACK_MIB);
  });
});
