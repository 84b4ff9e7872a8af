/**
 * `ferry split` against the real registry (skopeo reads the tags back), into an OCI layout, and the real Docker
 * engine pulling a list made by `ferry manifest` from split tags, and each split tag, checking the architecture.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../lib/errors.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { buildIndex } from "../../lib/oci/index_edit.ts";
import { streamOf } from "../../lib/stream/read_limited.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { bare } from "../../lib/oci/descriptor.ts";
import { createManifestList, pushManifestList } from "../../lib/verbs/manifest/list.ts";
import { split } from "../../lib/verbs/split.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";

let registry: TestRegistry;
let engine: TestDocker;
let tmp: string;
beforeAll(async () => {
  [registry, engine] = await Promise.all([startRegistry(), startDocker()]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-split-"));
}, 90_000);
afterAll(async () => {
  await Promise.all([registry?.stop(), engine?.stop()]);
  await rm(tmp, { recursive: true, force: true });
}, 60_000);

const digestOfTag = async (location: string) => digestOf(new TextEncoder().encode(await skopeoInspectRaw(location)));

describe("ferry split", () => {
  test("one tag per platform, each the source's own child manifest (skopeo confirms)", async () => {
    const sample = await pushSampleImage(`${registry.host}/split/app:1.0`, { attestations: true });
    const result = await split(`${registry.host}/split/app:1.0`, `${registry.host}/split/out`);
    expect(result.tags.map((t) => t.tag)).toEqual(["1.0-amd64", "1.0-arm64", "1.0-armv7"]);
    expect(result.tags.map((t) => t.digest)).toEqual(sample.manifests.map((m) => m.digest));
    expect(result.index).toBeUndefined();
    for (const t of result.tags) {
      expect(await digestOfTag(`docker://${registry.host}/split/out:${t.tag}`)).toBe(t.digest);
    }
    const armv7 = await skopeoInspect(`docker://${registry.host}/split/out:1.0-armv7`);
    expect(armv7.Architecture).toBe("arm");
    const noIndex = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/split/out:1.0`], {
      allowFailure: true,
    });
    expect(noIndex.code).not.toBe(0);
  }, 60_000);

  test("--with-index keeps the original index; a platform filter writes a new one of the chosen platforms", async () => {
    const sample = await pushSampleImage(`${registry.host}/split/idx:2.0`, { attestations: true, seed: 5 });
    const whole = await split(`${registry.host}/split/idx:2.0`, `${registry.host}/split/idx-out`, { withIndex: true });
    expect(whole.index).toEqual({ tag: "2.0", digest: sample.root.digest, filtered: false });
    expect(await digestOfTag(`docker://${registry.host}/split/idx-out:2.0`)).toBe(sample.root.digest);
    const some = await split(`${registry.host}/split/idx:2.0`, `${registry.host}/split/idx-some:v2`, {
      platforms: ["arm64,linux/arm/v7"],
      withIndex: true,
      tagTemplate: "{tag}-{os}-{label}",
    });
    expect(some.tags.map((t) => t.tag)).toEqual(["v2-linux-arm64", "v2-linux-armv7"]);
    expect(some.index!.filtered).toBe(true);
    const index = JSON.parse(await skopeoInspectRaw(`docker://${registry.host}/split/idx-some:v2`));
    const images = index.manifests.filter((m: { platform: { os: string } }) => m.platform.os !== "unknown");
    expect(images.map((m: { digest: string }) => m.digest)).toEqual(sample.manifests.slice(1).map((m) => m.digest));
  }, 60_000);

  test("into an OCI layout, read by skopeo", async () => {
    const sample = await pushSampleImage(`${registry.host}/split/layout:1.0`, { seed: 7 });
    const layout = join(tmp, "layout");
    const result = await split(`${registry.host}/split/layout:1.0`, `oci:${layout}`);
    expect(result.tags.map((t) => t.tag)).toEqual(["1.0-amd64", "1.0-arm64", "1.0-armv7"]);
    const info = await skopeoInspect(`oci:${layout}:1.0-arm64`);
    expect(info.Architecture).toBe("arm64");
    expect(result.tags[1].digest).toBe(sample.manifests[1].digest);
  }, 60_000);

  test("tags that collide or are invalid are refused before anything is written", async () => {
    await pushSampleImage(`${registry.host}/split/bad:1.0`, { platforms: ["linux/arm/v6", "linux/arm/v7"], seed: 9 });
    const err = await split(`${registry.host}/split/bad:1.0`, `${registry.host}/split/bad-out`, { tagTemplate: "{tag}-{arch}" })
      .catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('linux/arm/v6 and linux/arm/v7 both get tag "1.0-arm"');
    await expect(split(`${registry.host}/split/bad:1.0`, `${registry.host}/split/bad-out`, { tagTemplate: "{tag}-{cpu}" }))
      .rejects.toThrow(/unknown placeholder \{cpu\}/);
    const tags = await fetch(`http://${registry.host}/v2/split/bad-out/tags/list`);
    expect(tags.status).toBe(404);
  }, 30_000);
});

/** Pushes a Windows index with one windows/amd64 entry per os.version (calico-style), tagged `ref`. */
async function pushWindowsIndex(ref: string, versions: string[]): Promise<string[]> {
  const reference = parseReference(ref);
  const store = openRegistryStore(reference);
  const entries = [];
  for (const [i, version] of versions.entries()) {
    const sample = buildSampleImage({ platforms: ["windows/amd64"], seed: 100 + i, mediaType: "docker" });
    await copyGraph(sample.store, store, bare(sample.manifests[0]));
    entries.push({ ...bare(sample.manifests[0]), platform: { os: "windows", architecture: "amd64", "os.version": version } });
  }
  const index = buildIndex(entries, { mediaType: "application/vnd.docker.distribution.manifest.list.v2+json" });
  await store.push(index.desc, streamOf(index.bytes));
  await store.tag(index.desc, reference.tag!);
  return entries.map((e) => e.digest);
}

describe("tag templates (lib/ref/tag_template.ts)", () => {
  test("a bad template is refused before the source is read", async () => {
    // Nothing listens on port 1: a template checked after resolving the source would fail with a network error.
    const err = await split("127.0.0.1:1/nothing:1.0", `${registry.host}/split/never`, { tagTemplate: "{tag}-{cpu}" })
      .catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/unknown placeholder \{cpu\} \(use \{tag\} \{label\} \{os\} \{arch\} \{variant\} \{osversion\}\)/);
    await expect(split("127.0.0.1:1/nothing:1.0", `${registry.host}/split/never`, { tagTemplate: "{repo}-{arch}" }))
      .rejects.toThrow(/\{repo\} is not available here/);
  });

  test("{osversion} tells Windows entries apart; the default collides and says so", async () => {
    const digests = await pushWindowsIndex(`${registry.host}/split/win:1.0`, ["10.0.17763.4252", "10.0.20348.1726"]);
    await expect(split(`${registry.host}/split/win:1.0`, `${registry.host}/split/win-out`)).rejects.toThrow(
      /both get tag "1.0-amd64"; add \{os\}, \{variant\} or \{osversion\}/,
    );
    const result = await split(`${registry.host}/split/win:1.0`, `${registry.host}/split/win-out`, {
      tagTemplate: "{tag}-{label}-{osversion}",
    });
    expect(result.tags.map((t) => [t.tag, t.digest])).toEqual([
      ["1.0-windows-amd64-10.0.17763.4252", digests[0]],
      ["1.0-windows-amd64-10.0.20348.1726", digests[1]],
    ]);
    expect(await digestOfTag(`docker://${registry.host}/split/win-out:1.0-windows-amd64-10.0.20348.1726`)).toBe(digests[1]);
  }, 60_000);
});

describe("the Docker engine pulls what ferry made", () => {
  test("LIST (from ferry manifest over split tags) and each split tag report the expected architecture", async () => {
    await pushSampleImage(`${registry.host}/engine/app:1.0`, { attestations: true, seed: 11 });
    const out = `${registry.host}/engine/out`;
    const result = await split(`${registry.host}/engine/app:1.0`, out);
    const draftDir = join(tmp, "drafts");
    await createManifestList(`${out}:1.0`, result.tags.map((t) => `${out}:${t.tag}`), { draftDir });
    const pushed = await pushManifestList(`${out}:1.0`, { draftDir });
    await engine.docker(["pull", `${out}:1.0`], { timeoutMs: 120_000 });
    const listArch = await engine.docker(["image", "inspect", "-f", "{{.Architecture}}", `${out}:1.0`]);
    expect(listArch.stdout.trim()).toBe("amd64");
    const expected: Record<string, [string, string]> = {
      "1.0-amd64": ["linux/amd64", "amd64 "],
      "1.0-arm64": ["linux/arm64", "arm64 v8"],
      "1.0-armv7": ["linux/arm/v7", "arm v7"],
    };
    for (const t of result.tags) {
      const [platform, arch] = expected[t.tag];
      await engine.docker(["pull", "--platform", platform, `${out}:${t.tag}`], { timeoutMs: 120_000 });
      const inspected = await engine.docker(["image", "inspect", "-f", "{{.Architecture}} {{.Variant}}", `${out}:${t.tag}`]);
      expect(inspected.stdout.trim()).toBe(arch.trim());
    }
    expect(pushed.manifests.map((m) => m.digest)).toEqual(result.tags.map((t) => t.digest));
  }, 240_000);
});
