/**
 * Exports every platform of a registry image to its own `docker load`-able file, as `ferry export` does:
 * OUT/image-amd64.tar.gz, OUT/image-arm64.tar.gz, … Each file is checked against its digest while it streams.
 *
 * ```sh
 * deno run -A examples/export.ts HOST [REPOSITORY:TAG] [OUT_DIR]
 * FERRY_REGISTRY=127.0.0.1:5000 deno run -A examples/export.ts
 * ```
 *
 * @module
 */
import process from "node:process";
import { exitCodeOf, exportImage, formatError } from "../mod.ts";

const [host = process.env.FERRY_REGISTRY, image = "sample/app:1.0", out = "out"] = process.argv.slice(2);
if (!host) {
  console.error("usage: export.ts HOST [REPOSITORY:TAG] [OUT_DIR]   (or set FERRY_REGISTRY=HOST)");
  process.exit(2);
}

try {
  const result = await exportImage(`${host}/${image}`, out, { signal: AbortSignal.timeout(10 * 60_000) });
  console.log(`exported ${result.source} (${result.digest}) to ${out}:`);
  for (const file of result.files) {
    console.log(`  ${file.path}  ${file.platform}  ${file.size} bytes  ${file.sha256}`);
  }
} catch (err) {
  console.error(formatError(err));
  process.exit(exitCodeOf(err));
}
