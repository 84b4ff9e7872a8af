/**
 * Builds the single-file ferry binaries with `bun build --compile` into dist/ferry-<os>-<arch>[.exe],
 * plus dist/SHA256SUMS. `bun scripts/build.ts linux-x64` builds one target.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";

const targets = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "windows-x64"];
const wanted = process.argv.slice(2);
const chosen = wanted.length ? targets.filter((t) => wanted.includes(t)) : targets;
if (wanted.length && chosen.length !== wanted.length) {
  console.error(`unknown target in ${wanted.join(" ")}; targets: ${targets.join(" ")}`);
  process.exit(2);
}
await mkdir("dist", { recursive: true });
const sums: string[] = [];
for (const target of chosen) {
  const out = `dist/ferry-${target}${target.startsWith("windows") ? ".exe" : ""}`;
  const result = spawnSync(
    process.execPath,
    ["build", "--compile", "--minify", `--target=bun-${target}`, "cli.ts", "--outfile", out],
    { stdio: "inherit" },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
  const hash = createHash("sha256").update(await readFile(out)).digest("hex");
  sums.push(`${hash}  ${out.slice("dist/".length)}`);
}
await writeFile("dist/SHA256SUMS", sums.join("\n") + "\n");
console.log(sums.join("\n"));
