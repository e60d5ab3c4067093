// The names the logger takes, in a module of their own so that the CLI's help and parsing need not load pino.

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** json: one object per line, for log pipelines; pretty: one readable line per event, for people at a terminal. */
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
