import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { UsageError } from "../errors.ts";
import { digestOf } from "../oci/digest.ts";
import { buildLayer, type LayerFile } from "./tar_layer.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-tar-layer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tar(args: string[]): string {
  const r = spawnSync("tar", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const files: LayerFile[] = [
  { path: "/usr/bin/tool", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
  { path: "platform.txt", content: "linux/amd64\n" },
  { path: "usr/bin/alias", type: "symlink", linkname: "tool" },
  { path: "etc/empty", type: "dir", mode: 0o700 },
];

describe("buildLayer", () => {
  test("is deterministic and independent of input order", () => {
    const a = buildLayer(files);
    const b = buildLayer([...files].reverse());
    expect(b.digest).toBe(a.digest);
    expect(b.diffId).toBe(a.diffId);
    expect(a.diffId).toBe(digestOf(a.tar));
    expect(a.digest).toBe(digestOf(a.gz));
    expect(Buffer.from(gunzipSync(a.gz)).equals(a.tar)).toBe(true);
    // Fixed gzip header: magic, deflate, no flags, mtime 0, OS 255.
    expect([...a.gz.subarray(0, 8)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    expect(a.gz[9]).toBe(255);
    expect(a.tar.byteLength % 512).toBe(0);
  });

  test("GNU tar lists sorted entries with parents, owner 0/0, mtime 0", () => {
    const path = join(dir, "list.tar.gz");
    writeFileSync(path, buildLayer(files).gz);
    const lines = tar(["--numeric-owner", "--utc", "-tzvf", path]).trim().split("\n");
    const names = lines.map((l) => l.split(/\s+/).slice(5).join(" "));
    expect(names).toEqual([
      "etc/",
      "etc/empty/",
      "platform.txt",
      "usr/",
      "usr/bin/",
      "usr/bin/alias -> tool",
      "usr/bin/tool",
    ]);
    for (const l of lines) {
      expect(l).toContain(" 0/0 ");
      expect(l).toContain("1970-01-01 00:00");
    }
    expect(lines[1].startsWith("drwx------")).toBe(true);
    expect(lines[6].startsWith("-rwxr-xr-x")).toBe(true);
  });

  test("a 2 MiB binary and long names round-trip byte-exact through GNU tar", () => {
    const big = bytes(2 * 1024 * 1024, 7);
    const longName = `${"d".repeat(120)}/${"f".repeat(90)}`; // fits only with the ustar prefix
    const veryLong = `${"x".repeat(200)}/${"y".repeat(120)}`; // needs a PAX path record
    const layer = buildLayer([
      { path: "bin/big", content: big },
      { path: longName, content: "prefix" },
      { path: veryLong, content: "pax" },
      { path: "link", type: "symlink", linkname: `/${"t".repeat(150)}` },
    ]);
    const path = join(dir, "big.tar.gz");
    writeFileSync(path, layer.gz);
    const out = join(dir, "out");
    mkdirSync(out);
    tar(["-xzf", path, "-C", out]);
    expect(readFileSync(join(out, "bin/big")).equals(big)).toBe(true);
    expect(readFileSync(join(out, longName), "utf8")).toBe("prefix");
    expect(readFileSync(join(out, veryLong), "utf8")).toBe("pax");
    expect(readlinkSync(join(out, "link"))).toBe(`/${"t".repeat(150)}`);
    expect(statSync(join(out, "bin/big")).size).toBe(big.byteLength);
  });

  test("gzipLevel changes the compressed bytes but not the diffId", () => {
    const a = buildLayer(files, { gzipLevel: 1 });
    const b = buildLayer(files, { gzipLevel: 9 });
    expect(a.diffId).toBe(b.diffId);
    expect(a.gz[8]).not.toBe(b.gz[8]); // XFL byte records fastest vs best
  });

  test("rejects bad paths", () => {
    expect(() => buildLayer([{ path: "a/../b", content: "" }])).toThrow(UsageError);
    expect(() => buildLayer([{ path: "/", content: "" }])).toThrow("Cannot build layer: invalid path");
    expect(() => buildLayer([{ path: "a", content: "" }, { path: "/a", content: "" }])).toThrow("duplicate path");
    expect(() => buildLayer([{ path: "a", content: "" }, { path: "a/b", content: "" }])).toThrow("not a directory");
    expect(() => buildLayer([{ path: "l", type: "symlink" }])).toThrow("has no target");
  });
});
