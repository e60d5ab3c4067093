// The commands that only print: help, the command list, shell completion; and finding a command by its name.
import { commandHelp, COMMANDS, findCommand, overviewHelp, type CommandSpec } from "./commands.js";
import { completionScript } from "./completion.js";
import { closestWord } from "./did-you-mean.js";
import { UsageError, type ParsedArgs } from "./parse.js";

export function completion(args: ParsedArgs): void {
  const [shell] = args.positionals;
  if (shell !== "bash" && shell !== "zsh") {
    throw new UsageError(`completion needs a shell: bash or zsh (e.g. source <(wsgate completion bash))`);
  }
  process.stdout.write(completionScript(shell));
}

export function helpOf(args: ParsedArgs): void {
  const [name] = args.positionals;
  if (name === undefined) return void process.stdout.write(overviewHelp());
  process.stdout.write(commandHelp(commandNamed(name)));
}

/** The command named `name`, or a one-line UsageError with the closest command. */
export function commandNamed(name: string): CommandSpec {
  const command = findCommand(name);
  if (command !== undefined) return command;
  const guess = closestWord(
    name,
    COMMANDS.map((known) => known.name),
  );
  throw new UsageError(
    `unknown command '${name}'${guess === undefined ? "" : `; did you mean '${guess}'?`} (wsgate --help lists them)`,
  );
}

/** Positional arguments are files to `validate` and names to the admin verbs; `run`, `demo` and `schema` take none. */
export function refuseStrayArgument(command: CommandSpec, args: ParsedArgs): void {
  const [stray] = args.positionals;
  if (stray !== undefined && (command.name === "run" || command.name === "demo" || command.name === "schema")) {
    const hint = command.name === "run" ? `; did you mean --config ${stray}?` : "";
    throw new UsageError(
      `unexpected argument '${stray}' for wsgate ${command.name}${hint} (wsgate ${command.name} --help)`,
    );
  }
}
