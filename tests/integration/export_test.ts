/**
 * End to end: ferry exports a multi-arch image and real tools read the files — dockerd (docker load,
 * inspect, run), skopeo, umoci, and containerd's own importer (ctr).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportFromStore as exportImage, type ExportResult } from "../../lib/engine/platform_files.ts";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { platformLabel } from "../../lib/oci/platform.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { type TestDocker, startDocker } from "../helpers/docker.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect, skopeoInspectRaw, umociUnpack } from "../helpers/tools.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le"];
const LABELS = ["amd64", "arm64", "armv7", "armv6", "386", "ppc64le"];
const busybox = new Uint8Array(readFileSync("/bin/busybox")); // Debian busybox-static (amd64), never checked in
const sampleOptions = {
  platforms: PLATFORMS,
  attestations: true,
  files: { "linux/amd64": { "bin/busybox": busybox } },
  cmd: ["/bin/busybox", "cat", "/platform.txt"],
  baseLayerSize: 2 * 1024 * 1024,
  layerSize: 64 * 1024,
};
const sample = buildSampleImage(sampleOptions);
const work = mkdtempSync(join(tmpdir(), "ferry-export-it-"));
let engine: TestDocker;
let registry: TestRegistry;

beforeAll(async () => {
  [engine, registry] = await Promise.all([startDocker(), startRegistry()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([engine?.stop(), registry?.stop()]);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

function json<T>(bytes: Uint8Array | undefined): T {
  return JSON.parse(new TextDecoder().decode(bytes));
}
const configOf = (m: Descriptor) => json<{ config: Descriptor }>(sample.store.get(m.digest)).config;
const diffIdsOf = (m: Descriptor) => json<{ rootfs: { diff_ids: string[] } }>(sample.store.get(configOf(m).digest)).rootfs.diff_ids;

/** A plain-tar copy of a .tar.gz, beside it. */
async function gunzipped(path: string): Promise<string> {
  const out = path.replace(/\.gz$/, "");
  await run("sh", ["-c", 'gzip -dc "$1" > "$2"', "sh", path, out]);
  return out;
}

/** Every image ID in the daemon (dangling ones too). */
async function imageIds(): Promise<string[]> {
  const out = (await engine.docker(["image", "ls", "-a", "-q", "--no-trunc"])).stdout.trim();
  return out === "" ? [] : [...new Set(out.split("\n"))];
}

async function checkDockerLoad(result: ExportResult, repository: string): Promise<void> {
  expect(result.files.map((f) => f.path.split("/").at(-1))).toEqual(LABELS.map((l) => `image-${l}.tar.gz`));
  for (const [i, file] of result.files.entries()) {
    const name = `${repository}:1.0-${LABELS[i]}`;
    const loaded = await engine.docker(["load", "-i", file.path]);
    expect(loaded.stdout).toContain(`Loaded image: ${name}`);
    const [info] = JSON.parse((await engine.docker(["image", "inspect", name])).stdout);
    const platform = sample.manifests[i].platform!;
    expect(info.Architecture).toBe(platform.architecture);
    expect(info.Variant ?? "").toBe(platform.variant ?? "");
    expect(info.Id).toBe(configOf(sample.manifests[i]).digest);
    expect(info.RootFS.Layers).toEqual(diffIdsOf(sample.manifests[i]));
  }
  const ran = await engine.docker(["run", "--rm", "--network", "none", `${repository}:1.0-amd64`]);
  expect(ran.stdout).toBe("linux/amd64\n");
}

describe("export to docker-load tarballs", () => {
  test("from memory: every platform loads into dockerd, the amd64 one runs, skopeo reads each", async () => {
    const dir = join(work, "mem");
    const result = await exportImage(sample.store, sample.root, dir, { repository: "app", tag: "1.0" });
    await checkDockerLoad(result, "app");
    for (const [i, file] of result.files.entries()) {
      // skopeo 1.9 cannot read a gzipped docker-archive at all (not even one made by gzip): gunzip first.
      const info = await skopeoInspect(`docker-archive:${await gunzipped(file.path)}`);
      expect(info.Architecture).toBe(sample.manifests[i].platform!.architecture);
      expect(info.Os).toBe("linux");
    }
  }, 180_000);

  test("from a real registry: same result, pulled through RegistryStore", async () => {
    const ref = `${registry.host}/export/app:1.0`;
    await pushSampleImage(ref, sampleOptions);
    const src = openRegistryStore(parseReference(ref));
    const root = await src.resolve("1.0");
    expect(root.digest).toBe(sample.root.digest);
    const dir = join(work, "registry");
    const result = await exportImage(src, root, dir, { repository: `${registry.host}/export/app`, tag: "1.0" });
    // Each file also carries the source index and its platform's attestation, unlisted: docker loads one image per file.
    expect(result.files.map((f) => f.index)).toEqual(LABELS.map(() => sample.root.digest));
    await checkDockerLoad(result, `${registry.host}/export/app`);
    // Nothing else (no attestation "image", no dangling ID) in this test file's private dockerd.
    expect((await imageIds()).sort()).toEqual(sample.manifests.map((m) => configOf(m).digest).sort());
  }, 180_000);

  test("containerd's importer (ctr) takes a per-platform file", async () => {
    // containerd 1.6's importer reads plain tar only; moby's containerd image store decompresses before it.
    const file = await gunzipped(join(work, "mem", "image-arm64.tar.gz"));
    const ctr = ["--address", engine.containerdSocket, "-n", "ferrytest"];
    await run("ctr", [...ctr, "images", "import", "--all-platforms", "--no-unpack", file]);
    const names = (await run("ctr", [...ctr, "images", "ls", "-q"])).stdout.trim().split("\n");
    expect(names).toEqual(["docker.io/library/app:1.0-arm64"]);
    await run("ctr", [...ctr, "images", "check"]);
    // The carried index and attestation are in the file, unlisted: containerd names exactly one image.
    const listed = (await run("tar", ["-xOf", file, "index.json"])).stdout;
    expect(JSON.parse(listed).manifests.length).toBe(1);
    const entries = (await run("tar", ["-tf", file])).stdout;
    expect(entries).toContain(`blobs/sha256/${sample.root.digest.slice(7)}`);
    expect(entries).toContain(`blobs/sha256/${sample.attestations[1].digest.slice(7)}`);
  }, 60_000);
});

describe("export to an OCI archive", () => {
  test("skopeo sees the source index digest, umoci unpacks every platform, docker and ctr load it", async () => {
    const dir = join(work, "oci");
    const { files } = await exportImage(sample.store, sample.root, dir, { repository: "ociapp", tag: "1.0", format: "oci-archive" });
    const file = files[0].path;
    const raw = await skopeoInspectRaw(`oci-archive:${file}:1.0`);
    expect(`sha256:${createHash("sha256").update(raw).digest("hex")}`).toBe(sample.root.digest);
    const layout = join(work, "oci-layout");
    mkdirSync(layout);
    await run("tar", ["-xf", file, "-C", layout]);
    for (const m of sample.manifests) {
      const label = platformLabel(m.platform!);
      const bundle = join(work, `bundle-${label}`);
      await umociUnpack(`${layout}:1.0-${label}`, bundle);
      expect(readFileSync(join(bundle, "rootfs", "platform.txt"), "utf8")).toBe(`${PLATFORMS[LABELS.indexOf(label)]}\n`);
    }
    const loaded = await engine.docker(["load", "-i", file]);
    for (const label of LABELS) expect(loaded.stdout).toContain(`Loaded image: ociapp:1.0-${label}`);
    const ctr = ["--address", engine.containerdSocket, "-n", "ferrytest"];
    await run("ctr", [...ctr, "images", "import", "--all-platforms", "--no-unpack", file]);
    const names = (await run("ctr", [...ctr, "images", "ls", "-q"])).stdout.trim().split("\n");
    expect(names).toEqual([
      "docker.io/library/app:1.0-arm64",
      "docker.io/library/ociapp:1.0",
      ...LABELS.map((l) => `docker.io/library/ociapp:1.0-${l}`).sort(),
    ]);
  }, 180_000);
});
