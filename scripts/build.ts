/**
 * Builds the release assets into dist/: the single-file ferry binaries with `bun build --compile`
 * (dist/ferry-<os>-<arch>[-variant][.exe]), the one-module library dist/ferry.js (scripts/bundle.ts), and
 * dist/SHA256SUMS over all of them. `bun scripts/build.ts linux-x64 …` builds only those binaries (and no bundle).
 *
 * Targets: linux-x64 (x86-64 with AVX2, 2013 and later), linux-x64-baseline (any x86-64), linux-arm64 (glibc);
 * linux-x64-musl and linux-arm64-musl (Alpine and other musl systems); darwin-x64, darwin-arm64; windows-x64.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { COMPILE_FLAGS } from "./compile_flags.ts";

const targets = [
  "linux-x64",
  "linux-x64-baseline",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
  "windows-x64"
];
const root = join(import.meta.dirname, "..");
const wanted = process.argv.slice(2);
const chosen = wanted.length ? targets.filter((t) => wanted.includes(t)) : targets;
if (wanted.length && chosen.length !== wanted.length) {
  console.error(`unknown target in ${wanted.join(" ")}; targets: ${targets.join(" ")}`);
  process.exit(2);
}

/** The asset name of a target: `ferry-linux-x64`, `ferry-windows-x64.exe`. */
const assetOf = (target: string) => `ferry-${target}${target.startsWith("windows") ? ".exe" : ""}`;

await mkdir(join(root, "dist"), { recursive: true });
const assets: string[] = [];
for (const target of chosen) {
  const asset = assetOf(target);
  const result = spawnSync(
    process.execPath,
    ["build", ...COMPILE_FLAGS, `--target=bun-${target}`, "cli.ts", "--outfile", join("dist", asset)],
    { cwd: root, stdio: "inherit" },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
  assets.push(asset);
}
if (!wanted.length) {
  const result = spawnSync(process.execPath, ["scripts/bundle.ts", "dist/ferry.js"], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
  assets.push("ferry.js");
}
const sums: string[] = [];
for (const asset of assets) {
  const hash = createHash("sha256").update(await readFile(join(root, "dist", asset))).digest("hex");
  sums.push(`${hash}  ${asset}`);
}
await writeFile(join(root, "dist/SHA256SUMS"), sums.join("\n") + "\n");
console.log(sums.join("\n"));
