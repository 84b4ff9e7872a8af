import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DigestMismatchError } from "../errors.ts";
import { descriptorOf } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { streamOf } from "../stream/read_limited.ts";
import { verifyStream } from "../stream/verify.ts";
import { startRegistry, type TestRegistry } from "../../tests/helpers/registry.ts";
import { RegistryClient } from "./client.ts";
import { mountBlob, uploadBlob } from "./upload.ts";

// Against the real docker-registry, configured to send relative Location headers.
let registry: TestRegistry;
let client: RegistryClient;
beforeAll(async () => {
  registry = await startRegistry({ relativeUrls: true });
  client = new RegistryClient(registry.host);
}, 30_000);
afterAll(async () => {
  await registry?.stop();
});

const bytes = new Uint8Array(50_000).map((_, i) => (i * 31) % 256);
const desc = descriptorOf(bytes, MediaType.OciLayer);

async function blobStatus(repository: string, digest = desc.digest): Promise<number> {
  const res = await fetch(`http://${registry.host}/v2/${repository}/blobs/${digest}`, { method: "HEAD" });
  return res.status;
}

describe("uploadBlob with relative Locations", () => {
  test.each([
    ["patch", {}],
    ["put", { mode: "put" as const }],
    ["chunks", { chunkSize: 16_384 }],
    ["one exact chunk", { chunkSize: 50_000 }],
  ])("%s", async (name, options) => {
    const repository = `upload/${name.replaceAll(" ", "-")}`;
    await uploadBlob(client, repository, desc, streamOf(bytes), options);
    expect(await blobStatus(repository)).toBe(200);
    const got = new Uint8Array(
      await (await fetch(`http://${registry.host}/v2/${repository}/blobs/${desc.digest}`)).arrayBuffer(),
    );
    expect(got).toEqual(bytes);
  });

  test("an empty blob", async () => {
    const empty = descriptorOf(new Uint8Array(), MediaType.OciLayer);
    await uploadBlob(client, "upload/empty", empty, streamOf(new Uint8Array()));
    expect(await blobStatus("upload/empty", empty.digest)).toBe(200);
  });
});

describe("a body that fails is never committed", () => {
  test.each([["patch", {}], ["put", { mode: "put" as const }], ["chunks", { chunkSize: 8192 }]])(
    "%s",
    async (name, options) => {
      const wrong = bytes.slice();
      wrong[100] ^= 1;
      const repository = `upload/bad-${name}`;
      const body = streamOf(wrong).pipeThrough(verifyStream(desc));
      await expect(uploadBlob(client, repository, desc, body, options)).rejects.toBeInstanceOf(DigestMismatchError);
      expect(await blobStatus(repository)).toBe(404);
    },
  );
});

test("mountBlob: true when the source repository has the blob, false (session cancelled) when not", async () => {
  await uploadBlob(client, "mount/from", desc, streamOf(bytes));
  expect(await mountBlob(client, "mount/to", desc, "mount/from")).toBe(true);
  expect(await blobStatus("mount/to")).toBe(200);
  const other = descriptorOf(new Uint8Array([1, 2, 3]), MediaType.OciLayer);
  expect(await mountBlob(client, "mount/to", other, "mount/from")).toBe(false);
});
