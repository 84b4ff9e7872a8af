/**
 * The CLI and its ends as a user types them, against the real registry: a relative path that exists is
 * refused instead of being sent to a registry, a digest source needs a tagged destination, `-o x.tar`
 * means an archive, and foreign layers are reported (stderr line, --json) and refused for docker-load files.
 * With FERRY_BIN set, the same tests run against the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspectRaw } from "../helpers/tools.ts";

let registry: TestRegistry;
let sample: SampleImage;
let windows: SampleImage;
const work = mkdtempSync(join(tmpdir(), "ferry-locations-cli-"));
const SRC = () => `${registry.host}/loc/app:1.0`;
const HELLO = () => `${registry.host}/loc/hello:1.0`;
const sha256 = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;

async function tagsOf(repository: string): Promise<string[]> {
  const res = await fetch(`http://${registry.host}/v2/${repository}/tags/list`);
  return res.ok ? ((await res.json()) as { tags: string[] | null }).tags ?? [] : [];
}

beforeAll(async () => {
  registry = await startRegistry({ allowUrls: ["^https?://"] });
  sample = await pushSampleImage(SRC());
  windows = await pushSampleImage(HELLO(), { foreignLayers: true, mediaType: "docker" });
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("a plain name that exists here is refused, not sent to a registry", () => {
  test("inspect out/image-amd64.tar.gz (an export file) → use oci-archive:", async () => {
    const cwd = join(work, "inspect");
    mkdirSync(cwd);
    const exported = await runCli(["export", "-q", "-o", join(cwd, "out"), "--platform", "amd64", SRC()]);
    expect(exported.code).toBe(0);
    const r = await runCli(["inspect", "out/image-amd64.tar.gz"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'ferry: Cannot use "out/image-amd64.tar.gz" as a registry reference: it is a file here (an OCI archive); ' +
        "write oci-archive:out/image-amd64.tar.gz for it, or docker://out/image-amd64.tar.gz for the registry",
    );
    const ok = await runCli(["inspect", "--json", "oci-archive:out/image-amd64.tar.gz"], { cwd });
    expect(ok.code).toBe(0);
  }, 60_000);

  test("copy out DST with out an OCI layout → use oci:out; nothing is written", async () => {
    const cwd = join(work, "layout");
    mkdirSync(cwd);
    expect((await runCli(["copy", "-q", SRC(), `oci:${join(cwd, "out")}:1.0`])).code).toBe(0);
    const r = await runCli(["copy", "out", `${registry.host}/loc/from-layout:1.0`], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("it is a directory here (an OCI layout); write oci:out for it, or docker://out");
    expect(await tagsOf("loc/from-layout")).toEqual([]);
    // The destination side too.
    const d = await runCli(["copy", SRC(), "out"], { cwd });
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('Cannot use "out" as a registry reference: it is a directory here');
  }, 60_000);

  test("a tar holding only manifest.json → use docker-archive:; docker:// still means the registry", async () => {
    const cwd = join(work, "docker-archive");
    mkdirSync(cwd);
    writeFileSync(join(cwd, "manifest.json"), "[]");
    await run("tar", ["-cf", "saved.tar", "manifest.json"], { cwd });
    const r = await runCli(["inspect", "saved.tar"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("it is a file here (a docker-archive); write docker-archive:saved.tar for it");

    // A directory named like a registry reference: the plain name is refused, docker:// reaches the registry.
    const [host, port] = registry.host.split(":");
    mkdirSync(join(cwd, `${host}:${port}`, "loc", "app"), { recursive: true });
    const plain = await runCli(["inspect", `${registry.host}/loc/app`], { cwd });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`write oci:${registry.host}/loc/app for it, or docker://${registry.host}/loc/app`);
    await runCli(["copy", "-q", SRC(), `${registry.host}/loc/app:latest`]);
    const explicit = await runCli(["inspect", "--json", `docker://${registry.host}/loc/app`], { cwd });
    expect(explicit.code).toBe(0);
    expect(JSON.parse(explicit.stdout).digest).toBe(sample.root.digest);
  }, 60_000);
});

describe("copy by digest", () => {
  test("to a destination without a tag is refused (no silent :latest); with a tag or digest it copies", async () => {
    const amd64 = sample.manifests[0].digest;
    const src = `${registry.host}/loc/app@${amd64}`;
    const r = await runCli(["copy", src, `${registry.host}/loc/bydigest`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `ferry: Cannot copy ${src} to ${registry.host}/loc/bydigest: the destination needs a tag when the source is a ` +
        `digest (write ${registry.host}/loc/bydigest:TAG, or ${registry.host}/loc/bydigest@${amd64} to push it untagged)`,
    );
    expect(await tagsOf("loc/bydigest")).toEqual([]);
    const layout = await runCli(["copy", src, `oci:${join(work, "bydigest")}`]);
    expect(layout.code).toBe(2);
    expect(layout.stderr).toContain("the destination needs a tag when the source is a digest");

    expect((await runCli(["copy", "-q", src, `${registry.host}/loc/bydigest:amd64`])).code).toBe(0);
    expect((await runCli(["copy", "-q", src, `${registry.host}/loc/untagged@${amd64}`])).code).toBe(0);
    expect(await tagsOf("loc/bydigest")).toEqual(["amd64"]);
    expect(await tagsOf("loc/untagged")).toEqual([]);
    expect(sha256(await skopeoInspectRaw(`docker://${registry.host}/loc/untagged@${amd64}`))).toBe(amd64);
  }, 60_000);
});

describe("export -o NAME.tar", () => {
  test("without --format writes one OCI archive file (said on stderr), not a directory", async () => {
    const file = join(work, "my.tar");
    const r = await runCli(["export", "-o", file, SRC()]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Writing one OCI archive to ${file} (as --format oci-archive; -o names a file)`);
    expect(statSync(file).isFile()).toBe(true);
    expect(sha256(await skopeoInspectRaw(`oci-archive:${file}:1.0`))).toBe(sample.root.digest);
    const gz = join(work, "my.tar.gz");
    expect((await runCli(["export", "-q", "-o", gz, SRC()])).code).toBe(0);
    expect(statSync(gz).isFile()).toBe(true);
  }, 60_000);

  test("with --format docker or oci is refused with a hint; nothing is created", async () => {
    const file = join(work, "docker.tar.gz");
    const r = await runCli(["export", "--format", "docker", "-o", file, SRC()]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `ferry: Cannot export as docker to -o ${file}: --format docker writes one image-<arch>.tar.gz per platform ` +
        "into a directory; name a directory, or use --format oci-archive for one archive file",
    );
    expect(existsSync(file)).toBe(false);
    const oci = await runCli(["export", "--format", "oci", "-o", join(work, "layout.tgz"), SRC()]);
    expect(oci.code).toBe(2);
    expect(oci.stderr).toContain("--format oci writes a layout directory");
  }, 60_000);
});

describe("foreign layers on the command line", () => {
  test("copy says which foreign layers it left out, on stderr and in --json", async () => {
    const [{ desc }] = windows.foreignLayers;
    const r = await runCli(["copy", "--json", HELLO(), `${registry.host}/loc/hello-copy:1.0`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Skipping foreign layer ${desc.digest} (application/vnd.docker.image.rootfs.foreign.diff.tar.gzip)`);
    const result = JSON.parse(r.stdout);
    expect(result.digest).toBe(windows.root.digest);
    expect(result.skippedForeignLayers).toEqual([desc]);
    const human = await runCli(["copy", HELLO(), `${registry.host}/loc/hello-copy2:1.0`]);
    expect(human.stdout).toContain("1 foreign layers left out");
  }, 60_000);

  test("export (docker-load files) refuses the windows platform, exit 7; the flag is named; split, mirror copy", async () => {
    const dir = join(work, "hello-export");
    const r = await runCli(["export", "-o", dir, HELLO()]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("Cannot export windows/amd64 as a docker-load file");
    expect(r.stderr).toContain("--allow-nondistributable-artifacts");
    const allowed = await runCli(["export", "--allow-nondistributable-artifacts", "-o", dir, HELLO()]);
    expect(allowed.code).toBe(3);
    expect(allowed.stderr).toContain("Cannot find foreign layer");

    const split = await runCli(["split", "--json", "--tag-template", "{tag}-{label}", HELLO(), `${registry.host}/loc/hello-split`]);
    expect(split.code).toBe(0);
    expect(JSON.parse(split.stdout).tags.map((t: { tag: string }) => t.tag)).toContain("1.0-windows-amd64");
    expect(split.stderr).toContain("Skipping foreign layer");

    const mirrored = await runCli(["mirror", "-d", `${registry.host}/loc-mirror`, HELLO()]);
    expect(mirrored.code).toBe(0);
    expect(mirrored.stderr).toContain("Skipping foreign layer");
  }, 60_000);
});
