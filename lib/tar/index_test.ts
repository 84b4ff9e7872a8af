import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { run } from "../../tests/helpers/tools.ts";
import { indexTar } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-tar-index-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("finds every regular file's byte range, long names (GNU and pax) included", async () => {
  const src = join(dir, "src");
  const long = `${"d".repeat(120)}/${"f".repeat(110)}`;
  await run("mkdir", ["-p", join(src, "blobs", "sha256"), join(src, "d".repeat(120))]);
  writeFileSync(join(src, "index.json"), '{"manifests":[]}');
  writeFileSync(join(src, "blobs", "sha256", "abc"), "x".repeat(1000));
  writeFileSync(join(src, long), "long");
  for (const format of ["gnu", "pax", "ustar"]) {
    const tar = join(dir, `${format}.tar`);
    const files = format === "ustar" ? ["./index.json", "./blobs"] : ["./index.json", "./blobs", long];
    await run("tar", ["--format", format, "-cf", tar, "-C", src, ...files]);
    const entries = await indexTar(tar, { policy: "archive" });
    const bytes = readFileSync(tar);
    const read = (name: string) => {
      const e = entries.get(name)!;
      return bytes.subarray(e.offset, e.offset + e.size).toString();
    };
    expect(read("index.json")).toBe('{"manifests":[]}');
    expect(read("blobs/sha256/abc")).toBe("x".repeat(1000));
    if (format !== "ustar") expect(read(long)).toBe("long");
    expect(entries.has("blobs/sha256")).toBe(false); // directories are not files
  }
});

test("a file that is not a tar is a FormatError", async () => {
  const bad = join(dir, "bad.tar");
  writeFileSync(bad, "x".repeat(2048));
  await expect(indexTar(bad)).rejects.toThrow(FormatError);
});
