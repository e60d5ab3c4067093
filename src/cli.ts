#!/usr/bin/env node
// wsgate's command line: finds the command, parses its flags, and hands over to the module that runs it (loaded only
// then). A failure to start ends the process as the error says (src/cli/start-failed.ts).
import { commandHelp, overviewHelp } from "./cli/commands.js";
import { commandNamed, completion, helpOf, refuseStrayArgument } from "./cli/help.js";
import { packageVersion } from "./cli/package-info.js";
import { parseCommandArgs, UsageError } from "./cli/parse.js";
import { startFailed } from "./cli/start-failed.js";
import { parseWorkerCount } from "./cluster/worker-count.js";
import { tuneProcessForPrimary, tuneProcessForServing } from "./process-tuning.js";

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
  const command = commandNamed(first);
  const args = parseCommandArgs(command, rest);
  if (args.flag("help")) {
    process.stdout.write(commandHelp(command));
    return;
  }
  refuseStrayArgument(command, args);
  switch (command.name) {
    case "run":
      // Before the gateway's modules and config are loaded: its young-generation cap holds only if applied first. A
      // cluster's primary serves nothing (its workers tune themselves): it keeps a small young generation.
      if (asksForWorkers(args.string("workers"))) tuneProcessForPrimary();
      else tuneProcessForServing();
      return (await import("./cli/start.js")).run(args);
    case "demo":
      tuneProcessForServing();
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
  const { isAdminVerb, runAdminVerb, verbOptions } = await import("./cli/run-verb.js");
  if (isAdminVerb(command.name))
    process.exitCode = await runAdminVerb(command.name, args.positionals, verbOptions(args));
}

/** `--workers` asks for a cluster. A value it cannot read is refused later, with its message, by `run`. */
function asksForWorkers(flag: string | undefined): boolean {
  if (flag === undefined) return false;
  try {
    return parseWorkerCount(flag) > 1;
  } catch {
    return false;
  }
}

// An 'error' event nobody listens to while starting (a socket, a server) is a start-up failure too.
process.on("uncaughtException", startFailed);
main(process.argv.slice(2)).then(() => process.off("uncaughtException", startFailed), startFailed);
