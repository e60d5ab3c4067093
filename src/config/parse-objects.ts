import { LineCounter, isScalar, parseAllDocuments } from "yaml";
import type { Document } from "yaml";
import type { z } from "zod";
import type { ConfigError } from "./errors.js";
import { NAME_PATTERN } from "../schema/common-fields.js";
import { GENERIC_MESSAGE, describeIssues, showValue } from "./issues.js";
import type { IssueReport } from "./issues.js";
import { toConfigError } from "./loaded-object.js";
import type { LoadedObject } from "./loaded-object.js";
import { locate } from "./locate.js";
import { isRecord } from "../schema/plain-data.js";
import { isFilterKind } from "../filters/registry.js";
import { isObjectKind, objectKindNames, objectKinds } from "./object-kinds.js";

/** Aliases may repeat a node this often; more is a "billion laughs" attack rather than configuration. */
const MAX_ALIAS_COUNT = 100;

function isEmpty(doc: Document): boolean {
  return doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
}

/** yaml's messages end with " at line 3, column 5:" and a code frame; the line is reported separately. */
function yamlMessage(message: string): string {
  const first = message.split("\n", 1)[0] ?? message;
  return `invalid YAML: ${first.replace(/ at line \d+, column \d+:?$/, "")}`;
}

/**
 * A filter written as a document of its own, as Easegress's filter pages show them (e.g. the WebSocketProxy health
 * check snippet): say where it belongs, with the wrapping Pipeline on one line.
 */
function bareFilterMessage(kind: string, rawName: unknown): string {
  const name = typeof rawName === "string" && NAME_PATTERN.test(rawName) ? rawName : "proxy";
  const example = `{kind: Pipeline, name: ${name}-pipeline, flow: [{filter: ${name}}], filters: [{kind: ${kind}, name: ${name}, ...}]}`;
  return `${kind} is a filter kind, not an object: a filter goes inside a Pipeline's filters: list; wrap it: ${example}, and point an HTTPServer path's backend at ${name}-pipeline`;
}

/** Validates one document's data against its kind; the object is returned even when invalid, for cross-checks. */
function validateDocument(
  data: Record<string, unknown>,
  file: string,
  where: LoadedObject["locate"],
): { object?: LoadedObject; reports: IssueReport[] } {
  const kind = data["kind"];
  if (!isObjectKind(kind)) {
    const message =
      kind === undefined
        ? "missing required field 'kind'"
        : typeof kind === "string" && isFilterKind(kind)
          ? bareFilterMessage(kind, data["name"])
          : `unknown kind ${showValue(kind)} (expected one of ${objectKindNames.join(", ")})`;
    return { reports: [{ path: ["kind"], anchor: kind === undefined ? "parent" : "value", message, value: kind }] };
  }
  const rawName = data["name"];
  const name = typeof rawName === "string" && NAME_PATTERN.test(rawName) ? rawName : undefined;
  const base = { name, file, data, locate: where, label: objectKinds[kind].label + (name ? ` ${name}` : "") };
  if (kind === "Gateway") {
    const { spec, reports } = check(objectKinds.Gateway.schema, data);
    return { object: { ...base, kind, spec }, reports };
  }
  if (kind === "HTTPServer") {
    const { spec, reports } = check(objectKinds.HTTPServer.schema, data);
    return { object: { ...base, kind, spec }, reports };
  }
  const { spec, reports } = check(objectKinds.Pipeline.schema, data);
  return { object: { ...base, kind, spec }, reports };
}

/** Runs one kind's schema; wording of the issues happens in describeIssues. */
function check<T>(schema: z.ZodType<T>, data: unknown): { spec: T | undefined; reports: IssueReport[] } {
  const result = schema.safeParse(data, { error: () => GENERIC_MESSAGE, reportInput: true });
  if (result.success) return { spec: result.data, reports: [] };
  return { spec: undefined, reports: describeIssues(result.error.issues, schema, data) };
}

/** Parses the YAML text of one file and validates each object in it against its kind's schema. */
export function parseObjects(text: string, file: string): { objects: LoadedObject[]; errors: ConfigError[] } {
  const objects: LoadedObject[] = [];
  const errors: ConfigError[] = [];
  const lineCounter = new LineCounter();
  // `merge` keeps YAML 1.1 merge keys (`<<: *defaults`) working, as Easegress's Go YAML parser allows them.
  for (const doc of parseAllDocuments(text, { lineCounter, merge: true })) {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        errors.push({
          file,
          line: Math.max(1, line),
          column: Math.max(1, col),
          path: "",
          message: yamlMessage(error.message),
        });
      }
      continue;
    }
    if (isEmpty(doc)) continue;
    const where: LoadedObject["locate"] = (path, anchor) => locate(doc, lineCounter, path, anchor);
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const { line, column } = where([], "value");
      const message = `invalid YAML: ${error instanceof Error ? error.message : String(error)}`;
      errors.push({ file, line, column, path: "", message });
      continue;
    }
    if (!isRecord(data)) {
      const { line, column } = where([], "value");
      const message = `expected a map with 'kind' and 'name', got ${showValue(data)}`;
      errors.push({ file, line, column, path: "", message, value: data });
      continue;
    }
    const { object, reports } = validateDocument(data, file, where);
    if (object === undefined) {
      for (const report of reports) {
        const { line, column } = where(report.path, report.anchor);
        errors.push({ file, line, column, path: "kind", message: report.message, value: report.value });
      }
      continue;
    }
    objects.push(object);
    errors.push(...reports.map((report) => toConfigError(object, report)));
  }
  return { objects, errors };
}
