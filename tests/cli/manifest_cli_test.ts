/**
 * `ferry manifest …` and `ferry split` as a user runs them (from source, or the compiled binary with FERRY_BIN):
 * docker's workflow across separate processes (drafts under FERRY_CONFIG), from-spec, split --json, and bad input
 * → exit code plus one line on stderr.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { digestOf } from "../../lib/oci/digest.ts";
import { bare } from "../../lib/oci/descriptor.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { skopeoInspectRaw } from "../helpers/tools.ts";

let registry: TestRegistry;
let tmp: string;
let env: Record<string, string>;
let repo: string;

async function pushArch(ref: string, platform: string, seed: number): Promise<string> {
  const sample = buildSampleImage({ platforms: [platform], seed, mediaType: "docker" });
  const reference = parseReference(ref);
  const store = openRegistryStore(reference);
  await copyGraph(sample.store, store, bare(sample.manifests[0]));
  await store.tag(bare(sample.manifests[0]), reference.tag!);
  return sample.manifests[0].digest;
}

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), "ferry-manifest-cli-"));
  env = { FERRY_CONFIG: join(tmp, "config") };
  repo = `${registry.host}/cli/app`;
  await pushArch(`${repo}:1.0-amd64`, "linux/amd64", 1);
  await pushArch(`${repo}:1.0-arm64`, "linux/arm64/v8", 2);
  await pushArch(`${repo}:1.0-arm`, "linux/arm", 3);
  await pushSampleImage(`${registry.host}/cli/multi:1.0`, { attestations: true });
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const ferry = (args: string[]) => runCli(args, { env });

describe("ferry manifest: docker's workflow, one process per step", () => {
  test("create (warns about arm without variant), annotate, inspect --check, push --purge", async () => {
    const create = await ferry(["manifest", "create", `${repo}:1.0`, `${repo}:1.0-amd64`, `${repo}:1.0-arm64`, `${repo}:1.0-arm`]);
    expect(create.code).toBe(0);
    expect(create.stderr).toMatch(/warning: .*linux\/arm without a variant/);
    const badCheck = await ferry(["manifest", "inspect", "--check", `${repo}:1.0`]);
    expect(badCheck.code).toBe(8);
    expect(badCheck.stdout).toMatch(/arm-variant/);
    expect(badCheck.stderr.trim().split("\n")).toEqual([`ferry: ${repo}:1.0: Cannot pass the platform check: 1 problem`]);
    const annotate = await ferry(["manifest", "annotate", `${repo}:1.0`, `${repo}:1.0-arm`, "--arch", "arm", "--variant", "v7"]);
    expect(annotate).toMatchObject({ code: 0, stderr: "" });
    expect((await ferry(["manifest", "inspect", "--check", `${repo}:1.0`])).code).toBe(0);
    const draft = JSON.parse((await ferry(["manifest", "inspect", `${repo}:1.0`])).stdout);
    expect(draft.manifests.length).toBe(3);
    const push = await ferry(["manifest", "push", "--purge", `${repo}:1.0`]);
    expect(push.code).toBe(0);
    // Like docker manifest push: stdout is the digest alone (DIGEST=$(ferry manifest push …)), the rest on stderr.
    expect(push.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(push.stderr).toMatch(/^Pushed .*\nDigest: sha256:[a-f0-9]{64} \d+/);
    const rawText = await skopeoInspectRaw(`docker://${repo}:1.0`);
    expect(digestOf(new TextEncoder().encode(rawText))).toBe(push.stdout.trim());
    const raw = JSON.parse(rawText);
    expect(raw.manifests.map((m: { platform: { variant?: string } }) => m.platform.variant ?? "")).toEqual(["", "v8", "v7"]);
    const again = await ferry(["manifest", "push", `${repo}:1.0`]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/no such manifest list draft/);
    const verbose = JSON.parse((await ferry(["manifest", "inspect", "-v", `${repo}:1.0`])).stdout);
    expect(verbose.map((v: { Manifest: { layers: unknown[] } }) => v.Manifest.layers.length)).toEqual([2, 2, 2]);
  }, 60_000);

  test("a second create of a drafted list is refused without --amend (docker's words); --amend adds", async () => {
    const list = `${repo}:again`;
    expect((await ferry(["manifest", "create", list, `${repo}:1.0-amd64`])).code).toBe(0);
    const again = await ferry(["manifest", "create", list, `${repo}:1.0-arm64`]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to amend an existing manifest list with no --amend flag/);
    expect(again.stderr.trim().split("\n").length).toBe(1);
    expect((await ferry(["manifest", "create", "--amend", list, `${repo}:1.0-arm64`])).code).toBe(0);
    const draft = JSON.parse((await ferry(["manifest", "inspect", list])).stdout);
    expect(draft.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(draft.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    const check = await ferry(["manifest", "inspect", "--json", list]);
    const push = await ferry(["manifest", "push", list]);
    expect(push.stdout.trim()).toBe(JSON.parse(check.stdout).digest);
  }, 60_000);

  test("from-spec: stdout is the digest; os.version shows in the summary and in ferry inspect", async () => {
    await pushArch(`${repo}:1.0-ltsc2019`, "windows/amd64", 4);
    const file = join(tmp, "windows.yaml");
    await writeFile(file, `image: ${repo}:win\nmanifests:\n  - image: ${repo}:1.0-amd64\n    platform: {os: linux, architecture: amd64}\n  - image: ${repo}:1.0-ltsc2019\n    platform: {os: windows, architecture: amd64, osversion: 10.0.17763.4252}\n`);
    const push = await ferry(["manifest", "push", "from-spec", file]);
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(push.stderr).toMatch(/windows\(10\.0\.17763\.4252\)\/amd64/);
    const text = await ferry(["inspect", `${repo}:win`]);
    expect(text.stdout).toMatch(/^ {2}windows\(10\.0\.17763\.4252\)\/amd64 +sha256:/m);
    const json = JSON.parse((await ferry(["inspect", "--json", `${repo}:win`])).stdout);
    expect(json.manifests.map((m: { osVersion?: string }) => m.osVersion)).toEqual([undefined, "10.0.17763.4252"]);
    expect(json.digest).toBe(push.stdout.trim());
  }, 60_000);

  test("push from-spec and split --json", async () => {
    const file = join(tmp, "spec.yaml");
    await writeFile(file, `image: ${repo}:spec\ntags: [latest]\nmanifests:\n  - image: ${repo}:1.0-amd64\n    platform:\n      architecture: amd64\n      os: linux\n  - image: ${registry.host}/cli/multi:1.0\n    platform:\n      architecture: arm64\n      os: linux\n`);
    const push = await ferry(["manifest", "push", "from-spec", "--json", file]);
    expect(push.code).toBe(0);
    expect(JSON.parse(push.stdout).tags).toEqual(["spec", "latest"]);
    const splitRun = await ferry(["split", "--json", `${registry.host}/cli/multi:1.0`, `${registry.host}/cli/split`]);
    expect(splitRun.code).toBe(0);
    expect(JSON.parse(splitRun.stdout).tags.map((t: { tag: string }) => t.tag)).toEqual(["1.0-amd64", "1.0-arm64", "1.0-armv7"]);
  }, 60_000);
});

interface Row {
  name: string;
  args: () => string[];
  code: number;
  stderr: RegExp;
}

const rows: Row[] = [
  { name: "no subcommand", args: () => ["manifest"], code: 2, stderr: /expected a subcommand/ },
  { name: "unknown subcommand", args: () => ["manifest", "frob", "x"], code: 2, stderr: /unknown subcommand/ },
  { name: "flag of another subcommand", args: () => ["manifest", "create", "--os", "linux", "a", "b"], code: 2, stderr: /Cannot use --os with 'ferry manifest create'/ },
  { name: "bad --type", args: () => ["manifest", "create", "--type", "v1", "a", "b"], code: 2, stderr: /--type "v1"/ },
  { name: "push without a draft", args: () => [`manifest`, "push", `${repo}:nodraft`], code: 3, stderr: /no such manifest list draft/ },
  { name: "a component that does not exist", args: () => ["manifest", "create", `${repo}:x`, `${repo}:nope`], code: 3, stderr: /MANIFEST_UNKNOWN/ },
  { name: "annotate an image not in the list", args: () => ["manifest", "annotate", `${repo}:nodraft`, `${repo}:1.0-amd64`, "--arch", "arm"], code: 3, stderr: /no such manifest list draft/ },
  { name: "from-spec with an unknown key", args: () => ["manifest", "push", "from-spec", join(tmp, "unknown.yaml")], code: 2, stderr: /unknown key "manifests\[0\]\.platfrom"/ },
  { name: "from-spec with a bad platform", args: () => ["manifest", "push", "from-spec", join(tmp, "badplatform.yaml")], code: 2, stderr: /unknown architecture "aarch64" \(did you mean arm64\?\)/ },
  { name: "from-spec with two images for one platform", args: () => ["manifest", "push", "from-spec", join(tmp, "dup.yaml")], code: 2, stderr: /two images for linux\/amd64/ },
  { name: "from-spec file missing", args: () => ["manifest", "push", "from-spec", join(tmp, "missing.yaml")], code: 8, stderr: /Cannot read/ },
  { name: "from-args without --target", args: () => ["manifest", "push", "from-args", "--platforms", "linux/amd64", "--template", "a:ARCH"], code: 2, stderr: /required/ },
  { name: "split with an unknown placeholder", args: () => ["split", "--tag-template", "{cpu}", `${registry.host}/cli/multi:1.0`, `${registry.host}/cli/s2`], code: 2, stderr: /unknown placeholder/ },
  { name: "split with a missing platform", args: () => ["split", "--platform", "s390x", `${registry.host}/cli/multi:1.0`, `${registry.host}/cli/s3`], code: 3, stderr: /linux\/s390x/ },
];

describe("bad input: exit code and one stderr line", () => {
  beforeAll(async () => {
    await writeFile(join(tmp, "unknown.yaml"), `image: ${repo}:u\nmanifests:\n  - image: ${repo}:1.0-amd64\n    platfrom: {os: linux}\n`);
    await writeFile(join(tmp, "badplatform.yaml"), `image: ${repo}:b\nmanifests:\n  - image: ${repo}:1.0-arm64\n    platform: {os: linux, architecture: aarch64}\n`);
    await writeFile(
      join(tmp, "dup.yaml"),
      `image: ${repo}:d\nmanifests:\n  - {image: ${repo}:1.0-amd64, platform: {os: linux, architecture: amd64}}\n  - {image: ${repo}:1.0-arm64, platform: {os: linux, architecture: amd64}}\n`,
    );
  });
  for (const row of rows) {
    test(row.name, async () => {
      const r = await ferry(row.args());
      expect(r.stderr).toMatch(row.stderr);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.code).toBe(row.code);
    }, 30_000);
  }
  test("nothing was pushed under the failed lists", async () => {
    for (const tag of ["x", "u", "b", "d"]) {
      const res = await fetch(`http://${registry.host}/v2/cli/app/manifests/${tag}`, { method: "HEAD" });
      expect(res.status).toBe(404);
    }
  });
});
