import { describe, expect, test } from "bun:test";
import { buildSampleImage } from "../testing/sample_image.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { transfer } from "../engine/transfer.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registryHandler } from "./handler.ts";
import { layoutBackend, type ServedLayout } from "./layouts.ts";
import { ArchiveWriter } from "../ends/archive_writer.ts";
import { transferWithReferrers } from "../engine/referrers.ts";
import { addCosignSignature, generateSigningKey } from "../testing/referrers.ts";

describe("/v2/_catalog and registry-mirror names", () => {
  test("lists repositories with n/last; Docker Hub paths, ?ns= and full names find an image's original name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-catalog-"));
    try {
      const sample = buildSampleImage();
      const layout = await OciLayoutStore.open(dir, { create: true });
      await transfer(sample.store, layout, sample.root, {
        tags: ["docker.io/library/nginx:1.27", "ghcr.io/org/app:2", "127.0.0.1:5000/team/db:16"],
      });
      const handler = registryHandler(layoutBackend([{ store: await OciLayoutStore.open(dir), defaultRepo: "x" }]));
      const get = (path: string, init?: RequestInit) => handler(new Request(`http://127.0.0.1${path}`, init));
      expect(await (await get("/v2/_catalog")).json()).toEqual({ repositories: ["nginx", "org/app", "team/db"] });
      const page = await get("/v2/_catalog?n=1&last=nginx");
      expect(await page.json()).toEqual({ repositories: ["org/app"] });
      expect(page.headers.get("Link")).toBe('</v2/_catalog?n=1&last=org%2Fapp>; rel="next"');
      expect((await get("/v2/_catalog?n=x")).status).toBe(400);
      for (
        const [path, headers] of [
          ["/v2/library/nginx/manifests/1.27", {}], // a Docker engine's registry-mirrors: Docker Hub's path
          ["/v2/library/nginx/manifests/1.27?ns=docker.io", {}], // containerd hosts.toml
          ["/v2/org/app/manifests/2?ns=ghcr.io", {}],
          ["/v2/org/app/manifests/2", { "OCI-Namespace": "ghcr.io" }],
          ["/v2/ghcr.io/org/app/manifests/2", {}], // the full name as a path
          ["/v2/nginx/manifests/1.27", {}], // the served name itself
        ] as [string, Record<string, string>][]
      ) {
        const res = await get(path, { method: "HEAD", headers });
        expect([path, res.status, res.headers.get("Docker-Content-Digest")]).toEqual([path, 200, sample.root.digest]);
      }
      expect((await get("/v2/library/redis/manifests/1", { method: "HEAD" })).status).toBe(404);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the same path from two registries: each full name answers with its own image, the first keeps the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-catalog-"));
    try {
      const ghcr = buildSampleImage({ seed: 1 });
      const quay = buildSampleImage({ seed: 2 });
      await transfer(ghcr.store, await OciLayoutStore.open(dir, { create: true }), ghcr.root, {
        tags: ["ghcr.io/team/app:1.0"],
      });
      await transfer(quay.store, await OciLayoutStore.open(dir), quay.root, {
        tags: ["quay.io/team/app:1.0", "quay.io/team/app:2.0"],
      });
      const handler = registryHandler(layoutBackend([{ store: await OciLayoutStore.open(dir), defaultRepo: "x" }]));
      const get = (path: string, init?: RequestInit) => handler(new Request(`http://127.0.0.1${path}`, init));
      expect(await (await get("/v2/_catalog")).json()).toEqual({ repositories: ["quay.io/team/app", "team/app"] });
      for (
        const [path, headers, digest] of [
          ["/v2/team/app/manifests/1.0", {}, ghcr.root.digest],
          ["/v2/ghcr.io/team/app/manifests/1.0", {}, ghcr.root.digest],
          ["/v2/team/app/manifests/1.0?ns=ghcr.io", {}, ghcr.root.digest],
          ["/v2/quay.io/team/app/manifests/1.0", {}, quay.root.digest],
          ["/v2/quay.io/team/app/manifests/2.0", {}, quay.root.digest],
          ["/v2/team/app/manifests/1.0?ns=quay.io", {}, quay.root.digest],
          ["/v2/team/app/manifests/1.0", { "OCI-Namespace": "quay.io" }, quay.root.digest],
        ] as [string, Record<string, string>, string][]
      ) {
        const res = await get(path, { method: "HEAD", headers });
        expect([path, res.status, res.headers.get("Docker-Content-Digest")]).toEqual([path, 200, digest]);
      }
      // The short path is the first registry's: a tag only the other has is not there.
      expect((await get("/v2/team/app/manifests/2.0", { method: "HEAD" })).status).toBe(404);
      // Blobs are served where their image is.
      const quayTags = await (await get("/v2/quay.io/team/app/tags/list")).json();
      expect(quayTags).toEqual({ name: "quay.io/team/app", tags: ["1.0", "2.0"] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("two archives of one path from two registries: each image's signature is served beside it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-catalog-"));
    try {
      const key = generateSigningKey();
      const layouts: ServedLayout[] = [];
      const sigs: string[] = [];
      for (const [i, name] of ["ghcr.io/team/app:1.0", "quay.io/team/app:1.0"].entries()) {
        const sample = buildSampleImage({ seed: i + 1 });
        sigs.push(addCosignSignature(sample.store, sample.root, { reference: name, key }).tag!);
        // What `ferry export --format oci-archive` writes: the referrers named into the image's path.
        const writer = new ArchiveWriter(join(dir, `${i}.tar`), {});
        await transferWithReferrers(sample.store, writer, sample.root, {
          tags: [name],
          referrers: { repository: "team/app" },
        });
        layouts.push({ store: await OciLayoutStore.openArchive(join(dir, `${i}.tar`)), defaultRepo: "x" });
      }
      const handler = registryHandler(layoutBackend(layouts));
      const tags = async (name: string) =>
        (await (await handler(new Request(`http://h/v2/${name}/tags/list`))).json()).tags;
      expect(await tags("team/app")).toEqual(["1.0", sigs[0]]);
      expect(await tags("quay.io/team/app")).toEqual(["1.0", sigs[1]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
