/**
 * `ferry mirror -d PREFIX IMAGE...` / `ferry mirror -c mirror.yaml`: argument handling and the report;
 * the work is `mirror()` in lib/verbs/mirror/mirror.ts.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { FileError, UsageError } from "../../errors.ts";
import {
  mirror,
  type MirrorEvent,
  type MirrorImageResult,
  type MirrorResult,
  summarizeMirror,
} from "../../verbs/mirror/mirror.ts";
import { type MirrorSpec, parseMirrorSpec, specFromImages, validateMirrorSpec } from "../../verbs/mirror/spec.ts";
import type { CommandIo, ParsedArgs } from "../command.ts";
import type { Command } from "../command.ts";
import {
  intFlag,
  listFlag,
  nondistributableFlags,
  referrerFlags,
  referrerOptionsOf,
  registryOptionsOf,
  transferFlags,
} from "../flags.ts";
import { foreignLayerLine, formatBytes } from "../output.ts";

/** `ferry mirror`. */
export const mirrorCommand: Command = {
  name: "mirror",
  usage: "ferry mirror -d PREFIX [--all-tags] [--platform P]... [--os OS] IMAGE...  |  ferry mirror -c mirror.yaml",
  summary: "Mirror many images, all platforms, into a registry under a prefix; reruns copy only what changed",
  examples: [
    "ferry mirror -d registry.example.com/mirror alpine:3 nginx:1.27",
    'ferry mirror -a --allow "^1\\." -d 127.0.0.1:5000/mirror library/redis',
    "ferry mirror -c mirror.yaml --keep-going",
  ],
  flags: {
    dest: {
      type: "string",
      short: "d",
      value: "PREFIX",
      description: "Target registry and path, e.g. registry.example.com/mirror",
    },
    config: {
      type: "string",
      short: "c",
      value: "FILE",
      description: "YAML file of sources, filters and settings (see README)",
    },
    "all-tags": { type: "boolean", short: "a", description: "Treat each IMAGE as a repository and mirror its tags" },
    allow: { type: "string", multiple: true, value: "REGEX", description: "With --all-tags: only tags matching" },
    deny: { type: "string", multiple: true, value: "REGEX", description: "With --all-tags: skip tags matching" },
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "Mirror only these platforms (* for any part: linux/*, */arm64); default all",
    },
    os: {
      type: "string",
      multiple: true,
      value: "OS",
      description: "Mirror only the images of this OS, e.g. linux (short for --platform 'OS/*')",
    },
    "dry-run": { type: "boolean", description: "Print the plan and the manifest requests it needs; write nothing" },
    "keep-going": { type: "boolean", description: "Finish the other images when one fails (exit 9 if any did)" },
    parallel: { type: "string", value: "N", description: "Images mirrored at once (default 3)" },
    ...referrerFlags,
    ...nondistributableFlags,
    ...transferFlags,
    json: { type: "boolean", description: "Print the summary as one JSON document on stdout" },
  },
  async run(args, io) {
    const spec = await specOf(args);
    const json = args.values.json === true;
    const quiet = args.values.quiet === true;
    const dryRun = args.values["dry-run"] === true;
    const images: MirrorImageResult[] = [];
    const feeds = new Map<string, ReturnType<CommandIo["progress"]>>();
    const status = {
      copied: "done",
      present: "present",
      planned: "done",
      failed: "failed",
      skipped: "skipped",
    } as const;
    const seen = new Map<string, number>();
    const reserve = spec.rateLimit?.reserve ?? 10;
    const onEvent = (event: MirrorEvent) => {
      switch (event.type) {
        case "queued":
          io.tracker.queue(event.source, event.source, { printed: !json });
          break;
        case "image":
          images.push(event.image);
          feeds.delete(event.image.source);
          io.tracker.finish(event.image.source, status[event.image.status], event.image.error);
          if (!json) io.print(imageLine(event.image));
          break;
        case "copy": {
          if (event.event.type === "foreign") io.warn(`${event.source}: ${foreignLayerLine(event.event.desc)}`);
          if (!feeds.has(event.source)) feeds.set(event.source, io.tracker.copyFeed({ task: event.source }));
          feeds.get(event.source)?.(event.event);
          break;
        }
        case "ratelimit": {
          // Shown once per host, then whenever it is low (and has changed).
          const before = seen.get(event.host);
          seen.set(event.host, event.remaining);
          if (quiet || (before !== undefined && (event.remaining > reserve || before === event.remaining))) break;
          const window = event.windowSeconds !== undefined ? ` per ${formatSeconds(event.windowSeconds)}` : "";
          const low = event.remaining <= reserve ? "; slowing down" : "";
          io.warn(
            `${event.host}: rate limit: ${event.remaining}${
              event.limit !== undefined ? ` of ${event.limit}` : ""
            } requests left${window}${low}`,
          );
          break;
        }
        case "retry":
          if (!quiet) {
            const why = event.status !== undefined ? `answered ${event.status}` : "connection failed";
            io.warn(
              `${event.host}: ${why}; retrying in ${formatSeconds(event.waitMs / 1000)}${
                event.retryAfter ? " (Retry-After)" : ""
              }`,
            );
          }
          break;
      }
    };
    let result: MirrorResult;
    try {
      result = await mirror(spec, {
        source: registryOptionsOf(args, "src"),
        destination: registryOptionsOf(args, "dest"),
        concurrency: intFlag(args, "parallel", 1, 64),
        jobs: intFlag(args, "jobs", 1, 64),
        keepGoing: args.values["keep-going"] === true,
        dryRun,
        signal: io.signal,
        onEvent,
        allowNondistributable: args.values["allow-nondistributable-artifacts"] === true,
        ...referrerOptionsOf(args),
      });
    } catch (err) {
      // The summary of what was done (with --json, the same document as on success), then the error.
      if (!(err instanceof UsageError)) report(summarizeMirror(spec.target, images, dryRun), json, io);
      throw err;
    }
    report(result, json, io);
  },
};

async function specOf(args: ParsedArgs): Promise<MirrorSpec> {
  const dest = typeof args.values.dest === "string" ? args.values.dest : undefined;
  const configFile = typeof args.values.config === "string" ? args.values.config : undefined;
  const platforms = platformsOf(args);
  if (!configFile) {
    if (!dest) {
      throw new UsageError(
        `Cannot mirror: give a target with -d PREFIX (or a config file with -c)\nusage: ${mirrorCommand.usage}`,
      );
    }
    if (args.positionals.length === 0) {
      throw new UsageError(`Cannot mirror: no IMAGE given\nusage: ${mirrorCommand.usage}`);
    }
    if (!args.values["all-tags"] && (args.values.allow || args.values.deny)) {
      throw new UsageError("Cannot mirror: --allow and --deny filter tags of --all-tags repositories");
    }
    return specFromImages(dest, args.positionals, {
      allTags: args.values["all-tags"] === true,
      allow: listFlag(args, "allow"),
      deny: listFlag(args, "deny"),
      platforms,
    });
  }
  let text: string;
  try {
    text = await readFile(configFile, "utf8");
  } catch (err) {
    throw new FileError(`Cannot read ${configFile}: ${(err as Error).message}`, { cause: err });
  }
  const spec = parseMirrorSpec(text, configFile);
  // Command-line settings win over the file's.
  const extra = args.positionals.map((image) => ({ image }));
  return validateMirrorSpec({
    ...spec,
    ...(dest ? { target: dest } : {}),
    ...(platforms ? { platforms } : {}),
    sources: [...spec.sources, ...extra],
  }, configFile);
}

/** `--platform` values, or `--os OS` as `OS/*`. */
function platformsOf(args: ParsedArgs): string[] | undefined {
  const platforms = listFlag(args, "platform");
  const oses = listFlag(args, "os")?.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
  if (!oses) return platforms;
  if (platforms) {
    throw new UsageError(
      `Cannot mirror: give --os or --platform, not both (--os ${oses[0]} is --platform '${oses[0]}/*')`,
    );
  }
  for (const os of oses) {
    if (os.includes("/") || os === "*") {
      throw new UsageError(`Cannot use --os "${os}": expected an OS like linux or windows (--platform takes OS/ARCH)`);
    }
  }
  return oses.map((os) => `${os}/*`);
}

function imageLine(image: MirrorImageResult): string {
  const referrers = image.referrers?.length
    ? `  +${image.referrers.length} referrer${image.referrers.length === 1 ? "" : "s"}`
    : "";
  const digest = image.digest ? `  ${image.digest.slice(0, 19)}…${referrers}` : "";
  switch (image.status) {
    case "copied":
      return `copied   ${image.source} → ${image.target}${digest}  ${formatBytes(image.bytes)}`;
    case "present":
      return `present  ${image.source} → ${image.target}${digest}`;
    case "planned":
      return `planned  ${image.source} → ${image.target}${digest}  ${image.manifestRequests} manifest requests`;
    case "failed":
      return `failed   ${image.source}: ${image.error}`;
    case "skipped":
      return `skipped  ${image.source}${image.target ? ` → ${image.target}` : ""}  not attempted: ` +
        "an image failed first (--keep-going mirrors the others)";
  }
}

function report(result: MirrorResult, json: boolean, io: CommandIo): void {
  if (json) {
    io.print(JSON.stringify(result, null, 2));
    return;
  }
  const failed = result.failed > 0
    ? `, ${result.failed} failed (${
      result.images.filter((i) => i.status === "failed").map((i) => i.source).join(", ")
    })`
    : ", 0 failed";
  const skipped = result.skipped > 0 ? `, ${result.skipped} skipped (not attempted)` : "";
  if (result.dryRun) {
    io.print(
      `Plan for ${result.target}: ${result.planned} to copy, ${result.present} already present${failed}${skipped}; ` +
        `the copy will make ${result.manifestRequests} manifest requests to the sources`,
    );
    return;
  }
  io.print(
    `Mirrored to ${result.target}: ${result.copied} copied, ${result.present} already present${failed}${skipped}; ` +
      `${formatBytes(result.bytes)} transferred, ${result.manifestRequests} manifest requests to the sources`,
  );
}

function formatSeconds(s: number): string {
  if (s >= 3600) return `${+(s / 3600).toFixed(1)} h`;
  if (s >= 60) return `${+(s / 60).toFixed(1)} min`;
  return `${+s.toFixed(1)} s`;
}
