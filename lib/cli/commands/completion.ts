/**
 * `ferry completion bash|zsh|fish`: a completion script from the command table (commands, aliases, each command's
 * flags, the values of --progress and --format), to source or install.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import type { Command, FlagSpec } from "../command.ts";
import { PROGRESS_MODES } from "../output.ts";

/** Values completed after a flag. */
const FLAG_VALUES: Record<string, string[]> = {
  progress: [...PROGRESS_MODES],
  format: ["docker", "oci", "oci-archive"],
  type: ["oci", "docker"],
};

/** The shells there is a script for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** `ferry completion` (its table is passed in: main.ts owns the command list). */
export function completionCommand(
  table: () => { commands: Command[]; globalFlags: Record<string, FlagSpec> },
): Command {
  return {
    name: "completion",
    usage: "ferry completion bash|zsh|fish",
    summary: "Print a shell completion script (bash, zsh or fish)",
    examples: [
      "source <(ferry completion bash)",
      'ferry completion zsh > "${fpath[1]}/_ferry"',
      "ferry completion fish > ~/.config/fish/completions/ferry.fish",
    ],
    flags: {},
    run(args, io) {
      const shell = args.positionals[0];
      if (args.positionals.length !== 1 || !(SHELLS as readonly string[]).includes(shell)) {
        throw new UsageError(
          `Cannot print a completion script: expected one of ${SHELLS.join(", ")}\nusage: ${this.usage}`,
        );
      }
      const { commands, globalFlags } = table();
      io.print(completionScript(shell as (typeof SHELLS)[number], commands, globalFlags));
      return Promise.resolve();
    },
  };
}

function flagWords(command: Command, globalFlags: Record<string, FlagSpec>): string[] {
  return Object.entries({ ...command.flags, ...globalFlags }).flatMap(([name, f]) => [
    `--${name}`,
    ...(f.short ? [`-${f.short}`] : []),
  ]);
}

/** The completion script for `shell`. */
export function completionScript(
  shell: (typeof SHELLS)[number],
  commands: Command[],
  globalFlags: Record<string, FlagSpec>,
): string {
  const names = commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  if (shell === "bash") {
    const cases = commands.map((c) =>
      `    ${[c.name, ...(c.aliases ?? [])].join("|")}) opts="${flagWords(c, globalFlags).join(" ")}" ;;`
    );
    const values = Object.entries(FLAG_VALUES).map(([flag, v]) =>
      `    --${flag}) COMPREPLY=($(compgen -W "${v.join(" ")}" -- "$cur")); return ;;`
    );
    return `# bash completion for ferry: source <(ferry completion bash)
_ferry() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=\${COMP_WORDS[1]} opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names.join(" ")} help --help --version" -- "$cur"))
    return
  fi
  case "$prev" in
${values.join("\n")}
  esac
  case "$cmd" in
${cases.join("\n")}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o default -F _ferry ferry
`;
  }
  const quote = (s: string) => s.replace(/'/g, "'\\''");
  if (shell === "zsh") {
    const described = commands.map((c) => `    '${c.name}:${quote(c.summary).replace(/:/g, "\\:")}'`);
    const cases = commands.map((c) => {
      const specs = Object.entries({ ...c.flags, ...globalFlags }).map(([name, f]) => {
        const desc = quote(f.description).replace(/[[\]:]/g, "\\$&");
        const values = FLAG_VALUES[name]
          ? `:${name}:(${FLAG_VALUES[name].join(" ")})`
          : f.type === "string"
          ? `:${f.value ?? "value"}:`
          : "";
        const repeat = f.multiple ? "*" : "";
        return f.short
          ? `        '${repeat}(-${f.short} --${name})'{-${f.short},--${name}}'[${desc}]${values}'`
          : `        '${repeat}--${name}[${desc}]${values}'`;
      });
      return `    ${[c.name, ...(c.aliases ?? [])].join("|")})\n      _arguments -s \\\n${
        specs.join(" \\\n")
      } \\\n        '*:file:_files' ;;`;
    });
    return `#compdef ferry
# zsh completion for ferry: ferry completion zsh > "\${fpath[1]}/_ferry"
_ferry() {
  local -a commands
  commands=(
${described.join("\n")}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'ferry command' commands
    return
  fi
  local cmd=\${words[2]}
  shift words
  (( CURRENT-- ))
  case $cmd in
${cases.join("\n")}
  esac
}
compdef _ferry ferry
`;
  }
  const fish = (s: string) => s.replace(/\\/g, "\\\\").replace(/'/g, "\\'");
  const lines = [
    "# fish completion for ferry: ferry completion fish > ~/.config/fish/completions/ferry.fish",
    "complete -c ferry -f",
    ...commands.map((c) => `complete -c ferry -n '__fish_use_subcommand' -a '${c.name}' -d '${fish(c.summary)}'`),
  ];
  for (const c of commands) {
    const all = [c.name, ...(c.aliases ?? [])].join(" ");
    for (const [name, f] of Object.entries({ ...c.flags, ...globalFlags })) {
      const values = FLAG_VALUES[name]
        ? ` -r -a '${FLAG_VALUES[name].join(" ")}'`
        : f.type === "string"
        ? " -r -F"
        : "";
      lines.push(
        `complete -c ferry -n '__fish_seen_subcommand_from ${all}' -l ${name}${
          f.short ? ` -s ${f.short}` : ""
        }${values} -d '${fish(f.description)}'`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
