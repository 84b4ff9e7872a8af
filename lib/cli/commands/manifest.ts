/**
 * `ferry manifest create|annotate|inspect|push|rm` (docker's verbs and flags, no experimental switch) and
 * `ferry manifest push from-spec FILE | from-args …` (manifest-tool's). Argument handling only; the work is in
 * lib/verbs/manifest/list.ts.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { FileError, FormatError, UsageError } from "../../errors.ts";
import { inspectManifestList } from "../../verbs/manifest/inspect.ts";
import {
  annotateManifestList,
  createManifestList,
  type ManifestListEntry,
  pushManifestList,
  type PushManifestListResult,
  pushManifestSpec,
  removeManifestList,
} from "../../verbs/manifest/list.ts";
import { type ManifestSpec, manifestSpecFromArgs, parseManifestSpec } from "../../verbs/manifest/spec.ts";
import type { Command, CommandIo, ParsedArgs } from "../command.ts";
import { intFlag, listFlag, readFlags, registryOptionsOf } from "../flags.ts";
import { formatBytes } from "../output.ts";

const USAGE = [
  "ferry manifest create LIST IMAGE... [--amend] [--type oci|docker]",
  "       ferry manifest annotate LIST IMAGE [--os OS] [--arch ARCH] [--variant V] [--os-version V] [--os-features F]",
  "       ferry manifest inspect [-v] [--check] REF",
  "       ferry manifest push [--purge] LIST",
  "       ferry manifest push from-spec [--ignore-missing] [--type oci|docker] FILE.yaml",
  "       ferry manifest push from-args --platforms P,P --template REPO:TAG-ARCHVARIANT --target REPO:TAG [--tags a,b]",
  "       ferry manifest rm LIST...",
].join("\n");

// Which flags each subcommand accepts (the registry flags and --json go with all of them).
const COMMON = ["json", "creds", "plain-http", "insecure", "authfile", "retries", "help", "quiet", "debug"];
COMMON.push(...Object.keys(readFlags).filter((f) => !COMMON.includes(f))); // TLS and timeout flags
const ALLOWED: Record<string, string[]> = {
  create: ["amend", "type"],
  annotate: ["os", "arch", "variant", "os-version", "os-features", "annotation"],
  inspect: ["verbose", "check"],
  push: ["purge", "jobs"],
  "from-spec": ["ignore-missing", "type", "jobs"],
  "from-args": ["platforms", "template", "target", "tags", "ignore-missing", "type", "jobs"],
  rm: [],
};

/** `ferry manifest`. */
export const manifestCommand: Command = {
  name: "manifest",
  usage: USAGE,
  summary: "Create, annotate, inspect and push manifest lists (docker manifest / manifest-tool, daemonless)",
  examples: [
    "ferry manifest create 127.0.0.1:5000/app:1.0 127.0.0.1:5000/app:1.0-amd64 127.0.0.1:5000/app:1.0-arm64",
    "ferry manifest push 127.0.0.1:5000/app:1.0",
    "ferry manifest inspect alpine:3",
  ],
  flags: {
    amend: {
      type: "boolean",
      short: "a",
      description: "create: add to the list's draft (without one, to the list the registry holds now)",
    },
    type: {
      type: "string",
      value: "oci|docker",
      description: "create, from-spec, from-args: index media type (default: docker if all images are)",
    },
    os: { type: "string", value: "OS", description: "annotate: operating system" },
    arch: { type: "string", value: "ARCH", description: "annotate: architecture" },
    variant: { type: "string", value: "VARIANT", description: "annotate: architecture variant (v7, v8 …)" },
    "os-version": { type: "string", value: "VERSION", description: "annotate: os.version (Windows)" },
    "os-features": { type: "string", value: "F,F", description: "annotate: os.features" },
    annotation: { type: "string", multiple: true, value: "KEY=VALUE", description: "annotate: entry annotation" },
    verbose: { type: "boolean", short: "v", description: "inspect: include every image's manifest" },
    check: { type: "boolean", description: "inspect: check platforms against the image configs (exit 8 on problems)" },
    purge: {
      type: "boolean",
      short: "p",
      description: "push: accepted for docker compatibility (drafts are always removed); stdout is the digest",
    },
    "ignore-missing": {
      type: "boolean",
      description: "from-spec, from-args: warn about missing images instead of failing",
    },
    platforms: { type: "string", multiple: true, value: "OS/ARCH[/V],…", description: "from-args: platforms" },
    template: {
      type: "string",
      value: "REF",
      description:
        "from-args: image per platform: manifest-tool's OS, ARCH, VARIANT or {repo} {tag} {arch} {variant} {label} …",
    },
    target: { type: "string", value: "REF", description: "from-args: the list to push" },
    tags: { type: "string", multiple: true, value: "T,T", description: "from-args: more tags for the list" },
    jobs: { type: "string", short: "j", value: "N", description: "push: blobs copied at once (default 6)" },
    ...readFlags,
    json: { type: "boolean", description: "Print the result as one JSON document on stdout" },
  },
  async run(args, io) {
    const [sub, ...rest] = args.positionals;
    if (sub === undefined) throw new UsageError(`Cannot run manifest: expected a subcommand\nusage: ${USAGE}`);
    let verb = sub;
    if (sub === "push" && (rest[0] === "from-spec" || rest[0] === "from-args")) verb = rest.shift()!;
    if (!(verb in ALLOWED)) {
      throw new UsageError(`Cannot run "manifest ${sub}": unknown subcommand (create, annotate, inspect, push, rm)`);
    }
    for (const [flag, value] of Object.entries(args.values)) {
      if (value !== undefined && !COMMON.includes(flag) && !ALLOWED[verb].includes(flag)) {
        throw new UsageError(`Cannot use --${flag} with 'ferry manifest ${sub === verb ? sub : `push ${verb}`}'`);
      }
    }
    const options = { registry: registryOptionsOf(args), signal: io.signal };
    const type = typeOf(args);
    // from-spec and from-args differ only in where the spec comes from.
    const pushSpec = async (spec: ManifestSpec) =>
      printPush(
        await pushManifestSpec(spec, {
          ...options,
          ...transfer(args, io),
          type,
          ignoreMissing: args.values["ignore-missing"] === true,
        }),
        args,
        io,
      );
    switch (verb) {
      case "create": {
        if (rest.length < 1) throw new UsageError(`Cannot create: expected LIST and IMAGE...\nusage: ${USAGE}`);
        const result = await createManifestList(rest[0], rest.slice(1), {
          ...options,
          amend: args.values.amend === true,
          type,
        });
        for (const w of result.warnings) io.warn(`ferry: warning: ${w}`);
        if (args.values.json) return io.print(JSON.stringify(result, null, 2));
        io.print(`Created manifest list ${result.list}`);
        for (const e of result.entries) io.print(`  ${platformText(e).padEnd(22)} ${e.digest}  ${e.image}`);
        return;
      }
      case "annotate": {
        if (rest.length !== 2) throw new UsageError(`Cannot annotate: expected LIST and IMAGE\nusage: ${USAGE}`);
        const features = args.values["os-features"];
        const result = await annotateManifestList(rest[0], rest[1], {
          ...options,
          os: str(args.values.os),
          arch: str(args.values.arch),
          variant: str(args.values.variant),
          osVersion: str(args.values["os-version"]),
          osFeatures: typeof features === "string" ? features.split(",").filter((f) => f !== "") : undefined,
          annotations: annotationsOf(args),
        });
        for (const w of result.warnings) io.warn(`ferry: warning: ${w}`);
        if (args.values.json) io.print(JSON.stringify(result, null, 2));
        return;
      }
      case "inspect":
        return await inspect(rest, args, io, options);
      case "push": {
        if (rest.length !== 1) {
          throw new UsageError(`Cannot push: expected LIST (or from-spec FILE, from-args …)\nusage: ${USAGE}`);
        }
        const result = await pushManifestList(rest[0], {
          ...options,
          purge: args.values.purge === true,
          ...transfer(args, io),
        });
        return printPush(result, args, io);
      }
      case "from-spec": {
        if (rest.length !== 1) throw new UsageError(`Cannot push from-spec: expected one FILE.yaml\nusage: ${USAGE}`);
        let text: string;
        try {
          text = await readFile(rest[0], "utf8");
        } catch (err) {
          throw new FileError(`Cannot read ${rest[0]}: ${(err as Error).message}`, { cause: err });
        }
        const spec = parseManifestSpec(text, { file: rest[0] });
        return pushSpec(spec);
      }
      case "from-args": {
        if (rest.length !== 0) {
          throw new UsageError(`Cannot push from-args: unexpected argument "${rest[0]}"\nusage: ${USAGE}`);
        }
        const platforms = listFlag(args, "platforms");
        if (!platforms || !args.values.template || !args.values.target) {
          throw new UsageError(
            `Cannot push from-args: --platforms, --template and --target are required\nusage: ${USAGE}`,
          );
        }
        const spec = manifestSpecFromArgs({
          platforms,
          template: String(args.values.template),
          target: String(args.values.target),
          tags: listFlag(args, "tags"),
        });
        return pushSpec(spec);
      }
      case "rm": {
        if (rest.length === 0) throw new UsageError(`Cannot remove: expected LIST...\nusage: ${USAGE}`);
        for (const list of rest) await removeManifestList(list);
        return;
      }
    }
  },
};

async function inspect(
  rest: string[],
  args: ParsedArgs,
  io: CommandIo,
  options: { registry: ReturnType<typeof registryOptionsOf>; signal: AbortSignal },
) {
  if (rest.length !== 1) throw new UsageError(`Cannot inspect: expected one REF\nusage: ${USAGE}`);
  const check = args.values.check === true;
  const result = await inspectManifestList(rest[0], { ...options, verbose: args.values.verbose === true, check });
  if (args.values.json) io.print(JSON.stringify(result, null, 2));
  else if (check) {
    io.print(`${result.reference} (${result.source}) ${result.digest}`);
    for (const issue of result.issues ?? []) {
      io.print(`  ${issue.kind.padEnd(12)} ${issue.image ?? issue.digest}: ${issue.message}`);
    }
    if ((result.issues ?? []).length === 0) io.print("  no platform problems");
  } else if (result.images) {
    const docs = result.images.map((i) => ({ Ref: i.ref, Descriptor: i.descriptor, Manifest: i.manifest }));
    const isList = Array.isArray((result.document as { manifests?: unknown }).manifests);
    io.print(JSON.stringify(isList ? docs : docs[0], null, 3));
  } else io.print(JSON.stringify(result.document, null, 3));
  const n = result.issues?.length ?? 0;
  if (n > 0) {
    throw new FormatError(`Cannot pass the platform check: ${n} problem${n > 1 ? "s" : ""}`, { ref: result.reference });
  }
}

/**
 * stdout is the digest alone, as `docker manifest push` prints it (`DIGEST=$(ferry manifest push …)`), or the
 * `--json` document; the human summary goes to stderr (not with --quiet). manifest-tool prints `Digest: D SIZE`
 * on stdout instead: that line is in the stderr summary.
 */
function printPush(result: PushManifestListResult, args: ParsedArgs, io: CommandIo) {
  for (const w of result.warnings) io.warn(`ferry: warning: ${w}`);
  if (args.values.json) return io.print(JSON.stringify(result, null, 2));
  if (args.values.quiet !== true) {
    io.warn(`Pushed ${result.list}`);
    io.warn(`Digest: ${result.digest} ${result.size}`);
    for (const m of result.manifests) io.warn(`  ${platformText(m).padEnd(22)} ${m.digest}  ${m.image}`);
    if (result.tags.length > 1) io.warn(`  tags: ${result.tags.join(", ")}`);
    if (result.copied + result.mounted > 0) {
      io.warn(
        `  components: ${result.copied} copied, ${result.mounted} mounted, ${formatBytes(result.bytes)} transferred`,
      );
    }
  }
  io.print(result.digest);
}

/** `linux/arm/v7`, or `windows(10.0.17763.1)/amd64` (containerd's FormatAll) when the entry has an os.version. */
function platformText(e: ManifestListEntry): string {
  if (!e.platform) return "-";
  if (!e.osVersion) return e.platform;
  const slash = e.platform.indexOf("/");
  return `${e.platform.slice(0, slash)}(${e.osVersion})${e.platform.slice(slash)}`;
}

function transfer(args: ParsedArgs, io: CommandIo) {
  return { concurrency: intFlag(args, "jobs", 1, 64), onEvent: io.progress("push") };
}

function typeOf(args: ParsedArgs): "oci" | "docker" | undefined {
  const t = args.values.type;
  if (t === undefined) return undefined;
  if (t !== "oci" && t !== "docker") throw new UsageError(`Cannot parse --type "${t}": expected oci or docker`);
  return t;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function annotationsOf(args: ParsedArgs): Record<string, string> | undefined {
  const values = listFlag(args, "annotation");
  if (!values) return undefined;
  return Object.fromEntries(values.map((kv) => {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`Cannot parse --annotation "${kv}": expected KEY=VALUE`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }));
}
