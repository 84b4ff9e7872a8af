import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormatError, IntegrityError } from "../errors.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { copyGraph } from "./copy_graph.ts";
import { parseReceipt, readReceipt, receiptChecksum, serializeReceipt, takeReceipt } from "./receipt.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-receipt-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const enc = new TextEncoder();

async function layoutReceipt() {
  const sample = buildSampleImage();
  const dir = join(work, `layout-${Math.random().toString(36).slice(2)}`);
  const layout = await OciLayoutStore.open(dir, { create: true });
  await copyGraph(sample.store, layout, sample.root);
  await layout.tag(sample.root, "1.0");
  await layout.close();
  return { sample, receipt: await takeReceipt([dir], { now: new Date("2026-01-01T00:00:00Z") }) };
}

describe("takeReceipt of an OCI layout", () => {
  test("every tag's root, every manifest, every blob with its size; a checksum over the rest", async () => {
    const { sample, receipt } = await layoutReceipt();
    expect(receipt.version).toBe(1);
    expect(receipt.created).toBe("2026-01-01T00:00:00Z");
    expect(Object.values(receipt.tags)).toEqual([sample.root.digest]);
    expect(receipt.manifests).toEqual([sample.root.digest, ...sample.manifests.map((m) => m.digest)].sort());
    // 3 configs, 3 platform layers, 1 shared base layer
    expect(receipt.blobs.length).toBe(7);
    for (const b of receipt.blobs) expect(sample.store.get(b.digest)!.byteLength).toBe(b.size);
    const { sha256, ...body } = receipt;
    expect(receiptChecksum(body)).toBe(sha256);
    expect(parseReceipt(enc.encode(serializeReceipt(receipt)), "r.json")).toEqual(receipt);
  });
});

describe("parseReceipt is defensive", () => {
  test("a changed field is an IntegrityError naming the file", async () => {
    const { receipt } = await layoutReceipt();
    const tampered = { ...receipt, blobs: receipt.blobs.slice(1) };
    expect(() => parseReceipt(enc.encode(JSON.stringify(tampered)), "r.json")).toThrow(IntegrityError);
    expect(() => parseReceipt(enc.encode(JSON.stringify(tampered)), "r.json")).toThrow(/Cannot use receipt r\.json/);
  });

  test("malformed documents are FormatErrors, each with its reason", async () => {
    const { receipt } = await layoutReceipt();
    const cases: [unknown, RegExp][] = [
      ["not json{", /not JSON/],
      [[1], /not a JSON object/],
      [{ ...receipt, version: 2 }, /version 2 is not 1/],
      [{ ...receipt, created: "yesterday" }, /created is not a time/],
      [{ ...receipt, tags: { a: "sha256:nope" } }, /tag "a" has no digest/],
      [{ ...receipt, manifests: ["x"] }, /manifests is not a list of digests/],
      [{ ...receipt, blobs: [{ digest: receipt.blobs[0].digest, size: -1 }] }, /blobs is not a list/],
      [{ ...receipt, sha256: undefined }, /no sha256/],
      [{ ...receipt, extra: 1 }, /unknown field "extra"/],
    ];
    for (const [doc, reason] of cases) {
      const bytes = enc.encode(typeof doc === "string" ? doc : JSON.stringify(doc));
      expect(() => parseReceipt(bytes, "r.json")).toThrow(FormatError);
      expect(() => parseReceipt(bytes, "r.json")).toThrow(reason);
    }
  });

  test("readReceipt: a missing file is a file error; a file read back equals the receipt", async () => {
    const { receipt } = await layoutReceipt();
    await expect(readReceipt(join(work, "none.json"))).rejects.toThrow(/none\.json/);
    const path = join(work, "r.json");
    writeFileSync(path, serializeReceipt(receipt));
    expect(await readReceipt(path)).toEqual(receipt);
  });
});
