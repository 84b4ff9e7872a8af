/**
 * `ferry mirror -d PREFIX IMAGE...` / `ferry mirror -c mirror.yaml`: argument handling and the report;
 * the work is `mirror()` in lib/verbs/mirror/mirror.ts.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { FileError, PartialError, UsageError } from "../../errors.ts";
import { env } from "../../runtime.ts";
import { formatBudget } from "../../verbs/mirror/budget.ts";
import {
  mergeMirrorResults,
  type MirrorShard,
  parseMirrorPlan,
  parseMirrorShardResult,
  parseShard,
  planMirror,
  readDocument,
  runMirrorPlan,
  writeDocument,
} from "../../verbs/mirror/plan.ts";
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

const USAGE = [
  "ferry mirror -d PREFIX [--all-tags] [--platform P]... [--os OS] IMAGE...  |  ferry mirror -c mirror.yaml",
  "       ferry mirror plan (-c mirror.yaml | -d PREFIX IMAGE...) [--shard K/N] [--json] [-o plan.json]",
  "       ferry mirror run --plan plan.json (--shard K/N | --shard-from-env --shards N) [--keep-going] [-o result.json]",
  "       ferry mirror merge RESULT.json... [--plan plan.json] [--retry retry.json] [--json]",
].join("\n");

const SUBCOMMANDS = ["plan", "run", "merge"] as const;
type Subcommand = typeof SUBCOMMANDS[number];
// Which flags each subcommand takes (help, quiet and debug go with all).
const GLOBAL = ["help", "quiet", "debug", "json"];
const SPEC_FLAGS = ["dest", "config", "all-tags", "allow", "deny", "platform", "os", "parallel"];
const REGISTRY_FLAGS = ["src-creds", "dest-creds", "plain-http", "insecure", "authfile", "retries"];
const SHARD_FLAGS = ["shard", "shard-from-env", "shards", "output"];
const ALLOWED: Record<Subcommand, string[]> = {
  plan: [...GLOBAL, ...SPEC_FLAGS, ...REGISTRY_FLAGS, ...SHARD_FLAGS],
  run: [
    ...GLOBAL,
    ...REGISTRY_FLAGS,
    ...SHARD_FLAGS,
    "plan",
    "budget-shares",
    "keep-going",
    "parallel",
    "jobs",
    "allow-nondistributable-artifacts",
  ],
  merge: [...GLOBAL, "plan", "retry"],
};
/** Flags of the subcommands only, refused by a bare `ferry mirror`. */
const ONLY_SUBCOMMANDS = ["plan", "shard", "shard-from-env", "shards", "budget-shares", "output", "retry"];

/** `ferry mirror`. */
export const mirrorCommand: Command = {
  name: "mirror",
  usage: USAGE,
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
    plan: {
      type: "string",
      value: "FILE",
      description: "run: the plan to run (from 'mirror plan --json'); merge: the plan, to retry missing shards too",
    },
    shard: {
      type: "string",
      value: "K/N",
      description: "plan, run: only the images whose target repository hashes to shard K of N (0 ≤ K < N)",
    },
    "shard-from-env": {
      type: "boolean",
      description: "plan, run: K from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), N from --shards",
    },
    shards: { type: "string", value: "N", description: "With --shard-from-env: the number of shards" },
    "budget-shares": {
      type: "string",
      value: "N",
      description: "run: shards running at once on one rate-limit budget; each paces itself on 1/N (default N)",
    },
    output: {
      type: "string",
      short: "o",
      value: "FILE",
      description: "plan, run: also write the JSON document (plan or shard result) to FILE",
    },
    retry: { type: "string", value: "FILE", description: "merge: write a plan of the images not done to FILE" },
    "keep-going": { type: "boolean", description: "Finish the other images when one fails (exit 9 if any did)" },
    parallel: { type: "string", value: "N", description: "Images mirrored at once (default 3)" },
    ...referrerFlags,
    ...nondistributableFlags,
    ...transferFlags,
    json: { type: "boolean", description: "Print the summary as one JSON document on stdout" },
  },
  async run(args, io) {
    const verb = SUBCOMMANDS.find((v) => v === args.positionals[0]);
    for (const [flag, value] of Object.entries(args.values)) {
      if (value === undefined) continue;
      if (verb === undefined ? ONLY_SUBCOMMANDS.includes(flag) : !ALLOWED[verb].includes(flag)) {
        throw new UsageError(`Cannot use --${flag} with 'ferry mirror${verb ? ` ${verb}` : ""}'`);
      }
    }
    if (verb !== undefined) {
      const rest = { ...args, positionals: args.positionals.slice(1) };
      if (verb === "plan") return await planVerb(rest, io);
      if (verb === "run") return await runVerb(rest, io);
      return await mergeVerb(rest, io);
    }
    const spec = await specOf(args);
    const json = args.values.json === true;
    const quiet = args.values.quiet === true;
    const dryRun = args.values["dry-run"] === true;
    const images: MirrorImageResult[] = [];
    const onEvent = eventPrinter(io, { json, quiet, reserve: spec.rateLimit?.reserve ?? 10, images });
    let result: MirrorResult;
    try {
      result = await mirror(spec, {
        source: registryOptionsOf(args, "src"),
        destination: registryOptionsOf(args, "dest"),
        images: intFlag(args, "parallel", 1, 64),
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

/** Prints each image's line (unless --json), its progress, rate limits and retries; collects the image results. */
function eventPrinter(
  io: CommandIo,
  { json, quiet, reserve, images }: { json: boolean; quiet: boolean; reserve: number; images: MirrorImageResult[] },
): (event: MirrorEvent) => void {
  const feeds = new Map<string, ReturnType<CommandIo["progress"]>>();
  const status = {
    copied: "done",
    present: "present",
    planned: "done",
    failed: "failed",
    skipped: "skipped",
  } as const;
  const seen = new Map<string, number>();
  return (event: MirrorEvent) => {
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
}

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

function report(result: MirrorResult, json: boolean, io: CommandIo, shard?: MirrorShard, text?: string): void {
  if (json) {
    io.print(text ?? JSON.stringify(result, null, 2));
    return;
  }
  const of = shard ? ` (shard ${shard.index}/${shard.count})` : "";
  const failed = result.failed > 0
    ? `, ${result.failed} failed (${
      result.images.filter((i) => i.status === "failed").map((i) => i.source).join(", ")
    })`
    : ", 0 failed";
  const skipped = result.skipped > 0 ? `, ${result.skipped} skipped (not attempted)` : "";
  if (result.dryRun) {
    io.print(
      `Plan for ${result.target}${of}: ${result.planned} to copy, ${result.present} already present${failed}${skipped}; ` +
        `the copy will make ${result.manifestRequests} manifest requests to the sources`,
    );
    return;
  }
  io.print(
    `Mirrored to ${result.target}${of}: ${result.copied} copied, ${result.present} already present${failed}${skipped}; ` +
      `${formatBytes(result.bytes)} transferred, ${result.manifestRequests} manifest requests to the sources`,
  );
}

function formatSeconds(s: number): string {
  if (s >= 3600) return `${+(s / 3600).toFixed(1)} h`;
  if (s >= 60) return `${+(s / 60).toFixed(1)} min`;
  return `${+s.toFixed(1)} s`;
}

/** `ferry mirror plan`: the spec resolved into a plan (stdout with --json, a file with -o), writing nothing. */
async function planVerb(args: ParsedArgs, io: CommandIo): Promise<void> {
  const spec = await specOf(args);
  const json = args.values.json === true;
  const images: MirrorImageResult[] = [];
  const shard = shardOfArgs(args);
  const onEvent = eventPrinter(io, {
    json,
    quiet: args.values.quiet === true,
    reserve: spec.rateLimit?.reserve ?? 10,
    images,
  });
  const plan = await planMirror(spec, {
    source: registryOptionsOf(args, "src"),
    destination: registryOptionsOf(args, "dest"),
    images: intFlag(args, "parallel", 1, 64),
    signal: io.signal,
    onEvent,
    shard,
  });
  const text = JSON.stringify(plan, null, 2);
  if (typeof args.values.output === "string") await writeDocument(args.values.output, text);
  if (json) io.print(text);
  else {
    for (const budget of plan.budgets) io.print(formatBudget(budget));
    report(summarizeMirror(spec.target, images, true), false, io, shard);
  }
  if (plan.failures.length > 0) {
    throw new PartialError(
      `Cannot plan ${plan.failures.length} of ${plan.failures.length + plan.items.length} images: ${
        plan.failures.map((f) => f.source).join(", ")
      }`,
      plan.failures.map((f) => ({ ref: f.source, error: f.error })),
    );
  }
}

/** `ferry mirror run --plan FILE --shard K/N`: one shard of a plan, its result as JSON; exit 9 if an image failed. */
async function runVerb(args: ParsedArgs, io: CommandIo): Promise<void> {
  const planFile = typeof args.values.plan === "string" ? args.values.plan : undefined;
  if (!planFile) {
    throw new UsageError(
      `Cannot run a mirror plan: give --plan FILE (from 'ferry mirror plan --json')\nusage: ${USAGE}`,
    );
  }
  if (args.positionals.length > 0) {
    throw new UsageError(`Cannot run a mirror plan: unexpected "${args.positionals[0]}" (the plan lists the images)`);
  }
  const shard = shardOfArgs(args) ?? { index: 0, count: 1 };
  const plan = parseMirrorPlan(await readDocument(planFile), planFile);
  const json = args.values.json === true;
  const onEvent = eventPrinter(io, {
    json,
    quiet: args.values.quiet === true,
    reserve: plan.settings.rateLimit?.reserve ?? 10,
    images: [],
  });
  const result = await runMirrorPlan(plan, {
    source: registryOptionsOf(args, "src"),
    destination: registryOptionsOf(args, "dest"),
    images: intFlag(args, "parallel", 1, 64),
    jobs: intFlag(args, "jobs", 1, 64),
    keepGoing: args.values["keep-going"] === true,
    budgetShares: intFlag(args, "budget-shares", 1, 10_000) ?? shard.count,
    signal: io.signal,
    onEvent,
    allowNondistributable: args.values["allow-nondistributable-artifacts"] === true,
    shard,
  });
  const text = JSON.stringify(result, null, 2);
  if (typeof args.values.output === "string") await writeDocument(args.values.output, text);
  report(result, json, io, shard, text);
  if (result.failed > 0 || result.skipped > 0) throw notDone(result, `shard ${shard.index}/${shard.count}`);
}

/** `ferry mirror merge RESULT...`: one summary of the shards, the retry plan; exit 9 unless everything is done. */
async function mergeVerb(args: ParsedArgs, io: CommandIo): Promise<void> {
  if (args.positionals.length === 0) {
    throw new UsageError(`Cannot merge: give the shards' result files\nusage: ${USAGE}`);
  }
  const results = [];
  for (const file of args.positionals) results.push(parseMirrorShardResult(await readDocument(file), file));
  const planFile = typeof args.values.plan === "string" ? args.values.plan : undefined;
  const plan = planFile ? parseMirrorPlan(await readDocument(planFile), planFile) : undefined;
  const merged = mergeMirrorResults(results, plan);
  const retryFile = typeof args.values.retry === "string" ? args.values.retry : undefined;
  if (retryFile) await writeDocument(retryFile, JSON.stringify(merged.retryPlan, null, 2));
  if (args.values.json === true) io.print(JSON.stringify(merged, null, 2));
  else {
    for (const image of merged.images) if (image.status === "failed") io.print(imageLine(image));
    report(merged, false, io);
    io.print(
      `Merged ${merged.merged.length} of ${merged.shards} shards` +
        (merged.missing.length > 0 ? `; missing the results of shards ${merged.missing.join(", ")}` : "") +
        (retryFile ? `; ${merged.retryPlan.items.length} images to retry in ${retryFile}` : ""),
    );
  }
  if (merged.missing.length > 0) {
    const err = notDone(merged, "the merged shards");
    throw new PartialError(
      `Cannot merge: missing the results of shards ${merged.missing.join(", ")} of ${merged.shards}${
        merged.failed > 0 ? `; ${err.message.replace(/^Cannot /, "")}` : ""
      }`,
      err.failures,
    );
  }
  if (merged.failed > 0 || merged.skipped > 0) throw notDone(merged, `${merged.shards} shards`);
}

/** The PartialError of a run or merge with failed or not attempted images. */
function notDone(result: MirrorResult, what: string): PartialError {
  const failures = result.images.filter((i) => i.status === "failed" || i.status === "skipped").map((i) => ({
    ref: i.source,
    error: i.error ?? "not attempted",
  }));
  return new PartialError(
    `Cannot mirror ${failures.length} of ${result.images.length} images of ${what}: ${
      failures.map((f) => f.ref).join(", ")
    }`,
    failures,
  );
}

/** `--shard K/N`, or `--shard-from-env` (K from $JOB_COMPLETION_INDEX) with `--shards N`; undefined for neither. */
function shardOfArgs(args: ParsedArgs): MirrorShard | undefined {
  const text = typeof args.values.shard === "string" ? args.values.shard : undefined;
  const fromEnv = args.values["shard-from-env"] === true;
  if (text !== undefined && fromEnv) {
    throw new UsageError("Cannot shard: give --shard K/N or --shard-from-env, not both");
  }
  if (!fromEnv) {
    if (args.values.shards !== undefined) {
      throw new UsageError("Cannot shard: --shards N goes with --shard-from-env (--shard takes K/N)");
    }
    return text === undefined ? undefined : parseShard(text);
  }
  const count = intFlag(args, "shards", 1, 10_000);
  if (count === undefined) {
    throw new UsageError("Cannot use --shard-from-env: give the number of shards with --shards N");
  }
  const index = env("JOB_COMPLETION_INDEX");
  if (index === undefined || index === "") {
    throw new UsageError(
      "Cannot use --shard-from-env: JOB_COMPLETION_INDEX is not set (Kubernetes sets it in an Indexed Job's pods)",
    );
  }
  return parseShard(`${index}/${count}`, "JOB_COMPLETION_INDEX with --shards");
}
