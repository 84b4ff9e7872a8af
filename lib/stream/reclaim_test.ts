import { afterEach, describe, expect, test } from "bun:test";
import { readFileStream } from "./files.ts";
import { noteStreamedBytes, setCollector } from "./reclaim.ts";
import { verifyStream } from "./verify.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";

afterEach(() => setCollector(undefined));

describe("collection by bytes streamed", () => {
  test("the collector runs once per threshold crossed, never before, and not after it is unset", () => {
    let runs = 0;
    setCollector(() => runs++, 1000);
    noteStreamedBytes(999);
    expect(runs).toBe(0);
    noteStreamedBytes(1);
    expect(runs).toBe(1);
    for (let i = 0; i < 30; i++) noteStreamedBytes(100);
    expect(runs).toBe(4);
    setCollector(undefined);
    noteStreamedBytes(10_000);
    expect(runs).toBe(4);
  });

  test("a file read and a verified body count their bytes: 1 MiB through both is two collections at 1 MiB", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-reclaim-"));
    try {
      const bytes = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
      const path = join(dir, "blob");
      writeFileSync(path, bytes);
      let runs = 0;
      setCollector(() => runs++, 1024 * 1024);
      const desc = {
        mediaType: "application/octet-stream",
        size: bytes.byteLength,
        digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
      };
      await readFileStream(path).pipeThrough(verifyStream(desc)).pipeTo(new WritableStream());
      expect(runs).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
