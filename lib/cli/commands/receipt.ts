/**
 * `ferry receipt LOCATION... -o FILE`: argument handling only; the work is lib/verbs/receipt.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { writeReceipt } from "../../verbs/receipt.ts";
import type { Command } from "../command.ts";
import { listFlag, readFlags, registryOptionsOf } from "../flags.ts";
import { formatBytes } from "../output.ts";

/** `ferry receipt`. */
export const receiptCommand: Command = {
  name: "receipt",
  usage: "ferry receipt [-o FILE] [--repository R]... [-f IMAGES.yaml] [--check] LOCATION...",
  summary: "Record what a registry, layout, bundle or volumes hold (tags, manifests, blobs) for ferry export --since",
  examples: [
    "ferry receipt -o receipt.json registry.local:5000            # every repository of its catalog",
    "ferry receipt -o receipt.json -f images.yaml registry.local:5000/mirror",
    "ferry receipt -o receipt.json oci:./layout",
  ],
  flags: {
    output: {
      type: "string",
      short: "o",
      value: "FILE",
      description: "Write the receipt here (default: print it on stdout)",
    },
    repository: {
      type: "string",
      multiple: true,
      value: "R",
      description: "Only this repository of the registry (repeatable); default every repository of its catalog",
    },
    file: {
      type: "string",
      short: "f",
      value: "FILE",
      description: "Only the repositories a YAML list of images names (ferry export -f's; targets first)",
    },
    check: {
      type: "boolean",
      description: "Check every blob with HEAD and list only those present (default: trust the manifests)",
    },
    ...readFlags,
    json: { type: "boolean", description: "Print the receipt on stdout even with -o" },
  },
  async run(args, io) {
    if (args.positionals.length === 0) {
      throw new UsageError(`Cannot take a receipt: name a LOCATION\nusage: ${this.usage}`);
    }
    const output = typeof args.values.output === "string" ? args.values.output : undefined;
    const receipt = await writeReceipt(args.positionals, {
      output,
      repositories: listFlag(args, "repository"),
      imageList: typeof args.values.file === "string" ? args.values.file : undefined,
      check: args.values.check === true,
      registry: registryOptionsOf(args),
      signal: io.signal,
    });
    if (!output || args.values.json) {
      io.print(JSON.stringify(receipt, null, 2));
      if (!output) return;
    }
    const bytes = receipt.blobs.reduce((n, b) => n + b.size, 0);
    const line = `Receipt of ${receipt.source} → ${output}: ${Object.keys(receipt.tags).length} tags, ` +
      `${receipt.manifests.length} manifests, ${receipt.blobs.length} blobs (${formatBytes(bytes)}), ${receipt.sha256}`;
    if (args.values.json) io.warn(line);
    else io.print(line);
  },
};
