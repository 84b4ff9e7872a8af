/**
 * `ferry split SRC DST`: argument handling only; the work is `split()` in lib/verbs/split.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { DEFAULT_SPLIT_TAG } from "../../ref/tag_template.ts";
import { split } from "../../verbs/split.ts";
import type { Command } from "../command.ts";
import { imageCopyOptionsOf, nondistributableFlags, referrerFlags, transferFlags } from "../flags.ts";
import { referrersLine } from "../output.ts";
import { dryRunFlags, dryRunHeading, planRows, printTable, tagLines } from "../dry_run.ts";

/** `ferry split`. */
export const splitCommand: Command = {
  name: "split",
  usage: "ferry split [--platform P]... [--tag-template T] [--with-index] [--dry-run] [--json] SRC DST",
  summary: "Give each platform of a multi-arch image its own tag (DST:1.0-amd64, …); digests unchanged",
  examples: [
    "ferry split 127.0.0.1:5000/app:1.0 127.0.0.1:5000/app",
    'ferry split --platform linux/arm64 --tag-template "{tag}-{arch}" alpine:3 registry.example.com/alpine',
  ],
  flags: {
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "Split out only these platforms (comma lists too); default all",
    },
    "tag-template": {
      type: "string",
      value: "T",
      description:
        `Tag per platform from {tag} {label} {os} {arch} {variant} {osversion} (default '${DEFAULT_SPLIT_TAG}')`,
    },
    "with-index": { type: "boolean", description: "Also tag DST's tag with the multi-arch index" },
    ...referrerFlags,
    ...nondistributableFlags,
    ...transferFlags,
    ...dryRunFlags,
    json: { type: "boolean", description: "Print the tags and digests as one JSON document on stdout" },
  },
  async run(args, io) {
    if (args.positionals.length !== 2) throw new UsageError(`Cannot split: expected SRC and DST\nusage: ${this.usage}`);
    const [src, dst] = args.positionals;
    const result = await split(src, dst, {
      ...imageCopyOptionsOf(args, io, "split"),
      tagTemplate: typeof args.values["tag-template"] === "string" ? args.values["tag-template"] : undefined,
      withIndex: args.values["with-index"] === true,
    });
    if (args.values.json) {
      io.print(JSON.stringify(result, null, 2));
      return;
    }
    if (result.plan) {
      io.print(dryRunHeading("split", result.source, result.destination, result.plan.destinationExists));
      for (const t of result.tags) io.print(`  ${t.tag.padEnd(24)} ${t.digest}  ${t.platform}`);
      if (result.index) io.print(`  ${result.index.tag.padEnd(24)} ${result.index.digest}  (index)`);
      printTable(io, planRows(result.plan, result.destination));
      const digests = new Map([...result.tags, ...(result.index ? [result.index] : [])].map((t) => [t.tag, t.digest]));
      for (const line of tagLines(result.plan, (tag) => digests.get(tag)!, result.destination)) io.print(line);
      if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
      return;
    }
    io.print(`Split ${result.source} → ${result.destination}`);
    for (const t of result.tags) io.print(`  ${t.tag.padEnd(24)} ${t.digest}  ${t.platform}`);
    if (result.index) {
      io.print(
        `  ${result.index.tag.padEnd(24)} ${result.index.digest}  (index${
          result.index.filtered ? " of the chosen platforms" : ""
        })`,
      );
    }
    if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
  },
};
