/**
 * Non-distributable ("foreign") layers, as Docker Hub's `hello-world` has for windows/amd64, against the real
 * registry (configured, as Docker Hub is, to accept layer `urls`): copy, export, mirror and split copy the
 * manifests and leave the foreign blobs out, as skopeo does (skopeo copies the same index to the same digest);
 * `allowNondistributable` copies them when the source has the bytes; a docker-load file refuses without them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError, UnsupportedError } from "../../lib/errors.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { copy } from "../../lib/verbs/copy.ts";
import { exportImage } from "../../lib/verbs/export/export.ts";
import { mirror } from "../../lib/verbs/mirror/mirror.ts";
import { split } from "../../lib/verbs/split.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspectRaw } from "../helpers/tools.ts";

let registry: TestRegistry;
let sample: SampleImage;
let foreign: { digest: string; mediaType: string; size: number; urls?: string[] };
const work = mkdtempSync(join(tmpdir(), "ferry-foreign-"));
const SRC = () => `${registry.host}/hello/world:1.0`;
const windowsOf = (s: SampleImage) => s.manifests.find((m) => m.platform?.os === "windows")!;

/** Whether the registry has the blob in `repository` (HEAD, as a client would ask). */
async function hasBlob(repository: string, digest: string): Promise<boolean> {
  return await openRegistryStore(parseReference(`${registry.host}/${repository}`)).exists({
    mediaType: "application/octet-stream",
    digest,
    size: 0,
  });
}

async function tagsOf(repository: string): Promise<string[]> {
  return await openRegistryStore(parseReference(`${registry.host}/${repository}`)).listTags().catch(() => []);
}

beforeAll(async () => {
  registry = await startRegistry({ allowUrls: ["^https?://"] });
  sample = await pushSampleImage(SRC(), { foreignLayers: true, mediaType: "docker" });
  foreign = sample.foreignLayers[0].desc;
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("foreign layers", () => {
  test("the source is like hello-world: the index names windows/amd64, whose foreign blob the registry lacks", async () => {
    const windows = JSON.parse(await skopeoInspectRaw(`docker://${registry.host}/hello/world@${windowsOf(sample).digest}`));
    expect(windows.layers[0]).toMatchObject({
      mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      urls: foreign.urls,
    });
    expect(await hasBlob("hello/world", foreign.digest)).toBe(false);
  });

  test("copy registry → registry: the index and every manifest are copied, the foreign blob is not; skopeo agrees", async () => {
    const result = await copy(SRC(), `${registry.host}/copy/world:1.0`);
    expect(result.digest).toBe(sample.root.digest);
    expect(result.platforms).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64"]);
    expect(result.skippedForeignLayers).toEqual([foreign]);
    const raw = await skopeoInspectRaw(`docker://${registry.host}/copy/world@${windowsOf(sample).digest}`);
    expect(JSON.parse(raw).layers[0].digest).toBe(foreign.digest);
    expect(await hasBlob("copy/world", foreign.digest)).toBe(false);
    // skopeo copies the same index, leaving the same blob out, to the same digest.
    await run("skopeo", [
      "copy",
      "-q",
      "--all",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${SRC()}`,
      `docker://${registry.host}/skopeo/world:1.0`,
    ]);
    expect(await skopeoInspectRaw(`docker://${registry.host}/skopeo/world:1.0`)).toBe(
      await skopeoInspectRaw(`docker://${registry.host}/copy/world:1.0`),
    );
  }, 60_000);

  test("the OCI nondistributable layer type is left out the same way", async () => {
    const oci = await pushSampleImage(`${registry.host}/hello/oci:1.0`, { foreignLayers: true, seed: 7 });
    const [{ desc }] = oci.foreignLayers;
    expect(desc.mediaType).toBe("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
    const result = await copy(`${registry.host}/hello/oci:1.0`, `${registry.host}/copy/oci:1.0`);
    expect(result.digest).toBe(oci.root.digest);
    expect(result.skippedForeignLayers).toEqual([desc]);
    expect(await hasBlob("copy/oci", desc.digest)).toBe(false);
  }, 60_000);

  test("copy to an OCI layout keeps the manifest and omits the blob, as skopeo does", async () => {
    const layout = join(work, "layout");
    const result = await copy(SRC(), `oci:${layout}:1.0`);
    expect(result.skippedForeignLayers).toEqual([foreign]);
    const hex = foreign.digest.slice("sha256:".length);
    expect(existsSync(join(layout, "blobs/sha256", hex))).toBe(false);
    expect(existsSync(join(layout, "blobs/sha256", windowsOf(sample).digest.slice(7)))).toBe(true);
    // And back out of the layout into a registry: the same digest, still without the blob.
    const back = await copy(`oci:${layout}:1.0`, `${registry.host}/back/world:1.0`);
    expect(back.digest).toBe(sample.root.digest);
    expect(back.skippedForeignLayers).toEqual([foreign]);
  }, 60_000);

  test("copy of the windows image to a docker-archive refuses: a docker-load file needs every layer", async () => {
    const file = join(work, "windows.tar");
    const err = await copy(SRC(), `docker-archive:${file}`, { platforms: ["windows/amd64"] }).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(err.message).toContain(`Cannot write foreign layer ${foreign.digest} (${foreign.mediaType})`);
    expect(err.message).toContain("--allow-nondistributable-artifacts");
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.part`)).toBe(false);
  }, 60_000);

  test("allowNondistributable copies the foreign blob when the source has it, and says so when it has not", async () => {
    const err = await copy(SRC(), `${registry.host}/allow/none:1.0`, { allowNondistributable: true }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain(`Cannot find foreign layer ${foreign.digest}`);
    expect(await tagsOf("allow/none")).toEqual([]);

    // A layout that does hold the bytes (e.g. pulled with the flag from a registry serving them).
    const full = buildSampleImage({ foreignLayers: true, mediaType: "docker" });
    const [{ desc, bytes }] = full.foreignLayers;
    full.store.blobs.set(desc.digest, { desc, bytes });
    const layout = join(work, "full");
    const store = await OciLayoutStore.open(layout, { create: true });
    await copyGraph(full.store, store, full.root, { foreignLayers: "copy" });
    await store.tag(full.root, "1.0");
    await store.close();

    const result = await copy(`oci:${layout}:1.0`, `${registry.host}/allow/full:1.0`, { allowNondistributable: true });
    expect(result.skippedForeignLayers).toEqual([]);
    expect(await hasBlob("allow/full", desc.digest)).toBe(true);

    const file = join(work, "windows-full.tar");
    await copy(`oci:${layout}:1.0`, `docker-archive:${file}`, {
      platforms: ["windows/amd64"],
      allowNondistributable: true,
    });
    const listing = (await run("tar", ["-tf", file])).stdout.split("\n");
    expect(listing).toContain(`blobs/sha256/${desc.digest.slice(7)}`);

    const exported = await exportImage(`oci:${layout}:1.0`, join(work, "export-full"), {
      platforms: ["windows/amd64"],
      allowNondistributable: true,
    });
    const names = (await run("tar", ["-tzf", exported.files[0].path])).stdout.split("\n");
    expect(names).toContain(`blobs/sha256/${desc.digest.slice(7)}`);
  }, 60_000);

  test("export --format docker refuses the windows platform up front, naming the layer and the flag", async () => {
    const dir = join(work, "export-docker");
    const err = await exportImage(SRC(), dir).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(err.message).toBe(
      `Cannot export windows/amd64 as a docker-load file: it needs every layer, and ${foreign.digest} ` +
        `(${foreign.mediaType}) is a foreign layer; leave the platform out with --platform, use --format oci, ` +
        "or add --allow-nondistributable-artifacts if the source has the bytes",
    );
    expect(existsSync(dir) ? (await run("ls", ["-A", dir])).stdout.trim() : "").toBe("");
    const linux = await exportImage(SRC(), dir, { platforms: ["linux/amd64"] });
    expect(linux.files.map((f) => f.platform)).toEqual(["linux/amd64"]);
  }, 60_000);

  test("export --format oci-archive and oci keep the manifest and omit the blob", async () => {
    const file = join(work, "world.tar");
    const archive = await exportImage(SRC(), work, { format: "oci-archive", output: file });
    expect(archive.skippedForeignLayers).toEqual([foreign]);
    const listing = (await run("tar", ["-tf", file])).stdout.split("\n");
    expect(listing).toContain(`blobs/sha256/${windowsOf(sample).digest.slice(7)}`);
    expect(listing).not.toContain(`blobs/sha256/${foreign.digest.slice(7)}`);
    const index = JSON.parse((await run("tar", ["-xOf", file, "index.json"])).stdout);
    const named = index.manifests.find((m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === "1.0"
    );
    expect(named.digest).toBe(sample.root.digest);

    const layout = join(work, "export-oci");
    const oci = await exportImage(SRC(), layout, { format: "oci" });
    expect(oci.skippedForeignLayers).toEqual([foreign]);
    expect(JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests[0].digest).toBe(sample.root.digest);
  }, 60_000);

  test("mirror copies the image, leaving the foreign blob out, and reports it", async () => {
    const result = await mirror({ target: `${registry.host}/mirror`, sources: [{ image: SRC() }] });
    expect(result).toMatchObject({ copied: 1, failed: 0 });
    expect(result.images[0].skippedForeignLayers).toEqual([foreign]);
    expect(await skopeoInspectRaw(`docker://${registry.host}/mirror/hello/world:1.0`)).toBe(
      new TextDecoder().decode(sample.store.get(sample.root.digest)!),
    );
  }, 60_000);

  test("split tags every platform, windows too; a split that fails leaves no tag behind", async () => {
    const result = await split(SRC(), `${registry.host}/split/world`, { tagTemplate: "{tag}-{label}" });
    expect(result.tags.map((t) => t.tag)).toEqual(["1.0-amd64", "1.0-arm64", "1.0-armv7", "1.0-windows-amd64"]);
    expect(result.tags.map((t) => t.platform)).toEqual([
      "linux/amd64",
      "linux/arm64/v8",
      "linux/arm/v7",
      "windows/amd64",
    ]);
    expect(result.skippedForeignLayers).toEqual([foreign]);

    // The windows image (last) cannot be copied with its foreign layer: the linux tags before it must not appear.
    const err = await split(SRC(), `${registry.host}/split/failed`, {
      tagTemplate: "{tag}-{label}",
      allowNondistributable: true,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(await tagsOf("split/failed")).toEqual([]);
  }, 60_000);
});
