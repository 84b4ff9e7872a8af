import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TAR_BLOCK } from "./header.ts";
import { tarHeader, tarPadding } from "./write.ts";

test("GNU tar reads entries ferry's headers describe, long names included", () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-tarheader-"));
  try {
    const long = `blobs/sha256/${"a".repeat(64)}/${"b".repeat(60)}`;
    const parts: Uint8Array[] = [];
    for (const [name, body] of [["manifest.json", "[]"], [long, "x".repeat(700)]] as const) {
      const bytes = new TextEncoder().encode(body);
      parts.push(tarHeader(name, bytes.byteLength), bytes, tarPadding(bytes.byteLength));
    }
    parts.push(new Uint8Array(2 * TAR_BLOCK));
    const file = join(dir, "t.tar");
    writeFileSync(file, Buffer.concat(parts));
    expect(execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n")).toEqual([
      "manifest.json",
      long,
    ]);
    expect(execFileSync("tar", ["-xOf", file, long], { encoding: "utf8" })).toBe("x".repeat(700));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sizes of 8 GiB and more use GNU base-256; padding fills the last block", () => {
  const h = tarHeader("big", 2 ** 33);
  expect(h[124]).toBe(0x80);
  expect(tarPadding(700).byteLength).toBe(324);
  expect(tarPadding(1024).byteLength).toBe(0);
});
