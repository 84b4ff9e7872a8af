import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError } from "../../lib/errors.ts";
import { copy } from "../../lib/verbs/copy.ts";
import { inspect } from "../../lib/verbs/inspect.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";

let a: TestRegistry;
let b: TestRegistry;
let tmp: string;
beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-copy-"));
}, 30_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

const archs = (index: { manifests: { platform: { architecture: string; variant?: string } }[] }) =>
  index.manifests.map((m) => `${m.platform.architecture}${m.platform.variant ?? ""}`).sort();

describe("ferry copy between two real registries", () => {
  test("keeps the index digest and every platform (skopeo confirms)", async () => {
    const sample = await pushSampleImage(`${a.host}/sample/app:1.0`, { attestations: true });
    const result = await copy(`${a.host}/sample/app:1.0`, `docker://${b.host}/mirror/app:1.0`);
    expect(result.digest).toBe(sample.root.digest);
    expect(result.filtered).toBe(false);
    const raw = await skopeoInspectRaw(`docker://${b.host}/mirror/app:1.0`);
    expect(raw).toBe(await skopeoInspectRaw(`docker://${a.host}/sample/app:1.0`));
    expect(archs(JSON.parse(raw)).filter((x) => x !== "unknown")).toEqual(["amd64", "arm64v8", "armv7"]);
    for (const m of sample.manifests) {
      const child = await skopeoInspectRaw(`docker://${b.host}/mirror/app@${m.digest}`);
      expect(child.length).toBe(m.size);
    }
  }, 60_000);

  test("a second copy transfers nothing", async () => {
    await pushSampleImage(`${a.host}/sample/again:1.0`);
    await copy(`${a.host}/sample/again:1.0`, `${b.host}/mirror/again:1.0`);
    const second = await copy(`${a.host}/sample/again:1.0`, `${b.host}/mirror/again:1.0`);
    expect(second).toMatchObject({ copied: 0, bytes: 0 });
  }, 60_000);

  test("a platform filter writes a new index of the chosen platforms", async () => {
    const sample = await pushSampleImage(`${a.host}/sample/filter:1.0`, { attestations: true });
    const result = await copy(`${a.host}/sample/filter:1.0`, `${b.host}/mirror/filter:1.0`, { platforms: ["arm64", "linux/arm/v7"] });
    expect(result.filtered).toBe(true);
    expect(result.digest).not.toBe(sample.root.digest);
    expect(result.platforms).toEqual(["linux/arm64/v8", "linux/arm/v7"]);
    const index = JSON.parse(await skopeoInspectRaw(`docker://${b.host}/mirror/filter:1.0`));
    expect(index.manifests.filter((m: { platform: { os: string } }) => m.platform.os !== "unknown").length).toBe(2);
    // Child digests are preserved even though the index is new.
    const kept = sample.manifests.filter((m) => m.platform?.architecture !== "amd64").map((m) => m.digest).sort();
    expect(index.manifests.filter((m: { platform: { os: string } }) => m.platform.os !== "unknown").map((m: { digest: string }) => m.digest).sort()).toEqual(kept);
  }, 60_000);

  test("within one registry blobs are mounted, not copied", async () => {
    await pushSampleImage(`${a.host}/sample/mount:1.0`);
    const result = await copy(`${a.host}/sample/mount:1.0`, `${a.host}/other/mount:1.0`);
    expect(result.mounted).toBeGreaterThan(0);
    expect(result.bytes).toBe(0);
  }, 60_000);

  test("a single-platform source copies as it is, and to an OCI layout", async () => {
    const sample = await pushSampleImage(`${a.host}/sample/single:1.0`);
    const amd64 = sample.manifests.find((m) => m.platform?.architecture === "amd64")!;
    const layout = join(tmp, "single");
    const result = await copy(`${a.host}/sample/single@${amd64.digest}`, `oci:${layout}:amd64`);
    expect(result.digest).toBe(amd64.digest);
    expect(result.platforms).toEqual(["linux/amd64"]);
    const info = await skopeoInspect(`oci:${layout}:amd64`);
    expect(info.Architecture).toBe("amd64");
  }, 60_000);

  test("a copy out of a gzipped archive removes its spool directory", async () => {
    await pushSampleImage(`${a.host}/sample/archive:1.0`);
    const archive = join(tmp, "archive.tar.gz");
    await copy(`${a.host}/sample/archive:1.0`, `oci-archive:${archive}:1.0`);
    const magic = new Uint8Array(await Bun.file(archive).slice(0, 2).arrayBuffer());
    expect([...magic]).toEqual([0x1f, 0x8b]); // a .tar.gz name gets a gzip file
    const before = await readdir(tmpdir());
    const result = await copy(archive, `${b.host}/from-archive/app:1.0`, { platforms: ["arm64"] });
    expect(result.platforms).toEqual(["linux/arm64/v8"]);
    const leftovers = (await readdir(tmpdir())).filter((n) => n.startsWith("ferry-import-") && !before.includes(n));
    expect(leftovers).toEqual([]);
  }, 60_000);

  test("a missing platform is an error listing the platforms there are", async () => {
    await pushSampleImage(`${a.host}/sample/missing:1.0`);
    const err = await copy(`${a.host}/sample/missing:1.0`, `${b.host}/x/missing:1.0`, { platforms: ["s390x"] }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("linux/arm/v7");
  }, 60_000);

  test("inspect lists the platforms", async () => {
    const sample = await pushSampleImage(`${a.host}/sample/inspect:1.0`, { attestations: true });
    const info = await inspect(`${a.host}/sample/inspect:1.0`);
    expect(info.digest).toBe(sample.root.digest);
    expect(info.manifests.filter((m) => !m.attestation).map((m) => m.platform)).toEqual([
      "linux/amd64",
      "linux/arm64/v8",
      "linux/arm/v7",
    ]);
  }, 60_000);
});
