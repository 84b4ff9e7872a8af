import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../errors.ts";
import { run } from "../../tests/helpers/tools.ts";
import { type CraftedEntry, tarFile } from "../../tests/helpers/crafted_tar.ts";
import type { TarHeader } from "./header.ts";
import { readTar, type ReadTarOptions } from "./read.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-tar-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `bytes` as a stream of `chunk`-byte pieces (1: every boundary is a chunk boundary). */
function streamOf(bytes: Uint8Array, chunk = 1 << 20): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

interface Seen {
  header: TarHeader;
  offset: number;
  text?: string;
}

async function readAll(
  bytes: Uint8Array,
  options: ReadTarOptions,
  chunk?: number,
  read = (h: TarHeader) => h.kind === "file",
): Promise<{ seen: Seen[]; links: Map<string, string> }> {
  const seen: Seen[] = [];
  const { links } = await readTar(streamOf(bytes, chunk), options, async ({ header, offset, body }) => {
    const entry: Seen = { header, offset };
    if (read(header)) {
      const parts: Uint8Array[] = [];
      for await (const c of body) parts.push(c);
      entry.text = Buffer.concat(parts).toString();
    }
    seen.push(entry);
  });
  return { seen, links };
}

const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e) => e as FormatError);

describe("readTar", () => {
  test("reads what GNU tar writes (gnu, pax, ustar), at every chunk size, bodies at their offsets", async () => {
    const src = join(dir, "src");
    const long = `${"d".repeat(120)}/${"f".repeat(110)}`;
    await run("mkdir", ["-p", join(src, "sub"), join(src, "d".repeat(120))]);
    writeFileSync(join(src, "sub", "file"), "x".repeat(1000));
    writeFileSync(join(src, long), "long");
    await run("ln", ["-s", "../sub/file", join(src, "sub", "link")]);
    await run("ln", [join(src, "sub", "file"), join(src, "hard")]);
    for (const format of ["gnu", "pax", "ustar"]) {
      const tar = join(dir, `${format}.tar`);
      const names = format === "ustar" ? ["./sub", "./hard"] : ["./sub", "./hard", long];
      await run("tar", ["--format", format, "--owner=7", "--group=8", "--mode=u+s", "-cf", tar, "-C", src, ...names]);
      const bytes = new Uint8Array(readFileSync(tar));
      for (const chunk of [1, 511, 513, 1 << 20]) {
        const { seen } = await readAll(bytes, { policy: "layer" }, chunk);
        const by = new Map(seen.map((s) => [s.header.name, s]));
        expect(by.get("sub")?.header.kind).toBe("dir");
        expect(by.get("sub/file")?.text).toBe("x".repeat(1000));
        expect(by.get("sub/file")?.header).toMatchObject({ uid: 7, gid: 8, size: 1000 });
        expect(by.get("sub/file")!.header.mode & 0o4000).toBe(0o4000);
        expect(Buffer.from(bytes.subarray(by.get("sub/file")!.offset)).subarray(0, 3).toString()).toBe("xxx");
        expect(by.get("sub/link")?.header).toMatchObject({ kind: "symlink", linkname: "../sub/file" });
        // GNU tar stores the second name of the inode as a hard link to the first.
        const hard = [by.get("hard")!, by.get("sub/file")!].find((s) => s.header.kind === "hardlink")!;
        expect(["hard", "sub/file"]).toContain(hard.header.linkname);
        if (format !== "ustar") expect(by.get(long)?.text).toBe("long");
      }
    }
  });

  test("bodies left unread, or read in part, are skipped", async () => {
    const tar = tarFile([{ name: "a", data: "A".repeat(3000) }, { name: "b", data: "bee" }]);
    const texts: string[] = [];
    await readTar(streamOf(tar, 100), { policy: "archive" }, async ({ header, body }) => {
      if (header.name === "a") {
        for await (const _ of body) break; // one chunk, then stop
        return;
      }
      for await (const c of body) texts.push(Buffer.from(c).toString());
    });
    expect(texts.join("")).toBe("bee");
    const { seen } = await readAll(tar, { policy: "archive" }, 7, () => false);
    expect(seen.map((s) => s.header.name)).toEqual(["a", "b"]);
  });

  test("a truncated body, header or padding is the policy's error", async () => {
    const tar = tarFile([{ name: "a", data: "A".repeat(1000) }]);
    const cutData = await refusal(readAll(tar.subarray(0, 512 + 600), { policy: "archive", ref: "t.tar" }));
    expect(cutData?.message).toBe('Cannot read archive t.tar: entry "a" is truncated (600 of 1000 bytes)');
    const unread = await refusal(
      readAll(tar.subarray(0, 512 + 600), { policy: "layer", ref: "sha256:x" }, 64, () => false),
    );
    expect(unread?.message).toBe('Cannot read layer sha256:x: entry "a" is truncated (600 of 1000 bytes)');
    const cutPadding = await refusal(readAll(tar.subarray(0, 512 + 1010), { policy: "archive", ref: "t.tar" }));
    expect(cutPadding?.message).toBe("Cannot read archive t.tar: truncated at byte 1522");
    const cutHeader = await refusal(readAll(tar.subarray(0, 300), { policy: "archive", ref: "t.tar" }));
    expect(cutHeader?.message).toBe("Cannot read archive t.tar: truncated at byte 300");
    expect(cutHeader).toBeInstanceOf(FormatError);
    expect(cutHeader?.ref).toBe("t.tar");
  });

  test("a tar without the end marker ends at the end of the stream", async () => {
    const tar = tarFile([{ name: "a", data: "x" }]);
    const { seen } = await readAll(tar.subarray(0, 1024), { policy: "archive" });
    expect(seen.map((s) => s.text)).toEqual(["x"]);
  });

  test("an abort stops the read", async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await refusal(
      readAll(tarFile([{ name: "a", data: "x" }]), { policy: "archive", signal: controller.signal }),
    );
    expect(err?.name).toBe("AbortError");
  });
});

describe('policy "archive"', () => {
  const refuses: [string, CraftedEntry[], string][] = [
    ["absolute", [{ name: "/etc/x", data: "" }], 'entry "/etc/x" has an absolute path'],
    ["dot-dot", [{ name: "a/../../x", data: "" }], 'entry "a/../../x" has a ".." path component'],
    ["duplicate", [{ name: "a", data: "" }, { name: "./a", data: "" }], 'duplicate entry "a"'],
    ["empty name", [{ name: "./", data: "" }], 'entry "./" has an empty name'],
    ["fifo", [{ name: "p", type: "fifo" }], 'entry "p" is a device, fifo or unknown type "6"'],
    ["block device", [{ name: "sda", type: "block" }], 'entry "sda" is a device, fifo or unknown type "4"'],
    ["absolute symlink", [{ name: "l", type: "symlink", link: "/etc" }], 'link "l" points outside the archive (/etc)'],
    [
      "escaping hard link",
      [{ name: "h", type: "hardlink", link: "../x" }],
      'link "h" points outside the archive (../x)',
    ],
    [
      "symlink to ..",
      [{ name: "a/l", type: "symlink", link: "../.." }],
      'link "a/l" points outside the archive (../..)',
    ],
    [
      "dangling symlink",
      [{ name: "l", type: "symlink", link: "nothere" }],
      'link "l" points at "nothere", which is not a file in the archive',
    ],
    [
      "symlink to a directory",
      [{ name: "d", type: "dir" }, { name: "l", type: "symlink", link: "d" }],
      'link "l" points at "d", which is not a file in the archive',
    ],
  ];
  for (const [name, entries, reason] of refuses) {
    test(`refuses: ${name}`, async () => {
      const err = await refusal(readAll(tarFile(entries), { policy: "archive", ref: "x.tar" }));
      expect(err).toBeInstanceOf(FormatError);
      expect(err?.message).toBe(`Cannot read archive x.tar: ${reason}`);
    });
  }

  test("links resolve to the file they name, through other links, wherever they are in the archive", async () => {
    const { seen, links } = await readAll(
      tarFile([
        { name: "early", type: "symlink", link: "dir/file" }, // a forward link
        { name: "dir", type: "dir" },
        { name: "dir/file", data: "x" },
        { name: "dir/hard", type: "hardlink", link: "./dir/file" },
        { name: "dir/sym", type: "symlink", link: "hard" },
      ]),
      { policy: "archive" },
    );
    expect(seen.map((s) => s.header.name)).toEqual(["early", "dir/file", "dir/hard", "dir/sym"]); // no directories
    expect([...links]).toEqual([["early", "dir/file"], ["dir/hard", "dir/file"], ["dir/sym", "dir/file"]]);
  });

  test("caps entries and extension headers", async () => {
    const three = tarFile([{ name: "a" }, { name: "b" }, { name: "c" }]);
    expect((await refusal(readAll(three, { policy: "archive", maxEntries: 2 })))?.message).toBe(
      "Cannot read archive: more than 2 entries",
    );
    const huge = tarFile([{ name: "x".repeat(1024 * 1024 + 1) }]);
    expect((await refusal(readAll(huge, { policy: "layer" })))?.message).toBe(
      "Cannot read layer: oversized tar extension header",
    );
  });
});

describe('policy "layer"', () => {
  test("confines names, keeps symlink targets as data, passes devices and fifos on", async () => {
    const { seen, links } = await readAll(
      tarFile([
        { name: "./etc/", type: "dir" },
        { name: "a/../../../etc/passwd", data: "root" },
        { name: "/abs", data: "abs" },
        { name: "etc/passwd", data: "again" }, // a later entry for the same path is allowed
        { name: "bin/sh", type: "symlink", link: "/bin/busybox" },
        { name: "bin/rel", type: "symlink", link: "./busybox" },
        { name: "bin/hard", type: "hardlink", link: "/../etc/passwd" },
        { name: "dev/null", type: "char" },
        { name: "run/fifo", type: "fifo" },
      ]),
      { policy: "layer" },
    );
    expect(seen.map((s) => [s.header.name, s.header.kind, s.header.linkname, s.text ?? null])).toEqual([
      ["etc", "dir", "", null],
      ["etc/passwd", "file", "", "root"],
      ["abs", "file", "", "abs"],
      ["etc/passwd", "file", "", "again"],
      ["bin/sh", "symlink", "/bin/busybox", null],
      ["bin/rel", "symlink", "busybox", null],
      ["bin/hard", "hardlink", "etc/passwd", null],
      ["dev/null", "char", "", null],
      ["run/fifo", "fifo", "", null],
    ]);
    expect(links.size).toBe(0);
  });

  test("a corrupt header names the layer", async () => {
    const tar = tarFile([{ name: "a", data: "x", encoding: { checksum: "bad" } }]);
    expect((await refusal(readAll(tar, { policy: "layer", ref: "sha256:abc" })))?.message).toBe(
      "Cannot read layer sha256:abc: corrupt tar header at byte 0",
    );
  });
});
