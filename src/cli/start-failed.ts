// How a failure to start ends the process: what stderr gets and the exit code, both read from the error.
import { exitCodeOf, StartupError } from "../errors.js";

/**
 * Any failure to start is its own lines on stderr (a StartupError's report) or one line, never a stack trace, and the
 * exit code of its row of STARTUP_ERRORS (1 for anything else). WSGATE_DEBUG=1 adds the stack, for bug reports.
 * Errors raised later, while serving, are the logger's.
 */
export function startFailed(error: unknown): never {
  const debug = process.env["WSGATE_DEBUG"] === "1" && error instanceof Error ? `${error.stack ?? ""}\n` : "";
  process.stderr.write(`${startFailureReport(error)}${debug}`);
  process.exit(exitCodeOf(error));
}

/** What stderr gets for a failure to start (also what a successor tells the process it was to replace). */
export function startFailureReport(error: unknown): string {
  if (error instanceof StartupError) return error.report();
  const message = error instanceof Error ? error.message : String(error);
  return `wsgate: ${message.split("\n")[0] ?? ""}\n`;
}
