import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../../errors.ts";
import { draftPath, loadDraft, removeDraft, saveDraft } from "./draft.ts";

let draftDir: string;
beforeAll(async () => {
  draftDir = await mkdtemp(join(tmpdir(), "ferry-draft-"));
});
afterAll(() => rm(draftDir, { recursive: true, force: true }));

test("save, load and remove a draft; no temp files left", async () => {
  const draft = {
    list: "127.0.0.1:5000/app:1.0",
    entries: [{
      image: "127.0.0.1:5000/app:amd64",
      descriptor: { mediaType: "m", digest: `sha256:${"a".repeat(64)}`, size: 1 },
    }],
  };
  expect(await loadDraft(draft.list, { draftDir })).toBeUndefined();
  await saveDraft(draft, { draftDir });
  expect(await loadDraft(draft.list, { draftDir })).toEqual(draft);
  expect((await readdir(draftDir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  expect(await removeDraft(draft.list, { draftDir })).toBe(true);
  expect(await removeDraft(draft.list, { draftDir })).toBe(false);
});

test("similar names get different files; a corrupt draft is a FormatError", async () => {
  expect(draftPath("r.io/a/b:c", { draftDir })).not.toBe(draftPath("r.io/a_b:c", { draftDir }));
  await writeFile(draftPath("r.io/x:1", { draftDir }), "{not json");
  await expect(loadDraft("r.io/x:1", { draftDir })).rejects.toThrow(FormatError);
});
