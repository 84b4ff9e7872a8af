import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { run } from "../../tests/helpers/tools.ts";
import { type CraftedEntry, tarFile } from "../../tests/helpers/crafted_tar.ts";
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

test("the archive policy, as the streaming reader applies it: links are their target's range", async () => {
  const tarPath = (name: string, entries: CraftedEntry[]) => {
    const path = join(dir, name);
    writeFileSync(path, tarFile(entries));
    return path;
  };
  const ok = tarPath("links.tar", [
    { name: "d", type: "dir" },
    { name: "d/file", data: "content" },
    { name: "blobs/sha256/abc", type: "hardlink", link: "d/file" },
    { name: "legacy/layer.tar", type: "symlink", link: "../d/file" },
  ]);
  const entries = await indexTar(ok, { policy: "archive" });
  expect([...entries.keys()].sort()).toEqual(["blobs/sha256/abc", "d/file", "legacy/layer.tar"]);
  expect(entries.get("blobs/sha256/abc")).toEqual(entries.get("d/file")!);
  expect(entries.get("legacy/layer.tar")).toEqual(entries.get("d/file")!);
  const { offset, size } = entries.get("d/file")!;
  expect(readFileSync(ok).subarray(offset, offset + size).toString()).toBe("content");

  const refused: [CraftedEntry[], string][] = [
    [[{ name: "index.json", data: "{}" }, { name: "./index.json", data: "{}" }], 'duplicate entry "index.json"'],
    [[{ name: "../x", data: "" }], 'entry "../x" has a ".." path component'],
    [[{ name: "p", type: "fifo" }], 'entry "p" is a device, fifo or unknown type "6"'],
    [
      [{ name: "l", type: "hardlink", link: "nothere" }],
      'link "l" points at "nothere", which is not a file in the archive',
    ],
  ];
  for (const [i, [crafted, reason]] of refused.entries()) {
    const path = tarPath(`refused-${i}.tar`, crafted);
    const err = await indexTar(path, { policy: "archive", ref: "named.tar" }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`Cannot read archive named.tar: ${reason}`);
    expect(err.ref).toBe("named.tar");
  }
});

test("a truncated tar is refused where its data, padding or a header is cut", async () => {
  const whole = tarFile([{ name: "a", data: "A".repeat(1000) }]);
  for (
    const [cut, reason] of [
      [512 + 600, 'entry "a" is truncated (600 of 1000 bytes)'],
      [512 + 1010, "truncated at byte 1522"],
      [300, "truncated at byte 300"],
    ] as const
  ) {
    const path = join(dir, `cut-${cut}.tar`);
    writeFileSync(path, whole.subarray(0, cut));
    const err = await indexTar(path).catch((e) => e);
    expect(err.message).toBe(`Cannot read archive ${path}: ${reason}`);
  }
  const noMarker = join(dir, "no-marker.tar");
  writeFileSync(noMarker, whole.subarray(0, 512 + 1024));
  expect((await indexTar(noMarker)).get("a")).toEqual({ offset: 512, size: 1000 });
});
