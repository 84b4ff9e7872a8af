import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileError, NotFoundError } from "../errors.ts";
import { readLimited, streamOf } from "./read_limited.ts";
import { createTempWriter, fileErrorOf, isTempName, readFileStream, replaceFile, writeFileAtomic } from "./files.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-files-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function pattern(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

function failingAfter(first: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) controller.error(new Error("connection reset"));
      else controller.enqueue(first);
      sent = true;
    },
  });
}

describe("readFileStream", () => {
  test("streams a file larger than one chunk in chunks", async () => {
    const bytes = pattern((256 << 10) * 2 + 123);
    const path = join(dir, "big.bin");
    await writeFile(path, bytes);
    const chunks: number[] = [];
    const reader = readFileStream(path).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value.byteLength);
    }
    expect(chunks).toEqual([256 << 10, 256 << 10, 123]);
    expect(await readLimited(readFileStream(path), Infinity)).toEqual(bytes);
  });

  test("reads a range [start, end)", async () => {
    const bytes = pattern(5000);
    const path = join(dir, "range.bin");
    await writeFile(path, bytes);
    expect(await readLimited(readFileStream(path, { start: 100, end: 200 }))).toEqual(bytes.subarray(100, 200));
    expect(await readLimited(readFileStream(path, { start: 4990 }))).toEqual(bytes.subarray(4990));
    expect(await readLimited(readFileStream(path, { end: 999999 }))).toEqual(bytes);
    expect((await readLimited(readFileStream(path, { start: 6000 }))).byteLength).toBe(0);
  });

  test("an empty file is an empty stream", async () => {
    const path = join(dir, "empty.bin");
    await writeFile(path, new Uint8Array());
    expect((await readLimited(readFileStream(path))).byteLength).toBe(0);
  });

  test("a missing file errors with NotFoundError naming the path", async () => {
    const path = join(dir, "missing.bin");
    const err = await readLimited(readFileStream(path)).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe(`Cannot read ${path}: no such file or directory`);
    expect(err.ref).toBe(path);
  });

  test("cancel closes the file early", async () => {
    const path = join(dir, "cancel.bin");
    await writeFile(path, pattern(3 << 20));
    const reader = readFileStream(path).getReader();
    await reader.read();
    await reader.cancel();
  });
});

describe("createTempWriter", () => {
  test("nothing under the final name until commit; then exactly the bytes", async () => {
    const path = join(dir, "blob");
    const writer = await createTempWriter(path);
    expect(isTempName(writer.tempPath.slice(dir.length + 1))).toBe(true);
    await streamOf(pattern(1000)).pipeTo(writer.writable);
    expect(await readdir(dir)).not.toContain("blob");
    await writer.commit();
    expect(new Uint8Array(await readFile(path))).toEqual(pattern(1000));
    expect((await readdir(dir)).filter(isTempName)).toEqual([]);
  });

  test("a body that errors midway: commit refuses, discard leaves nothing", async () => {
    const path = join(dir, "broken");
    const writer = await createTempWriter(path);
    await expect(failingAfter(pattern(10)).pipeTo(writer.writable)).rejects.toThrow("connection reset");
    await expect(writer.commit()).rejects.toThrow("connection reset");
    await writer.discard();
    await writer.discard();
    const names = await readdir(dir);
    expect(names).not.toContain("broken");
    expect(names.filter(isTempName)).toEqual([]);
  });

  test("commit before the writable closed is refused", async () => {
    const writer = await createTempWriter(join(dir, "unfinished"));
    await expect(writer.commit()).rejects.toThrow(FileError);
    await writer.discard();
  });

  test("a directory that does not exist gives NotFoundError", async () => {
    const path = join(dir, "nope", "blob");
    await expect(createTempWriter(path)).rejects.toThrow(NotFoundError);
  });

  test("a path under a regular file gives FileError 'not a directory'", async () => {
    const ro = join(dir, "ro");
    await writeFile(ro, "a file, not a directory");
    const err = await createTempWriter(join(ro, "blob")).catch((e) => e);
    expect(err).toBeInstanceOf(FileError);
    expect(err.message).toBe(`Cannot write ${join(ro, "blob")}: not a directory`);
  });
});

describe("writeFileAtomic", () => {
  test("replaces a file in one step and leaves no temp file", async () => {
    const path = join(dir, "index.json");
    await writeFileAtomic(path, '{"a":1}');
    await writeFileAtomic(path, new TextEncoder().encode('{"b":2}'));
    expect(await readFile(path, "utf8")).toBe('{"b":2}');
    expect((await readdir(dir)).filter(isTempName)).toEqual([]);
  });
});

describe("fileErrorOf", () => {
  test("maps errno codes to ferry classes with the 'Cannot <verb> <path>: <reason>' shape", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left"), { code: "ENOSPC" });
    const err = fileErrorOf(enospc, "write", "/x/y");
    expect(err).toBeInstanceOf(FileError);
    expect(err.message).toBe("Cannot write /x/y: no space left on device");
    expect(fileErrorOf(Object.assign(new Error(), { code: "EROFS" }), "write", "/x").message).toBe(
      "Cannot write /x: read-only file system",
    );
    expect(fileErrorOf(Object.assign(new Error(), { code: "ENOENT" }), "read", "/x")).toBeInstanceOf(NotFoundError);
    const abort = new DOMException("stop", "AbortError");
    expect(fileErrorOf(abort, "write", "/x")).toBe(abort);
  });
});

describe("replaceFile", () => {
  const codeError = (code: string) => Object.assign(new Error(`${code}: rename`), { code });
  /** A rename that will not replace an existing file, as MoveFileEx without MOVEFILE_REPLACE_EXISTING. */
  const noReplace = async (from: string, to: string) => {
    if (existsSync(to)) throw codeError("EEXIST");
    await rename(from, to);
  };
  async function pair(name: string): Promise<[string, string]> {
    const [from, to] = [join(dir, `${name}.new`), join(dir, name)];
    await writeFile(from, "new");
    await writeFile(to, "old");
    return [from, to];
  }

  test("replaces an existing file (POSIX: one rename)", async () => {
    const [from, to] = await pair("posix");
    await replaceFile(from, to);
    expect(await readFile(to, "utf8")).toBe("new");
    expect(existsSync(from)).toBe(false);
  });

  test("Windows: retries while the target is held (EPERM, EBUSY), then renames over it", async () => {
    const [from, to] = await pair("held");
    const failures = ["EPERM", "EBUSY", "EACCES"];
    const calls: string[] = [];
    await replaceFile(from, to, {
      platform: "win32",
      retryDelaysMs: [1, 1, 1, 1],
      rename: async (a, b) => {
        const code = failures.shift();
        calls.push(code ?? "ok");
        if (code) throw codeError(code);
        await rename(a, b);
      },
    });
    expect(calls).toEqual(["EPERM", "EBUSY", "EACCES", "ok"]);
    expect(await readFile(to, "utf8")).toBe("new");
  });

  test("Windows: a rename that refuses an existing target (EEXIST) ends by removing the target", async () => {
    const [from, to] = await pair("exists");
    await replaceFile(from, to, { platform: "win32", retryDelaysMs: [1, 1], rename: noReplace });
    expect(await readFile(to, "utf8")).toBe("new");
    expect(existsSync(from)).toBe(false);
    // and without a target there is nothing to wait for
    await writeFile(from, "newer");
    await rm(to);
    await replaceFile(from, to, { platform: "win32", retryDelaysMs: [1], rename: noReplace });
    expect(await readFile(to, "utf8")).toBe("newer");
  });

  test("Windows: other errors are thrown at once; a directory in the way is never removed", async () => {
    let calls = 0;
    const enoent = replaceFile(join(dir, "missing"), join(dir, "x"), {
      platform: "win32",
      retryDelaysMs: [1, 1],
      rename: (a, b) => (calls++, rename(a, b)),
    });
    await expect(enoent).rejects.toMatchObject({ code: "ENOENT" });
    expect(calls).toBe(1);
    const from = join(dir, "dir-target.new");
    const to = join(dir, "dir-target");
    await writeFile(from, "new");
    await mkdir(to);
    await expect(replaceFile(from, to, { platform: "win32", retryDelaysMs: [1], rename: noReplace })).rejects
      .toMatchObject({ code: "EEXIST" });
    expect(existsSync(to) && existsSync(from)).toBe(true);
  });

  test("createTempWriter commits over an existing file", async () => {
    const path = join(dir, "commit-over.json");
    await writeFile(path, "old");
    await writeFileAtomic(path, "new");
    expect(await readFile(path, "utf8")).toBe("new");
  });
});
