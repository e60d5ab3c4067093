// `--log-format pretty`: pino's JSON lines turned into one readable line each, for people at a terminal.
// Written here rather than taken from pino-pretty so that wsgate needs no extra dependency for it.
import type { DestinationStream } from "pino";

/** Fields every line has or that the line's start already shows. */
const HIDDEN = new Set(["time", "level", "msg", "service", "pid", "hostname"]);

const LEVEL_NAMES: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

const COLOURS: Record<string, string> = {
  trace: "\x1b[90m",
  debug: "\x1b[36m",
  info: "\x1b[32m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
  fatal: "\x1b[35m",
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";

/** A value as `key=value` shows it: bare when it is one plain word, else JSON (quoted, escaped). */
function formatValue(value: unknown): string {
  if (typeof value === "string") return /^[\w.:/@[\]-]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === "object" && value !== null && "message" in value) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

/** `12:00:01.234 INFO  listening server=demo port=8080`: the time of day, the level, the message, the fields. */
export function formatPrettyLine(json: string, colour: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const level = typeof entry["level"] === "number" ? (LEVEL_NAMES[entry["level"]] ?? "?") : String(entry["level"]);
  const time = typeof entry["time"] === "string" ? entry["time"].slice(11, 23) : "";
  const fields = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(" ");
  const label = level.toUpperCase().padEnd(5);
  const message = typeof entry["msg"] === "string" ? entry["msg"] : "";
  const text = [message, fields].filter((part) => part !== "").join(" ");
  if (!colour) return `${time} ${label} ${text}\n`;
  return `${DIM}${time}${RESET} ${COLOURS[level] ?? ""}${label}${RESET} ${text}\n`;
}

/** A pino destination that writes each line to `out` in the pretty format. */
export function prettyDestination(out: DestinationStream, colour: boolean): DestinationStream {
  return { write: (line: string) => void out.write(formatPrettyLine(line, colour)) };
}
