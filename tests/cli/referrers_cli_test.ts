/**
 * The referrer flags of the CLI: `--referrers=false`, `--artifact-type T` (repeatable), the `--json` lists and the
 * text line, on copy, and mirror's `--dry-run --json`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { copyReferrers, discoverReferrers } from "../../lib/engine/referrers.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import {
  addCosignSignature,
  addSpdxSbom,
  COSIGN_SIMPLESIGNING,
  generateSigningKey,
  SPDX_JSON,
} from "../../lib/testing/referrers.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";

let registry: TestRegistry;
let tmp: string;
let env: Record<string, string>;
const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"], seed: 21 });
const key = generateSigningKey();
const sig = addCosignSignature(sample.store, sample.root, { reference: "127.0.0.1/cli/app", key });
const sbom = addSpdxSbom(sample.store, sample.manifests[0], { name: "app" });

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), "ferry-referrers-cli-"));
  env = { DOCKER_CONFIG: join(tmp, "docker"), REGISTRY_AUTH_FILE: "" };
  const store = openRegistryStore(parseReference(`${registry.host}/cli/app`));
  await copyGraph(sample.store, store, sample.root);
  await copyReferrers(sample.store, store, await discoverReferrers(sample.store, sample.root));
  await store.tag(sample.root, "1.0");
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const ferry = (args: string[]) => runCli(args, { env });

describe("referrer flags", () => {
  test("copy --json lists them; the text output says how many of which type", async () => {
    const json = await ferry(["copy", "--json", `${registry.host}/cli/app:1.0`, `oci:${tmp}/all:1.0`]);
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result.referrers).toEqual([
      { digest: sig.desc.digest, mediaType: sig.desc.mediaType, artifactType: COSIGN_SIMPLESIGNING, subject: sample.root.digest, tag: sig.tag },
      { digest: sbom.desc.digest, mediaType: sbom.desc.mediaType, artifactType: SPDX_JSON, subject: sample.manifests[0].digest },
    ]);
    const text = await ferry(["copy", `${registry.host}/cli/app:1.0`, `${registry.host}/cli/copy:1.0`]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      `2 referrers (signatures, attestations, SBOMs): 1 ${COSIGN_SIMPLESIGNING}, 1 ${SPDX_JSON}`,
    );
  }, 60_000);

  test("--referrers=false copies the image only; --artifact-type only that type", async () => {
    const none = await ferry(["copy", "--json", "--referrers=false", `${registry.host}/cli/app:1.0`, `oci:${tmp}/none:1.0`]);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout).referrers).toEqual([]);
    const some = await ferry([
      "copy",
      "--json",
      "--artifact-type",
      SPDX_JSON,
      `${registry.host}/cli/app:1.0`,
      `oci:${tmp}/some:1.0`,
    ]);
    expect(JSON.parse(some.stdout).referrers.map((r: { digest: string }) => r.digest)).toEqual([sbom.desc.digest]);
    const both = await ferry(["copy", "--referrers=false", "--artifact-type", SPDX_JSON, `${registry.host}/cli/app:1.0`, `oci:${tmp}/x:1.0`]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("Cannot use --artifact-type with --referrers=false");
  }, 60_000);

  test("mirror --dry-run --json lists each image's referrers", async () => {
    const run = await ferry(["mirror", "--dry-run", "--json", "-d", `${registry.host}/m`, `${registry.host}/cli/app:1.0`]);
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout);
    expect(plan.images[0].referrers.map((r: { digest: string }) => r.digest)).toEqual([sig.desc.digest, sbom.desc.digest]);
  }, 60_000);
});
