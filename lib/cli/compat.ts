/**
 * The flags users of skopeo, crane and docker type first: understood where ferry does the same (`--all`,
 * `--preserve-digests`, `--retry-times`), answered with a hint where it does not, and "did you mean" for the rest.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Command, FlagSpec } from "./command.ts";

/** Flags accepted for the tools' sake, as `--name` → what ferry does (shown in each command's help). */
export const understoodFlags: Record<string, { commands: string[]; note: string }> = {
  all: { commands: ["copy", "mirror"], note: "skopeo's --all: every platform is copied unless --platform picks some" },
  "preserve-digests": { commands: ["copy", "mirror"], note: "skopeo's --preserve-digests: digests are always kept" },
  "retry-times": { commands: [], note: "skopeo's name for --retries N" },
};

/** The commands `name` (an entry of {@link understoodFlags}) applies to. */
function understands(command: Command, name: string): boolean {
  if (name === "retry-times") return "retries" in command.flags;
  return understoodFlags[name]?.commands.includes(command.name) ?? false;
}

/** The understood flags of `command`, for its help. */
export function understoodBy(command: Command): [string, string][] {
  return Object.entries(understoodFlags).filter(([name]) => understands(command, name)).map((
    [name, f],
  ) => [`--${name}${name === "retry-times" ? " N" : ""}`, f.note]);
}

/**
 * `argv` with the understood flags translated (`--retry-times N` → `--retries N`) or dropped (`--all`,
 * `--preserve-digests`); everything after `--` is left alone.
 */
export function translateArgs(command: Command, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const [name, value] = arg.startsWith("--") ? splitFlag(arg.slice(2)) : [undefined, undefined];
    if (name === "all" && understands(command, "all") && value === undefined) continue;
    if (name === "preserve-digests" && understands(command, "preserve-digests")) {
      if (value === "false") {
        throw new UsageError(
          "Cannot copy with --preserve-digests=false: ferry always preserves digests (it never rewrites manifests)",
        );
      }
      if (value === undefined || value === "true") continue;
    }
    if (name === "retry-times" && understands(command, "retry-times")) {
      out.push(value === undefined ? "--retries" : `--retries=${value}`);
      continue;
    }
    out.push(arg);
  }
  return out;
}

function splitFlag(text: string): [string, string | undefined] {
  const eq = text.indexOf("=");
  return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
}

/** What other tools' flags mean here, for a flag `command` does not know. */
function hintFor(command: Command, flag: string): string | undefined {
  const name = flag.replace(/^-+/, "").replace(/=.*$/, "");
  if (command.name === "copy" && flag === "-a") {
    return "skopeo's -a (--all) is the default here: every platform is copied; for crane's -a (--all-tags): " +
      "ferry mirror --all-tags -d DST-PREFIX REPO";
  }
  if (command.name === "copy" && name === "all-tags") {
    return "ferry copy copies one image (all its platforms); for every tag of a repository: " +
      "ferry mirror --all-tags -d DST-PREFIX REPO";
  }
  if (/^override-(os|arch|variant)$/.test(name)) return "choose platforms with --platform OS/ARCH[/VARIANT]";
  if (name === "multi-arch") return "every platform is copied by default; --platform picks some";
  if (name === "no-progress" || name === "progress-bar") return "use --progress none (or -q)";
  if (name === "verbose" || flag === "-v") return "--progress plain prints a line per blob; --debug the error chain";
  if (name === "format" && command.name === "copy") return "ferry keeps manifests as they are; digests are preserved";
  return undefined;
}

/** Levenshtein distance. */
export function distance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length][b.length];
}

/** The closest of `names` to `name` (at most 2 edits, or a prefix), if any. */
export function closestName(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = 3;
  for (const n of names) {
    const d = distance(name, n);
    if (d < bestScore) [best, bestScore] = [n, d];
  }
  return best ?? (name.length >= 3 ? names.find((n) => n.startsWith(name)) : undefined);
}

/**
 * The sentence after "Unknown option '--x'": a hint for another tool's flag, or "did you mean" the closest of
 * `flags` (the command's and the global ones).
 */
export function unknownFlagHint(command: Command, flag: string, flags: Record<string, FlagSpec>): string | undefined {
  const hint = hintFor(command, flag);
  if (hint) return hint;
  const name = flag.replace(/^-+/, "").replace(/=.*$/, "");
  if (!flag.startsWith("--")) return undefined;
  const names = [...Object.keys(flags), ...Object.keys(understoodFlags).filter((n) => understands(command, n))];
  const near = closestName(name, names);
  return near ? `did you mean --${near}?` : undefined;
}
