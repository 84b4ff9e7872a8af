import { afterAll, beforeAll, expect, test } from "bun:test";
import { FormatError } from "../errors.ts";
import { descriptorOf } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { streamOf } from "../stream/read_limited.ts";
import { startRegistry, type TestRegistry } from "../../tests/helpers/registry.ts";
import { openRegistryStore } from "./registry.ts";

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startRegistry();
}, 30_000);
afterAll(async () => {
  await registry?.stop();
});

test("ref, origin and the shared client", () => {
  const hub = openRegistryStore({ registry: "docker.io", repository: "library/alpine", tag: "3.20" });
  expect(hub.ref).toBe("docker.io/library/alpine:3.20");
  expect(hub.origin).toEqual({ registry: "registry-1.docker.io", repository: "library/alpine" });
  const pinned = openRegistryStore({
    registry: "localhost:5000",
    repository: "app",
    digest: `sha256:${"a".repeat(64)}`,
  });
  expect(pinned.ref).toBe(`localhost:5000/app@sha256:${"a".repeat(64)}`);
  expect(openRegistryStore({ registry: "docker.io", repository: "x" }).client).toBe(hub.client);
});

test("tag() of a manifest this store never saw fetches its exact bytes by digest first", async () => {
  const config = new TextEncoder().encode("{}");
  const configDesc = descriptorOf(config, MediaType.OciConfig);
  // Deliberately odd spacing: re-serialising would change the digest.
  const manifest = new TextEncoder().encode(
    `{ "schemaVersion": 2, "mediaType": "${MediaType.OciManifest}", "config": ${
      JSON.stringify(configDesc)
    }, "layers": [] }`,
  );
  const desc = descriptorOf(manifest, MediaType.OciManifest);
  const writer = openRegistryStore({ registry: registry.host, repository: "tagging/app" });
  await writer.push(configDesc, streamOf(config));
  await writer.push(desc, streamOf(manifest));
  const other = openRegistryStore({ registry: registry.host, repository: "tagging/app" });
  await other.tag(desc, "v1");
  expect(await other.resolve("v1")).toEqual(desc);
  expect(await other.exists(desc)).toBe(true);
  await other.close();
  await other.abort();
});

test("a malformed digest or tag never becomes a URL: FormatError before any request", async () => {
  // Nothing listens on port 9: a request would be a NetworkError, not a FormatError.
  const store = openRegistryStore({ registry: "127.0.0.1:9", repository: "app" });
  const bad = { mediaType: MediaType.OciLayerGzip, digest: "sha256:../../../../etc/passwd", size: 1 };
  await expect(store.fetch(bad)).rejects.toBeInstanceOf(FormatError);
  await expect(store.exists(bad)).rejects.toBeInstanceOf(FormatError);
  await expect(store.exists({ ...bad, digest: `md5:${"a".repeat(32)}` })).rejects.toBeInstanceOf(FormatError);
  await expect(store.push(bad, streamOf(new Uint8Array(1)))).rejects.toBeInstanceOf(FormatError);
  await expect(store.mount(bad, "other")).rejects.toBeInstanceOf(FormatError);
  await expect(store.resolve("../../x")).rejects.toBeInstanceOf(FormatError);
});
