/**
 * `ferry ls REPO`: one tag a line (like `crane ls` and `skopeo list-tags`); the work is lib/verbs/list_tags.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { listTags } from "../../verbs/list_tags.ts";
import { isBundlePath, listBundle } from "../../verbs/list_bundle.ts";
import type { Command } from "../command.ts";
import { readFlags, registryOptionsOf } from "../flags.ts";

/** `ferry ls`. */
export const lsCommand: Command = {
  name: "ls",
  aliases: ["tags", "list-tags"],
  usage: "ferry ls [--json] REPO | BUNDLE|VOLUME...",
  summary: "List the tags of a registry repository or an OCI layout, or a bundle's images",
  examples: [
    "ferry ls registry.example.com/team/app",
    "ferry ls oci:./layout",
    "ferry ls release/            # a bundle's images, the volumes each needs",
  ],
  locations: true,
  flags: {
    json: { type: "boolean", description: 'Print {"repository", "tags"} as JSON (skopeo list-tags\'s shape)' },
    ...readFlags,
  },
  async run(args, io) {
    if (args.positionals.length > 0 && await isBundlePath(args.positionals[0])) {
      const listing = await listBundle(args.positionals, { signal: io.signal });
      if (args.values.json) {
        io.print(JSON.stringify(listing, null, 2));
        return;
      }
      const width = Math.max(...listing.images.map((i) => i.name.length));
      for (const i of listing.images) {
        const where = i.volumes ? `  volume ${i.volumes.join("+")}` : "";
        const state = i.complete ? "" : `  missing: needs ${i.missingFiles.join(", ")}`;
        io.print(`${i.name.padEnd(width)}  ${i.digest}  ${i.platforms.join(",")}${where}${state}`);
      }
      return;
    }
    if (args.positionals.length !== 1) {
      throw new UsageError(`Cannot list tags: expected one REPO\nusage: ${this.usage}`);
    }
    const repo = args.positionals[0];
    const tags = await listTags(repo, { registry: registryOptionsOf(args), signal: io.signal });
    if (args.values.json) {
      io.print(JSON.stringify({ Repository: repo.replace(/^docker:\/\//, ""), Tags: tags }, null, 2));
      return;
    }
    for (const tag of tags) io.print(tag);
  },
};
