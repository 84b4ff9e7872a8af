/**
 * End to end: `ferry build` (the CLI) builds a two-stage Dockerfile on a real multi-arch base in a real
 * registry and pushes it; skopeo reads every platform back, the real Docker engine pulls the image and
 * runs the amd64 one (busybox-static from Debian prints a file the build copied in), and a second build
 * gives the same digests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { runCli } from "../helpers/cli.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";

const busybox = new Uint8Array(readFileSync("/bin/busybox")); // Debian busybox-static (amd64), never checked in
const work = mkdtempSync(join(tmpdir(), "ferry-build-it-"));
const ctx = join(work, "ctx");
let engine: TestDocker;
let registry: TestRegistry;
let base: SampleImage;
const BASE = () => `${registry.host}/base/busybox:1`;

beforeAll(async () => {
  [engine, registry] = await Promise.all([startDocker(), startRegistry()]);
  base = await pushSampleImage(BASE(), {
    platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
    files: { "linux/amd64": { "bin/busybox": busybox } },
    cmd: ["/bin/busybox", "cat", "/platform.txt"],
    mediaType: "docker",
  });
  mkdirSync(join(ctx, "bin"), { recursive: true });
  writeFileSync(join(ctx, "hello.txt"), "hello from ferry build\n");
  writeFileSync(join(ctx, "bin", "app-amd64"), "the amd64 build\n");
  writeFileSync(join(ctx, "bin", "app-arm64"), "the arm64 build\n");
  writeFileSync(join(ctx, "secret.key"), "never in an image\n");
  writeFileSync(join(ctx, ".dockerignore"), "*.key\n");
  writeFileSync(join(ctx, "Dockerfile"), [
    "ARG BASE",
    "FROM ${BASE} AS assets",
    "COPY hello.txt /assets/",
    "",
    "FROM ${BASE}",
    "ARG TARGETARCH",
    "COPY --from=assets /assets/hello.txt /srv/hello.txt",
    "COPY --chmod=0644 bin/app-${TARGETARCH} /srv/app.txt",
    "ENV GREETING=hello",
    'CMD ["/bin/busybox", "cat", "/srv/hello.txt", "/srv/app.txt"]',
    "",
  ].join("\n"));
}, 90_000);
afterAll(async () => {
  await Promise.all([engine?.stop(), registry?.stop()]);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

async function ferryBuild(tag: string, extra: string[] = []) {
  const run = await runCli([
    "build",
    "--platform",
    "linux/amd64,linux/arm64",
    "-t",
    `${registry.host}/app:${tag}`,
    "--push",
    "--build-arg",
    `BASE=${BASE()}`,
    "--json",
    ...extra,
    ctx,
  ], { timeoutMs: 120_000 });
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as { digest: string; images: { platform: string; digest: string; tags: string[] }[]; pushed: string[] };
}

describe("ferry build", () => {
  test("pushes a multi-arch image that docker pulls and runs; skopeo sees every platform; twice gives the same digests", async () => {
    const first = await ferryBuild("1", ["--split"]);
    expect(first.pushed).toEqual([`${registry.host}/app:1`]);
    expect(first.images.map((i) => i.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    expect(first.images.map((i) => i.tags)).toEqual([[`${registry.host}/app:1-amd64`], [`${registry.host}/app:1-arm64`]]);

    const index = JSON.parse(await skopeoInspectRaw(`docker://${registry.host}/app:1`));
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m: { digest: string; platform: unknown }) => [m.digest, m.platform])).toEqual([
      [first.images[0].digest, { architecture: "amd64", os: "linux" }],
      [first.images[1].digest, { architecture: "arm64", os: "linux", variant: "v8" }],
    ]);
    for (const [i, label] of ["amd64", "arm64"].entries()) {
      const info = await skopeoInspect(`docker://${registry.host}/app:1-${label}`);
      expect(info.Digest).toBe(first.images[i].digest);
      expect(info.Architecture).toBe(label);
      expect(info.Env).toContain("GREETING=hello");
      // The base's two layers, byte for byte (never recompressed), then the two COPY layers.
      const baseManifest = JSON.parse(new TextDecoder().decode(base.store.get(base.manifests[i].digest)));
      expect(info.Layers.slice(0, 2)).toEqual(baseManifest.layers.map((l: { digest: string }) => l.digest));
      expect(info.Layers).toHaveLength(4);
    }

    await engine.docker(["pull", "-q", `${registry.host}/app:1`], { timeoutMs: 120_000 });
    const ran = await engine.docker(["run", "--rm", "--network", "none", `${registry.host}/app:1`]);
    expect(ran.stdout).toBe("hello from ferry build\nthe amd64 build\n");

    const second = await ferryBuild("2");
    expect(second.digest).toBe(first.digest);
    expect(second.images.map((i) => i.digest)).toEqual(first.images.map((i) => i.digest));
  }, 240_000);
});
