/**
 * `ferry build CONTEXT`: argument handling only; the work is `build()` in lib/verbs/build/build.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { build, type BuildOutputFormat } from "../../verbs/build/build.ts";
import { exportEventsTo } from "../progress/feeds.ts";
import { env } from "../../runtime.ts";
import type { Command } from "../command.ts";
import { intFlag, listFlag, readFlags, registryOptionsOf } from "../flags.ts";

/** `ferry build`. */
export const buildCommand: Command = {
  name: "build",
  usage: "ferry build [-f Dockerfile] [--platform P]... [-t REF]... [--push [--split]] [-o DIR [--format F]] " +
    "[--build-arg K=V]... CONTEXT",
  summary: "Build a multi-arch image from a Dockerfile without RUN (FROM/COPY/ENV/CMD…): no daemon, no emulation",
  examples: [
    "ferry build -t registry.example.com/team/app:1.0 --platform linux/amd64,linux/arm64 --push .",
    "ferry build -o out .",
  ],
  flags: {
    file: { type: "string", short: "f", value: "PATH", description: "The Dockerfile (default CONTEXT/Dockerfile)" },
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "Platforms to build (comma lists too); default the '# dockerma archs:…:' comment, else the host's",
    },
    tag: { type: "string", short: "t", multiple: true, value: "REF", description: "Name of the image (host/repo:tag)" },
    push: { type: "boolean", description: "Push the multi-arch index to every -t reference" },
    split: {
      type: "boolean",
      description: "With --push, also tag each platform's image REF-<arch> (1.0-amd64, 1.0-armv7)",
    },
    output: {
      type: "string",
      short: "o",
      value: "DIR",
      description: "Write files: image-<arch>.tar.gz per platform (docker load), or an OCI layout/archive (--format)",
    },
    format: {
      type: "string",
      value: "FORMAT",
      description: "Format of -o: docker (default), oci (layout directory) or oci-archive",
    },
    "build-arg": { type: "string", multiple: true, value: "K=V", description: "Set a build argument (ARG)" },
    target: { type: "string", value: "STAGE", description: "Build this stage instead of the last" },
    "compression-level": { type: "string", value: "0-9", description: "gzip level of new layers (default 6)" },
    jobs: { type: "string", short: "j", value: "N", description: "Blobs pushed at once (default 6)" },
    ...readFlags,
    json: { type: "boolean", description: "Print the index and per-platform digests as JSON" },
  },
  async run(args, io) {
    if (args.positionals.length !== 1) {
      throw new UsageError(`Cannot build: expected one CONTEXT directory\nusage: ${this.usage}`);
    }
    const buildArgs: Record<string, string> = {};
    for (const pair of listFlag(args, "build-arg") ?? []) {
      const i = pair.indexOf("=");
      if (i <= 0) throw new UsageError(`Cannot parse --build-arg "${pair}": expected KEY=VALUE`);
      buildArgs[pair.slice(0, i)] = pair.slice(i + 1);
    }
    const epochText = env("SOURCE_DATE_EPOCH");
    if (epochText !== undefined && epochText !== "" && !/^\d+$/.test(epochText)) {
      throw new UsageError(`Cannot use SOURCE_DATE_EPOCH "${epochText}": expected whole seconds since 1970`);
    }
    const format = typeof args.values.format === "string" ? args.values.format as BuildOutputFormat : undefined;
    if (format !== undefined && typeof args.values.output !== "string") {
      throw new UsageError("Cannot use --format without -o DIR: name where the files go");
    }
    const tags = listFlag(args, "tag");
    const output = typeof args.values.output === "string" ? args.values.output : undefined;
    if (args.values.push !== true && output === undefined && args.values.split !== true) {
      // Like docker buildx's "No output specified", but refused: nothing built would be kept.
      const push = tags && tags.length > 0 ? `--push to push ${tags.join(", ")}` : "-t REF --push to push it";
      throw new UsageError(
        `Cannot build: nothing to write; add ${push}, or -o DIR to write files ` +
          "(docker-load tarballs, or --format oci / oci-archive)",
      );
    }
    const result = await build(args.positionals[0], {
      file: typeof args.values.file === "string" ? args.values.file : undefined,
      platforms: listFlag(args, "platform"),
      tags,
      push: args.values.push === true,
      split: args.values.split === true,
      output,
      format,
      buildArgs,
      target: typeof args.values.target === "string" ? args.values.target : undefined,
      sourceDateEpoch: epochText ? Number(epochText) : 0,
      gzipLevel: intFlag(args, "compression-level", 0, 9),
      concurrency: intFlag(args, "jobs", 1, 64),
      registry: registryOptionsOf(args),
      signal: io.signal,
      onEvent: io.progress("build"),
      onExportEvent: exportEventsTo(io.tracker, io.warn),
    });
    if (args.values.json) {
      io.print(JSON.stringify(result, null, 2));
      return;
    }
    io.print(`Built ${result.digest} (${result.images.length} platform${result.images.length === 1 ? "" : "s"})`);
    for (const image of result.images) {
      io.print(`  ${image.platform.padEnd(16)} ${image.digest}${image.tags.length ? `  ${image.tags.join(" ")}` : ""}`);
    }
    for (const ref of result.pushed) io.print(`Pushed ${ref}`);
    for (const file of result.files) io.print(`Wrote ${file}`);
  },
};
