import { describe, expect, test } from "bun:test";
import type { Descriptor } from "../oci/descriptor.ts";
import { MemoryStore } from "../ends/memory.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { commit, transfer } from "./transfer.ts";

/** A MemoryStore that records how it ended, and can be told to fail a tag. */
class RecordingStore extends MemoryStore {
  ended: string[] = [];
  failTag = false;
  override async tag(desc: Descriptor, tag: string): Promise<void> {
    if (this.failTag) throw new Error(`tag ${tag} refused`);
    await super.tag(desc, tag);
  }
  override close(): Promise<void> {
    this.ended.push("close");
    return super.close();
  }
  override abort(): Promise<void> {
    this.ended.push("abort");
    return super.abort();
  }
}

describe("transfer", () => {
  test("copies, tags every name, then closes", async () => {
    const sample = buildSampleImage();
    const dst = new RecordingStore();
    const result = await transfer(sample.store, dst, sample.root, { tags: ["1.0", "latest"] });
    expect(result.root.digest).toBe(sample.root.digest);
    expect((await dst.resolve("1.0")).digest).toBe(sample.root.digest);
    expect((await dst.resolve("latest")).digest).toBe(sample.root.digest);
    expect(dst.ended).toEqual(["close"]);
  });

  test("a failed tag aborts the destination and is what is thrown", async () => {
    const sample = buildSampleImage();
    const dst = new RecordingStore();
    dst.failTag = true;
    await expect(transfer(sample.store, dst, sample.root, { tags: ["1.0"] })).rejects.toThrow("tag 1.0 refused");
    expect(dst.ended).toEqual(["abort"]);
  });

  test("a missing blob in the source aborts; an aborted signal aborts before close", async () => {
    const sample = buildSampleImage();
    const broken = new MemoryStore();
    for (const [digest, blob] of sample.store.blobs) {
      if (blob.desc.mediaType.includes("layer") === false) broken.blobs.set(digest, blob);
    }
    const dst = new RecordingStore();
    await expect(transfer(broken, dst, sample.root)).rejects.toThrow();
    expect(dst.ended).toEqual(["abort"]);

    const controller = new AbortController();
    const dst2 = new RecordingStore();
    await expect(commit(dst2, controller.signal, () => Promise.resolve(controller.abort()))).rejects.toThrow();
    expect(dst2.ended).toEqual(["abort"]);
  });
});
