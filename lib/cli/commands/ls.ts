/**
 * `ferry ls REPO`: one tag a line (like `crane ls` and `skopeo list-tags`); the work is lib/verbs/list_tags.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { listTags } from "../../verbs/list_tags.ts";
import type { Command } from "../command.ts";
import { readFlags, registryOptionsOf } from "../flags.ts";

/** `ferry ls`. */
export const lsCommand: Command = {
  name: "ls",
  aliases: ["tags", "list-tags"],
  usage: "ferry ls [--json] REPO",
  summary: "List the tags of a registry repository or an OCI layout",
  examples: [
    "ferry ls registry.example.com/team/app",
    "ferry ls --json docker://127.0.0.1:5000/app",
    "ferry ls oci:./layout",
  ],
  locations: true,
  flags: {
    json: { type: "boolean", description: 'Print {"repository", "tags"} as JSON (skopeo list-tags\'s shape)' },
    ...readFlags,
  },
  async run(args, io) {
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
