/**
 * Memory independent of blob size (issue #21): `ferry copy` and `ferry export` of a one-layer image, run as a
 * process against a real registry with a small and a 16× larger layer; the peak RSS may not grow with the layer.
 * With FERRY_BIN set, the compiled binary is measured.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pushBigImage } from "../../scripts/bench/big_image.ts";
import { measure } from "../../scripts/bench/measure.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";

const MiB = 1024 * 1024;
const SMALL = 16 * MiB;
const LARGE = 256 * MiB;
/** Allowed growth of the peak RSS from the small layer to the large one (measured: 1–7 MiB; without collection by bytes export grows 18–23 MiB). */
const GROWTH_MIB = 12;
const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

let src: TestRegistry;
let dst: TestRegistry;
const work = mkdtempSync(join(tmpdir(), "ferry-memory-cli-"));

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  await pushBigImage(`${src.host}/mem/small:1`, SMALL);
  await pushBigImage(`${src.host}/mem/large:1`, LARGE);
}, 120_000);

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** Peak RSS in MiB of one ferry run (the lower of two runs: a peak sampled high by chance is not the process's). */
async function peakRss(argv: (run: number) => string[]): Promise<number> {
  const bin = process.env.FERRY_BIN;
  const peaks: number[] = [];
  for (let run = 0; run < 2; run++) {
    const args = argv(run);
    const m = bin ? await measure(bin, args) : await measure(process.execPath, [CLI, ...args]);
    peaks.push(m.rssMiB);
  }
  return Math.min(...peaks);
}

/** Fails naming both peaks when the large layer's exceeds the small one's by more than {@link GROWTH_MIB}. */
function expectFlat(small: number, large: number): void {
  const line = `peak RSS ${small.toFixed(1)} MiB (${SMALL / MiB} MiB layer), ${large.toFixed(1)} MiB (${LARGE / MiB} MiB)`;
  console.error(line);
  expect(`${line}: grew ${large - small > GROWTH_MIB ? "more" : "no more"} than ${GROWTH_MIB} MiB`).toBe(
    `${line}: grew no more than ${GROWTH_MIB} MiB`,
  );
}

describe("peak RSS does not grow with the blob", () => {
  let n = 0;
  test("copy registry → registry", async () => {
    const copy = (repo: string) => (run: number) => ["copy", `${src.host}/mem/${repo}:1`, `${dst.host}/mem/${repo}-${n++}-${run}:1`];
    const small = await peakRss(copy("small"));
    const large = await peakRss(copy("large"));
    expectFlat(small, large);
  }, 120_000);

  test("export → image-amd64.tar.gz", async () => {
    const exp = (repo: string) => (run: number) => ["export", `${src.host}/mem/${repo}:1`, "-o", join(work, `${repo}-${n++}-${run}`)];
    const small = await peakRss(exp("small"));
    const large = await peakRss(exp("large"));
    expectFlat(small, large);
  }, 120_000);
});
