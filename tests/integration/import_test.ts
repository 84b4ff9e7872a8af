/**
 * End to end: ferry import against real components — two CNCF registries (copy → export → import
 * round trip, checked with skopeo), a tarball written by the real `docker save` (pulled back with
 * `docker pull` and run), and loads into a private dockerd through the Engine API.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copy } from "../../lib/verbs/copy.ts";
import { exportImage } from "../../lib/verbs/export/export.ts";
import { importImage } from "../../lib/verbs/import/import.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";
import { createHash } from "node:crypto";

setDefaultTimeout(60_000);
const busybox = new Uint8Array(readFileSync("/bin/busybox")); // Debian busybox-static (amd64), never checked in
const sampleOptions = {
  platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
  attestations: true,
  files: { "linux/amd64": { "bin/busybox": busybox } },
  cmd: ["/bin/busybox", "cat", "/platform.txt"],
  layerSize: 64 * 1024,
};
const sample = buildSampleImage(sampleOptions);
const work = mkdtempSync(join(tmpdir(), "ferry-import-it-"));
let engine: TestDocker;
let a: TestRegistry;
let b: TestRegistry;
const previousHost = process.env.DOCKER_HOST;

beforeAll(async () => {
  [engine, a, b] = await Promise.all([startDocker(), startRegistry(), startRegistry()]);
  process.env.DOCKER_HOST = engine.host; // ferry's docker-daemon: end reads it
  await pushSampleImage(`${a.host}/src/app:1.0`, sampleOptions);
}, 90_000);
afterAll(async () => {
  if (previousHost === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = previousHost;
  await Promise.all([engine?.stop(), a?.stop(), b?.stop()]);
  rmSync(work, { recursive: true, force: true });
}, 60_000);

const digestOf = (raw: string) => `sha256:${createHash("sha256").update(raw).digest("hex")}`;

describe("import into a registry", () => {
  test("copy → export (docker files) → import: the index and every manifest digest are the source's", async () => {
    await copy(`${a.host}/src/app:1.0`, `${a.host}/copied/app:1.0`);
    const exported = await exportImage(`${a.host}/copied/app:1.0`, join(work, "files"));
    expect(exported.files.map((f) => f.index)).toEqual(sample.manifests.map(() => sample.root.digest));
    const result = await importImage(exported.files.map((f) => f.path), `${b.host}/back/app:1.0`);
    expect(result.images.map((i) => i.digest)).toEqual(sample.manifests.map((m) => m.digest));
    for (const m of [...sample.manifests, ...sample.attestations]) {
      const raw = await skopeoInspectRaw(`docker://${b.host}/back/app@${m.digest}`);
      expect(digestOf(raw)).toBe(m.digest);
    }
    // Each file carries the index (unlisted) and its platform's attestation: together, the index comes back.
    expect(result.index).toBe("original");
    expect(result.digest).toBe(sample.root.digest);
    const source = await skopeoInspectRaw(`docker://${a.host}/src/app:1.0`);
    expect(await skopeoInspectRaw(`docker://${b.host}/back/app:1.0`)).toBe(source);
  });

  test("import of some of the files: a valid index of those platforms, as copy --platform makes it", async () => {
    const files = join(work, "files");
    const result = await importImage([join(files, "image-armv7.tar.gz"), join(files, "image-amd64.tar.gz")], `${b.host}/back/some:1.0`);
    expect(result.index).toBe("filtered");
    const copied = await copy(`${a.host}/src/app:1.0`, `${a.host}/narrowed/app:1.0`, { platforms: ["linux/amd64,linux/arm/v7"] });
    expect(result.digest).toBe(copied.digest);
    const raw = await skopeoInspectRaw(`docker://${b.host}/back/some:1.0`);
    expect(digestOf(raw)).toBe(copied.digest);
    const index = JSON.parse(raw);
    const images = index.manifests.filter((m: { platform?: { os: string } }) => m.platform?.os !== "unknown");
    expect(images.map((m: { digest: string }) => m.digest)).toEqual([sample.manifests[0].digest, sample.manifests[2].digest]);
    expect(index.manifests.length).toBe(4); // and their two attestations
    for (const m of index.manifests) {
      expect(digestOf(await skopeoInspectRaw(`docker://${b.host}/back/some@${m.digest}`))).toBe(m.digest);
    }
    // skopeo copies the whole pushed index out again: every child and blob is there
    await run("skopeo", ["copy", "--all", "--quiet", "--src-tls-verify=false", `docker://${b.host}/back/some:1.0`, `oci:${join(work, "some-layout")}:1.0`]);
  });

  test("export --platform: the files carry the filtered index, and import brings that back exactly", async () => {
    const exported = await exportImage(`${a.host}/src/app:1.0`, join(work, "filtered"), { platforms: ["arm64,amd64"] });
    const copied = await copy(`${a.host}/src/app:1.0`, `${a.host}/narrowed/app:2.0`, { platforms: ["arm64,amd64"] });
    expect(exported.files.map((f) => f.index)).toEqual([copied.digest, copied.digest]);
    const result = await importImage(exported.files.map((f) => f.path), `${b.host}/back/filtered:1.0`);
    expect(result.index).toBe("original");
    expect(await skopeoInspectRaw(`docker://${b.host}/back/filtered:1.0`)).toBe(
      await skopeoInspectRaw(`docker://${a.host}/narrowed/app:2.0`),
    );
  });

  test("copy → export (oci-archive) → import: the index digest is the source's, attestations too", async () => {
    const exported = await exportImage(`${a.host}/copied/app:1.0`, join(work, "oci"), { format: "oci-archive" });
    const result = await importImage([exported.files[0].path], `${b.host}/back/oci:1.0`);
    expect(result.index).toBe("original");
    expect(result.digest).toBe(sample.root.digest);
    expect(digestOf(await skopeoInspectRaw(`docker://${b.host}/back/oci:1.0`))).toBe(sample.root.digest);
    for (const m of [...sample.manifests, ...sample.attestations]) {
      expect(digestOf(await skopeoInspectRaw(`docker://${b.host}/back/oci@${m.digest}`))).toBe(m.digest);
    }
  });

  test("an OCI layout directory written by skopeo comes back with its index digest", async () => {
    const layout = join(work, "skopeo-layout");
    await run("skopeo", ["copy", "--all", "--quiet", "--src-tls-verify=false", `docker://${a.host}/src/app:1.0`, `oci:${layout}:1.0`]);
    const result = await importImage([layout], `${b.host}/back/layout:1.0`);
    expect(result.digest).toBe(sample.root.digest);
    expect(digestOf(await skopeoInspectRaw(`docker://${b.host}/back/layout:1.0`))).toBe(sample.root.digest);
  });
});

describe("docker", () => {
  test("a real `docker save` tarball imports, and docker pulls it back and runs it", async () => {
    const dir = join(work, "save");
    await run("mkdir", ["-p", join(dir, "rootfs", "bin")]);
    await run("cp", ["/bin/busybox", join(dir, "rootfs", "bin", "busybox")]);
    await run("tar", ["-C", join(dir, "rootfs"), "-cf", join(dir, "rootfs.tar"), "."]);
    await engine.docker(["import", "--change", 'CMD ["/bin/busybox","cat","/hello"]', join(dir, "rootfs.tar"), "busy:base"]);
    await engine.docker(["run", "--name", "c1", "--network", "none", "busy:base", "/bin/busybox", "sh", "-c", "echo hello from docker save > /hello"]);
    await engine.docker(["commit", "--change", 'CMD ["/bin/busybox","cat","/hello"]', "c1", "busy:2"]);
    await engine.docker(["rm", "c1"]);
    const saved = join(dir, "saved.tar");
    await engine.docker(["save", "-o", saved, "busy:2"]);
    const result = await importImage([saved], `${b.host}/saved/busy:2`);
    expect(result.images.map((i) => [i.platform, i.converted])).toEqual([["linux/amd64", true]]);
    // skopeo reads the pushed image; its layers are gzip now, the config (and diff_ids) unchanged
    const info = await skopeoInspect(`docker://${b.host}/saved/busy:2`);
    expect(info.Layers.length).toBe(2);
    const [local] = JSON.parse((await engine.docker(["image", "inspect", "busy:2"])).stdout);
    await engine.docker(["rmi", "busy:2", "busy:base"]);
    await engine.docker(["pull", `${b.host}/saved/busy:2`]);
    const [pulled] = JSON.parse((await engine.docker(["image", "inspect", `${b.host}/saved/busy:2`])).stdout);
    expect(pulled.Id).toBe(local.Id);
    expect(pulled.RootFS.Layers).toEqual(local.RootFS.Layers);
    const ran = await engine.docker(["run", "--rm", "--network", "none", `${b.host}/saved/busy:2`]);
    expect(ran.stdout).toBe("hello from docker save\n");
  });

  test("docker-daemon: loads an exported amd64 image through the Engine API; docker image inspect confirms", async () => {
    const exported = await exportImage(`${a.host}/src/app:1.0`, join(work, "daemon"), { platforms: ["amd64"] });
    const result = await importImage([exported.files[0].path], "docker-daemon:");
    expect(result.loaded).toEqual([`Loaded image: ${a.host}/src/app:1.0-amd64`]);
    const [info] = JSON.parse((await engine.docker(["image", "inspect", `${a.host}/src/app:1.0-amd64`])).stdout);
    expect(info.Architecture).toBe("amd64");
    expect(info.Id).toBe(JSON.parse(await skopeoInspectRaw(`docker://${a.host}/src/app@${sample.manifests[0].digest}`)).config.digest);
    const ran = await engine.docker(["run", "--rm", "--network", "none", `${a.host}/src/app:1.0-amd64`]);
    expect(ran.stdout).toBe("linux/amd64\n");
  });

  test("docker-daemon:REF picks this host's platform from several files; ferry copy to docker-daemon: too", async () => {
    const exported = await exportImage(`${a.host}/src/app:1.0`, join(work, "daemon-all"));
    const result = await importImage(exported.files.map((f) => f.path), "docker-daemon:mine:1");
    expect(result.images.map((i) => i.platform)).toEqual(["linux/amd64"]);
    expect(result.loaded).toEqual(["Loaded image: mine:1"]);
    await copy(`${a.host}/src/app:1.0`, "docker-daemon:copied:1");
    const [info] = JSON.parse((await engine.docker(["image", "inspect", "copied:1"])).stdout);
    expect(info.Architecture).toBe("amd64");
  });

  test("docker-daemon: with no engine listening is a one-line network error", async () => {
    const exported = join(work, "daemon", "image-amd64.tar.gz");
    process.env.DOCKER_HOST = `unix://${join(work, "nothing.sock")}`;
    try {
      await expect(importImage([exported], "docker-daemon:")).rejects.toThrow(/Cannot connect to the Docker engine/);
    } finally {
      process.env.DOCKER_HOST = engine.host;
    }
  });
});
