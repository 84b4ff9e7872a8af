/**
 * Builds a multi-arch manifest list from per-architecture tags, as `ferry manifest create` + `push` do (and
 * `docker manifest` without a daemon): first splits a multi-arch image into one tag per platform
 * (`examples/parts:1.0-amd64`, …), then stitches those tags into `examples/list:1.0`.
 *
 * ```sh
 * deno run -A examples/manifest_list.ts HOST [REPOSITORY:TAG]
 * FERRY_REGISTRY=127.0.0.1:5000 deno run -A examples/manifest_list.ts
 * ```
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createManifestList, exitCodeOf, formatError, pushManifestList, split } from "../mod.ts";

const [host = process.env.FERRY_REGISTRY, image = "sample/app:1.0"] = process.argv.slice(2);
if (!host) {
  console.error("usage: manifest_list.ts HOST [REPOSITORY:TAG]   (or set FERRY_REGISTRY=HOST)");
  process.exit(2);
}

// The draft between create and push lives in a directory of its own, not in ~/.config/ferry.
const draftDir = await mkdtemp(join(tmpdir(), "ferry-example-"));
try {
  const signal = AbortSignal.timeout(10 * 60_000);

  // One tag per platform, each the source's own manifest.
  const parts = await split(`${host}/${image}`, `${host}/examples/parts:1.0`, { signal });
  for (const t of parts.tags) console.log(`tagged ${host}/examples/parts:${t.tag}  ${t.platform}  ${t.digest}`);

  // A new list over those tags: platforms come from each image's config.
  const list = `${host}/examples/list:1.0`;
  const images = parts.tags.map((t) => `${host}/examples/parts:${t.tag}`);
  await createManifestList(list, images, { draftDir, type: "oci", signal });
  const pushed = await pushManifestList(list, { draftDir, signal });
  console.log(`pushed ${pushed.list}: ${pushed.digest} (${pushed.mediaType})`);
  for (const m of pushed.manifests) console.log(`  ${m.platform}  ${m.digest}`);
} catch (err) {
  console.error(formatError(err));
  process.exitCode = exitCodeOf(err);
} finally {
  await rm(draftDir, { recursive: true, force: true });
}
