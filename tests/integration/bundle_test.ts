/**
 * End to end, bundles and volumes against the real CNCF registry, skopeo and a private Docker engine: five
 * multi-arch images sharing a base layer exported in one run (`-f images.yaml`), as one OCI archive (skopeo reads
 * every image out of it), as one docker-load archive (`docker load` gives every per-arch tag, `docker run` works),
 * and as three volumes (none over the limit; each imported alone into a fresh registry brings its own images whole
 * and names the others missing; all three in reverse order bring every index digest unchanged; a corrupted one is
 * refused). `ferry serve` of the volumes lists them at /v2/_catalog and is the Docker engine's `registry-mirrors`:
 * `docker pull nginx:1.27` comes from the bundle.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SampleImage } from "../../lib/testing/sample_image.ts";
import { type RunningRegistry, serve } from "../../lib/verbs/serve.ts";
import { startDocker, type TestDocker } from "../helpers/docker.ts";
import { freePort, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { runCli } from "../helpers/cli.ts";
import { run as runTool, skopeoInspectRaw } from "../helpers/tools.ts";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { copyReferrers, discoverReferrers } from "../../lib/engine/referrers.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { schemaTag } from "../../lib/oci/referrers.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import {
  addCosignSignature,
  addSpdxSbom,
  generateSigningKey,
  type MadeReferrer,
  SPDX_JSON,
} from "../../lib/testing/referrers.ts";

const busybox = new Uint8Array(readFileSync("/bin/busybox"));
const work = mkdtempSync(join(tmpdir(), "ferry-bundle-it-"));
/** Source repository → the name the bundle carries it under. */
const IMAGES: [string, string | undefined][] = [
  ["team/nginx:1.27", "docker.io/library/nginx"],
  ["team/app:2", "ghcr.io/org/app"],
  ["team/db:16", undefined],
  ["team/cache:7", undefined],
  ["team/side:1.0", undefined],
];
let source: TestRegistry;
const samples: SampleImage[] = [];
const names: string[] = [];
let engine: TestDocker | undefined;
let mirror: RunningRegistry | undefined;

const sha256 = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const ferry = async (args: string[]) => {
  const run = await runCli(args, { timeoutMs: 300_000 });
  return run;
};

beforeAll(async () => {
  source = await startRegistry();
  for (const [i, [repo, target]] of IMAGES.entries()) {
    samples.push(
      await pushSampleImage(`${source.host}/${repo}`, {
        seed: 100 + i,
        baseSeed: 7,
        baseLayerSize: 256 * 1024, // shared by all five
        layerSize: 96 * 1024,
        gzipLevel: 0,
        files: { "linux/amd64": { "bin/busybox": busybox } },
        cmd: ["/bin/busybox", "cat", "/platform.txt"],
      }),
    );
    const [path, tag] = repo.split(":");
    names.push(target ? `${target}:${tag}` : `${source.host}/${path}:${tag}`);
  }
  const list = [
    "platforms: [linux/amd64, linux/arm64/v8, linux/arm/v7]",
    "sources:",
    ...IMAGES.map(([repo, target]) => `  - image: ${source.host}/${repo}${target ? `\n    target: ${target}` : ""}`),
  ].join("\n");
  writeFileSync(join(work, "images.yaml"), list + "\n");
}, 120_000);

afterAll(async () => {
  await mirror?.stop();
  await engine?.stop();
  await source?.stop();
  rmSync(work, { recursive: true, force: true });
}, 90_000);

/** A fresh registry for one import. */
async function withRegistry<T>(work: (host: string) => Promise<T>): Promise<T> {
  const registry = await startRegistry();
  try {
    return await work(registry.host);
  } finally {
    await registry.stop();
  }
}

/** The path an image lands at under a prefix: `docker.io/library/nginx:1.27` → `library/nginx:1.27`. */
function pathOf(name: string): string {
  const rest = name.slice(name.indexOf("/") + 1);
  return rest;
}

describe("one OCI archive of five images", () => {
  const bundle = join(work, "release.tar");
  test("ferry export -f images.yaml: every image by its full name; skopeo reads each one out", async () => {
    const run = await ferry(["export", "--plain-http", "-f", join(work, "images.yaml"), "-o", bundle]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Exported 5 images");
    for (const [i, name] of names.entries()) {
      const raw = await skopeoInspectRaw(`oci-archive:${bundle}:${name}`);
      expect(sha256(new TextEncoder().encode(raw))).toBe(samples[i].root.digest);
    }
    // Shared base layers are stored once: the archive is far smaller than the five images side by side.
    const list = await ferry(["ls", "--json", bundle]);
    const images = JSON.parse(list.stdout).images as { name: string; bytes: number; complete: boolean }[];
    expect(images.map((i) => i.name)).toEqual(names);
    expect(images.every((i) => i.complete)).toBe(true);
    const side = images.reduce((n, i) => n + i.bytes, 0);
    expect(statSync(bundle).size).toBeLessThan(side - 3 * 256 * 1024);
  }, 300_000);

  test("ferry import BUNDLE REGISTRY/PREFIX pushes every image at its own path, digests unchanged", async () => {
    await withRegistry(async (host) => {
      const run = await ferry(["import", "--plain-http", bundle, `${host}/mirror`]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      for (const [i, name] of names.entries()) {
        const raw = await skopeoInspectRaw(`docker://${host}/mirror/${pathOf(name)}`);
        expect(sha256(new TextEncoder().encode(raw))).toBe(samples[i].root.digest);
      }
    });
  }, 300_000);
});

describe("volumes", () => {
  const dir = join(work, "vols");
  // Each image is ~2.5 MB (a 256 KiB base all share, busybox on amd64): two fit a volume, so five need three.
  const limit = 5_300_000;
  let volumes: { file: string; size: number; images: string[] }[] = [];

  test("--volume-size: three self-contained volumes, none over the limit, volumes.json with each sha256", async () => {
    const run = await ferry([
      "export",
      "--plain-http",
      "-f",
      join(work, "images.yaml"),
      "--volume-size",
      String(limit),
      "-o",
      dir,
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const meta = JSON.parse(readFileSync(join(dir, "volumes.json"), "utf8"));
    volumes = meta.volumes;
    expect(volumes.length).toBe(3);
    for (const v of meta.volumes) {
      const bytes = readFileSync(join(dir, v.file));
      expect(bytes.byteLength).toBe(v.size);
      expect(bytes.byteLength).toBeLessThanOrEqual(limit);
      expect(sha256(bytes)).toBe(v.sha256);
    }
    expect(volumes.flatMap((v) => v.images).sort()).toEqual([...names].sort());
  }, 300_000);

  test("each volume imported alone: its images arrive whole, the others are reported missing", async () => {
    for (const v of volumes) {
      await withRegistry(async (host) => {
        const run = await ferry(["import", "--plain-http", join(dir, v.file), host]);
        expect(run.code).toBe(9); // partial: the set has images this volume does not hold
        for (const name of names) {
          const i = names.indexOf(name);
          if (v.images.includes(name)) {
            const raw = await skopeoInspectRaw(`docker://${host}/${pathOf(name)}`);
            expect(sha256(new TextEncoder().encode(raw))).toBe(samples[i].root.digest);
            expect(run.stdout).toContain(`${host}/${pathOf(name)}`);
          } else {
            const other = volumes.find((o) => o.images.includes(name))!;
            expect(run.stdout).toContain(`missing ${name}: needs ${other.file}`);
            const tags = await fetch(`http://${host}/v2/${pathOf(name).split(":")[0]}/tags/list`);
            expect(tags.status).toBe(404);
          }
        }
      });
    }
  }, 600_000);

  test("all three in reverse order: every index digest equal to the source's", async () => {
    await withRegistry(async (host) => {
      const files = volumes.map((v) => join(dir, v.file)).reverse();
      const run = await ferry(["import", "--plain-http", ...files, host]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      for (const [i, name] of names.entries()) {
        const raw = await skopeoInspectRaw(`docker://${host}/${pathOf(name)}`);
        expect(sha256(new TextEncoder().encode(raw))).toBe(samples[i].root.digest);
      }
    });
  }, 300_000);

  test("ferry serve of the volumes: /v2/_catalog lists every repository, paged with n and last", async () => {
    const port = await freePort();
    mirror = await serve([dir], { address: `127.0.0.1:${port}` });
    const all = await (await fetch(`${mirror.url}/v2/_catalog`)).json();
    expect(all.repositories).toEqual(
      ["cache", "db", "nginx", "org/app", "side"].map((r) => (r.includes("/") || r === "nginx" ? r : `team/${r}`))
        .sort(),
    );
    const page = await fetch(`${mirror.url}/v2/_catalog?n=2`);
    expect((await page.json()).repositories).toEqual(all.repositories.slice(0, 2));
    expect(page.headers.get("Link")).toContain(`last=${encodeURIComponent(all.repositories[1])}`);
  }, 60_000);

  test("a Docker engine with registry-mirrors pulls nginx:1.27 and ghcr.io's name from the bundle, unchanged", async () => {
    const host = mirror!.host;
    engine = await startDocker({ extraArgs: ["--registry-mirror", `http://${host}`, "--insecure-registry", host] });
    const pulled = await engine.docker(["pull", "nginx:1.27"], { timeoutMs: 120_000 });
    expect(pulled.stdout).toContain(`Digest: ${samples[0].root.digest}`);
    const ran = await engine.docker(["run", "--rm", "--network", "none", "nginx:1.27"]);
    expect(ran.stdout).toBe("linux/amd64\n");
    // containerd's hosts.toml asks a mirror with ?ns=ghcr.io; the full name works as a path too.
    const ns = await fetch(`${mirror!.url}/v2/org/app/manifests/2?ns=ghcr.io`, { method: "HEAD" });
    expect(ns.headers.get("Docker-Content-Digest")).toBe(samples[1].root.digest);
    const full = await fetch(`${mirror!.url}/v2/ghcr.io/org/app/manifests/2`, { method: "HEAD" });
    expect(full.headers.get("Docker-Content-Digest")).toBe(samples[1].root.digest);
    const docker = await fetch(`${mirror!.url}/v2/library/nginx/manifests/1.27?ns=docker.io`, { method: "HEAD" });
    expect(docker.headers.get("Docker-Content-Digest")).toBe(samples[0].root.digest);
  }, 240_000);

  test("a corrupted volume is refused by import, naming the file", async () => {
    const file = join(dir, volumes[1].file);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.byteLength / 2)] ^= 0xff;
    writeFileSync(file, bytes);
    await withRegistry(async (host) => {
      const run = await ferry(["import", "--plain-http", dir, host]);
      expect(run.code).toBe(6);
      expect(run.stderr).toContain(`Cannot use volume ${file}: its sha256 is`);
      const catalog = await (await fetch(`http://${host}/v2/_catalog`)).json();
      expect(catalog.repositories).toEqual([]);
    });
  }, 120_000);
});

describe("one docker-load archive of five images", () => {
  test("docker load gives every per-arch tag; docker run works", async () => {
    const archive = join(work, "images.tar");
    const run = await ferry(["export", "--plain-http", "--format", "docker", "-f", join(work, "images.yaml"), "-o", archive]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    engine ??= await startDocker();
    const loaded = await engine.docker(["load", "-i", archive], { timeoutMs: 120_000 });
    for (const name of names) {
      const short = name.replace(/^docker\.io\/library\//, "");
      const [repo, tag] = [short.slice(0, short.lastIndexOf(":")), short.slice(short.lastIndexOf(":") + 1)];
      for (const label of ["amd64", "arm64", "armv7"]) expect(loaded.stdout).toContain(`${repo}:${tag}-${label}`);
    }
    const ran = await engine.docker(["run", "--rm", "--network", "none", "nginx:1.27-amd64"]);
    expect(ran.stdout).toBe("linux/amd64\n");
    // Imported back into a registry, every index comes back with its digest.
    await withRegistry(async (host) => {
      const back = await ferry(["import", "--plain-http", archive, host]);
      expect(back.code).toBe(0);
      for (const [i, name] of names.entries()) {
        const raw = await skopeoInspectRaw(`docker://${host}/${pathOf(name)}`);
        expect(sha256(new TextEncoder().encode(raw))).toBe(samples[i].root.digest);
      }
    });
  }, 300_000);
});

describe("signed images: referrers travel in bundles and volumes", () => {
  const key = generateSigningKey();
  const signed: { repo: string; sample: SampleImage; sig: MadeReferrer; sbom: MadeReferrer }[] = [];
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  beforeAll(async () => {
    for (const [i, repo] of ["signed/one", "signed/two"].entries()) {
      const sample = buildSampleImage({ seed: 300 + i, layerSize: 256 * 1024, gzipLevel: 0 });
      const sig = addCosignSignature(sample.store, sample.root, { reference: `127.0.0.1/${repo}`, key });
      const sbom = addSpdxSbom(sample.store, sample.manifests[0], { name: repo });
      // As cosign and oras leave them at a registry without the referrers API: a .sig tag and a fallback index.
      const store = openRegistryStore(parseReference(`${source.host}/${repo}:1.0`));
      await copyGraph(sample.store, store, sample.root);
      await copyReferrers(sample.store, store, await discoverReferrers(sample.store, sample.root));
      await store.tag(sample.root, "1.0");
      signed.push({ repo, sample, sig, sbom });
    }
  }, 60_000);

  /** Every image at `host/prefix/repo:1.0` with its signature tag and SBOM fallback index, byte for byte. */
  async function expectSigned(host: string, prefix: string): Promise<void> {
    for (const { repo, sample, sig, sbom } of signed) {
      const at = `${host}/${prefix}/${repo}`;
      expect(sha256(new TextEncoder().encode(await skopeoInspectRaw(`docker://${at}:1.0`)))).toBe(sample.root.digest);
      expect(await skopeoInspectRaw(`docker://${at}:${sig.tag}`)).toBe(text(sample.store.get(sig.desc.digest)!));
      const fallback = JSON.parse(await skopeoInspectRaw(`docker://${at}:${schemaTag(sample.manifests[0].digest)}`));
      expect(fallback.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.desc.digest]);
      expect(await skopeoInspectRaw(`docker://${at}@${sbom.desc.digest}`)).toBe(text(sample.store.get(sbom.desc.digest)!));
    }
  }

  const refs = () => signed.map((s) => `${source.host}/${s.repo}:1.0`);

  test("export REF REF -o bundle.tar lists each image's referrers; import pushes them (cosign tag, fallback index)", async () => {
    const bundle = join(work, "signed.tar");
    const run = await ferry(["export", "--plain-http", "--json", ...refs(), "-o", bundle]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const images = JSON.parse(run.stdout).images as { referrers?: { digest: string; subject: string; tag?: string }[] }[];
    for (const [i, { sample, sig, sbom }] of signed.entries()) {
      expect(images[i].referrers).toEqual([
        expect.objectContaining({ digest: sig.desc.digest, subject: sample.root.digest, tag: sig.tag }),
        expect.objectContaining({ digest: sbom.desc.digest, subject: sample.manifests[0].digest }),
      ]);
    }
    // index.json: referrers untagged or under dev.ferry.referrer.tag, never a ref.name; none in manifest.json.
    const list = await runTool("tar", ["-xOf", bundle, "index.json"]);
    const index = JSON.parse(list.stdout) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    for (const { sig, sbom } of signed) {
      const entry = index.manifests.find((m) => m.digest === sig.desc.digest)!;
      expect(entry.annotations?.["dev.ferry.referrer.tag"]).toBe(sig.tag);
      expect(entry.annotations?.["org.opencontainers.image.ref.name"]).toBeUndefined();
      expect(index.manifests.some((m) => m.digest === sbom.desc.digest)).toBe(true);
    }
    const manifestJson = (await runTool("tar", ["-xOf", bundle, "manifest.json"])).stdout;
    for (const { sig } of signed) expect(manifestJson).not.toContain(sig.desc.digest.slice(7));
    await withRegistry(async (host) => {
      const back = await ferry(["import", "--plain-http", bundle, `${host}/mirror`]);
      expect(back.stderr).toBe("");
      expect(back.code).toBe(0);
      await expectSigned(host, "mirror");
    });
  }, 300_000);

  test("--referrers=false leaves them out; --artifact-type keeps only the SBOM", async () => {
    const none = await ferry(["export", "--plain-http", "--json", "--referrers=false", ...refs(), "-o", join(work, "n.tar")]);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout).images.map((i: { referrers?: unknown }) => i.referrers)).toEqual([undefined, undefined]);
    const sboms = await ferry([
      "export", "--plain-http", "--json", "--artifact-type", SPDX_JSON, ...refs(), "-o", join(work, "s.tar"),
    ]);
    expect(sboms.code).toBe(0);
    const kept = JSON.parse(sboms.stdout).images.map((i: { referrers: { digest: string }[] }) => i.referrers.map((r) => r.digest));
    expect(kept).toEqual(signed.map((s) => [s.sbom.desc.digest]));
  }, 300_000);

  test("as volumes (one image a volume): import of all of them pushes every referrer; serve answers the referrers API", async () => {
    const dir = join(work, "signed-vols");
    const run = await ferry(["export", "--plain-http", ...refs(), "--volume-size", "1100000", "-o", dir]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const meta = JSON.parse(readFileSync(join(dir, "volumes.json"), "utf8"));
    expect(meta.volumes.length).toBeGreaterThanOrEqual(2);
    await withRegistry(async (host) => {
      const back = await ferry(["import", "--plain-http", dir, `${host}/vols`]);
      expect(back.stderr).toBe("");
      expect(back.code).toBe(0);
      await expectSigned(host, "vols");
    });
    const served = await serve([dir], { address: "127.0.0.1:0" });
    try {
      for (const { repo, sample, sig, sbom } of signed) {
        const api = await fetch(`http://${served.host}/v2/${repo}/referrers/${sample.manifests[0].digest}`);
        expect(api.status).toBe(200);
        expect((await api.json()).manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.desc.digest]);
        const byTag = await fetch(`http://${served.host}/v2/${repo}/manifests/${sig.tag}`, {
          headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        expect(byTag.status).toBe(200);
        expect(await byTag.text()).toBe(text(sample.store.get(sig.desc.digest)!));
      }
    } finally {
      await served.stop();
    }
  }, 300_000);
});
