/**
 * `ferry export SRC`: argument handling only; the work is `exportImage()` in lib/verbs/export/export.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { type ExportFormat, exportImage } from "../../verbs/export/export.ts";
import type { Command, CommandIo, ParsedArgs } from "../command.ts";
import { intFlag, listFlag, readFlags, registryOptionsOf } from "../flags.ts";
import { formatBytes } from "../output.ts";
import type { ExportEvent } from "../../verbs/export/to_files.ts";

/** `ferry export`. */
export const exportCommand: Command = {
  name: "export",
  usage: "ferry export [-o DIR] [--platform P]... [--format docker|oci|oci-archive] [--tag TEMPLATE] [--push DST] SRC",
  summary: "Export every platform to image-<arch>.tar.gz (docker load), or the whole index to an OCI layout/archive",
  flags: {
    output: {
      type: "string",
      short: "o",
      value: "PATH",
      description: "Output directory (default .); for --format oci-archive, the archive file (.tar or .tar.gz)",
    },
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "Export only these platforms (comma lists too: amd64,arm64,armv7 …); default all",
    },
    format: {
      type: "string",
      value: "FORMAT",
      description: "docker (default: image-<arch>.tar.gz per platform), oci (layout directory) or oci-archive",
    },
    tag: {
      type: "string",
      value: "TEMPLATE",
      description:
        "RepoTags of each file; {repo} {tag} {label} {os} {arch} {variant} {osversion} (default {repo}:{tag}-{label})",
    },
    "compression-level": {
      type: "string",
      value: "0-9",
      description: "gzip level of the files (default 0: layers inside are already compressed)",
    },
    jobs: { type: "string", short: "j", value: "N", description: "Blobs fetched at once (default 6)" },
    push: {
      type: "string",
      value: "DST",
      description: "Also push the image (same platforms) to this registry reference, reading each blob once",
    },
    ...readFlags,
    creds: { ...readFlags.creds, description: "Credentials for the source registry" },
    "dest-creds": { type: "string", value: "USER:PASS", description: "Credentials for the --push registry" },
    json: { type: "boolean", description: "Print the files written (path, platform, size, sha256) as JSON" },
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError(`Cannot export: expected one SRC\nusage: ${this.usage}`);
    const format = (args.values.format ?? "docker") as ExportFormat;
    if (!["docker", "oci", "oci-archive"].includes(format)) {
      throw new UsageError(`Cannot export as "${format}": --format takes docker, oci or oci-archive`);
    }
    const output = typeof args.values.output === "string" ? args.values.output : undefined;
    if (format === "oci" && !output) {
      throw new UsageError("Cannot export as oci: name the layout directory with -o DIR");
    }
    const archive = format === "oci-archive" ? output ?? "image.tar" : undefined;
    const dir = format === "oci-archive" ? dirOf(archive!) : output ?? ".";
    const level = intFlag(args, "compression-level", 0, 9);
    const result = await exportImage(args.positionals[0], dir, {
      format,
      platforms: listFlag(args, "platform"),
      tagTemplate: typeof args.values.tag === "string" ? args.values.tag : undefined,
      gzipLevel: level ?? (archive?.match(/\.(tgz|gz)$/) ? 0 : undefined),
      output: archive,
      concurrency: intFlag(args, "jobs", 1, 64),
      registry: registryOptionsOf(args),
      ...(typeof args.values.push === "string"
        ? { pushTo: args.values.push, pushRegistry: registryOptionsOf(args, "dest") }
        : {}),
      signal: io.signal,
      onEvent: exportProgress(io),
      onCopyEvent: format === "oci" ? io.progress("oci") : undefined,
    });
    print(result, args, io);
  },
};

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

function exportProgress(io: CommandIo): (event: ExportEvent) => void {
  return (event) => {
    if (event.type === "start") io.fileProgress(event.label, 0, event.total);
    else if (event.type === "progress") io.fileProgress(event.label, event.bytes, event.total);
    else if (event.type === "done") io.fileProgress(event.label, event.size, event.size);
    else io.warn(`ferry: note: ${event.message}`);
  };
}

function print(result: Awaited<ReturnType<typeof exportImage>>, args: ParsedArgs, io: CommandIo) {
  if (args.values.json) {
    io.print(JSON.stringify(result, null, 2));
    return;
  }
  const pushed = result.pushed ? `Pushed ${result.pushed.reference} (${result.pushed.digest})` : undefined;
  if (result.layout) {
    io.print(`Exported ${result.source} → oci:${result.layout} (${result.digest}, ${result.platforms.join(", ")})`);
    if (pushed) io.print(pushed);
    return;
  }
  io.print(`Exported ${result.source} (${result.digest})`);
  for (const f of result.files) {
    io.print(`  ${f.path}  ${(f.platform ?? "index").padEnd(16)} ${formatBytes(f.size).padStart(10)}  ${f.sha256}`);
  }
  if (pushed) io.print(pushed);
}
