import { pino, type Logger } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JSON lines on stdout, one object per event: what log pipelines expect. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: "wsgate" }, timestamp: pino.stdTimeFunctions.isoTime });
}
