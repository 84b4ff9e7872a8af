/**
 * `ferry inspect REF`: the root digest and, per platform, its manifest digest, compressed size, layers and layers
 * shared with other platforms; `--config` adds each image config, `--tree` draws index → manifests → config/layers.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { inspect, type InspectedEntry, type InspectResult } from "../../verbs/inspect.ts";
import type { Command, CommandIo } from "../command.ts";
import { readFlags, registryOptionsOf } from "../flags.ts";
import { formatBytes } from "../output.ts";

/** `ferry inspect`. */
export const inspectCommand: Command = {
  name: "inspect",
  usage: "ferry inspect [--config] [--tree] [--raw] [--json] REF",
  summary: "Show an image's digest and, per platform, its size, layers and layers shared (daemonless)",
  examples: [
    "ferry inspect registry.example.com/team/app:1.0",
    "ferry inspect --config --json oci:./layout:1.0",
    "ferry inspect --raw docker://alpine:3 | sha256sum",
  ],
  flags: {
    config: {
      type: "boolean",
      description: "Also show each platform's image config: created, entrypoint, cmd, env, labels, os.version",
    },
    tree: { type: "boolean", description: "Draw index → manifests → config and layers, with sizes" },
    raw: {
      type: "boolean",
      description: "Print the exact manifest or index bytes, nothing added (sha256sum of them is the digest)",
    },
    json: { type: "boolean", description: "Print the result as one JSON document on stdout" },
    ...readFlags,
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError(`Cannot inspect: expected one REF\nusage: ${this.usage}`);
    const raw = args.values.raw === true;
    const result = await inspect(args.positionals[0], {
      registry: registryOptionsOf(args),
      signal: io.signal,
      details: !raw,
      config: !raw && args.values.config === true,
    });
    if (raw) {
      io.write(result.raw);
      return;
    }
    const { raw: _raw, ...rest } = result;
    if (args.values.json) {
      io.print(JSON.stringify(rest, null, 2));
      return;
    }
    if (args.values.tree) printTree(result, io);
    else printTable(result, io);
    if (args.values.config) printConfigs(result, io);
  },
};

/** With an os.version, containerd's FormatAll: windows(10.0.17763.1)/amd64. */
function platformText(m: InspectedEntry): string {
  if (m.attestation) return "attestation";
  return m.platform && m.osVersion ? m.platform.replace("/", `(${m.osVersion})/`) : m.platform ?? "-";
}

function printTable(result: InspectResult, io: CommandIo) {
  io.print(`${result.reference}`);
  io.print(`  digest     ${result.digest}`);
  io.print(`  mediaType  ${result.mediaType}`);
  const width = Math.max(22, ...result.manifests.map((m) => platformText(m).length + 1));
  io.print(`  ${"PLATFORM".padEnd(width)} ${"DIGEST".padEnd(71)}  ${"SIZE".padStart(10)}  LAYERS  SHARED`);
  for (const m of result.manifests) {
    const size = m.compressedSize !== undefined ? formatBytes(m.compressedSize) : "-";
    io.print(
      `  ${platformText(m).padEnd(width)} ${m.digest.padEnd(71)}  ${size.padStart(10)}  ${
        String(m.layers ?? "-").padStart(6)
      }  ${String(m.sharedLayers ?? "-").padStart(6)}`,
    );
  }
}

function printTree(result: InspectResult, io: CommandIo) {
  const kind = result.isIndex ? "index" : "manifest";
  io.print(`${result.reference}  ${kind} ${result.digest}  ${formatBytes(result.size)}`);
  const entries = result.isIndex ? result.manifests : [];
  const image = (m: InspectedEntry, indent: string) => {
    const children = [
      ...(m.configDescriptor ? [["config", m.configDescriptor] as const] : []),
      ...(m.layerDescriptors ?? []).map((l, i) => [`layer ${i + 1}`, l] as const),
    ];
    for (const [i, [name, d]] of children.entries()) {
      const last = i === children.length - 1;
      io.print(`${indent}${last ? "└── " : "├── "}${name.padEnd(9)} ${d.digest}  ${formatBytes(d.size)}`);
    }
  };
  if (!result.isIndex) {
    image(result.manifests[0], "");
    return;
  }
  for (const [i, m] of entries.entries()) {
    const last = i === entries.length - 1;
    const size = m.compressedSize !== undefined ? `  (${formatBytes(m.compressedSize)} in all)` : "";
    io.print(`${last ? "└── " : "├── "}${platformText(m)}  manifest ${m.digest}  ${formatBytes(m.size)}${size}`);
    image(m, last ? "    " : "│   ");
  }
}

function printConfigs(result: InspectResult, io: CommandIo) {
  for (const m of result.manifests) {
    const c = m.imageConfig;
    if (!c) continue;
    io.print("");
    io.print(`${platformText(m)}:`);
    if (c.created) io.print(`  created     ${c.created}`);
    if (c.osVersion) io.print(`  os.version  ${c.osVersion}`);
    if (c.entrypoint) io.print(`  entrypoint  ${JSON.stringify(c.entrypoint)}`);
    if (c.cmd) io.print(`  cmd         ${JSON.stringify(c.cmd)}`);
    if (c.workingDir) io.print(`  workdir     ${c.workingDir}`);
    if (c.user) io.print(`  user        ${c.user}`);
    for (const [i, e] of (c.env ?? []).entries()) io.print(`  ${i === 0 ? "env        " : "           "} ${e}`);
    for (const [i, [k, v]] of Object.entries(c.labels ?? {}).entries()) {
      io.print(`  ${i === 0 ? "labels     " : "           "} ${k}=${v}`);
    }
  }
}
