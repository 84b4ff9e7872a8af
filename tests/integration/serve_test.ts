/**
 * End to end: `ferry serve` on an OCI archive as ferry export writes it, and on a writable layout. The real
 * Docker engine pulls from it and runs the amd64 image, skopeo copies every platform out with digests intact,
 * `docker push` into --writable works and the layout it leaves is one skopeo reads. Every form `ferry export`
 * writes (docker-format files, an OCI layout, an OCI archive) is served under the name it was exported as.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { type RunningRegistry, serve, type ServeEvent } from "../../lib/verbs/serve.ts";
import { buildSampleImage, type SampleImage } from "../../lib/testing/sample_image.ts";
import { ArchiveWriter } from "../../lib/ends/archive_writer.ts";
import { type ExportFormat, exportImage } from "../../lib/verbs/export/export.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../helpers/tools.ts";

const busybox = new Uint8Array(readFileSync("/bin/busybox")); // Debian busybox-static (amd64), never checked in
const sample = buildSampleImage({
  platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
  attestations: true,
  files: { "linux/amd64": { "bin/busybox": busybox } },
  cmd: ["/bin/busybox", "cat", "/platform.txt"],
  layerSize: 64 * 1024,
  // A base layer above 4 MiB: served hashed as it streams out (smaller blobs are verified in memory).
  baseLayerSize: 5 * 1024 * 1024,
});
const work = mkdtempSync(join(tmpdir(), "ferry-serve-it-"));
const archive = join(work, "app.oci.tar.gz");
const events: ServeEvent[] = [];
let engine: TestDocker;
let served: RunningRegistry;
let writable: RunningRegistry;

beforeAll(async () => {
  // What `ferry export --format oci-archive -o app.oci.tar.gz` writes.
  const writer = new ArchiveWriter(archive, { gzipLevel: 1 });
  await copyGraph(sample.store, writer, sample.root);
  await writer.tag(sample.root, "app:1.0");
  await writer.close();
  engine = await startDocker();
  served = await serve([archive], { address: "127.0.0.1:0", onEvent: (e) => events.push(e) });
  writable = await serve([join(work, "pushed")], { address: "127.0.0.1:0", writable: true });
}, 90_000);

afterAll(async () => {
  await Promise.all([served?.stop(), writable?.stop()]);
  await engine?.stop();
  rmSync(work, { recursive: true, force: true });
}, 60_000);

describe("ferry serve of an OCI archive", () => {
  test("names the repository from the archive's annotations and says it unpacked the gzip once", () => {
    expect(served.repositories).toEqual([{ name: "app", tags: ["1.0"] }]);
    expect(events.map((e) => e.type)).toEqual(["spooling", "spooled"]);
  });

  test("docker pulls the image and runs the amd64 one", async () => {
    const ref = `${served.host}/app:1.0`;
    const pulled = await engine.docker(["pull", ref], { timeoutMs: 120_000 });
    expect(pulled.stdout).toContain(`Digest: ${sample.root.digest}`);
    const ran = await engine.docker(["run", "--rm", "--network", "none", ref]);
    expect(ran.stdout).toBe("linux/amd64\n");
  }, 180_000);

  test("skopeo copies every platform out with digests intact", async () => {
    const out = join(work, "copied");
    await skopeoCopy(`docker://${served.host}/app:1.0`, `oci:${out}:1.0`, ["--all", "--preserve-digests"]);
    expect(await skopeoInspectRaw(`oci:${out}:1.0`)).toBe(new TextDecoder().decode(sample.store.get(sample.root.digest)));
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(sample.root.digest);
    for (const m of [...sample.manifests, ...sample.attestations]) {
      const bytes = readFileSync(join(out, "blobs", "sha256", m.digest.slice(7)));
      expect(bytes.equals(sample.store.get(m.digest)!)).toBe(true);
    }
  }, 120_000);
});

describe("ferry serve --writable", () => {
  test("docker push works; pulled back by digest, the image runs", async () => {
    const src = `${served.host}/app:1.0`;
    const dst = `${writable.host}/team/app:pushed`;
    await engine.docker(["pull", src], { timeoutMs: 120_000 });
    await engine.docker(["tag", src, dst]);
    const pushed = await engine.docker(["push", dst], { timeoutMs: 120_000 });
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();
    const raw = await skopeoInspectRaw(`docker://${dst}`);
    expect(JSON.parse(raw).layers.length).toBeGreaterThan(0);
    // Pulled back by digest, it runs.
    await engine.docker(["rmi", dst, src]);
    const again = await engine.docker(["run", "--rm", "--network", "none", `${writable.host}/team/app@${digest}`], { timeoutMs: 120_000 });
    expect(again.stdout).toBe("linux/amd64\n");
    const index = JSON.parse(readFileSync(join(work, "pushed", "index.json"), "utf8"));
    expect(index.manifests.map((m: { annotations?: Record<string, string> }) => m.annotations?.["org.opencontainers.image.ref.name"]))
      .toContain("team/app:pushed");
    // docker pushes a Docker v2 manifest, which skopeo's and umoci's oci: transports skip in index.json;
    // the next test reads the layout with skopeo after an OCI push.
  }, 240_000);

  test("skopeo copy --all pushes the whole index in; served back with the same digest", async () => {
    await skopeoCopy(`docker://${served.host}/app:1.0`, `docker://${writable.host}/mirror/app:1.0`, ["--all", "--preserve-digests"]);
    const raw = await skopeoInspectRaw(`docker://${writable.host}/mirror/app:1.0`);
    expect(raw).toBe(new TextDecoder().decode(sample.store.get(sample.root.digest)));
    const tags = await (await fetch(`${writable.url}/v2/mirror/app/tags/list`)).json();
    expect(tags).toEqual({ name: "mirror/app", tags: ["1.0"] });
    const index = JSON.parse(readFileSync(join(work, "pushed", "index.json"), "utf8"));
    // The children pushed by digest first are no longer separate untagged entries once the index is in.
    const mirrored = index.manifests.filter((m: { annotations?: Record<string, string> }) =>
      JSON.stringify(m.annotations ?? {}).includes("mirror/app")
    );
    expect(mirrored.map((m: { digest: string }) => m.digest)).toEqual([sample.root.digest]);
    await run("skopeo", ["inspect", "--raw", `oci:${join(work, "pushed")}:mirror/app:1.0`]);
  }, 120_000);
});

describe("ferry serve of each ferry export form: served as exported (repository and tag from the annotations)", () => {
  let registry: TestRegistry;
  let pushed: SampleImage;
  const forms: { format: ExportFormat; path: () => string; tags: string[] }[] = [
    { format: "docker", path: () => join(work, "form-docker"), tags: ["1.0", "1.0-amd64", "1.0-arm64"] },
    { format: "oci", path: () => join(work, "form-oci"), tags: ["1.0"] },
    { format: "oci-archive", path: () => join(work, "form-oci-archive", "image.tar"), tags: ["1.0", "1.0-amd64", "1.0-arm64"] },
  ];

  beforeAll(async () => {
    registry = await startRegistry();
    const ref = `${registry.host}/team/app:1.0`;
    pushed = await pushSampleImage(ref, { platforms: ["linux/amd64", "linux/arm64/v8"], attestations: true });
    for (const form of forms) {
      const dir = form.format === "oci-archive" ? join(work, "form-oci-archive") : form.path();
      await exportImage(ref, dir, { format: form.format });
    }
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
  });

  for (const form of forms) {
    test(`--format ${form.format}: team/app with its tags; skopeo inspects and copies --all, digests intact`, async () => {
      const registry = await serve([form.path()], { address: "127.0.0.1:0" });
      try {
        expect(registry.repositories).toEqual([{ name: "team/app", tags: form.tags }]);
        const index = new TextDecoder().decode(pushed.store.get(pushed.root.digest));
        expect(await skopeoInspectRaw(`docker://${registry.host}/team/app:1.0`)).toBe(index);
        const out = join(work, `copied-${form.format}`);
        await skopeoCopy(`docker://${registry.host}/team/app:1.0`, `oci:${out}:1.0`, ["--all", "--preserve-digests"]);
        expect(JSON.parse(readFileSync(join(out, "index.json"), "utf8")).manifests[0].digest).toBe(pushed.root.digest);
        for (const m of [...pushed.manifests, ...pushed.attestations]) {
          expect(readFileSync(join(out, "blobs", "sha256", m.digest.slice(7))).equals(pushed.store.get(m.digest)!)).toBe(true);
        }
        if (form.tags.includes("1.0-arm64")) {
          const arm = await skopeoInspect(`docker://${registry.host}/team/app:1.0-arm64`);
          expect(arm.Digest).toBe(pushed.manifests[1].digest);
        }
      } finally {
        await registry.stop();
      }
    }, 120_000);
  }

  test("docker pulls the multi-arch image from a directory of image-*.tar.gz by its exported name", async () => {
    const registry = await serve([join(work, "form-docker")], { address: "127.0.0.1:0" });
    try {
      const pulled = await engine.docker(["pull", `${registry.host}/team/app:1.0`], { timeoutMs: 120_000 });
      expect(pulled.stdout).toContain(`Digest: ${pushed.root.digest}`);
    } finally {
      await registry.stop();
    }
  }, 180_000);
});
