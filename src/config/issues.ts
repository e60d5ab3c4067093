import type { z } from "zod";
import { isRecord, valueAt } from "../schema/plain-data.js";
import { knownFieldsAt } from "../schema/schema-walk.js";
import { didYouMean } from "../schema/suggest.js";

/** Which part of the YAML an issue points at: the value, its key, or the map that should hold the key. */
export type Anchor = "value" | "key" | "parent";

/** A problem inside one object, before it is placed in a file. */
export interface IssueReport {
  path: PropertyKey[];
  anchor: Anchor;
  message: string;
  value?: unknown;
}

/**
 * Pass as `error` to safeParse: schemas that word their own message keep it, every other issue carries this
 * marker and gets its message from describeIssues.
 */
export const GENERIC_MESSAGE = "\u0000generic";

/** True when the key at the end of `path` is absent from its map (as opposed to present and wrong). */
function isMissing(data: unknown, path: readonly PropertyKey[]): boolean {
  const key = path[path.length - 1];
  if (key === undefined) return data === undefined;
  const parent = valueAt(data, path.slice(0, -1));
  return isRecord(parent) && !Object.hasOwn(parent, key);
}

/** A value as the user wrote it, for messages: 'text', 42, true, a list, a map. */
export function showValue(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return String(value);
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  tuple: "a list",
  object: "a map",
  record: "a map",
};

/** The word for what a value at `path` is: the nearest field name, singular inside a list ("methods[0]" → "method"). */
function nounAt(path: readonly PropertyKey[]): string {
  for (let index = path.length - 1; index >= 0; index--) {
    const key = path[index];
    if (typeof key !== "string") continue;
    const inList = typeof path[index + 1] === "number";
    return inList && key.endsWith("s") ? key.slice(0, -1) : key;
  }
  return "value";
}

function entries(count: number | bigint): string {
  return `${count} ${count === 1 ? "entry" : "entries"}`;
}

function sizeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === "too_small";
  const limit = small ? issue.minimum : issue.maximum;
  if (issue.origin === "array" || issue.origin === "set") {
    if (issue.exact === true) return `must have exactly ${entries(limit)}`;
    if (small && Number(limit) === 1) return "must not be empty";
    return small ? `must have at least ${entries(limit)}` : `must have at most ${entries(limit)}`;
  }
  if (issue.origin === "string") {
    if (small && Number(limit) === 1) return "must not be empty";
    return `must be ${small ? "at least" : "at most"} ${limit} characters long`;
  }
  const bound = issue.inclusive === false ? (small ? "greater than" : "less than") : small ? "at least" : "at most";
  return `must be ${bound} ${limit}, got ${showValue(issue.input)}`;
}

function discriminatorMessage(issue: z.core.$ZodIssue & { code: "invalid_union" }, kind: unknown): string {
  const options = "options" in issue && issue.options !== undefined ? issue.options.map(String) : [];
  const owner = nounAt(issue.path.slice(0, -1));
  const what = owner === "value" ? issue.discriminator : `${owner} ${issue.discriminator ?? "kind"}`;
  return `unknown ${what} ${showValue(kind)} (expected one of ${options.join(", ")})`;
}

function unionMessage(issue: z.core.$ZodIssue & { code: "invalid_union" }): string {
  const expected = issue.errors.flatMap((branch) =>
    branch.flatMap((inner) => (inner.code === "invalid_type" ? [TYPE_NAMES[inner.expected] ?? inner.expected] : [])),
  );
  if (expected.length === issue.errors.length && expected.length > 0) {
    return `expected ${[...new Set(expected)].join(" or ")}, got ${showValue(issue.input)}`;
  }
  return `invalid value ${showValue(issue.input)}`;
}

function formatMessage(issue: z.core.$ZodIssueInvalidStringFormat): string {
  if (issue.format === "starts_with" && "prefix" in issue) {
    return `must start with '${String(issue.prefix)}', got ${showValue(issue.input)}`;
  }
  if (issue.format === "regex") return `${showValue(issue.input)} does not match ${issue.pattern ?? "the pattern"}`;
  return `invalid ${issue.format} ${showValue(issue.input)}`;
}

/** The generic message for an issue whose schema did not word one. */
function genericMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${showValue(issue.input)}`;
    case "too_small":
    case "too_big":
      return sizeMessage(issue);
    case "invalid_value":
      if (issue.values.length === 1) return `expected ${showValue(issue.values[0])}, got ${showValue(issue.input)}`;
      return `unknown ${nounAt(issue.path)} ${showValue(issue.input)} (expected one of ${issue.values.join(", ")})`;
    case "invalid_format":
      return formatMessage(issue);
    case "invalid_union":
      return unionMessage(issue);
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}, got ${showValue(issue.input)}`;
    case "invalid_key":
      return `invalid key: ${issue.issues.map(genericMessage).join("; ")}`;
    case "invalid_element":
      return `invalid element: ${issue.issues.map(genericMessage).join("; ")}`;
    default:
      return issue.message;
  }
}

/** Turns zod issues for one object into located, human messages; the one place such wording is decided. */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  root: z.core.$ZodType,
  data: unknown,
): IssueReport[] {
  const reports: IssueReport[] = [];
  for (const issue of issues) {
    const path = [...issue.path];
    const value = valueAt(data, path);
    if (issue.code === "unrecognized_keys") {
      const known = knownFieldsAt(root, path, data);
      for (const key of issue.keys) {
        const message = `unknown field '${key}'${didYouMean(key, known)}`;
        reports.push({ path: [...path, key], anchor: "key", message, value: valueAt(value, [key]) });
      }
    } else if (issue.message !== GENERIC_MESSAGE) {
      reports.push({ path, anchor: isMissing(data, path) ? "parent" : "value", message: issue.message, value });
    } else if (isMissing(data, path)) {
      reports.push({ path, anchor: "parent", message: `missing required field '${String(path[path.length - 1])}'` });
    } else if (issue.code === "invalid_union" && issue.discriminator !== undefined) {
      reports.push({ path, anchor: "value", message: discriminatorMessage(issue, value), value });
    } else {
      reports.push({ path, anchor: "value", message: genericMessage(issue), value });
    }
  }
  return reports;
}
