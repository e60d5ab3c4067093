import { z } from "zod";
import { docMeta } from "./doc-meta.js";

const EXAMPLES = "expected e.g. 500ms, 30s, 1m, 1h30m";

/** Go's time.ParseDuration syntax without a sign: `0`, or numbers each followed by a unit. */
export const DURATION_PATTERN = /^(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

const MS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu, which Go also accepts
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** The message for a value that is not a duration; the schema and parseDuration share it. */
export function invalidDurationMessage(value: unknown): string {
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  if (typeof value === "number" || (typeof value === "string" && /^\d+(?:\.\d*)?$/.test(value))) {
    return `invalid duration '${shown}' (missing unit; ${EXAMPLES})`;
  }
  return `invalid duration '${shown}' (${EXAMPLES})`;
}

/** Parses a Go-style duration (`500ms`, `1h30m`, `1.5s`, `0`) into whole milliseconds, rounded. */
export function parseDuration(text: string): number {
  if (!DURATION_PATTERN.test(text)) throw new Error(invalidDurationMessage(text));
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    ms += Number(amount) * (MS_PER_UNIT[unit ?? ""] ?? 0);
  }
  return Math.round(ms);
}

function durationError(issue: { input?: unknown }): string | undefined {
  // Leave a missing value to the generic "missing required field" message.
  return issue.input === undefined ? undefined : invalidDurationMessage(issue.input);
}

/** A duration field: a Go-style string (or a bare 0) in, milliseconds out. Use `.prefault("30s")` for defaults. */
export const durationSchema = z
  .union([z.string().regex(DURATION_PATTERN, { error: durationError }), z.literal(0)], { error: durationError })
  .transform((value) => (value === 0 ? 0 : parseDuration(value)));

docMeta.add(durationSchema, { type: "duration" });
