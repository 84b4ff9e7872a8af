import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { copyGraph } from "../engine/copy_graph.ts";
import { digestOf } from "../oci/digest.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { parseAddress, repoNameOf, serve, type ServeEvent } from "./serve.ts";

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
    await store.close();
    // A blob that is a symlink to a file outside, whose digest it even has, and one to /etc/shadow.
    const secret = new TextEncoder().encode("root:$6$not-a-real-hash:19000:0:99999:7:::\n");
    writeFileSync(join(dir, "shadow"), secret);
    symlinkSync(join(dir, "shadow"), join(layout, "blobs", "sha256", digestOf(secret).slice(7)));
    symlinkSync("/etc/shadow", join(layout, "blobs", "sha256", "e".repeat(64)));
    // Inside the layout, a symlink is fine (layouts deduplicated with links).
    const config = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[0].digest))).config;
    const linkedInside = new TextEncoder().encode("a blob linked inside the layout");
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
