import { describe, expect, test } from "bun:test";
import { tarFile } from "../../tests/helpers/crafted_tar.ts";
import { decodeHeader, encodeHeader, isExtension, isZeroBlock, parsePax, TAR_BLOCK, TarExtensions } from "./header.ts";

const bad = (reason: string) => new Error(reason);
const enc = new TextEncoder();

/** Decodes the header block(s) `encodeHeader` wrote, extensions applied. */
function decodeAll(blocks: Uint8Array) {
  const ext = new TarExtensions();
  let at = 0;
  for (;;) {
    const h = decodeHeader(blocks.subarray(at, at + TAR_BLOCK), at, bad);
    const size = Math.ceil(h.size / TAR_BLOCK) * TAR_BLOCK;
    if (!isExtension(h.typeflag)) {
      expect(at + TAR_BLOCK).toBe(blocks.byteLength);
      return ext.apply(h, bad);
    }
    ext.add(h.typeflag, blocks.subarray(at + TAR_BLOCK, at + TAR_BLOCK + h.size), bad);
    at += TAR_BLOCK + size;
  }
}

describe("encodeHeader / decodeHeader", () => {
  test("round-trip every kind and field, long names and links through pax or the ustar prefix", () => {
    const cases = [
      { name: "a", kind: "file", size: 3, mode: 0o4755, uid: 1000, gid: 50, mtime: 1_700_000_000 },
      { name: "d/", kind: "dir", size: 0, mode: 0o1777 },
      { name: "l", kind: "symlink", size: 0, linkname: `/${"t".repeat(150)}` },
      { name: "h", kind: "hardlink", size: 0, linkname: "a" },
      { name: "dev/null", kind: "char", size: 0, devmajor: 1, devminor: 3 },
      { name: "sda", kind: "block", size: 0, devmajor: 8, devminor: 0 },
      { name: "p", kind: "fifo", size: 0 },
      { name: `${"d".repeat(120)}/${"f".repeat(90)}`, kind: "file", size: 1 }, // ustar prefix
      { name: `${"x".repeat(200)}/${"y".repeat(120)}`, kind: "file", size: 1 }, // pax path
      { name: "ünïcödé/名前", kind: "file", size: 1 },
      { name: "big", kind: "file", size: 2 ** 33 + 5 }, // base-256
      { name: "ids", kind: "file", size: 0, uid: 2 ** 24, gid: 2 ** 22 }, // pax uid/gid
      { name: "old", kind: "file", size: 0, mtime: -1 }, // pax mtime
    ] as const;
    for (const c of cases) {
      const h = decodeAll(encodeHeader(c));
      expect(h.name).toBe(c.kind === "dir" ? c.name : c.name);
      expect(h.kind).toBe(c.kind);
      expect(h.size).toBe(c.size);
      expect(h.mode).toBe("mode" in c ? c.mode : 0o644);
      expect(h.uid).toBe("uid" in c ? c.uid : 0);
      expect(h.gid).toBe("gid" in c ? c.gid : 0);
      expect(h.mtime).toBe("mtime" in c ? c.mtime : 0);
      expect(h.linkname).toBe("linkname" in c ? c.linkname : "");
      expect([h.devmajor, h.devminor]).toEqual("devmajor" in c ? [c.devmajor, c.devminor] : [0, 0]);
    }
  });

  test("a directory gets its trailing slash; a big size is GNU base-256", () => {
    expect(decodeAll(encodeHeader({ name: "etc", kind: "dir", size: 0 })).name).toBe("etc/");
    expect(encodeHeader({ name: "big", kind: "file", size: 2 ** 33 })[124]).toBe(0x80);
  });

  test("signed checksums are accepted, wrong ones refused with the block's offset", () => {
    const name = "é".repeat(20); // bytes > 127: the signed and unsigned sums differ
    const signed = tarFile([{ name, data: "x", encoding: { checksum: "signed" } }]);
    expect(decodeHeader(signed.subarray(0, TAR_BLOCK), 0, bad).name).toBe(name);
    const wrong = tarFile([{ name: "a", data: "x" }, { name: "b", data: "y", encoding: { checksum: "bad" } }]);
    expect(decodeHeader(wrong.subarray(0, TAR_BLOCK), 0, bad).name).toBe("a");
    expect(() => decodeHeader(wrong.subarray(1024, 1024 + TAR_BLOCK), 1024, bad)).toThrow(
      "corrupt tar header at byte 1024",
    );
    expect(() => decodeHeader(new Uint8Array(TAR_BLOCK).fill(0x78), 0, bad)).toThrow("corrupt tar header at byte 0");
  });

  test("a base-256 size and the zero end block", () => {
    const tar = tarFile([{ name: "a", data: "hello", encoding: { size: "base256" } }]);
    expect(decodeHeader(tar.subarray(0, TAR_BLOCK), 0, bad).size).toBe(5);
    expect(isZeroBlock(tar.subarray(tar.byteLength - TAR_BLOCK))).toBe(true);
    expect(isZeroBlock(tar.subarray(0, TAR_BLOCK))).toBe(false);
  });
});

describe("TarExtensions and parsePax", () => {
  test("pax records win over GNU long names, which win over ustar; g headers are ignored; all cleared after", () => {
    const ext = new TarExtensions();
    const header = decodeHeader(encodeHeader({ name: "short", kind: "symlink", size: 0, linkname: "t" }), 0, bad);
    ext.add("g", enc.encode("20 path=global/name\n"), bad);
    ext.add("L", enc.encode("gnu/long/name\0"), bad);
    ext.add("K", enc.encode("gnu/long/link\0"), bad);
    expect(ext.apply(header, bad)).toMatchObject({ name: "gnu/long/name", linkname: "gnu/long/link" });
    expect(ext.apply(header, bad)).toMatchObject({ name: "short", linkname: "t" });
    ext.add("L", enc.encode("gnu/name\0"), bad);
    ext.add("x", enc.encode("17 path=pax/name\n10 size=7\n12 uid=1000\n"), bad);
    expect(ext.apply(header, bad)).toMatchObject({ name: "pax/name", size: 7, uid: 1000 });
  });

  test("lengths count bytes, multi-byte values included; a malformed record is refused", () => {
    expect(parsePax(enc.encode("14 path=ü/ß\n"), bad)).toEqual({ path: "ü/ß" });
    expect(parsePax(enc.encode("8 a=bcd\n\0\0\0"), bad)).toEqual({ a: "bcd" });
    expect(() => parsePax(enc.encode("99 path=x\n"), bad)).toThrow("corrupt pax header");
    expect(() => parsePax(enc.encode("path=x\n"), bad)).toThrow("corrupt pax header");
    const ext = new TarExtensions();
    ext.add("x", enc.encode("11 size=-1\n"), bad);
    expect(() => ext.apply(decodeHeader(encodeHeader({ name: "a", kind: "file", size: 0 }), 0, bad), bad)).toThrow(
      "corrupt pax record (size=-1)",
    );
  });
});
