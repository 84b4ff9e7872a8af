/**
 * `ferry export SRC`: argument handling only; the work is `exportImage()` in lib/verbs/export/export.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { type ExportFormat, exportImage } from "../../verbs/export/export.ts";
import { exportBundle } from "../../verbs/export/bundle.ts";
import type { Command, CommandIo, ParsedArgs } from "../command.ts";
import {
  intFlag,
  listFlag,
  nondistributableFlags,
  readFlags,
  referrerFlags,
  referrerOptionsOf,
  registryOptionsOf,
  resumeFlags,
  resumeOptionOf,
} from "../flags.ts";
import { formatBytes, referrersLine, reportCopy } from "../output.ts";
import { exportEventsTo } from "../progress/feeds.ts";
import { dryRunFlags, dryRunHeading, planRows, printTable, tagLines } from "../dry_run.ts";

/** `ferry export`. */
export const exportCommand: Command = {
  name: "export",
  usage:
    "ferry export [-o PATH] [--platform P]... [--format docker|oci|oci-archive] [--tag TEMPLATE] [--push DST] [--dry-run] SRC | " +
    "[-f IMAGES.yaml] [--all-tags REPO]... [--volume-size SIZE] [--since RECEIPT] SRC...",
  summary:
    "Export every platform to image-<arch>.tar.gz (docker load) or an OCI layout/archive; many images to one bundle or volumes",
  examples: [
    "ferry export -o out registry.example.com/team/app:1.0",
    "ferry export --format oci-archive -o app.tar.gz --platform linux/arm64 127.0.0.1:5000/app:1.0",
    "ferry export -f images.yaml --volume-size dvd -o release/   # or REF... -o release.tar",
  ],
  flags: {
    output: {
      type: "string",
      short: "o",
      value: "PATH",
      description:
        "Output directory (default .); for --format oci-archive, the archive file (.tar or .tar.gz; such a name alone implies it)",
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
    name: {
      type: "string",
      value: "REPOSITORY",
      description:
        "Name the image REPOSITORY in the files ({repo} in RepoTags, the carried index); default the source's",
    },
    "max-files": {
      type: "string",
      value: "N",
      description: "docker format: the most per-platform files to write (default 256); more is refused",
    },
    "compression-level": {
      type: "string",
      value: "0-9",
      description: "gzip level of the files (default 0: layers inside are already compressed)",
    },
    file: {
      type: "string",
      short: "f",
      value: "FILE",
      description:
        "A YAML list of images to bundle (sources: image/repository, platforms, tags, target; a ferry mirror -c file works)",
    },
    "all-tags": {
      type: "string",
      multiple: true,
      value: "REPO",
      description: "Bundle every tag of this repository",
    },
    "volume-size": {
      type: "string",
      value: "SIZE",
      description:
        "Split the bundle into self-contained OCI archives (volume-N.tar + volumes.json in -o DIR) of at most SIZE: 4G, 700M, dvd, dvd9, bd25, bd50, fat32",
    },
    since: {
      type: "string",
      value: "RECEIPT",
      description:
        "Write a delta bundle: every manifest, only the blobs this receipt of the target (ferry receipt) lacks",
    },
    jobs: { type: "string", short: "j", value: "N", description: "Blobs fetched at once (default 6)" },
    push: {
      type: "string",
      value: "DST",
      description: "Also push the image (same platforms) to this registry reference, reading each blob once",
    },
    ...referrerFlags,
    ...nondistributableFlags,
    ...resumeFlags,
    ...readFlags,
    creds: { ...readFlags.creds, description: "Credentials for the source registry" },
    "dest-creds": { type: "string", value: "USER:PASS", description: "Credentials for the --push registry" },
    ...dryRunFlags,
    json: { type: "boolean", description: "Print the files written (path, platform, size, sha256) as JSON" },
  },
  async run(args, io) {
    const bundle = args.positionals.length > 1 || args.values.file !== undefined ||
      args.values["all-tags"] !== undefined || args.values["volume-size"] !== undefined ||
      args.values.since !== undefined;
    if (bundle) return await runBundle(args, io);
    if (args.positionals.length !== 1) throw new UsageError(`Cannot export: expected one SRC\nusage: ${this.usage}`);
    const output = typeof args.values.output === "string" ? args.values.output : undefined;
    const format = formatOf(args.values.format, output, io);
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
      repository: typeof args.values.name === "string" ? args.values.name : undefined,
      gzipLevel: level ?? (archive?.match(/\.(tgz|gz)$/) ? 0 : undefined),
      maxFiles: intFlag(args, "max-files", 1, 1_000_000),
      output: archive,
      concurrency: intFlag(args, "jobs", 1, 64),
      registry: registryOptionsOf(args),
      ...(typeof args.values.push === "string"
        ? { pushTo: args.values.push, pushRegistry: registryOptionsOf(args, "dest") }
        : {}),
      signal: io.signal,
      onEvent: exportEventsTo(io.tracker, io.warn),
      onCopyEvent: reportCopy(format === "oci" ? io.progress("oci") : undefined, io.warn),
      ...resumeOptionOf(args),
      allowNondistributable: args.values["allow-nondistributable-artifacts"] === true,
      ...referrerOptionsOf(args),
      dryRun: args.values["dry-run"] === true,
    });
    print(result, args, io);
  },
};

/** Many images: one bundle (archive, layout or docker-load archive), or volumes. */
async function runBundle(args: ParsedArgs, io: CommandIo): Promise<void> {
  const str = (name: string) => (typeof args.values[name] === "string" ? args.values[name] as string : undefined);
  const format = str("format");
  if (format !== undefined && !["docker", "oci", "oci-archive"].includes(format)) {
    throw new UsageError(`Cannot export as "${format}": --format takes docker, oci or oci-archive`);
  }
  const volumes = str("volume-size");
  if (format === "oci" && !str("output")) {
    throw new UsageError("Cannot export as oci: name the layout directory with -o DIR");
  }
  const output = str("output") ?? (volumes ? "." : "bundle.tar");
  const result = await exportBundle({
    images: args.positionals,
    imageList: str("file"),
    allTags: listFlag(args, "all-tags"),
    platforms: listFlag(args, "platform"),
    format: (format ?? "oci-archive") as "oci-archive" | "oci" | "docker",
    output,
    volumeSize: volumes,
    tagTemplate: str("tag"),
    since: str("since"),
    pushTo: str("push"),
    registry: registryOptionsOf(args),
    ...(str("push") ? { pushRegistry: registryOptionsOf(args, "dest") } : {}),
    concurrency: intFlag(args, "jobs", 1, 64),
    allowNondistributable: args.values["allow-nondistributable-artifacts"] === true,
    ...referrerOptionsOf(args),
    signal: io.signal,
    onEvent: exportEventsTo(io.tracker, io.warn),
    onCopyEvent: reportCopy(undefined, io.warn),
  });
  if (args.values.json) {
    io.print(JSON.stringify(result, null, 2));
    return;
  }
  const where = result.layout
    ? `oci:${result.layout}`
    : result.volumes
    ? `${result.files.length} volumes`
    : result.files[0].path;
  io.print(`Exported ${result.images.length} image${result.images.length === 1 ? "" : "s"} → ${where}`);
  const width = Math.max(...result.images.map((i) => i.name.length));
  for (const i of result.images) {
    const vols = i.volumes ? `  volume ${i.volumes.join("+")}` : "";
    const refs = i.referrers?.length ? `  +${i.referrers.length} referrer${i.referrers.length === 1 ? "" : "s"}` : "";
    io.print(`  ${i.name.padEnd(width)}  ${i.digest.slice(0, 19)}  ${i.platforms.join(",")}${vols}${refs}`);
  }
  for (const f of result.files) io.print(`  ${f.path}  ${formatBytes(f.size).padStart(10)}  ${f.sha256}`);
  if (result.volumes) io.print(`  ${result.volumes.path}`);
  if (result.delta) io.print(`  ${deltaLine(result.delta)}`);
  for (const p of result.pushed ?? []) io.print(`Pushed ${p.target} (${p.digest})`);
}

const ARCHIVE_NAME = /\.(tar|tar\.gz|tgz)$/i;

/**
 * The format asked for, or, with none, the one `-o` implies: a name ending in .tar, .tar.gz or .tgz is
 * one archive file (oci-archive; said on stderr), never a directory of that name.
 */
function formatOf(value: unknown, output: string | undefined, io: CommandIo): ExportFormat {
  if (value === undefined) {
    if (output === undefined || !ARCHIVE_NAME.test(output)) return "docker";
    io.warn(`Writing one OCI archive to ${output} (as --format oci-archive; -o names a file)`);
    return "oci-archive";
  }
  const format = value as ExportFormat;
  if (!["docker", "oci", "oci-archive"].includes(format)) {
    throw new UsageError(`Cannot export as "${format}": --format takes docker, oci or oci-archive`);
  }
  if (format !== "oci-archive" && output !== undefined && ARCHIVE_NAME.test(output)) {
    throw new UsageError(
      `Cannot export as ${format} to -o ${output}: --format ${format} writes ${
        format === "docker" ? "one image-<arch>.tar.gz per platform into a directory" : "a layout directory"
      }; name a directory, or use --format oci-archive for one archive file`,
    );
  }
  return format;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

function print(result: Awaited<ReturnType<typeof exportImage>>, args: ParsedArgs, io: CommandIo) {
  if (args.values.json) {
    io.print(JSON.stringify(result, null, 2));
    return;
  }
  if (result.dryRun) return printDryRun(result, io, typeof args.values.push === "string" ? args.values.push : "");
  const pushed = result.pushed ? `Pushed ${result.pushed.reference} (${result.pushed.digest})` : undefined;
  const referrers = result.referrers.length > 0 ? `  ${referrersLine(result.referrers)}` : undefined;
  if (result.layout) {
    io.print(`Exported ${result.source} → oci:${result.layout} (${result.digest}, ${result.platforms.join(", ")})`);
    if (referrers) io.print(referrers);
    if (pushed) io.print(pushed);
    return;
  }
  io.print(`Exported ${result.source} (${result.digest})`);
  const width = Math.max(...result.files.map((f) => f.path.length));
  for (const f of result.files) {
    io.print(
      `  ${f.path.padEnd(width)}  ${(f.platform ?? "index").padEnd(16)} ${
        formatBytes(f.size).padStart(10)
      }  ${f.sha256}`,
    );
  }
  if (referrers) io.print(referrers);
  if (pushed) io.print(pushed);
}

function printDryRun(result: Awaited<ReturnType<typeof exportImage>>, io: CommandIo, push: string) {
  if (result.plan) {
    io.print(dryRunHeading("export", result.source, `oci:${result.layout}`, result.plan.destinationExists));
    io.print(`  ${result.digest}  ${result.platforms.join(", ")}`);
    printTable(io, planRows(result.plan, `oci:${result.layout}`));
    for (const line of tagLines(result.plan, result.digest, `oci:${result.layout}`)) io.print(line);
  } else {
    const files = result.planned ?? [];
    io.print(
      dryRunHeading("export", result.source, files.length === 1 ? files[0].path : `${files.length} files`, true),
    );
    io.print(`  ${result.digest}  ${result.platforms.join(", ")}`);
    printTable(io, [
      ...files.map((f) => ({
        what: f.platform ?? "index",
        where: f.path,
        bytes: `${
          f.size !== undefined ? `${f.size} B (${formatBytes(f.size)}` : `about ${formatBytes(f.tar)} before gzip (`
        }; content ${formatBytes(f.content)})`,
        there: f.exists ? "a file (would be replaced)" : "-",
      })),
      {
        what: "total",
        where: "",
        bytes: files.every((f) => f.size !== undefined)
          ? `${files.reduce((n, f) => n + f.size!, 0)} B`
          : `about ${formatBytes(files.reduce((n, f) => n + f.tar, 0))} before gzip`,
        there: "",
      },
    ]);
    io.print(`  file size = content (layers, configs, manifests) + tar headers, padding and JSON + gzip framing`);
  }
  if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
  if (result.pushPlan) {
    io.print(`  and the push (--push):`);
    printTable(io, planRows(result.pushPlan, push));
    for (const line of tagLines(result.pushPlan, result.digest, push)) io.print(line);
  }
}

/** `delta since sha256:0123…: 12 blobs (80.0 MB) left out, the target has them; 3.0 MB of 83.0 MB (saves 96%)`. */
function deltaLine(d: { since: string; leftOut: number; leftOutBytes: number; bytes: number; fullBytes: number }) {
  const saved = d.fullBytes > 0 ? Math.round((d.leftOutBytes / d.fullBytes) * 100) : 0;
  return `delta since ${d.since.slice(0, 19)}…: ${d.leftOut} blob${d.leftOut === 1 ? "" : "s"} (${
    formatBytes(d.leftOutBytes)
  }) left out, the target has them; ${formatBytes(d.bytes)} of ${formatBytes(d.fullBytes)} (saves ${saved}%)`;
}
