/**
 * `ferry inspect REF`: the root digest and platforms of an image.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { inspect } from "../../verbs/inspect.ts";
import type { Command } from "../command.ts";
import { readFlags, registryOptionsOf } from "../flags.ts";

/** `ferry inspect`. */
export const inspectCommand: Command = {
  name: "inspect",
  usage: "ferry inspect [--raw] [--json] REF",
  summary: "Show an image's digest and platforms (like docker manifest inspect, daemonless)",
  flags: {
    raw: {
      type: "boolean",
      description: "Print the exact manifest or index bytes, nothing added (sha256sum of them is the digest)",
    },
    json: { type: "boolean", description: "Print the result as one JSON document on stdout" },
    ...readFlags,
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError(`Cannot inspect: expected one REF\nusage: ${this.usage}`);
    const result = await inspect(args.positionals[0], { registry: registryOptionsOf(args), signal: io.signal });
    if (args.values.raw) {
      io.write(result.raw);
      return;
    }
    const { raw: _raw, ...rest } = result;
    if (args.values.json) {
      io.print(JSON.stringify(rest, null, 2));
      return;
    }
    io.print(`${result.reference}`);
    io.print(`  digest     ${result.digest}`);
    io.print(`  mediaType  ${result.mediaType}`);
    for (const m of result.manifests) {
      // With an os.version, containerd's FormatAll: windows(10.0.17763.1)/amd64.
      const platform = m.platform && m.osVersion ? m.platform.replace("/", `(${m.osVersion})/`) : m.platform ?? "-";
      io.print(`  ${platform.padEnd(22)} ${m.digest}${m.attestation ? "  (attestation)" : ""}`);
    }
  },
};
