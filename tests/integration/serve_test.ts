/**
 * End to end: `ferry serve` on an OCI archive as ferry export writes it, and on a writable layout. The real
 * Docker engine pulls from it and runs the amd64 image, skopeo copies every platform out with digests intact,
 * `docker push` into --writable works and the layout it leaves is one skopeo reads.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { type RunningRegistry, serve, type ServeEvent } from "../../lib/verbs/serve.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { ArchiveWriter } from "../../lib/ends/archive_writer.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { run, skopeoCopy, skopeoInspectRaw } from "../helpers/tools.ts";

const busybox = new Uint8Array(readFileSync("/bin/busybox")); // Debian busybox-static (amd64), never checked in
const sample = buildSampleImage({
  platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
  attestations: true,
  files: { "linux/amd64": { "bin/busybox": busybox } },
  cmd: ["/bin/busybox", "cat", "/platform.txt"],
  layerSize: 64 * 1024,
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
