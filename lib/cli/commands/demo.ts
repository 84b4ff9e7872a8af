/**
 * `ferry demo`: argument handling only; the work is `demo()` in lib/verbs/export/demo.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { demo } from "../../verbs/export/demo.ts";
import type { Command } from "../command.ts";
import { formatBytes } from "../output.ts";

/** `ferry demo`. */
export const demoCommand: Command = {
  name: "demo",
  usage: "ferry demo [-o DIR]",
  summary: "Serve a sample multi-arch image from ferry's embedded registry and export every platform from it",
  examples: [
    "ferry demo -o demo-out",
    "ferry demo",
  ],
  flags: {
    output: {
      type: "string",
      short: "o",
      value: "DIR",
      description: "Where to write the files (default ./ferry-demo)",
    },
  },
  async run(args, io) {
    if (args.positionals.length !== 0) {
      throw new UsageError(`Cannot run the demo: it takes no arguments\nusage: ${this.usage}`);
    }
    const dir = typeof args.values.output === "string" ? args.values.output : "ferry-demo";
    const result = await demo({
      output: dir,
      signal: io.signal,
      onServing(ref, entries) {
        io.print(`ferry's embedded registry serves the sample image at ${ref}:`);
        for (const m of entries) {
          io.print(`  ${m.platform.padEnd(18)} ${m.digest}${m.attestation ? "  (attestation: not exported)" : ""}`);
        }
        io.print(`\n$ ferry export ${ref} -o ${dir} --name sample/app`);
      },
    });
    for (const f of result.export.files) {
      io.print(`  ${f.path}  ${(f.platform ?? "").padEnd(16)} ${formatBytes(f.size).padStart(10)}`);
    }
    io.print("\nEach file is a gzipped docker-archive that is also an OCI layout. Load and run one:");
    if (result.dockerLoad && result.dockerRun) {
      io.print(`  ${result.dockerLoad}`);
      io.print(
        `  ${result.dockerRun}      # prints: hello from ${
          result.export.files.find((f) => f.path === result.hostFile)?.platform
        }`,
      );
    } else {
      io.print(`  docker load -i ${result.export.files[0]?.path}`);
    }
    io.print(
      "Other platforms run the same way where qemu (binfmt) is set up, e.g. docker run --rm sample/app:1.0-arm64",
    );
  },
};
