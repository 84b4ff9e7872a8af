import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { UsageError } from "../errors.ts";
import { copyGraph } from "../engine/copy_graph.ts";
import { planBundle } from "../engine/bundle_plan.ts";
import { writeBundle } from "../engine/bundle_write.ts";
import { digestOf } from "../oci/digest.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { tarFile } from "../../tests/helpers/crafted_tar.ts";
import { isLoopback, parseAddress, repoNameOf, serve, type ServeEvent } from "./serve.ts";

const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
const dir = mkdtempSync(join(tmpdir(), "ferry-serve-op-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One ferry docker-archive export per platform (image-<arch>.tar.gz), named app:1.0-<arch>. */
beforeAll(async () => {
  mkdirSync(join(dir, "exports"));
  for (const [i, m] of sample.manifests.entries()) {
    const label = m.platform!.architecture;
    const writer = new ArchiveWriter(join(dir, "exports", `image-${label}.tar${i === 0 ? ".gz" : ""}`), {
      gzipLevel: i === 0 ? 1 : false,
    });
    await copyGraph(sample.store, writer, m);
    await writer.tag(m, `app:1.0-${label}`);
    await writer.close();
  }
});

test("parseAddress", () => {
  expect(parseAddress("127.0.0.1:5000")).toEqual({ hostname: "127.0.0.1", port: 5000 });
  expect(parseAddress(":5001")).toEqual({ hostname: "0.0.0.0", port: 5001 });
  expect(parseAddress("[::1]:0")).toEqual({ hostname: "::1", port: 0 });
  expect(() => parseAddress("localhost")).toThrow(UsageError);
  expect(() => parseAddress("h:70000")).toThrow(UsageError);
});

test("isLoopback: only addresses this host alone can reach", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]) {
    expect(isLoopback(h)).toBe(true);
  }
  for (const h of ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "128.0.0.1"]) {
    expect(isLoopback(h)).toBe(false);
  }
});

test("repoNameOf", () => {
  expect(repoNameOf("out/app.oci.tar.gz")).toBe("app");
  expect(repoNameOf("/x/My Image_v2.tar")).toBe("my-image_v2");
  expect(repoNameOf("layout/")).toBe("layout");
  expect(repoNameOf("___.tar")).toBe("image");
});

describe("serve", () => {
  test("a directory of ferry exports: every file served, blobs sized from inside the tars", async () => {
    const events: ServeEvent[] = [];
    const registry = await serve([join(dir, "exports")], { address: "127.0.0.1:0", onEvent: (e) => events.push(e) });
    try {
      expect(registry.repositories).toEqual([{ name: "app", tags: ["1.0-amd64", "1.0-arm64"] }]);
      expect(events.filter((e) => e.type === "spooling")).toHaveLength(1); // only the gzipped one
      const manifest = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[1].digest)));
      const layer = manifest.layers.at(-1);
      const res = await fetch(`${registry.url}/v2/app/blobs/${layer.digest}`);
      expect(res.headers.get("Content-Length")).toBe(String(layer.size));
      expect(digestOf(new Uint8Array(await res.arrayBuffer()))).toBe(layer.digest);
      const got = await fetch(`${registry.url}/v2/app/manifests/1.0-arm64`);
      expect(got.headers.get("Docker-Content-Digest")).toBe(sample.manifests[1].digest);
      await got.body?.cancel();
    } finally {
      await registry.stop();
    }
  });

  test("a bundle's volumes.json: the volumes beside it that it lists, and nothing it names elsewhere", async () => {
    const vols = join(dir, "vols");
    const sources: string[] = [];
    for (const seed of [1, 2]) {
      const image = buildSampleImage({ seed, baseSeed: seed, platforms: ["linux/amd64"], layerSize: 60 * 1024 });
      const layout = join(dir, `vol-src-${seed}`);
      const store = await OciLayoutStore.open(layout, { create: true });
      await copyGraph(image.store, store, image.root);
      await store.tag(image.root, "1.0");
      await store.close();
      sources.push(`oci:${layout}:1.0`);
    }
    const plan = await planBundle(sources.map((source, i) => ({ source, name: `ghcr.io/team/app${i}` })));
    try {
      const written = await writeBundle(plan, { kind: "volumes", dir: vols, size: 200 * 1024 });
      expect(written.files.map((f) => basename(f.path))).toEqual(["volume-1.tar", "volume-2.tar"]);
    } finally {
      await plan.dispose();
    }
    const served = async () => {
      const registry = await serve([join(vols, "volumes.json")], { address: "127.0.0.1:0" });
      await registry.stop();
      return registry.repositories.map((r) => r.name);
    };
    expect(await served()).toEqual(["team/app0", "team/app1"]);
    rmSync(join(vols, "volume-2.tar"));
    expect(await served()).toEqual(["team/app0"]);
    // A volume named with a path is refused as volumes.json is read; one that is not there is not served.
    const meta = JSON.parse(readFileSync(join(vols, "volumes.json"), "utf8"));
    const rewrite = (file: (n: number) => string) => {
      for (const v of meta.volumes) v.file = file(v.number);
      writeFileSync(join(vols, "volumes.json"), JSON.stringify(meta));
    };
    rewrite((n) => `../exports/volume-${n}.tar`);
    await expect(serve([join(vols, "volumes.json")], { address: "127.0.0.1:0" })).rejects.toThrow("malformed volume");
    rewrite((n) => `volume-${n + 8}.tar`);
    await expect(serve([join(vols, "volumes.json")], { address: "127.0.0.1:0" })).rejects.toThrow(
      "none of its volumes is beside it (volume-9.tar, volume-10.tar)",
    );
  });

  test("--writable creates the layout directory; --repo names what has no name", async () => {
    const target = join(dir, "new-layout");
    const registry = await serve([target], { address: "127.0.0.1:0", writable: true, repo: "pushed" });
    try {
      expect(existsSync(target)).toBe(true);
      expect(registry.writable).toBe(true);
      expect(registry.repositories).toEqual([]);
      const bytes = new TextEncoder().encode("hello");
      const res = await fetch(`${registry.url}/v2/pushed/blobs/uploads/?digest=${digestOf(bytes)}`, {
        method: "POST",
        body: bytes,
      });
      expect(res.status).toBe(201);
    } finally {
      await registry.stop();
    }
    await expect(serve([join(dir, "exports", "image-arm64.tar")], { writable: true })).rejects.toThrow(UsageError);
  });

  test("never serves through a symlink out of the layout; small blobs and manifests are verified", async () => {
    const layout = join(dir, "linked");
    const store = await OciLayoutStore.open(layout, { create: true });
    await copyGraph(sample.store, store, sample.root);
    await store.tag(sample.root, "1.0");
    // A blob that is a symlink to a file outside, whose digest it even has, and one to /etc/shadow; a manifest
    // uses both (a repository serves only the blobs it holds).
    const secret = new TextEncoder().encode("root:$6$not-a-real-hash:19000:0:99999:7:::\n");
    const linkedInside = new TextEncoder().encode("a blob linked inside the layout");
    const config = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[0].digest))).config;
    const layers = [digestOf(secret), `sha256:${"e".repeat(64)}`, digestOf(linkedInside)].map((digest) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest,
      size: 100,
    }));
    const linking = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers }),
    );
    const linkingDesc = {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: digestOf(linking),
      size: linking.byteLength,
    };
    await store.putBlob(linkingDesc, linking);
    await store.tag(linkingDesc, "links");
    await store.close();
    writeFileSync(join(dir, "shadow"), secret);
    symlinkSync(join(dir, "shadow"), join(layout, "blobs", "sha256", digestOf(secret).slice(7)));
    symlinkSync("/etc/shadow", join(layout, "blobs", "sha256", "e".repeat(64)));
    // Inside the layout, a symlink is fine (layouts deduplicated with links).
    writeFileSync(join(layout, "inside"), linkedInside);
    symlinkSync(join("..", "..", "inside"), join(layout, "blobs", "sha256", digestOf(linkedInside).slice(7)));
    const registry = await serve([layout], { address: "127.0.0.1:0" });
    try {
      for (const digest of [digestOf(secret), `sha256:${"e".repeat(64)}`]) {
        for (const method of ["GET", "HEAD"]) {
          const res = await fetch(`${registry.url}/v2/linked/blobs/${digest}`, { method });
          expect(res.status).toBe(500);
          const body = await res.text();
          expect(body).not.toContain("root:");
          if (method === "GET") expect(JSON.parse(body).errors[0].message).toContain("symlink to outside the layout");
        }
      }
      const inside = await fetch(`${registry.url}/v2/linked/blobs/${digestOf(linkedInside)}`);
      expect(new Uint8Array(await inside.arrayBuffer())).toEqual(linkedInside);
      // Bytes that do not match their digest are never served: a config (small blob) and a manifest.
      const configPath = join(layout, "blobs", "sha256", config.digest.slice(7));
      writeFileSync(configPath, readFileSync(configPath).map((b, i) => (i === 0 ? b ^ 1 : b)));
      const badConfig = await fetch(`${registry.url}/v2/linked/blobs/${config.digest}`);
      expect(badConfig.status).toBe(500);
      await badConfig.body?.cancel();
      const manifestPath = join(layout, "blobs", "sha256", sample.manifests[1].digest.slice(7));
      writeFileSync(manifestPath, readFileSync(manifestPath).map((b, i) => (i === 0 ? b ^ 1 : b)));
      const badManifest = await fetch(`${registry.url}/v2/linked/manifests/${sample.manifests[1].digest}`);
      expect(badManifest.status).not.toBe(200);
      await badManifest.body?.cancel();
    } finally {
      await registry.stop();
    }
  });

  test("HTTPS with --tls-cert/--tls-key", async () => {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ], { stdio: "ignore" });
    const registry = await serve([join(dir, "exports")], { address: "127.0.0.1:0", tlsCert: cert, tlsKey: key });
    try {
      expect(registry.url).toStartWith("https://");
      const res = await fetch(`${registry.url}/v2/`, { tls: { ca: readFileSync(cert, "utf8") } } as RequestInit);
      expect(res.status).toBe(200);
      await expect(fetch(`${registry.url.replace("https", "http")}/v2/`)).rejects.toThrow();
    } finally {
      await registry.stop();
    }
  });
});

describe("serve: blobs per repository, verified", () => {
  const big = buildSampleImage({ platforms: ["linux/amd64"], layerSize: 5 * 1024 * 1024, seed: 7 });
  const other = buildSampleImage({ platforms: ["linux/arm64/v8"], seed: 8 });
  const layerOf = (image: typeof big) =>
    JSON.parse(new TextDecoder().decode(image.store.get(image.manifests[0].digest))).layers.at(-1) as {
      digest: string;
      size: number;
    };
  const layoutOf = async (name: string, image: typeof big) => {
    const path = join(dir, name);
    const store = await OciLayoutStore.open(path, { create: true });
    await copyGraph(image.store, store, image.root);
    await store.tag(image.root, "1.0");
    await store.close();
    return path;
  };

  test("several layouts: each repository serves only the blobs its manifests use", async () => {
    const registry = await serve([await layoutOf("per-repo-big", big), await layoutOf("per-repo-other", other)], {
      address: "127.0.0.1:0",
    });
    try {
      const status = async (repo: string, digest: string) => {
        const res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
        return res.status;
      };
      expect(await status("per-repo-other", layerOf(other).digest)).toBe(200);
      expect(await status("per-repo-big", layerOf(other).digest)).toBe(404);
      expect(await status("per-repo-other", layerOf(big).digest)).toBe(404);
      expect(await status("per-repo-big", layerOf(big).digest)).toBe(200);
      const res = await fetch(`${registry.url}/v2/per-repo-big/blobs/${layerOf(other).digest}`);
      expect((await res.json()).errors[0].code).toBe("BLOB_UNKNOWN");
    } finally {
      await registry.stop();
    }
  });

  for (const checkFirst of [true, false]) {
    const how = checkFirst
      ? "checked before it is sent: a bad one is answered 500 with no bytes"
      : "streamed through the check (above checkFirstMax): a bad one is cut short, never sent whole";
    test(`a large blob whose bytes went bad on disk, ${how}; a good one is sent whole`, async () => {
      const layout = await layoutOf(checkFirst ? "rotten" : "rotten-streamed", big);
      const repo = checkFirst ? "rotten" : "rotten-streamed";
      const layer = layerOf(big);
      const events: ServeEvent[] = [];
      const registry = await serve([layout], {
        address: "127.0.0.1:0",
        onEvent: (e) => events.push(e),
        ...(checkFirst ? {} : { checkFirstMax: 0 }),
      });
      try {
        const url = `${registry.url}/v2/${repo}/blobs/${layer.digest}`;
        const good = async () => {
          const res = await fetch(url);
          expect(res.status).toBe(200);
          return digestOf(new Uint8Array(await res.arrayBuffer()));
        };
        expect(await Promise.all([good(), good(), good()])).toEqual([layer.digest, layer.digest, layer.digest]); // while checked
        expect(await good()).toBe(layer.digest); // checked: straight from the file
        // One bit flipped, same size: a rewritten file (new mtime), so checked again though it was good before.
        const path = join(layout, "blobs", "sha256", layer.digest.slice(7));
        const bytes = readFileSync(path);
        bytes[bytes.length >> 1] ^= 1;
        writeFileSync(path, bytes);
        // Three clients at once (one hash of the file between them), then one more.
        const pull = async () => {
          const bad = await fetch(url);
          if (checkFirst) {
            expect(bad.status).toBe(500);
            expect((await bad.json()).errors[0].message).toContain(`expected digest ${layer.digest}`);
            return 0;
          }
          expect(bad.status).toBe(200); // the headers went out before the last byte was read
          return await bad.arrayBuffer().then((b) => b.byteLength, () => -1);
        };
        const got = [...await Promise.all([pull(), pull(), pull()]), await pull()];
        for (const n of got) expect(n).toBeLessThan(layer.size); // -1: the transfer broke, as a client must see
        const errors = events.filter((e) => e.type === "error").map((e) => (e as { message: string }).message);
        expect(errors.length).toBe(4);
        expect(errors[0]).toStartWith(
          `Cannot serve blob ${layer.digest} of ${repo}: expected digest ${layer.digest}, got `,
        );
        // A range is served only from a blob whose whole bytes match.
        const range = await fetch(url, { headers: { Range: "bytes=0-99" } });
        expect(range.status).toBe(500);
        expect((await range.json()).errors[0].message).toContain(`expected digest ${layer.digest}`);
      } finally {
        await registry.stop();
      }
    });
  }

  test("an archive with two entries of one name is refused, so neither copy is served", async () => {
    const layer = layerOf(other);
    const entries = [...other.store.blobs.entries()].map(([digest, blob]) => ({
      name: `blobs/sha256/${digest.slice(7)}`,
      data: blob.bytes,
    }));
    const index = {
      schemaVersion: 2,
      manifests: [{ ...other.root, annotations: { "org.opencontainers.image.ref.name": "1.0" } }],
    };
    const wrong = new Uint8Array(layer.size).fill(0x41);
    const tar = join(dir, "duplicated.tar");
    writeFileSync(
      tar,
      tarFile([
        { name: "oci-layout", data: '{"imageLayoutVersion":"1.0.0"}' },
        { name: "index.json", data: JSON.stringify(index) },
        { name: `blobs/sha256/${layer.digest.slice(7)}`, data: wrong },
        ...entries,
      ]),
    );
    await expect(serve([tar], { address: "127.0.0.1:0" })).rejects.toThrow(
      `duplicate entry "blobs/sha256/${layer.digest.slice(7)}"`,
    );
  });
});
