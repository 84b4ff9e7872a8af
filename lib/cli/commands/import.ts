/**
 * `ferry import FILE... DST`: argument handling only; the work is `importImage()` in lib/verbs/import/import.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { importImage } from "../../verbs/import/import.ts";
import { importBundle, isBundleInput } from "../../verbs/import/bundle.ts";
import type { Command, CommandIo, ParsedArgs } from "../command.ts";
import type { ImportBundleResult } from "../../verbs/import/bundle.ts";
import {
  intFlag,
  listFlag,
  referrerFlags,
  referrerOptionsOf,
  registryOptionsOf,
  resumeFlags,
  resumeOptionOf,
  timeoutFlags,
  tlsFlags,
  transferFlags,
} from "../flags.ts";
import { formatBytes, referrersLine } from "../output.ts";
import { dryRunFlags, dryRunHeading, planRows, printTable, tagLines } from "../dry_run.ts";

/** A bundle (or volumes of one): every image it holds whole, under the prefix; the others named with their volumes. */
async function runBundle(files: string[], dst: string, args: ParsedArgs, io: CommandIo): Promise<void> {
  for (const flag of ["type", "platform", "prefer", "compression-level"]) {
    if (args.values[flag] !== undefined) {
      throw new UsageError(`Cannot use --${flag} with a bundle: each image is imported as it is, digests unchanged`);
    }
  }
  let result: ImportBundleResult;
  let failure: unknown;
  try {
    result = await importBundle(files, dst, {
      destination: registryOptionsOf(args, "dest"),
      jobs: intFlag(args, "jobs", 1, 64),
      signal: io.signal,
      onEvent: io.progress("import"),
      ...referrerOptionsOf(args),
    });
  } catch (err) {
    const partial = (err as { result?: ImportBundleResult }).result;
    if (!partial) throw err;
    result = partial;
    failure = err;
  }
  if (args.values.json) io.print(JSON.stringify(result, null, 2));
  else {
    const { present, count } = result.volumes;
    io.print(
      `Imported ${result.images.length} image${result.images.length === 1 ? "" : "s"} → ${result.destination}` +
        (count > 1 ? ` (volume ${present.join(", ")} of ${count})` : ""),
    );
    for (const i of result.images) io.print(`  ${i.target}  ${i.digest}`);
    for (const m of result.missing) io.print(`  missing ${m.name}: needs ${m.missingFiles.join(", ")}`);
  }
  if (failure) throw failure;
}

/** `ferry import`. */
export const importCommand: Command = {
  name: "import",
  usage:
    "ferry import [--type oci|docker] [--platform P]... [--prefer FILE]... [--dry-run] [--json] FILE... DST | BUNDLE|VOLUME... REGISTRY[/PREFIX]",
  summary:
    "Import export files, docker save tarballs, OCI layouts/archives into a registry (one multi-arch index) or docker-daemon:; a bundle's images under a prefix",
  examples: [
    "ferry import out/image-*.tar.gz registry.example.com/team/app:1.0",
    "ferry import app.tar docker-daemon:app:1.0",
    "ferry import release/ registry.local:5000/mirror   # a bundle or volumes: each image at its own path",
  ],
  flags: {
    type: {
      type: "string",
      value: "oci|docker",
      description: "Media type of a new index: OCI image index (default) or Docker manifest list",
    },
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "Import only these platforms (comma lists too); default all",
    },
    prefer: {
      type: "string",
      multiple: true,
      value: "FILE",
      description: "When two inputs hold different images of one platform, take this one's",
    },
    "compression-level": {
      type: "string",
      value: "N",
      description: "gzip level 0-9 for layers stored uncompressed (default 6)",
    },
    ...referrerFlags,
    "dest-creds": transferFlags["dest-creds"],
    "plain-http": transferFlags["plain-http"],
    insecure: transferFlags.insecure,
    authfile: transferFlags.authfile,
    retries: transferFlags.retries,
    jobs: transferFlags.jobs,
    ...resumeFlags,
    ...tlsFlags("one"),
    ...timeoutFlags,
    ...dryRunFlags,
    json: { type: "boolean", description: "Print the result as one JSON document on stdout" },
  },
  async run(args, io) {
    if (args.positionals.length < 2) {
      throw new UsageError(`Cannot import: expected FILE... and DST\nusage: ${this.usage}`);
    }
    const type = args.values.type;
    if (type !== undefined && type !== "oci" && type !== "docker") {
      throw new UsageError(`Cannot parse --type "${type}": expected oci or docker`);
    }
    const files = args.positionals.slice(0, -1);
    const dst = args.positionals.at(-1)!;
    if (await isBundleInput(files)) return await runBundle(files, dst, args, io);
    const result = await importImage(files, dst, {
      type,
      platforms: listFlag(args, "platform"),
      prefer: listFlag(args, "prefer"),
      gzipLevel: intFlag(args, "compression-level", 0, 9),
      concurrency: intFlag(args, "jobs", 1, 64),
      destination: registryOptionsOf(args, "dest"),
      signal: io.signal,
      onEvent: io.progress("import"),
      ...referrerOptionsOf(args),
      dryRun: args.values["dry-run"] === true,
      ...resumeOptionOf(args),
    });
    if (args.values.json) {
      io.print(JSON.stringify(result, null, 2));
      return;
    }
    const inputs = `${files.length} file${files.length === 1 ? "" : "s"}`;
    if (result.plan) io.print(dryRunHeading("import", inputs, result.destination, result.plan.destinationExists));
    else io.print(`Imported ${inputs} → ${result.destination}`);
    if (result.digest) {
      const what = {
        original: "the inputs' own index",
        filtered: "the inputs' index, narrowed",
        built: "a new index",
        none: "one image",
      }[result.index];
      io.print(`  ${result.digest}  ${what}`);
    }
    for (const image of result.images) {
      const converted = result.plan ? "  (layers to gzip first)" : "  (layers gzipped)";
      io.print(`  ${image.platform.padEnd(16)} ${image.digest}${image.converted ? converted : ""}`);
    }
    if (result.plan) {
      printTable(io, planRows(result.plan, result.destination));
      for (const line of tagLines(result.plan, result.digest, result.destination)) io.print(line);
      if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
      if (result.estimated) {
        io.print("  estimated: layers stored uncompressed are counted as they are; the import gzips them first");
      }
      return;
    }
    for (const line of result.loaded ?? []) io.print(`  ${line}`);
    if (result.referrers.length > 0) io.print(`  ${referrersLine(result.referrers)}`);
    io.print(`  ${result.copied} copied, ${result.skipped} already present, ${formatBytes(result.bytes)} transferred`);
  },
};
