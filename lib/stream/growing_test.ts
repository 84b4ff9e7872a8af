import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GrowingFile } from "./growing.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-growing-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Reads `stream` to its end: the bytes, and whether it ended (false while it is still open). */
function drain(stream: ReadableStream<Uint8Array>) {
  const chunks: Uint8Array[] = [];
  const state = { ended: false, bytes: 0 };
  const done = (async () => {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      state.bytes += value.byteLength;
    }
    state.ended = true;
    return Buffer.concat(chunks);
  })();
  return { state, done };
}

describe("GrowingFile", () => {
  test("a follower gets the bytes as they are written, across the rename, and ends only once finished", async () => {
    const part = join(dir, "a.part"), final = join(dir, "a");
    const growing = new GrowingFile(10);
    const early = drain(growing.stream()); // before the file exists
    writeFileSync(part, "01234");
    growing.opened(part, 0);
    growing.advanced(5);
    await tick();
    expect(early.state).toEqual({ ended: false, bytes: 5 });
    appendFileSync(part, "56789");
    growing.advanced(5);
    await tick();
    expect(early.state).toEqual({ ended: false, bytes: 10 }); // all bytes, not ended: not verified yet
    const late = drain(growing.stream()); // opens the file after the rename below
    renameSync(part, final);
    growing.finished(final);
    expect((await early.done).toString()).toBe("0123456789");
    expect((await late.done).toString()).toBe("0123456789");
    expect((await drain(growing.stream()).done).toString()).toBe("0123456789"); // after: the final file
  });

  test("a follower that read every byte still errors when the writer fails (the check did not pass)", async () => {
    const part = join(dir, "b.part");
    const growing = new GrowingFile(4);
    const reader = drain(growing.stream());
    writeFileSync(part, "abcd");
    growing.opened(part, 0);
    growing.advanced(4);
    await tick();
    expect(reader.state.bytes).toBe(4);
    growing.failed(new Error("digest mismatch"));
    await expect(reader.done).rejects.toThrow("digest mismatch");
  });

  test("a resumed partial's bytes already on disk are read at once", async () => {
    const part = join(dir, "c.partial");
    writeFileSync(part, "xyz");
    const growing = new GrowingFile(6);
    growing.opened(part, 3);
    const reader = drain(growing.stream());
    await tick();
    expect(reader.state).toEqual({ ended: false, bytes: 3 });
    appendFileSync(part, "uvw");
    growing.advanced(3);
    growing.finished(part);
    expect((await reader.done).toString()).toBe("xyzuvw");
  });

  test("a follower whose open of the file being written races its rename to the final path reads the final file", async () => {
    const part = join(dir, "d.part"), final = join(dir, "d");
    writeFileSync(final, "renamed"); // the writer already renamed d.part
    const growing = new GrowingFile(7);
    growing.opened(part, 7);
    const reader = drain(growing.stream()); // its first pull opens d.part, which is gone
    for (let i = 0; i < 3; i++) await null; // the pull has started that open (a file system call: still on its way)
    growing.finished(final); // reported while that open is still on its way
    expect((await reader.done).toString()).toBe("renamed");
  });
});
