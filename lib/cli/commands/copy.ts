/**
 * `ferry copy SRC DST`: argument handling only; the work is `copy()` in lib/verbs/copy.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { copy } from "../../verbs/copy.ts";
import type { Command } from "../command.ts";
import {
  imageCopyOptionsOf,
  nondistributableFlags,
  referrerFlags,
  resumeFlags,
  resumeOptionOf,
  transferFlags,
} from "../flags.ts";
import { formatBytes, referrersLine } from "../output.ts";
import { dryRunFlags, dryRunHeading, planRows, printTable, tagLines } from "../dry_run.ts";

/** `ferry copy`. */
export const copyCommand: Command = {
  name: "copy",
  aliases: ["cp"],
  usage: "ferry copy [--platform P]... [--jobs N] [--dry-run] [--json] SRC DST",
  summary: "Copy an image with all its platforms (or the chosen ones); digests are preserved",
  examples: [
    "ferry copy docker.io/library/alpine:3 registry.example.com/mirror/alpine:3",
    "ferry copy --platform linux/amd64,linux/arm64 127.0.0.1:5000/app:1.0 oci:./layout:1.0",
    "ferry copy oci-archive:app.tar 127.0.0.1:5000/app:1.0",
  ],
  flags: {
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "Copy only these platforms (comma lists too: amd64,arm64,armv7 …); default all",
    },
    ...referrerFlags,
    ...nondistributableFlags,
    ...transferFlags,
    ...dryRunFlags,
    ...resumeFlags,
    json: { type: "boolean", description: "Print the result as one JSON document on stdout" },
  },
  async run(args, io) {
    if (args.positionals.length !== 2) throw new UsageError(`Cannot copy: expected SRC and DST\nusage: ${this.usage}`);
    const [src, dst] = args.positionals;
    const result = await copy(src, dst, { ...imageCopyOptionsOf(args, io, "copy"), ...resumeOptionOf(args) });
    if (args.values.json) {
      io.print(JSON.stringify(result, null, 2));
      return;
    }
    if (result.plan) {
      io.print(dryRunHeading("copy", result.source, result.destination, result.plan.destinationExists));
      io.print(`  ${result.digest}  ${result.platforms.join(", ") || "(no platform)"}`);
      printTable(io, planRows(result.plan, result.destination));
      for (const line of tagLines(result.plan, result.digest, result.destination)) io.print(line);
      if (result.skippedForeignLayers.length) {
        io.print(`  ${result.skippedForeignLayers.length} foreign layers would be left out`);
      }
      if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
      return;
    }
    io.print(`Copied ${result.source} → ${result.destination}`);
    io.print(`  ${result.digest}  ${result.platforms.join(", ") || "(no platform)"}`);
    if (result.filtered) io.print(`  new index of the chosen platforms (the source index has a different digest)`);
    io.print(
      `  ${result.copied} copied, ${result.skipped} already present, ${result.mounted} mounted, ${
        formatBytes(result.bytes)
      } transferred${
        result.skippedForeignLayers.length ? `, ${result.skippedForeignLayers.length} foreign layers left out` : ""
      }`,
    );
    if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
  },
};
