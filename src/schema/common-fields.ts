import { z } from "zod";
import { docMeta } from "./doc-meta.js";

/**
 * Refinement option for checks that only look at which keys are present: run them even when another field already
 * failed, so that one load reports every error. (By default zod skips refinements after such failures.)
 */
export const evenAfterOtherErrors = {
  when: (payload: z.core.ParsePayload): boolean => typeof payload.value === "object" && payload.value !== null,
};

/** Object and filter names: they appear in logs, metrics and references, so keep them plain. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const nameSchema = z.string().regex(NAME_PATTERN, {
  error: (issue) =>
    issue.input === undefined
      ? undefined
      : `invalid name '${String(issue.input)}' (use letters, digits, '.', '_' and '-', starting with a letter or digit)`,
});

/** Why `source` is not a JavaScript regular expression, or undefined when it compiles. */
export function regexpProblem(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^.*: /, "") : String(error);
    return `invalid regular expression '${source}': ${reason}`;
  }
}

/** A string that must compile as a JavaScript RegExp. */
export const regexpSchema = z.string().superRefine((source, ctx) => {
  const problem = regexpProblem(source);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: source });
});
docMeta.add(regexpSchema, { type: "regular expression" });

export const portSchema = z.int().min(1).max(65535);

/** A URL path such as `/ws`; the leading slash is what request paths are compared against. */
export const urlPathSchema = z.string().startsWith("/");
docMeta.add(urlPathSchema, { type: "path (starts with `/`)" });

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"] as const;

export const httpMethodSchema = z.enum(HTTP_METHODS);

/** A byte limit where -1 means no limit. */
export const byteLimitSchema = z.int().refine((value) => value >= -1, {
  error: (issue) => `must be -1 (no limit) or a number of bytes ≥ 0, got ${String(issue.input)}`,
});
docMeta.add(byteLimitSchema, { type: "integer (bytes, -1 = no limit)" });
