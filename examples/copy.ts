/**
 * Copies a registry image twice, as `ferry copy` does: every platform to another repository (the index digest
 * is preserved), and one platform into an OCI image layout directory on disk.
 *
 * ```sh
 * deno run -A examples/copy.ts HOST [REPOSITORY:TAG] [OUT_DIR]
 * FERRY_REGISTRY=127.0.0.1:5000 deno run -A examples/copy.ts
 * ```
 *
 * @module
 */
import process from "node:process";
import { copy, exitCodeOf, formatError } from "../mod.ts";

const [host = process.env.FERRY_REGISTRY, image = "sample/app:1.0", out = "out"] = process.argv.slice(2);
if (!host) {
  console.error("usage: copy.ts HOST [REPOSITORY:TAG] [OUT_DIR]   (or set FERRY_REGISTRY=HOST)");
  process.exit(2);
}

try {
  const signal = AbortSignal.timeout(10 * 60_000);
  const source = `${host}/${image}`;

  // Every platform, byte for byte: the destination tag gets the same index digest.
  const all = await copy(source, `${host}/examples/copy:1.0`, { signal });
  console.log(`copied ${all.source} → ${all.destination}: ${all.digest}`);
  console.log(`  platforms: ${all.platforms.join(", ")}; ${all.copied} copied, ${all.skipped} skipped`);

  // One platform into an OCI layout directory (`skopeo copy oci:OUT/layout:arm64 …` reads it back).
  const arm = await copy(source, `oci:${out}/layout:arm64`, { platforms: ["linux/arm64"], signal });
  console.log(`copied ${arm.source} → ${arm.destination}: ${arm.digest} (${arm.platforms.join(", ")})`);
} catch (err) {
  console.error(formatError(err));
  process.exit(exitCodeOf(err));
}
