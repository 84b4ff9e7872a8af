import { expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { mirror, type MirrorImageResult, summarizeMirror } from "./mirror.ts";
import type { MirrorSpec } from "./spec.ts";

const image = (status: MirrorImageResult["status"], bytes = 0, manifestRequests = 0): MirrorImageResult => ({
  source: `src/${status}`,
  target: `dst/${status}`,
  status,
  copied: 0,
  skipped: 0,
  mounted: 0,
  bytes,
  manifestRequests,
});

test("summarizeMirror totals the images", () => {
  expect(
    summarizeMirror(
      "r.io/m",
      [image("copied", 10, 4), image("present"), image("failed"), image("copied", 5, 2)],
      false,
    ),
  )
    .toMatchObject({
      target: "r.io/m",
      dryRun: false,
      copied: 2,
      present: 1,
      failed: 1,
      planned: 0,
      bytes: 15,
      manifestRequests: 6,
    });
});

test("an invalid spec is refused before any request", async () => {
  await expect(mirror({ target: "nohost", sources: [{ image: "a" }] })).rejects.toThrow(UsageError);
  await expect(mirror({ target: "r.io/m", sources: [] })).rejects.toThrow("sources: expected a non-empty list");
});

test("an aborted signal stops before starting", async () => {
  const controller = new AbortController();
  controller.abort();
  await expect(mirror({ target: "r.io/m", sources: [{ image: "a" }] }, { signal: controller.signal })).rejects.toThrow(
    "Interrupted",
  );
});

test("summarizeMirror counts the images another's failure stopped as skipped, not failed", () => {
  const result = summarizeMirror(
    "r.io/m",
    [image("failed"), image("skipped"), image("skipped"), image("copied", 3)],
    false,
  );
  expect(result).toMatchObject({ copied: 1, failed: 1, skipped: 2, bytes: 3 });
});

test("two sources of one target tag are refused before any request; the same image twice is copied once", async () => {
  // Unroutable hosts: a request would fail with a network error, not this one.
  const spec: MirrorSpec = {
    target: "127.0.0.1:9/m",
    sources: [{ image: "192.0.2.1:1/team/app:1" }, { image: "192.0.2.2:1/team/app:1" }],
  };
  await expect(mirror(spec)).rejects.toThrow(
    "Cannot mirror 192.0.2.1:1/team/app:1 and 192.0.2.2:1/team/app:1 both to 127.0.0.1:9/m/team/app:1: one would " +
      "overwrite the other; give one of them its own path with `target:` in a mirror spec (ferry mirror -c)",
  );
  // With its own path, each has a target of its own: both are tried (and fail at the network).
  const failed = async (sources: MirrorSpec["sources"]) =>
    (await mirror({ ...spec, sources }, { keepGoing: true, source: { retries: 0 } }).catch((e) => e)).failures
      .map((f: { ref: string }) => f.ref);
  expect(await failed([spec.sources[0], { ...spec.sources[1], target: "quay/team/app" }])).toEqual([
    "192.0.2.1:1/team/app:1",
    "192.0.2.2:1/team/app:1",
  ]);
  expect(await failed([spec.sources[0], spec.sources[0]])).toEqual(["192.0.2.1:1/team/app:1"]);
});
