import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError } from "../../errors.ts";
import { streamOf } from "../../stream/read_limited.ts";
import { tarFile } from "../../../tests/helpers/crafted_tar.ts";
import { FileTree } from "./rootfs.ts";

const spool = mkdtempSync(join(tmpdir(), "ferry-rootfs-"));
afterAll(() => rmSync(spool, { recursive: true, force: true }));

test("a layer through the layer policy: names confined, links kept, devices and fifos dropped, whiteouts applied", async () => {
  const tree = new FileTree();
  await tree.applyTar(
    streamOf(tarFile([
      { name: "etc", type: "dir" },
      { name: "etc/../../../etc/passwd", data: "root:x:0:0" },
      { name: "bin/sh", type: "symlink", link: "/bin/busybox" },
      { name: "bin/passwd", type: "hardlink", link: "/etc/passwd" },
      { name: "bin/gone", type: "hardlink", link: "nothere" },
      { name: "dev/null", type: "char" },
      { name: "run/fifo", type: "fifo" },
      { name: "tmp/old", data: "old" },
    ])),
    spool,
    "sha256:lower",
  );
  await tree.applyTar(streamOf(tarFile([{ name: "tmp/.wh.old", data: "" }])), spool, "sha256:upper");
  expect([...tree.entries.keys()].sort()).toEqual(["bin/passwd", "bin/sh", "etc", "etc/passwd"]);
  expect(tree.get("bin/sh")).toMatchObject({ type: "symlink", linkname: "/bin/busybox" });
  expect(readFileSync(tree.get("bin/passwd")!.source!, "utf8")).toBe("root:x:0:0");
});

test("a corrupt layer is a FormatError naming it", async () => {
  const err = await new FileTree().applyTar(
    streamOf(tarFile([{ name: "a", data: "x", encoding: { checksum: "bad" } }])),
    spool,
    "sha256:abc",
  ).catch((e) => e);
  expect(err).toBeInstanceOf(FormatError);
  expect(err.message).toBe("Cannot read layer sha256:abc: corrupt tar header at byte 0");
});
