/**
 * End to end: an image's signatures, attestations and SBOMs (referrers) travel with it. The source is a real
 * docker-registry 2.8 (no referrers API: the tag schema is used) holding a multi-arch image with a cosign signature
 * and a cosign attestation of its index (keys made here, cosign's formats), an SPDX SBOM artifact with `subject` on
 * its amd64 manifest, and a notation-style signature of that SBOM. After copy, mirror, split, export → import and
 * serve, skopeo and curl find every referrer at the destination byte for byte: as fallback tags at a registry without
 * the referrers API, through the API at `ferry serve`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { copyReferrers, discoverReferrers } from "../../lib/engine/referrers.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { schemaTag } from "../../lib/oci/referrers.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import {
  addCosignAttestation,
  addCosignSignature,
  addNotationSignature,
  addSpdxSbom,
  DSSE_ENVELOPE,
  generateSigningKey,
  type MadeReferrer,
  SPDX_JSON,
  verifyCosignSignature,
} from "../../lib/testing/referrers.ts";
import { copy } from "../../lib/verbs/copy.ts";
import { exportImage } from "../../lib/verbs/export/export.ts";
import { importImage } from "../../lib/verbs/import/import.ts";
import { mirror } from "../../lib/verbs/mirror/mirror.ts";
import { split } from "../../lib/verbs/split.ts";
import { type RunningRegistry, serve } from "../../lib/verbs/serve.ts";
import { startDocker } from "../helpers/docker.ts";
import { startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { run, skopeoInspectRaw } from "../helpers/tools.ts";

const key = generateSigningKey();
const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"] });
const amd64 = sample.manifests[0];
let registry: TestRegistry;
let other: TestRegistry;
let writable: RunningRegistry;
let work: string;
let sig: MadeReferrer, att: MadeReferrer, sbom: MadeReferrer, sbomSig: MadeReferrer;
let all: MadeReferrer[];

const SOURCE = () => `${registry.host}/signed/app`;
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function curlJson(url: string): Promise<{ status: number; body: any; headers: string }> {
  const out = await run("curl", ["-s", "-D", "-", "-H", `Accept: ${MediaType.OciIndex}`, url]);
  const [head, ...rest] = out.stdout.split("\r\n\r\n");
  const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]);
  let body: unknown;
  try {
    body = JSON.parse(rest.join("\r\n\r\n"));
  } catch {
    body = rest.join("\r\n\r\n");
  }
  return { status, body, headers: head };
}

async function tagsOf(host: string, repo: string): Promise<string[]> {
  return (await curlJson(`http://${host}/v2/${repo}/tags/list`)).body.tags ?? [];
}

/** Every referrer is at `host/repo`, byte for byte as made (skopeo reads each by digest). */
async function expectReferrersAt(host: string, repo: string, referrers: MadeReferrer[]): Promise<void> {
  for (const r of referrers) {
    expect(await skopeoInspectRaw(`docker://${host}/${repo}@${r.desc.digest}`)).toBe(text(sample.store.get(r.desc.digest)!));
  }
}

/** The cosign signature found at `host/repo` by its tag verifies with the test's public key. */
async function expectSignatureVerifies(host: string, repo: string): Promise<void> {
  const manifest = await skopeoInspectRaw(`docker://${host}/${repo}:${sig.tag}`);
  const layer = JSON.parse(manifest).layers[0];
  const payload = await run("curl", ["-sf", `http://${host}/v2/${repo}/blobs/${layer.digest}`]);
  const bytes = new TextEncoder().encode(payload.stdout);
  expect(verifyCosignSignature(new TextEncoder().encode(manifest), bytes, key.publicPem, sample.root.digest)).toBe(true);
}

beforeAll(async () => {
  sig = addCosignSignature(sample.store, sample.root, { reference: "127.0.0.1/signed/app", key });
  att = addCosignAttestation(sample.store, sample.root, { reference: "127.0.0.1/signed/app", key });
  sbom = addSpdxSbom(sample.store, amd64, { name: "app" });
  sbomSig = addNotationSignature(sample.store, sbom.desc, { key });
  all = [sig, att, sbom, sbomSig];
  [registry, other] = await Promise.all([startRegistry(), startRegistry()]);
  work = await mkdtemp(join(tmpdir(), "ferry-referrers-it-"));
  writable = await serve([join(work, "served")], { address: "127.0.0.1:0", writable: true });
  // The source: the image pushed, then its referrers as cosign and oras would leave them at a registry without the API.
  const store = openRegistryStore(parseReference(`${SOURCE()}:1.0`));
  await copyGraph(sample.store, store, sample.root);
  await copyReferrers(sample.store, store, await discoverReferrers(sample.store, sample.root));
  await store.tag(sample.root, "1.0");
}, 60_000);

afterAll(async () => {
  await Promise.all([registry?.stop(), other?.stop(), writable?.stop()]);
  await rm(work, { recursive: true, force: true });
}, 30_000);

describe("the source registry (docker-registry 2.8, no referrers API)", () => {
  test("answers 404 to the referrers API and holds cosign's tags and the fallback index tags", async () => {
    expect((await curlJson(`http://${registry.host}/v2/signed/app/referrers/${amd64.digest}`)).status).toBe(404);
    expect((await tagsOf(registry.host, "signed/app")).sort()).toEqual(
      ["1.0", sig.tag!, att.tag!, schemaTag(amd64.digest), schemaTag(sbom.desc.digest)].sort(),
    );
    const fallback = JSON.parse(await skopeoInspectRaw(`docker://${SOURCE()}:${schemaTag(amd64.digest)}`));
    expect(fallback.mediaType).toBe(MediaType.OciIndex);
    expect(fallback.manifests).toEqual([
      { mediaType: MediaType.OciManifest, digest: sbom.desc.digest, size: sbom.desc.size, artifactType: SPDX_JSON, annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" } },
    ]);
    await expectSignatureVerifies(registry.host, "signed/app");
  });
});

describe("ferry copy carries referrers", () => {
  test("to another registry without the API: fallback tags and cosign tags, every referrer byte for byte", async () => {
    const result = await copy(`${SOURCE()}:1.0`, `${other.host}/copied/app:1.0`);
    expect(result.digest).toBe(sample.root.digest);
    expect(result.referrers.map((r) => r.digest).sort()).toEqual(all.map((r) => r.desc.digest).sort());
    expect(result.referrers.find((r) => r.digest === sbom.desc.digest)).toEqual({
      digest: sbom.desc.digest,
      mediaType: MediaType.OciManifest,
      artifactType: SPDX_JSON,
      subject: amd64.digest,
    });
    expect(result.referrers.find((r) => r.digest === att.desc.digest)).toMatchObject({
      artifactType: DSSE_ENVELOPE,
      subject: sample.root.digest,
      tag: att.tag,
    });
    expect((await tagsOf(other.host, "copied/app")).sort()).toEqual(
      ["1.0", sig.tag!, att.tag!, schemaTag(amd64.digest), schemaTag(sbom.desc.digest)].sort(),
    );
    await expectReferrersAt(other.host, "copied/app", all);
    await expectSignatureVerifies(other.host, "copied/app");
  }, 60_000);

  test("to ferry serve --writable (referrers API): found through the API, no fallback tags written", async () => {
    const result = await copy(`${SOURCE()}:1.0`, `${writable.host}/served/app:1.0`);
    expect(result.referrers).toHaveLength(4);
    const tags = await tagsOf(writable.host, "served/app");
    expect(tags.sort()).toEqual(["1.0", sig.tag!, att.tag!].sort());
    const api = await curlJson(`http://${writable.host}/v2/served/app/referrers/${amd64.digest}`);
    expect(api.status).toBe(200);
    expect(api.body.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.desc.digest]);
    expect(api.body.manifests[0].artifactType).toBe(SPDX_JSON);
    const nested = await curlJson(`http://${writable.host}/v2/served/app/referrers/${sbom.desc.digest}`);
    expect(nested.body.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbomSig.desc.digest]);
    await expectReferrersAt(writable.host, "served/app", all);
  }, 60_000);

  test("from ferry serve (the API) back to a registry without it: the fallback tags are written", async () => {
    await copy(`${writable.host}/served/app:1.0`, `${other.host}/roundtrip/app:1.0`);
    expect((await tagsOf(other.host, "roundtrip/app")).sort()).toEqual(
      ["1.0", sig.tag!, att.tag!, schemaTag(amd64.digest), schemaTag(sbom.desc.digest)].sort(),
    );
    await expectReferrersAt(other.host, "roundtrip/app", all);
  }, 60_000);

  test("an existing fallback index at the destination is added to, never replaced", async () => {
    const mine = buildSampleImage({ platforms: ["linux/amd64"] });
    const theirs = addSpdxSbom(mine.store, amd64, { name: "someone-elses" });
    const dst = openRegistryStore(parseReference(`${other.host}/merge/app`));
    await copyGraph(mine.store, dst, theirs.desc);
    await dst.putReferrer(theirs.desc, { subject: amd64.digest });
    await copy(`${SOURCE()}:1.0`, `${other.host}/merge/app:1.0`);
    const fallback = JSON.parse(await skopeoInspectRaw(`docker://${other.host}/merge/app:${schemaTag(amd64.digest)}`));
    expect(fallback.manifests.map((m: { digest: string }) => m.digest)).toEqual([theirs.desc.digest, sbom.desc.digest]);
  }, 60_000);

  test("--referrers=false copies the image only; an artifact type filter only those", async () => {
    const none = await copy(`${SOURCE()}:1.0`, `${other.host}/plain/app:1.0`, { referrers: false });
    expect(none.referrers).toEqual([]);
    expect(await tagsOf(other.host, "plain/app")).toEqual(["1.0"]);
    const some = await copy(`${SOURCE()}:1.0`, `${other.host}/sboms/app:1.0`, { artifactTypes: [SPDX_JSON] });
    expect(some.referrers.map((r) => r.digest)).toEqual([sbom.desc.digest, sbomSig.desc.digest]);
    expect((await tagsOf(other.host, "sboms/app")).sort()).toEqual(
      ["1.0", schemaTag(amd64.digest), schemaTag(sbom.desc.digest)].sort(),
    );
  }, 60_000);

  test("to an OCI layout: listed in index.json, and skopeo reads each one", async () => {
    const dir = join(work, "layout");
    await copy(`${SOURCE()}:1.0`, `oci:${dir}:1.0`);
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    const entries = index.manifests.map((m: { digest: string }) => m.digest).sort();
    expect(entries).toEqual([sample.root.digest, ...all.map((r) => r.desc.digest)].sort());
    expect(await skopeoInspectRaw(`oci:${dir}:${sig.tag}`)).toBe(text(sample.store.get(sig.desc.digest)!));
    // And out again, to a registry without the API.
    await copy(`oci:${dir}:1.0`, `${other.host}/from-layout/app:1.0`);
    await expectReferrersAt(other.host, "from-layout/app", all);
    expect(await tagsOf(other.host, "from-layout/app")).toContain(schemaTag(amd64.digest));
  }, 60_000);
});

describe("ferry split carries each platform's referrers with its tag", () => {
  test("the amd64 tag gets its SBOM (and the SBOM's signature); the index tag its cosign signatures", async () => {
    const result = await split(`${SOURCE()}:1.0`, `${other.host}/split/app`, { withIndex: true });
    expect(result.referrers.map((r) => r.digest).sort()).toEqual(all.map((r) => r.desc.digest).sort());
    expect(await tagsOf(other.host, "split/app")).toEqual(
      expect.arrayContaining(["1.0-amd64", schemaTag(amd64.digest), schemaTag(sbom.desc.digest), sig.tag!]),
    );
    await expectReferrersAt(other.host, "split/app", all);
    const platformOnly = await split(`${SOURCE()}:1.0`, `${other.host}/split-amd64/app`, { platforms: ["amd64"] });
    expect(platformOnly.referrers.map((r) => r.digest)).toEqual([sbom.desc.digest, sbomSig.desc.digest]);
  }, 60_000);
});

describe("ferry export → import carries referrers", () => {
  test("per-platform files: in each file's index.json, never in manifest.json; import restores them", async () => {
    const out = join(work, "files");
    const exported = await exportImage(`${SOURCE()}:1.0`, out, { pushTo: `${other.host}/pushed/app:1.0` });
    expect(exported.referrers).toHaveLength(4);
    // --push in the same run carries them too.
    await expectReferrersAt(other.host, "pushed/app", all);
    expect(await tagsOf(other.host, "pushed/app")).toEqual(expect.arrayContaining([sig.tag!, schemaTag(amd64.digest)]));
    const amd64File = exported.files.find((f) => f.platform === "linux/amd64")!.path;
    const armFile = exported.files.find((f) => f.platform === "linux/arm/v7")!.path;
    const member = async (file: string, name: string) =>
      JSON.parse((await run("tar", ["-xzOf", file, name])).stdout);
    const dockerManifest = await member(amd64File, "manifest.json");
    expect(dockerManifest).toHaveLength(1);
    const listed = (await member(amd64File, "index.json")).manifests.map((m: { digest: string }) => m.digest);
    expect(listed.sort()).toEqual([amd64.digest, ...all.map((r) => r.desc.digest)].sort());
    // Another platform's file carries the index's signatures, not amd64's SBOM.
    const armListed = (await member(armFile, "index.json")).manifests.map((m: { digest: string }) => m.digest);
    expect(armListed).toEqual(expect.arrayContaining([sig.desc.digest, att.desc.digest]));
    expect(armListed).not.toContain(sbom.desc.digest);

    const imported = await importImage(exported.files.map((f) => f.path), `${other.host}/imported/app:1.0`);
    expect(imported.digest).toBe(sample.root.digest);
    expect(imported.referrers.map((r) => r.digest).sort()).toEqual(all.map((r) => r.desc.digest).sort());
    expect((await tagsOf(other.host, "imported/app")).sort()).toEqual(
      ["1.0", sig.tag!, att.tag!, schemaTag(amd64.digest), schemaTag(sbom.desc.digest)].sort(),
    );
    await expectReferrersAt(other.host, "imported/app", all);
    await expectSignatureVerifies(other.host, "imported/app");
  }, 120_000);

  test("an OCI layout and an OCI archive: listed in index.json; import restores them", async () => {
    const layout = join(work, "export-layout");
    const viaLayout = await exportImage(`${SOURCE()}:1.0`, layout, { format: "oci" });
    expect(viaLayout.referrers).toHaveLength(4);
    await importImage([layout], `${writable.host}/from-layout/app:1.0`);
    const api = await curlJson(`http://${writable.host}/v2/from-layout/app/referrers/${amd64.digest}`);
    expect(api.body.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.desc.digest]);
    await expectReferrersAt(writable.host, "from-layout/app", all);

    const file = join(work, "app.oci.tar");
    const viaArchive = await exportImage(`${SOURCE()}:1.0`, work, { format: "oci-archive", output: file });
    expect(viaArchive.referrers).toHaveLength(4);
    const index = JSON.parse((await run("tar", ["-xOf", file, "index.json"])).stdout);
    expect(index.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual(
      [sample.root.digest, ...sample.manifests.map((m) => m.digest), ...all.map((r) => r.desc.digest)].sort(),
    );
    await importImage([file], `${other.host}/from-archive/app:1.0`);
    await expectReferrersAt(other.host, "from-archive/app", all);
    expect(await tagsOf(other.host, "from-archive/app")).toEqual(expect.arrayContaining([sig.tag!, schemaTag(amd64.digest)]));
  }, 120_000);
});

describe("ferry serve answers the referrers API for what an export carried", () => {
  test("per-platform files, a layout: referrers by the API, cosign tags in /tags/list, under the image's name", async () => {
    const files = await serve([join(work, "files")], { address: "127.0.0.1:0" });
    const layout = await serve([join(work, "export-layout")], { address: "127.0.0.1:0" });
    try {
      for (const served of [files, layout]) {
        const tags = await tagsOf(served.host, "signed/app");
        expect(tags).toEqual(expect.arrayContaining(["1.0", sig.tag!, att.tag!]));
        const api = await curlJson(`http://${served.host}/v2/signed/app/referrers/${amd64.digest}`);
        expect(api.body.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.desc.digest]);
        const nested = await curlJson(`http://${served.host}/v2/signed/app/referrers/${sbom.desc.digest}`);
        expect(nested.body.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbomSig.desc.digest]);
        await expectReferrersAt(served.host, "signed/app", all);
        // And a client that only knows the tag schema copies them out again (ferry, from the API).
        const copied = await copy(`${served.host}/signed/app:1.0`, `${other.host}/reserved-${served === files ? "f" : "l"}/app:1.0`);
        expect(copied.referrers).toHaveLength(4);
      }
    } finally {
      await Promise.all([files.stop(), layout.stop()]);
    }
  }, 120_000);
});

describe("ferry mirror carries referrers", () => {
  test("a dry run lists them; the run copies them before the tag; a platform filter keeps the platform's", async () => {
    const spec = { target: `${other.host}/mirror`, sources: [{ image: `${SOURCE()}:1.0` }] };
    const plan = await mirror(spec, { dryRun: true });
    expect(plan.images[0].referrers?.map((r) => r.digest).sort()).toEqual(all.map((r) => r.desc.digest).sort());
    expect(await tagsOf(other.host, "mirror/signed/app")).toEqual([]);
    const result = await mirror(spec);
    expect(result.images[0]).toMatchObject({ status: "copied", digest: sample.root.digest });
    expect(result.images[0].referrers).toHaveLength(4);
    expect((await tagsOf(other.host, "mirror/signed/app")).sort()).toEqual(
      ["1.0", sig.tag!, att.tag!, schemaTag(amd64.digest), schemaTag(sbom.desc.digest)].sort(),
    );
    await expectReferrersAt(other.host, "mirror/signed/app", all);
    await expectSignatureVerifies(other.host, "mirror/signed/app");

    const filtered = await mirror({
      target: `${other.host}/mirror-arm`,
      sources: [{ image: `${SOURCE()}:1.0`, platforms: ["linux/amd64", "linux/arm64"] }],
    });
    // A new index (its digest is not the signed one): the amd64 manifest's SBOM travels, the index's signatures do not.
    expect(filtered.images[0].referrers?.map((r) => r.digest)).toEqual([sbom.desc.digest, sbomSig.desc.digest]);
    const none = await mirror({ target: `${other.host}/mirror-none`, sources: [{ image: `${SOURCE()}:1.0` }] }, {
      referrers: false,
    });
    expect(none.images[0].referrers).toEqual([]);
    expect(await tagsOf(other.host, "mirror-none/signed/app")).toEqual(["1.0"]);
  }, 120_000);
});

describe("discovery stays cheap when there are no referrers", () => {
  test("one referrers-API probe and one tag list for a whole multi-arch copy from a registry without the API", async () => {
    const plain = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"], seed: 7 });
    const store = openRegistryStore(parseReference(`${registry.host}/unsigned/app`));
    await copyGraph(plain.store, store, plain.root);
    await store.tag(plain.root, "1.0");
    const proxy = await startFaultyProxy(registry.host, []);
    try {
      const result = await copy(`${proxy.host}/unsigned/app:1.0`, `${other.host}/unsigned/app:1.0`);
      expect(result.referrers).toEqual([]);
      const paths = proxy.requests.map((r) => r.path);
      expect(paths.filter((p) => p.includes("/referrers/"))).toHaveLength(1);
      expect(paths.filter((p) => p.includes("/tags/list"))).toHaveLength(1);
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});

describe("a per-platform file with referrers still loads as one image", () => {
  test("docker load takes the image alone; containerd's importer names one image", async () => {
    const engine = await startDocker();
    try {
      const file = join(work, "files", "image-amd64.tar.gz");
      const loaded = await engine.docker(["load", "-i", file]);
      expect(loaded.stdout.trim().split("\n")).toEqual([`Loaded image: ${SOURCE()}:1.0-amd64`]);
      const ids = (await engine.docker(["image", "ls", "-a", "-q", "--no-trunc"])).stdout.trim().split("\n");
      expect(new Set(ids).size).toBe(1);
      const plain = join(work, "image-amd64.tar");
      await run("sh", ["-c", `gzip -dc '${file}' > '${plain}'`]);
      const ctr = ["--address", engine.containerdSocket, "-n", "ferryreferrers"];
      await run("ctr", [...ctr, "images", "import", "--all-platforms", "--no-unpack", plain]);
      const names = (await run("ctr", [...ctr, "images", "ls", "-q"])).stdout.trim().split("\n");
      expect(names).toEqual([`${SOURCE()}:1.0-amd64`]);
    } finally {
      await engine.stop();
    }
  }, 180_000);
});
