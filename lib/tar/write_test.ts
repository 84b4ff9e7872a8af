import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TAR_BLOCK } from "./header.ts";
import { SizeMismatchError } from "../errors.ts";
import { tarEnd, tarEntryHeader, tarHeader, tarPadding, writeTarEntry } from "./write.ts";

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

test("a name too long for ustar's prefix gets a pax record GNU tar reads", () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-tarwrite-"));
  try {
    const long = `${"n".repeat(300)}/${"m".repeat(120)}`;
    const file = join(dir, "t.tar");
    writeFileSync(file, Buffer.concat([tarHeader(long, 2), new TextEncoder().encode("hi"), tarPadding(2), tarEnd()]));
    expect(execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim()).toBe(long);
    expect(execFileSync("tar", ["-xOf", file, long], { encoding: "utf8" })).toBe("hi");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tarEntryHeader: files, directories, symlinks and hard links with owners, modes and mtimes, as GNU tar lists them", () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-tarwrite-"));
  try {
    const target = `/${"t".repeat(150)}`;
    const parts: Uint8Array[] = [
      tarEntryHeader({ path: "app", type: "dir", mode: 0o750, size: 0, uid: 1000, gid: 1000, mtime: 86400 }),
      tarEntryHeader({ path: "app/run", type: "file", mode: 0o4755, size: 3, uid: 2 ** 22, gid: 5, mtime: 86400 }),
      new TextEncoder().encode("abc"),
      tarPadding(3),
      tarEntryHeader({ path: "app/long", type: "symlink", mode: 0o777, size: 0, linkname: target }),
      tarEntryHeader({ path: "app/again", type: "hardlink", mode: 0o755, size: 0, linkname: "app/run" }),
      tarEnd(),
    ];
    const file = join(dir, "layer.tar");
    writeFileSync(file, Buffer.concat(parts));
    const lines = execFileSync("tar", ["--numeric-owner", "--utc", "-tvf", file], { encoding: "utf8" }).trim().split(
      "\n",
    );
    expect(lines[0]).toMatch(/^drwxr-x--- 1000\/1000\s+0 1970-01-02 00:00 app\/$/);
    expect(lines[1]).toMatch(/^-rwsr-xr-x 4194304\/5\s+3 1970-01-02 00:00 app\/run$/);
    expect(lines[2]).toContain(`app/long -> ${target}`);
    expect(lines[3]).toContain("app/again link to app/run");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writeTarEntry writes header, body and padding, and refuses a body of the wrong size", async () => {
  const out: Uint8Array[] = [];
  const write = (c: Uint8Array) => Promise.resolve(void out.push(c));
  const body = (s: string) => new Blob([s]).stream() as ReadableStream<Uint8Array>;
  await writeTarEntry("a", 3, body("abc"), write);
  expect(Buffer.concat(out).byteLength).toBe(1024);
  await expect(writeTarEntry("a", 3, body("abcd"), write, { ref: "x.tar" })).rejects.toThrow(SizeMismatchError);
  await expect(writeTarEntry("a", 3, body("ab"), write)).rejects.toThrow(SizeMismatchError);
});
