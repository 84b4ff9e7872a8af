/**
 * The `bun build` flags of a ferry binary, in one place: the release build (scripts/build.ts), the benchmarks,
 * the smoke test and `npm test`'s compiled CLI table (scripts/test.sh prints them with `bun scripts/compile_flags.ts`).
 *
 * `--bytecode` (ESM needs `--format=esm`) ships JavaScriptCore bytecode for ferry and the node: modules it uses:
 * measured on 2 cores, a copy of the 100 MiB 6-platform image 0.62-0.66 s -> 0.54-0.57 s, `--version` 30 -> 10 ms,
 * for 2 MiB more resident memory; a cross-compiled linux-arm64 binary ran under qemu-aarch64.
 *
 * @module
 */
export const COMPILE_FLAGS = ["--compile", "--minify", "--bytecode", "--format=esm"];

if (import.meta.main) console.log(COMPILE_FLAGS.join(" "));
