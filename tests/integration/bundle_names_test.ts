/**
 * One repository path from two registries in one bundle (`ghcr.io/team/app:1.0` and `quay.io/team/app:1.0`, each
 * signed): `ferry serve` answers each full name with its own image and signature (the first keeps `team/app`, the
 * other is `quay.io/team/app`), `ferry import` into the real registry puts them at the same two paths under the
 * prefix, and a bundle whose two images would still share a tag there (hosts with ports) is refused before
 * anything is pushed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planBundle } from "../../lib/engine/bundle_plan.ts";
import { writeBundle } from "../../lib/engine/bundle_write.ts";
import { transferWithReferrers } from "../../lib/engine/referrers.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { UsageError } from "../../lib/errors.ts";
import { buildSampleImage, type SampleImage } from "../../lib/testing/sample_image.ts";
import { addCosignSignature, generateSigningKey, type MadeReferrer } from "../../lib/testing/referrers.ts";
import { importBundle } from "../../lib/verbs/import/bundle.ts";
import { type RunningRegistry, serve } from "../../lib/verbs/serve.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-bundle-names-"));
const key = generateSigningKey();
const images: { sample: SampleImage; sig: MadeReferrer; source: string }[] = [];
let registry: TestRegistry;
let served: RunningRegistry;

/** A bundle of the two samples carried under `names` (repository names, tag 1.0). */
async function bundleOf(names: string[], path: string): Promise<string> {
  const plan = await planBundle(images.map((image, i) => ({ source: image.source, name: names[i] })));
  try {
    await writeBundle(plan, { kind: "oci-archive", path });
  } finally {
    await plan.dispose();
  }
  return path;
}

beforeAll(async () => {
  for (const seed of [1, 2]) {
    const sample = buildSampleImage({ seed, platforms: ["linux/amd64", "linux/arm64/v8"] });
    const sig = addCosignSignature(sample.store, sample.root, { reference: `example.com/app-${seed}`, key });
    const dir = join(work, `src-${seed}`);
    await transferWithReferrers(sample.store, await OciLayoutStore.open(dir, { create: true }), sample.root, {
      tags: ["1.0"],
    });
    images.push({ sample, sig, source: `oci:${dir}:1.0` });
  }
  const bundle = await bundleOf(["ghcr.io/team/app", "quay.io/team/app"], join(work, "bundle.tar"));
  [registry, served] = await Promise.all([startRegistry(), serve([bundle], { address: "127.0.0.1:0" })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([served?.stop(), registry?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** The digest a registry at `host` answers for `name:reference`. */
async function digestAt(host: string, name: string, reference: string): Promise<string | null> {
  const res = await fetch(`http://${host}/v2/${name}/manifests/${reference}`, {
    method: "HEAD",
    headers: { Accept: "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json" },
  });
  return res.ok ? res.headers.get("docker-content-digest") : null;
}

describe("one path from two registries in a bundle", () => {
  test("serve: each full name its own image and signature; the first keeps the path", async () => {
    const [ghcr, quay] = images;
    expect(served.repositories.map((r) => r.name)).toEqual(["quay.io/team/app", "team/app"]);
    expect(await digestAt(served.host, "team/app", "1.0")).toBe(ghcr.sample.root.digest);
    expect(await digestAt(served.host, "ghcr.io/team/app", "1.0")).toBe(ghcr.sample.root.digest);
    expect(await digestAt(served.host, "quay.io/team/app", "1.0")).toBe(quay.sample.root.digest);
    expect(await digestAt(served.host, "team/app", "1.0?ns=quay.io")).toBe(quay.sample.root.digest);
    // Each signature by its cosign tag, in its image's repository only.
    expect(await digestAt(served.host, "quay.io/team/app", quay.sig.tag!)).toBe(quay.sig.desc.digest);
    expect(await digestAt(served.host, "team/app", ghcr.sig.tag!)).toBe(ghcr.sig.desc.digest);
    expect(await digestAt(served.host, "team/app", quay.sig.tag!)).toBeNull();
  });

  test("import: the same two paths under the prefix, each with its signature", async () => {
    const [ghcr, quay] = images;
    const result = await importBundle([join(work, "bundle.tar")], `${registry.host}/mirror`);
    expect(result.images.map((i) => i.target)).toEqual([
      `${registry.host}/mirror/team/app:1.0`,
      `${registry.host}/mirror/quay.io/team/app:1.0`,
    ]);
    expect(await digestAt(registry.host, "mirror/team/app", "1.0")).toBe(ghcr.sample.root.digest);
    expect(await digestAt(registry.host, "mirror/quay.io/team/app", "1.0")).toBe(quay.sample.root.digest);
    expect(await digestAt(registry.host, "mirror/quay.io/team/app", quay.sig.tag!)).toBe(quay.sig.desc.digest);
    expect(await digestAt(registry.host, "mirror/team/app", quay.sig.tag!)).toBeNull();
  });

  test("import: two images that would still share a tag are refused, nothing pushed", async () => {
    const bundle = await bundleOf(["127.0.0.1:5001/team/app", "127.0.0.1:5002/team/app"], join(work, "ports.tar"));
    const err = await importBundle([bundle], `${registry.host}/ports`).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      `Cannot import 127.0.0.1:5001/team/app:1.0 and 127.0.0.1:5002/team/app:1.0 both to ${registry.host}/ports/` +
        "team/app:1.0: one would overwrite the other; give one of them its own name with `target:` when writing " +
        "the bundle (ferry export -f)",
    );
    expect(await digestAt(registry.host, "ports/team/app", "1.0")).toBeNull();
  });
});
