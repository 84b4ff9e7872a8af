import { expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { mirror, type MirrorImageResult, summarizeMirror } from "./mirror.ts";

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
