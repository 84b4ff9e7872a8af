/**
 * The Dockerfile parser of `ferry build`: parser directives (`# escape=`), comments, line continuations,
 * flags (`--from=`, `--chown=`), JSON (exec) and shell forms, ARG before FROM, stages, and dockerma's
 * `# dockerma archs:arm,amd64,arm64:` comment. Variables are substituted later, per platform and stage
 * (see shell_words.ts). Instructions that execute code (RUN, ONBUILD) and unknown ones are refused here,
 * naming their line.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";

/** One instruction, with its continuation lines joined. */
export interface Instruction {
  /** 1-based line the instruction starts on. */
  line: number;
  /** The instruction, upper-case: `COPY`. */
  keyword: string;
  /** Leading `--name=value` flags (`--name` alone is `"true"`). */
  flags: Record<string, string>;
  /** The arguments after the flags, raw (no substitution yet). */
  args: string;
  /** The exec form, when the arguments are a JSON array of strings. */
  json?: string[];
  /** The instruction as written, on one line (for messages and history). */
  text: string;
}

/** A build stage: `FROM base [AS name]` and what follows it up to the next FROM. */
export interface Stage {
  /** Position among the stages, from 0. */
  index: number;
  /** The `AS` name, lower-case, if any. */
  name?: string;
  /** The FROM instruction; `args` is the base, still to be substituted with the global ARGs. */
  from: Instruction;
  instructions: Instruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** Where it came from, for messages (`Dockerfile`, `ctx/build.Dockerfile`). */
  name: string;
  /** The escape character. */
  escape: string;
  /** ARG instructions before the first FROM (their values are visible to FROM lines only). */
  globalArgs: Instruction[];
  stages: Stage[];
  /** Architectures from a `# dockerma archs:…:` comment, as written (`arm`, `amd64`, `arm64`). */
  archs?: string[];
}

/** Instructions ferry build performs. */
export const SUPPORTED_INSTRUCTIONS = [
  "FROM",
  "COPY",
  "ADD",
  "ENV",
  "ARG",
  "LABEL",
  "CMD",
  "ENTRYPOINT",
  "WORKDIR",
  "USER",
  "EXPOSE",
  "VOLUME",
  "STOPSIGNAL",
  "SHELL",
  "HEALTHCHECK",
  "MAINTAINER",
];

/** Instructions that run code (at build time, or in a later build for ONBUILD): always refused. */
const EXECUTING: Record<string, string> = {
  RUN: "RUN executes code at build time, which ferry build never does (no daemon, no emulation): " +
    "build the files beforehand and COPY them in",
  ONBUILD: "ONBUILD registers instructions for later builds to execute, which ferry build does not support",
};

/** Instructions whose arguments may be a JSON array. */
const JSON_FORMS = new Set(["CMD", "ENTRYPOINT", "COPY", "ADD", "VOLUME", "SHELL", "RUN", "HEALTHCHECK"]);

/**
 * The {@link UsageError} for instruction `ins` of `file`: `Cannot build Dockerfile line 7 (RUN make): …`.
 *
 * @example
 * ```ts
 * throw lineError("Dockerfile", ins, "COPY needs a source and a destination");
 * ```
 */
export function lineError(file: string, ins: Pick<Instruction, "line" | "text">, reason: string): UsageError {
  const text = ins.text.length > 60 ? `${ins.text.slice(0, 57)}...` : ins.text;
  // The message names the file and line, so no separate ref (it would repeat the file name).
  return new UsageError(`Cannot build ${file} line ${ins.line} (${text}): ${reason}`);
}

/**
 * Parses Dockerfile text into global ARGs and stages. Throws a {@link UsageError} naming the line for
 * RUN, ONBUILD, unknown instructions, anything but ARG before the first FROM, and a file without FROM.
 *
 * @example
 * ```ts
 * const df = parseDockerfile("# dockerma archs:arm,amd64:\nFROM alpine AS base\nCOPY app /app\n");
 * df.archs; // ["arm", "amd64"]
 * df.stages[0].name; // "base"
 * df.stages[0].instructions[0].args; // "app /app"
 * ```
 */
export function parseDockerfile(text: string, options: { name?: string } = {}): Dockerfile {
  const name = options.name ?? "Dockerfile";
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const df: Dockerfile = { name, escape: "\\", globalArgs: [], stages: [] };
  let i = 0;
  // Parser directives: `# key=value` lines at the very top only.
  for (; i < lines.length; i++) {
    const m = /^\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$/.exec(lines[i]);
    if (!m) break;
    if (m[1].toLowerCase() === "escape") {
      if (m[2] !== "\\" && m[2] !== "`") {
        throw lineError(name, { line: i + 1, text: lines[i].trim() }, 'the escape directive takes "\\" or "`"');
      }
      df.escape = m[2];
    }
    archsOf(df, lines[i]);
  }
  const continued = new RegExp(`${df.escape === "\\" ? "\\\\" : "`"}[ \\t]*$`);
  while (i < lines.length) {
    const start = i;
    const first = lines[i++];
    if (/^\s*#/.test(first)) {
      archsOf(df, first);
      continue;
    }
    if (first.trim() === "") continue;
    let joined = first.replace(/^\s+/, "");
    while (continued.test(joined)) {
      joined = joined.replace(continued, "");
      // Comment and empty lines inside a continuation are skipped, as BuildKit does.
      while (i < lines.length && (/^\s*#/.test(lines[i]) || lines[i].trim() === "")) i++;
      if (i >= lines.length) break;
      joined += lines[i++];
    }
    joined = joined.trimEnd();
    addInstruction(df, parseLine(name, start + 1, joined));
  }
  if (df.stages.length === 0) {
    throw new UsageError(`Cannot build ${name}: it has no FROM instruction`);
  }
  return df;
}

function archsOf(df: Dockerfile, line: string): void {
  const m = /^\s*#\s*dockerma\b.*?\barchs:([^:]*):/.exec(line);
  if (m) df.archs = m[1].split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function parseLine(file: string, line: number, text: string): Instruction {
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text)!;
  const keyword = m[1].toUpperCase();
  const ins: Instruction = { line, keyword, flags: {}, args: "", text };
  if (EXECUTING[keyword]) throw lineError(file, ins, EXECUTING[keyword]);
  if (!SUPPORTED_INSTRUCTIONS.includes(keyword)) {
    throw lineError(
      file,
      ins,
      `unknown instruction ${m[1]} (ferry build supports ${SUPPORTED_INSTRUCTIONS.join(", ")})`,
    );
  }
  let rest = (m[2] ?? "").trim();
  for (;;) {
    const f = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
    if (!f) break;
    if (f[1] in ins.flags) throw lineError(file, ins, `flag --${f[1]} given twice`);
    ins.flags[f[1]] = f[2] ?? "true";
    rest = rest.slice(f[0].length);
  }
  ins.args = rest.trim();
  if (JSON_FORMS.has(keyword) && ins.args.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(ins.args);
      if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) ins.json = parsed;
    } catch {
      // Not JSON: the shell form, as Docker treats it.
    }
  }
  return ins;
}

function addInstruction(df: Dockerfile, ins: Instruction): void {
  if (ins.keyword === "FROM") {
    const words = ins.args.split(/\s+/).filter((w) => w !== "");
    if (words.length !== 1 && !(words.length === 3 && words[1].toLowerCase() === "as")) {
      throw lineError(df.name, ins, "expected FROM [--platform=P] IMAGE [AS NAME]");
    }
    const stage: Stage = { index: df.stages.length, from: { ...ins, args: words[0] }, instructions: [] };
    if (words.length === 3) {
      const stageName = words[2].toLowerCase();
      if (!/^[a-z][a-z0-9._-]*$/.test(stageName)) throw lineError(df.name, ins, `invalid stage name "${words[2]}"`);
      if (df.stages.some((s) => s.name === stageName)) {
        throw lineError(df.name, ins, `duplicate stage name "${words[2]}"`);
      }
      stage.name = stageName;
    }
    df.stages.push(stage);
    return;
  }
  const stage = df.stages.at(-1);
  if (stage) {
    stage.instructions.push(ins);
    return;
  }
  if (ins.keyword !== "ARG") throw lineError(df.name, ins, "only ARG may come before the first FROM");
  df.globalArgs.push(ins);
}
