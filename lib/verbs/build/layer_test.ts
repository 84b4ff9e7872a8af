import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { FileError, UsageError } from "../../errors.ts";
import { run } from "../../../tests/helpers/tools.ts";
import { type LayerEntry, writeLayer } from "./layer.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-layer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

const big = join(dir, "big.bin");
writeFileSync(big, new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff));
const entries = (): LayerEntry[] => [
  { path: "opt/app/big.bin", type: "file", mode: 0o755, uid: 1000, gid: 1001, source: big, size: 3 * 1024 * 1024 + 7 },
  {
    path: "/etc/hello.txt",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    content: new TextEncoder().encode("hi\n"),
    size: 3,
  },
  { path: "opt/app/current", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "big.bin", size: 0 },
  { path: "opt/app", type: "dir", mode: 0o750, uid: 1000, gid: 1001, size: 0 },
];

describe("writeLayer", () => {
  test("digests match the file and its tar; tar sees sorted entries, owners, modes and the mtime", async () => {
    const layer = await writeLayer(entries(), dir, { mtime: 1700000000 });
    const gz = readFileSync(layer.path);
    expect(layer.size).toBe(gz.byteLength);
    expect(layer.digest).toBe(sha256(gz));
    expect(layer.diffId).toBe(sha256(gunzipSync(gz)));
    expect(gz[9]).toBe(255);
    const listing = (await run("tar", ["--numeric-owner", "--full-time", "-tvzf", layer.path], { env: { TZ: "UTC" } }))
      .stdout
      .trim().split("\n").map((l) => l.split(/\s+/));
    expect(listing.map((l) => [l[0], l[1], l.slice(5).join(" ")])).toEqual([
      ["-rw-r--r--", "0/0", "etc/hello.txt"],
      ["drwxr-x---", "1000/1001", "opt/app/"],
      ["-rwxr-xr-x", "1000/1001", "opt/app/big.bin"],
      ["lrwxrwxrwx", "0/0", "opt/app/current -> big.bin"],
    ]);
    expect(listing.every((l) => l[3] === "2023-11-14" && l[4] === "22:13:20")).toBe(true);
    const out = join(dir, "x");
    await run("mkdir", [out]);
    await run("tar", ["-xzf", layer.path, "-C", out]);
    expect(sha256(readFileSync(join(out, "opt/app/big.bin")))).toBe(sha256(readFileSync(big)));
  });

  test("the same input gives the same digests; another mtime does not", async () => {
    const [a, b, c] = [
      await writeLayer(entries(), dir),
      await writeLayer([...entries()].reverse(), dir),
      await writeLayer(entries(), dir, { mtime: 1 }),
    ];
    expect(b.digest).toBe(a.digest);
    expect(b.diffId).toBe(a.diffId);
    expect(c.digest).not.toBe(a.digest);
  });

  test("a file whose size changed is refused", async () => {
    const e = entries();
    e[0].size = 10;
    await expect(writeLayer(e, dir)).rejects.toThrow(FileError);
  });

  test("bad paths are refused", async () => {
    await expect(writeLayer([{ path: "a/../b", type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0 }], dir)).rejects
      .toThrow(UsageError);
    await expect(writeLayer([
      { path: "a", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, content: new Uint8Array() },
      { path: "a/b", type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0 },
    ], dir)).rejects.toThrow(/not a directory/);
  });
});
