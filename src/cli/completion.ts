// `wsgate completion bash|zsh`: completion scripts drawn from the command table, so that they know every command,
// every flag of each, and the values of flags with a fixed set (log levels, output formats).
import { COMMANDS, parserOptions, type CommandSpec } from "./commands.js";
import { OPTIONS, type OptionSpec } from "./options.js";

function flagsOf(command: CommandSpec): string[] {
  return parserOptions(command).flatMap((name) => {
    const short = (OPTIONS[name] as OptionSpec).short;
    return short === undefined ? [`--${name}`] : [`--${name}`, `-${short}`];
  });
}

/** `--log-level|--output|-o) candidates="..."` lines: what follows a flag that takes a value. */
function valueCases(indent: string, line: (flags: string, words: string, file: boolean) => string): string {
  return Object.entries(OPTIONS)
    .filter(([, spec]) => spec.type === "string")
    .map(([name, spec]: [string, OptionSpec]) => {
      const flags = spec.short === undefined ? `--${name}` : `--${name}|-${spec.short}`;
      return `${indent}${line(flags, (spec.choices ?? []).join(" "), spec.file === true)}`;
    })
    .join("\n");
}

function bashScript(): string {
  const commands = COMMANDS.map((command) => command.name).join(" ");
  const perCommand = COMMANDS.map(
    (command) => `    ${command.name}) candidates="${[...(command.words ?? []), ...flagsOf(command)].join(" ")}" ;;`,
  ).join("\n");
  return `# bash completion for wsgate: source <(wsgate completion bash)
_wsgate() {
  local cur prev candidates
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands} --help --version" -- "$cur"))
    return
  fi
  case "$prev" in
${valueCases("    ", (flags, words, file) =>
  file
    ? `${flags}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`
    : `${flags}) COMPREPLY=($(compgen -W "${words}" -- "$cur")); return ;;`,
)}
  esac
  case "\${COMP_WORDS[1]}" in
${perCommand}
    *) candidates="" ;;
  esac
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
  if [ "\${COMP_WORDS[1]}" = validate ] && [[ "$cur" != -* ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
}
complete -o default -F _wsgate wsgate
`;
}

function zshScript(): string {
  const commands = COMMANDS.map((command) => `'${command.name}:${command.summary.replaceAll("'", "")}'`).join(" ");
  const perCommand = COMMANDS.map(
    (command) => `    ${command.name}) candidates=(${[...(command.words ?? []), ...flagsOf(command)].join(" ")}) ;;`,
  ).join("\n");
  return `#compdef wsgate
# zsh completion for wsgate: wsgate completion zsh > "\${fpath[1]}/_wsgate" (or source <(wsgate completion zsh))
_wsgate() {
  local -a commands candidates
  commands=(${commands})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "\${words[CURRENT-1]}" in
${valueCases("    ", (flags, choices, file) =>
  file
    ? `${flags}) _files; return ;;`
    : choices === ""
      ? `${flags}) _message 'value'; return ;;`
      : `${flags}) compadd ${choices}; return ;;`,
)}
  esac
  case "\${words[2]}" in
${perCommand}
    *) candidates=() ;;
  esac
  compadd -a candidates
  [[ "\${words[2]}" == validate ]] && _files
}
# Autoloaded from fpath, this file is the function's body: complete now; sourced, register the function.
if [[ "\${funcstack[1]}" == _wsgate ]]; then _wsgate "$@"; else compdef _wsgate wsgate; fi
`;
}

export function completionScript(shell: "bash" | "zsh"): string {
  return shell === "bash" ? bashScript() : zshScript();
}
