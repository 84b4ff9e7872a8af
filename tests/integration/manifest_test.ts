/**
 * `ferry manifest …` against the real registry, with skopeo as the independent reader: docker's documented
 * create/annotate/inspect/push workflow, manifest-tool's from-spec and from-args, --amend, buildx-style index
 * components, components in other repositories and registries, and bad input that must push nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError, UsageError } from "../../lib/errors.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import type { Descriptor } from "../../lib/oci/descriptor.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { buildIndex } from "../../lib/oci/index_edit.ts";
import { streamOf } from "../../lib/stream/read_limited.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { bare } from "../../lib/oci/descriptor.ts";
import { loadDraft } from "../../lib/verbs/manifest/draft.ts";
import { inspectManifestList } from "../../lib/verbs/manifest/inspect.ts";
import {
  annotateManifestList,
  createManifestList,
  pushManifestList,
  pushManifestSpec,
  removeManifestList,
} from "../../lib/verbs/manifest/list.ts";
import { manifestSpecFromArgs, parseManifestSpec } from "../../lib/verbs/manifest/spec.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";

let a: TestRegistry;
let b: TestRegistry;
let draftDir: string;
beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  draftDir = await mkdtemp(join(tmpdir(), "ferry-manifest-"));
}, 30_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(draftDir, { recursive: true, force: true });
});

/** Pushes a single-platform image (no index) as `ref`, like `docker push app:1.0-arm64` after a per-arch build. */
async function pushArch(ref: string, platform: string, seed: number, mediaType: "oci" | "docker" = "docker"): Promise<Descriptor> {
  const sample = buildSampleImage({ platforms: [platform], seed, mediaType });
  const reference = parseReference(ref);
  const store = openRegistryStore(reference);
  const manifest = bare(sample.manifests[0]);
  await copyGraph(sample.store, store, manifest);
  await store.tag(manifest, reference.tag!);
  return manifest;
}

const entries = (raw: string) =>
  (JSON.parse(raw).manifests as { digest: string; platform: { os: string; architecture: string; variant?: string } }[])
    .map((m) => ({ digest: m.digest, platform: `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ""}` }));

async function listExists(ref: string): Promise<boolean> {
  const r = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`], { allowFailure: true });
  return r.code === 0;
}

describe("docker's manifest workflow", () => {
  test("create, annotate, inspect, push (skopeo reads the list; the draft is gone)", async () => {
    const repo = `${a.host}/docs/app`;
    const amd64 = await pushArch(`${repo}:1.0-amd64`, "linux/amd64", 11);
    const arm64 = await pushArch(`${repo}:1.0-arm64`, "linux/arm64/v8", 12);
    const arm = await pushArch(`${repo}:1.0-arm`, "linux/arm", 13); // config without a variant
    const list = `${repo}:1.0`;
    const created = await createManifestList(list, [`${repo}:1.0-amd64`, `${repo}:1.0-arm64`, `${repo}:1.0-arm`], { draftDir });
    expect(created.entries.map((e) => e.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm"]);
    expect(created.warnings.join("\n")).toMatch(/linux\/arm without a variant/);
    const annotated = await annotateManifestList(list, `${repo}:1.0-arm`, { arch: "arm", variant: "v7", draftDir });
    expect(annotated.warnings).toEqual([]);
    const draft = await inspectManifestList(list, { draftDir, check: true, verbose: true });
    expect(draft.source).toBe("draft");
    expect(draft.issues).toEqual([]);
    expect(draft.images!.length).toBe(3);
    expect(await listExists(list)).toBe(false);
    // The draft shows exactly the document push sends: Docker components → a Docker list, the same digest.
    expect(draft.mediaType).toBe(MediaType.DockerManifestList);
    expect((draft.document as { mediaType: string }).mediaType).toBe(MediaType.DockerManifestList);
    const pushed = await pushManifestList(list, { draftDir, purge: true });
    expect(pushed.mediaType).toBe(MediaType.DockerManifestList);
    expect(pushed.digest).toBe(draft.digest);
    const raw = await skopeoInspectRaw(`docker://${list}`);
    expect(digestOf(new TextEncoder().encode(raw))).toBe(draft.digest);
    expect(JSON.parse(raw)).toEqual(draft.document);
    expect(JSON.parse(raw).mediaType).toBe(MediaType.DockerManifestList);
    expect(entries(raw)).toEqual([
      { digest: amd64.digest, platform: "linux/amd64" },
      { digest: arm64.digest, platform: "linux/arm64/v8" },
      { digest: arm.digest, platform: "linux/arm/v7" },
    ]);
    const armInfo = await skopeoInspect(`docker://${list}`, ["--override-arch", "arm", "--override-variant", "v7"]);
    const armLayers = JSON.parse(await skopeoInspectRaw(`docker://${repo}@${arm.digest}`)).layers.map((l: { digest: string }) => l.digest);
    expect(armInfo.Architecture).toBe("arm");
    expect(armInfo.Layers).toEqual(armLayers); // skopeo resolved the arm/v7 entry (its Digest field is the list's)
    expect(await loadDraft(list, { draftDir })).toBeUndefined();
    const fromRegistry = await inspectManifestList(list, { draftDir, check: true });
    expect(fromRegistry.source).toBe("registry");
    expect(fromRegistry.digest).toBe(pushed.digest);
    // The config says plain "arm"; the list says v7: a variant the config lacks is not a mismatch.
    expect(fromRegistry.issues).toEqual([]);
  }, 60_000);

  test("without a draft, --amend starts from the list the registry holds now and adds a platform", async () => {
    const repo = `${a.host}/amend/app`;
    const amd64 = await pushArch(`${repo}:amd64`, "linux/amd64", 21);
    const arm64 = await pushArch(`${repo}:arm64`, "linux/arm64/v8", 22);
    await createManifestList(`${repo}:2.0`, [`${repo}:amd64`, `${repo}:arm64`], { draftDir });
    await pushManifestList(`${repo}:2.0`, { draftDir }); // removes the draft
    const s390x = await pushArch(`${repo}:s390x`, "linux/s390x", 23);
    await createManifestList(`${repo}:2.0`, [`${repo}:s390x`], { draftDir, amend: true });
    await pushManifestList(`${repo}:2.0`, { draftDir });
    expect(entries(await skopeoInspectRaw(`docker://${repo}:2.0`))).toEqual([
      { digest: amd64.digest, platform: "linux/amd64" },
      { digest: arm64.digest, platform: "linux/arm64/v8" },
      { digest: s390x.digest, platform: "linux/s390x" },
    ]);
  }, 60_000);

  test("like docker's local store: a second create refuses without --amend; --amend adds to the draft", async () => {
    const repo = `${a.host}/again/app`;
    const amd64 = await pushArch(`${repo}:amd64`, "linux/amd64", 24);
    const arm64 = await pushArch(`${repo}:arm64`, "linux/arm64/v8", 25);
    const ppc = await pushArch(`${repo}:ppc64le`, "linux/ppc64le", 26);
    // The registry holds an older list: with a draft, --amend must not read it.
    await pushArch(`${repo}:3.0`, "linux/riscv64", 27);
    await createManifestList(`${repo}:3.0`, [`${repo}:amd64`], { draftDir });
    const again = await createManifestList(`${repo}:3.0`, [`${repo}:arm64`], { draftDir }).catch((e) => e);
    expect(again).toBeInstanceOf(UsageError);
    expect(again.message).toMatch(/refusing to amend an existing manifest list with no --amend flag/);
    expect((await loadDraft(`${repo}:3.0`, { draftDir }))!.entries.map((e) => e.descriptor.digest)).toEqual([amd64.digest]);
    const amended = await createManifestList(`${repo}:3.0`, [`${repo}:arm64`, `${repo}:ppc64le`], { draftDir, amend: true });
    expect(amended.entries.map((e) => e.digest)).toEqual([amd64.digest, arm64.digest, ppc.digest]);
    // Naming a component again replaces its entry (docker keys its store by image reference).
    await createManifestList(`${repo}:3.0`, [`${repo}:arm64`], { draftDir, amend: true });
    await pushManifestList(`${repo}:3.0`, { draftDir });
    expect(entries(await skopeoInspectRaw(`docker://${repo}:3.0`))).toEqual([
      { digest: amd64.digest, platform: "linux/amd64" },
      { digest: ppc.digest, platform: "linux/ppc64le" },
      { digest: arm64.digest, platform: "linux/arm64/v8" },
    ]);
  }, 60_000);

  test("two components with one digest are both kept; annotate gives each its platform by reference", async () => {
    const repo = `${a.host}/same/app`;
    const arm = await pushArch(`${repo}:armv6`, "linux/arm", 28);
    await openRegistryStore(parseReference(`${repo}:armv7`)).tag(arm, "armv7");
    const created = await createManifestList(`${repo}:1.0`, [`${repo}:armv6`, `${repo}:armv7`], { draftDir });
    expect(created.entries.map((e) => [e.image, e.digest])).toEqual([
      [`${repo}:armv6`, arm.digest],
      [`${repo}:armv7`, arm.digest],
    ]);
    await annotateManifestList(`${repo}:1.0`, `${repo}:armv6`, { variant: "v6", draftDir });
    const annotated = await annotateManifestList(`${repo}:1.0`, `${repo}:armv7`, { variant: "v7", draftDir });
    expect(annotated.entries.map((e) => e.platform)).toEqual(["linux/arm/v6", "linux/arm/v7"]);
    expect(annotated.warnings).toEqual([]);
    await pushManifestList(`${repo}:1.0`, { draftDir });
    expect(entries(await skopeoInspectRaw(`docker://${repo}:1.0`))).toEqual([
      { digest: arm.digest, platform: "linux/arm/v6" },
      { digest: arm.digest, platform: "linux/arm/v7" },
    ]);
  }, 60_000);

  test("a buildx-style index component contributes its image, not its attestation", async () => {
    const repo = `${a.host}/buildx/app`;
    const amd64 = await pushArch(`${repo}:amd64`, "linux/amd64", 31, "oci");
    const buildx = await pushSampleImage(`${repo}:ppc64le`, { platforms: ["linux/ppc64le"], attestations: true, seed: 32 });
    await createManifestList(`${repo}:1.0`, [`${repo}:amd64`, `${repo}:ppc64le`], { draftDir });
    const pushed = await pushManifestList(`${repo}:1.0`, { draftDir });
    expect(pushed.mediaType).toBe(MediaType.OciIndex);
    expect(entries(await skopeoInspectRaw(`docker://${repo}:1.0`))).toEqual([
      { digest: amd64.digest, platform: "linux/amd64" },
      { digest: buildx.manifests[0].digest, platform: "linux/ppc64le" },
    ]);
  }, 60_000);

  test("components from another registry and another repository are copied or mounted first", async () => {
    const elsewhere = await pushArch(`${b.host}/builds/app:amd64`, "linux/amd64", 41);
    const sibling = await pushArch(`${a.host}/builds/app:arm64`, "linux/arm64/v8", 42);
    const list = `${a.host}/release/app:3.0`;
    await createManifestList(list, [`${b.host}/builds/app:amd64`, `${a.host}/builds/app:arm64`], { draftDir });
    const pushed = await pushManifestList(list, { draftDir });
    expect(pushed.copied).toBeGreaterThan(0);
    expect(pushed.mounted).toBeGreaterThan(0);
    expect(entries(await skopeoInspectRaw(`docker://${list}`)).map((e) => e.digest)).toEqual([elsewhere.digest, sibling.digest]);
    // Both components now live in the list's repository (distribution checks this on the PUT too).
    expect(JSON.parse(await skopeoInspectRaw(`docker://${a.host}/release/app@${elsewhere.digest}`)).layers.length).toBe(2);
    expect(JSON.parse(await skopeoInspectRaw(`docker://${a.host}/release/app@${sibling.digest}`)).layers.length).toBe(2);
  }, 60_000);

  test("rm removes a draft; a second rm is NotFound", async () => {
    const repo = `${a.host}/rm/app`;
    await pushArch(`${repo}:amd64`, "linux/amd64", 51);
    await createManifestList(`${repo}:1.0`, [`${repo}:amd64`], { draftDir });
    await removeManifestList(`${repo}:1.0`, { draftDir });
    expect(removeManifestList(`${repo}:1.0`, { draftDir })).rejects.toThrow(NotFoundError);
    expect(pushManifestList(`${repo}:1.0`, { draftDir })).rejects.toThrow(/no such manifest list draft/);
  }, 30_000);
});

describe("manifest-tool's from-spec and from-args", () => {
  test("a YAML like manifest-tool's README, components in another registry, extra tags", async () => {
    const ppc = await pushArch(`${b.host}/someimage:ppc64le`, "linux/ppc64le", 61);
    const amd = await pushArch(`${b.host}/someimage:amd64`, "linux/amd64", 62);
    const arm = await pushSampleImage(`${b.host}/someimage:arm-index`, { attestations: true, seed: 63 });
    const spec = parseManifestSpec(`
image: ${a.host}/spec/someimage:1.0
tags: ['1.0.1', 'latest']
manifests:
  -
    image: ${b.host}/someimage:ppc64le
    platform:
      architecture: ppc64le
      os: linux
  -
    image: ${b.host}/someimage:amd64
    platform:
      architecture: amd64
      os: linux
  -
    image: ${b.host}/someimage:arm-index
    platform:
      architecture: arm
      os: linux
      variant: v7
`, { file: "spec.yaml" });
    const pushed = await pushManifestSpec(spec, { draftDir });
    expect(pushed.tags).toEqual(["1.0", "1.0.1", "latest"]);
    const armv7 = arm.manifests.find((m) => m.platform?.variant === "v7")!;
    for (const tag of pushed.tags) {
      expect(entries(await skopeoInspectRaw(`docker://${a.host}/spec/someimage:${tag}`))).toEqual([
        { digest: ppc.digest, platform: "linux/ppc64le" },
        { digest: amd.digest, platform: "linux/amd64" },
        { digest: armv7.digest, platform: "linux/arm/v7" },
      ]);
    }
  }, 60_000);

  test("from-args with a template; --ignore-missing leaves out what does not exist", async () => {
    const repo = `${a.host}/args/app`;
    const amd = await pushArch(`${repo}:1.0-amd64`, "linux/amd64", 71);
    const armv7 = await pushArch(`${repo}:1.0-armv7`, "linux/arm/v7", 72);
    const spec = manifestSpecFromArgs({
      platforms: ["linux/amd64,linux/arm/v7", "linux/riscv64"],
      template: `${repo}:1.0-ARCHVARIANT`,
      target: `${repo}:1.0`,
      tags: ["stable"],
    });
    await expect(pushManifestSpec(spec, { draftDir })).rejects.toThrow(NotFoundError);
    expect(await listExists(`${repo}:1.0`)).toBe(false);
    const pushed = await pushManifestSpec(spec, { draftDir, ignoreMissing: true });
    expect(pushed.warnings.join("\n")).toMatch(/1\.0-riscv64 does not exist/);
    expect(entries(await skopeoInspectRaw(`docker://${repo}:stable`))).toEqual([
      { digest: amd.digest, platform: "linux/amd64" },
      { digest: armv7.digest, platform: "linux/arm/v7" },
    ]);
  }, 60_000);

  test("Windows entries that differ only in osversion (calico-style), as images and as one index", async () => {
    const repo = `${a.host}/win/node`;
    const linux = await pushArch(`${repo}:linux`, "linux/amd64", 85);
    const ltsc2019 = await pushArch(`${repo}:1809`, "windows/amd64", 86);
    const ltsc2022 = await pushArch(`${repo}:ltsc2022`, "windows/amd64", 87);
    const spec = parseManifestSpec(`
image: ${repo}:1.0
manifests:
  - { image: ${repo}:linux, platform: { os: linux, architecture: amd64 } }
  - { image: ${repo}:1809, platform: { os: windows, architecture: amd64, osversion: 10.0.17763.4252 } }
  - { image: ${repo}:ltsc2022, platform: { os: windows, architecture: amd64, osversion: 10.0.20348.1726 } }
`);
    const pushed = await pushManifestSpec(spec, { draftDir });
    expect(pushed.manifests.map((m) => m.osVersion)).toEqual([undefined, "10.0.17763.4252", "10.0.20348.1726"]);
    const raw = JSON.parse(await skopeoInspectRaw(`docker://${repo}:1.0`));
    expect(raw.manifests.map((m: Descriptor) => [m.digest, m.platform?.["os.version"]])).toEqual([
      [linux.digest, undefined],
      [ltsc2019.digest, "10.0.17763.4252"],
      [ltsc2022.digest, "10.0.20348.1726"],
    ]);
    // The same as one index component named twice: each osversion picks its own child.
    const store = openRegistryStore(parseReference(`${repo}:windows`));
    const children = [[ltsc2019, "10.0.17763.4252"], [ltsc2022, "10.0.20348.1726"]] as const;
    const index = buildIndex(children.map(([d, v]) => ({ ...d, platform: { os: "windows", architecture: "amd64", "os.version": v } })));
    await store.push(index.desc, streamOf(index.bytes));
    await store.tag(index.desc, "windows");
    const fromIndex = await pushManifestSpec(parseManifestSpec(`
image: ${repo}:2.0
manifests:
  - { image: ${repo}:windows, platform: { os: windows, architecture: amd64, osversion: 10.0.20348.1726 } }
  - { image: ${repo}:windows, platform: { os: windows, architecture: amd64, osversion: 10.0.17763.4252 } }
`), { draftDir });
    expect(fromIndex.manifests.map((m) => [m.digest, m.osVersion])).toEqual([
      [ltsc2022.digest, "10.0.20348.1726"],
      [ltsc2019.digest, "10.0.17763.4252"],
    ]);
  }, 60_000);

  test("from-spec's arm-without-variant hint names the spec's key, not a flag it lacks", async () => {
    const repo = `${a.host}/hint/app`;
    await pushArch(`${repo}:arm`, "linux/arm", 88);
    const pushed = await pushManifestSpec(parseManifestSpec(`
image: ${repo}:1.0
manifests:
  - { image: ${repo}:arm, platform: { os: linux, architecture: arm } }
`), { draftDir });
    expect(pushed.warnings.join("\n")).toMatch(/linux\/arm without a variant: add "variant: v7"/);
    expect(pushed.warnings.join("\n")).not.toMatch(/--variant/);
  }, 60_000);

  test("inspect --check reports a platform that disagrees with the image config", async () => {
    const repo = `${a.host}/check/app`;
    await pushArch(`${repo}:amd64`, "linux/amd64", 81);
    await pushArch(`${repo}:arm`, "linux/arm", 82);
    const spec = parseManifestSpec(`
image: ${repo}:bad
manifests:
  - { image: ${repo}:amd64, platform: { os: linux, architecture: arm64 } }
  - { image: ${repo}:arm, platform: { os: linux, architecture: arm } }
`);
    await pushManifestSpec(spec, { draftDir });
    const { issues } = await inspectManifestList(`${repo}:bad`, { draftDir, check: true });
    expect(issues!.map((i) => i.kind)).toEqual(["mismatch", "arm-variant"]);
    expect(issues![0].message).toBe("the list says linux/arm64 but the image config says linux/amd64");
  }, 60_000);
});

describe("bad input pushes nothing under LIST", () => {
  test("a component that does not exist", async () => {
    const repo = `${a.host}/bad/missing`;
    await pushArch(`${repo}:amd64`, "linux/amd64", 91);
    await expect(createManifestList(`${repo}:1.0`, [`${repo}:amd64`, `${repo}:nope`], { draftDir })).rejects.toThrow(
      /MANIFEST_UNKNOWN|not found|Cannot/,
    );
    expect(await loadDraft(`${repo}:1.0`, { draftDir })).toBeUndefined();
    expect(await listExists(`${repo}:1.0`)).toBe(false);
  }, 30_000);

  test("two components for one platform: create warns, push refuses", async () => {
    const repo = `${a.host}/bad/dup`;
    await pushArch(`${repo}:one`, "linux/amd64", 92);
    await pushArch(`${repo}:two`, "linux/amd64", 93);
    const created = await createManifestList(`${repo}:1.0`, [`${repo}:one`, `${repo}:two`], { draftDir });
    expect(created.warnings.join("\n")).toMatch(/a second entry for linux\/amd64/);
    await expect(pushManifestList(`${repo}:1.0`, { draftDir })).rejects.toThrow(UsageError);
    expect(await listExists(`${repo}:1.0`)).toBe(false);
  }, 30_000);

  test("a YAML with an unknown key or a bad platform", () => {
    expect(() => parseManifestSpec("image: r/a:1\nmanifests:\n  - image: r/a:x\n    platfrom: {os: linux}\n", { file: "x.yaml" }))
      .toThrow('Cannot read x.yaml: unknown key "manifests[0].platfrom" (expected image, platform)');
    expect(() => parseManifestSpec("image: r/a:1\nmanifests:\n  - image: r/a:x\n    platform: {os: linux, architecture: amd46}\n"))
      .toThrow(/unknown architecture "amd46"/);
  });
});
