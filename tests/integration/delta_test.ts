/**
 * End to end, receipts and deltas against the real CNCF registry and skopeo: v1 of a six-platform image is
 * imported into the target; `ferry receipt` of the target is carried out; `ferry export v2 --since receipt.json`
 * holds every manifest of v2 but only the blobs v1 lacks (v2 shares v1's base layer); imported on top of the
 * target, v2's index digest there equals the source's. A target that lost a base blob (deleted through the
 * registry API) is refused by the base guard before anything is pushed. Volumes work the same way.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { isManifest } from "../../lib/oci/media_types.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run as tool, skopeoInspectRaw } from "../helpers/tools.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/386"];
const BASE = 4 * 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), "ferry-delta-it-"));
let source: TestRegistry;
let target: TestRegistry;
let v1: SampleImage;
let v2: SampleImage;

const sha256 = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;
const ferry = (args: string[]) => runCli(args, { timeoutMs: 300_000 });

/** Every digest (manifest or blob) of a sample's graph, with its size and whether it is a manifest. */
function graphOf(sample: SampleImage): Map<string, { size: number; manifest: boolean }> {
  const out = new Map<string, { size: number; manifest: boolean }>();
  const visit = (digest: string, mediaType: string, size: number) => {
    if (out.has(digest)) return;
    out.set(digest, { size, manifest: isManifest(mediaType) });
    if (!isManifest(mediaType)) return;
    const doc = JSON.parse(new TextDecoder().decode(sample.store.get(digest)!));
    for (const c of doc.manifests ?? []) visit(c.digest, c.mediaType, c.size);
    if (doc.config) visit(doc.config.digest, doc.config.mediaType, doc.config.size);
    for (const l of doc.layers ?? []) visit(l.digest, l.mediaType, l.size);
  };
  visit(sample.root.digest, sample.root.mediaType, sample.root.size);
  return out;
}

/** The blob digests an OCI archive holds (`blobs/sha256/<hex>` entries). */
async function blobsIn(archive: string): Promise<string[]> {
  const list = await tool("tar", ["-tf", archive]);
  return list.stdout.split("\n").filter((n) => n.startsWith("blobs/sha256/") && n.length > 13)
    .map((n) => `sha256:${n.slice(13)}`).sort();
}

async function tagsAt(host: string, repo: string): Promise<string[]> {
  const res = await fetch(`http://${host}/v2/${repo}/tags/list`);
  return res.ok ? ((await res.json()).tags ?? []) : [];
}

beforeAll(async () => {
  [source, target] = await Promise.all([startRegistry(), startRegistry()]);
  const common = { platforms: PLATFORMS, baseLayerSize: BASE, baseSeed: 7, layerSize: 32 * 1024 };
  v1 = await pushSampleImage(`${source.host}/team/app:1`, { ...common, seed: 1 });
  v2 = await pushSampleImage(`${source.host}/team/app:2`, { ...common, seed: 2 });
  // v1 is at the target, as a first full import left it.
  const full = join(work, "v1.tar");
  expect((await ferry(["export", "--plain-http", `${source.host}/team/app:1`, "--since", "/dev/null", "-o", full]))
    .code).not.toBe(0); // an empty file is no receipt
  const out = await ferry(["export", "--plain-http", `${source.host}/team/app:1`, `${source.host}/team/app:1`, "-o", full]);
  expect(out.code).toBe(0);
  const imported = await ferry(["import", "--plain-http", full, target.host]);
  expect(imported.stderr).toBe("");
  expect(imported.code).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  rmSync(work, { recursive: true, force: true });
}, 30_000);

describe("receipt → delta → import", () => {
  const receipt = join(work, "receipt.json");
  const delta = join(work, "delta.tar");

  test("ferry receipt of the target: every tag's index digest, its manifests and blobs, checksummed", async () => {
    const run = await ferry(["receipt", "--plain-http", "-o", receipt, target.host]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("1 tags, 7 manifests, 13 blobs");
    const doc = JSON.parse(readFileSync(receipt, "utf8"));
    expect(doc.version).toBe(1);
    expect(doc.tags).toEqual({ [`${target.host}/team/app:1`]: v1.root.digest });
    const g = graphOf(v1);
    expect(doc.manifests).toEqual([...g].filter(([, v]) => v.manifest).map(([d]) => d).sort());
    expect(doc.blobs).toEqual(
      [...g].filter(([, v]) => !v.manifest).map(([digest, v]) => ({ digest, size: v.size })).sort((a, b) =>
        a.digest < b.digest ? -1 : 1
      ),
    );
    expect(doc.sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
  }, 120_000);

  test("export v2 --since: every manifest, only the blobs v1 lacks; the saving is reported", async () => {
    const run = await ferry(["export", "--plain-http", "--json", "--since", receipt, `${source.host}/team/app:2`, "-o", delta]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    const g1 = graphOf(v1), g2 = graphOf(v2);
    const expected = [...g2].filter(([d, v]) => v.manifest || !g1.has(d)).map(([d]) => d).sort();
    expect(await blobsIn(delta)).toEqual(expected);
    const shared = [...g2].filter(([d, v]) => !v.manifest && g1.has(d));
    const base = shared.find(([, v]) => v.size >= BASE);
    expect(base).toBeDefined(); // the 4 MiB base layer is what the delta saves
    expect(result.delta.leftOut).toBe(shared.length);
    expect(result.delta.leftOutBytes).toBe(shared.reduce((n, [, v]) => n + v.size, 0));
    expect(result.delta.since).toBe(JSON.parse(readFileSync(receipt, "utf8")).sha256);
    const meta = JSON.parse((await tool("tar", ["-xOf", delta, "bundle.json"])).stdout);
    expect(meta.since).toBe(result.delta.since);
    expect(meta.images[0].leftOut.map((d: { digest: string }) => d.digest).sort()).toEqual(shared.map(([d]) => d).sort());
    // Against the full export of v2.
    const full = join(work, "v2-full.tar");
    expect((await ferry(["export", "--plain-http", `${source.host}/team/app:2`, `${source.host}/team/app:2`, "-o", full])).code)
      .toBe(0);
    const [deltaSize, fullSize] = [statSync(delta).size, statSync(full).size];
    console.log(`delta ${deltaSize} bytes vs full ${fullSize} bytes (${Math.round(100 - (deltaSize / fullSize) * 100)}% saved)`);
    expect(deltaSize).toBeLessThan(fullSize - BASE);
    const text = await ferry(["export", "--plain-http", "--since", receipt, `${source.host}/team/app:2`, "-o", delta]);
    expect(text.stdout).toMatch(/delta since sha256:[0-9a-f]{12}…: 1 blob \(4\.\d MiB\) left out, the target has them;/);
  }, 120_000);

  test("the guard refuses the delta on a target that lost a base blob, before pushing anything", async () => {
    const other = await startRegistry();
    try {
      expect((await ferry(["import", "--plain-http", join(work, "v1.tar"), other.host])).code).toBe(0);
      const g1 = graphOf(v1);
      const [base] = [...g1].find(([, v]) => v.size >= BASE)!;
      const del = await fetch(`http://${other.host}/v2/team/app/blobs/${base}`, { method: "DELETE" });
      expect(del.status).toBe(202);
      const run = await ferry(["import", "--plain-http", delta, other.host]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("Cannot import: the target lacks 1 blob the delta leaves out");
      expect(run.stderr).toContain(`${base} (${other.host}/team/app)`);
      expect(await tagsAt(other.host, "team/app")).toEqual(["1"]);
      // No blob of v2 was pushed either.
      const g2 = graphOf(v2);
      const fresh = [...g2].find(([d, v]) => !v.manifest && !g1.has(d))![0];
      expect((await fetch(`http://${other.host}/v2/team/app/blobs/${fresh}`, { method: "HEAD" })).status).toBe(404);
    } finally {
      await other.stop();
    }
  }, 120_000);

  test("ferry import of the delta on top of the target: v2's index digest equals the source's", async () => {
    const run = await ferry(["import", "--plain-http", delta, target.host]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(sha256(await skopeoInspectRaw(`docker://${target.host}/team/app:2`))).toBe(v2.root.digest);
    // Every platform image is whole at the target (skopeo reads each one's config).
    const out = await tool("skopeo", ["copy", "--src-tls-verify=false", "--all", `docker://${target.host}/team/app:2`, `oci:${join(work, "check")}:2`]);
    expect(out.code ?? 0).toBe(0);
  }, 120_000);

  test("volumes: a delta split into volumes imports the same way", async () => {
    const other = await startRegistry();
    try {
      expect((await ferry(["import", "--plain-http", join(work, "v1.tar"), other.host])).code).toBe(0);
      const dir = join(work, "delta-vols");
      const run = await ferry([
        "export", "--plain-http", "--since", receipt, "--volume-size", "160000", `${source.host}/team/app:2`, "-o", dir,
      ]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, "volumes.json"), "utf8")).volumes.length).toBeGreaterThan(1);
      const back = await ferry(["import", "--plain-http", dir, other.host]);
      expect(back.stderr).toBe("");
      expect(back.code).toBe(0);
      expect(sha256(await skopeoInspectRaw(`docker://${other.host}/team/app:2`))).toBe(v2.root.digest);
    } finally {
      await other.stop();
    }
  }, 120_000);
});

