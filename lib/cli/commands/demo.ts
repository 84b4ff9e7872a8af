/**
 * `ferry demo`: ferry's main job on an embedded default. Starts ferry's own read-only registry on 127.0.0.1,
 * seeded with the deterministic sample multi-arch image, and exports every platform from it.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { exportImage } from "../../verbs/export/export.ts";
import { inspect } from "../../verbs/inspect.ts";
import { serve } from "../../runtime.ts";
import { buildSampleImage } from "../../testing/sample_image.ts";
import { registryHandler } from "../../server/handler.ts";
import type { Command } from "../command.ts";
import { formatBytes } from "../output.ts";

/** `ferry demo`. */
export const demoCommand: Command = {
  name: "demo",
  usage: "ferry demo [-o DIR]",
  summary: "Serve a sample multi-arch image from ferry's embedded registry and export every platform from it",
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
    const sample = buildSampleImage({ attestations: true, layerSize: 256 * 1024 });
    const server = await serve(registryHandler(new Map([["sample/app", sample.store]])));
    try {
      const ref = `${server.host}/sample/app:1.0`;
      io.print(`ferry's embedded registry serves the sample image at ${ref}:`);
      const info = await inspect(ref, { signal: io.signal });
      for (const m of info.manifests) {
        io.print(
          `  ${(m.platform ?? "").padEnd(18)} ${m.digest}${m.attestation ? "  (attestation: not exported)" : ""}`,
        );
      }
      io.print(`\n$ ferry export ${ref} -o ${dir}`);
      const result = await exportImage(ref, dir, { signal: io.signal });
      for (const f of result.files) {
        io.print(`  ${f.path}  ${(f.platform ?? "").padEnd(16)} ${formatBytes(f.size).padStart(10)}`);
      }
      io.print(
        `\nEach file is a gzipped docker-archive that is also an OCI layout: 'docker load -i ${result.files[0]?.path}'`,
      );
    } finally {
      await server.stop();
    }
  },
};
