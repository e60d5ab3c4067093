// One command's arguments, parsed with exactly the flags it takes. What cannot be parsed becomes a UsageError of
// one line, with a did-you-mean when the flag looks like a typo.
import { parseArgs } from "node:util";
import type { CommandSpec } from "./commands.js";
import { COMMANDS, parserOptions } from "./commands.js";
import { closestWord } from "./did-you-mean.js";
import { OPTIONS, type OptionName, type OptionSpec } from "./options.js";
import { startupError } from "../errors.js";

/** Arguments that cannot work; the CLI prints `wsgate: MESSAGE` and exits 2. */
export class UsageError extends startupError("WSG_USAGE") {}

type Value = string | boolean | (string | boolean)[] | undefined;

/** What one command was given: typed reads of its flags, and its positional words. */
export class ParsedArgs {
  constructor(
    private readonly values: Record<string, Value>,
    readonly positionals: readonly string[],
  ) {}

  string(name: OptionName): string | undefined {
    const value = this.values[name];
    return typeof value === "string" ? value : undefined;
  }

  strings(name: OptionName): string[] {
    const value = this.values[name];
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
  }

  flag(name: OptionName): boolean {
    return this.values[name] === true;
  }
}

function parseConfig(names: readonly OptionName[]) {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
  > = {};
  for (const name of names) {
    const spec: OptionSpec = OPTIONS[name];
    options[name] = {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple === undefined ? {} : { multiple: spec.multiple }),
      ...(spec.default === undefined ? {} : { default: spec.default }),
    };
  }
  return options;
}

/** `--wach` for `run`: "unknown option --wach for wsgate run; did you mean --watch?" */
function unknownOption(command: CommandSpec, args: readonly string[]): UsageError {
  const { tokens } = parseArgs({
    args: [...args],
    options: parseConfig(parserOptions(command)),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const known = new Set<string>(parserOptions(command));
  const shorts = new Set(parserOptions(command).flatMap((name) => (OPTIONS[name] as OptionSpec).short ?? []));
  const token = tokens.find(
    (item) => item.kind === "option" && !(item.rawName.startsWith("--") ? known.has(item.name) : shorts.has(item.name)),
  );
  const typed = token?.kind === "option" ? token.rawName : "?";
  const guess = closestWord(typed.replace(/^-+/, ""), [...known]);
  const takers = COMMANDS.filter((other) => (other.options as readonly string[]).includes(typed.slice(2)));
  const elsewhere =
    guess === undefined && typed.startsWith("--") && takers.length > 0
      ? ` (${typed} is an option of ${takers.map((other) => `wsgate ${other.name}`).join(", ")})`
      : "";
  return new UsageError(
    `unknown option ${typed} for wsgate ${command.name}` +
      (guess !== undefined ? `; did you mean --${guess}?` : elsewhere) +
      ` (wsgate ${command.name} --help)`,
  );
}

/** Parses `args` with the flags of `command`; throws UsageError of one line on anything it does not take. */
export function parseCommandArgs(command: CommandSpec, args: readonly string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: parseConfig(parserOptions(command)),
      allowPositionals: true,
      strict: true,
    });
    return new ParsedArgs(values as Record<string, Value>, positionals);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw unknownOption(command, args);
    const message = (error as Error).message.split("\n")[0] ?? "";
    throw new UsageError(`${message} (wsgate ${command.name} --help)`);
  }
}
