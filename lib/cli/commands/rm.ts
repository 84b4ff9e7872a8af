/**
 * `ferry rm REF`: delete an image from a registry, or a tag from an OCI layout; the work is lib/verbs/delete.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { deleteImage } from "../../verbs/delete.ts";
import type { Command } from "../command.ts";
import { readFlags, registryOptionsOf } from "../flags.ts";

/** `ferry rm`. */
export const rmCommand: Command = {
  name: "rm",
  aliases: ["delete"],
  usage: "ferry rm [--json] REF...",
  summary: "Delete images from a registry (the manifest and every tag of it; if it allows) or tags from an OCI layout",
  examples: [
    "ferry rm registry.example.com/team/app:old",
    "ferry rm 127.0.0.1:5000/app@sha256:4f4f…",
    "ferry rm oci:./layout:1.0",
  ],
  locations: true,
  flags: {
    json: { type: "boolean", description: "Print what was removed as JSON" },
    ...readFlags,
  },
  async run(args, io) {
    if (args.positionals.length === 0) throw new UsageError(`Cannot delete: expected REF\nusage: ${this.usage}`);
    const results = [];
    for (const ref of args.positionals) {
      const result = await deleteImage(ref, { registry: registryOptionsOf(args), signal: io.signal });
      results.push(result);
      if (!args.values.json) {
        io.print(
          result.removed === "tag"
            ? `Untagged ${result.reference} (${result.digest})`
            : `Deleted ${result.reference} (${result.digest})`,
        );
      }
    }
    if (args.values.json) io.print(JSON.stringify(results, null, 2));
  },
};
