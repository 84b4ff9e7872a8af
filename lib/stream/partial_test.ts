import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JOURNAL_EVERY, openPartial, removeState } from "./partial.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-partial-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const digest = "sha256:" + "ab".repeat(32);

async function write(stream: WritableStream<Uint8Array>, bytes: Uint8Array) {
  const w = stream.getWriter();
  await w.write(bytes);
  w.releaseLock();
}

test("a partial continues from the bytes its journal vouches for, not from what the file holds", async () => {
  const dir = join(work, "a");
  const size = 3 * JOURNAL_EVERY;
  const bytes = new Uint8Array(size).map((_, i) => i % 251);
  const first = (await openPartial(dir, digest, size))!;
  expect(first.offset).toBe(0);
  await write(first.writable, bytes.subarray(0, JOURNAL_EVERY + 10));
  await first.release(); // journaled at JOURNAL_EVERY + 10
  // A kill -9 here: the lock of a dead pid, the journal as written; bytes past it on disk are not trusted.
  writeFileSync(join(dir, digest.replace(":", "-") + ".lock"), "999999999");
  writeFileSync(join(dir, digest.replace(":", "-") + ".partial"), bytes.subarray(0, JOURNAL_EVERY + 500));
  const second = (await openPartial(dir, digest, size))!;
  expect(second.offset).toBe(JOURNAL_EVERY + 10);
  expect(new Uint8Array(await new Response(second.prefix()).arrayBuffer())).toEqual(bytes.subarray(0, second.offset));
  // Another open of one digest while it is held: no partial (the caller writes without resuming).
  expect(await openPartial(dir, digest, size)).toBeUndefined();
  await write(second.writable, bytes.subarray(second.offset));
  await second.writable.close();
  const final = join(work, "blob");
  await second.commit(final);
  expect(new Uint8Array(readFileSync(final))).toEqual(bytes);
  await removeState(dir);
  expect(existsSync(dir)).toBe(false);
});

test("a journal of another size starts over; release keeps the bytes for the next run", async () => {
  const dir = join(work, "b");
  const p = (await openPartial(dir, digest, 100))!;
  await write(p.writable, new Uint8Array(40).fill(7));
  await p.release();
  const other = (await openPartial(dir, digest, 101))!;
  expect(other.offset).toBe(0); // another size: the journal does not apply
  await other.release();
  rmSync(dir, { recursive: true });
  const q = (await openPartial(dir, digest, 100))!;
  await write(q.writable, new Uint8Array(40).fill(7));
  await q.release();
  const r = (await openPartial(dir, digest, 100))!;
  expect(r.offset).toBe(40);
  await r.discard();
  const s = (await openPartial(dir, digest, 100))!;
  expect(s.offset).toBe(0);
  await s.discard();
});
