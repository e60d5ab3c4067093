import { pino, type DestinationStream, type Logger } from "pino";
import type { LogFormat, LogLevel } from "./log-names.js";
import { prettyDestination } from "./pretty-log.js";

export type { Logger };

export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log-names.js";

/** Where `wsgate run --workers N` hands the primary's format to its workers (they inherit the environment). */
export const LOG_FORMAT_ENV = "WSGATE_LOG_FORMAT";

/** WSGATE_LOG_FORMAT when set, else pretty on a terminal and JSON otherwise (pipes, files, log shippers, tests). */
export function defaultLogFormat(
  env: NodeJS.ProcessEnv = process.env,
  isTerminal = process.stdout.isTTY === true,
): LogFormat {
  const chosen = env[LOG_FORMAT_ENV];
  if (chosen === "json" || chosen === "pretty") return chosen;
  return isTerminal ? "pretty" : "json";
}

/**
 * Events on stdout with `level` as a name ("info", not 30): JSON lines, or pretty lines for people. Written
 * synchronously, so that the last line before an exit (even one logged in an 'exit' handler) is never lost.
 */
export function createLogger(level: LogLevel, format: LogFormat = defaultLogFormat()): Logger {
  const options = {
    level,
    base: { service: "wsgate" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const out: DestinationStream = pino.destination({ dest: 1, sync: true });
  if (format === "json") return pino(options, out);
  const colour = process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined;
  return pino(options, prettyDestination(out, colour));
}
