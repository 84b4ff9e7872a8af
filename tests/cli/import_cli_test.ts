/**
 * `ferry import` as a user meets it: a round trip through the CLI with --json, and the hostile-archive
 * table — each crafted archive → its one-line error and exit code, and nothing at the destination.
 * With FERRY_BIN set, the same table runs against the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CraftedEntry, tarFile } from "../helpers/crafted_tar.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

setDefaultTimeout(30_000);
let registry: TestRegistry;
const work = mkdtempSync(join(tmpdir(), "ferry-import-cli-"));
beforeAll(async () => {
  registry = await startRegistry();
  await pushSampleImage(`${registry.host}/src/app:1.0`, { platforms: ["linux/amd64", "linux/arm64/v8"] });
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const sha = (b: string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const hex = (b: string) => sha(b).slice(7);
const config = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha("layer")] } });
const good = (extra: CraftedEntry[] = [], layers = ["1/layer.tar"]): CraftedEntry[] => [
  { name: "1/layer.tar", data: "layer" },
  { name: `${hex(config)}.json`, data: config },
  ...extra,
  { name: "manifest.json", data: JSON.stringify([{ Config: `${hex(config)}.json`, RepoTags: ["x:1"], Layers: layers }]) },
];

async function repositories(): Promise<string[]> {
  const res = await fetch(`http://${registry.host}/v2/_catalog`);
  return (await res.json()).repositories ?? [];
}

describe("ferry import", () => {
  test("export files → import --json: the same manifests, a new Docker manifest list the registry serves", async () => {
    const out = join(work, "files");
    const exported = await runCli(["export", "--json", "-o", out, `${registry.host}/src/app:1.0`]);
    expect(exported.code).toBe(0);
    const files = JSON.parse(exported.stdout).files.map((f: { path: string }) => f.path);
    const imported = await runCli(["import", "--json", "--type", "docker", ...files, `${registry.host}/back/app:1.0`]);
    expect(imported.stderr).toBe("");
    expect(imported.code).toBe(0);
    const result = JSON.parse(imported.stdout);
    expect(result.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(result.images.map((i: { platform: string }) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    const res = await fetch(`http://${registry.host}/v2/back/app/manifests/1.0`, {
      headers: { Accept: "application/vnd.docker.distribution.manifest.list.v2+json" },
    });
    expect(res.headers.get("docker-content-digest")).toBe(result.digest);
  });

  const rows: { name: string; entries: () => CraftedEntry[]; code: number; stderr: RegExp }[] = [
    { name: "absolute path", entries: () => good([{ name: "/etc/cron.d/x", data: "x" }]), code: 8, stderr: /has an absolute path/ },
    { name: "dot-dot path", entries: () => good([{ name: "../../x", data: "x" }]), code: 8, stderr: /has a "\.\." path component/ },
    { name: "symlink", entries: () => good([{ name: "evil", type: "symlink", link: "/etc/shadow" }]), code: 8, stderr: /link "evil" points outside the archive/ },
    { name: "duplicate names", entries: () => good([{ name: "1/layer.tar", data: "other" }]), code: 8, stderr: /duplicate entry "1\/layer.tar"/ },
    { name: "manifest.json pointing outside", entries: () => good([], ["../../../etc/passwd"]), code: 8, stderr: /manifest.json points outside the archive/ },
    { name: "enormous manifest.json", entries: () => [{ name: "manifest.json", data: `[${" ".repeat(5 << 20)}]` }], code: 8, stderr: /manifest.json is too large/ },
    { name: "layer not matching its diff_id", entries: () => [{ name: "1/layer.tar", data: "LAYER" }, ...good().slice(1)], code: 6, stderr: /Cannot verify blob: expected digest/ },
    { name: "not a tar at all", entries: () => [], code: 8, stderr: /Cannot read archive/ },
  ];
  for (const [i, row] of rows.entries()) {
    test(`hostile archive refused: ${row.name} → exit ${row.code}, nothing pushed`, async () => {
      const path = join(work, `hostile-${i}.tar.gz`);
      writeFileSync(path, row.entries().length ? tarFile(row.entries(), { gzip: true }) : new TextEncoder().encode("garbage"));
      const r = await runCli(["import", path, `${registry.host}/hostile${i}/app:1.0`]);
      expect(r.code).toBe(row.code);
      expect(r.stderr).toMatch(row.stderr);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.stderr).toMatch(/^ferry: /);
      expect(await repositories()).not.toContain(`hostile${i}/app`);
    });
  }

  test("usage errors: one input only, a bad --type, a missing file", async () => {
    expect((await runCli(["import", "only-one"])).code).toBe(2);
    const badType = await runCli(["import", "--type", "zip", "a.tar", "oci:x"]);
    expect([badType.code, badType.stderr]).toEqual([2, expect.stringMatching(/--type "zip"/)]);
    const missing = await runCli(["import", join(work, "nope.tar"), `${registry.host}/x/y:1`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/nope.tar: no such file or directory/);
  });
});
