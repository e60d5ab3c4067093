#!/usr/bin/env node
// wsgate's command line: finds the command, parses its flags, and hands over to the module that runs it (loaded only
// then). Every failure to start is one line on stderr.
import { commandHelp, COMMANDS, findCommand, overviewHelp, type CommandSpec } from "./cli/commands.js";
import { completionScript } from "./cli/completion.js";
import { closestWord } from "./cli/did-you-mean.js";
import { packageVersion } from "./cli/package-info.js";
import { parseCommandArgs, UsageError, type ParsedArgs } from "./cli/parse.js";

function completion(args: ParsedArgs): void {
  const [shell] = args.positionals;
  if (shell !== "bash" && shell !== "zsh") {
    throw new UsageError(`completion needs a shell: bash or zsh (e.g. source <(wsgate completion bash))`);
  }
  process.stdout.write(completionScript(shell));
}

function helpOf(args: ParsedArgs): void {
  const [name] = args.positionals;
  if (name === undefined) return void process.stdout.write(overviewHelp());
  process.stdout.write(commandHelp(commandOrExit(name)));
}

/** The command named `name`, or a one-line UsageError with the closest command. */
function commandOrExit(name: string): CommandSpec {
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

async function main(argv: readonly string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h") {
    process.stdout.write(overviewHelp());
    return;
  }
  if (first === "--version" || first === "-V" || first === "-v" || first === "version") {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (first.startsWith("-")) {
    throw new UsageError(`the command comes first, e.g. wsgate run --config FILE (wsgate --help lists them)`);
  }
  const command = commandOrExit(first);
  const args = parseCommandArgs(command, rest);
  if (args.flag("help")) {
    process.stdout.write(commandHelp(command));
    return;
  }
  const [stray] = args.positionals;
  if (stray !== undefined && (command.name === "run" || command.name === "demo" || command.name === "schema")) {
    const hint = command.name === "run" ? `; did you mean --config ${stray}?` : "";
    throw new UsageError(
      `unexpected argument '${stray}' for wsgate ${command.name}${hint} (wsgate ${command.name} --help)`,
    );
  }
  switch (command.name) {
    case "run":
      return (await import("./cli/start.js")).run(args);
    case "demo":
      return (await import("./cli/start.js")).demo(args);
    case "validate":
      return (await import("./cli/start.js")).validate(args);
    case "schema":
      return (await import("./cli/start.js")).schema();
    case "completion":
      return completion(args);
    case "help":
      return helpOf(args);
  }
  const { isAdminVerb, runAdminVerb } = await import("./cli/run-verb.js");
  if (isAdminVerb(command.name)) {
    process.exitCode = await runAdminVerb(command.name, args.positionals, {
      server: args.string("server"),
      token: args.string("token"),
      output: args.string("output"),
      filename: args.string("filename"),
      cluster: args.flag("cluster"),
      "all-members": args.flag("all-members"),
      code: args.string("code"),
      reason: args.string("reason"),
      over: args.string("over"),
      pool: args.string("pool"),
    });
  }
}

/**
 * Any failure to start is one line on stderr, never a stack trace: usage errors exit 2, the rest 1. WSGATE_DEBUG=1
 * adds the stack, for bug reports. Errors raised later, while serving, are the logger's.
 */
function startFailed(error: unknown): never {
  const usage = error instanceof UsageError;
  const message = error instanceof Error ? error.message : String(error);
  const debug = process.env["WSGATE_DEBUG"] === "1" && error instanceof Error ? `\n${error.stack ?? ""}` : "";
  process.stderr.write(`wsgate: ${message.split("\n")[0] ?? ""}${debug}\n`);
  process.exit(usage ? 2 : 1);
}

// An 'error' event nobody listens to while starting (a socket, a server) is a start-up failure too.
process.on("uncaughtException", startFailed);
main(process.argv.slice(2)).then(() => process.off("uncaughtException", startFailed), startFailed);
