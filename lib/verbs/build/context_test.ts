import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError, UsageError } from "../../errors.ts";
import { BuildContext } from "./context.ts";

const root = mkdtempSync(join(tmpdir(), "ferry-context-"));
const ctx = join(root, "ctx");
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(path: string, content = path, mode = 0o644) {
  const abs = join(ctx, path);
  mkdirSync(join(abs, ".."), { recursive: true });
  writeFileSync(abs, content);
  chmodSync(abs, mode);
}
file("bin/app-amd64", "amd64 binary", 0o755);
file("bin/app-arm64", "arm64 binary", 0o755);
file("bin/notes.log");
file("conf/a.conf");
file("conf/sub/b.conf");
file("conf/sub/debug.log");
file(".dockerignore", "*.log\n**/*.log\nsecret\n");
file("secret", "do not copy");
writeFileSync(join(root, "outside.txt"), "outside");
symlinkSync("../outside.txt", join(ctx, "escape"));
symlinkSync("a.conf", join(ctx, "conf", "link"));
symlinkSync("conf/a.conf", join(ctx, "inside-link"));

describe("BuildContext", () => {
  test("a single file with its mode and size", async () => {
    const context = await BuildContext.open(ctx);
    const [m] = await context.match(["bin/app-amd64"]);
    expect(m.path).toBe("bin/app-amd64");
    expect(m.entries).toEqual([{ rel: "", abs: join(ctx, "bin/app-amd64"), type: "file", mode: 0o755, size: 12 }]);
  });

  test("globs, sorted, ignoring .dockerignore'd files", async () => {
    const context = await BuildContext.open(ctx);
    expect((await context.match(["bin/*"])).map((m) => m.path)).toEqual(["bin/app-amd64", "bin/app-arm64"]);
    expect((await context.match(["/bin/app-arm?4", "./conf/*.conf"])).map((m) => m.path)).toEqual([
      "bin/app-arm64",
      "conf/a.conf",
    ]);
  });

  test("a directory: its contents, sorted, excluded files and inner symlinks as symlinks", async () => {
    const context = await BuildContext.open(ctx);
    const [m] = await context.match(["conf"]);
    expect(m.entries.map((e) => [e.rel, e.type, e.linkname])).toEqual([
      ["", "dir", undefined],
      ["a.conf", "file", undefined],
      ["link", "symlink", "a.conf"],
      ["sub", "dir", undefined],
      ["sub/b.conf", "file", undefined],
    ]);
  });

  test("the whole context skips ignored files", async () => {
    const context = await BuildContext.open(ctx);
    const [m] = await context.match(["."]);
    const rels = m.entries.map((e) => e.rel);
    expect(rels).toContain("bin/app-amd64");
    expect(rels).not.toContain("secret");
    expect(rels).not.toContain("bin/notes.log");
    expect(rels).not.toContain("conf/sub/debug.log");
  });

  test("a symlinked source inside the context is followed", async () => {
    const context = await BuildContext.open(ctx);
    const [m] = await context.match(["inside-link"]);
    expect(m.entries[0].type).toBe("file");
    expect(m.entries[0].size).toBe("conf/a.conf".length);
  });

  const refusals: [string, typeof UsageError | typeof NotFoundError, RegExp][] = [
    ["../outside.txt", UsageError, /outside the build context/],
    ["bin/../../outside.txt", UsageError, /outside the build context/],
    ["escape", UsageError, /is a symlink to .*outside the build context/],
    ["missing.txt", NotFoundError, /does not exist in the context/],
    ["nothing-*", NotFoundError, /no file in the context matches/],
    ["secret", NotFoundError, /excluded by .dockerignore/],
  ];
  for (const [source, cls, message] of refusals) {
    test(`refuses ${source}`, async () => {
      const context = await BuildContext.open(ctx);
      const err = await context.match([source]).then(() => undefined, (e) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err.message).toMatch(message);
    });
  }

  test("a missing context directory", async () => {
    await expect(BuildContext.open(join(root, "nope"))).rejects.toThrow(NotFoundError);
  });
});
